//! The chunk result: a worker's proof of one chunk, as versioned JSON.
//!
//! ```json
//! { "format": "zkinfer-chunk-result", "version": 1, "job": "<job id, 64 hex>", "index": 2,
//!   "vk_hash": "<64 hex>", "instances": [["0x…", …]], "proof": "<hex>" }
//! ```
//!
//! Instances are field elements as in the bundle manifest (`0x` + 64 lowercase hex digits,
//! big-endian, canonical). Unknown fields are refused. Whether the proof is valid, and of
//! the right chunk, is [`crate::ChunkChecker`]'s job.

use serde::{Deserialize, Serialize};
use zkinfer_network::JobId;
use zkinfer_prover::{ChunkProof, Fr, VkHash};

use crate::error::JobsError;
use crate::field::{fr_from_hex, fr_to_hex};
use crate::payload::check_header;

/// The `format` of a chunk result.
pub const RESULT_FORMAT: &str = "zkinfer-chunk-result";
/// The chunk result version this build writes and reads.
pub const RESULT_VERSION: u32 = 1;

const WHAT: &str = "chunk result";

/// One chunk's proof with its public instances, answering one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkResult {
    /// The job it answers.
    pub job: JobId,
    /// The chunk's position in the chain.
    pub index: usize,
    /// Hash of the verifying key the proof is for.
    pub vk_hash: VkHash,
    /// Public instances, one vector per instance column.
    pub instances: Vec<Vec<Fr>>,
    /// The proof bytes.
    pub proof: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    version: u32,
    job: JobId,
    index: usize,
    vk_hash: VkHash,
    instances: Vec<Vec<String>>,
    proof: String,
}

impl ChunkResult {
    /// The result of `job` made from a chunk proof.
    pub fn new(job: JobId, proof: ChunkProof) -> Self {
        Self {
            job,
            index: proof.index as usize,
            vk_hash: proof.vk_hash,
            instances: proof.instances,
            proof: proof.proof,
        }
    }

    /// The JSON encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let file = File {
            format: RESULT_FORMAT.into(),
            version: RESULT_VERSION,
            job: self.job,
            index: self.index,
            vk_hash: self.vk_hash,
            instances: self.instances.iter().map(|c| c.iter().map(fr_to_hex).collect()).collect(),
            proof: hex::encode(&self.proof),
        };
        // Plain data with string keys: serialization cannot fail.
        serde_json::to_vec(&file).unwrap_or_default()
    }

    /// Decodes and checks [`ChunkResult::to_bytes`]' encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, JobsError> {
        check_header(bytes, WHAT, RESULT_FORMAT, RESULT_VERSION)?;
        let bad = |reason: String| JobsError::Malformed { what: WHAT, reason };
        let file: File = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let instances = file
            .instances
            .iter()
            .map(|column| {
                column
                    .iter()
                    .map(|v| {
                        fr_from_hex(v).ok_or_else(|| bad(format!("instance {v:?} is not a field element")))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let proof = hex::decode(&file.proof).map_err(|e| bad(format!("proof is not hex: {e}")))?;
        Ok(Self { job: file.job, index: file.index, vk_hash: file.vk_hash, instances, proof })
    }

    /// The bundle entry of this result, for a chunk whose circuit has `2^k` rows.
    pub fn to_chunk_proof(&self, k: u32) -> ChunkProof {
        ChunkProof {
            index: self.index as u32,
            k,
            vk_hash: self.vk_hash,
            instances: self.instances.clone(),
            proof: self.proof.clone(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use zkinfer_network::ContentHash;

    fn sample() -> ChunkResult {
        ChunkResult {
            job: ContentHash::of(b"job"),
            index: 1,
            vk_hash: VkHash([7; 32]),
            instances: vec![vec![Fr::from(3), -Fr::from(5)]],
            proof: vec![1, 2, 3, 250],
        }
    }

    #[test]
    fn round_trips() {
        let r = sample();
        assert_eq!(ChunkResult::from_bytes(&r.to_bytes()).unwrap(), r);
    }

    #[test]
    fn malformed_results_are_clear_errors() {
        let text = String::from_utf8(sample().to_bytes()).unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"\x00\xffgarbage".to_vec(), "chunk result is malformed"),
            (Vec::new(), "chunk result is malformed"),
            (text.replace("\"version\":1", "\"version\":2").into_bytes(), "format version 2"),
            (
                text.replace("zkinfer-chunk-result", "zkinfer-chunk-job").into_bytes(),
                "format \"zkinfer-chunk-job\"",
            ),
            (text.replace("\"proof\":\"010203fa\"", "\"proof\":\"0g\"").into_bytes(), "proof is not hex"),
            (text.replace("0x0000", "0xffff").into_bytes(), "is not a field element"),
            (text.replace("\"index\":1", "\"index\":1,\"extra\":0").into_bytes(), "unknown field"),
            (text.as_bytes()[..text.len() / 2].to_vec(), "chunk result is malformed"),
        ];
        for (bytes, expected) in cases {
            let err = ChunkResult::from_bytes(&bytes).unwrap_err().to_string();
            assert!(err.contains(expected), "{err:?} does not contain {expected:?}");
        }
    }
}
