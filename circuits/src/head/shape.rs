//! The rows each part of a head chunk needs, and the lanes and `k` that follow: the
//! circuit's configuration parameters.

use crate::block::{usable_rows, MATMUL_LANES, MIN_K};
use crate::matmul::MatmulConfig;
use crate::poseidon::PoseidonChip;
use crate::range::range_rows;

use super::consts::HeadConsts;

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
    /// The final RMSNorm of one token.
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
            elem: c.t * c.d * range_rows(c.resid.bits) + v * c.lm.site.rows(),
            norm: c.norm.rows(),
            matmul: MatmulConfig::rows_for(v, c.d, MATMUL_LANES),
            argmax: (v + usize::from(c.has_prior())) * range_rows(c.lm.out.bits),
            poseidon: PoseidonChip::rows(c.t * c.d),
        }
    }

    /// The tallest group other than the elementwise lanes.
    pub fn tallest_fixed_group(&self) -> usize {
        self.norm.max(self.matmul).max(self.argmax).max(self.poseidon)
    }
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
