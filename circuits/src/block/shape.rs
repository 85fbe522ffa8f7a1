//! How many rows each part of a block chunk needs, and the column layout (lanes) and `k`
//! that follow: the circuit's configuration parameters.

use crate::matmul::MatmulConfig;
use crate::poseidon::PoseidonChip;
use crate::product::SwigluChip;
use crate::range::range_rows;
use crate::rope::RopeChip;

use super::consts::{BlockConsts, Linear};

/// Smallest `k`: the 2^16-point nonlinearity tables fold four times into 2^14 rows and need
/// rows to spare ([`crate::lookup::min_k_for`]).
pub const MIN_K: u32 = 15;
/// Rows kept free at the bottom for halo2's blinding.
pub const RESERVED_ROWS: usize = 16;
/// Weight lanes of the matmul chip.
pub const MATMUL_LANES: usize = 32;

/// The configuration parameters of a block chunk circuit: what `configure` needs to
/// declare its columns. Derived from the constants by [`BlockShape::of`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockShape {
    /// Tokens (the matmul chip's activation columns).
    pub t: usize,
    /// Whether the chunk has the attention half (and its columns).
    pub attention: bool,
    /// Whether the chunk has the MLP half (and the SiLU lookup).
    pub mlp: bool,
    /// Elementwise lanes (each a rescale chip with the gates that feed it).
    pub elem_lanes: usize,
    /// `log2` of the rows.
    pub k: u32,
    /// Whether RMSNorm, Poseidon and the attention stack in one shared set of columns
    /// ([`crate::pool`]) rather than each owning its columns side by side.
    #[serde(default)]
    pub stacked: bool,
    /// Further elementwise lanes in the shared columns, in the rows below the stacked chips
    /// (only when `stacked`).
    #[serde(default)]
    pub pool_lanes: usize,
}

/// Rows of each column group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowCounts {
    /// All elementwise work (input range checks, requantizations, RoPE, residual adds,
    /// SwiGLU), to be spread over the elementwise lanes.
    pub elem: usize,
    /// SwiGLU rows (on lane 0, which has the SiLU lookup), part of `elem`.
    pub swiglu: usize,
    /// RMSNorm rows.
    pub norm: usize,
    /// Matmul rows.
    pub matmul: usize,
    /// Poseidon rows (input and output commitments).
    pub poseidon: usize,
    /// Attention rows (its own columns).
    pub attention: usize,
}

impl RowCounts {
    /// The rows of every group for `c`.
    pub fn of(c: &BlockConsts) -> Self {
        let attention_rows = c.attn.as_ref().and_then(|a| a.attention_rows(&c.config, c.t).ok()).unwrap_or(0);
        let (t, d) = (c.t, c.config.hidden_size);
        let lin = |l: &Linear| t * l.rows() * l.site.rows();
        let mm = |l: &Linear| MatmulConfig::rows_for(l.rows(), l.cols(), MATMUL_LANES);
        let mut r = RowCounts {
            elem: t * d * range_rows(c.resid.bits),
            poseidon: 2 * PoseidonChip::rows(t * d),
            attention: attention_rows,
            ..RowCounts::default()
        };
        if let Some(a) = &c.attn {
            let cfg = &c.config;
            let pairs = |heads: usize| t * heads * cfg.head_dim / 2;
            r.norm += t * a.norm.rows();
            r.matmul += mm(&a.q) + mm(&a.k) + mm(&a.v) + mm(&a.o);
            r.elem += lin(&a.q) + lin(&a.k) + lin(&a.v) + lin(&a.o) + t * d * c.residual.rows();
            r.elem += pairs(cfg.num_attention_heads) * RopeChip::pair_rows(&a.rope_q)
                + pairs(cfg.num_key_value_heads) * RopeChip::pair_rows(&a.rope_k);
        }
        if let Some(m) = &c.mlp {
            r.norm += t * m.norm.rows();
            r.matmul += mm(&m.gate) + mm(&m.up) + mm(&m.down);
            r.swiglu = t * m.gate.rows() * SwigluChip::rows(m.gate.out.bits, &m.swiglu);
            r.elem += lin(&m.gate) + lin(&m.up) + lin(&m.down) + r.swiglu + t * d * c.residual.rows();
        }
        r
    }

