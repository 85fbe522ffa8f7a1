//! One proof for a whole inference: chunk proofs aggregated with `snark-verifier-sdk`, the
//! commitment chain enforced in-circuit, a tree of aggregations when there are many
//! chunks, and a last proof made with the EVM transcript for the Solidity verifier
//! ([`crate::evm`]).
//!
//! Chunk proofs (Poseidon transcript, SHPLONK, see [`crate::snark::to_snark`]) each have
//! one instance column whose layout their [`Role`] names (a block chunk's
//! `[input_commitment, output_commitment]`, a head slice's commitment and best logits); each
//! chunk's output state must be the next one's input state. [`aggregate`] checks every
//! chunk natively, then aggregates groups of at most `arity` proofs, then groups of those
//! aggregates, until one group is left, which it aggregates with the EVM transcript. The
//! final proof exposes only the accumulator, the input and output states (the next token
//! among them) and the model id (layout in [`circuit`]); [`verify_aggregated`] checks it
//! with three SRS points.

pub mod circuit;
pub mod estimate;
mod format;
pub mod level;
pub mod verify;

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::VerifyingKey;
use snark_verifier_sdk::halo2::aggregation::AggregationConfigParams;
use snark_verifier_sdk::Snark;

use crate::keys::{vk_hash, KeyError, VkHash};
use crate::prove::ProveError;
use crate::snark::{verify_snark, SnarkError};
use crate::srs::{Srs, SrsKind};
use crate::verifier_params::VerifierParams;
use circuit::{INPUT_COMMITMENT, OUTPUT_COMMITMENT, OUTPUT_INDEX, OUTPUT_LOGIT};
use level::{prove_level, Transcript};

pub use circuit::Role;
pub use format::FormatError;
pub use level::LevelReport;
pub use verify::{verify_aggregated, AggregateVerifyError, AggregatedOutputs};

/// The 32-byte model id (SHA-256 of the model manifest), public in the aggregated proof as
/// two 128-bit limbs: bytes `0..16` and `16..32`, each read big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelId(pub [u8; 32]);

impl ModelId {
    /// The high and low limbs as field elements.
    pub fn limbs(&self) -> (Fr, Fr) {
        let mut hi = [0u8; 16];
        let mut lo = [0u8; 16];
        hi.copy_from_slice(&self.0[..16]);
        lo.copy_from_slice(&self.0[16..]);
        (Fr::from_u128(u128::from_be_bytes(hi)), Fr::from_u128(u128::from_be_bytes(lo)))
    }

    /// The id from its two limbs; `None` if either exceeds 128 bits.
    pub fn from_limbs(hi: Fr, lo: Fr) -> Option<Self> {
        let mut id = [0u8; 32];
        for (limb, out) in [hi, lo].iter().zip(id.chunks_exact_mut(16)) {
            if verify::bit_length(limb) > 128 {
                return None;
            }
            let repr = limb.to_repr();
            for (dst, src) in out.iter_mut().zip(repr[..16].iter().rev()) {
                *dst = *src;
            }
        }
        Some(Self(id))
    }
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// How to aggregate.
#[derive(Clone, Copy, Debug)]
pub struct AggregationParams<'a> {
    /// The SRS every aggregation circuit is built on; its `k` is their size. The chunk
    /// proofs must come from the same `τ`. At `k = 20` a final level over two chunk proofs has
    /// a Solidity verifier under the EVM's 24,576-byte code limit; a final level over two
    /// aggregation proofs does not (measured, see BENCHMARKS.md).
    pub srs: &'a Srs,
    /// The most proofs one aggregation circuit verifies (at least 2); more chunks make a
    /// tree.
    pub arity: usize,
}

