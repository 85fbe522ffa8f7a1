//! The integer operations of a block, each returning the values a circuit needs as its
//! witness. Every rounding is [`round_shift`] and every clamp [`saturate`].

use rayon::prelude::*;

use crate::fixed::tables::{
    Tables, PROB_FRAC, RECIP_MANT_BITS, RECIP_OUT_FRAC, ROPE_FRAC, RSQRT_MANT_BITS, RSQRT_OUT_FRAC, SILU_FRAC,
};
use crate::fixed::{normalize, rescale, round_shift, saturate, Scale};
use crate::qmodel::{QLinear, QNorm, RopeTable};

/// RMSNorm of each row with its per-row auxiliaries.
#[derive(Clone, Debug, PartialEq)]
pub struct NormTrace {
    /// Output `[t, d]`.
    pub out: Vec<i64>,
    /// `Σ x²` per row.
    pub sum_sq: Vec<i128>,
    /// `⌊Σ x² / d⌋ + eps` per row.
    pub mean_sq: Vec<i128>,
    /// Mantissa `m` of the mean square (the rsqrt table's index).
    pub mant: Vec<i64>,
    /// Exponent `e`: `mean_sq ≈ m · 4^e`.
    pub exp: Vec<u32>,
    /// `rsqrt[m]`.
    pub rsqrt: Vec<i64>,
}

/// RMSNorm of `x: [t, d]`:
/// `ms = ⌊Σx²/d⌋ + eps`, `(m, e) = normalize(ms, 16, 2)`, `r = rsqrt[m]`,
/// `y_i = rescale(x_i · r · w_i, 23 + e + w.frac − out.frac, out.bits)`.
pub fn rmsnorm(x: &[i64], n: &QNorm, tables: &Tables) -> NormTrace {
    let d = n.weight.len();
    let rows = x.len() / d;
    let mut tr = NormTrace {
        out: Vec::with_capacity(x.len()),
        sum_sq: Vec::with_capacity(rows),
        mean_sq: Vec::with_capacity(rows),
        mant: Vec::with_capacity(rows),
        exp: Vec::with_capacity(rows),
        rsqrt: Vec::with_capacity(rows),
    };
    for xr in x.chunks_exact(d) {
        let ss: i128 = xr.iter().map(|&v| (v as i128) * (v as i128)).sum();
        let ms = ss / d as i128 + n.eps as i128;
        let (m, e) = normalize(ms, RSQRT_MANT_BITS, 2);
        let r = tables.rsqrt.values[m as usize];
        let shift = RSQRT_OUT_FRAC + e + n.frac - n.out.frac;
        for (&v, &w) in xr.iter().zip(&n.weight) {
            tr.out.push(rescale(v as i128 * r as i128 * w as i128, shift, n.out.bits));
        }
        tr.sum_sq.push(ss);
        tr.mean_sq.push(ms);
        tr.mant.push(m);
        tr.exp.push(e);
        tr.rsqrt.push(r);
    }
    tr
}

/// `y = rescale((x · Wᵀ)_j · mult_j, shift, out.bits)` for `x: [t, cols]`; returns `[t, rows]`.
pub fn linear(x: &[i64], t: usize, l: &QLinear) -> Vec<i64> {
    let xs: Vec<i32> = x.iter().map(|&v| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32).collect();
    debug_assert!(x.iter().all(|&v| v == v as i32 as i64), "matmul inputs fit 32 bits");
    let cols = l.cols;
    let per_row: Vec<Vec<i64>> = (0..l.rows)
        .into_par_iter()
        .zip(l.mult.par_iter())
        .map(|(j, &m)| {
            let wr = l.effective_row(j);
            (0..t)
                .map(|ti| {
                    let acc = dot(&wr, &xs[ti * cols..(ti + 1) * cols]);
                    rescale(acc * m as i128, l.shift, l.out.bits)
                })
                .collect()
        })
        .collect();
    let mut y = vec![0i64; t * l.rows];
    for (j, col) in per_row.iter().enumerate() {
        for (ti, &v) in col.iter().enumerate() {
            y[ti * l.rows + j] = v;
        }
    }
    y
}

/// Exact `Σ w_i · x_i`. Each product is below 2^54 (a 24-bit effective weight times a
/// 32-bit input), so blocks of 64 add up in i64 lanes without overflow.
#[inline]
pub fn dot(w: &[i32], x: &[i32]) -> i128 {
    let mut total = 0i128;
    for (wb, xb) in w.chunks(64).zip(x.chunks(64)) {
        let mut acc = [0i64; 8];
        let cw = wb.chunks_exact(8);
        let cx = xb.chunks_exact(8);
        let (rw, rx) = (cw.remainder(), cx.remainder());
        for (a, b) in cw.zip(cx) {
            for i in 0..8 {
                acc[i] += a[i] as i64 * b[i] as i64;
            }
        }
        let mut s: i64 = acc.iter().sum();
        for (a, b) in rw.iter().zip(rx) {
            s += *a as i64 * *b as i64;
        }
        total += s as i128;
    }
    total
}

