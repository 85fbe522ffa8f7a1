//! Deterministic synthetic Llama models, in memory and written as HF folders.
//!
//! A [`SyntheticModel`] needs no download: every weight is a function of the seed, the
//! tensor and the element index alone, computed with splitmix64 and integer or basic
//! (correctly rounded) f32/f64 arithmetic, so the same seed gives the same bits on every
//! platform and tensors can be generated in any order, one at a time.
//!
//! The distributions keep activations O(1) through the model:
//!
//! | tensor                  | values                                                    |
//! |-------------------------|-----------------------------------------------------------|
//! | embedding               | N(0, 1)                                                   |
//! | q, k, v, gate, up       | N(0, σ²), σ = 0.5 / √fan_in                               |
//! | o, down                 | N(0, σ²), σ = 0.5 / √(2 · layers · fan_in) (GPT-2 style)  |
//! | RMSNorm weights         | 1 + N(0, 0.1²), and up to 2 + d/1024 outliers in [3, 5)   |
//! | `lm_head` (untied only) | N(0, 1/d)                                                 |
//!
//! N is approximated by an Irwin–Hall sum of four 16-bit uniforms, so |N| < 3.47.

use std::path::{Path, PathBuf};

use crate::config::LlamaConfig;
use crate::error::LoadError;
use crate::load::WeightSource;
use crate::names::{LayerTensor, TensorId};
use crate::tensor::Tensor;

mod generate;
mod hf_writer;

pub use hf_writer::{write_hf_folder, SynthDtype};

/// A Llama model whose weights are generated on demand from a seed.
#[derive(Clone, Debug)]
pub struct SyntheticModel {
    cfg: LlamaConfig,
    seed: u64,
    path: PathBuf,
}

impl SyntheticModel {
    /// The model of configuration `cfg` drawn from `seed`. The configuration is checked
    /// when tensors are loaded.
    pub fn new(cfg: LlamaConfig, seed: u64) -> Self {
        let path = PathBuf::from(format!("synthetic:seed={seed}"));
        SyntheticModel { cfg, seed, path }
    }

    /// The seed the weights are drawn from.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl WeightSource for SyntheticModel {
    fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self, id: TensorId) -> Result<Tensor, LoadError> {
        self.cfg.validate(&self.path)?;
        let id = match id {
            TensorId::LmHead if self.cfg.tie_word_embeddings => TensorId::Embedding,
            other => other,
        };
        if let TensorId::Layer(l, _) = id {
            if l >= self.cfg.num_hidden_layers {
                let tensor = id.hf_name();
                return Err(LoadError::MissingTensor { path: self.path.clone(), tensor });
            }
        }
        let shape = id.expected_shape(&self.cfg);
        let bad = |msg: &str| LoadError::tensor(&self.path, id.hf_name(), msg);
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| bad("element count overflows usize"))?;
        let data = generate::generate(&self.cfg, self.seed, id, n);
        Tensor::new(shape, data).ok_or_else(|| bad("generated size differs from the shape"))
    }
}

/// The built-in default model: d = 64, 4 query and 2 key/value heads of width 16, SwiGLU
/// width 172, 2 layers, 256 byte-level tokens, tied embeddings.
pub fn tiny_config() -> LlamaConfig {
    LlamaConfig {
        hidden_size: 64,
        intermediate_size: 172,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 16,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        vocab_size: 256,
        tie_word_embeddings: true,
    }
}

/// The built-in tiny model at twice the width: d = 128, SwiGLU width 344, 4 query heads of
/// width 32 over 2 key/value heads, 2 layers, vocabulary 256 (the second EZKL comparison
/// shape in BENCHMARKS.md).
pub fn tiny_d128_config() -> LlamaConfig {
    LlamaConfig { hidden_size: 128, intermediate_size: 344, head_dim: 32, ..tiny_config() }
}

/// Llama-2-7B's shapes (d = 4096, SwiGLU width 11008, 32 heads of width 128, no GQA,
/// untied `lm_head`) with `layers` blocks and `vocab` tokens.
pub fn llama2_7b_layer_config(layers: usize, vocab: usize) -> LlamaConfig {
    LlamaConfig {
        hidden_size: 4096,
        intermediate_size: 11008,
        num_hidden_layers: layers,
        num_attention_heads: 32,
        num_key_value_heads: 32,
        head_dim: 128,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        vocab_size: vocab,
        tie_word_embeddings: false,
    }
}

