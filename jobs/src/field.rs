//! Field elements and hashes as text in the job and result formats.

use zkinfer_prover::halo2_proofs::halo2curves::ff::PrimeField;
use zkinfer_prover::Fr;

/// `0x` + 64 lowercase hex digits, big-endian (the bundle manifest's format).
pub(crate) fn fr_to_hex(value: &Fr) -> String {
    let mut be = value.to_repr();
    be.as_mut().reverse();
    format!("0x{}", hex::encode(be.as_ref()))
}

/// Parses [`fr_to_hex`]'s format; `None` unless canonical (below the modulus, lowercase).
pub(crate) fn fr_from_hex(text: &str) -> Option<Fr> {
    let digits = text.strip_prefix("0x")?;
    if digits.len() != 64 || digits.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut repr = <Fr as PrimeField>::Repr::default();
    hex::decode_to_slice(digits, repr.as_mut()).ok()?;
    repr.as_mut().reverse();
    Option::from(Fr::from_repr(repr))
}

/// 32 bytes from 64 hex digits.
pub(crate) fn digest_from_hex(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn field_hex_round_trips_and_rejects_non_canonical_text() {
        let x = Fr::from(0xabcd_ef01_u64);
        assert_eq!(fr_from_hex(&fr_to_hex(&x)), Some(x));
        assert_eq!(fr_from_hex(&fr_to_hex(&x).to_uppercase().replacen("0X", "0x", 1)), None);
        assert_eq!(fr_from_hex(&format!("0x{}", "f".repeat(64))), None, "above the modulus");
        assert_eq!(fr_from_hex("0x12"), None);
        assert_eq!(fr_from_hex("12"), None);
        assert_eq!(digest_from_hex(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(digest_from_hex("ab"), None);
    }
}
