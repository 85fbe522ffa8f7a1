//! Format-independent names of the weights of a Llama-family model.

use crate::config::LlamaConfig;

/// One weight tensor of a decoder block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerTensor {
    /// RMSNorm weight before attention, `[d]`.
    AttnNorm,
    /// Query projection, `[heads·head_dim, d]`.
    Q,
    /// Key projection, `[kv_heads·head_dim, d]`.
    K,
    /// Value projection, `[kv_heads·head_dim, d]`.
    V,
    /// Attention output projection, `[d, heads·head_dim]`.
    O,
    /// RMSNorm weight before the MLP, `[d]`.
    FfnNorm,
    /// SwiGLU gate projection, `[ffn, d]`.
    Gate,
    /// SwiGLU up projection, `[ffn, d]`.
    Up,
    /// SwiGLU down projection, `[d, ffn]`.
    Down,
}

impl LayerTensor {
    /// All block tensors in file order.
    pub const ALL: [LayerTensor; 9] = [
        LayerTensor::AttnNorm,
        LayerTensor::Q,
        LayerTensor::K,
        LayerTensor::V,
        LayerTensor::O,
        LayerTensor::FfnNorm,
        LayerTensor::Gate,
        LayerTensor::Up,
        LayerTensor::Down,
    ];
}

/// Any weight tensor of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TensorId {
    /// Token embedding, `[vocab, d]`.
    Embedding,
    /// Block `l`'s tensor.
    Layer(usize, LayerTensor),
    /// Final RMSNorm weight, `[d]`.
    FinalNorm,
    /// Output projection, `[vocab, d]` (absent when tied to the embedding).
    LmHead,
}

impl TensorId {
    /// The HF transformers name.
    pub fn hf_name(&self) -> String {
        match self {
            TensorId::Embedding => "model.embed_tokens.weight".into(),
            TensorId::FinalNorm => "model.norm.weight".into(),
            TensorId::LmHead => "lm_head.weight".into(),
            TensorId::Layer(l, t) => {
                let s = match t {
                    LayerTensor::AttnNorm => "input_layernorm",
                    LayerTensor::Q => "self_attn.q_proj",
                    LayerTensor::K => "self_attn.k_proj",
                    LayerTensor::V => "self_attn.v_proj",
                    LayerTensor::O => "self_attn.o_proj",
                    LayerTensor::FfnNorm => "post_attention_layernorm",
                    LayerTensor::Gate => "mlp.gate_proj",
                    LayerTensor::Up => "mlp.up_proj",
                    LayerTensor::Down => "mlp.down_proj",
                };
                format!("model.layers.{l}.{s}.weight")
            }
        }
    }

    /// The llama.cpp GGUF name.
    pub fn gguf_name(&self) -> String {
        match self {
            TensorId::Embedding => "token_embd.weight".into(),
            TensorId::FinalNorm => "output_norm.weight".into(),
            TensorId::LmHead => "output.weight".into(),
            TensorId::Layer(l, t) => {
                let s = match t {
                    LayerTensor::AttnNorm => "attn_norm",
                    LayerTensor::Q => "attn_q",
                    LayerTensor::K => "attn_k",
                    LayerTensor::V => "attn_v",
                    LayerTensor::O => "attn_output",
                    LayerTensor::FfnNorm => "ffn_norm",
                    LayerTensor::Gate => "ffn_gate",
                    LayerTensor::Up => "ffn_up",
                    LayerTensor::Down => "ffn_down",
                };
                format!("blk.{l}.{s}.weight")
            }
        }
    }

    /// The shape (HF convention, outermost first) the config implies.
    pub fn expected_shape(&self, c: &LlamaConfig) -> Vec<usize> {
        let d = c.hidden_size;
        match self {
            TensorId::Embedding | TensorId::LmHead => vec![c.vocab_size, d],
            TensorId::FinalNorm => vec![d],
            TensorId::Layer(_, t) => match t {
                LayerTensor::AttnNorm | LayerTensor::FfnNorm => vec![d],
                LayerTensor::Q => vec![c.q_dim(), d],
                LayerTensor::K | LayerTensor::V => vec![c.kv_dim(), d],
                LayerTensor::O => vec![d, c.q_dim()],
                LayerTensor::Gate | LayerTensor::Up => vec![c.intermediate_size, d],
                LayerTensor::Down => vec![d, c.intermediate_size],
            },
        }
    }
}