/// Embedding rows: `x_i = rescale(w_tok,i · c_tok,g · mult_tok, shift, out.bits)`.
pub fn embed(emb: &QLinear, tokens: &[u32]) -> Vec<i64> {
    let mut x = Vec::with_capacity(tokens.len() * emb.cols);
    for &tk in tokens {
        let j = tk as usize;
        let m = emb.mult[j] as i128;
        for w in emb.effective_row(j) {
            x.push(rescale(w as i128 * m, emb.shift, emb.out.bits));
        }
    }
    x
}

/// Rotate-half RoPE of `x: [t, heads, D]` at positions `0..t`:
/// `a' = rescale(a·c − b·s, 14, bits)`, `b' = rescale(b·c + a·s, 14, bits)` for the pair
/// `(a, b) = (x_i, x_{i+D/2})` and constants `(c, s)` of position and `i`.
pub fn rope(x: &[i64], t: usize, heads: usize, head_dim: usize, rope: &RopeTable, bits: u32) -> Vec<i64> {
    let half = head_dim / 2;
    let mut y = x.to_vec();
    for pos in 0..t {
        for h in 0..heads {
            let base = (pos * heads + h) * head_dim;
            for i in 0..half {
                let (c, s) = (rope.cos[pos * half + i] as i128, rope.sin[pos * half + i] as i128);
                let (a, b) = (x[base + i] as i128, x[base + i + half] as i128);
                y[base + i] = rescale(a * c - b * s, ROPE_FRAC, bits);
                y[base + i + half] = rescale(b * c + a * s, ROPE_FRAC, bits);
            }
        }
    }
    y
}

/// Causal softmax attention with its auxiliaries. `[h, t, t]` arrays hold zeros above
/// the diagonal.
#[derive(Clone, Debug, PartialEq)]
pub struct AttnTrace {
    /// Scores `rescale(q·k · mult, shift, 32)`, 12 fractional bits, `[h, t, t]`.
    pub scores: Vec<i64>,
    /// Row maxima `[h, t]`.
    pub max: Vec<i64>,
    /// `exp[min(max − score, 2^16 − 1)]`, `[h, t, t]`.
    pub exp: Vec<i64>,
    /// Row sums of `exp` `[h, t]`.
    pub sum: Vec<i64>,
    /// Mantissa of the sum `[h, t]` (the reciprocal table's index).
    pub sum_mant: Vec<i64>,
    /// Exponent of the sum `[h, t]`: `sum ≈ mant · 2^exp`.
    pub sum_exp: Vec<u32>,
    /// `recip[mant]` `[h, t]`.
    pub recip: Vec<i64>,
    /// Probabilities `round_shift(exp · recip, 31 + sum_exp − 16)`, 16 fractional bits, `[h, t, t]`.
    pub probs: Vec<i64>,
    /// Heads `rescale(Σ_s p·v, 16, v.bits)` `[t, h·D]` in the values' scale.
    pub heads: Vec<i64>,
}

/// Shapes and constants of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    /// Tokens.
    pub t: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Head width.
    pub head_dim: usize,
    /// Score multiplier.
    pub score_mult: i64,
    /// Score shift.
    pub score_shift: u32,
    /// Score format.
    pub score: Scale,
    /// Values' format.
    pub v: Scale,
}

