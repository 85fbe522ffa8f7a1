//! Accuracy of the integer pass against the float pass.

use serde::{Deserialize, Serialize};

use crate::float::FloatOutput;
use crate::int::IntOutput;

/// How closely the integer pass follows the float pass on one or more prompts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccuracyReport {
    /// Per residual-stream state (0 = embeddings, l = after block l):
    /// `max|int − float| / max|float|`, worst over prompts.
    pub hidden_rel_err: Vec<f64>,
    /// Logits `max|int − float| / max|float|`, worst over prompts.
    pub logits_rel_err: f64,
    /// Positions compared.
    pub positions: usize,
    /// Fraction of positions whose integer argmax equals the float argmax.
    pub top1_agreement: f64,
    /// Fraction of positions whose integer argmax is in the float top 5.
    pub top1_in_float_top5: f64,
    /// Mean overlap of the integer and float top-5 sets, divided by 5.
    pub top5_overlap: f64,
    /// Prompts whose next token (argmax at the last position) agrees.
    pub next_token_agree: usize,
    /// Prompts compared.
    pub prompts: usize,
}

/// The `k` largest entries' indices, largest first (ties: lower index first).
pub fn top_k(row: &[f64], k: usize) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..row.len() as u32).collect();
    idx.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// `max|a − b| / max|b|`.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let err = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let m = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    if m > 0.0 {
        err / m
    } else {
        err
    }
}

impl AccuracyReport {
    /// Compares one prompt's passes.
    pub fn compare(f: &FloatOutput, i: &IntOutput) -> Self {
        let hidden_rel_err = (0..f.hidden.len())
            .map(|l| {
                let fl: Vec<f64> = f.hidden[l].iter().map(|&v| v as f64).collect();
                rel_err(&i.hidden_f64(l), &fl)
            })
            .collect();
        let fl: Vec<f64> = f.logits.iter().map(|&v| v as f64).collect();
        let il = i.logits_f64();
        let vocab = fl.len() / f.t;
        let (mut a1, mut a15, mut o5) = (0usize, 0usize, 0usize);
        let mut last_agree = false;
        for p in 0..f.t {
            let fr = &fl[p * vocab..(p + 1) * vocab];
            let ir = &il[p * vocab..(p + 1) * vocab];
            let ft = top_k(fr, 5);
            let it = top_k(ir, 5);
            let agree = ft[0] == it[0];
            a1 += agree as usize;
            a15 += ft.contains(&it[0]) as usize;
            o5 += it.iter().filter(|x| ft.contains(x)).count();
            last_agree = agree;
        }
        let n = f.t as f64;
        AccuracyReport {
            hidden_rel_err,
            logits_rel_err: rel_err(&il, &fl),
            positions: f.t,
            top1_agreement: a1 as f64 / n,
            top1_in_float_top5: a15 as f64 / n,
            top5_overlap: o5 as f64 / (5.0 * n),
            next_token_agree: last_agree as usize,
            prompts: 1,
        }
    }

    /// Combines two reports (worst errors, position-weighted agreement).
    pub fn merge(&self, o: &AccuracyReport) -> AccuracyReport {
        if self.prompts == 0 {
            return o.clone();
        }
        let n = (self.positions + o.positions) as f64;
        let w = |a: f64, b: f64| (a * self.positions as f64 + b * o.positions as f64) / n;
        AccuracyReport {
            hidden_rel_err: self
                .hidden_rel_err
                .iter()
                .zip(&o.hidden_rel_err)
                .map(|(a, b)| a.max(*b))
                .collect(),
            logits_rel_err: self.logits_rel_err.max(o.logits_rel_err),
            positions: self.positions + o.positions,
            top1_agreement: w(self.top1_agreement, o.top1_agreement),
            top1_in_float_top5: w(self.top1_in_float_top5, o.top1_in_float_top5),
            top5_overlap: w(self.top5_overlap, o.top5_overlap),
            next_token_agree: self.next_token_agree + o.next_token_agree,
            prompts: self.prompts + o.prompts,
        }
    }

    /// Worst relative error over the block outputs (excluding the embeddings).
    pub fn worst_layer_err(&self) -> f64 {
        self.hidden_rel_err.iter().skip(1).copied().fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_and_breaks_ties_by_index() {
        assert_eq!(top_k(&[1.0, 3.0, 3.0, -1.0, 2.0], 3), vec![1, 2, 4]);
        assert_eq!(top_k(&[1.0], 5), vec![0]);
    }

    #[test]
    fn rel_err_is_relative_to_the_reference_max() {
        assert!((rel_err(&[1.0, 2.1], &[1.0, 2.0]) - 0.05).abs() < 1e-12);
        assert_eq!(rel_err(&[0.5], &[0.0]), 0.5);
    }
}
