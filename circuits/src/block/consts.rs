//! The constants one block chunk is built from: weights, multipliers, norm weights and
//! scales of a quantized layer, checked and put in the form the chips take.

use halo2_proofs::plonk::Error;
use zkinfer_quantize::config::LlamaConfig;
use zkinfer_quantize::fixed::tables::{Tables, SILU_IN_BITS};
use zkinfer_quantize::fixed::Scale;
use zkinfer_quantize::int::ops::AttnShape;
use zkinfer_quantize::qmodel::{QLayer, QLinear, QuantParams, RopeTable};

use crate::attention::AttentionChip;
use crate::failure::{unsupported, Chip};
use crate::matmul::FixedMatrix;
use crate::norm::NormSite;
use crate::product::swiglu_site;
use crate::range::RangeLayout;
use crate::requant::requant_site;
use crate::rescale::RescaleSite;
use crate::residual::residual_site;
use crate::rope::rope_site;

/// A linear layer: fixed weights, per-row multipliers and the output rescale.
#[derive(Clone, Debug)]
pub struct Linear {
    /// Effective weights `[rows, cols]`.
    pub w: FixedMatrix,
    /// Per-row multipliers.
    pub mult: Vec<i64>,
    /// The output rescale (`requant_site`).
    pub site: RescaleSite,
    /// Output format.
    pub out: Scale,
}

impl Linear {
    fn new(l: &QLinear, in_bits: u32) -> Result<Self, Error> {
        let w = FixedMatrix::from_qlinear(l).map_err(|e| unsupported(Chip::Matmul, e.to_string()))?;
        Ok(Linear { w, mult: l.mult.clone(), site: requant_site(l, in_bits)?, out: l.out })
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        self.w.rows()
    }

    /// Input columns.
    pub fn cols(&self) -> usize {
        self.w.cols()
    }
}

/// The attention half: norm, q/k/v, RoPE, attention, o and the residual add.
#[derive(Clone, Debug)]
pub struct AttnConsts {
    /// Pre-attention RMSNorm.
    pub norm: NormSite,
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Output projection.
    pub o: Linear,
    /// RoPE of the queries.
    pub rope_q: RescaleSite,
    /// RoPE of the keys.
    pub rope_k: RescaleSite,
    /// The RoPE constants.
    pub rope: RopeTable,
    /// Score requantization multiplier.
    pub score_mult: i64,
    /// Score requantization shift.
    pub score_shift: u32,
    /// Score format.
    pub score: Scale,
}

/// The MLP half: norm, gate/up, SwiGLU, down and the residual add.
#[derive(Clone, Debug)]
pub struct MlpConsts {
    /// Pre-MLP RMSNorm.
    pub norm: NormSite,
    /// Gate projection.
    pub gate: Linear,
    /// Up projection.
    pub up: Linear,
    /// Down projection.
    pub down: Linear,
    /// SwiGLU's product rescale.
    pub swiglu: RescaleSite,
}

/// Everything a block chunk needs besides its input: which halves it proves and their
/// constants, the residual format and the shapes.
#[derive(Clone, Debug)]
pub struct BlockConsts {
    /// Model shape.
    pub config: LlamaConfig,
    /// Tokens.
    pub t: usize,
    /// Residual stream format.
    pub resid: Scale,
    /// The residual add's site.
    pub residual: RescaleSite,
    /// The attention half, if this chunk proves it.
    pub attn: Option<AttnConsts>,
    /// The MLP half, if this chunk proves it.
    pub mlp: Option<MlpConsts>,
    /// The nonlinearity tables.
    pub tables: Tables,
}

/// Which halves of a block a chunk proves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Part {
    /// Attention, then MLP: the whole block.
    #[default]
    Both,
    /// Norm, attention, output projection and the residual add.
    Attention,
    /// Norm, SwiGLU MLP and the residual add.
    Mlp,
}