/// Causal GQA attention over RoPE'd `q: [t, h, D]`, `k: [t, kv, D]` and `v: [t, kv, D]`.
pub fn attention(q: &[i64], k: &[i64], v: &[i64], a: AttnShape, tables: &Tables) -> AttnTrace {
    let (t, h, kv, d) = (a.t, a.heads, a.kv_heads, a.head_dim);
    let group = h / kv;
    let mut tr = AttnTrace {
        scores: vec![0; h * t * t],
        max: vec![0; h * t],
        exp: vec![0; h * t * t],
        sum: vec![0; h * t],
        sum_mant: vec![0; h * t],
        sum_exp: vec![0; h * t],
        recip: vec![0; h * t],
        probs: vec![0; h * t * t],
        heads: vec![0; t * h * d],
    };
    let zmax = tables.exp.end();
    for hh in 0..h {
        let kvh = hh / group;
        for ti in 0..t {
            let qv = &q[(ti * h + hh) * d..][..d];
            let row = (hh * t + ti) * t;
            for s in 0..=ti {
                let kk = &k[(s * kv + kvh) * d..][..d];
                let acc: i128 = qv.iter().zip(kk).map(|(&x, &y)| x as i128 * y as i128).sum();
                tr.scores[row + s] = rescale(acc * a.score_mult as i128, a.score_shift, a.score.bits);
            }
            let mx = tr.scores[row..=row + ti].iter().copied().max().unwrap_or(0);
            let mut sum = 0i64;
            for s in 0..=ti {
                let z = (mx - tr.scores[row + s]).min(zmax);
                let e = tables.exp_neg(z);
                tr.exp[row + s] = e;
                sum += e;
            }
            let (m, se) = normalize(sum as i128, RECIP_MANT_BITS, 1);
            let r = tables.recip.get(m).unwrap_or(0);
            let shift = RECIP_OUT_FRAC + se - PROB_FRAC;
            let mut acc = vec![0i128; d];
            for s in 0..=ti {
                let p = round_shift(tr.exp[row + s] as i128 * r as i128, shift) as i64;
                tr.probs[row + s] = p;
                let vv = &v[(s * kv + kvh) * d..][..d];
                for (ac, &x) in acc.iter_mut().zip(vv) {
                    *ac += p as i128 * x as i128;
                }
            }
            let o = &mut tr.heads[(ti * h + hh) * d..][..d];
            for (o, &sum_pv) in o.iter_mut().zip(&acc) {
                *o = rescale(sum_pv, PROB_FRAC, a.v.bits);
            }
            let idx = hh * t + ti;
            tr.max[idx] = mx;
            tr.sum[idx] = sum;
            tr.sum_mant[idx] = m;
            tr.sum_exp[idx] = se;
            tr.recip[idx] = r;
        }
    }
    tr
}

/// SwiGLU's elementwise part: `s = silu(gate)` (table, 11 fractional bits) and
/// `mid = rescale(s · up, 11 + up.frac − mid.frac, mid.bits)`. Returns `(s, mid)`.
pub fn swiglu(
    gate: &[i64],
    up: &[i64],
    up_scale: Scale,
    mid: Scale,
    tables: &Tables,
) -> (Vec<i64>, Vec<i64>) {
    let shift = SILU_FRAC + up_scale.frac - mid.frac;
    let s: Vec<i64> = gate.iter().map(|&g| tables.silu(g)).collect();
    let m = s.iter().zip(up).map(|(&a, &b)| rescale(a as i128 * b as i128, shift, mid.bits)).collect();
    (s, m)
}

