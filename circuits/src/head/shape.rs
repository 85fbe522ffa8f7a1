//! The rows each part of a head chunk needs, and the lanes and `k` that follow: the
//! circuit's configuration parameters.

use std::ops::Range;

use crate::block::{usable_rows, MIN_K};
use crate::matmul::MatmulConfig;
use crate::poseidon::PoseidonChip;
use crate::range::{range_rows, LIMB_BITS};

use super::consts::HeadConsts;

/// Weight lanes of the head's matmul: a head slice is one token, so its matmul is tall
/// (`V + d·⌈V/L⌉` rows) and narrow; twice the block's lanes halve the slices of a large
/// vocabulary (SmolLM2's 49,152 rows: 4 slices at `k = 17` instead of 8) for 32 more fixed
/// columns, which cost keygen, not proving.
pub const HEAD_MATMUL_LANES: usize = 64;

/// The configuration parameters of a head chunk, derived by [`HeadShape::of`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadShape {
    /// Tokens of the input residual.
    pub t: usize,
    /// Logit bits (the argmax chip's row stride).
    pub logit_bits: u32,
    /// Elementwise lanes (each a rescale chip with the requant gate).
    pub elem_lanes: usize,
    /// `log2` of the rows.
    pub k: u32,
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
    /// The rows of every group for `c`.
    pub fn of(c: &HeadConsts) -> Self {
        let v = c.vocab.len();
        HeadRows {
            elem: c.t * c.d * range_rows(c.resid.bits, LIMB_BITS) + v * c.lm.site.rows(LIMB_BITS),
            norm: c.norm.rows(LIMB_BITS),
            matmul: MatmulConfig::rows_for(v, c.d, HEAD_MATMUL_LANES),
            argmax: (v + usize::from(c.has_prior())) * range_rows(c.lm.out.bits, LIMB_BITS),
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
            && (v + 1) * range_rows(logit_bits, LIMB_BITS) <= cap
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
    /// fixed group, then as many elementwise lanes as that height needs.
    pub fn of(c: &HeadConsts) -> Self {
        let rows = HeadRows::of(c);
        let mut k = MIN_K;
        while usable_rows(k) < rows.tallest_fixed_group() {
            k += 1;
        }
        let cap = usable_rows(k);
        let elem_lanes = (rows.elem + rows.elem / 16).div_ceil(cap).max(1);
        HeadShape { t: c.t, logit_bits: c.lm.out.bits, elem_lanes, k }
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