/// Why no aggregated proof came out.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// Nothing to aggregate.
    #[error("no chunk proofs to aggregate")]
    NoChunks,
    /// An aggregation circuit must verify at least two proofs for a tree to shrink.
    #[error("arity {arity} is too small: an aggregation circuit must take at least 2 proofs")]
    Arity {
        /// The arity given.
        arity: usize,
    },
    /// The SRS is too small for an aggregation circuit.
    #[error("an aggregation circuit needs k >= 18, the SRS has k = {k}")]
    SrsTooSmall {
        /// The SRS's `k`.
        k: u32,
    },
    /// Not one role per chunk.
    #[error("{chunks} chunk proofs but {roles} roles")]
    RoleCount {
        /// The chunk proofs.
        chunks: usize,
        /// The roles.
        roles: usize,
    },
    /// A chunk proof's public inputs are not its role's one column.
    #[error(
        "chunk {index} has public inputs of shape {shape:?}; a {role:?} chunk has one column of {expected}"
    )]
    ChunkShape {
        /// The chunk.
        index: usize,
        /// Its role.
        role: Role,
        /// The lengths of its instance columns.
        shape: Vec<usize>,
        /// The count its role has.
        expected: usize,
    },
    /// A chunk proof does not verify.
    #[error("chunk {index} does not verify: {source}")]
    ChunkRejected {
        /// The chunk.
        index: usize,
        /// snark-verifier's reason.
        source: SnarkError,
    },
    /// Chunk `index`'s output state is not chunk `index + 1`'s input state.
    #[error("chunk {index}'s output is not chunk {}'s input: the chain is broken", index + 1)]
    BrokenChain {
        /// The chunk whose output does not match.
        index: usize,
    },
    /// Keygen of an aggregation circuit failed.
    #[error("aggregation keygen failed: {0}")]
    Keygen(#[from] KeyError),
    /// Proving an aggregation circuit failed.
    #[error("aggregation proving failed: {0}")]
    Prove(#[from] ProveError),
    /// The final proof came out but does not verify.
    #[error("the aggregated proof does not verify: {0}")]
    SelfCheck(String),
    /// snark-verifier-sdk panicked while building an aggregation circuit.
    #[error("snark-verifier-sdk failed building the aggregation circuit: {0}")]
    Panicked(String),
}

/// The proof of a whole inference, ready for [`verify_aggregated`] and the EVM.
#[derive(Clone, Debug)]
pub struct AggregatedProof {
    /// The model id the aggregation key was made for.
    pub model_id: ModelId,
    /// The public inputs (layout in [`circuit`]).
    pub instances: Vec<Fr>,
    /// The proof bytes (EVM transcript, SHPLONK).
    pub proof: Vec<u8>,
    /// The final aggregation circuit's verifying key.
    pub vk: VerifyingKey<G1Affine>,
    /// The final circuit's shape, needed to read `vk` back.
    pub config: AggregationConfigParams,
    /// What each aggregation circuit cost, bottom level first.
    pub levels: Vec<LevelReport>,
    /// The SRS the proofs were made with.
    pub srs: SrsKind,
    /// [`VerifierParams::digest`] of that SRS: the verifier must bring the same points.
    pub srs_verifier_digest: [u8; 32],
}

impl AggregatedProof {
    /// The first chunk's input commitment.
    pub fn input_commitment(&self) -> Fr {
        self.instances[INPUT_COMMITMENT]
    }

    /// The last chunk's output commitment.
    pub fn output_commitment(&self) -> Fr {
        self.instances[OUTPUT_COMMITMENT]
    }

    /// The output index: the next token when the chain ends with the head.
    pub fn output_index(&self) -> Fr {
        self.instances[OUTPUT_INDEX]
    }

    /// The output logit (a signed integer as a field element).
    pub fn output_logit(&self) -> Fr {
        self.instances[OUTPUT_LOGIT]
    }

    /// The hash of the final verifying key, which fixes the model id and every chunk
    /// circuit: the value a verifier pins.
    pub fn vk_hash(&self) -> VkHash {
        vk_hash(&self.vk)
    }

    /// Verifies with [`verify_aggregated`] under this proof's own key; the caller must
    /// check [`Self::vk_hash`] against the key it trusts.
    pub fn verify(&self, params: &VerifierParams) -> Result<AggregatedOutputs, AggregateVerifyError> {
        verify_aggregated(params, &self.vk, &self.instances, &self.proof)
    }
}

/// Aggregates `chunks` (in chain order, each with its role in `roles`) for `model_id` into
/// one EVM-verifiable proof.
pub fn aggregate(
    chunks: &[Snark],
    roles: &[Role],
    model_id: &ModelId,
    params: &AggregationParams<'_>,
) -> Result<AggregatedProof, AggregateError> {
    if chunks.is_empty() {
        return Err(AggregateError::NoChunks);
    }
    if chunks.len() != roles.len() {
        return Err(AggregateError::RoleCount { chunks: chunks.len(), roles: roles.len() });
    }
    if params.arity < 2 {
        return Err(AggregateError::Arity { arity: params.arity });
    }
    if params.srs.k() < 18 {
        return Err(AggregateError::SrsTooSmall { k: params.srs.k() });
    }
    let vp = VerifierParams::from_srs(params.srs);
    check_chunks(&vp, chunks, roles)?;
    let mut level = chunks.to_vec();
    let mut level_roles = roles.to_vec();
    let mut reports = Vec::new();
    let mut depth = 0;
    while level.len() > params.arity {
        let mut next = Vec::new();
        let role_groups = groups(&level_roles, params.arity);
        for (group, group_roles) in groups(&level, params.arity).into_iter().zip(role_groups) {
            let out = prove_level(params.srs, group, group_roles, model_id, Transcript::Poseidon, depth)?;
            reports.push(out.report);
            next.push(circuit::aggregate_snark(&vp, &out.vk, out.instances, out.proof));
        }
        level_roles = vec![Role::Aggregate; next.len()];
        level = next;
        depth += 1;
    }
    let out = prove_level(params.srs, &level, &level_roles, model_id, Transcript::Evm, depth)?;
    reports.push(out.report);
    let instances = out.instances.into_iter().next().unwrap_or_default();
    Ok(AggregatedProof {
        model_id: *model_id,
        instances,
        proof: out.proof,
        vk: out.vk,
        config: out.config,
        levels: reports,
        srs: params.srs.kind().clone(),
        srs_verifier_digest: vp.digest(),
    })
}

/// Checks each chunk's shape and proof, and the chain between neighbours.
fn check_chunks(vp: &VerifierParams, chunks: &[Snark], roles: &[Role]) -> Result<(), AggregateError> {
    let mut states = Vec::with_capacity(chunks.len());
    for (index, (chunk, &role)) in chunks.iter().zip(roles).enumerate() {
        let shape: Vec<usize> = chunk.instances.iter().map(Vec::len).collect();
        let expected = role.instance_len();
        let Some(ends) = chunk.instances.first().filter(|_| shape.len() == 1).and_then(|v| role.states(v))
        else {
            return Err(AggregateError::ChunkShape { index, role, shape, expected });
        };
        verify_snark(vp, chunk).map_err(|source| AggregateError::ChunkRejected { index, source })?;
        states.push(ends);
    }
    for (index, pair) in states.windows(2).enumerate() {
        if pair[0].1 != pair[1].0 {
            return Err(AggregateError::BrokenChain { index });
        }
    }
    Ok(())
}

/// Splits `items` into the fewest groups of at most `arity`, sizes differing by at most one.
fn groups<T>(items: &[T], arity: usize) -> Vec<&[T]> {
    let count = items.len().div_ceil(arity);
    let (base, extra) = (items.len() / count, items.len() % count);
    let mut out = Vec::with_capacity(count);
    let mut rest = items;
    for i in 0..count {
        let (group, tail) = rest.split_at(base + usize::from(i < extra));
        out.push(group);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_balanced_and_ordered() {
        let items: Vec<usize> = (0..7).collect();
        let sizes: Vec<usize> = groups(&items, 3).iter().map(|g| g.len()).collect();
        assert_eq!(sizes, [3, 2, 2]);
        assert_eq!(groups(&items, 3).concat(), items);
        assert_eq!(groups(&items, 7).len(), 1);
        assert_eq!(groups(&items[..4], 2).iter().map(|g| g.len()).collect::<Vec<_>>(), [2, 2]);
    }

    #[test]
    fn model_id_limbs_round_trip() {
        let id = ModelId(std::array::from_fn(|i| (i * 37 + 11) as u8));
        let (hi, lo) = id.limbs();
        assert_eq!(ModelId::from_limbs(hi, lo), Some(id));
        assert_eq!(ModelId::from_limbs(Fr::from_u128(u128::MAX) + Fr::one(), lo), None);
        assert_eq!(hi, Fr::from_u128(u128::from_be_bytes(id.0[..16].try_into().expect("16 bytes"))));
    }
}