/// Residual add, saturated to `bits`.
pub fn add(a: &[i64], b: &[i64], bits: u32) -> Vec<i64> {
    a.iter().zip(b).map(|(&x, &y)| saturate(x as i128 + y as i128, bits)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qmodel::GROUP;

    fn tables() -> Tables {
        Tables::generate()
    }

    #[test]
    fn rmsnorm_follows_its_formula_step_by_step() {
        let t = tables();
        // x = [3, 4] at 8 fractional bits: Σx² = 25·2^16, ms = 12.5·2^16 + eps.
        let n = QNorm { weight: vec![1 << 12, 1 << 13], frac: 12, out: Scale::new(10, 24), eps: 1 };
        let tr = rmsnorm(&[3 << 8, 4 << 8], &n, &t);
        assert_eq!(tr.sum_sq, vec![25 << 16]);
        assert_eq!(tr.mean_sq, vec![(25 << 15) + 1]);
        let (m, e) = normalize(tr.mean_sq[0], 16, 2);
        assert_eq!((tr.mant[0], tr.exp[0]), (m, e));
        assert_eq!(tr.rsqrt[0], t.rsqrt.values[m as usize]);
        let r = tr.rsqrt[0] as i128;
        let shift = 23 + e + 12 - 10;
        assert_eq!(
            tr.out,
            vec![rescale((3 << 8) * r * (1 << 12), shift, 24), rescale((4 << 8) * r * (1 << 13), shift, 24)]
        );
        // Real values: x/rms·g = 3/√12.5 ≈ 0.8485 and 4/√12.5·2 ≈ 2.2627, at 2^-10.
        assert!((tr.out[0] as f64 / 1024.0 - 0.8485).abs() < 2e-3, "{:?}", tr.out);
        assert!((tr.out[1] as f64 / 1024.0 - 2.2627).abs() < 2e-3, "{:?}", tr.out);
    }

    #[test]
    fn linear_applies_group_codes_then_one_rescale() {
        let cols = GROUP + 2;
        let mut weight = vec![0i8; cols];
        weight[0] = 3;
        weight[GROUP] = -5;
        let l = QLinear {
            rows: 1,
            cols,
            weight,
            group_scale: vec![2, 7],
            mult: vec![3],
            shift: 2,
            out: Scale::new(0, 8),
        };
        let mut x = vec![0i64; cols];
        x[0] = 10;
        x[GROUP] = 1;
        // acc = 3·2·10 − 5·7·1 = 25; y = round_shift(25·3, 2) = round(18.75) = 19.
        assert_eq!(linear(&x, 1, &l), vec![19]);
        // Saturation at 8 bits.
        x[0] = 1000;
        assert_eq!(linear(&x, 1, &l), vec![127]);
    }

    #[test]
    fn rope_is_the_identity_at_position_zero_and_rotates_after() {
        let rt = RopeTable::generate(2, 4, 10_000.0);
        let x = vec![100, -7, 33, 9, 100, -7, 33, 9];
        let y = rope(&x, 2, 1, 4, &rt, 24);
        assert_eq!(&y[..4], &x[..4]);
        // Position 1, i = 0: angle 1 rad.
        let (c, s) = (rt.cos[2] as i128, rt.sin[2] as i128);
        assert_eq!(y[4], rescale(100 * c - 33 * s, ROPE_FRAC, 24));
        assert_eq!(y[6], rescale(33 * c + 100 * s, ROPE_FRAC, 24));
    }

    fn shape(t: usize) -> AttnShape {
        AttnShape {
            t,
            heads: 1,
            kv_heads: 1,
            head_dim: 2,
            score_mult: 1,
            score_shift: 1,
            score: Scale::new(12, 32),
            v: Scale::new(8, 24),
        }
    }

    #[test]
    fn attention_edges_are_exact() {
        let t = tables();
        // One token: p = 2^16 exactly and the head equals v.
        let tr = attention(&[5, 6], &[7, 8], &[300, -200], shape(1), &t);
        assert_eq!((tr.exp[0], tr.sum[0], tr.sum_mant[0], tr.sum_exp[0]), (65536, 65536, 32768, 1));
        assert_eq!(tr.recip[0], 65536);
        assert_eq!(tr.probs[0], 65536);
        assert_eq!(tr.heads, vec![300, -200]);
        // Two tokens with equal scores: each p = 2^15; the second head is the mean of v.
        let tr = attention(&[1, 0, 1, 0], &[4, 0, 4, 0], &[100, 0, 301, 0], shape(2), &t);
        assert_eq!(&tr.probs[2..4], &[32768, 32768]);
        assert_eq!(tr.heads[2], round_shift((100 + 301) * 32768, PROB_FRAC) as i64); // 200.5 -> 201
                                                                                     // Causal: the first token never sees the second.
        assert_eq!(tr.probs[1], 0);
        assert_eq!(tr.heads[0], 100);
        // A score far below the max saturates z and gets probability 0.
        let tr =
            attention(&[1 << 12, 0, 1 << 12, 0], &[-(1 << 12), 0, 1 << 12, 0], &[7, 0, 9, 0], shape(2), &t);
        assert_eq!(tr.exp[2], 0);
        assert_eq!(tr.probs[3], 65536);
    }

    #[test]
    fn swiglu_and_residual_round_and_saturate() {
        let t = tables();
        let (s, m) = swiglu(&[2048, 40_000, -40_000], &[3, 5, 5], Scale::new(1, 24), Scale::new(2, 24), &t);
        assert_eq!(s, vec![t.silu(2048), 40_000, 0]);
        // shift = 11 + 1 − 2 = 10.
        assert_eq!(m, vec![rescale(s[0] as i128 * 3, 10, 24), rescale(40_000 * 5, 10, 24), 0]);
        assert_eq!(add(&[i32::MAX as i64, -5], &[10, 3], 32), vec![i32::MAX as i64, -2]);
        assert_eq!(add(&[i32::MIN as i64], &[-1], 32), vec![i32::MIN as i64]);
    }

    #[test]
    fn embedding_rows_are_rescaled_effective_weights() {
        let l = QLinear {
            rows: 2,
            cols: 2,
            weight: vec![1, 2, -3, 4],
            group_scale: vec![10, 20],
            mult: vec![5, 7],
            shift: 1,
            out: Scale::new(0, 32),
        };
        // Token 1: effective weights [-60, 80], times 7, halved.
        assert_eq!(embed(&l, &[1]), vec![-210, 280]);
    }
}
