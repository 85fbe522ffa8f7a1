//! The lookup tables that stand in for every nonlinearity of the integer model.
//!
//! | table | index domain | index means | output means | outside the domain |
//! |---|---|---|---|---|
//! | `rsqrt` | `m ∈ [0, 2^16)` | RMSNorm mantissa of the mean square | `round(2^23 / √max(m,1))` | never: [`normalize`](super::normalize) keeps `m` in range |
//! | `exp` | `z ∈ [0, 2^16)` | `max − score`, 12 fractional bits (0 … 16) | `round(2^16 · e^(−z/2^12))` | `z` saturates to `2^16 − 1` (output 0) |
//! | `recip` | `m ∈ [2^15, 2^16)` | softmax-sum mantissa | `round(2^31 / m)` | never: the sum is ≥ 2^16 |
//! | `silu` | `x ∈ [−2^15, 2^15)` | gate, 11 fractional bits (−16 … 16) | `round(2^11 · silu(x/2^11))` | `x ≥ 2^15` → `x`; `x < −2^15` → 0 (error < 2^-20) |
//!
//! Each table has at most 2^16 rows. Outputs are computed once, in f64, when a model is
//! quantized, and stored in the quantized file (so every machine uses the same integers
//! whatever its libm does); the model id hashes them.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Fractional bits of the RMSNorm reciprocal square root's output.
pub const RSQRT_OUT_FRAC: u32 = 23;
/// Mantissa width of the RMSNorm mean square (the rsqrt table's index width).
pub const RSQRT_MANT_BITS: u32 = 16;
/// Fractional bits of attention scores and of the exp table's input.
pub const EXP_IN_FRAC: u32 = 12;
/// Width of the exp table's input (`z ∈ [0, 2^EXP_IN_BITS)`).
pub const EXP_IN_BITS: u32 = 16;
/// Fractional bits of the exp table's output (`exp(0) = 2^16`).
pub const EXP_OUT_FRAC: u32 = 16;
/// Mantissa width of the softmax denominator (the reciprocal table's index width).
pub const RECIP_MANT_BITS: u32 = 16;
/// Fractional bits of the reciprocal table's output.
pub const RECIP_OUT_FRAC: u32 = 31;
/// Fractional bits of attention probabilities.
pub const PROB_FRAC: u32 = 16;
/// Fractional bits of the SiLU table's input and output (the gate projection's scale).
pub const SILU_FRAC: u32 = 11;
/// Width of the SiLU table's input (`x ∈ [−2^15, 2^15)`).
pub const SILU_IN_BITS: u32 = 16;
/// Fractional bits of the RoPE cos/sin constants.
pub const ROPE_FRAC: u32 = 14;

/// One lookup table: `values[i]` is the output for input `start + i`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupTable {
    /// The table's name (`rsqrt`, `exp`, `recip`, `silu`).
    pub name: String,
    /// Smallest input.
    pub start: i64,
    /// Outputs for inputs `start, start + 1, …`.
    pub values: Vec<i64>,
}

impl LookupTable {
    fn build(name: &str, start: i64, len: usize, f: impl Fn(i64) -> f64) -> Self {
        let values = (0..len as i64).map(|i| f(start + i).round() as i64).collect();
        LookupTable { name: name.to_string(), start, values }
    }

    /// The output for `x`, or `None` outside the domain.
    #[inline]
    pub fn get(&self, x: i64) -> Option<i64> {
        let i = x.checked_sub(self.start)?;
        usize::try_from(i).ok().and_then(|i| self.values.get(i)).copied()
    }

    /// Largest input.
    pub fn end(&self) -> i64 {
        self.start + self.values.len() as i64 - 1
    }

    /// SHA-256 of the domain start and every output as little-endian i64.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.name.as_bytes());
        h.update(self.start.to_le_bytes());
        for v in &self.values {
            h.update(v.to_le_bytes());
        }
        h.finalize().into()
    }
}

/// The four tables of the integer model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tables {
    /// RMSNorm `1/√m`.
    pub rsqrt: LookupTable,
    /// Softmax `e^(−z)`.
    pub exp: LookupTable,
    /// Softmax `1/m`.
    pub recip: LookupTable,
    /// SwiGLU `silu(x)`.
    pub silu: LookupTable,
}

