//! The integer reference forward pass: exactly the arithmetic the circuits constrain.

pub mod ops;

use crate::config::LlamaConfig;
use crate::error::Error;
use crate::fixed::tables::Tables;
use crate::fixed::Scale;
use crate::float::check_tokens;
use crate::qmodel::file::QuantizedModel;
use crate::qmodel::{QLayer, QuantParams, RopeTable};

use ops::{AttnShape, AttnTrace, NormTrace};

/// Every intermediate of one block (the circuits' witness).
#[derive(Clone, Debug, PartialEq)]
pub struct IntLayerTrace {
    /// Pre-attention RMSNorm.
    pub attn_norm: NormTrace,
    /// Queries before RoPE `[t, h·D]`.
    pub q: Vec<i64>,
    /// Keys before RoPE `[t, kv·D]`.
    pub k: Vec<i64>,
    /// Values `[t, kv·D]`.
    pub v: Vec<i64>,
    /// Queries after RoPE.
    pub q_rope: Vec<i64>,
    /// Keys after RoPE.
    pub k_rope: Vec<i64>,
    /// Softmax attention.
    pub attn: AttnTrace,
    /// Output projection `[t, d]`, residual scale.
    pub attn_out: Vec<i64>,
    /// Residual after attention.
    pub resid_mid: Vec<i64>,
    /// Pre-MLP RMSNorm.
    pub ffn_norm: NormTrace,
    /// Gate projection `[t, ffn]`.
    pub gate: Vec<i64>,
    /// Up projection `[t, ffn]`.
    pub up: Vec<i64>,
    /// `silu(gate)`.
    pub silu: Vec<i64>,
    /// `silu(gate)·up` rescaled.
    pub mid: Vec<i64>,
    /// Down projection `[t, d]`, residual scale.
    pub ffn_out: Vec<i64>,
    /// Block output.
    pub out: Vec<i64>,
}

/// Runs block `layer` on the residual `x: [t, d]`.
pub fn forward_layer(
    cfg: &LlamaConfig,
    params: &QuantParams,
    layer: &QLayer,
    tables: &Tables,
    rope: &RopeTable,
    x: &[i64],
    t: usize,
) -> IntLayerTrace {
    let (h, kv, hd) = (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim);
    let rb = params.resid.bits;
    let attn_norm = ops::rmsnorm(x, &layer.attn_norm, tables);
    let q = ops::linear(&attn_norm.out, t, &layer.q);
    let k = ops::linear(&attn_norm.out, t, &layer.k);
    let v = ops::linear(&attn_norm.out, t, &layer.v);
    let q_rope = ops::rope(&q, t, h, hd, rope, layer.q.out.bits);
    let k_rope = ops::rope(&k, t, kv, hd, rope, layer.k.out.bits);
    let shape = AttnShape {
        t,
        heads: h,
        kv_heads: kv,
        head_dim: hd,
        score_mult: layer.score_mult,
        score_shift: layer.score_shift,
        score: params.score,
        v: layer.v.out,
    };
    let attn = ops::attention(&q_rope, &k_rope, &v, shape, tables);
    let attn_out = ops::linear(&attn.heads, t, &layer.o);
    let resid_mid = ops::add(x, &attn_out, rb);
    let ffn_norm = ops::rmsnorm(&resid_mid, &layer.ffn_norm, tables);
    let gate = ops::linear(&ffn_norm.out, t, &layer.gate);
    let up = ops::linear(&ffn_norm.out, t, &layer.up);
    let (silu, mid) = ops::swiglu(&gate, &up, layer.up.out, layer.mid, tables);
    let ffn_out = ops::linear(&mid, t, &layer.down);
    let out = ops::add(&resid_mid, &ffn_out, rb);
    IntLayerTrace {
        attn_norm,
        q,
        k,
        v,
        q_rope,
        k_rope,
        attn,
        attn_out,
        resid_mid,
        ffn_norm,
        gate,
        up,
        silu,
        mid,
        ffn_out,
        out,
    }
}

/// The output of an integer forward pass.
#[derive(Clone, Debug)]
pub struct IntOutput {
    /// Tokens processed.
    pub t: usize,
    /// Residual stream: embeddings then each block's output, `[t, d]` each.
    pub hidden: Vec<Vec<i64>>,
    /// Scale of `hidden`.
    pub resid: Scale,
    /// Final RMSNorm.
    pub final_norm: NormTrace,
    /// Logits `[t, vocab]`.
    pub logits: Vec<i64>,
    /// Scale of `logits`.
    pub logits_scale: Scale,
    /// Block 0's intermediates.
    pub layer0: Option<IntLayerTrace>,
}

impl IntOutput {
    /// The residual after block `l` (0 = embeddings) as real numbers.
    pub fn hidden_f64(&self, l: usize) -> Vec<f64> {
        self.hidden[l].iter().map(|&v| self.resid.to_f64(v)).collect()
    }

    /// Logits as real numbers.
    pub fn logits_f64(&self) -> Vec<f64> {
        self.logits.iter().map(|&v| self.logits_scale.to_f64(v)).collect()
    }
}

/// Runs the quantized model over `tokens`, reading one block at a time; `progress` gets
/// the number of blocks done.
pub fn forward(
    model: &QuantizedModel,
    tokens: &[u32],
    progress: &mut dyn FnMut(usize),
) -> Result<IntOutput, Error> {
    let cfg = model.config().clone();
    let params = model.manifest.body.params.clone();
    check_tokens(tokens, cfg.vocab_size)?;
    let rope = model.rope()?;
    if tokens.len() > rope.max_seq {
        return Err(Error::PromptTooLong { len: tokens.len(), max: rope.max_seq });
    }
    let tables = model.tables()?;
    let t = tokens.len();
    let mut x = ops::embed(&model.embedding()?, tokens);
    let mut hidden = vec![x.clone()];
    let mut layer0 = None;
    for l in 0..cfg.num_hidden_layers {
        let layer = model.layer(l)?;
        let tr = forward_layer(&cfg, &params, &layer, &tables, &rope, &x, t);
        x = tr.out.clone();
        hidden.push(x.clone());
        if l == 0 {
            layer0 = Some(tr);
        }
        progress(l + 1);
    }
    let final_norm = ops::rmsnorm(&x, &model.final_norm()?, &tables);
    let head = model.lm_head()?;
    let logits = ops::linear(&final_norm.out, t, &head);
    Ok(IntOutput { t, hidden, resid: params.resid, final_norm, logits, logits_scale: head.out, layer0 })
}
