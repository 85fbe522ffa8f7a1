//! Rebuilding a keys file from the model: what makes a verifier's keys its own rather than
//! the prover's.

use halo2_proofs::halo2curves::bn256::G1Affine;
use halo2_proofs::plonk::VerifyingKey;
use zkinfer_quantize::qmodel::file::QuantizedModel;

use super::keys_file::ModelKeys;
use super::plan::{plan_chunks, ChunkConsts, ChunkSpec};
use super::run::ChainError;
use crate::keys::{keygen_vk, vk_hash};
use crate::srs::{Srs, SrsCache};
use crate::verifier_params::VerifierParams;

/// The verifying key of one planned chunk, on `srs` downsized to the chunk's `k`.
pub fn chunk_vk(spec: &ChunkSpec, srs: &Srs, cache: &SrsCache) -> Result<VerifyingKey<G1Affine>, ChainError> {
    let srs = cache.downsized(srs, spec.kind.k())?;
    let vk = match &spec.consts {
        ChunkConsts::Block(c) => keygen_vk(&srs, &zkinfer_circuits::block::BlockCircuit::keygen(c.clone())),
        ChunkConsts::Head(c) => keygen_vk(&srs, &zkinfer_circuits::head::HeadCircuit::keygen(c.clone())),
    };
    vk.map_err(|source| ChainError::ChunkKeys { index: spec.index, kind: Box::new(spec.kind), source })
}

/// Checks that `keys` is exactly what [`setup`](super::setup) makes for `model` on `srs`:
/// the same model id and SRS, the model's chunk plan for the keys' token count (every
/// block, in order, then head slices covering the vocabulary) at the keys' largest `k`, and
/// every chunk's verifying key rebuilt from the model's weights. Stops at the first
/// difference; `progress(done, total)` after each rebuilt key.
pub fn check_keys(
    model: &QuantizedModel,
    keys: &ModelKeys,
    srs: &Srs,
    cache: &SrsCache,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), ChainError> {
    if model.model_id() != keys.model_id {
        return Err(ChainError::BadKeys(format!(
            "the keys are for model {}, not for this model {}",
            keys.model_id,
            model.model_id()
        )));
    }
    if VerifierParams::from_srs(srs).digest() != keys.srs_verifier_digest {
        return Err(ChainError::SrsMismatch);
    }
    let max_k = keys
        .chunks
        .iter()
        .map(|c| c.kind.k())
        .max()
        .ok_or_else(|| ChainError::BadKeys("the keys list no chunks".into()))?;
    let specs = plan_chunks(model, keys.tokens, max_k)?;
    if specs.len() != keys.chunks.len() {
        return Err(ChainError::BadKeys(format!(
            "the keys list {} chunks; the model's plan for {} tokens at k ≤ {max_k} has {}",
            keys.chunks.len(),
            keys.tokens,
            specs.len()
        )));
    }
    for (index, (spec, key)) in specs.iter().zip(&keys.chunks).enumerate() {
        if spec.kind != key.kind {
            return Err(ChainError::BadKeys(format!(
                "chunk {index}: the keys list {}, the model's plan has {}",
                key.kind, spec.kind
            )));
        }
    }
    for (index, (spec, key)) in specs.iter().zip(&keys.chunks).enumerate() {
        if vk_hash(&chunk_vk(spec, srs, cache)?) != key.vk_hash {
            return Err(ChainError::BadKeys(format!(
                "chunk {index} ({}): the listed verifying key is not the one the model's weights give",
                spec.kind
            )));
        }
        progress(index + 1, specs.len());
    }
    Ok(())
}
