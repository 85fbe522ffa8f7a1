//! The chunk job: what a worker needs to prove one chunk, as versioned JSON.
//!
//! ```json
//! { "format": "zkinfer-chunk-job", "version": 1,
//!   "model_id": "…", "model_hash": "<sha256 of the .zkq file, 64 hex>", "model_len": 123456,
//!   "tokens": 4, "index": 2,
//!   "kind": { "Head": { "lo": 0, "hi": 256, "shape": { … } } }, "vk_hash": "<64 hex>",
//!   "srs_verifier_digest": "<64 hex>",
//!   "input": { "Head": { "input": [ … ], "prior": null, "best": { "index": 17, "logit": "-5" } } } }
//! ```
//!
//! `input` is the chunk's [`ChunkInput`]: `{"Block": {"input": […], "output": […]}}` for a
//! block chunk (residual streams, `tokens × hidden` integers each). Logits are decimal
//! strings (they are `i128`). Unknown fields are refused.

use serde::{Deserialize, Serialize};
use zkinfer_circuits::argmax::Prior;
use zkinfer_circuits::block::MIN_K;
use zkinfer_network::{ContentHash, Job};
use zkinfer_prover::chain::{ChunkInput, ChunkKind};
use zkinfer_prover::VkHash;

use crate::error::JobsError;
use crate::field::digest_from_hex;

/// The `format` of a chunk job.
pub const JOB_FORMAT: &str = "zkinfer-chunk-job";
/// The chunk job version this build writes and reads.
pub const JOB_VERSION: u32 = 1;

const WHAT: &str = "chunk job";

/// One chunk to prove, with everything but the model (named by hash) and the SRS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkJob {
    /// The quantized model's id.
    pub model_id: String,
    /// SHA-256 of the model's `.zkq` file; workers fetch it by this hash.
    pub model_hash: ContentHash,
    /// Its length in bytes.
    pub model_len: u64,
    /// Tokens of the prompt.
    pub tokens: usize,
    /// The chunk's position in the chain.
    pub index: usize,
    /// What it proves, and its circuit's shape.
    pub kind: ChunkKind,
    /// The keys file's verifying-key hash for this chunk.
    pub vk_hash: VkHash,
    /// The verifier digest of the SRS the keys were made with.
    pub srs_verifier_digest: [u8; 32],
    /// What the chunk is proved on.
    pub input: ChunkInput,
}

#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    version: u32,
    model_id: String,
    model_hash: ContentHash,
    model_len: u64,
    tokens: usize,
    index: usize,
    kind: ChunkKind,
    vk_hash: VkHash,
    srs_verifier_digest: String,
    input: WireInput,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
enum WireInput {
    Block { input: Vec<i64>, output: Vec<i64> },
    Head { input: Vec<i64>, prior: Option<WirePrior>, best: WirePrior },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WirePrior {
    index: u64,
    logit: String,
}

impl From<Prior> for WirePrior {
    fn from(p: Prior) -> Self {
        Self { index: p.index, logit: p.logit.to_string() }
    }
}

impl TryFrom<WirePrior> for Prior {
    type Error = String;

