//! Which chunks a model is proved in.

use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zkinfer_circuits::block::{BlockCircuit, BlockConsts, BlockShape, Part, MIN_K};
use zkinfer_circuits::failure;
use zkinfer_circuits::head::{vocab_slices, HeadCircuit, HeadConsts, HeadShape};
use zkinfer_quantize::qmodel::file::QuantizedModel;

use super::ChainError;

/// What a chunk proves, and its circuit's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ChunkKind {
    /// A block, or one of its halves.
    Block {
        /// The block.
        layer: usize,
        /// Which halves.
        part: Part,
        /// The circuit's shape.
        shape: BlockShape,
    },
    /// The final norm, the `lm_head` rows `lo..hi` and their argmax.
    Head {
        /// First vocabulary row.
        lo: usize,
        /// One past the last.
        hi: usize,
        /// The circuit's shape.
        shape: HeadShape,
    },
}

impl ChunkKind {
    /// `log2` of the circuit's rows.
    pub fn k(&self) -> u32 {
        match self {
            ChunkKind::Block { shape, .. } => shape.k,
            ChunkKind::Head { shape, .. } => shape.k,
        }
    }
}

impl std::fmt::Display for ChunkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChunkKind::Block { layer, part, .. } => write!(f, "block {layer} ({part:?})"),
            ChunkKind::Head { lo, hi, .. } => write!(f, "head, vocabulary {lo}..{hi}"),
        }
    }
}

/// A chunk's circuit constants.
#[derive(Clone, Debug)]
pub enum ChunkConsts {
    /// A block chunk's.
    Block(Arc<BlockConsts>),
    /// A head slice's.
    Head(Arc<HeadConsts>),
}

/// One chunk of the chain.
#[derive(Clone, Debug)]
pub struct ChunkSpec {
    /// Position in the chain.
    pub index: usize,
    /// What it proves.
    pub kind: ChunkKind,
    /// The circuit's constants.
    pub consts: ChunkConsts,
}

/// The head slice `vocab` of `model` for `t` tokens.
pub fn head_consts(model: &QuantizedModel, t: usize, vocab: Range<usize>) -> Result<HeadConsts, ChainError> {
    let params = &model.manifest.body.params;
    HeadConsts::new(&model.final_norm()?, &model.lm_head()?, &model.tables()?, params.resid, t, vocab)
        .map_err(|e| ChainError::Head(e.to_string()))
}

/// The chunks of `model` for `t` tokens: one per block when the whole block fits
/// `2^max_k` rows, else its attention and MLP halves; then the head, in as few vocabulary
/// slices as fit.
pub fn plan_chunks(model: &QuantizedModel, t: usize, max_k: u32) -> Result<Vec<ChunkSpec>, ChainError> {
    let cfg = model.config();
    let params = &model.manifest.body.params;
    let tables = model.tables()?;
    let rope = model.rope()?;
    let max_k = max_k.max(MIN_K);
    let mut chunks = vec![];
    for layer in 0..cfg.num_hidden_layers {
        let q = model.layer(layer)?;
        let build = |part| {
            BlockConsts::new(cfg, params, &q, &tables, &rope, t, part)
                .map(Arc::new)
                .map_err(|e| ChainError::Unsupported { layer, reason: failure::describe(&e) })
        };
        let both = build(Part::Both)?;
        let parts = if BlockShape::of(&both).k <= max_k {
            vec![(Part::Both, both)]
        } else {
            vec![(Part::Attention, build(Part::Attention)?), (Part::Mlp, build(Part::Mlp)?)]
        };
        for (part, consts) in parts {
            let shape = BlockCircuit::keygen(consts.clone()).shape();
            if shape.k > max_k {
                return Err(ChainError::TooLarge { layer, k: shape.k, max_k });
            }
            let kind = ChunkKind::Block { layer, part, shape };
            chunks.push(ChunkSpec { index: chunks.len(), kind, consts: ChunkConsts::Block(consts) });
        }
    }
    let lm_head = model.lm_head()?;
    let slices = vocab_slices(lm_head.rows, lm_head.cols, lm_head.out.bits, max_k).ok_or_else(|| {
        ChainError::Head(format!(
            "the lm_head ({} × {}) does not fit 2^{max_k} rows",
            lm_head.rows, lm_head.cols
        ))
    })?;
    for vocab in slices {
        let consts = Arc::new(head_consts(model, t, vocab.clone())?);
        let shape = HeadCircuit::keygen(consts.clone()).shape();
        let kind = ChunkKind::Head { lo: vocab.start, hi: vocab.end, shape };
        chunks.push(ChunkSpec { index: chunks.len(), kind, consts: ChunkConsts::Head(consts) });
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use halo2_proofs::halo2curves::bn256::Fr;
    use halo2_proofs::plonk::ConstraintSystem;
    use zkinfer_circuits::block::BlockConfig;

    use super::*;

    /// A block shape written before shapes chose their limb width and matmul lanes (keys
    /// files and bundles from then) reads as 8-bit limbs and 32 lanes, and declares exactly
    /// the columns it did then (the tiny block's 67 advice columns and 19 lookups), so its
    /// verifying keys still come out the same.
    #[test]
    fn a_shape_from_before_limbs_and_lanes_keeps_its_columns() {
        let old = r#"{"Block":{"layer":0,"part":"Both","shape":{"t":8,"attention":true,"mlp":true,
            "elem_lanes":1,"k":15,"stacked":true,"pool_lanes":3}}}"#;
        let kind: ChunkKind = serde_json::from_str(old).expect("an old shape reads");
        let ChunkKind::Block { shape, .. } = kind else { panic!("a block") };
        assert_eq!((shape.limb_bits, shape.matmul_lanes), (8, 32));
        let mut cs = ConstraintSystem::<Fr>::default();
        BlockConfig::configure(&mut cs, shape);
        assert_eq!((cs.num_advice_columns(), cs.num_fixed_columns(), cs.lookups().len()), (67, 138, 19));
        let text = serde_json::to_string(&kind).expect("writes");
        assert!(text.contains("\"limb_bits\":8") && text.contains("\"matmul_lanes\":32"), "{text}");
    }
}
