//! Fixed-point arithmetic: scales, the one rounding rule, saturation, and the
//! mantissa/exponent split that keeps lookup tables small.
//!
//! Every value in the integer model is an integer `v` standing for the real number
//! `v · 2^-frac` of its [`Scale`]. Every rescale in the model is [`round_shift`]
//! (round half up) followed by [`saturate`] to the site's bit width. Both are exactly
//! what a halo2 gate can constrain: `x + 2^(n-1) = q·2^n + r` with `0 ≤ r < 2^n`, and a
//! clamp proved with range checks.

pub mod tables;

use serde::{Deserialize, Serialize};

/// The fixed-point format of one activation site: `bits`-bit two's-complement integers
/// standing for `v · 2^-frac`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scale {
    /// Fractional bits: the integer `v` stands for `v · 2^-frac`.
    pub frac: u32,
    /// Signed width; values saturate to `[-2^(bits-1), 2^(bits-1) - 1]`.
    pub bits: u32,
}

impl Scale {
    /// A scale with `frac` fractional bits and `bits` total signed bits.
    pub const fn new(frac: u32, bits: u32) -> Self {
        Scale { frac, bits }
    }

    /// The real number an integer stands for.
    pub fn to_f64(self, v: i64) -> f64 {
        v as f64 * (-(self.frac as f64)).exp2()
    }

    /// The nearest representable integer to `x` (round half away from zero), saturated.
    pub fn quantize(self, x: f64) -> i64 {
        let v = (x * (self.frac as f64).exp2()).round();
        let (lo, hi) = self.range();
        if v.is_nan() {
            0
        } else {
            (v.max(lo as f64).min(hi as f64)) as i64
        }
    }

    /// Smallest and largest representable integers.
    pub fn range(self) -> (i64, i64) {
        signed_range(self.bits)
    }

    /// Largest real magnitude representable.
    pub fn max_real(self) -> f64 {
        self.to_f64(self.range().1)
    }
}

/// `[-2^(bits-1), 2^(bits-1) - 1]`.
pub fn signed_range(bits: u32) -> (i64, i64) {
    debug_assert!((1..=63).contains(&bits));
    (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
}

/// `⌊(x + 2^(n-1)) / 2^n⌋` — division by `2^n` rounding half up (towards +∞); `x` when
/// `n = 0`. This is the only rounding in the integer model.
#[inline]
pub fn round_shift(x: i128, n: u32) -> i128 {
    if n == 0 {
        x
    } else {
        (x + (1i128 << (n - 1))) >> n
    }
}

/// Clamps `x` to the signed `bits`-bit range.
#[inline]
pub fn saturate(x: i128, bits: u32) -> i64 {
    let (lo, hi) = signed_range(bits);
    x.clamp(lo as i128, hi as i128) as i64
}

/// [`round_shift`] then [`saturate`]: the rescale every site uses.
#[inline]
pub fn rescale(x: i128, n: u32, bits: u32) -> i64 {
    saturate(round_shift(x, n), bits)
}

/// Splits `v > 0` as `v ≈ m · 2^(step·e)` with `m = ⌊v / 2^(step·e)⌋ < 2^mbits` and the
/// smallest such `e ≥ 0` (so `m ≥ 2^(mbits-step)` whenever `e > 0`). Returns `(m, e)`.
///
/// RMSNorm uses `step = 2` (so `sqrt` of the power is exact) and softmax `step = 1`.
/// In a circuit: `v = m·2^(step·e) + r`, `0 ≤ r < 2^(step·e)`, `m < 2^mbits`, and
/// `e = 0 or m ≥ 2^(mbits-step)`.
pub fn normalize(v: i128, mbits: u32, step: u32) -> (i64, u32) {
    debug_assert!(v >= 0);
    let mut e = 0;
    while (v >> (step * e)) >= (1i128 << mbits) {
        e += 1;
    }
    ((v >> (step * e)) as i64, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_shift_rounds_half_up() {
        assert_eq!(round_shift(5, 1), 3); // 2.5 -> 3
        assert_eq!(round_shift(-5, 1), -2); // -2.5 -> -2
        assert_eq!(round_shift(4, 1), 2);
        assert_eq!(round_shift(7, 2), 2); // 1.75 -> 2
        assert_eq!(round_shift(6, 2), 2); // 1.5 -> 2
        assert_eq!(round_shift(5, 2), 1); // 1.25 -> 1
        assert_eq!(round_shift(-6, 2), -1); // -1.5 -> -1
        assert_eq!(round_shift(-7, 2), -2); // -1.75 -> -2
        assert_eq!(round_shift(123, 0), 123);
        assert_eq!(round_shift(i64::MAX as i128 * 4, 2), i64::MAX as i128);
    }

    #[test]
    fn round_shift_matches_its_circuit_equation() {
        for x in -300i128..300 {
            for n in 1..6u32 {
                let q = round_shift(x, n);
                let r = x + (1 << (n - 1)) - q * (1 << n);
                assert!((0..(1 << n)).contains(&r), "x={x} n={n} q={q} r={r}");
            }
        }
    }

    #[test]
    fn saturate_clamps_at_both_edges() {
        assert_eq!(saturate(127, 8), 127);
        assert_eq!(saturate(128, 8), 127);
        assert_eq!(saturate(-128, 8), -128);
        assert_eq!(saturate(-129, 8), -128);
        assert_eq!(saturate(i128::MAX, 24), (1 << 23) - 1);
        assert_eq!(saturate(i128::MIN, 24), -(1 << 23));
        assert_eq!(rescale(1 << 40, 1, 16), 32767);
    }

    #[test]
    fn scale_quantizes_and_saturates() {
        let s = Scale::new(8, 16);
        assert_eq!(s.quantize(1.0), 256);
        assert_eq!(s.quantize(-0.5), -128);
        assert_eq!(s.quantize(1e9), 32767);
        assert_eq!(s.quantize(-1e9), -32768);
        assert_eq!(s.quantize(f64::NAN), 0);
        assert!((s.to_f64(384) - 1.5).abs() < 1e-12);
        assert!((s.max_real() - 32767.0 / 256.0).abs() < 1e-12);
    }

    #[test]
    fn normalize_edges() {
        // Below the mantissa range: e = 0, m = v.
        assert_eq!(normalize(1, 16, 2), (1, 0));
        assert_eq!(normalize(65535, 16, 2), (65535, 0));
        // First value that needs a step.
        assert_eq!(normalize(65536, 16, 2), (16384, 1));
        assert_eq!(normalize(65536 * 4 - 1, 16, 2), (65535, 1));
        assert_eq!(normalize(65536 * 4, 16, 2), (16384, 2));
        // Softmax: step 1, v >= 2^16 always gives m in [2^15, 2^16).
        assert_eq!(normalize(65536, 16, 1), (32768, 1));
        assert_eq!(normalize(131071, 16, 1), (65535, 1));
        assert_eq!(normalize(131072, 16, 1), (32768, 2));
        for v in [65536i128, 99_999, 1 << 30, (1 << 40) + 12345] {
            let (m, e) = normalize(v, 16, 1);
            assert!((32768..65536).contains(&m));
            assert_eq!(m as i128, v >> e);
            let (m, e) = normalize(v, 16, 2);
            assert!((16384..65536).contains(&m));
            assert_eq!(m as i128, v >> (2 * e));
        }
    }
}
