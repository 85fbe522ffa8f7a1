//! Calibration: run the float model over sample prompts, record the largest magnitude at
//! every activation site, and choose each site's fixed-point scale from it.

use crate::config::LlamaConfig;
use crate::error::Error;
use crate::fixed::tables::{EXP_IN_FRAC, SILU_FRAC};
use crate::fixed::Scale;
use crate::float::{self, ops::max_abs, FloatLayer};
use crate::load::WeightSource;
use crate::names::TensorId;
use crate::qmodel::{LayerScales, QuantParams};

/// Activation width of every site but the residual stream, scores and logits.
pub const ACT_BITS: u32 = 24;
/// Width of the residual stream, attention scores and logits.
pub const WIDE_BITS: u32 = 32;
/// Margin over the calibrated maximum: a scale holds `HEADROOM ×` the largest value seen.
pub const HEADROOM: f64 = 2.0;
/// Finest scale any site gets.
pub const MAX_FRAC: u32 = 20;

/// Largest magnitudes seen in one block.
#[derive(Clone, Copy, Debug, Default)]
pub struct LayerStats {
    /// Pre-attention norm output.
    pub attn_norm: f32,
    /// Queries (before and after RoPE).
    pub q: f32,
    /// Keys (before and after RoPE).
    pub k: f32,
    /// Values.
    pub v: f32,
    /// Pre-MLP norm output.
    pub ffn_norm: f32,
    /// Up projection.
    pub up: f32,
    /// `silu(gate)·up`.
    pub mid: f32,
}

/// Largest magnitudes seen over every calibration prompt.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Residual stream (embeddings, mid-block and block outputs).
    pub resid: f32,
    /// Per block.
    pub layers: Vec<LayerStats>,
    /// Final norm output.
    pub final_norm: f32,
    /// Logits.
    pub logits: f32,
}

/// Runs the float model over `prompts`, one block at a time; `progress(done, total)`.
pub fn collect(
    src: &dyn WeightSource,
    prompts: &[Vec<u32>],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Stats, Error> {
    let cfg = src.config().clone();
    for p in prompts {
        float::check_tokens(p, cfg.vocab_size)?;
    }
    let total = cfg.num_hidden_layers + 1;
    let emb = src.load(TensorId::Embedding)?;
    let mut xs: Vec<Vec<f32>> = prompts.iter().map(|p| float::embed(&emb, p)).collect();
    drop(emb);
    let mut st = Stats { resid: xs.iter().map(|x| max_abs(x)).fold(0.0, f32::max), ..Default::default() };
    for l in 0..cfg.num_hidden_layers {
        let w = FloatLayer::load(src, l)?;
        let mut ls = LayerStats::default();
        for (x, p) in xs.iter_mut().zip(prompts) {
            let tr = float::forward_layer(&cfg, &w, x, p.len());
            ls.attn_norm = ls.attn_norm.max(max_abs(&tr.attn_norm));
            ls.q = ls.q.max(max_abs(&tr.q)).max(max_abs(&tr.q_rope));
            ls.k = ls.k.max(max_abs(&tr.k)).max(max_abs(&tr.k_rope));
            ls.v = ls.v.max(max_abs(&tr.v));
            ls.ffn_norm = ls.ffn_norm.max(max_abs(&tr.ffn_norm));
            ls.up = ls.up.max(max_abs(&tr.up));
            ls.mid = ls.mid.max(max_abs(&tr.mid));
            st.resid = st.resid.max(max_abs(&tr.resid_mid)).max(max_abs(&tr.out));
            *x = tr.out;
        }
        st.layers.push(ls);
        progress(l + 1, total);
    }
    let norm = src.load(TensorId::FinalNorm)?;
    let head = src.load(TensorId::LmHead)?;
    for (x, p) in xs.iter().zip(prompts) {
        let n = float::ops::rmsnorm(x, &norm.data, cfg.rms_norm_eps);
        st.final_norm = st.final_norm.max(max_abs(&n));
        let logits = float::ops::matmul(&n, p.len(), &head.data, cfg.vocab_size);
        st.logits = st.logits.max(max_abs(&logits));
    }
    progress(total, total);
    Ok(st)
}

/// The finest scale of `bits` signed bits that holds `HEADROOM · max` (at most `MAX_FRAC`
/// fractional bits).
pub fn scale_for(max: f32, bits: u32) -> Scale {
    let lim = ((1u64 << (bits - 1)) - 1) as f64;
    let m = (max as f64 * HEADROOM).max(1e-30);
    let frac = (lim / m).log2().floor().clamp(0.0, MAX_FRAC as f64) as u32;
    Scale::new(frac, bits)
}

/// Chooses every site's scale from calibration statistics.
pub fn choose(cfg: &LlamaConfig, st: &Stats, max_seq: usize) -> QuantParams {
    let layers = st
        .layers
        .iter()
        .map(|s| {
            let up = scale_for(s.up, ACT_BITS);
            let mut mid = scale_for(s.mid, ACT_BITS);
            mid.frac = mid.frac.min(SILU_FRAC + up.frac);
            LayerScales {
                attn_norm: scale_for(s.attn_norm, ACT_BITS),
                q: scale_for(s.q, ACT_BITS),
                k: scale_for(s.k, ACT_BITS),
                v: scale_for(s.v, ACT_BITS),
                ffn_norm: scale_for(s.ffn_norm, ACT_BITS),
                gate: Scale::new(SILU_FRAC, ACT_BITS),
                up,
                mid,
            }
        })
        .collect();
    debug_assert_eq!(st.layers.len(), cfg.num_hidden_layers);
    QuantParams {
        resid: scale_for(st.resid, WIDE_BITS),
        layers,
        final_norm: scale_for(st.final_norm, ACT_BITS),
        logits: scale_for(st.logits, WIDE_BITS),
        score: Scale::new(EXP_IN_FRAC, WIDE_BITS),
        max_seq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_hold_twice_the_maximum() {
        let s = scale_for(22_000.0, 32);
        assert!(22_000.0 * 2.0 * (s.frac as f64).exp2() <= (1u64 << 31) as f64);
        assert!(22_000.0 * 2.0 * ((s.frac + 1) as f64).exp2() > (1u64 << 31) as f64);
        assert_eq!(s.frac, 15);
        assert_eq!(scale_for(0.0, 24).frac, MAX_FRAC);
        assert_eq!(scale_for(1e9, 24).frac, 0);
    }
}
