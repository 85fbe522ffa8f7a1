//! How many of each integer operation a block performs over `t` tokens — the input of
//! the circuit cost model and the chunk planner.

use serde::Serialize;

use crate::config::LlamaConfig;

/// Operation counts of one part of the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Census {
    /// Multiply-accumulates of a fixed weight by an activation.
    pub fixed_macs: u64,
    /// Multiply-accumulates of two activations (QKᵀ, PV, x², silu·up).
    pub advice_macs: u64,
    /// Rescales (`round_shift` + saturate) producing one value each.
    pub rescales: u64,
    /// rsqrt table lookups.
    pub rsqrt: u64,
    /// exp table lookups.
    pub exp: u64,
    /// reciprocal table lookups.
    pub recip: u64,
    /// SiLU table lookups.
    pub silu: u64,
    /// Saturating residual additions.
    pub adds: u64,
}

impl Census {
    /// Sum of two censuses.
    pub fn plus(self, o: Census) -> Census {
        Census {
            fixed_macs: self.fixed_macs + o.fixed_macs,
            advice_macs: self.advice_macs + o.advice_macs,
            rescales: self.rescales + o.rescales,
            rsqrt: self.rsqrt + o.rsqrt,
            exp: self.exp + o.exp,
            recip: self.recip + o.recip,
            silu: self.silu + o.silu,
            adds: self.adds + o.adds,
        }
    }

    /// All multiply-accumulates.
    pub fn macs(&self) -> u64 {
        self.fixed_macs + self.advice_macs
    }
}

fn rmsnorm(d: u64, t: u64) -> Census {
    Census { advice_macs: d * t, rescales: d * t, rsqrt: t, ..Census::default() }
}

/// The attention half of a block: RMSNorm, q/k/v, RoPE, causal softmax attention, o,
/// residual add.
pub fn attention(c: &LlamaConfig, t: usize) -> Census {
    let (d, t) = (c.hidden_size as u64, t as u64);
    let (q, kv, h, hd) =
        (c.q_dim() as u64, c.kv_dim() as u64, c.num_attention_heads as u64, c.head_dim as u64);
    let pairs = h * t * (t + 1) / 2; // causal (query, key) pairs over all heads
    rmsnorm(d, t).plus(Census {
        fixed_macs: d * (q + 2 * kv) * t + q * d * t,
        advice_macs: 2 * pairs * hd,
        // q, k, v, rope(q, k), scores, probabilities, heads, o
        rescales: (q + 2 * kv) * t + (q + kv) * t + 2 * pairs + q * t + d * t,
        exp: pairs,
        recip: h * t,
        adds: d * t,
        ..Census::default()
    })
}

/// The MLP half of a block: RMSNorm, gate/up, SiLU, product, down, residual add.
pub fn mlp(c: &LlamaConfig, t: usize) -> Census {
    let (d, f, t) = (c.hidden_size as u64, c.intermediate_size as u64, t as u64);
    rmsnorm(d, t).plus(Census {
        fixed_macs: 3 * d * f * t,
        advice_macs: f * t,
        rescales: 3 * f * t + d * t,
        silu: f * t,
        adds: d * t,
        ..Census::default()
    })
}

/// Final RMSNorm and the output projection for the last `positions` tokens.
pub fn head(c: &LlamaConfig, t: usize, positions: usize) -> Census {
    let (d, v) = (c.hidden_size as u64, c.vocab_size as u64);
    rmsnorm(d, t as u64).plus(Census {
        fixed_macs: d * v * positions as u64,
        rescales: v * positions as u64,
        ..Census::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smollm2_layer_has_the_known_mac_count() {
        let c = LlamaConfig {
            hidden_size: 576,
            intermediate_size: 1536,
            num_hidden_layers: 30,
            num_attention_heads: 9,
            num_key_value_heads: 3,
            head_dim: 64,
            rms_norm_eps: 1e-5,
            rope_theta: 1e5,
            vocab_size: 49152,
            tie_word_embeddings: true,
        };
        let layer = attention(&c, 4).plus(mlp(&c, 4));
        // 4 tokens × (576·(576+2·192) + 576·576 + 3·576·1536) fixed MACs.
        assert_eq!(layer.fixed_macs, 4 * (576 * 960 + 576 * 576 + 3 * 576 * 1536));
        assert_eq!(layer.fixed_macs, 14_155_776);
        assert_eq!(layer.exp, 9 * 10);
        assert_eq!(layer.rsqrt, 8);
    }
}
