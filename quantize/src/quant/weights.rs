//! Weight quantization: symmetric 8-bit per output row, with integer multipliers that
//! fold each row's scale and the activation scales into one `× M >> N` rescale.

use crate::error::Error;
use crate::fixed::Scale;
use crate::qmodel::{QLinear, QNorm, GROUP, MULT_BITS, NORM_WEIGHT_BITS};
use crate::tensor::Tensor;

/// Largest shift a multiplier may use (keeps `acc · M` far inside i128 and the field).
pub const MAX_SHIFT: u32 = 80;

/// Largest group scale code.
const CODE_MAX: f64 = 65535.0;

/// Integer multipliers `M_j = round(f_j · 2^N)` for real factors `f_j ≥ 0`, with the largest
/// shift `N ≤ MAX_SHIFT` that keeps every `M_j < 2^MULT_BITS`. Fails when even `N = 1`
/// overflows (the factor is too large to be a right shift).
pub fn multipliers(what: &str, factors: &[f64]) -> Result<(Vec<i64>, u32), Error> {
    if let Some(f) = factors.iter().find(|f| !f.is_finite() || **f < 0.0) {
        return Err(Error::Quantize(format!("{what}: invalid scale factor {f}")));
    }
    let fmax = factors.iter().copied().fold(0.0, f64::max);
    let limit = (1u64 << MULT_BITS) as f64;
    let mut n = MAX_SHIFT;
    while n > 1 && (fmax * (n as f64).exp2()).round() >= limit {
        n -= 1;
    }
    if (fmax * (n as f64).exp2()).round() >= limit {
        return Err(Error::Quantize(format!("{what}: scale factor {fmax} needs a left shift")));
    }
    let m = factors.iter().map(|f| (f * (n as f64).exp2()).round() as i64).collect();
    Ok((m, n))
}

/// 8-bit rows with a 16-bit scale code per group of [`GROUP`] inputs.
pub struct QuantizedRows {
    /// Weights in `[-127, 127]`.
    pub weight: Vec<i8>,
    /// Group codes in `[0, 65535]`.
    pub group_scale: Vec<u16>,
    /// Row scales: `w_ji ≈ weight_ji · code_jg · row_scale_j`.
    pub row_scale: Vec<f64>,
}

/// Quantizes each row in groups of [`GROUP`] inputs. With `A_j` the row's and `a_jg` the
/// group's largest magnitude: code `c_jg = ⌈65535 · a_jg / A_j⌉`, step
/// `s_jg = c_jg · A_j / (65535 · 127)`. 16-bit codes make the steps exact enough that
/// weights already on an 8-bit block grid (GGUF Q8_0) are reproduced exactly, weight `round(w / s_jg)` (half away from zero).
pub fn quantize_rows(what: &str, w: &Tensor) -> Result<QuantizedRows, Error> {
    let (rows, cols) = (w.rows(), w.cols());
    let groups = cols.div_ceil(GROUP);
    let mut out = QuantizedRows {
        weight: Vec::with_capacity(w.data.len()),
        group_scale: Vec::with_capacity(rows * groups),
        row_scale: Vec::with_capacity(rows),
    };
    for j in 0..rows {
        let row = w.row(j);
        if let Some(i) = row.iter().position(|v| !v.is_finite()) {
            return Err(Error::Quantize(format!("{what}: non-finite weight at row {j}, column {i}")));
        }
        let amax = row.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
        let unit = amax / (CODE_MAX * 127.0);
        for grp in row.chunks(GROUP) {
            let gmax = grp.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
            let code = if amax > 0.0 { (CODE_MAX * gmax / amax).ceil().clamp(0.0, CODE_MAX) } else { 0.0 };
            let step = code * unit;
            for &v in grp {
                let q = if step > 0.0 { (v as f64 / step).round().clamp(-127.0, 127.0) } else { 0.0 };
                out.weight.push(q as i8);
            }
            out.group_scale.push(code as u16);
        }
        out.row_scale.push(unit);
    }
    Ok(out)
}

/// A [`QLinear`] from quantized rows, for an input with `in_frac` fractional bits and an
/// output in `out`: multipliers for `row_scale_j · 2^(out.frac − in_frac)`.
pub fn with_multipliers(
    what: &str,
    q: QuantizedRows,
    cols: usize,
    in_frac: u32,
    out: Scale,
) -> Result<QLinear, Error> {
    let rescale = ((out.frac as f64) - (in_frac as f64)).exp2();
    let factors: Vec<f64> = q.row_scale.iter().map(|s| s * rescale).collect();
    let (mult, shift) = multipliers(what, &factors)?;
    Ok(QLinear {
        rows: q.row_scale.len(),
        cols,
        weight: q.weight,
        group_scale: q.group_scale,
        mult,
        shift,
        out,
    })
}

