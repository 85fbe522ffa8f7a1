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

/// Usable rows at `k`.
pub fn usable_rows(k: u32) -> usize {
    (1usize << k) - RESERVED_ROWS
}

impl BlockShape {
    /// The shape of the chunk with constants `c`: for RMSNorm, Poseidon and the attention
    /// stacked in shared columns and side by side in their own, the smallest `k ≥ MIN_K`
    /// holding every group, then as many elementwise lanes as that height needs (each lane
    /// is 9 advice columns, cheaper than doubling the rows of every column); of the two,
    /// the one with the lower [`BlockShape::cost`]. Stacking wins unless it needs a larger `k`.
    pub fn of(c: &BlockConsts) -> Self {
        let rows = RowCounts::of(c);
        let stacked = Self::fit(c, &rows, true);
        let side = Self::fit(c, &rows, false);
        if stacked.cost() <= side.cost() {
            stacked
        } else {
            side
        }
    }

    fn fit(c: &BlockConsts, rows: &RowCounts, stacked: bool) -> Self {
        // A little slack: lanes fill greedily, one element at a time.
        let budget = |k| usable_rows(k) - usable_rows(k) / 16;
        let mut k = MIN_K;
        while usable_rows(k) < rows.tallest_fixed_group(stacked) || budget(k) <= rows.swiglu {
            k += 1;
        }
        // SwiGLU stays on lane 0 (the SiLU table's); the rest spreads over every lane, so
        // lane 0 holds at most an even share of the rest and all of SwiGLU.
        let rest = rows.elem - rows.swiglu;
        let mut elem_lanes = 1;
        while rest.div_ceil(elem_lanes) + rows.swiglu > budget(k) {
            elem_lanes += 1;
        }
        BlockShape { t: c.t, attention: c.attn.is_some(), mlp: c.mlp.is_some(), elem_lanes, k, stacked }
    }

    /// The proving cost model of `../shared/PROVER-COSTS.md` in advice-column units: every
    /// advice column over `2^k` rows, and every lookup argument as about 4.5 columns.
    pub fn cost(&self) -> f64 {
        let mut cs = halo2_proofs::plonk::ConstraintSystem::default();
        super::BlockConfig::configure(&mut cs, *self);
        (cs.num_advice_columns() as f64 + 4.5 * cs.lookups().len() as f64) * (1u64 << self.k) as f64
    }
}
