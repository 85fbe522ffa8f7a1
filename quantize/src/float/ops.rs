//! Float building blocks of a Llama block, on row-major `[T, width]` activations.

use rayon::prelude::*;

/// `x · Wᵀ` for `x: [t, in]` and `w: [out, in]`, giving `[t, out]`.
pub fn matmul(x: &[f32], t: usize, w: &[f32], out: usize) -> Vec<f32> {
    let inp = x.len() / t.max(1);
    debug_assert_eq!(w.len(), out * inp);
    let mut y = vec![0f32; t * out];
    // Columns of y in parallel: each task reads one weight row against every token.
    let cols: Vec<Vec<f32>> = w
        .par_chunks(inp.max(1))
        .map(|wr| (0..t).map(|ti| dot(&x[ti * inp..(ti + 1) * inp], wr)).collect())
        .collect();
    for (j, col) in cols.iter().enumerate() {
        for (ti, v) in col.iter().enumerate() {
            y[ti * out + j] = *v;
        }
    }
    y
}

/// Dot product with eight independent f32 accumulators (vectorizes; error ~1e-7 relative).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// RMSNorm of each row: `x / √(mean(x²) + eps) · w` (mean square accumulated in f64).
pub fn rmsnorm(x: &[f32], w: &[f32], eps: f64) -> Vec<f32> {
    let d = w.len();
    let mut y = vec![0f32; x.len()];
    for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        let ms = xr.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / d as f64;
        let inv = 1.0 / (ms + eps).sqrt();
        for ((o, &v), &g) in yr.iter_mut().zip(xr).zip(w) {
            *o = ((v as f64) * inv * (g as f64)) as f32;
        }
    }
    y
}

/// HF rotate-half RoPE in place on `x: [t, heads, head_dim]` at positions `0..t`:
/// element `i < D/2` pairs with `i + D/2`, angle `pos · θ^(−2i/D)`.
pub fn rope(x: &mut [f32], t: usize, heads: usize, head_dim: usize, theta: f64) {
    let half = head_dim / 2;
    for pos in 0..t {
        for i in 0..half {
            let ang = pos as f64 * theta.powf(-(2.0 * i as f64) / head_dim as f64);
            let (s, c) = ang.sin_cos();
            for h in 0..heads {
                let base = (pos * heads + h) * head_dim;
                let a = x[base + i] as f64;
                let b = x[base + i + half] as f64;
                x[base + i] = (a * c - b * s) as f32;
                x[base + i + half] = (b * c + a * s) as f32;
            }
        }
    }
}

/// Causal GQA attention. `q: [t, h, D]`, `k, v: [t, kv, D]`; query head `h` reads kv head
/// `h / (heads / kv_heads)`. Returns the heads `[t, h·D]` and the probabilities `[h, t, t]`
/// (zero above the diagonal).
pub fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    t: usize,
    heads: usize,
    kv_heads: usize,
    d: usize,
) -> (Vec<f32>, Vec<f32>) {
    let group = heads / kv_heads;
    let scale = 1.0 / (d as f64).sqrt();
    let mut out = vec![0f32; t * heads * d];
    let mut probs = vec![0f32; heads * t * t];
    for h in 0..heads {
        let kvh = h / group;
        for ti in 0..t {
            let qv = &q[(ti * heads + h) * d..][..d];
            let scores: Vec<f64> =
                (0..=ti).map(|s| dot(qv, &k[(s * kv_heads + kvh) * d..][..d]) as f64 * scale).collect();
            let mx = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let ex: Vec<f64> = scores.iter().map(|s| (s - mx).exp()).collect();
            let sum: f64 = ex.iter().sum();
            let o = &mut out[(ti * heads + h) * d..][..d];
            let mut acc = vec![0f64; d];
            for (s, e) in ex.iter().enumerate() {
                let p = e / sum;
                probs[(h * t + ti) * t + s] = p as f32;
                let vv = &v[(s * kv_heads + kvh) * d..][..d];
                for (a, &x) in acc.iter_mut().zip(vv) {
                    *a += p * x as f64;
                }
            }
            for (o, a) in o.iter_mut().zip(acc) {
                *o = a as f32;
            }
        }
    }
    (out, probs)
}

/// `silu(x) = x / (1 + e^(−x))`.
#[inline]
pub fn silu(x: f32) -> f32 {
    let x = x as f64;
    (x / (1.0 + (-x).exp())) as f32
}

/// Elementwise `a + b`.
pub fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// Largest absolute value (0 for an empty slice).
pub fn max_abs(x: &[f32]) -> f32 {
    x.iter().fold(0f32, |m, v| m.max(v.abs()))
}
