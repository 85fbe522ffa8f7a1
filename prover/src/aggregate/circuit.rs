//! One aggregation level as a circuit: `snark-verifier-sdk`'s [`AggregationCircuit`] over a
//! group of snarks, plus the commitment chain and the model id.
//!
//! # Public inputs (one instance column)
//!
//! | index | value |
//! |---|---|
//! | 0..12 | the KZG accumulator: `lhs.x, lhs.y, rhs.x, rhs.y`, 3 limbs of 88 bits each |
//! | 12 | the first snark's input commitment |
//! | 13 | the last snark's output commitment |
//! | 14 | model id, high 128 bits (bytes 0..16, big-endian) |
//! | 15 | model id, low 128 bits (bytes 16..32, big-endian) |
//!
//! # Constraints added to the sdk's verifier
//!
//! - chain: snark `i`'s output commitment equals snark `i + 1`'s input commitment (a copy
//!   constraint between the two loaded instance cells);
//! - model id: both limbs are circuit constants (fixed cells), so the verifying key is made
//!   for one model id and a proof cannot claim another;
//! - when the snarks are themselves aggregations, each one's model id limbs equal these
//!   constants (their accumulators are folded into this one by the sdk).
//!
//! The snarks' verifying keys are circuit constants too (`VerifierUniversality::None`), so
//! the aggregation key also fixes which chunk circuits it accepts.

use snark_verifier_sdk::halo2::aggregation::{
    AggregationCircuit, AggregationConfigParams, VerifierUniversality,
};
use snark_verifier_sdk::snark_verifier::loader::halo2::halo2_ecc::halo2_base::gates::circuit::CircuitBuilderStage;
use snark_verifier_sdk::snark_verifier::loader::halo2::halo2_ecc::halo2_base::AssignedValue;
use snark_verifier_sdk::snark_verifier::system::halo2::{compile, Config};
use snark_verifier_sdk::{CircuitExt, Snark, LIMBS, SHPLONK};

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::plonk::VerifyingKey;

use super::ModelId;
use crate::srs::Srs;
use crate::verifier_params::VerifierParams;

/// Number of accumulator limbs at the start of the public inputs.
pub const ACCUMULATOR_LIMBS: usize = 4 * LIMBS;
/// Index of the first input commitment.
pub const INPUT_COMMITMENT: usize = ACCUMULATOR_LIMBS;
/// Index of the last output commitment.
pub const OUTPUT_COMMITMENT: usize = ACCUMULATOR_LIMBS + 1;
/// Index of the model id's high limb.
pub const MODEL_ID_HI: usize = ACCUMULATOR_LIMBS + 2;
/// Index of the model id's low limb.
pub const MODEL_ID_LO: usize = ACCUMULATOR_LIMBS + 3;
/// Number of public inputs of an aggregation proof.
pub const NUM_PUBLIC_INPUTS: usize = ACCUMULATOR_LIMBS + 4;

/// What a level aggregates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inputs {
    /// Chunk proofs: one instance column `[input_commitment, output_commitment]`.
    Chunks,
    /// Aggregation proofs of the level below, with this module's public inputs.
    Aggregates,
}

impl Inputs {
    /// Where the input commitment sits among one snark's flattened instances.
    fn input_index(self) -> usize {
        match self {
            Inputs::Chunks => 0,
            Inputs::Aggregates => INPUT_COMMITMENT,
        }
    }

    /// The flattened instance count every snark of this kind has.
    pub fn instance_len(self) -> usize {
        match self {
            Inputs::Chunks => 2,
            Inputs::Aggregates => NUM_PUBLIC_INPUTS,
        }
    }
}

/// The circuit shape a level starts from before `calculate_params` sizes its columns.
pub fn initial_config(k: u32) -> AggregationConfigParams {
    AggregationConfigParams { degree: k, lookup_bits: (k as usize).saturating_sub(1), ..Default::default() }
}

/// Builds the aggregation circuit of `snarks` for `model_id` at `stage`.
///
/// This does not check the chain natively: a broken chain gives a circuit whose copy
/// constraints fail (the proof will not verify). [`crate::aggregate::aggregate`] checks the
/// chain first and reports which link is broken. The sdk panics on an empty `snarks` and on
/// a snark its native verifier rejects; callers run [`crate::snark::verify_snark`] first.
pub fn build(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    srs: &Srs,
    snarks: &[Snark],
    inputs: Inputs,
    model_id: &ModelId,
) -> AggregationCircuit {
    let mut circuit = AggregationCircuit::new::<SHPLONK>(
        stage,
        config,
        srs.params(),
        snarks.iter().cloned(),
        VerifierUniversality::None,
    );
    let previous: Vec<Vec<AssignedValue<Fr>>> = circuit.previous_instances().clone();
    let at = inputs.input_index();
    let ctx = circuit.builder.main(0);
    for pair in previous.windows(2) {
        ctx.constrain_equal(&pair[0][at + 1], &pair[1][at]);
    }
    let (hi, lo) = model_id.limbs();
    let hi = ctx.load_constant(hi);
    let lo = ctx.load_constant(lo);
    if inputs == Inputs::Aggregates {
        for instances in &previous {
            ctx.constrain_equal(&instances[MODEL_ID_HI], &hi);
            ctx.constrain_equal(&instances[MODEL_ID_LO], &lo);
        }
    }
    if let (Some(first), Some(last)) = (previous.first(), previous.last()) {
        let exposed = [first[at], last[at + 1], hi, lo];
        circuit.builder.assigned_instances[0].extend(exposed);
    }
    circuit
}

/// The public inputs `circuit` exposes (one column).
pub fn instances(circuit: &AggregationCircuit) -> Vec<Vec<Fr>> {
    circuit.instances()
}

/// An inner aggregation proof as a snark the next level verifies: its protocol marks the
/// accumulator limbs so that the next level folds them in.
pub fn aggregate_snark(
    params: &VerifierParams,
    vk: &VerifyingKey<G1Affine>,
    instances: Vec<Vec<Fr>>,
    proof: Vec<u8>,
) -> Snark {
    let kzg = params.for_k(vk.get_domain().k());
    let protocol = compile(
        &kzg,
        vk,
        Config::kzg()
            .with_num_instance(instances.iter().map(Vec::len).collect())
            .with_accumulator_indices(AggregationCircuit::accumulator_indices()),
    );
    Snark::new(protocol, instances, proof)
}
