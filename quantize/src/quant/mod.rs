//! Quantization of a float model into a quantized model file, streaming one block at a time.

pub mod calibrate;
pub mod weights;

use std::path::Path;

use crate::error::Error;
use crate::fixed::tables::{Tables, EXP_IN_FRAC};
use crate::load::WeightSource;
use crate::names::{LayerTensor, TensorId};
use crate::qmodel::file::ModelWriter;
use crate::qmodel::manifest::{Manifest, ModelBody, SourceInfo, FORMAT_VERSION};
use crate::qmodel::{QLayer, QuantParams, RopeTable};

use weights::{multipliers, quantize_linear, quantize_norm, quantize_rows, with_multipliers, QuantizedRows};

/// Settings of a quantization run.
#[derive(Clone, Debug)]
pub struct QuantOptions {
    /// Longest prompt the quantized model will accept (size of the RoPE table).
    pub max_seq: usize,
    /// Kind of the source for the manifest (`hf`, `gguf`, `synthetic`).
    pub source_kind: String,
    /// Tokenizer to store beside the model.
    pub tokenizer: Option<crate::tokenizer::TokenizerSpec>,
}

impl Default for QuantOptions {
    fn default() -> Self {
        QuantOptions { max_seq: 1024, source_kind: "hf".into(), tokenizer: None }
    }
}

/// A step of a quantization run, for progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Float calibration pass (blocks done, total).
    Calibrate,
    /// Quantizing and writing (blocks done, total).
    Write,
}

/// Quantizes block `l` with the chosen scales, loading one tensor at a time.
pub fn quantize_layer(src: &dyn WeightSource, params: &QuantParams, l: usize) -> Result<QLayer, Error> {
    let cfg = src.config();
    let s = &params.layers[l];
    let r = params.resid;
    let name = |t: &str| format!("layers.{l}.{t}");
    let load = |t| src.load(TensorId::Layer(l, t));
    let eps = cfg.rms_norm_eps;
    let score_factor =
        (EXP_IN_FRAC as f64 - s.q.frac as f64 - s.k.frac as f64).exp2() / (cfg.head_dim as f64).sqrt();
    let (sm, score_shift) = multipliers(&name("score"), &[score_factor])?;
    let attn_norm =
        quantize_norm(&name("attn_norm"), &load(LayerTensor::AttnNorm)?, r.frac, eps, s.attn_norm)?;
    let ffn_norm = quantize_norm(&name("ffn_norm"), &load(LayerTensor::FfnNorm)?, r.frac, eps, s.ffn_norm)?;
    let (an, fnf) = (attn_norm.out.frac, ffn_norm.out.frac);
    Ok(QLayer {
        q: quantize_linear(&name("q"), &load(LayerTensor::Q)?, an, s.q)?,
        k: quantize_linear(&name("k"), &load(LayerTensor::K)?, an, s.k)?,
        v: quantize_linear(&name("v"), &load(LayerTensor::V)?, an, s.v)?,
        o: quantize_linear(&name("o"), &load(LayerTensor::O)?, s.v.frac, r)?,
        gate: quantize_linear(&name("gate"), &load(LayerTensor::Gate)?, fnf, s.gate)?,
        up: quantize_linear(&name("up"), &load(LayerTensor::Up)?, fnf, s.up)?,
        down: quantize_linear(&name("down"), &load(LayerTensor::Down)?, s.mid.frac, r)?,
        attn_norm,
        ffn_norm,
        score_mult: sm[0],
        score_shift,
        mid: s.mid,
    })
}

/// Calibrates on `prompts` and writes the quantized model to `out`, holding about one
/// block in memory. `progress(stage, done, total)` reports blocks.
pub fn quantize_to_file(
    src: &dyn WeightSource,
    prompts: &[Vec<u32>],
    opts: &QuantOptions,
    out: &Path,
    progress: &mut dyn FnMut(Stage, usize, usize),
) -> Result<Manifest, Error> {
    let cfg = src.config().clone();
    if prompts.is_empty() {
        return Err(Error::Quantize("no calibration prompts".into()));
    }
    if opts.max_seq == 0 {
        return Err(Error::Quantize("max_seq must be positive".into()));
    }
    let stats = calibrate::collect(src, prompts, &mut |d, t| progress(Stage::Calibrate, d, t))?;
    let params = calibrate::choose(&cfg, &stats, opts.max_seq);
    let total = cfg.num_hidden_layers + 2;

    let mut w = ModelWriter::create(out)?;
    let tables = w.tables(&Tables::generate())?;
    let rope = w.rope(&RopeTable::generate(opts.max_seq, cfg.head_dim, cfg.rope_theta))?;

    let emb = src.load(TensorId::Embedding)?;
    let emb_rows = quantize_rows("embedding", &emb)?;
    let emb_scales = emb_rows.row_scale.clone();
    let d = emb.cols();
    drop(emb);
    // The embedding's "input" is the one-hot token: 0 fractional bits.
    let q_emb = with_multipliers("embedding", emb_rows, d, 0, params.resid)?;
    let embedding = w.linear(&q_emb, None)?;
    progress(Stage::Write, 1, total);

    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for l in 0..cfg.num_hidden_layers {
        let ql = quantize_layer(src, &params, l)?;
        layers.push(w.layer(&ql)?);
        progress(Stage::Write, l + 2, total);
    }

    let fnorm = src.load(TensorId::FinalNorm)?;
    let q_norm = quantize_norm("final_norm", &fnorm, params.resid.frac, cfg.rms_norm_eps, params.final_norm)?;
    let final_norm = w.norm(&q_norm)?;
    let lm_head = if cfg.tie_word_embeddings {
        // Same 8-bit rows as the embedding; only the multipliers differ.
        let rows =
            QuantizedRows { weight: q_emb.weight, group_scale: q_emb.group_scale, row_scale: emb_scales };
        let head = with_multipliers("lm_head", rows, d, q_norm.out.frac, params.logits)?;
        w.linear(&head, Some((embedding.weight.clone(), embedding.group_scale.clone())))?
    } else {
        drop(q_emb);
        let head = src.load(TensorId::LmHead)?;
        let q_head = quantize_linear("lm_head", &head, q_norm.out.frac, params.logits)?;
        w.linear(&q_head, None)?
    };
    progress(Stage::Write, total, total);

    let body = ModelBody { config: cfg, params, tables, rope, embedding, layers, final_norm, lm_head };
    let manifest = Manifest {
        format: "zkinfer-quantized-model".into(),
        version: FORMAT_VERSION,
        model_id: body.model_id(),
        body,
        source: SourceInfo {
            path: src.path().display().to_string(),
            kind: opts.source_kind.clone(),
            quantized_by: format!("zkinfer {}", env!("CARGO_PKG_VERSION")),
            calibration_tokens: prompts.iter().map(Vec::len).collect(),
        },
        tokenizer: opts.tokenizer.clone(),
    };
    w.finish(&manifest)?;
    Ok(manifest)
}
