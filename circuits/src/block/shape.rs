//! How many rows each part of a block chunk needs, and the column layout (lanes) and `k`
//! that follow: the circuit's configuration parameters.

use crate::matmul::MatmulConfig;
use crate::poseidon::PoseidonChip;
use crate::product::SwigluChip;
use crate::range::{range_rows, RangeLayout, RangeTableConfig, LIMB_BITS, MAX_LIMB_BITS};
use crate::rope::RopeChip;

use super::census::RangeCensus;
use super::consts::{BlockConsts, Linear};

/// Smallest `k`: the 2^16-point nonlinearity tables fold four times into 2^14 rows and need
/// rows to spare ([`crate::lookup::min_k_for`]).
pub const MIN_K: u32 = 15;
/// Rows kept free at the bottom for halo2's blinding.
pub const RESERVED_ROWS: usize = 16;
/// Weight lanes of the matmul chip in shapes from before the lanes were chosen per chunk.
pub const MATMUL_LANES: usize = 32;
/// Weight lane counts a shape may choose, fewest first: the fewest that fit the rows win
/// (each lane is a fixed column over all `2^k` rows).
pub const MATMUL_LANE_CHOICES: [usize; 5] = [8, 16, 32, 64, 128];
/// Largest `k` the shape search tries.
pub const MAX_K: u32 = 26;

/// The range limb width a chunk at `k` uses: the widest whose table fits half the rows.
pub fn limb_bits_for(k: u32) -> u32 {
    k.saturating_sub(2).clamp(LIMB_BITS, MAX_LIMB_BITS)
}

/// The configuration parameters of a block chunk circuit: what `configure` needs to
/// declare its columns. Derived from the constants by [`BlockShape::of`].
///
/// Read from files and peers through the `wire` module, which refuses shapes whose
/// configuration would panic or declare an unbounded number of columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "super::wire::WireShape")]
pub struct BlockShape {
    /// Tokens (the matmul chip's activation columns).
    pub t: usize,
    /// Whether the chunk has the attention half (and its columns).
    pub attention: bool,
    /// Whether the chunk has the MLP half (and the SiLU lookup).
    pub mlp: bool,
    /// Elementwise lanes in columns of their own (each a rescale chip with the gates that
    /// feed it); see [`BlockShape::own_lanes`].
    pub elem_lanes: usize,
    /// `log2` of the rows.
    pub k: u32,
    /// Whether RMSNorm, Poseidon and the attention stack in one shared set of columns
    /// ([`crate::pool`]) rather than each owning its columns side by side.
    pub stacked: bool,
    /// Further elementwise lanes in the shared columns, in the rows below the stacked chips
    /// (only when `stacked`).
    pub pool_lanes: usize,
    /// Weight lanes (fixed columns) of the matmul chip.
    pub matmul_lanes: usize,
    /// Bits of a full range-check limb ([`crate::range`]); the range table has
    /// `2^(limb_bits + 1) − 1` rows.
    pub limb_bits: u32,
    /// Whether range checks end on their top limb rather than in a zero row
    /// ([`RangeLayout::compact`]); shapes from before read `false`.
    pub compact_ranges: bool,
    /// Columns of the range bus ([`crate::range::bus`]) that every range check of the chunk
    /// is copied into, or 0 when each chip checks its values in range columns of its own
    /// (shapes from before read 0).
    pub range_bus: usize,
}

impl Default for BlockShape {
    fn default() -> Self {
        BlockShape {
            t: 0,
            attention: false,
            mlp: false,
            elem_lanes: 0,
            k: 0,
            stacked: false,
            pool_lanes: 0,
            matmul_lanes: MATMUL_LANES,
            limb_bits: LIMB_BITS,
            compact_ranges: false,
            range_bus: 0,
        }
    }
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
    /// The rows of every group for `c` in the columns of `shape` (its matmul lanes and
    /// range limb width).
    pub fn of(c: &BlockConsts, shape: &BlockShape) -> Self {
        Self::with(c, shape.range_layout(), shape.matmul_lanes)
    }

