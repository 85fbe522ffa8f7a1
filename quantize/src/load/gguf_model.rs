//! A GGUF file as a weight source: config from metadata, q/k rows un-permuted.
//!
//! llama.cpp's converter permutes the rows of `q_proj` and `k_proj` so that its RoPE can
//! rotate adjacent pairs: within each head of `head_dim` rows, GGUF row `2i` holds HF row
//! `i` and GGUF row `2i+1` holds HF row `i + head_dim/2`. [`GgufModel::load`] undoes this,
//! so every tensor comes out in the HF layout with HF's rotate-half RoPE convention.

use std::path::Path;

use crate::config::LlamaConfig;
use crate::error::LoadError;
use crate::load::gguf::{GgufArray, GgufFile, GgufTensorInfo, GgufValue};
use crate::load::{check_shape, WeightSource};
use crate::names::{LayerTensor, TensorId};
use crate::tensor::Tensor;

/// A llama-architecture GGUF model, read lazily one tensor at a time.
#[derive(Debug)]
pub struct GgufModel {
    file: GgufFile,
    config: LlamaConfig,
}

/// The tokenizer a GGUF file embeds (`tokenizer.ggml.*` metadata).
#[derive(Clone, Debug, PartialEq)]
pub struct GgufTokenizerData {
    /// Tokenizer family, `tokenizer.ggml.model` (`"gpt2"` for byte-level BPE).
    pub model: String,
    /// Pre-tokenizer name, `tokenizer.ggml.pre` (e.g. `"smollm"`).
    pub pre: Option<String>,
    /// Token strings by id.
    pub tokens: Vec<String>,
    /// BPE merges by rank, each `"left right"`.
    pub merges: Vec<String>,
    /// Token scores by id, `tokenizer.ggml.scores` (SentencePiece merge priorities).
    pub scores: Option<Vec<f32>>,
    /// Token types by id (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).
    pub token_types: Option<Vec<i64>>,
    /// Beginning-of-sequence token id.
    pub bos: Option<u32>,
    /// End-of-sequence token id.
    pub eos: Option<u32>,
    /// Whether a BOS token is prepended, `tokenizer.ggml.add_bos_token`.
    pub add_bos: Option<bool>,
    /// Whether SentencePiece text gets a leading space, `tokenizer.ggml.add_space_prefix`.
    pub add_space_prefix: Option<bool>,
    /// The Jinja chat template, `tokenizer.chat_template`.
    pub chat_template: Option<String>,
}

impl GgufTokenizerData {
    /// The tokenizer metadata of a GGUF file (a model or a vocabulary-only file), if it has
    /// `tokenizer.ggml.model` and `tokenizer.ggml.tokens`. Optional keys of the wrong type
    /// read as absent.
    pub fn of(f: &GgufFile) -> Option<Self> {
        let string = |k: &str| f.get(k).and_then(GgufValue::as_str).map(str::to_string);
        let strings =
            |k: &str| f.get(k).and_then(GgufValue::as_array).and_then(|a| a.as_strings()).map(<[_]>::to_vec);
        let id = |k: &str| f.get(k).and_then(GgufValue::as_u64).and_then(|v| u32::try_from(v).ok());
        let flag = |k: &str| f.get(k).and_then(GgufValue::as_bool);
        let scores = match f.get("tokenizer.ggml.scores").and_then(GgufValue::as_array) {
            Some(GgufArray::F32(v)) => Some(v.clone()),
            _ => None,
        };
        Some(GgufTokenizerData {
            model: string("tokenizer.ggml.model")?,
            pre: string("tokenizer.ggml.pre"),
            tokens: strings("tokenizer.ggml.tokens")?,
            merges: strings("tokenizer.ggml.merges").unwrap_or_default(),
            scores,
            token_types: f
                .get("tokenizer.ggml.token_type")
                .and_then(GgufValue::as_array)
                .and_then(|a| a.to_i64s()),
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            add_bos: flag("tokenizer.ggml.add_bos_token"),
            add_space_prefix: flag("tokenizer.ggml.add_space_prefix"),
            chat_template: string("tokenizer.chat_template"),
        })
    }
}

