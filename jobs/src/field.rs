//! Field elements and hashes as text in the job and result formats.

pub(crate) use zkinfer_prover::bundle::{fr_from_hex, fr_to_hex};

/// 32 bytes from 64 hex digits.
pub(crate) fn digest_from_hex(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use zkinfer_prover::Fr;

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
