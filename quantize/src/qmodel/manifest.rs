//! The quantized file's manifest: config, scales, tables, and a content hash of every
//! blob and layer, under a model id that hashes all of it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::QuantParams;
use crate::config::LlamaConfig;
use crate::fixed::Scale;

/// The file's first eight bytes (and its last eight).
pub const MAGIC: &[u8; 8] = b"ZKINFERQ";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;
/// Domain separator of the model id.
pub const MODEL_ID_DOMAIN: &[u8] = b"zkinfer-model-v1\n";

/// Element type of a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobDtype {
    /// Signed 8-bit.
    I8,
    /// Unsigned 16-bit little-endian.
    U16,
    /// Signed 32-bit little-endian.
    I32,
    /// Signed 64-bit little-endian.
    I64,
}

impl BlobDtype {
    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            BlobDtype::I8 => 1,
            BlobDtype::U16 => 2,
            BlobDtype::I32 => 4,
            BlobDtype::I64 => 8,
        }
    }
}

/// Where a blob lies in the file and what it hashes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// Element type.
    pub dtype: BlobDtype,
    /// Number of elements.
    pub len: u64,
    /// Byte offset from the start of the file.
    pub offset: u64,
    /// SHA-256 of the blob's bytes, hex.
    pub sha256: String,
}

/// A quantized matrix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearEntry {
    /// Output rows.
    pub rows: u64,
    /// Input columns.
    pub cols: u64,
    /// `i8` weights, `rows × cols`.
    pub weight: BlobRef,
    /// Inputs per group.
    pub group: u64,
    /// `u16` group scale codes, `rows × ⌈cols / group⌉`.
    pub group_scale: BlobRef,
    /// `i64` multipliers, `rows`.
    pub mult: BlobRef,
    /// Right shift after the multiplier.
    pub shift: u32,
    /// Output format.
    pub out: Scale,
}

/// A quantized RMSNorm weight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormEntry {
    /// `i32` weights.
    pub weight: BlobRef,
    /// Fractional bits of the weights.
    pub frac: u32,
    /// Output format.
    pub out: Scale,
    /// Epsilon in mean-square units.
    pub eps: i64,
}

/// What one block's hash covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerContent {
    /// Pre-attention norm.
    pub attn_norm: NormEntry,
    /// Query projection.
    pub q: LinearEntry,
    /// Key projection.
    pub k: LinearEntry,
    /// Value projection.
    pub v: LinearEntry,
    /// Output projection.
    pub o: LinearEntry,
    /// Pre-MLP norm.
    pub ffn_norm: NormEntry,
    /// Gate projection.
    pub gate: LinearEntry,
    /// Up projection.
    pub up: LinearEntry,
    /// Down projection.
    pub down: LinearEntry,
    /// Score multiplier.
    pub score_mult: i64,
    /// Score shift.
    pub score_shift: u32,
    /// Scale of `silu(gate)·up`.
    pub mid: Scale,
}

impl LayerContent {
    /// SHA-256 (hex) of the canonical JSON of this block, blob hashes included.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(serde_json::to_vec(self).unwrap_or_default()))
    }
}

/// One block: its content and that content's hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerEntry {
    /// SHA-256 (hex) of `content`.
    pub sha256: String,
    /// The block's weights and constants.
    pub content: LayerContent,
}

/// A lookup table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    /// `rsqrt`, `exp`, `recip` or `silu`.
    pub name: String,
    /// First input.
    pub start: i64,
    /// `i32` outputs.
    pub values: BlobRef,
}

/// The RoPE constants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RopeEntry {
    /// Positions covered.
    pub max_seq: u64,
    /// `head_dim / 2`.
    pub half: u64,
    /// `i32` cosines.
    pub cos: BlobRef,
    /// `i32` sines.
    pub sin: BlobRef,
}

/// Everything the model id covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelBody {
    /// Architecture.
    pub config: LlamaConfig,
    /// Activation scales.
    pub params: QuantParams,
    /// Lookup tables.
    pub tables: Vec<TableEntry>,
    /// RoPE constants.
    pub rope: RopeEntry,
    /// Embedding (output: residual scale).
    pub embedding: LinearEntry,
    /// Blocks.
    pub layers: Vec<LayerEntry>,
    /// Final norm.
    pub final_norm: NormEntry,
    /// Output projection (its weight blob is the embedding's when tied).
    pub lm_head: LinearEntry,
}

impl ModelBody {
    /// The model id: SHA-256 (hex) of a domain tag and the canonical JSON of the body.
    pub fn model_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(MODEL_ID_DOMAIN);
        h.update(serde_json::to_vec(self).unwrap_or_default());
        hex::encode(h.finalize())
    }
}

/// Where the quantized model came from (not covered by the id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The model file or folder quantized.
    pub path: String,
    /// `hf`, `gguf` or `synthetic`.
    pub kind: String,
    /// The zkinfer version that quantized it.
    pub quantized_by: String,
    /// Token counts of the calibration prompts.
    pub calibration_tokens: Vec<usize>,
}

/// The manifest stored at the end of a quantized file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `zkinfer-quantized-model`.
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// `body.model_id()`.
    pub model_id: String,
    /// The model.
    pub body: ModelBody,
    /// Provenance.
    pub source: SourceInfo,
    /// The tokenizer, when the source model carried one (not covered by the id).
    #[serde(default)]
    pub tokenizer: Option<crate::tokenizer::TokenizerSpec>,
}
