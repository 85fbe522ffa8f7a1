//! The float reference forward pass (f32 weights and activations, f64 where sums of many
//! terms or transcendental functions need it), run one layer at a time.

pub mod ops;

use crate::config::LlamaConfig;
use crate::error::{Error, LoadError};
use crate::load::WeightSource;
use crate::names::{LayerTensor, TensorId};
use crate::tensor::Tensor;

/// The weights of one decoder block.
pub struct FloatLayer {
    /// Pre-attention RMSNorm weight `[d]`.
    pub attn_norm: Tensor,
    /// Query projection `[h·D, d]`.
    pub q: Tensor,
    /// Key projection `[kv·D, d]`.
    pub k: Tensor,
    /// Value projection `[kv·D, d]`.
    pub v: Tensor,
    /// Output projection `[d, h·D]`.
    pub o: Tensor,
    /// Pre-MLP RMSNorm weight `[d]`.
    pub ffn_norm: Tensor,
    /// Gate projection `[ffn, d]`.
    pub gate: Tensor,
    /// Up projection `[ffn, d]`.
    pub up: Tensor,
    /// Down projection `[d, ffn]`.
    pub down: Tensor,
}

impl FloatLayer {
    /// Loads block `l` from `src`.
    pub fn load(src: &dyn WeightSource, l: usize) -> Result<Self, LoadError> {
        let g = |t| src.load(TensorId::Layer(l, t));
        Ok(FloatLayer {
            attn_norm: g(LayerTensor::AttnNorm)?,
            q: g(LayerTensor::Q)?,
            k: g(LayerTensor::K)?,
            v: g(LayerTensor::V)?,
            o: g(LayerTensor::O)?,
            ffn_norm: g(LayerTensor::FfnNorm)?,
            gate: g(LayerTensor::Gate)?,
            up: g(LayerTensor::Up)?,
            down: g(LayerTensor::Down)?,
        })
    }
}

/// Every intermediate of one block over `t` tokens, row-major.
#[derive(Clone, Debug)]
pub struct LayerTrace {
    /// Pre-attention RMSNorm output `[t, d]`.
    pub attn_norm: Vec<f32>,
    /// Queries before RoPE `[t, h·D]`.
    pub q: Vec<f32>,
    /// Keys before RoPE `[t, kv·D]`.
    pub k: Vec<f32>,
    /// Queries after RoPE `[t, h, D]`.
    pub q_rope: Vec<f32>,
    /// Keys after RoPE `[t, kv, D]`.
    pub k_rope: Vec<f32>,
    /// Values `[t, kv, D]`.
    pub v: Vec<f32>,
    /// Attention probabilities `[h, t, t]`.
    pub probs: Vec<f32>,
    /// Attention heads before the output projection `[t, h·D]`.
    pub heads: Vec<f32>,
    /// Output projection `[t, d]`.
    pub attn_out: Vec<f32>,
    /// Residual after attention `[t, d]`.
    pub resid_mid: Vec<f32>,
    /// Pre-MLP RMSNorm output `[t, d]`.
    pub ffn_norm: Vec<f32>,
    /// Gate projection `[t, ffn]`.
    pub gate: Vec<f32>,
    /// Up projection `[t, ffn]`.
    pub up: Vec<f32>,
    /// `silu(gate) · up` `[t, ffn]`.
    pub mid: Vec<f32>,
    /// Down projection `[t, d]`.
    pub ffn_out: Vec<f32>,
    /// Block output (residual) `[t, d]`.
    pub out: Vec<f32>,
}

