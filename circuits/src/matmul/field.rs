//! Signed integers as BN254 scalars.

use halo2_proofs::halo2curves::bn256::Fr;

/// The field element of a signed integer (`-v` maps to `p - v`).
pub fn fr_from_i128(v: i128) -> Fr {
    let mag = v.unsigned_abs();
    let two64 = Fr::from(u64::MAX) + Fr::from(1);
    let f = Fr::from((mag >> 64) as u64) * two64 + Fr::from(mag as u64);
    if v < 0 {
        -f
    } else {
        f
    }
}
