//! The rows each part of a head chunk needs, and the lanes and `k` that follow: the
//! circuit's configuration parameters.

use std::ops::Range;

use crate::block::wire::{common_checks, refuse_first};
use crate::block::{limb_bits_for, usable_rows, MIN_K};
use crate::matmul::MatmulConfig;
use crate::poseidon::PoseidonChip;
use crate::range::{range_rows, RangeLayout, RangeTableConfig, LIMB_BITS};

use super::consts::HeadConsts;

/// Weight lanes of the head's matmul: a head slice is one token, so its matmul is tall
/// (`V + d·⌈V/L⌉` rows) and narrow; twice the block's lanes halve the slices of a large
/// vocabulary (SmolLM2's 49,152 rows: 4 slices at `k = 17` instead of 8) for 32 more fixed
/// columns, which cost keygen, not proving.
pub const HEAD_MATMUL_LANES: usize = 64;

/// Widest logits a head shape may declare (the argmax chip range-checks their gaps).
pub const MAX_LOGIT_BITS: u32 = 64;

/// The configuration parameters of a head chunk, derived by [`HeadShape::of`].
///
/// Read from files and peers through its wire form (`WireHeadShape`): shapes written before the head
/// chose its range limbs read as 8-bit limbs ending in a zero row, and a shape that would
/// make `configure` panic or declare an unbounded number of columns is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "WireHeadShape")]
pub struct HeadShape {
    /// Tokens of the input residual.
    pub t: usize,
    /// Logit bits (the argmax chip's row stride).
    pub logit_bits: u32,
    /// Elementwise lanes (each a rescale chip with the requant gate).
    pub elem_lanes: usize,
    /// `log2` of the rows.
    pub k: u32,
    /// Bits of a full range-check limb.
    pub limb_bits: u32,
    /// Whether range checks end on their top limb ([`RangeLayout::compact`]).
    pub compact_ranges: bool,
}

impl Default for HeadShape {
    fn default() -> Self {
        HeadShape { t: 0, logit_bits: 0, elem_lanes: 0, k: 0, limb_bits: LIMB_BITS, compact_ranges: false }
    }
}

impl HeadShape {
    /// The layout of the shape's range checks.
    pub fn range_layout(&self) -> RangeLayout {
        RangeLayout { limb_bits: self.limb_bits, compact: self.compact_ranges, deferred: false }
    }
}

/// The serialized fields of a [`HeadShape`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireHeadShape {
    t: usize,
    logit_bits: u32,
    elem_lanes: usize,
    k: u32,
    #[serde(default = "crate::block::wire::default_limb_bits")]
    limb_bits: u32,
    #[serde(default)]
    compact_ranges: bool,
}

impl TryFrom<WireHeadShape> for HeadShape {
    type Error = String;

    fn try_from(w: WireHeadShape) -> Result<Self, String> {
        let logits = (
            w.logit_bits <= MAX_LOGIT_BITS,
            format!("{}-bit logits (at most {MAX_LOGIT_BITS})", w.logit_bits),
        );
        refuse_first("head", common_checks(w.t, w.elem_lanes, w.k, w.limb_bits).into_iter().chain([logits]))?;
        Ok(HeadShape {
            t: w.t,
            logit_bits: w.logit_bits,
            elem_lanes: w.elem_lanes,
            k: w.k,
            limb_bits: w.limb_bits,
            compact_ranges: w.compact_ranges,
        })
    }
}

/// Rows of each column group of a head chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeadRows {
    /// Input range checks and the logits' requantizations, spread over the lanes.
    pub elem: usize,
    /// The final RMSNorm of one token (below the input commitment, in the same columns).
    pub norm: usize,
    /// The `lm_head` matmul (one token).
    pub matmul: usize,
    /// The argmax (the prior included).
    pub argmax: usize,
    /// The input commitment.
    pub poseidon: usize,
}

impl HeadRows {
    /// The rows of every group for `c` with range checks laid out as `layout`.
    pub fn of(c: &HeadConsts, layout: RangeLayout) -> Self {
        let v = c.vocab.len();
        HeadRows {
            elem: c.t * c.d * range_rows(c.resid.bits, layout) + v * c.lm.site.rows(layout),
            norm: c.norm.rows(layout),
            matmul: MatmulConfig::rows_for(v, c.d, HEAD_MATMUL_LANES),
            argmax: (v + usize::from(c.has_prior())) * range_rows(c.lm.out.bits, layout),
            poseidon: PoseidonChip::rows(c.t * c.d),
        }
    }

    /// The tallest group other than the elementwise lanes.
    pub fn tallest_fixed_group(&self) -> usize {
        (self.norm + self.poseidon).max(self.matmul).max(self.argmax)
    }
}