impl GgufModel {
    /// Opens a GGUF file, reads the config from its metadata and checks that every tensor
    /// the config implies is present, of a supported type and of the right shape.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let file = GgufFile::open(path)?;
        let config = config_from_metadata(&file)?;
        let model = GgufModel { file, config };
        // Lazily, so that a lying block count fails at the first missing layer.
        for id in ids(&model.config) {
            model.info(id)?;
        }
        Ok(model)
    }

    /// The underlying file (metadata, tensor directory, raw data).
    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    /// Every tensor of the model: embedding, blocks, final norm, and `LmHead` when untied.
    pub fn tensor_ids(&self) -> Vec<TensorId> {
        ids(&self.config).collect()
    }

    /// The embedded tokenizer, if the file has one ([`GgufTokenizerData::of`]).
    pub fn tokenizer_data(&self) -> Option<GgufTokenizerData> {
        GgufTokenizerData::of(&self.file)
    }

    /// The file's description of tensor `id` (the embedding for a tied `LmHead`), checked
    /// for presence, a supported type and the shape the config implies.
    fn info(&self, id: TensorId) -> Result<&GgufTensorInfo, LoadError> {
        let id =
            if id == TensorId::LmHead && self.config.tie_word_embeddings { TensorId::Embedding } else { id };
        let name = id.gguf_name();
        let path = self.file.path();
        let info = self
            .file
            .tensor(&name)
            .ok_or_else(|| LoadError::MissingTensor { path: path.to_path_buf(), tensor: name.clone() })?;
        if !info.ggml_type().is_supported() {
            return Err(LoadError::UnsupportedDtype {
                path: path.to_path_buf(),
                tensor: name,
                dtype: info.ggml_type().to_string(),
            });
        }
        check_shape(path, &name, id, &self.config, &info.shape())?;
        Ok(info)
    }
}

impl WeightSource for GgufModel {
    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn path(&self) -> &Path {
        self.file.path()
    }

    fn load(&self, id: TensorId) -> Result<Tensor, LoadError> {
        let info = self.info(id)?;
        let shape = info.shape();
        let mut data = self.file.dequantize(info)?;
        let heads = match id {
            TensorId::Layer(_, LayerTensor::Q) => Some(self.config.num_attention_heads),
            TensorId::Layer(_, LayerTensor::K) => Some(self.config.num_key_value_heads),
            _ => None,
        };
        let cols = shape.last().copied().unwrap_or(1);
        if let Some(heads) = heads {
            data = unpermute_qk(&data, cols, heads).ok_or_else(|| {
                LoadError::tensor(self.file.path(), info.name(), "cannot split rows into heads")
            })?;
        }
        Tensor::new(shape, data)
            .ok_or_else(|| LoadError::tensor(self.file.path(), info.name(), "data does not fill the shape"))
    }
}

/// The tensors of a model with config `c`, in the order of [`GgufModel::tensor_ids`].
fn ids(c: &LlamaConfig) -> impl Iterator<Item = TensorId> {
    let layers = (0..c.num_hidden_layers)
        .flat_map(|l| LayerTensor::ALL.into_iter().map(move |t| TensorId::Layer(l, t)));
    std::iter::once(TensorId::Embedding)
        .chain(layers)
        .chain(std::iter::once(TensorId::FinalNorm))
        .chain((!c.tie_word_embeddings).then_some(TensorId::LmHead))
}

/// Undoes llama.cpp's q/k row permutation of a row-major matrix with `cols` columns and
/// `heads` heads of `rows / heads` rows each: HF row `j·half + i` of a head is GGUF row
/// `2i + j` (`j ∈ {0, 1}`, `half = head_dim / 2`). `None` when the rows do not split into
/// `heads` heads of an even number of rows.
pub fn unpermute_qk(data: &[f32], cols: usize, heads: usize) -> Option<Vec<f32>> {
    permute_rows(data, cols, heads, false)
}

/// Applies llama.cpp's q/k row permutation (the inverse of [`unpermute_qk`]), as its
/// converter does when writing a GGUF file.
pub fn permute_qk(data: &[f32], cols: usize, heads: usize) -> Option<Vec<f32>> {
    permute_rows(data, cols, heads, true)
}

fn permute_rows(data: &[f32], cols: usize, heads: usize, to_gguf: bool) -> Option<Vec<f32>> {
    if cols == 0 || heads == 0 || !data.len().is_multiple_of(cols) {
        return None;
    }
    let rows = data.len() / cols;
    let head_dim = rows / heads;
    if !rows.is_multiple_of(heads) || !head_dim.is_multiple_of(2) {
        return None;
    }
    let half = head_dim / 2;
    let mut out = vec![0f32; data.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let hf = h * head_dim + j * half + i;
                let gguf = h * head_dim + 2 * i + j;
                let (src, dst) = if to_gguf { (hf, gguf) } else { (gguf, hf) };
                out.get_mut(dst * cols..(dst + 1) * cols)?
                    .copy_from_slice(data.get(src * cols..(src + 1) * cols)?);
            }
        }
    }
    Some(out)
}

