//! Which chunks a model is proved in.

use std::sync::Arc;

use zkinfer_circuits::block::{BlockConsts, BlockShape, Part, MIN_K};
use zkinfer_quantize::qmodel::file::QuantizedModel;

use super::ChainError;

/// One chunk of the chain: a block (or half of one) with its constants.
#[derive(Clone, Debug)]
pub struct ChunkSpec {
    /// Position in the chain.
    pub index: usize,
    /// The block.
    pub layer: usize,
    /// Which halves.
    pub part: Part,
    /// The circuit's constants.
    pub consts: Arc<BlockConsts>,
    /// The circuit's shape.
    pub shape: BlockShape,
}

/// The chunks of `model` for `t` tokens: one per block when the whole block fits
/// `2^max_k` rows, else its attention and MLP halves as two chunks.
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
                .map_err(|e| ChainError::Unsupported { layer, reason: e.to_string() })
        };
        let both = build(Part::Both)?;
        let parts = if BlockShape::of(&both).k <= max_k {
            vec![(Part::Both, both)]
        } else {
            vec![(Part::Attention, build(Part::Attention)?), (Part::Mlp, build(Part::Mlp)?)]
        };
        for (part, consts) in parts {
            let circuit = zkinfer_circuits::block::BlockCircuit::keygen(consts.clone());
            if circuit.shape().k > max_k {
                return Err(ChainError::TooLarge { layer, k: circuit.shape().k, max_k });
            }
            chunks.push(ChunkSpec { index: chunks.len(), layer, part, shape: circuit.shape(), consts });
        }
    }
    Ok(chunks)
}