/// Every tensor an HF checkpoint of `cfg` stores: the embedding, each block's tensors in
/// [`LayerTensor::ALL`] order, the final norm, and `lm_head` unless it is tied.
pub fn model_tensor_ids(cfg: &LlamaConfig) -> Vec<TensorId> {
    let mut ids = vec![TensorId::Embedding];
    for l in 0..cfg.num_hidden_layers {
        ids.extend(LayerTensor::ALL.iter().map(|&t| TensorId::Layer(l, t)));
    }
    ids.push(TensorId::FinalNorm);
    if !cfg.tie_word_embeddings {
        ids.push(TensorId::LmHead);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(m: &SyntheticModel, id: TensorId) -> Vec<f32> {
        m.load(id).expect("synthetic tensor").data
    }

    #[test]
    fn same_seed_same_bits_any_order() {
        let a = SyntheticModel::new(tiny_config(), 5);
        let b = SyntheticModel::new(tiny_config(), 5);
        let ids = model_tensor_ids(a.config());
        let forward: Vec<Vec<u32>> =
            ids.iter().map(|&id| values(&a, id).iter().map(|v| v.to_bits()).collect()).collect();
        for (i, &id) in ids.iter().enumerate().rev() {
            let again: Vec<u32> = values(&b, id).iter().map(|v| v.to_bits()).collect();
            assert_eq!(again, forward[i], "{}", id.hf_name());
        }
    }

    #[test]
    fn tensors_and_seeds_differ() {
        let a = SyntheticModel::new(tiny_config(), 1);
        let b = SyntheticModel::new(tiny_config(), 2);
        let ids = model_tensor_ids(a.config());
        for (i, &x) in ids.iter().enumerate() {
            for &y in &ids[i + 1..] {
                let (vx, vy) = (values(&a, x), values(&a, y));
                let n = vx.len().min(vy.len());
                assert_ne!(vx[..n], vy[..n], "{} vs {}", x.hf_name(), y.hf_name());
            }
            assert_ne!(values(&a, x), values(&b, x), "{} across seeds", x.hf_name());
        }
    }

    #[test]
    fn layer_tensors_of_different_layers_differ() {
        let m = SyntheticModel::new(tiny_config(), 0);
        let q0 = values(&m, TensorId::Layer(0, LayerTensor::Q));
        let q1 = values(&m, TensorId::Layer(1, LayerTensor::Q));
        assert_ne!(q0, q1);
    }

    #[test]
    fn shapes_follow_the_config() {
        for cfg in [tiny_config(), llama2_7b_layer_config(2, 32)] {
            let m = SyntheticModel::new(cfg.clone(), 3);
            for id in model_tensor_ids(&cfg).into_iter().filter(|id| !is_big(&cfg, *id)) {
                let t = m.load(id).expect("tensor");
                assert_eq!(t.shape, id.expected_shape(&cfg), "{}", id.hf_name());
                assert!(t.data.iter().all(|v| v.is_finite()));
            }
        }
    }

    fn is_big(cfg: &LlamaConfig, id: TensorId) -> bool {
        id.expected_shape(cfg).iter().product::<usize>() > 1 << 20
    }

    #[test]
    fn tied_lm_head_is_the_embedding() {
        let m = SyntheticModel::new(tiny_config(), 9);
        assert_eq!(m.load(TensorId::LmHead).expect("lm_head"), m.load(TensorId::Embedding).expect("emb"));
        assert!(!model_tensor_ids(m.config()).contains(&TensorId::LmHead));
        let mut untied = tiny_config();
        untied.tie_word_embeddings = false;
        let u = SyntheticModel::new(untied, 9);
        assert_ne!(u.load(TensorId::LmHead).expect("lm_head"), u.load(TensorId::Embedding).expect("emb"));
        assert_eq!(model_tensor_ids(u.config()).last(), Some(&TensorId::LmHead));
    }

    #[test]
    fn bad_requests_are_errors() {
        let m = SyntheticModel::new(tiny_config(), 0);
        let err = m.load(TensorId::Layer(2, LayerTensor::Q)).expect_err("layer 2 of 2");
        assert!(
            matches!(&err, LoadError::MissingTensor { tensor, .. } if tensor == "model.layers.2.self_attn.q_proj.weight")
        );
        let mut bad = tiny_config();
        bad.num_key_value_heads = 3;
        let err = SyntheticModel::new(bad, 0).load(TensorId::Embedding).expect_err("invalid config");
        assert!(matches!(err, LoadError::Config { .. }), "{err}");
        assert_eq!(m.path(), Path::new("synthetic:seed=0"));
    }
}
