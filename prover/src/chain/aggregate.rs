//! A proved chain as one aggregated proof: the bundle's chunk proofs, each with its
//! [`Role`] in the chain, handed to [`crate::aggregate::aggregate`].

use snark_verifier_sdk::Snark;

use super::keys_file::ModelKeys;
use super::plan::ChunkKind;
use super::run::{verify_chain, ChainError, ChainOutcome};
use crate::aggregate::{aggregate, AggregatedProof, AggregationParams, ModelId, Role};
use crate::bundle::Bundle;
use crate::prove::Proof;
use crate::snark::to_snark;
use crate::verifier_params::VerifierParams;

/// The role of each chunk of `keys`, in chain order: blocks, then the head slices (the
/// first one without a prior).
pub fn chain_roles(keys: &ModelKeys) -> Vec<Role> {
    let mut first_slice = true;
    keys.chunks
        .iter()
        .map(|chunk| match chunk.kind {
            ChunkKind::Block { .. } => Role::Block,
            ChunkKind::Head { .. } if first_slice => {
                first_slice = false;
                Role::HeadFirst
            }
            ChunkKind::Head { .. } => Role::HeadNext,
        })
        .collect()
}

/// The model id a manifest id (64 hex digits) stands for in an aggregated proof.
pub fn model_id_of(id: &str) -> Result<ModelId, ChainError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(id, &mut bytes)
        .map_err(|_| ChainError::BadKeys(format!("model id {id:?} is not 64 hex digits")))?;
    Ok(ModelId(bytes))
}

/// Verifies `bundle` against `keys` (as [`verify_chain`] does) and aggregates its chunk
/// proofs into one EVM-verifiable proof with `params`, whose SRS must have the same `τ` as
/// the chunk proofs' (a larger SRS of the same ceremony, or the same dev SRS). Returns the
/// proof and what the bundle showed.
pub fn aggregate_bundle(
    bundle: &Bundle,
    keys: &ModelKeys,
    params: &AggregationParams<'_>,
) -> Result<(AggregatedProof, ChainOutcome), ChainError> {
    let vp = VerifierParams::from_srs(params.srs);
    let outcome = verify_chain(bundle, keys, &vp)?;
    let model_id = model_id_of(&keys.model_id)?;
    let proof = aggregate(&chain_snarks(bundle, keys, &vp), &chain_roles(keys), &model_id, params)?;
    Ok((proof, outcome))
}

/// The bundle's chunk proofs as snarks under the keys' verifying keys (not verified: see
/// [`verify_chain`]).
pub fn chain_snarks(bundle: &Bundle, keys: &ModelKeys, vp: &VerifierParams) -> Vec<Snark> {
    bundle
        .chunks
        .iter()
        .zip(&keys.chunks)
        .map(|(chunk, key)| {
            let proof = Proof { instances: chunk.instances.clone(), bytes: chunk.proof.clone() };
            to_snark(vp, &key.vk, &proof)
        })
        .collect()
}
