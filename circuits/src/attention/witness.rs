//! The witness of a whole attention call: every score, softmax row and head output, in
//! the order the chip lays them out (query head major, then token).

use super::head::HeadWitness;
use super::layout::AttnLayout;
use super::score::ScoreWitness;
use crate::softmax::{SoftmaxChip, SoftmaxWitness};

/// The witness of one attention row (query head `hh`, token `ti`, keys `0 ..= ti`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowWitness {
    /// The `ti + 1` scores.
    pub scores: Vec<ScoreWitness>,
    /// Their softmax.
    pub softmax: SoftmaxWitness,
    /// The head output.
    pub head: HeadWitness,
}

/// The witness of an attention call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttnWitness {
    /// Row `hh·t + ti`.
    pub rows: Vec<RowWitness>,
}

/// The `D` entries of `x: [t, heads, D]` at `(token, head)`.
pub(crate) fn slot<T>(x: &[T], heads: usize, d: usize, token: usize, head: usize) -> &[T] {
    &x[(token * heads + head) * d..][..d]
}

impl RowWitness {
    /// The honest softmax and head output of `scores` over the row's value rows
    /// (`[n, D]` key-major), or `None` when the softmax or a head sum is out of reach.
    pub fn from_scores(
        scores: Vec<ScoreWitness>,
        values: &[i128],
        softmax: &SoftmaxChip,
        layout: &AttnLayout,
    ) -> Option<Self> {
        let s: Vec<i128> = scores.iter().map(ScoreWitness::score).collect();
        let sm = softmax.witness(&s)?;
        let head = HeadWitness::new(&sm.probs, values, &layout.head)?;
        Some(RowWitness { scores, softmax: sm, head })
    }

    /// Whether the witness has the shape of a row of `n` keys.
    pub fn fits(&self, n: usize, layout: &AttnLayout) -> bool {
        let d = layout.score.head_dim;
        self.scores.len() == n
            && self.scores.iter().all(|s| s.q.len() == d && s.k.len() == d)
            && self.softmax.gaps.len() == n
            && self.softmax.exps.len() == n
            && self.softmax.probs.len() == n
            && self.head.fits(n, d)
    }
}

impl AttnWitness {
    /// The honest witness for `q: [t, h, D]`, `k, v: [t, kv, D]`, or `None` when an input has
    /// the wrong length or a value is out of the chip's reach.
    pub fn new(
        layout: &AttnLayout,
        softmax: &SoftmaxChip,
        q: &[i128],
        k: &[i128],
        v: &[i128],
    ) -> Option<Self> {
        let a = &layout.shape;
        let (t, h, kv, d) = (a.t, a.heads, a.kv_heads, a.head_dim);
        if q.len() != t * h * d || k.len() != t * kv * d || v.len() != t * kv * d {
            return None;
        }
        let group = h / kv;
        let mut rows = Vec::with_capacity(h * t);
        for hh in 0..h {
            let kvh = hh / group;
            for ti in 0..t {
                let qv = slot(q, h, d, ti, hh);
                let scores = (0..=ti)
                    .map(|s| ScoreWitness::new(qv, slot(k, kv, d, s, kvh), &layout.score))
                    .collect::<Option<Vec<_>>>()?;
                let values: Vec<i128> = (0..=ti).flat_map(|s| slot(v, kv, d, s, kvh).to_vec()).collect();
                rows.push(RowWitness::from_scores(scores, &values, softmax, layout)?);
            }
        }
        Some(AttnWitness { rows })
    }

    /// Whether the witness has the shape of `layout`'s rows.
    pub fn fits(&self, layout: &AttnLayout) -> bool {
        let t = layout.shape.t;
        self.rows.len() == layout.shape.heads * t
            && self.rows.iter().enumerate().all(|(r, row)| row.fits(r % t + 1, layout))
    }

    /// The head outputs `[t, h, D]` (`AttnTrace::heads` order).
    pub fn heads(&self, layout: &AttnLayout) -> Vec<i128> {
        let a = &layout.shape;
        let (t, h, d) = (a.t, a.heads, a.head_dim);
        let mut out = vec![0i128; t * h * d];
        for (r, row) in self.rows.iter().enumerate().take(h * t) {
            let (hh, ti) = (r / t, r % t);
            for (c, y) in row.head.heads().into_iter().enumerate().take(d) {
                out[(ti * h + hh) * d + c] = y;
            }
        }
        out
    }
}
