//! Model import: HF folders (safetensors, sharded or not) and GGUF files, read lazily
//! from memory maps one tensor at a time.

use std::path::Path;

use crate::config::LlamaConfig;
use crate::error::LoadError;
use crate::names::TensorId;
use crate::tensor::Tensor;

/// A source of f32 weights for a Llama-family model.
///
/// Implementations read lazily: `load` touches only the bytes of the tensor asked for, so a
/// caller that processes one layer at a time keeps about one layer in memory.
pub trait WeightSource: Send + Sync {
    /// The model's configuration.
    fn config(&self) -> &LlamaConfig;
    /// The file or folder the weights come from (for messages).
    fn path(&self) -> &Path;
    /// One tensor as f32 in the HF layout (GGUF q/k rows already un-permuted), its shape
    /// checked against [`TensorId::expected_shape`]. `TensorId::LmHead` of a tied model
    /// returns the embedding.
    fn load(&self, id: TensorId) -> Result<Tensor, LoadError>;
}

/// Checks a loaded tensor's shape against the config; `name` is the name in the file.
pub fn check_shape(
    path: &Path,
    name: &str,
    id: TensorId,
    cfg: &LlamaConfig,
    got: &[usize],
) -> Result<(), LoadError> {
    let expected = id.expected_shape(cfg);
    if got != expected.as_slice() {
        return Err(LoadError::ShapeMismatch {
            path: path.to_path_buf(),
            tensor: name.to_string(),
            expected,
            got: got.to_vec(),
        });
    }
    Ok(())
}

pub mod ggml;
pub mod gguf;
pub mod gguf_model;
pub mod hf;
pub mod safetensors;
