//! One chunk of the chain on its own: the input the integer reference gives it, and its proof.
//!
//! [`chunk_inputs`] runs the integer model once and returns, for every chunk, what it is
//! proved on and the public instances an honest proof of it has; [`prove_chunk`] proves
//! one chunk from that alone. [`super::prove_chain`] is the two in sequence; a distributed
//! prover hands each chunk's [`ChunkInput`] to another machine.

use std::sync::Arc;

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::plonk::VerifyingKey;
use zkinfer_circuits::argmax::Prior;
use zkinfer_circuits::block::{BlockCircuit, BlockConsts, Part};
use zkinfer_circuits::failure;
use zkinfer_circuits::head::{HeadCircuit, HeadError};
use zkinfer_quantize::int::{forward_layer, ops, IntLayerTrace};
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::qmodel::QLayer;

use super::plan::{head_consts, ChunkKind};
use super::run::{prove_one, srs_at};
use super::{ChainError, ChunkPhase, ChunkReport};
use crate::bundle::ChunkProof;
use crate::keys::{KeyCache, VkHash};
use crate::prove::ProveError;
use crate::srs::{Srs, SrsCache};

/// What one chunk is proved on, from the integer reference pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkInput {
    /// A block chunk maps the residual stream `input` (`[t, d]`) to `output`.
    Block {
        /// The chunk's input residual stream.
        input: Vec<i64>,
        /// Its output residual stream.
        output: Vec<i64>,
    },
    /// A head slice reads the last block's output `input` and the earlier slices' best
    /// `prior` (`None` for the first slice), and yields the best after it.
    Head {
        /// The last block's output residual stream.
        input: Vec<i64>,
        /// The earlier slices' best.
        prior: Option<Prior>,
        /// The best after this slice.
        best: Prior,
    },
}

impl ChunkInput {
    /// The public instances of an honest proof of this chunk.
    pub fn instances(&self) -> Vec<Vec<Fr>> {
        match self {
            ChunkInput::Block { input, output } => BlockCircuit::instances(input, output),
            ChunkInput::Head { input, prior, best } => HeadCircuit::instances(input, *prior, *best),
        }
    }
}

/// Runs the integer model on `tokens` and returns the input of each chunk of `kinds` (a
/// chain's chunks in order: blocks, then head slices).
pub fn chunk_inputs(
    model: &QuantizedModel,
    tokens: &[u32],
    kinds: &[ChunkKind],
) -> Result<Vec<ChunkInput>, ChainError> {
    let t = tokens.len();
    zkinfer_quantize::float::check_tokens(tokens, model.config().vocab_size)?;
    let cfg = model.config();
    let params = &model.manifest.body.params;
    let (tables, rope) = (model.tables()?, model.rope()?);
    let mut x = ops::embed(&model.embedding()?, tokens);
    let mut current: Option<(usize, QLayer, IntLayerTrace)> = None;
    let mut best: Option<Prior> = None;
    let mut inputs = Vec::with_capacity(kinds.len());
    for (index, kind) in kinds.iter().enumerate() {
        match *kind {
            ChunkKind::Block { layer, part, .. } => {
                if current.as_ref().is_none_or(|(l, _, _)| *l != layer) {
                    let q = model.layer(layer)?;
                    let trace = forward_layer(cfg, params, &q, &tables, &rope, &x, t);
                    current = Some((layer, q, trace));
                }
                let Some((_, _, trace)) = &current else {
                    return Err(ChainError::ChunkOrder(format!("no block before chunk {index}")));
                };
                let (input, output) = match part {
                    Part::Both => (&x, &trace.out),
                    Part::Attention => (&x, &trace.resid_mid),
                    Part::Mlp => (&trace.resid_mid, &trace.out),
                };
                inputs.push(ChunkInput::Block { input: input.clone(), output: output.clone() });
                if matches!(part, Part::Both | Part::Mlp) {
                    x = trace.out.clone();
                }
            }
            ChunkKind::Head { lo, hi, .. } => {
                let consts = head_consts(model, t, lo..hi)?;
                let slice_best = consts.best(&x, best).map_err(head_error)?;
                inputs.push(ChunkInput::Head { input: x.clone(), prior: best, best: slice_best });
                best = Some(slice_best);
            }
        }
    }
    Ok(inputs)
}

fn head_error(e: HeadError) -> ChainError {
    ChainError::Head(e.to_string())
}

