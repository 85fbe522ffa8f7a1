//! Errors of model import, quantization and the reference passes.

use std::path::PathBuf;

/// An error while reading a model (HF folder, safetensors, GGUF or a quantized file).
///
/// Every variant names the file, and the tensor where one is involved, so that the
/// CLI can print it as one line.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened or read.
    #[error("{}: {err}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (shown in the message, so not a `source`).
        err: std::io::Error,
    },
    /// The file's structure is broken (bad magic, truncated header, malformed JSON...).
    #[error("{}: {msg}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// One tensor's description or data is inconsistent (offsets past the end, size ≠ shape × dtype...).
    #[error("{}: tensor `{tensor}`: {msg}", path.display())]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name in that file.
        tensor: String,
        /// What is wrong.
        msg: String,
    },
    /// A tensor the architecture needs is not in the model.
    #[error("{}: missing tensor `{tensor}`", path.display())]
    MissingTensor {
        /// The file or folder.
        path: PathBuf,
        /// The tensor's name as the format spells it.
        tensor: String,
    },
    /// A tensor has a shape other than the config implies.
    #[error("{}: tensor `{tensor}` has shape {got:?}, the config implies {expected:?}", path.display())]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Shape implied by the config.
        expected: Vec<usize>,
        /// Shape found.
        got: Vec<usize>,
    },
    /// A tensor is stored in a dtype zkinfer does not read.
    #[error("{}: tensor `{tensor}` has unsupported dtype {dtype}", path.display())]
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The dtype as the file names it.
        dtype: String,
    },
    /// The model configuration is missing a field, has an invalid value or describes
    /// something other than a Llama-family decoder.
    #[error("{}: {msg}", path.display())]
    Config {
        /// The config file (or the GGUF file for GGUF metadata).
        path: PathBuf,
        /// What is wrong or unsupported.
        msg: String,
    },
}

impl LoadError {
    /// A [`LoadError::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        LoadError::Format { path: path.into(), msg: msg.into() }
    }
    /// A [`LoadError::Tensor`] for `path` and `tensor`.
    pub fn tensor(path: impl Into<PathBuf>, tensor: impl Into<String>, msg: impl Into<String>) -> Self {
        LoadError::Tensor { path: path.into(), tensor: tensor.into(), msg: msg.into() }
    }
    /// A [`LoadError::Config`] for `path`.
    pub fn config(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        LoadError::Config { path: path.into(), msg: msg.into() }
    }
    /// A [`LoadError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LoadError::Io { path: path.into(), err: source }
    }
}

/// An error of quantization or of a reference forward pass.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the model failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A token id is not in the vocabulary.
    #[error("token id {token} is outside the vocabulary (size {vocab})")]
    TokenOutOfRange {
        /// The token id.
        token: u32,
        /// The vocabulary size.
        vocab: usize,
    },
    /// The prompt has no tokens.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// A text prompt was given for a model that carries no tokenizer.
    #[error("the model has no tokenizer, so a text prompt has no token ids")]
    NoTokenizer,
    /// The tokenizer gave an id the model's vocabulary does not have (a cut vocabulary).
    #[error("the prompt's token {token} ({piece:?}) is outside the model's vocabulary of {vocab} ids")]
    PromptOutOfVocab {
        /// The token id.
        token: u32,
        /// The text it stands for.
        piece: String,
        /// The vocabulary size.
        vocab: usize,
    },
    /// The prompt is longer than the quantized model's RoPE table.
    #[error("the prompt has {len} tokens; this quantized model supports at most {max}")]
    PromptTooLong {
        /// Tokens given.
        len: usize,
        /// Tokens supported.
        max: usize,
    },
    /// The tokenizer could not be built or could not encode/decode.
    #[error(transparent)]
    Tokenizer(#[from] crate::tokenizer::TokenizerError),
    /// Quantization cannot represent the model (a scale out of range, a non-finite weight...).
    #[error("quantization failed: {0}")]
    Quantize(String),
}