    fn try_from(p: WirePrior) -> Result<Self, String> {
        let logit = p.logit.parse().map_err(|_| format!("logit {:?} is not an integer", p.logit))?;
        Ok(Prior { index: p.index, logit })
    }
}

/// Reads `format` and `version` first, so a newer format gets a clear error.
pub(crate) fn check_header(
    bytes: &[u8],
    what: &'static str,
    format: &str,
    version: u32,
) -> Result<(), JobsError> {
    let header: Header =
        serde_json::from_slice(bytes).map_err(|e| JobsError::Malformed { what, reason: e.to_string() })?;
    if header.format != format {
        return Err(JobsError::Malformed {
            what,
            reason: format!("format {:?}, expected {format:?}", header.format),
        });
    }
    if header.version != version {
        return Err(JobsError::Version { what, got: header.version, expected: version });
    }
    Ok(())
}

/// The job's sizes agree before anything is allocated by them: a positive token count equal
/// to the shape's, a `k` no smaller than any chunk circuit's, and activations of whole token
/// rows (a block's output as long as its input).
fn check_sizes(file: &File) -> Result<(), String> {
    let t = match &file.kind {
        ChunkKind::Block { shape, .. } => shape.t,
        ChunkKind::Head { shape, .. } => shape.t,
    };
    if file.tokens == 0 || t != file.tokens {
        return Err(format!("{} tokens, but the chunk's shape is for {t}", file.tokens));
    }
    let k = file.kind.k();
    if k < MIN_K {
        return Err(format!("k = {k} is below the smallest chunk circuit's {MIN_K}"));
    }
    let (input, output) = match &file.input {
        WireInput::Block { input, output } => (input.len(), Some(output.len())),
        WireInput::Head { input, .. } => (input.len(), None),
    };
    if input == 0 || input % file.tokens != 0 {
        return Err(format!("an input of {input} values is not rows of {} tokens", file.tokens));
    }
    if let Some(output) = output.filter(|&o| o != input) {
        return Err(format!("a block input of {input} values but an output of {output}"));
    }
    Ok(())
}

impl ChunkJob {
    /// The JSON encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let input = match &self.input {
            ChunkInput::Block { input, output } => {
                WireInput::Block { input: input.clone(), output: output.clone() }
            }
            ChunkInput::Head { input, prior, best } => WireInput::Head {
                input: input.clone(),
                prior: prior.map(WirePrior::from),
                best: (*best).into(),
            },
        };
        let file = File {
            format: JOB_FORMAT.into(),
            version: JOB_VERSION,
            model_id: self.model_id.clone(),
            model_hash: self.model_hash,
            model_len: self.model_len,
            tokens: self.tokens,
            index: self.index,
            kind: self.kind,
            vk_hash: self.vk_hash,
            srs_verifier_digest: hex::encode(self.srs_verifier_digest),
            input,
        };
        // Plain data with string keys: serialization cannot fail.
        serde_json::to_vec(&file).unwrap_or_default()
    }

    /// Decodes and checks [`ChunkJob::to_bytes`]' encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, JobsError> {
        check_header(bytes, WHAT, JOB_FORMAT, JOB_VERSION)?;
        let bad = |reason: String| JobsError::Malformed { what: WHAT, reason };
        let file: File = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let srs_verifier_digest = digest_from_hex(&file.srs_verifier_digest)
            .ok_or_else(|| bad("srs_verifier_digest is not 64 hex digits".into()))?;
        check_sizes(&file).map_err(bad)?;
        let input = match (file.input, &file.kind) {
            (WireInput::Block { input, output }, ChunkKind::Block { .. }) => {
                ChunkInput::Block { input, output }
            }
            (WireInput::Head { input, prior, best }, ChunkKind::Head { .. }) => ChunkInput::Head {
                input,
                prior: prior.map(Prior::try_from).transpose().map_err(bad)?,
                best: best.try_into().map_err(bad)?,
            },
            (_, kind) => return Err(bad(format!("a {kind} chunk with another kind's input"))),
        };
        Ok(Self {
            model_id: file.model_id,
            model_hash: file.model_hash,
            model_len: file.model_len,
            tokens: file.tokens,
            index: file.index,
            kind: file.kind,
            vk_hash: file.vk_hash,
            srs_verifier_digest,
            input,
        })
    }

    /// The network job carrying this chunk job.
    pub fn to_job(&self) -> Job {
        Job::new(self.index as u32, self.kind.k(), self.to_bytes())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use zkinfer_prover::chain::{BlockShape, HeadShape, Part};

    use super::*;

    fn block() -> ChunkJob {
        ChunkJob {
            model_id: "m".repeat(64),
            model_hash: ContentHash::of(b"model file"),
            model_len: 10,
            tokens: 2,
            index: 0,
            kind: ChunkKind::Block {
                layer: 0,
                part: Part::Both,
                shape: BlockShape { k: 17, t: 2, ..Default::default() },
            },
            vk_hash: VkHash([3; 32]),
            srs_verifier_digest: [9; 32],
            input: ChunkInput::Block { input: vec![1, -2, 3, i64::MIN], output: vec![4, 5, -6, i64::MAX] },
        }
    }

    fn head() -> ChunkJob {
        let big = i128::MAX - 7;
        ChunkJob {
            index: 2,
            kind: ChunkKind::Head {
                lo: 128,
                hi: 256,
                shape: HeadShape { k: 17, t: 2, ..Default::default() },
            },
            input: ChunkInput::Head {
                input: vec![7, 8, 9, 10],
                prior: Some(Prior { index: 17, logit: -big }),
                best: Prior { index: 200, logit: big },
            },
            ..block()
        }
    }

    #[test]
    fn block_and_head_jobs_round_trip() {
        for job in [block(), head()] {
            assert_eq!(ChunkJob::from_bytes(&job.to_bytes()).unwrap(), job);
            let network_job = job.to_job();
            assert_eq!((network_job.chunk_index, network_job.k), (job.index as u32, 17));
            assert_eq!(ChunkJob::from_bytes(&network_job.payload).unwrap(), job);
        }
    }

    #[test]
    fn malformed_jobs_are_clear_errors() {
        let text = String::from_utf8(head().to_bytes()).unwrap();
        let block_text = String::from_utf8(block().to_bytes()).unwrap();
        let block_input = block_text.clone();
        let block_input = &block_input[block_input.find("\"input\":").unwrap()..];
        let head_as_block = format!("{}{block_input}", &text[..text.find("\"input\":").unwrap()]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"\xff\xfe".to_vec(), "chunk job is malformed"),
            (b"[1, 2]".to_vec(), "chunk job is malformed"),
            (
                text.replace("\"version\":1", "\"version\":2").into_bytes(),
                "format version 2; this build reads version 1",
            ),
            (
                text.replace("zkinfer-chunk-job", "zkinfer-chunk-result").into_bytes(),
                "expected \"zkinfer-chunk-job\"",
            ),
            (text.replace("\"logit\":\"-", "\"logit\":\"x").into_bytes(), "is not an integer"),
            (text.replace(&"09".repeat(32), "09").into_bytes(), "srs_verifier_digest"),
            (text.replace("\"tokens\":2", "\"tokens\":-2").into_bytes(), "chunk job is malformed"),
            (text.replacen("\"index\":2", "\"index\":2,\"more\":1", 1).into_bytes(), "unknown field"),
            (head_as_block.into_bytes(), "another kind's input"),
            (text.as_bytes()[..text.len() - 3].to_vec(), "chunk job is malformed"),
            (
                text.replace("\"tokens\":2", "\"tokens\":3").into_bytes(),
                "3 tokens, but the chunk's shape is for 2",
            ),
            (text.replace("\"tokens\":2", "\"tokens\":0").into_bytes(), "0 tokens"),
            (text.replace("\"k\":17", "\"k\":3").into_bytes(), "k = 3 is below"),
            (text.replace("[7,8,9,10]", "[7,8,9]").into_bytes(), "not rows of 2 tokens"),
            (block_text.replace("[4,5,-6,", "[4,5,").into_bytes(), "but an output of 3"),
        ];
        for (bytes, expected) in cases {
            let err = ChunkJob::from_bytes(&bytes).unwrap_err().to_string();
            assert!(err.contains(expected), "{err:?} does not contain {expected:?}");
        }
    }
}