fn check_len(index: usize, what: &'static str, expected: usize, got: usize) -> Result<(), ChainError> {
    if expected == got {
        Ok(())
    } else {
        Err(ChainError::InputShape { index, what, expected, got })
    }
}

/// Proves chunk `index` of `model` for `t` tokens: a `kind` chunk on `input`, with the
/// proving key from `key_cache` when given (else made and dropped), which must hash to the
/// verifying key `vk_hash` the keys file lists. `srs` is downsized to the chunk's `k`.
#[allow(clippy::too_many_arguments)]
pub fn prove_chunk(
    model: &QuantizedModel,
    t: usize,
    index: usize,
    kind: ChunkKind,
    vk_hash: &VkHash,
    input: &ChunkInput,
    srs: &Srs,
    srs_cache: &SrsCache,
    key_cache: Option<&KeyCache>,
) -> Result<(ChunkProof, ChunkReport), ChainError> {
    let (proof, report, _) = prove_chunk_keyed(
        model,
        t,
        index,
        kind,
        Some(vk_hash),
        input,
        srs,
        srs_cache,
        key_cache,
        &mut |_| {},
    )?;
    Ok((proof, report))
}

/// [`prove_chunk`], returning the chunk's verifying key too (from its proving key); with no
/// `vk_hash` listed, the key is whatever the model's chunk circuit gives (a fresh run that
/// makes its keys file as it proves). `phase` is told as each phase of the proof starts.
#[allow(clippy::too_many_arguments)]
pub(super) fn prove_chunk_keyed(
    model: &QuantizedModel,
    t: usize,
    index: usize,
    kind: ChunkKind,
    vk_hash: Option<&VkHash>,
    input: &ChunkInput,
    srs: &Srs,
    srs_cache: &SrsCache,
    key_cache: Option<&KeyCache>,
    phase: &mut dyn FnMut(ChunkPhase),
) -> Result<(ChunkProof, ChunkReport, VerifyingKey<G1Affine>), ChainError> {
    let d = model.config().hidden_size;
    let (proof, keygen_seconds, prove_seconds, vk) = match (kind, input) {
        (ChunkKind::Block { layer, part, shape }, ChunkInput::Block { input, output }) => {
            check_len(index, "block input", t.saturating_mul(d), input.len())?;
            check_len(index, "block output", t.saturating_mul(d), output.len())?;
            let cfg = model.config();
            let params = &model.manifest.body.params;
            let q = model.layer(layer)?;
            let consts = BlockConsts::new(cfg, params, &q, &model.tables()?, &model.rope()?, t, part)
                .map_err(|e| ChainError::Unsupported { layer, reason: failure::describe(&e) })?;
            let circuit = BlockCircuit::new(Arc::new(consts), input.clone());
            if circuit.shape() != shape {
                return Err(ChainError::BadKeys(format!(
                    "chunk {index}: the keys' shape is not this model's"
                )));
            }
            // A bad input fails now, not after keygen.
            circuit.check_input().map_err(|f| ChainError::Prove {
                index,
                kind: Box::new(kind),
                source: ProveError::Refused(Box::new(f)),
            })?;
            let srs_k = srs_at(srs, srs_cache, kind.k())?;
            let instances = BlockCircuit::instances(input, output);
            prove_one(model, index, &kind, vk_hash, circuit, instances, &srs_k, key_cache, t, phase)?
        }
        (ChunkKind::Head { lo, hi, shape }, ChunkInput::Head { input, prior, best }) => {
            check_len(index, "head input", t.saturating_mul(d), input.len())?;
            let srs_k = srs_at(srs, srs_cache, kind.k())?;
            let consts = Arc::new(head_consts(model, t, lo..hi)?);
            let instances = HeadCircuit::instances(input, *prior, *best);
            let circuit = HeadCircuit::new(consts, input.clone(), *prior).map_err(head_error)?;
            if circuit.shape() != shape {
                return Err(ChainError::BadKeys(format!(
                    "chunk {index}: the keys' shape is not this model's"
                )));
            }
            prove_one(model, index, &kind, vk_hash, circuit, instances, &srs_k, key_cache, t, phase)?
        }
        (kind, _) => {
            return Err(ChainError::ChunkOrder(format!(
                "chunk {index} ({kind}) was given another kind's input"
            )))
        }
    };
    let report = ChunkReport { index, kind, keygen_seconds, prove_seconds, proof_bytes: proof.proof.len() };
    Ok((proof, report, vk))
}