    /// Rows of RMSNorm, Poseidon and the attention stacked in one set of columns.
    pub fn stacked(&self) -> usize {
        self.norm + self.poseidon + self.attention
    }

    /// The tallest group other than the elementwise lanes, with RMSNorm, Poseidon and the
    /// attention stacked or side by side.
    pub fn tallest_fixed_group(&self, stacked: bool) -> usize {
        let shared = if stacked { self.stacked() } else { self.norm.max(self.poseidon).max(self.attention) };
        shared.max(self.matmul)
    }
}

/// Rows of a lane that the shape plans to fill at `k`: the usable rows less a little slack,
/// since lanes fill greedily, one element at a time.
fn budget(k: u32) -> usize {
    usable_rows(k) - usable_rows(k) / 16
}

/// Usable rows at `k`.
pub fn usable_rows(k: u32) -> usize {
    (1usize << k) - RESERVED_ROWS
}

/// Most elementwise lanes the shared columns take (27 of the softmax's 34 columns).
pub const MAX_POOL_LANES: usize = 3;

impl BlockShape {
    /// The shape of the chunk with constants `c`: the cheapest by [`BlockShape::cost`] of
    /// RMSNorm, Poseidon and the attention side by side in their own columns, or stacked in
    /// shared columns with 0 to [`MAX_POOL_LANES`] elementwise lanes below them; each at
    /// the smallest `k ≥ MIN_K` holding every group, with as many lanes of their own as the
    /// elementwise work then needs (a lane is 9 advice columns, cheaper than doubling the
    /// rows of every column).
    pub fn of(c: &BlockConsts) -> Self {
        let rows = RowCounts::of(c);
        let side = Self::fit(c, &rows, false, 0);
        let stacked = (0..=MAX_POOL_LANES)
            .map(|p| Self::fit(c, &rows, true, p))
            .filter(|s| s.pool_lanes == 0 || budget(s.k) > rows.stacked());
        let mut best = (side, side.cost());
        for shape in stacked {
            let cost = shape.cost();
            if cost < best.1 {
                best = (shape, cost);
            }
        }
        best.0
    }

    /// The smallest `k` and lanes for one layout (`pool_lanes` get no rows when the stacked
    /// chips fill the shared columns).
    fn fit(c: &BlockConsts, rows: &RowCounts, stacked: bool, pool_lanes: usize) -> Self {
        let mut k = MIN_K;
        while usable_rows(k) < rows.tallest_fixed_group(stacked) || budget(k) <= rows.swiglu {
            k += 1;
        }
        let pool_room = budget(k).saturating_sub(rows.stacked());
        // SwiGLU stays on lane 0 (the SiLU table's), at the end of its rows; the rest fills
        // whichever lane has the most room ([`super::Lanes`]).
        let rest = rows.elem - rows.swiglu;
        let pooled = pool_lanes * pool_room;
        let mut elem_lanes = 1;
        while elem_lanes * budget(k) - rows.swiglu + pooled < rest {
            elem_lanes += 1;
        }
        let (attention, mlp) = (c.attn.is_some(), c.mlp.is_some());
        BlockShape { t: c.t, attention, mlp, elem_lanes, k, stacked, pool_lanes }
    }

    /// The proving cost model of `../shared/PROVER-COSTS.md` in advice-column units: every
    /// advice column over `2^k` rows, and every lookup argument as about 4.5 columns.
    pub fn cost(&self) -> f64 {
        let mut cs = halo2_proofs::plonk::ConstraintSystem::default();
        super::BlockConfig::configure(&mut cs, *self);
        (cs.num_advice_columns() as f64 + 4.5 * cs.lookups().len() as f64) * (1u64 << self.k) as f64
    }
}
