//! The quantized model: the integer weights, scales and tables that the integer reference
//! pass runs and the circuits constrain. This is the contract between crates.

pub mod dequant;
pub mod file;
pub mod manifest;

use serde::{Deserialize, Serialize};

use crate::fixed::tables::ROPE_FRAC;
use crate::fixed::Scale;

/// Bits of the integer weights (signed, symmetric: `[-127, 127]`).
pub const WEIGHT_BITS: u32 = 8;
/// Inputs per weight group: each group of `GROUP` consecutive weights of a row has its own
/// 16-bit scale code (like GGUF's 32-element blocks).
pub const GROUP: usize = 32;
/// Bits of the requantization multipliers (`M < 2^MULT_BITS`).
pub const MULT_BITS: u32 = 23;
/// Bits of quantized RMSNorm weights.
pub const NORM_WEIGHT_BITS: u32 = 16;

/// A matrix of 8-bit weights with a 16-bit scale code per group of [`GROUP`] inputs and
/// per-output-row requantization:
/// `y_j = rescale((Σ_i w_ji · c_j,⌊i/32⌋ · x_i) · mult_j, shift, out.bits)`.
///
/// The effective integer weight `w_ji · c_jg` is a fixed 24-bit constant, so a circuit
/// pays nothing extra for the group scales.
#[derive(Clone, Debug, PartialEq)]
pub struct QLinear {
    /// Output rows.
    pub rows: usize,
    /// Input columns.
    pub cols: usize,
    /// `rows × cols` weights in `[-127, 127]`, row-major.
    pub weight: Vec<i8>,
    /// `rows × ⌈cols / GROUP⌉` group scale codes (0 only for an all-zero group); `c = ⌈65535 · a_g / a_row⌉`.
    pub group_scale: Vec<u16>,
    /// One multiplier per output row, `0 ≤ mult < 2^MULT_BITS`.
    pub mult: Vec<i64>,
    /// The common right shift after multiplying (≥ 1).
    pub shift: u32,
    /// The output's fixed-point format.
    pub out: Scale,
}

/// An RMSNorm weight vector: `y_i = rescale(x_i · rsqrt · w_i, 23 + e + frac − out.frac, out.bits)`.
#[derive(Clone, Debug, PartialEq)]
pub struct QNorm {
    /// Weights, `weight_i ≈ g_i · 2^frac`, 16-bit signed.
    pub weight: Vec<i64>,
    /// Fractional bits of the weights.
    pub frac: u32,
    /// The output's fixed-point format.
    pub out: Scale,
    /// `eps` in the mean square's units (`2^(2·frac_in)`), at least 1.
    pub eps: i64,
}

/// The integer weights of one decoder block.
#[derive(Clone, Debug, PartialEq)]
pub struct QLayer {
    /// Pre-attention RMSNorm.
    pub attn_norm: QNorm,
    /// Query projection (output: query scale).
    pub q: QLinear,
    /// Key projection (output: key scale).
    pub k: QLinear,
    /// Value projection (output: value scale, also the attention heads' scale).
    pub v: QLinear,
    /// Output projection (input: value scale; output: residual scale).
    pub o: QLinear,
    /// Pre-MLP RMSNorm.
    pub ffn_norm: QNorm,
    /// Gate projection (output: 11 fractional bits, the SiLU table's input).
    pub gate: QLinear,
    /// Up projection.
    pub up: QLinear,
    /// Down projection (output: residual scale).
    pub down: QLinear,
    /// Attention-score requantization: `score = rescale(q·k · score_mult, score_shift, 32)`
    /// with 12 fractional bits; includes `1/√head_dim`.
    pub score_mult: i64,
    /// Shift of the score requantization.
    pub score_shift: u32,
    /// Scale of `silu(gate) · up` after its rescale (the down projection's input).
    pub mid: Scale,
}

impl QLinear {
    /// Groups per row.
    pub fn groups(&self) -> usize {
        self.cols.div_ceil(GROUP)
    }

    /// Row `j`'s effective integer weights `w_ji · c_jg`.
    pub fn effective_row(&self, j: usize) -> Vec<i32> {
        let g = self.groups();
        let codes = &self.group_scale[j * g..(j + 1) * g];
        self.weight[j * self.cols..(j + 1) * self.cols]
            .iter()
            .enumerate()
            .map(|(i, &w)| w as i32 * codes[i / GROUP] as i32)
            .collect()
    }
}

/// RoPE constants `cos, sin (pos · θ^(−2i/D)) · 2^14` for `pos < max_seq`, `i < D/2`.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeTable {
    /// Positions covered.
    pub max_seq: usize,
    /// `head_dim / 2`.
    pub half: usize,
    /// `cos[pos · half + i]`.
    pub cos: Vec<i64>,
    /// `sin[pos · half + i]`.
    pub sin: Vec<i64>,
}

impl RopeTable {
    /// Computes the table (f64, rounded half away from zero).
    pub fn generate(max_seq: usize, head_dim: usize, theta: f64) -> Self {
        let half = head_dim / 2;
        let one = (ROPE_FRAC as f64).exp2();
        let mut cos = Vec::with_capacity(max_seq * half);
        let mut sin = Vec::with_capacity(max_seq * half);
        for pos in 0..max_seq {
            for i in 0..half {
                let ang = pos as f64 * theta.powf(-(2.0 * i as f64) / head_dim as f64);
                let (s, c) = ang.sin_cos();
                cos.push((c * one).round() as i64);
                sin.push((s * one).round() as i64);
            }
        }
        RopeTable { max_seq, half, cos, sin }
    }
}

/// Activation scales chosen by calibration for one block.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerScales {
    /// Pre-attention RMSNorm output.
    pub attn_norm: Scale,
    /// Queries (before and after RoPE).
    pub q: Scale,
    /// Keys (before and after RoPE).
    pub k: Scale,
    /// Values and attention heads.
    pub v: Scale,
    /// Pre-MLP RMSNorm output.
    pub ffn_norm: Scale,
    /// Gate projection (fixed: the SiLU table's input scale).
    pub gate: Scale,
    /// Up projection.
    pub up: Scale,
    /// `silu(gate) · up`.
    pub mid: Scale,
}

/// Every activation scale of the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantParams {
    /// The residual stream (embeddings and every block's input and output).
    pub resid: Scale,
    /// Per block.
    pub layers: Vec<LayerScales>,
    /// Final RMSNorm output.
    pub final_norm: Scale,
    /// Logits.
    pub logits: Scale,
    /// Scale of attention scores (12 fractional bits, the exp table's input).
    pub score: Scale,
    /// Longest prompt the RoPE table covers.
    pub max_seq: usize,
}