/// The vocabulary `[0, vocab_size)` cut into the fewest equal slices (multiples of the
/// matmul's 32 weight lanes, the last one shorter) whose head chunks fit `2^max_k` rows:
/// the matmul's `V + d·⌈V/32⌉` rows and the argmax's `(V + 1)·R(logit_bits)` both within the
/// usable rows. `None` when not even a 32-row slice fits or `vocab_size` is 0.
pub fn vocab_slices(vocab_size: usize, d: usize, logit_bits: u32, max_k: u32) -> Option<Vec<Range<usize>>> {
    let cap = usable_rows(max_k.max(MIN_K));
    let fits = |v: usize| {
        MatmulConfig::rows_for(v, d, HEAD_MATMUL_LANES) <= cap
            && (v + 1) * range_rows(logit_bits, RangeLayout::DEFAULT) <= cap
    };
    let mut blocks = vocab_size.div_ceil(HEAD_MATMUL_LANES);
    while blocks > 0 && !fits(blocks * HEAD_MATMUL_LANES) {
        blocks -= 1;
    }
    if blocks == 0 || vocab_size == 0 {
        return None;
    }
    let slices = vocab_size.div_ceil(blocks * HEAD_MATMUL_LANES);
    let len = vocab_size.div_ceil(slices).div_ceil(HEAD_MATMUL_LANES) * HEAD_MATMUL_LANES;
    Some((0..vocab_size).step_by(len).map(|lo| lo..(lo + len).min(vocab_size)).collect())
}

impl HeadShape {
    /// The shape of the head with constants `c`: the smallest `k ≥ MIN_K` holding every
    /// fixed group with the default 8-bit limbs (the vocabulary slices are cut to that,
    /// [`vocab_slices`]), then the widest range limbs that `k` allows ([`limb_bits_for`]) in
    /// the cheaper range layout by [`crate::cost::column_cost`] (the default 8-bit layout on
    /// a tie), with as many elementwise lanes as that height needs: wide limbs pay where
    /// they save lanes (a logit requantization takes 7 rows with 8-bit limbs, 3 with compact
    /// 15-bit ones).
    pub fn of(c: &HeadConsts) -> Self {
        let tallest = HeadRows::of(c, RangeLayout::DEFAULT).tallest_fixed_group();
        let mut k = MIN_K;
        while usable_rows(k) < tallest {
            k += 1;
        }
        let cap = usable_rows(k);
        let limb = limb_bits_for(k);
        // The default first: on a tie (one lane either way, as in SmolLM2's slices, whose
        // `k` the matmul sets) the keys stay those of heads from before.
        let candidates = [RangeLayout::DEFAULT, RangeLayout::with_zero_row(limb), RangeLayout::compact(limb)];
        let shapes =
            candidates.into_iter().filter(|l| RangeTableConfig::rows_for(l.limb_bits) <= cap).map(|layout| {
                let rows = HeadRows::of(c, layout);
                let elem_lanes = (rows.elem + rows.elem / 16).div_ceil(cap).max(1);
                HeadShape {
                    t: c.t,
                    logit_bits: c.lm.out.bits,
                    elem_lanes,
                    k,
                    limb_bits: layout.limb_bits,
                    compact_ranges: layout.compact,
                }
            });
        shapes.map(|s| (s, s.cost())).reduce(|a, b| if b.1 < a.1 { b } else { a }).map(|(s, _)| s).unwrap_or(
            HeadShape { t: c.t, logit_bits: c.lm.out.bits, elem_lanes: 1, k, ..HeadShape::default() },
        )
    }

    /// The proving cost of the shape's columns over its `2^k` rows, in advice-column units
    /// ([`crate::cost::column_cost`]).
    pub fn cost(&self) -> f64 {
        let mut cs = halo2_proofs::plonk::ConstraintSystem::default();
        super::HeadConfig::configure(&mut cs, *self);
        crate::cost::column_cost(&cs) * (1u64 << self.k) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_fit_and_cover_the_vocabulary() {
        let one = |r: Range<usize>| Some(std::iter::once(r).collect::<Vec<_>>());
        // SmolLM2: 49,152 × 576 fits one chunk at k = 20 (933,888 matmul rows).
        assert_eq!(vocab_slices(49152, 576, 32, 20), one(0..49152));
        // At k = 17 a slice holds at most 204 blocks of 64 rows (640 matmul rows each).
        let s = vocab_slices(49152, 576, 32, 17).expect("slices");
        assert_eq!(s.len(), 4);
        assert_eq!(s[0], 0..12288);
        assert_eq!(s.last(), Some(&(36864..49152)));
        assert!(s.windows(2).all(|w| w[0].end == w[1].start));
        for r in &s {
            assert!(MatmulConfig::rows_for(r.len(), 576, HEAD_MATMUL_LANES) <= usable_rows(17));
        }
        assert_eq!(vocab_slices(256, 64, 32, 17), one(0..256));
        assert_eq!(vocab_slices(100, 64, 32, 17), one(0..100));
        assert_eq!(vocab_slices(0, 64, 32, 17), None);
        assert_eq!(vocab_slices(1000, 1 << 17, 32, 17), None);
    }
}