/// Reads and validates the llama config from the metadata of `f`.
fn config_from_metadata(f: &GgufFile) -> Result<LlamaConfig, LoadError> {
    let path = f.path();
    let err = |m: String| LoadError::config(path, m);
    let arch =
        f.get("general.architecture").ok_or_else(|| err("metadata lacks general.architecture".into()))?;
    match arch.as_str() {
        Some("llama") => {}
        Some(a) => {
            return Err(err(format!("unsupported architecture `{a}`; zkinfer reads `llama` GGUF models")))
        }
        None => {
            return Err(err(format!("general.architecture has type {}, expected string", arch.type_name())))
        }
    }
    let uint = |key: &str| -> Result<Option<usize>, LoadError> {
        match f.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().and_then(|x| usize::try_from(x).ok()).map(Some).ok_or_else(|| {
                err(format!("{key} has type {}, expected a non-negative integer", v.type_name()))
            }),
        }
    };
    let float = |key: &str| -> Result<Option<f64>, LoadError> {
        match f.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| err(format!("{key} has type {}, expected a float", v.type_name()))),
        }
    };
    let need = |key: &str| uint(key)?.ok_or_else(|| err(format!("metadata lacks {key}")));

    refuse_unsupported(f, &uint, &float)?;
    let hidden_size = need("llama.embedding_length")?;
    let heads = need("llama.attention.head_count")?;
    if heads == 0 {
        return Err(err("llama.attention.head_count must be positive".into()));
    }
    let rope_dims = uint("llama.rope.dimension_count")?;
    let head_dim = match uint("llama.attention.key_length")? {
        Some(k) => k,
        None => rope_dims.unwrap_or(hidden_size / heads),
    };
    for key in ["llama.attention.value_length", "llama.rope.dimension_count"] {
        if let Some(v) = uint(key)? {
            if v != head_dim {
                return Err(err(format!("{key} = {v} differs from the head size {head_dim}; not supported")));
            }
        }
    }
    let vocab_size = match uint("llama.vocab_size")? {
        Some(v) => v,
        None => match f.get("tokenizer.ggml.tokens").and_then(GgufValue::as_array) {
            Some(tokens) => tokens.len(),
            None => f
                .tensor(&TensorId::Embedding.gguf_name())
                .and_then(|t| t.shape().first().copied())
                .ok_or_else(|| err("cannot tell the vocabulary size".into()))?,
        },
    };
    let cfg = LlamaConfig {
        hidden_size,
        intermediate_size: need("llama.feed_forward_length")?,
        num_hidden_layers: need("llama.block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: uint("llama.attention.head_count_kv")?.unwrap_or(heads),
        head_dim,
        rms_norm_eps: float("llama.attention.layer_norm_rms_epsilon")?
            .ok_or_else(|| err("metadata lacks llama.attention.layer_norm_rms_epsilon".into()))?,
        rope_theta: float("llama.rope.freq_base")?.unwrap_or(10_000.0),
        vocab_size,
        tie_word_embeddings: f.tensor(&TensorId::LmHead.gguf_name()).is_none(),
    };
    cfg.validate(path)?;
    Ok(cfg)
}

/// Refuses llama-architecture variants zkinfer would silently compute wrong: RoPE scaling,
/// mixture of experts, biases.
fn refuse_unsupported(
    f: &GgufFile,
    uint: &dyn Fn(&str) -> Result<Option<usize>, LoadError>,
    float: &dyn Fn(&str) -> Result<Option<f64>, LoadError>,
) -> Result<(), LoadError> {
    let err = |m: String| Err(LoadError::config(f.path(), m));
    if let Some(v) = f.get("llama.rope.scaling.type") {
        if v.as_str() != Some("none") {
            return err(format!("RoPE scaling {v:?} is not supported"));
        }
    }
    for key in ["llama.rope.scaling.factor", "llama.rope.scale_linear"] {
        if let Some(s) = float(key)? {
            if s != 0.0 && s != 1.0 {
                return err(format!("RoPE scaling ({key} = {s}) is not supported"));
            }
        }
    }
    if f.tensor("rope_freqs.weight").is_some() {
        return err("RoPE frequency factors (rope_freqs.weight) are not supported".into());
    }
    if uint("llama.expert_count")?.unwrap_or(0) > 0 {
        return err("mixture-of-experts models (llama.expert_count) are not supported".into());
    }
    if let Some(t) = f.tensors().iter().find(|t| t.name().ends_with(".bias")) {
        return err(format!("bias tensors such as `{}` are not supported", t.name()));
    }
    Ok(())
}
