//! What a KZG verifier needs from an SRS: `G1`, `G2` and `[τ]G2` — three points, the same
//! for every `k` — instead of the `2^k` powers a prover needs.
//!
//! # Byte format (version 1)
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `ZKIVP\0\0\x01` |
//! | 64 | `G1`, uncompressed (x, y in Montgomery form, little-endian limbs) |
//! | 128 | `G2`, uncompressed |
//! | 128 | `[τ]G2`, uncompressed |
//!
//! Uncompressed, because halo2curves panics while decompressing some invalid G2 encodings;
//! decoding checks each coordinate is a field element and each point lies on the curve.
//! | rest | the [`SrsKind`] as JSON |

use std::fmt;
use std::io;
use std::path::Path;

use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine, G2Affine};
use halo2_proofs::halo2curves::serde::SerdeObject;
use halo2_proofs::poly::commitment::ParamsProver;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::{SerdeCurveAffine, SerdeFormat};
use sha2::{Digest, Sha256};

use crate::cache_dir::write_atomic;
use crate::srs::{Srs, SrsKind};

const MAGIC: &[u8; 8] = b"ZKIVP\0\0\x01";
const POINTS_LEN: usize = 64 + 128 + 128;

/// Errors from decoding verifier params.
#[derive(Debug, thiserror::Error)]
pub enum VerifierParamsError {
    /// Fewer bytes than the fixed part.
    #[error("verifier params are truncated: {len} bytes, need at least {}", MAGIC.len() + POINTS_LEN)]
    Truncated {
        /// The length seen.
        len: usize,
    },
    /// The magic or version is not ours.
    #[error("not zkinfer verifier params (version 1): bad magic")]
    BadMagic,
    /// A point does not decode to a curve point.
    #[error("verifier params hold an invalid {which} point")]
    BadPoint {
        /// Which point.
        which: &'static str,
    },
    /// The file could not be read or written.
    #[error("cannot access verifier params file {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The SRS kind is not valid JSON.
    #[error("verifier params hold an unreadable SRS kind: {0}")]
    BadKind(#[from] serde_json::Error),
}

/// The verifier's part of an SRS, with the SRS's kind.
#[derive(Clone, Debug)]
pub struct VerifierParams {
    g1: G1Affine,
    g2: G2Affine,
    s_g2: G2Affine,
    kind: SrsKind,
    /// A `k = 0` params value; halo2 builds the per-`k` verifier params from one.
    base: ParamsKZG<Bn256>,
}

impl VerifierParams {
    /// Takes the verifier's points from a full SRS.
    pub fn from_srs(srs: &Srs) -> Self {
        let params = srs.params();
        let g1 = params.get_g()[0];
        Self::from_points(g1, params.g2(), params.s_g2(), srs.kind().clone())
    }

    fn from_points(g1: G1Affine, g2: G2Affine, s_g2: G2Affine, kind: SrsKind) -> Self {
        let base = k0_params(g1, g2, s_g2);
        Self { g1, g2, s_g2, kind, base }
    }

    /// Where the SRS came from.
    pub fn kind(&self) -> &SrsKind {
        &self.kind
    }

    /// SHA-256 of the three points (not of the kind): equal for any two SRS with the same
    /// `τ`. Bundles record it so a verifier can tell the prover used its SRS.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(&self.to_bytes()[MAGIC.len()..MAGIC.len() + POINTS_LEN]).into()
    }

    /// Encodes as described in the module docs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAGIC.len() + POINTS_LEN + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.g1.to_raw_bytes());
        out.extend_from_slice(&self.g2.to_raw_bytes());
        out.extend_from_slice(&self.s_g2.to_raw_bytes());
        // Serializing a plain enum of strings cannot fail.
        out.extend_from_slice(serde_json::to_string(&self.kind).unwrap_or_default().as_bytes());
        out
    }

    /// Decodes and checks bytes from [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VerifierParamsError> {
        if bytes.len() < MAGIC.len() + POINTS_LEN {
            return Err(VerifierParamsError::Truncated { len: bytes.len() });
        }
        let (magic, rest) = bytes.split_at(MAGIC.len());
        if magic != MAGIC {
            return Err(VerifierParamsError::BadMagic);
        }
        let (g1, rest) = rest.split_at(64);
        let (g2, rest) = rest.split_at(128);
        let (s_g2, kind) = rest.split_at(128);
        let g1 = decode::<G1Affine>(g1, "G1")?;
        let g2 = decode::<G2Affine>(g2, "G2")?;
        let s_g2 = decode::<G2Affine>(s_g2, "[tau]G2")?;
        let kind = serde_json::from_slice(kind)?;
        Ok(Self::from_points(g1, g2, s_g2, kind))
    }

    /// `G1`, `G2` and `[τ]G2`.
    pub(crate) fn points(&self) -> (G1Affine, G2Affine, G2Affine) {
        (self.g1, self.g2, self.s_g2)
    }

    /// Writes [`Self::to_bytes`] to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<(), VerifierParamsError> {
        use std::io::Write;
        write_atomic(path, |w| w.write_all(&self.to_bytes()))
            .map_err(|source| VerifierParamsError::Io { path: path.to_path_buf(), source })
    }

    /// Reads and checks a file written by [`Self::write`].
    pub fn read(path: &Path) -> Result<Self, VerifierParamsError> {
        let bytes = std::fs::read(path)
            .map_err(|source| VerifierParamsError::Io { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes)
    }

    /// halo2 verifier params for circuits of `2^k` rows. They hold only `G1` in place of
    /// the powers, which is all KZG verification reads; they cannot be used to prove.
    pub(crate) fn for_k(&self, k: u32) -> ParamsKZG<Bn256> {
        self.base.from_parts(k, vec![self.g1], Some(vec![self.g1]), self.g2, self.s_g2)
    }
}

impl fmt::Display for VerifierParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [verifier digest {}]", self.kind, hex::encode(self.digest()))
    }
}

fn decode<P: SerdeObject>(bytes: &[u8], which: &'static str) -> Result<P, VerifierParamsError> {
    P::from_raw_bytes(bytes).ok_or(VerifierParamsError::BadPoint { which })
}

/// Builds `k = 0` params from the three points through halo2's own reader, the only public
/// constructor besides `setup`.
fn k0_params(g1: G1Affine, g2: G2Affine, s_g2: G2Affine) -> ParamsKZG<Bn256> {
    let mut bytes = 0u32.to_le_bytes().to_vec();
    let writes = (|| -> io::Result<()> {
        g1.write(&mut bytes, SerdeFormat::RawBytesUnchecked)?;
        g1.write(&mut bytes, SerdeFormat::RawBytesUnchecked)?;
        g2.write(&mut bytes, SerdeFormat::RawBytesUnchecked)?;
        s_g2.write(&mut bytes, SerdeFormat::RawBytesUnchecked)
    })();
    debug_assert!(writes.is_ok(), "writing to a Vec cannot fail");
    // The bytes were just written from valid points in the layout `read_custom` expects.
    ParamsKZG::read_custom(&mut bytes.as_slice(), SerdeFormat::RawBytesUnchecked)
        .unwrap_or_else(|_| unreachable!("k = 0 params written in memory always read back"))
}
