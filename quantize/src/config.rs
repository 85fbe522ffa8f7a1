//! The Llama-family configuration zkinfer supports, and its HF `config.json` view.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::LoadError;

/// A Llama-family decoder: pre-norm RMSNorm blocks with GQA self-attention (RoPE in the
/// HF rotate-half layout) and a SwiGLU MLP, no biases, tied or separate `lm_head`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Model width d.
    pub hidden_size: usize,
    /// SwiGLU inner width.
    pub intermediate_size: usize,
    /// Number of decoder blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (GQA); divides `num_attention_heads`.
    pub num_key_value_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base frequency.
    pub rope_theta: f64,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Whether `lm_head` is the embedding matrix.
    pub tie_word_embeddings: bool,
}

impl LlamaConfig {
    /// Checks the internal consistency of the numbers; `path` names the source in errors.
    pub fn validate(&self, path: &Path) -> Result<(), LoadError> {
        let err = |m: String| Err(LoadError::config(path, m));
        for (name, v) in [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
            ("vocab_size", self.vocab_size),
        ] {
            if v == 0 {
                return err(format!("{name} must be positive"));
            }
            if v > 1 << 24 {
                return err(format!("{name} = {v} is implausibly large"));
            }
        }
        if !self.num_attention_heads.is_multiple_of(self.num_key_value_heads) {
            return err(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return err(format!("head_dim {} must be even for RoPE", self.head_dim));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return err(format!("rms_norm_eps {} must be a positive number", self.rms_norm_eps));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return err(format!("rope_theta {} must be a number above 1", self.rope_theta));
        }
        Ok(())
    }

    /// Width of all query heads together.
    pub fn q_dim(&self) -> usize {
        self.num_attention_heads * self.head_dim
    }

    /// Width of all key (or value) heads together.
    pub fn kv_dim(&self) -> usize {
        self.num_key_value_heads * self.head_dim
    }

    /// Reads and validates an HF `config.json`, refusing anything but a Llama-family decoder.
    pub fn from_hf_json(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::io(path, e))?;
        let raw: HfConfig = serde_json::from_str(&text)
            .map_err(|e| LoadError::config(path, format!("invalid config.json: {e}")))?;
        raw.into_config(path)
    }
}

/// The fields of an HF `config.json` zkinfer reads; the rest is ignored unless it changes
/// the architecture, in which case it is refused.
#[derive(Deserialize)]
struct HfConfig {
    architectures: Option<Vec<String>>,
    model_type: Option<String>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    vocab_size: Option<usize>,
    tie_word_embeddings: Option<bool>,
    hidden_act: Option<String>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    rope_scaling: Option<serde_json::Value>,
}

impl HfConfig {
    fn into_config(self, path: &Path) -> Result<LlamaConfig, LoadError> {
        let err = |m: String| LoadError::config(path, m);
        let arch_ok = match (&self.architectures, &self.model_type) {
            (Some(a), _) if !a.is_empty() => a.iter().all(|s| s == "LlamaForCausalLM"),
            (_, Some(t)) => t == "llama",
            _ => false,
        };
        if !arch_ok {
            return Err(err(format!(
                "unsupported architecture {:?} (model_type {:?}); zkinfer reads LlamaForCausalLM models",
                self.architectures.unwrap_or_default(),
                self.model_type.unwrap_or_default()
            )));
        }
        if let Some(act) = &self.hidden_act {
            if act != "silu" {
                return Err(err(format!("unsupported hidden_act `{act}`; only silu (SwiGLU) is supported")));
            }
        }
        if self.attention_bias == Some(true) || self.mlp_bias == Some(true) {
            return Err(err("attention_bias/mlp_bias are not supported".into()));
        }
        if let Some(s) = &self.rope_scaling {
            if !s.is_null() {
                return Err(err(format!("rope_scaling {s} is not supported")));
            }
        }
        let need = |name: &str, v: Option<usize>| v.ok_or_else(|| err(format!("config.json lacks `{name}`")));
        let hidden_size = need("hidden_size", self.hidden_size)?;
        let num_attention_heads = need("num_attention_heads", self.num_attention_heads)?;
        if num_attention_heads == 0 {
            return Err(err("num_attention_heads must be positive".into()));
        }
        let cfg = LlamaConfig {
            hidden_size,
            intermediate_size: need("intermediate_size", self.intermediate_size)?,
            num_hidden_layers: need("num_hidden_layers", self.num_hidden_layers)?,
            num_attention_heads,
            num_key_value_heads: self.num_key_value_heads.unwrap_or(num_attention_heads),
            head_dim: self.head_dim.unwrap_or(hidden_size / num_attention_heads),
            rms_norm_eps: self.rms_norm_eps.unwrap_or(1e-6),
            rope_theta: self.rope_theta.unwrap_or(10_000.0),
            vocab_size: need("vocab_size", self.vocab_size)?,
            tie_word_embeddings: self.tie_word_embeddings.unwrap_or(false),
        };
        cfg.validate(path)?;
        Ok(cfg)
    }
}
