//! Keygen and proof of one aggregation circuit: a group of snarks in, one proof out, with
//! the Poseidon transcript (an inner level, verified again by the level above) or the EVM
//! transcript (the last level, verified by the Solidity verifier).

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{create_proof, ProvingKey, VerifyingKey};
use halo2_proofs::poly::kzg::commitment::KZGCommitmentScheme;
use halo2_proofs::poly::kzg::multiopen::ProverSHPLONK;
use halo2_proofs::transcript::TranscriptWriterBuffer;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use snark_verifier_sdk::halo2::aggregation::{AggregationCircuit, AggregationConfigParams};
use snark_verifier_sdk::snark_verifier::loader::halo2::halo2_ecc::halo2_base::gates::circuit::CircuitBuilderStage;
use snark_verifier_sdk::snark_verifier::system::halo2::transcript::evm::EvmTranscript;
use snark_verifier_sdk::{NativeLoader, Snark};

use super::circuit::{self, Role};
use super::verify::verify_aggregated;
use super::{AggregateError, ModelId};
use crate::keys::{keygen_with, Selectors};
use crate::prove::{panic_message, prove, ProveError};
use crate::srs::Srs;
use crate::verifier_params::VerifierParams;

/// Rows kept free at the bottom of the circuit for halo2's blinding factors.
const MINIMUM_ROWS: usize = 20;

/// Which Fiat-Shamir transcript a level proves with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transcript {
    /// Poseidon: the next aggregation level can verify it in-circuit.
    Poseidon,
    /// Keccak-based: the Solidity verifier can verify it.
    Evm,
}

/// What one aggregation circuit cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelReport {
    /// The level in the tree: 0 aggregates chunk proofs.
    pub level: usize,
    /// How many snarks it verifies.
    pub snarks: usize,
    /// The circuit's `k`.
    pub k: u32,
    /// Advice columns (lookup advice included) `calculate_params` chose.
    pub advice_columns: usize,
    /// Keygen seconds.
    pub keygen_s: f64,
    /// Proving seconds (the self-check verification included).
    pub prove_s: f64,
}

/// One level's proof.
pub struct LevelProof {
    /// The verifying key.
    pub vk: VerifyingKey<G1Affine>,
    /// The circuit shape the key was made with (to read the key back).
    pub config: AggregationConfigParams,
    /// The public inputs (one column).
    pub instances: Vec<Vec<Fr>>,
    /// The proof bytes.
    pub proof: Vec<u8>,
    /// What it cost.
    pub report: LevelReport,
}

/// Keygen and proof of the aggregation circuit of `snarks` (already checked natively).
pub fn prove_level(
    srs: &Srs,
    snarks: &[Snark],
    roles: &[Role],
    model_id: &ModelId,
    transcript: Transcript,
    level: usize,
) -> Result<LevelProof, AggregateError> {
    let start = Instant::now();
    let (pk, config, break_points) = catch(|| {
        let mut circuit = circuit::build(
            CircuitBuilderStage::Keygen,
            circuit::initial_config(srs.k()),
            srs,
            snarks,
            roles,
            model_id,
        );
        let config = circuit.calculate_params(Some(MINIMUM_ROWS));
        // halo2-base circuits have few selectors: compressing them measured 461,450 gas against
        // 461,486 and the same verifier size, so the key stays plain (and small).
        let pk = keygen_with(srs, &circuit, Selectors::Separate);
        (pk, config, circuit.break_points())
    })?;
    let pk = pk?;
    let keygen_s = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let circuit = catch(|| {
        circuit::build(CircuitBuilderStage::Prover, config, srs, snarks, roles, model_id)
            .use_break_points(break_points)
    })?;
    let instances = circuit::instances(&circuit);
    let proof = match transcript {
        Transcript::Poseidon => prove(srs, &pk, circuit, instances.clone())?.bytes,
        Transcript::Evm => prove_evm(srs, &pk, circuit, &instances)?,
    };
    let report = LevelReport {
        level,
        snarks: snarks.len(),
        k: srs.k(),
        advice_columns: config.num_advice + config.num_lookup_advice,
        keygen_s,
        prove_s: start.elapsed().as_secs_f64(),
    };
    Ok(LevelProof { vk: pk.get_vk().clone(), config, instances, proof, report })
}

/// Proves with the EVM transcript and checks the proof (accumulator included) before
/// returning it.
fn prove_evm(
    srs: &Srs,
    pk: &ProvingKey<G1Affine>,
    circuit: AggregationCircuit,
    instances: &[Vec<Fr>],
) -> Result<Vec<u8>, AggregateError> {
    let columns: Vec<&[Fr]> = instances.iter().map(Vec::as_slice).collect();
    let mut transcript = EvmTranscript::<G1Affine, NativeLoader, Vec<u8>, Vec<u8>>::init(Vec::new());
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<Bn256>, _, _, _, _>(
            srs.params(),
            pk,
            &[circuit],
            &[columns.as_slice()],
            OsRng,
            &mut transcript,
        )
    }));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(ProveError::from_halo2(e).into()),
        Err(payload) => return Err(ProveError::Panicked(panic_message(payload.as_ref())).into()),
    }
    let proof = transcript.finalize();
    let public = instances.first().map(Vec::as_slice).unwrap_or_default();
    verify_aggregated(&VerifierParams::from_srs(srs), pk.get_vk(), public, &proof)
        .map_err(|e| AggregateError::SelfCheck(e.to_string()))?;
    Ok(proof)
}

/// Runs sdk code that unwraps internally, turning a panic into an error.
fn catch<T>(f: impl FnOnce() -> T) -> Result<T, AggregateError> {
    panic::catch_unwind(AssertUnwindSafe(f))
        .map_err(|payload| AggregateError::Panicked(panic_message(payload.as_ref())))
}
