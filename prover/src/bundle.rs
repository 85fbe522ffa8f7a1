//! The proof bundle: every chunk proof of one inference in one file.
//!
//! # Format, version 1
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `ZKIBNDL\0` |
//! | 4 | format version, `u32` little-endian (`1`) |
//! | 8 | manifest length `m`, `u64` little-endian |
//! | `m` | the manifest, UTF-8 JSON (below) |
//! | Σ `proof_len` | the proofs, chunk by chunk in manifest order |
//! | 32 | SHA-256 of every byte before it |
//!
//! The manifest:
//!
//! ```json
//! {
//!   "model_id": "…",
//!   "srs": { "kind": "insecure" },
//!   "srs_verifier_digest": "<64 hex>",
//!   "proof_system": "halo2-kzg-bn254-shplonk-poseidon",
//!   "chunks": [
//!     { "index": 0, "k": 10, "vk_hash": "<64 hex>",
//!       "instances": [["0x…", …], …], "proof_len": 1632, "proof_sha256": "<64 hex>" }
//!   ]
//! }
//! ```
//!
//! `srs` is an [`SrsKind`]; `srs_verifier_digest` is [`VerifierParams::digest`] of the SRS
//! the proofs were made with. Instances are field elements as `0x` + 64 lowercase hex
//! digits, big-endian, canonical (below the BN254 scalar modulus). Reading checks the
//! magic, the version, every length, the trailing checksum, the manifest's fields (no
//! unknown ones), that chunk indices run 0, 1, 2, …, every instance and every proof hash.
//! Whether the proofs verify is [`ChunkProof::verify`]'s job.
//!
//! [`VerifierParams::digest`]: crate::VerifierParams::digest

use std::path::{Path, PathBuf};

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache_dir::write_atomic;
use crate::keys::{vk_hash, VkHash};
use crate::prove::Proof;
use crate::srs::SrsKind;
use crate::verifier_params::VerifierParams;
use crate::verify::{verify, VerifyError};

const MAGIC: &[u8; 8] = b"ZKIBNDL\0";
/// The bundle format version this crate writes and reads.
pub const BUNDLE_VERSION: u32 = 1;
/// The proof system every chunk proof uses, as named in the manifest.
pub const PROOF_SYSTEM: &str = "halo2-kzg-bn254-shplonk-poseidon";
const PREFIX_LEN: usize = 8 + 4 + 8;
const CHECKSUM_LEN: usize = 32;

/// Why a bundle was not read, or a chunk not accepted.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file could not be read.
    #[error("cannot read bundle {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write bundle {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes do not start with the bundle magic.
    #[error("not a zkinfer proof bundle (bad magic)")]
    BadMagic,
    /// A format version this crate does not read.
    #[error("bundle format version {0} is not supported (this build reads version {BUNDLE_VERSION})")]
    UnsupportedVersion(u32),
    /// The bytes end before a part the header announces.
    #[error("bundle is truncated: {what} needs {needed} bytes, {available} remain")]
    Truncated {
        /// The part that is cut off.
        what: &'static str,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left.
        available: u64,
    },
    /// The proofs are followed by more bytes than the checksum.
    #[error("bundle has {0} unexpected bytes after its proofs")]
    TrailingBytes(usize),
    /// The trailing SHA-256 does not match: the file was changed or damaged.
    #[error("bundle checksum mismatch: the file is damaged or was altered")]
    Checksum,
    /// The manifest is not the expected JSON.
    #[error("bundle manifest is invalid: {0}")]
    Manifest(String),
    /// A chunk's entry is inconsistent.
    #[error("bundle chunk {chunk}: {reason}")]
    Chunk {
        /// The position of the chunk in the manifest.
        chunk: usize,
        /// What is wrong.
        reason: String,
    },
    /// The verifying key offered for a chunk is not the one the bundle names.
    #[error("chunk {index}: the bundle names vk {expected}, the verifier was given vk {got}")]
    VkMismatch {
        /// The chunk index.
        index: u32,
        /// The bundle's vk hash.
        expected: VkHash,
        /// The hash of the vk given.
        got: VkHash,
    },
    /// The bundle's proofs were made with another SRS than the verifier's.
    #[error("the bundle was proved with SRS {bundle} (verifier digest {bundle_digest}), the verifier uses {verifier}")]
    SrsMismatch {
        /// The bundle's SRS kind.
        bundle: SrsKind,
        /// The bundle's verifier digest, hex.
        bundle_digest: String,
        /// The verifier's params.
        verifier: String,
    },
    /// The bundle holds another number of chunks than the model has.
    #[error("the bundle holds {got} chunk proofs, the model has {expected} chunks")]
    ChunkCount {
        /// The model's chunk count.
        expected: usize,
        /// The bundle's.
        got: usize,
    },
    /// The chunk proof did not verify.
    #[error("chunk {index}: {source}")]
    Verify {
        /// The chunk index.
        index: u32,
        /// Why.
        source: VerifyError,
    },
}