impl Part {
    /// Whether the chunk proves the attention half.
    pub fn has_attention(self) -> bool {
        matches!(self, Part::Both | Part::Attention)
    }

    /// Whether the chunk proves the MLP half.
    pub fn has_mlp(self) -> bool {
        matches!(self, Part::Both | Part::Mlp)
    }
}

impl AttnConsts {
    /// The attention's shape for `t` tokens of a model shaped `c`.
    pub fn shape(&self, c: &LlamaConfig, t: usize) -> AttnShape {
        AttnShape {
            t,
            heads: c.num_attention_heads,
            kv_heads: c.num_key_value_heads,
            head_dim: c.head_dim,
            score_mult: self.score_mult,
            score_shift: self.score_shift,
            score: self.score,
            v: self.v.out,
        }
    }

    /// Rows the attention chip takes in the range layout `layout`.
    pub fn attention_rows(&self, c: &LlamaConfig, t: usize, layout: RangeLayout) -> Result<usize, Error> {
        AttentionChip::rows(&self.shape(c, t), self.q.out.bits, self.k.out.bits, layout)
    }
}

impl BlockConsts {
    /// The constants of `part` of `layer` for `t` tokens. `Error::Synthesis` when a scale
    /// or shape is outside what the chips accept (e.g. a gate narrower than the SiLU
    /// table's input).
    pub fn new(
        config: &LlamaConfig,
        params: &QuantParams,
        layer: &QLayer,
        tables: &Tables,
        rope: &RopeTable,
        t: usize,
        part: Part,
    ) -> Result<Self, Error> {
        let resid = params.resid;
        if t == 0 || t > rope.max_seq {
            return Err(unsupported(
                Chip::Block,
                format!("{t} tokens (1 to the RoPE table's {} are supported)", rope.max_seq),
            ));
        }
        let attn = if part.has_attention() {
            let norm = NormSite::new(&layer.attn_norm, resid.bits)?;
            let nb = layer.attn_norm.out.bits;
            let (q, k, v) =
                (Linear::new(&layer.q, nb)?, Linear::new(&layer.k, nb)?, Linear::new(&layer.v, nb)?);
            let o = Linear::new(&layer.o, layer.v.out.bits)?;
            Some(AttnConsts {
                rope_q: rope_site(q.out.bits, q.out.bits)?,
                rope_k: rope_site(k.out.bits, k.out.bits)?,
                norm,
                q,
                k,
                v,
                o,
                rope: rope.clone(),
                score_mult: layer.score_mult,
                score_shift: layer.score_shift,
                score: params.score,
            })
        } else {
            None
        };
        if let Some(a) = &attn {
            a.attention_rows(config, t, RangeLayout::DEFAULT)?;
        }
        let mlp = if part.has_mlp() {
            let norm = NormSite::new(&layer.ffn_norm, resid.bits)?;
            let nb = layer.ffn_norm.out.bits;
            let (gate, up) = (Linear::new(&layer.gate, nb)?, Linear::new(&layer.up, nb)?);
            if gate.out.bits < SILU_IN_BITS {
                let why = format!(
                    "a gate of {} bits, narrower than the SiLU table's {SILU_IN_BITS}-bit input",
                    gate.out.bits
                );
                return Err(unsupported(Chip::Swiglu, why));
            }
            let swiglu = swiglu_site(gate.out.bits, up.out, layer.mid)?;
            let down = Linear::new(&layer.down, layer.mid.bits)?;
            Some(MlpConsts { norm, gate, up, down, swiglu })
        } else {
            None
        };
        Ok(BlockConsts {
            config: config.clone(),
            t,
            resid,
            residual: residual_site(resid.bits, resid.bits)?,
            attn,
            mlp,
            tables: tables.clone(),
        })
    }

    /// Which halves these constants cover.
    pub fn part(&self) -> Part {
        match (self.attn.is_some(), self.mlp.is_some()) {
            (true, false) => Part::Attention,
            (false, true) => Part::Mlp,
            _ => Part::Both,
        }
    }
}