impl Tables {
    /// Computes the tables (f64, rounded half away from zero).
    pub fn generate() -> Self {
        let rsqrt = LookupTable::build("rsqrt", 0, 1 << RSQRT_MANT_BITS, |m| {
            (RSQRT_OUT_FRAC as f64).exp2() / (m.max(1) as f64).sqrt()
        });
        let exp = LookupTable::build("exp", 0, 1 << EXP_IN_BITS, |z| {
            (EXP_OUT_FRAC as f64).exp2() * (-(z as f64) / (EXP_IN_FRAC as f64).exp2()).exp()
        });
        let recip =
            LookupTable::build("recip", 1 << (RECIP_MANT_BITS - 1), 1 << (RECIP_MANT_BITS - 1), |m| {
                (RECIP_OUT_FRAC as f64).exp2() / m as f64
            });
        let one = (SILU_FRAC as f64).exp2();
        let silu = LookupTable::build("silu", -(1 << (SILU_IN_BITS - 1)), 1 << SILU_IN_BITS, |x| {
            let r = x as f64 / one;
            one * r / (1.0 + (-r).exp())
        });
        Tables { rsqrt, exp, recip, silu }
    }

    /// The tables in a fixed order.
    pub fn all(&self) -> [&LookupTable; 4] {
        [&self.rsqrt, &self.exp, &self.recip, &self.silu]
    }

    /// `silu` of a gate value with 11 fractional bits, including the identity / zero
    /// branches outside the table's domain.
    #[inline]
    pub fn silu(&self, x: i64) -> i64 {
        match self.silu.get(x) {
            Some(v) => v,
            None if x >= 0 => x,
            None => 0,
        }
    }

    /// `exp(−z)` for `z ≥ 0` with 12 fractional bits; `z` saturates to the domain's end.
    #[inline]
    pub fn exp_neg(&self, z: i64) -> i64 {
        let z = z.clamp(0, self.exp.end());
        self.exp.values[z as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_domains() {
        let t = Tables::generate();
        for tab in t.all() {
            assert!(tab.values.len() <= 1 << 16, "{} too large", tab.name);
        }
        assert_eq!((t.rsqrt.start, t.rsqrt.end()), (0, 65535));
        assert_eq!((t.exp.start, t.exp.end()), (0, 65535));
        assert_eq!((t.recip.start, t.recip.end()), (32768, 65535));
        assert_eq!((t.silu.start, t.silu.end()), (-32768, 32767));
    }

    #[test]
    fn rsqrt_edges() {
        let t = Tables::generate();
        assert_eq!(t.rsqrt.get(0), Some(1 << 23)); // m = 0 reads as m = 1
        assert_eq!(t.rsqrt.get(1), Some(1 << 23));
        assert_eq!(t.rsqrt.get(4), Some(1 << 22));
        assert_eq!(t.rsqrt.get(16384), Some(65536)); // 2^23 / 2^7
        assert_eq!(t.rsqrt.get(65535), Some((8388608.0f64 / 65535f64.sqrt()).round() as i64));
        assert_eq!(t.rsqrt.get(65536), None);
        assert_eq!(t.rsqrt.get(-1), None);
    }

    #[test]
    fn exp_edges() {
        let t = Tables::generate();
        assert_eq!(t.exp_neg(0), 65536);
        assert_eq!(t.exp_neg(4096), (65536.0 * (-1f64).exp()).round() as i64); // e^-1
        assert_eq!(t.exp_neg(65535), 0);
        assert_eq!(t.exp_neg(1 << 40), 0); // saturates
        assert_eq!(t.exp_neg(-5), 65536); // never happens (z ≥ 0), still clamps
                                          // The first z whose output rounds to 0 lies inside the domain.
        let first_zero = t.exp.values.iter().position(|&v| v == 0).expect("reaches 0");
        assert!(first_zero < 65535 && (first_zero as f64 / 4096.0) > 11.0);
        // Monotone non-increasing.
        assert!(t.exp.values.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn recip_edges() {
        let t = Tables::generate();
        assert_eq!(t.recip.get(32768), Some(65536));
        assert_eq!(t.recip.get(65535), Some(32769)); // 2^31/65535 = 32768.5 -> 32769
        assert_eq!(t.recip.get(32767), None);
        assert_eq!(t.recip.get(65536), None);
    }

    #[test]
    fn silu_edges() {
        let t = Tables::generate();
        assert_eq!(t.silu(0), 0);
        assert_eq!(t.silu(2048), (2048.0 / (1.0 + (-1f64).exp())).round() as i64); // silu(1)
        assert_eq!(t.silu(32767), 32767); // silu(16) rounds to 16 at 2^-11
        assert_eq!(t.silu(32768), 32768); // identity above the table
        assert_eq!(t.silu(1 << 30), 1 << 30);
        assert_eq!(t.silu(-32768), 0); // silu(-16) ≈ -1.8e-6 rounds to 0
        assert_eq!(t.silu(-32769), 0); // zero below the table
        let min = t.silu.values.iter().min().copied().unwrap_or(0);
        assert_eq!(min, (-0.278464542761074 * 2048.0f64).round() as i64);
    }

    #[test]
    fn hashes_differ_and_are_stable() {
        let a = Tables::generate();
        let b = Tables::generate();
        assert_eq!(a.rsqrt.hash(), b.rsqrt.hash());
        assert_ne!(a.rsqrt.hash(), a.exp.hash());
    }
}
