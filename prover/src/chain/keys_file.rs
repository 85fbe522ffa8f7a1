//! The verifying keys of a model's chain: what a verifier trusts, written by `setup`.
//!
//! JSON, format `zkinfer-keys-v2`:
//!
//! ```json
//! { "format": "zkinfer-keys-v2", "model_id": "…", "tokens": 4,
//!   "srs_verifier_digest": "<64 hex>",
//!   "chunks": [ { "index": 0, "kind": { "Block": { "layer": 0, "part": "Both", "shape": { … } } },
//!                 "vk_hash": "<64 hex>", "vk": "<hex of the verifying key>" },
//!               { "index": 2, "kind": { "Head": { "lo": 0, "hi": 256, "shape": { … } } }, … } ] }
//! ```
//!
//! `vk` is [`vk_to_bytes`] (run-length encoded, compressed selectors); files of format
//! `zkinfer-keys-v1` (halo2's plain vk encoding) are still read. Reading checks every field,
//! that chunk indices run 0, 1, 2, …, that every vk parses for its shape and hashes to its
//! `vk_hash`.

use std::path::Path;

use halo2_proofs::halo2curves::bn256::G1Affine;
use halo2_proofs::plonk::VerifyingKey;
use serde::{Deserialize, Serialize};
use zkinfer_circuits::block::BlockCircuit;
use zkinfer_circuits::head::HeadCircuit;

use super::plan::ChunkKind;

use super::ChainError;
use crate::keys::{vk_from_bytes, vk_from_halo2_bytes, vk_hash, vk_to_bytes, VkHash};

const FORMAT: &str = "zkinfer-keys-v2";
/// The format before verifying keys were run-length encoded; still read.
const FORMAT_V1: &str = "zkinfer-keys-v1";

/// One chunk's verifying key and what it proves.
#[derive(Clone, Debug)]
pub struct ChunkKey {
    /// What the chunk proves, and its circuit's shape.
    pub kind: ChunkKind,
    /// The verifying key.
    pub vk: VerifyingKey<G1Affine>,
    /// Its hash.
    pub vk_hash: VkHash,
}

/// The keys a verifier trusts for one model and token count.
#[derive(Clone, Debug)]
pub struct ModelKeys {
    /// The quantized model's id.
    pub model_id: String,
    /// Tokens per proof.
    pub tokens: usize,
    /// The verifier digest of the SRS the keys were made with.
    pub srs_verifier_digest: [u8; 32],
    /// The chunks, in chain order.
    pub chunks: Vec<ChunkKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileChunk {
    index: usize,
    kind: ChunkKind,
    vk_hash: VkHash,
    vk: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    model_id: String,
    tokens: usize,
    srs_verifier_digest: String,
    chunks: Vec<FileChunk>,
}

impl ModelKeys {
    /// Encodes the keys as JSON.
    pub fn to_json(&self) -> String {
        let file = File {
            format: FORMAT.into(),
            model_id: self.model_id.clone(),
            tokens: self.tokens,
            srs_verifier_digest: hex::encode(self.srs_verifier_digest),
            chunks: self
                .chunks
                .iter()
                .enumerate()
                .map(|(index, c)| FileChunk {
                    index,
                    kind: c.kind,
                    vk_hash: c.vk_hash,
                    vk: hex::encode(vk_to_bytes(&c.vk)),
                })
                .collect(),
        };
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// Decodes and checks keys written by [`to_json`](Self::to_json), of circuits of any
    /// size a chunk may have.
    pub fn from_json(text: &str) -> Result<Self, ChainError> {
        Self::from_json_bounded(text, crate::srs::MAX_K)
    }

    /// [`from_json`](Self::from_json), refusing any chunk whose circuit has more than
    /// `2^max_k` rows before its key is decoded: reading a verifying key takes memory in
    /// proportion to its rows (halo2 expands compressed selectors into columns of `2^k` field
    /// elements), so a few bytes naming a large shape would otherwise cost gigabytes.
    pub fn from_json_bounded(text: &str, max_k: u32) -> Result<Self, ChainError> {
        let bad = |reason: String| ChainError::BadKeys(reason);
        let file: File = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        // Version 1 held halo2's plain vk encoding (keys made before selector compression).
        let plain = match file.format.as_str() {
            FORMAT => false,
            FORMAT_V1 => true,
            other => return Err(bad(format!("format {other:?}, expected {FORMAT:?}"))),
        };
        let digest: [u8; 32] = hex::decode(&file.srs_verifier_digest)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| bad("srs_verifier_digest is not 32 bytes of hex".into()))?;
        let mut chunks = Vec::with_capacity(file.chunks.len());
        for (i, c) in file.chunks.into_iter().enumerate() {
            if c.index != i {
                return Err(bad(format!("chunk {i} has index {}", c.index)));
            }
            let k = c.kind.k();
            if k > max_k {
                return Err(ChainError::KeyTooLarge { index: i, kind: c.kind.to_string(), k, max_k });
            }
            let bytes = hex::decode(&c.vk).map_err(|e| bad(format!("chunk {i}: vk is not hex: {e}")))?;
            let vk = match (c.kind, plain) {
                (ChunkKind::Block { shape, .. }, false) => vk_from_bytes::<BlockCircuit>(&bytes, shape, k),
                (ChunkKind::Head { shape, .. }, false) => vk_from_bytes::<HeadCircuit>(&bytes, shape, k),
                (ChunkKind::Block { shape, .. }, true) => {
                    vk_from_halo2_bytes::<BlockCircuit>(&bytes, shape, k)
                }
                (ChunkKind::Head { shape, .. }, true) => vk_from_halo2_bytes::<HeadCircuit>(&bytes, shape, k),
            }
            .map_err(|e| bad(format!("chunk {i}: {e}")))?;
            let got = vk_hash(&vk);
            if got != c.vk_hash {
                return Err(bad(format!("chunk {i}: the vk hashes to {got}, the file says {}", c.vk_hash)));
            }
            chunks.push(ChunkKey { kind: c.kind, vk, vk_hash: got });
        }
        Ok(ModelKeys { model_id: file.model_id, tokens: file.tokens, srs_verifier_digest: digest, chunks })
    }

    /// Writes the JSON to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ChainError> {
        std::fs::write(path, self.to_json())
            .map_err(|e| ChainError::Io { path: path.display().to_string(), source: e })
    }

    /// Reads and checks keys from `path`.
    pub fn read(path: &Path) -> Result<Self, ChainError> {
        Self::read_bounded(path, crate::srs::MAX_K)
    }

    /// Reads and checks keys from `path`, of circuits of at most `2^max_k` rows
    /// ([`from_json_bounded`](Self::from_json_bounded)).
    pub fn read_bounded(path: &Path, max_k: u32) -> Result<Self, ChainError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ChainError::Io { path: path.display().to_string(), source: e })?;
        Self::from_json_bounded(&text, max_k)
    }
}