    /// The rows of every group for `c` in the range layout `layout` and `lanes` matmul
    /// weight lanes.
    pub fn with(c: &BlockConsts, layout: RangeLayout, lanes: usize) -> Self {
        let attention_rows =
            c.attn.as_ref().and_then(|a| a.attention_rows(&c.config, c.t, layout).ok()).unwrap_or(0);
        let (t, d) = (c.t, c.config.hidden_size);
        let lin = |l: &Linear| t * l.rows() * l.site.rows(layout);
        let mm = |l: &Linear| MatmulConfig::rows_for(l.rows(), l.cols(), lanes);
        let mut r = RowCounts {
            elem: t * d * range_rows(c.resid.bits, layout),
            poseidon: 2 * PoseidonChip::rows(t * d),
            attention: attention_rows,
            ..RowCounts::default()
        };
        if let Some(a) = &c.attn {
            let cfg = &c.config;
            let pairs = |heads: usize| t * heads * cfg.head_dim / 2;
            r.norm += t * a.norm.rows(layout);
            r.matmul += mm(&a.q) + mm(&a.k) + mm(&a.v) + mm(&a.o);
            r.elem += lin(&a.q) + lin(&a.k) + lin(&a.v) + lin(&a.o) + t * d * c.residual.rows(layout);
            r.elem += pairs(cfg.num_attention_heads) * RopeChip::pair_rows(&a.rope_q, layout)
                + pairs(cfg.num_key_value_heads) * RopeChip::pair_rows(&a.rope_k, layout);
        }
        if let Some(m) = &c.mlp {
            r.norm += t * m.norm.rows(layout);
            r.matmul += mm(&m.gate) + mm(&m.up) + mm(&m.down);
            r.swiglu = t * m.gate.rows() * SwigluChip::rows(m.gate.out.bits, &m.swiglu, layout);
            r.elem += lin(&m.gate) + lin(&m.up) + lin(&m.down) + r.swiglu + t * d * c.residual.rows(layout);
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
pub(crate) fn budget(k: u32) -> usize {
    usable_rows(k) - usable_rows(k) / 64
}

/// Usable rows at `k`.
pub fn usable_rows(k: u32) -> usize {
    (1usize << k) - RESERVED_ROWS
}

/// Most elementwise lanes the shared columns take (27 of the softmax's 34 columns).
pub const MAX_POOL_LANES: usize = 3;

impl BlockShape {
    /// The shape of the chunk with constants `c`: the cheapest by [`BlockShape::cost`]
    /// (chunk proving time) of its [`candidates_at`](BlockShape::candidates_at) the smallest
    /// `k ≥ MIN_K` holding every group and the next `k` that holds any (a taller circuit
    /// with the same columns costs twice as much per step of `k`), or a shape too tall for
    /// any `k` the search tries (`k = MAX_K + 1`) when none fits.
    pub fn of(c: &BlockConsts) -> Self {
        let census = RangeCensus::of(c).ok();
        (MIN_K..=MAX_K)
            .map(|k| Self::candidates_counted(c, k, census.as_ref()))
            .filter(|at_k| !at_k.is_empty())
            .take(2)
            .flatten()
            .map(|s| (s, s.cost()))
            .reduce(|a, b| if b.1 < a.1 { b } else { a })
            .map(|(s, _)| s)
            .unwrap_or(BlockShape {
                t: c.t,
                attention: c.attn.is_some(),
                mlp: c.mlp.is_some(),
                elem_lanes: 1,
                k: MAX_K + 1,
                stacked: true,
                pool_lanes: 0,
                matmul_lanes: MATMUL_LANE_CHOICES[MATMUL_LANE_CHOICES.len() - 1],
                limb_bits: MAX_LIMB_BITS,
                compact_ranges: true,
                range_bus: 0,
            })
    }

    /// Every layout of the chunk with constants `c` at every `k` from [`MIN_K`] to
    /// [`MAX_K`] ([`BlockShape::candidates_at`]): what a chooser by another cost, e.g.
    /// [`crate::cost::Layout::total_seconds`], would weigh.
    pub fn candidates(c: &BlockConsts) -> Vec<Self> {
        let census = RangeCensus::of(c).ok();
        (MIN_K..=MAX_K).flat_map(|k| Self::candidates_counted(c, k, census.as_ref())).collect()
    }

    /// The layouts of the chunk with constants `c` at `2^k` rows (none when a group does not
    /// fit): RMSNorm, Poseidon and the attention side by side in their own columns, or
    /// stacked in shared columns with 0 to [`MAX_POOL_LANES`] elementwise lanes below them;
    /// each with the widest range limbs `k` allows ([`limb_bits_for`]) in either range
    /// layout (compact checks save a row each but cost a fixed column per range column), the
    /// fewest matmul weight lanes that fit ([`MATMUL_LANE_CHOICES`]) and as many elementwise
    /// lanes of their own as the elementwise work then needs (a lane is 9 advice columns) —
    /// or none, when 1 to [`MAX_POOL_LANES`] lanes in the shared columns hold all of it; and
    /// each again with its range checks deferred to a range bus ([`crate::range::bus`]) of
    /// as many columns as [`RangeCensus`] says their rows need.
    pub fn candidates_at(c: &BlockConsts, k: u32) -> Vec<Self> {
        Self::candidates_counted(c, k, RangeCensus::of(c).ok().as_ref())
    }

    /// [`BlockShape::candidates_at`] with the chunk's range checks already counted (`None`:
    /// no layout with a range bus).
    fn candidates_counted(c: &BlockConsts, k: u32, census: Option<&RangeCensus>) -> Vec<Self> {
        let mut out = vec![];
        let limb = limb_bits_for(k);
        if RangeTableConfig::rows_for(limb) > usable_rows(k) {
            return out;
        }
        // Each range layout with the checks in place, and with them deferred to a bus of as
        // many columns as their rows need (each value then takes one row of its chip's).
        let bus_columns = |layout: RangeLayout| {
            census.map(|census| census.rows(layout).div_ceil(budget(k))).filter(|&n| n > 0)
        };
        let layouts = [RangeLayout::compact(limb), RangeLayout::with_zero_row(limb)];
        let variants = layouts
            .into_iter()
            .map(|l| (l, 0))
            .chain(layouts.into_iter().filter_map(|l| bus_columns(l).map(|n| (l.deferring(true), n))));
        for (layout, range_bus) in variants {
            let Some(lanes) = MATMUL_LANE_CHOICES
                .into_iter()
                .find(|&l| usable_rows(k) >= RowCounts::with(c, layout, l).matmul)
            else {
                continue;
            };
            let rows = RowCounts::with(c, layout, lanes);
            let fit = |stacked, pool, own| Self::fit(c, &rows, k, layout, lanes, stacked, pool, own);
            out.extend(
                std::iter::once(fit(false, 0, true))
                    .chain((0..=MAX_POOL_LANES).map(|p| fit(true, p, true)))
                    .chain((1..=MAX_POOL_LANES).map(|p| fit(true, p, false)))
                    .flatten()
                    .filter(|s| !s.stacked || s.pool_lanes == 0 || budget(s.k) > rows.stacked())
                    .map(|s| BlockShape { range_bus, ..s }),
            );
        }
        out
    }

    /// One layout at `k`, or `None` when its fixed groups or SwiGLU do not fit (`pool_lanes`
    /// get no rows when the stacked chips fill the shared columns). With `own` false, no
    /// lane has columns of its own: every elementwise element, SwiGLU included (on the first
    /// pool lane), goes in the shared columns below the stacked chips, or the layout is
    /// `None`.
    #[allow(clippy::too_many_arguments)]
    fn fit(
        c: &BlockConsts,
        rows: &RowCounts,
        k: u32,
        layout: RangeLayout,
        matmul_lanes: usize,
        stacked: bool,
        pool_lanes: usize,
        own: bool,
    ) -> Option<Self> {
        if usable_rows(k) < rows.tallest_fixed_group(stacked) || budget(k) <= rows.swiglu {
            return None;
        }
        let pool_room = budget(k).saturating_sub(rows.stacked());
        // SwiGLU stays on lane 0 (the SiLU table's), at the end of its rows; the rest fills
        // whichever lane has the most room ([`super::Lanes`]).
        let rest = rows.elem - rows.swiglu;
        let pooled = pool_lanes * pool_room;
        let elem_lanes = if own {
            let mut n = 1;
            while n * budget(k) - rows.swiglu + pooled < rest {
                n += 1;
            }
            n
        } else if stacked && pool_lanes > 0 && pool_room > rows.swiglu && pooled >= rows.elem {
            0
        } else {
            return None;
        };
        let (attention, mlp) = (c.attn.is_some(), c.mlp.is_some());
        Some(BlockShape {
            t: c.t,
            attention,
            mlp,
            elem_lanes,
            k,
            stacked,
            pool_lanes,
            matmul_lanes,
            limb_bits: layout.limb_bits,
            compact_ranges: layout.compact,
            range_bus: 0,
        })
    }

    /// Elementwise lanes with columns of their own: [`BlockShape::elem_lanes`], which may be
    /// 0 only in a stacked shape with lanes in the shared columns (lane 0, with SiLU, is then
    /// the first of those); otherwise at least one (shapes from before never had 0).
    pub fn own_lanes(&self) -> usize {
        if self.elem_lanes == 0 && self.stacked && self.pool_lanes > 0 {
            0
        } else {
            self.elem_lanes.max(1)
        }
    }

    /// The layout of the shape's range checks.
    pub fn range_layout(&self) -> RangeLayout {
        RangeLayout { limb_bits: self.limb_bits, compact: self.compact_ranges, deferred: self.range_bus > 0 }
    }

    /// The shape's columns as the cost model reads them ([`crate::cost::Layout`]).
    pub fn layout(&self) -> crate::cost::Layout {
        let mut cs = halo2_proofs::plonk::ConstraintSystem::default();
        super::BlockConfig::configure(&mut cs, *self);
        crate::cost::Layout::of(&cs, self.k)
    }

    /// The proving cost of the shape's columns over its `2^k` rows, in advice-column units
    /// ([`crate::cost::Layout::units`]).
    pub fn cost(&self) -> f64 {
        let l = self.layout();
        l.units() * l.rows() as f64
    }
}