/// One chunk's proof and public inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkProof {
    /// Position in the model's chunk order, from 0.
    pub index: u32,
    /// The chunk circuit's `k` (it has `2^k` rows).
    pub k: u32,
    /// Hash of the chunk's verifying key, as the model manifest lists it.
    pub vk_hash: VkHash,
    /// Public inputs, one vector per instance column.
    pub instances: Vec<Vec<Fr>>,
    /// The proof bytes.
    pub proof: Vec<u8>,
}

impl ChunkProof {
    /// The bundle entry for `proof` of chunk `index`, whose verifying key is `vk`.
    pub fn new(index: u32, vk: &VerifyingKey<G1Affine>, proof: Proof) -> Self {
        Self {
            index,
            k: vk.get_domain().k(),
            vk_hash: vk_hash(vk),
            instances: proof.instances,
            proof: proof.bytes,
        }
    }

    /// Checks that `vk` is the one this chunk names and that the proof verifies with it.
    pub fn verify(&self, params: &VerifierParams, vk: &VerifyingKey<G1Affine>) -> Result<(), BundleError> {
        let got = vk_hash(vk);
        if got != self.vk_hash {
            return Err(BundleError::VkMismatch { index: self.index, expected: self.vk_hash, got });
        }
        verify(params, vk, &self.instances, &self.proof)
            .map_err(|source| BundleError::Verify { index: self.index, source })
    }
}

/// The proofs of one inference of one model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The model manifest's id.
    pub model_id: String,
    /// The SRS the proofs were made with.
    pub srs: SrsKind,
    /// [`VerifierParams::digest`] of that SRS.
    pub srs_verifier_digest: [u8; 32],
    /// The chunk proofs, index 0 first.
    pub chunks: Vec<ChunkProof>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    model_id: String,
    srs: SrsKind,
    srs_verifier_digest: String,
    proof_system: String,
    chunks: Vec<ChunkEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChunkEntry {
    index: u32,
    k: u32,
    vk_hash: VkHash,
    instances: Vec<Vec<String>>,
    proof_len: u64,
    proof_sha256: String,
}

impl Bundle {
    /// A bundle of `chunks` of model `model_id`, proved with the SRS `params` come from.
    pub fn new(model_id: impl Into<String>, params: &VerifierParams, chunks: Vec<ChunkProof>) -> Self {
        Self {
            model_id: model_id.into(),
            srs: params.kind().clone(),
            srs_verifier_digest: params.digest(),
            chunks,
        }
    }

    /// Checks that the bundle was proved with the SRS `params` come from. The bundle's
    /// [`SrsKind`] is the prover's claim; the digest comparison is what binds it.
    pub fn check_srs(&self, params: &VerifierParams) -> Result<(), BundleError> {
        if self.srs_verifier_digest == params.digest() {
            Ok(())
        } else {
            Err(BundleError::SrsMismatch {
                bundle: self.srs.clone(),
                bundle_digest: hex::encode(self.srs_verifier_digest),
                verifier: params.to_string(),
            })
        }
    }

    /// Checks the SRS, that there is one proof per verifying key in `vks` (the model's
    /// chunk order), and every chunk proof against its key. Linking the chunks' public
    /// inputs to each other is the caller's job: this crate does not know their layout.
    pub fn verify(&self, params: &VerifierParams, vks: &[VerifyingKey<G1Affine>]) -> Result<(), BundleError> {
        self.check_srs(params)?;
        if self.chunks.len() != vks.len() {
            return Err(BundleError::ChunkCount { expected: vks.len(), got: self.chunks.len() });
        }
        self.chunks.iter().zip(vks).try_for_each(|(chunk, vk)| chunk.verify(params, vk))
    }

