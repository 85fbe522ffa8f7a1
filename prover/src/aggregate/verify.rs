//! Server-side verification of an aggregated proof: the halo2 proof (EVM transcript) and
//! the pairing check on the KZG accumulator it carries, with only the three points of
//! [`VerifierParams`] — no powers of `τ`.

use halo2_proofs::halo2curves::bn256::{Bn256, Fq, Fr, G1Affine};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::halo2curves::CurveAffine;
use halo2_proofs::plonk::{verify_proof, VerifyingKey};
use halo2_proofs::poly::kzg::commitment::KZGCommitmentScheme;
use halo2_proofs::poly::kzg::multiopen::VerifierSHPLONK;
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use snark_verifier_sdk::snark_verifier::pcs::kzg::{KzgAccumulator, KzgDecidingKey};
use snark_verifier_sdk::snark_verifier::pcs::AccumulationDecider;
use snark_verifier_sdk::snark_verifier::system::halo2::transcript::evm::EvmTranscript;
use snark_verifier_sdk::snark_verifier::util::arithmetic::fe_from_limbs;
use snark_verifier_sdk::{NativeLoader, BITS, LIMBS, SHPLONK};

use super::circuit::{
    ACCUMULATOR_LIMBS, INPUT_COMMITMENT, INPUT_INDEX, INPUT_LOGIT, MODEL_ID_HI, MODEL_ID_LO,
    NUM_PUBLIC_INPUTS, OUTPUT_COMMITMENT, OUTPUT_INDEX, OUTPUT_LOGIT,
};
use super::ModelId;
use crate::verifier_params::VerifierParams;
use crate::verify::{check_instances, VerifyError};

/// Why an aggregated proof was rejected.
#[derive(Debug, thiserror::Error)]
pub enum AggregateVerifyError {
    /// The public inputs are not the aggregation circuit's twenty values.
    #[error("an aggregated proof has {NUM_PUBLIC_INPUTS} public inputs, got {got}")]
    PublicInputs {
        /// The count given.
        got: usize,
    },
    /// The model id limbs are not two 128-bit values.
    #[error("the model id public inputs are not two 128-bit limbs")]
    ModelIdLimbs,
    /// The halo2 proof does not verify for this key and these public inputs.
    #[error(transparent)]
    Proof(#[from] VerifyError),
    /// The accumulator limbs do not encode two curve points.
    #[error("the accumulator public inputs are malformed: {0}")]
    AccumulatorEncoding(&'static str),
    /// The accumulator's pairing check fails: some aggregated proof is invalid.
    #[error("the KZG accumulator fails its pairing check")]
    AccumulatorPairing,
}

/// What an accepted aggregated proof shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AggregatedOutputs {
    /// The model the aggregation key was made for.
    pub model_id: ModelId,
    /// The input state: the first chunk's input commitment, index and logit.
    pub input: [Fr; 3],
    /// The output state: the last block's output commitment, and (when the chain ends with
    /// the head) the next token and its logit.
    pub output: [Fr; 3],
}

impl AggregatedOutputs {
    /// The first chunk's input commitment.
    pub fn input_commitment(&self) -> Fr {
        self.input[0]
    }

    /// The last block's output commitment.
    pub fn output_commitment(&self) -> Fr {
        self.output[0]
    }
}

/// Verifies an aggregated proof against the aggregation verifying key `vk` (which fixes the
/// model id and every chunk circuit; compare its hash with the one you trust) and returns
/// what it shows.
pub fn verify_aggregated(
    params: &VerifierParams,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Fr],
    proof: &[u8],
) -> Result<AggregatedOutputs, AggregateVerifyError> {
    if instances.len() != NUM_PUBLIC_INPUTS {
        return Err(AggregateVerifyError::PublicInputs { got: instances.len() });
    }
    let model_id = ModelId::from_limbs(instances[MODEL_ID_HI], instances[MODEL_ID_LO])
        .ok_or(AggregateVerifyError::ModelIdLimbs)?;
    let columns = [instances.to_vec()];
    check_instances(vk, &columns)?;
    let kzg = params.for_k(vk.get_domain().k());
    let column_refs: Vec<&[Fr]> = columns.iter().map(Vec::as_slice).collect();
    let mut stream = proof;
    let mut transcript = EvmTranscript::<G1Affine, NativeLoader, _, Vec<u8>>::new(&mut stream);
    verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<Bn256>, _, _, _>(
        &kzg,
        vk,
        SingleStrategy::new(&kzg),
        &[column_refs.as_slice()],
        &mut transcript,
    )
    .map_err(VerifyError::Rejected)?;
    drop(transcript);
    if !stream.is_empty() {
        return Err(VerifyError::TrailingBytes { extra: stream.len() }.into());
    }
    let accumulator = decode_accumulator(&instances[..ACCUMULATOR_LIMBS])?;
    let (g1, g2, s_g2) = params.points();
    let dk = KzgDecidingKey::<Bn256>::new(g1, g2, s_g2);
    <SHPLONK as AccumulationDecider<G1Affine, NativeLoader>>::decide(&dk, accumulator)
        .map_err(|_| AggregateVerifyError::AccumulatorPairing)?;
    Ok(AggregatedOutputs {
        model_id,
        input: [instances[INPUT_COMMITMENT], instances[INPUT_INDEX], instances[INPUT_LOGIT]],
        output: [instances[OUTPUT_COMMITMENT], instances[OUTPUT_INDEX], instances[OUTPUT_LOGIT]],
    })
}

/// Reads `lhs.x, lhs.y, rhs.x, rhs.y` from 88-bit limbs, least significant first.
fn decode_accumulator(limbs: &[Fr]) -> Result<KzgAccumulator<G1Affine, NativeLoader>, AggregateVerifyError> {
    let mut coordinates = [Fq::zero(); 4];
    for (coordinate, chunk) in coordinates.iter_mut().zip(limbs.chunks_exact(LIMBS)) {
        if chunk.iter().any(|limb| bit_length(limb) > BITS) {
            return Err(AggregateVerifyError::AccumulatorEncoding("a limb exceeds 88 bits"));
        }
        let limbs: [Fr; LIMBS] = [chunk[0], chunk[1], chunk[2]];
        *coordinate = fe_from_limbs::<Fr, Fq, LIMBS, BITS>(limbs);
    }
    let point = |x: Fq, y: Fq| {
        Option::<G1Affine>::from(G1Affine::from_xy(x, y))
            .ok_or(AggregateVerifyError::AccumulatorEncoding("a point is not on the curve"))
    };
    let [lhs_x, lhs_y, rhs_x, rhs_y] = coordinates;
    Ok(KzgAccumulator::new(point(lhs_x, lhs_y)?, point(rhs_x, rhs_y)?))
}

/// The number of significant bits of `value`'s canonical integer.
pub(super) fn bit_length(value: &Fr) -> usize {
    let repr = value.to_repr();
    repr.iter()
        .enumerate()
        .rev()
        .find(|(_, byte)| **byte != 0)
        .map_or(0, |(i, byte)| 8 * i + (8 - byte.leading_zeros() as usize))
}
