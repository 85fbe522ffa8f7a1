//! The constants of a head chunk (final RMSNorm, the `lm_head` rows of one vocabulary
//! slice, their multipliers and rescale), and the honest result computed from them with the
//! integer reference's own operations.

use std::ops::Range;

use zkinfer_quantize::fixed::tables::Tables;
use zkinfer_quantize::fixed::Scale;
use zkinfer_quantize::int::ops;
use zkinfer_quantize::qmodel::{QLinear, QNorm, GROUP};

use crate::argmax::{first_max, Prior};
use crate::block::Linear;
use crate::failure;
use crate::matmul::FixedMatrix;
use crate::norm::NormSite;
use crate::requant::requant_site;

use super::HeadError;

/// Everything a head chunk needs besides its input.
#[derive(Clone, Debug)]
pub struct HeadConsts {
    /// Tokens of the input residual (only the last one is normalized and projected).
    pub t: usize,
    /// Hidden width `d`.
    pub d: usize,
    /// The whole vocabulary's size.
    pub vocab_size: usize,
    /// The vocabulary slice `[lo, hi)` this chunk scores.
    pub vocab: Range<usize>,
    /// Residual stream format (the input's).
    pub resid: Scale,
    /// The final RMSNorm as the integer model stores it.
    pub qnorm: QNorm,
    /// The final RMSNorm's circuit site.
    pub norm: NormSite,
    /// The `lm_head` rows of the slice, as the integer model stores them.
    pub qlm: QLinear,
    /// The same rows as fixed weights, multipliers and the output rescale.
    pub lm: Linear,
    /// The nonlinearity tables (the norm's rsqrt).
    pub tables: Tables,
}

/// The rows `[lo, hi)` of `l`.
fn row_slice(l: &QLinear, rows: Range<usize>) -> QLinear {
    let g = l.cols.div_ceil(GROUP);
    QLinear {
        rows: rows.len(),
        cols: l.cols,
        weight: l.weight[rows.start * l.cols..rows.end * l.cols].to_vec(),
        group_scale: l.group_scale[rows.start * g..rows.end * g].to_vec(),
        mult: l.mult[rows.clone()].to_vec(),
        shift: l.shift,
        out: l.out,
    }
}

impl HeadConsts {
    /// The head over the vocabulary slice `vocab` for `t` tokens of the `resid`-format
    /// residual, from the model's final norm, `lm_head` and tables.
    pub fn new(
        final_norm: &QNorm,
        lm_head: &QLinear,
        tables: &Tables,
        resid: Scale,
        t: usize,
        vocab: Range<usize>,
    ) -> Result<Self, HeadError> {
        let d = final_norm.weight.len();
        if t == 0 {
            return Err(HeadError::NoTokens);
        }
        if lm_head.cols != d {
            return Err(HeadError::Width { norm: d, lm_head: lm_head.cols });
        }
        let g = lm_head.cols.div_ceil(GROUP);
        let stored = (lm_head.weight.len(), lm_head.group_scale.len(), lm_head.mult.len());
        if stored != (lm_head.rows * d, lm_head.rows * g, lm_head.rows) {
            return Err(HeadError::LmHeadShape { rows: lm_head.rows, cols: d });
        }
        if vocab.is_empty() || vocab.end > lm_head.rows {
            return Err(HeadError::VocabRange { lo: vocab.start, hi: vocab.end, vocab: lm_head.rows });
        }
        let norm = NormSite::new(final_norm, resid.bits)
            .map_err(|e| HeadError::Site("final norm", failure::describe(&e)))?;
        let qlm = row_slice(lm_head, vocab.clone());
        let w = FixedMatrix::from_qlinear(&qlm).map_err(HeadError::Weights)?;
        let site = requant_site(&qlm, final_norm.out.bits)
            .map_err(|e| HeadError::Site("lm_head requant", failure::describe(&e)))?;
        let lm = Linear { w, mult: qlm.mult.clone(), site, out: qlm.out };
        Ok(HeadConsts {
            t,
            d,
            vocab_size: lm_head.rows,
            vocab,
            resid,
            qnorm: final_norm.clone(),
            norm,
            qlm,
            lm,
            tables: tables.clone(),
        })
    }

    /// Whether this slice follows earlier ones (and so takes their best as a prior).
    pub fn has_prior(&self) -> bool {
        self.vocab.start > 0
    }

    /// The slice's logits for the residual `input: [t, d]`, exactly as the integer
    /// reference computes the last token's row of them.
    pub fn logits(&self, input: &[i64]) -> Result<Vec<i64>, HeadError> {
        if self.t == 0 {
            return Err(HeadError::NoTokens);
        }
        if input.len() != self.t * self.d {
            return Err(HeadError::InputLength { expected: self.t * self.d, got: input.len() });
        }
        let last = &input[(self.t - 1) * self.d..];
        let norm = ops::rmsnorm(last, &self.qnorm, &self.tables);
        Ok(ops::linear(&norm.out, 1, &self.qlm))
    }

    /// The best `(index, logit)` after this slice: the slice's first maximum, unless the
    /// `prior` of the earlier slices is at least as large (an earlier index wins ties).
    pub fn best(&self, input: &[i64], prior: Option<Prior>) -> Result<Prior, HeadError> {
        if prior.is_some() != self.has_prior() {
            return Err(HeadError::Prior { lo: self.vocab.start });
        }
        let logits = self.logits(input)?;
        let (j, m) = first_max(&logits).ok_or(HeadError::VocabRange {
            lo: self.vocab.start,
            hi: self.vocab.end,
            vocab: self.vocab_size,
        })?;
        let own = Prior { index: (self.vocab.start + j) as u64, logit: i128::from(m) };
        Ok(match prior {
            Some(p) if p.logit >= own.logit => p,
            _ => own,
        })
    }
}
