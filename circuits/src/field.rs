//! Signed integers as BN254 scalar-field elements.
//!
//! The integer model works with `i128` values; a circuit works in `Fr`, the scalar field
//! of BN254 (a prime `p ≈ 2^253.6`). A signed integer `x` is encoded as `x mod p`: a
//! non-negative `x` as itself and a negative one as `p − |x|`. Chips keep every value they
//! constrain far below `p/2` in magnitude (each one states its bound), so the encoding is
//! injective on the values that occur and [`fr_to_i128`] inverts it.

use halo2_proofs::arithmetic::Field;
use halo2_proofs::circuit::{AssignedCell, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::Assigned;

/// An advice cell holding one field element, as halo2-axiom's `Region::assign_advice`
/// returns it.
pub type AssignedFr<'v> = AssignedCell<&'v Assigned<Fr>, Fr>;

/// `x mod p`: `x` for `x ≥ 0`, `p − |x|` for `x < 0`.
pub fn i128_to_fr(x: i128) -> Fr {
    let magnitude = Fr::from_u128(x.unsigned_abs());
    if x < 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// The signed integer `x` with `x mod p = f` and `−2^127 ≤ x < 2^127`, or `None` when `f`
/// encodes no such integer.
pub fn fr_to_i128(f: Fr) -> Option<i128> {
    if let Some(v) = canonical_u128(f) {
        return i128::try_from(v).ok();
    }
    let neg = canonical_u128(-f)?;
    if neg <= 1u128 << 127 {
        Some(0i128.wrapping_sub_unsigned(neg))
    } else {
        None
    }
}

/// The canonical representative of `f` when it is below `2^128`.
fn canonical_u128(f: Fr) -> Option<u128> {
    let repr = f.to_repr();
    let (low, high) = repr.split_at(16);
    if high.iter().any(|&b| b != 0) {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(low);
    Some(u128::from_le_bytes(bytes))
}

/// `2^n` in the field (any `n < 254`).
pub fn pow2(n: u32) -> Fr {
    Fr::from(2u64).pow_vartime([u64::from(n)])
}

/// `⌊f / 2^bits⌋` of the canonical integer of `f` (0 when `bits ≥ 256`).
pub fn shr_bits(f: Fr, bits: u32) -> Fr {
    let repr = f.to_repr();
    let mut words = [0u64; 4];
    for (w, chunk) in words.iter_mut().zip(repr.chunks_exact(8)) {
        *w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
    }
    let (skip, rest) = ((bits / 64) as usize, bits % 64);
    let mut out = [0u64; 4];
    for (i, o) in out.iter_mut().enumerate() {
        let lo = words.get(i + skip).copied().unwrap_or(0);
        let hi = words.get(i + skip + 1).copied().unwrap_or(0);
        *o = if rest == 0 { lo } else { (lo >> rest) | (hi << (64 - rest)) };
    }
    let mut shifted = [0u8; 32];
    for (chunk, w) in shifted.chunks_exact_mut(8).zip(out) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    // A right shift of a canonical value stays below p, so `from_repr` always succeeds.
    Option::from(Fr::from_repr(shifted)).unwrap_or(Fr::ZERO)
}

/// The signed integer in an assigned cell (unknown while no witness is present).
pub fn cell_i128(cell: &AssignedFr<'_>) -> Value<Option<i128>> {
    cell.value().map(|v| fr_to_i128(v.evaluate()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_signed_edges() {
        for x in [0, 1, -1, 255, -256, i64::MAX as i128, i64::MIN as i128, (1 << 100) - 3, -(1 << 100)] {
            assert_eq!(fr_to_i128(i128_to_fr(x)), Some(x), "x = {x}");
        }
        assert_eq!(fr_to_i128(i128_to_fr(i128::MAX)), Some(i128::MAX));
        assert_eq!(fr_to_i128(i128_to_fr(i128::MIN)), Some(i128::MIN));
    }

    #[test]
    fn negative_is_p_minus_magnitude() {
        assert_eq!(i128_to_fr(-5) + Fr::from(5u64), Fr::ZERO);
        assert_eq!(i128_to_fr(-(1 << 90)), -pow2(90));
    }

    #[test]
    fn rejects_values_outside_i128() {
        assert_eq!(fr_to_i128(pow2(127)), None);
        assert_eq!(fr_to_i128(-pow2(127)), Some(i128::MIN));
        assert_eq!(fr_to_i128(-pow2(127) - Fr::ONE), None);
        assert_eq!(fr_to_i128(pow2(200)), None);
    }

    #[test]
    fn shifts_by_whole_bytes() {
        let f = Fr::from(0x1234_5678u64);
        assert_eq!(shr_bits(f, 0), f);
        assert_eq!(shr_bits(f, 8), Fr::from(0x12_3456u64));
        assert_eq!(shr_bits(f, 24), Fr::from(0x12u64));
        assert_eq!(shr_bits(f, 32), Fr::ZERO);
        assert_eq!(shr_bits(f, 13), Fr::from(0x1234_5678u64 >> 13));
        assert_eq!(shr_bits(pow2(200) + Fr::from(7u64), 200), Fr::ONE);
        assert_eq!(shr_bits(pow2(130) * Fr::from(5u64), 129), Fr::from(10u64));
        assert_eq!(shr_bits(pow2(70) + pow2(64), 63), Fr::from(130u64));
        assert_eq!(shr_bits(-Fr::ONE, 320), Fr::ZERO);
    }
}