/// Runs one block on `x: [t, d]`.
pub fn forward_layer(cfg: &LlamaConfig, w: &FloatLayer, x: &[f32], t: usize) -> LayerTrace {
    let (h, kv, hd) = (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim);
    let attn_norm = ops::rmsnorm(x, &w.attn_norm.data, cfg.rms_norm_eps);
    let q = ops::matmul(&attn_norm, t, &w.q.data, cfg.q_dim());
    let k = ops::matmul(&attn_norm, t, &w.k.data, cfg.kv_dim());
    let v = ops::matmul(&attn_norm, t, &w.v.data, cfg.kv_dim());
    let mut q_rope = q.clone();
    let mut k_rope = k.clone();
    ops::rope(&mut q_rope, t, h, hd, cfg.rope_theta);
    ops::rope(&mut k_rope, t, kv, hd, cfg.rope_theta);
    let (heads, probs) = ops::attention(&q_rope, &k_rope, &v, t, h, kv, hd);
    let attn_out = ops::matmul(&heads, t, &w.o.data, cfg.hidden_size);
    let resid_mid = ops::add(x, &attn_out);
    let ffn_norm = ops::rmsnorm(&resid_mid, &w.ffn_norm.data, cfg.rms_norm_eps);
    let gate = ops::matmul(&ffn_norm, t, &w.gate.data, cfg.intermediate_size);
    let up = ops::matmul(&ffn_norm, t, &w.up.data, cfg.intermediate_size);
    let mid: Vec<f32> = gate.iter().zip(&up).map(|(&g, &u)| ops::silu(g) * u).collect();
    let ffn_out = ops::matmul(&mid, t, &w.down.data, cfg.hidden_size);
    let out = ops::add(&resid_mid, &ffn_out);
    LayerTrace {
        attn_norm,
        q,
        k,
        q_rope,
        k_rope,
        v,
        probs,
        heads,
        attn_out,
        resid_mid,
        ffn_norm,
        gate,
        up,
        mid,
        ffn_out,
        out,
    }
}

/// Checks a prompt against the vocabulary.
pub fn check_tokens(tokens: &[u32], vocab: usize) -> Result<(), Error> {
    if tokens.is_empty() {
        return Err(Error::EmptyPrompt);
    }
    match tokens.iter().find(|&&tk| tk as usize >= vocab) {
        Some(&token) => Err(Error::TokenOutOfRange { token, vocab }),
        None => Ok(()),
    }
}

/// Rows `tokens` of the embedding, `[t, d]`.
pub fn embed(emb: &Tensor, tokens: &[u32]) -> Vec<f32> {
    tokens.iter().flat_map(|&tk| emb.row(tk as usize).iter().copied()).collect()
}

/// The output of a whole forward pass.
#[derive(Clone, Debug)]
pub struct FloatOutput {
    /// Tokens processed.
    pub t: usize,
    /// Residual stream: the embeddings, then each block's output; each `[t, d]`.
    pub hidden: Vec<Vec<f32>>,
    /// Final RMSNorm output `[t, d]`.
    pub final_norm: Vec<f32>,
    /// Logits `[t, vocab]`.
    pub logits: Vec<f32>,
    /// Block 0's intermediates.
    pub layer0: Option<LayerTrace>,
}

/// Runs the whole model over `tokens`, loading one block at a time. `progress` is called
/// with the number of blocks done.
pub fn forward(
    src: &dyn WeightSource,
    tokens: &[u32],
    progress: &mut dyn FnMut(usize),
) -> Result<FloatOutput, Error> {
    let cfg = src.config().clone();
    check_tokens(tokens, cfg.vocab_size)?;
    let t = tokens.len();
    let emb = src.load(TensorId::Embedding)?;
    let mut x = embed(&emb, tokens);
    drop(emb);
    let mut hidden = vec![x.clone()];
    let mut layer0 = None;
    for l in 0..cfg.num_hidden_layers {
        let w = FloatLayer::load(src, l)?;
        let tr = forward_layer(&cfg, &w, &x, t);
        x = tr.out.clone();
        hidden.push(x.clone());
        if l == 0 {
            layer0 = Some(tr);
        }
        progress(l + 1);
    }
    let norm = src.load(TensorId::FinalNorm)?;
    let final_norm = ops::rmsnorm(&x, &norm.data, cfg.rms_norm_eps);
    let head = src.load(TensorId::LmHead)?;
    let logits = ops::matmul(&final_norm, t, &head.data, cfg.vocab_size);
    Ok(FloatOutput { t, hidden, final_norm, logits, layer0 })
}
