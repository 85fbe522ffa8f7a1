//! Where an attention call's scores, softmax rows and head groups go, and how many rows
//! it uses.

use halo2_proofs::plonk::Error;
use zkinfer_quantize::int::ops::AttnShape;

use super::head::{group_rows, head_site, HEAD_LANES};
use super::score::ScoreSite;
use crate::failure::{unsupported, Chip};
use crate::range::RangeLayout;
use crate::rescale::RescaleSite;
use crate::softmax;

/// The sites and row counts of one attention call (only [`AttnLayout::new`] builds one,
/// so its shape is always one the chip can lay out).
#[derive(Clone, Copy, Debug)]
pub struct AttnLayout {
    pub(crate) shape: AttnShape,
    pub(crate) score: ScoreSite,
    pub(crate) head: RescaleSite,
    pub(crate) layout: RangeLayout,
}

impl AttnLayout {
    /// The layout of `shape` over `q_bits`/`k_bits`-bit inputs, or `Error::Synthesis` when
    /// the shape is empty, the query heads are not a multiple of the key/value heads, `D` is
    /// not a multiple of [`SCORE_LANES`](super::score::SCORE_LANES) and [`HEAD_LANES`], or a
    /// width is out of reach. `limb` is the range table's limb width.
    pub fn new(shape: &AttnShape, q_bits: u32, k_bits: u32, layout: RangeLayout) -> Result<Self, Error> {
        let (t, h, kv) = (shape.t, shape.heads, shape.kv_heads);
        if t == 0 || h == 0 || kv == 0 || !h.is_multiple_of(kv) || !shape.head_dim.is_multiple_of(HEAD_LANES)
        {
            let why = format!(
                "{t} tokens, {h} query heads over {kv} key/value heads, head dimension {} (tokens and \
                 heads must be positive, the query heads a multiple of the key/value heads and the \
                 head dimension of {HEAD_LANES})",
                shape.head_dim
            );
            return Err(unsupported(Chip::Attention, why));
        }
        let score = ScoreSite::new(shape, q_bits, k_bits)?;
        let head = head_site(shape.v.bits)?;
        Ok(AttnLayout { shape: *shape, score, head, layout })
    }

    /// The shape.
    pub fn shape(&self) -> &AttnShape {
        &self.shape
    }

    /// The score site.
    pub fn score(&self) -> &ScoreSite {
        &self.score
    }

    /// The head output's rescale site.
    pub fn head(&self) -> &RescaleSite {
        &self.head
    }

    /// Rows of the band of one attention row over `n` keys: its `n` scores, then its
    /// softmax, then its `D / HEAD_LANES` head groups, stacked so the three can share
    /// columns ([`crate::pool`]).
    pub fn band_rows(&self, n: usize) -> usize {
        self.head_start(n) + self.shape.head_dim / HEAD_LANES * group_rows(n, &self.head, self.layout)
    }

    /// Where the softmax starts inside the band of a row over `n` keys.
    pub fn softmax_start(&self, n: usize) -> usize {
        n * self.score.rows(self.layout)
    }

    /// Where the head groups start inside the band of a row over `n` keys.
    pub fn head_start(&self, n: usize) -> usize {
        self.softmax_start(n) + softmax::rows(n)
    }

    /// Rows of the whole call: one band per query head and token.
    pub fn rows(&self) -> usize {
        self.shape.heads * (1..=self.shape.t).map(|n| self.band_rows(n)).sum::<usize>()
    }
}