    /// Encodes the bundle (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let manifest = Manifest {
            model_id: self.model_id.clone(),
            srs: self.srs.clone(),
            srs_verifier_digest: hex::encode(self.srs_verifier_digest),
            proof_system: PROOF_SYSTEM.to_string(),
            chunks: self
                .chunks
                .iter()
                .map(|c| ChunkEntry {
                    index: c.index,
                    k: c.k,
                    vk_hash: c.vk_hash,
                    instances: c.instances.iter().map(|col| col.iter().map(fr_to_hex).collect()).collect(),
                    proof_len: c.proof.len() as u64,
                    proof_sha256: hex::encode(Sha256::digest(&c.proof)),
                })
                .collect(),
        };
        // Serializing strings, numbers and vectors to JSON cannot fail.
        let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        let mut out = Vec::with_capacity(
            PREFIX_LEN + json.len() + self.chunks.iter().map(|c| c.proof.len()).sum::<usize>() + CHECKSUM_LEN,
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&BUNDLE_VERSION.to_le_bytes());
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        for chunk in &self.chunks {
            out.extend_from_slice(&chunk.proof);
        }
        let checksum = Sha256::digest(&out);
        out.extend_from_slice(&checksum);
        out
    }

    /// Decodes and checks a bundle (see the module docs for what is checked).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        let mut rest = Reader { bytes };
        if rest.take(8, "the magic").map_err(|_| BundleError::BadMagic)? != MAGIC {
            return Err(BundleError::BadMagic);
        }
        let version = u32::from_le_bytes(rest.array("the version")?);
        if version != BUNDLE_VERSION {
            return Err(BundleError::UnsupportedVersion(version));
        }
        if bytes.len() < PREFIX_LEN + CHECKSUM_LEN {
            return Err(BundleError::Truncated {
                what: "the header and checksum",
                needed: (PREFIX_LEN + CHECKSUM_LEN) as u64,
                available: bytes.len() as u64,
            });
        }
        let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        let manifest_len = u64::from_le_bytes(rest.array("the manifest length")?);
        let mut rest = Reader { bytes: &body[PREFIX_LEN..] };
        let json = rest.take(manifest_len, "the manifest")?;
        let manifest: Manifest =
            serde_json::from_slice(json).map_err(|e| BundleError::Manifest(e.to_string()))?;
        let declared: u64 = manifest.chunks.iter().map(|c| c.proof_len).fold(0, u64::saturating_add);
        if declared > rest.bytes.len() as u64 {
            return Err(BundleError::Truncated {
                what: "the proofs",
                needed: declared,
                available: rest.bytes.len() as u64,
            });
        }
        if declared < rest.bytes.len() as u64 {
            return Err(BundleError::TrailingBytes(rest.bytes.len() - declared as usize));
        }
        if Sha256::digest(body).as_slice() != checksum {
            return Err(BundleError::Checksum);
        }
        if manifest.proof_system != PROOF_SYSTEM {
            return Err(BundleError::Manifest(format!(
                "proof system {:?} is not {PROOF_SYSTEM:?}",
                manifest.proof_system
            )));
        }
        let mut srs_verifier_digest = [0u8; 32];
        hex::decode_to_slice(&manifest.srs_verifier_digest, &mut srs_verifier_digest)
            .map_err(|_| BundleError::Manifest("srs_verifier_digest is not 64 hex digits".into()))?;
        let chunks = manifest
            .chunks
            .into_iter()
            .enumerate()
            .map(|(position, entry)| read_chunk(position, entry, &mut rest))
            .collect::<Result<_, _>>()?;
        Ok(Self { model_id: manifest.model_id, srs: manifest.srs, srs_verifier_digest, chunks })
    }

    /// Writes the bundle atomically.
    pub fn write(&self, path: &Path) -> Result<(), BundleError> {
        use std::io::Write;
        let bytes = self.to_bytes();
        write_atomic(path, |w| w.write_all(&bytes))
            .map_err(|source| BundleError::Write { path: path.to_path_buf(), source })
    }

    /// Reads and checks a bundle file.
    pub fn read(path: &Path) -> Result<Self, BundleError> {
        let bytes =
            std::fs::read(path).map_err(|source| BundleError::Read { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes)
    }
}

fn read_chunk(
    position: usize,
    entry: ChunkEntry,
    proofs: &mut Reader<'_>,
) -> Result<ChunkProof, BundleError> {
    let bad = |reason: String| BundleError::Chunk { chunk: position, reason };
    if entry.index as usize != position {
        return Err(bad(format!("has index {}, expected {position}", entry.index)));
    }
    if !(1..=crate::srs::MAX_K).contains(&entry.k) {
        return Err(bad(format!("k = {} is out of range", entry.k)));
    }
    let instances = entry
        .instances
        .iter()
        .enumerate()
        .map(|(column, values)| {
            values
                .iter()
                .enumerate()
                .map(|(row, value)| {
                    fr_from_hex(value).ok_or_else(|| {
                        bad(format!("instance column {column} row {row}: {value:?} is not a field element"))
                    })
                })
                .collect()
        })
        .collect::<Result<_, _>>()?;
    // The total length was checked against the file, so each take succeeds.
    let proof = proofs.take(entry.proof_len, "a proof")?.to_vec();
    if hex::encode(Sha256::digest(&proof)) != entry.proof_sha256 {
        return Err(bad("proof bytes do not match proof_sha256".into()));
    }
    Ok(ChunkProof { index: entry.index, k: entry.k, vk_hash: entry.vk_hash, instances, proof })
}

/// `0x` + 64 lowercase hex digits, big-endian (the manifest's format for instances).
pub fn fr_to_hex(value: &Fr) -> String {
    let mut be = value.to_repr();
    be.as_mut().reverse();
    format!("0x{}", hex::encode(be.as_ref()))
}

/// Parses [`fr_to_hex`]'s format; `None` unless canonical (below the modulus, lowercase).
pub fn fr_from_hex(text: &str) -> Option<Fr> {
    let digits = text.strip_prefix("0x")?;
    if digits.len() != 64 || digits.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut repr = <Fr as PrimeField>::Repr::default();
    hex::decode_to_slice(digits, repr.as_mut()).ok()?;
    repr.as_mut().reverse();
    Option::from(Fr::from_repr(repr))
}

/// A cursor that reports truncation instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: u64, what: &'static str) -> Result<&'a [u8], BundleError> {
        let available = self.bytes.len() as u64;
        if len > available {
            return Err(BundleError::Truncated { what, needed: len, available });
        }
        let (head, tail) = self.bytes.split_at(len as usize);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], BundleError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64, what)?);
        Ok(out)
    }
}