/// Quantizes a `[rows, cols]` matrix ([`quantize_rows`] then [`with_multipliers`]).
pub fn quantize_linear(what: &str, w: &Tensor, in_frac: u32, out: Scale) -> Result<QLinear, Error> {
    with_multipliers(what, quantize_rows(what, w)?, w.cols(), in_frac, out)
}

/// Quantizes an RMSNorm weight for an input with `in_frac` fractional bits, output `out`.
/// Weights get the most fractional bits (≤ 20) that fit 16 signed bits.
pub fn quantize_norm(what: &str, g: &Tensor, in_frac: u32, eps: f64, out: Scale) -> Result<QNorm, Error> {
    if let Some(i) = g.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::Quantize(format!("{what}: non-finite weight at {i}")));
    }
    let amax = g.data.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    let lim = ((1i64 << (NORM_WEIGHT_BITS - 1)) - 1) as f64;
    let mut frac = 20u32;
    while frac > 0 && (amax * (frac as f64).exp2()).round() > lim {
        frac -= 1;
    }
    if (amax * (frac as f64).exp2()).round() > lim {
        return Err(Error::Quantize(format!("{what}: weight {amax} does not fit 16 bits")));
    }
    let ws = Scale::new(frac, NORM_WEIGHT_BITS);
    let weight = g.data.iter().map(|&v| ws.quantize(v as f64)).collect();
    let out = Scale::new(out.frac.min(23 + frac), out.bits);
    let eps_q = ((eps * (2.0 * in_frac as f64).exp2()).round() as i64).max(1);
    Ok(QNorm { weight, frac, out, eps: eps_q })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipliers_use_the_full_width() {
        let (m, n) = multipliers("t", &[0.5, 0.25, 0.0]).expect("fits");
        assert!(m[0] < 1 << MULT_BITS && m[0] >= 1 << (MULT_BITS - 1));
        assert_eq!(m[0], 2 * m[1]);
        assert_eq!(m[2], 0);
        assert!((m[0] as f64 / (n as f64).exp2() - 0.5).abs() < 1e-9);
        assert!(multipliers("t", &[f64::NAN]).is_err());
        assert!(multipliers("t", &[1e12]).is_err());
        let (_, n) = multipliers("t", &[1e-30]).expect("tiny");
        assert_eq!(n, MAX_SHIFT);
    }

    #[test]
    fn linear_rows_are_symmetric_8_bit() {
        let w = Tensor::new(vec![2, 3], vec![1.0, -0.5, 0.25, 0.0, 0.0, 0.0]).expect("shape");
        let q = quantize_linear("t", &w, 8, Scale::new(8, 24)).expect("ok");
        assert_eq!(q.weight, vec![127, -64, 32, 0, 0, 0]); // -63.5 rounds away from zero
        assert_eq!(q.group_scale, vec![65535, 0]);
        assert_eq!(q.mult[1], 0);
        // Row 0: the effective weight 127 · 65535 stands for 1.0, so x = 1.0 comes back.
        let acc = 127i128 * 65535 * 256; // x = 1.0 at 8 fractional bits
        let y = crate::fixed::rescale(acc * q.mult[0] as i128, q.shift, 24);
        assert_eq!(y, 256);
        // Two groups of very different magnitude each keep 8 bits of precision.
        let mut v = vec![0f32; 64];
        v[0] = 1.0;
        v[32] = 0.01;
        v[33] = -0.005;
        let w = Tensor::new(vec![1, 64], v).expect("shape");
        let q = quantize_linear("t", &w, 0, Scale::new(0, 24)).expect("ok");
        assert_eq!(q.group_scale, vec![65535, 656]); // ⌈65535 · 0.01⌉
        assert_eq!(&q.weight[32..34], &[127, -63]); // 0.01 / (656 / (65535·127)) = 126.87
        let eff = q.effective_row(0);
        assert_eq!((eff[0], eff[32], eff[33]), (127 * 65535, 127 * 656, -63 * 656));
        let bad = Tensor::new(vec![1, 2], vec![f32::INFINITY, 0.0]).expect("shape");
        assert!(quantize_linear("t", &bad, 8, Scale::new(8, 24)).is_err());
    }

    #[test]
    fn norm_weights_take_the_finest_fitting_scale() {
        let g = Tensor::new(vec![3], vec![1.0, 3.5, -0.25]).expect("shape");
        let n = quantize_norm("t", &g, 8, 1e-5, Scale::new(12, 24)).expect("ok");
        assert_eq!(n.frac, 13); // 3.5 · 2^13 = 28672 < 32767
        assert_eq!(n.weight, vec![8192, 28672, -2048]);
        assert_eq!(n.eps, 1); // 1e-5 · 2^16 rounds to 1
    }
}
