//! One aggregation level as a circuit: `snark-verifier-sdk`'s [`AggregationCircuit`] over a
//! group of snarks, plus the chain between them and the model id.
//!
//! # The chain state
//!
//! Every snark maps a state `(commitment, index, logit)` to another ([`Role::ends`]): a
//! block chunk maps `(commit(input), 0, 0)` to `(commit(output), 0, 0)`; the first head
//! slice maps `(c, 0, 0)` to `(c, best index, best logit)`; a later slice maps
//! `(c, prior index, prior logit)` to `(c, best index, best logit)`; an aggregation proof of
//! the level below maps its public input state to its public output state. The zeros are
//! circuit constants. Snark `i`'s output state must equal snark `i + 1`'s input state, all
//! three values (copy constraints). Which snark sits where is fixed by the verifying keys
//! (circuit constants, below), so a slice cannot be skipped or moved.
//!
//! # Public inputs (one instance column)
//!
//! | index | value |
//! |---|---|
//! | 0..12 | the KZG accumulator: `lhs.x, lhs.y, rhs.x, rhs.y`, 3 limbs of 88 bits each |
//! | 12 | input commitment (the first block's `commit(embedding(tokens))`) |
//! | 13, 14 | input index and logit (0 and 0 when the first snark is a block) |
//! | 15 | output commitment (the last block's output, which the head reads) |
//! | 16 | output index: the next token when the last snark is the last head slice |
//! | 17 | output logit (a signed integer as a field element: `p − |x|` when negative) |
//! | 18 | model id, high 128 bits (bytes 0..16, big-endian) |
//! | 19 | model id, low 128 bits (bytes 16..32, big-endian) |
//!
//! # Constraints added to the sdk's verifier
//!
//! - chain: as above, between neighbours;
//! - model id: both limbs are circuit constants (fixed cells), so the verifying key is made
//!   for one model id and a proof cannot claim another;
//! - when the snarks are themselves aggregations, each one's model id limbs equal these
//!   constants (their accumulators are folded into this one by the sdk).
//!
//! The snarks' verifying keys are circuit constants too (`VerifierUniversality::None`), so
//! the aggregation key also fixes which chunk circuits it accepts, in which order.

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
/// Index of the input commitment.
pub const INPUT_COMMITMENT: usize = ACCUMULATOR_LIMBS;
/// Index of the input state's index (0 when the chain starts with a block).
pub const INPUT_INDEX: usize = ACCUMULATOR_LIMBS + 1;
/// Index of the input state's logit.
pub const INPUT_LOGIT: usize = ACCUMULATOR_LIMBS + 2;
/// Index of the output commitment.
pub const OUTPUT_COMMITMENT: usize = ACCUMULATOR_LIMBS + 3;
/// Index of the output index: the next token when the chain ends with the head.
pub const OUTPUT_INDEX: usize = ACCUMULATOR_LIMBS + 4;
/// Index of the output logit.
pub const OUTPUT_LOGIT: usize = ACCUMULATOR_LIMBS + 5;
/// Index of the model id's high limb.
pub const MODEL_ID_HI: usize = ACCUMULATOR_LIMBS + 6;
/// Index of the model id's low limb.
pub const MODEL_ID_LO: usize = ACCUMULATOR_LIMBS + 7;
/// Number of public inputs of an aggregation proof.
pub const NUM_PUBLIC_INPUTS: usize = ACCUMULATOR_LIMBS + 8;

/// One value of a chain state: a public input of the snark, or the constant 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The snark's flattened public input at this index.
    Instance(usize),
    /// The constant 0.
    Zero,
}

/// What a snark is in the chain, which fixes where its states sit in its public inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Role {
    /// A block chunk: `[commit(input), commit(output)]`.
    Block,
    /// The first head slice: `[commit(input), best index, best logit]`.
    HeadFirst,
    /// A later head slice: `[commit(input), prior index, prior logit, best index, best logit]`.
    HeadNext,
    /// An aggregation proof of the level below, with this module's public inputs.
    Aggregate,
}

impl Role {
    /// The flattened public input count of a snark in this role.
    pub fn instance_len(self) -> usize {
        match self {
            Role::Block => 2,
            Role::HeadFirst => 3,
            Role::HeadNext => 5,
            Role::Aggregate => NUM_PUBLIC_INPUTS,
        }
    }

    /// The input and output states `(commitment, index, logit)`.
    pub fn ends(self) -> ([End; 3], [End; 3]) {
        use End::{Instance as I, Zero as Z};
        match self {
            Role::Block => ([I(0), Z, Z], [I(1), Z, Z]),
            Role::HeadFirst => ([I(0), Z, Z], [I(0), I(1), I(2)]),
            Role::HeadNext => ([I(0), I(1), I(2)], [I(0), I(3), I(4)]),
            Role::Aggregate => (
                [I(INPUT_COMMITMENT), I(INPUT_INDEX), I(INPUT_LOGIT)],
                [I(OUTPUT_COMMITMENT), I(OUTPUT_INDEX), I(OUTPUT_LOGIT)],
            ),
        }
    }

    /// The states of a snark with public inputs `values` (flattened), natively.
    pub fn states(self, values: &[Fr]) -> Option<([Fr; 3], [Fr; 3])> {
        if values.len() != self.instance_len() {
            return None;
        }
        let read = |end: End| match end {
            End::Instance(i) => values[i],
            End::Zero => Fr::zero(),
        };
        let (input, output) = self.ends();
        Some((input.map(read), output.map(read)))
    }
}

/// A chain state's three cells in the circuit.
type State = [AssignedValue<Fr>; 3];

/// The circuit shape a level starts from before `calculate_params` sizes its columns.
pub fn initial_config(k: u32) -> AggregationConfigParams {
    AggregationConfigParams { degree: k, lookup_bits: (k as usize).saturating_sub(1), ..Default::default() }
}

/// Builds the aggregation circuit of `snarks` (with their `roles`, one each) for `model_id`
/// at `stage`.
///
/// This does not check the chain natively: a broken chain gives a circuit whose copy
/// constraints fail (the proof will not verify). [`crate::aggregate::aggregate`] checks the
/// chain first and reports which link is broken. The sdk panics on an empty `snarks` and on
/// a snark its native verifier rejects; callers run [`crate::snark::verify_snark`] first,
/// and check that each snark has its role's public input count (else this panics).
pub fn build(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    srs: &Srs,
    snarks: &[Snark],
    roles: &[Role],
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
    let ctx = circuit.builder.main(0);
    let zero = ctx.load_zero();
    let states: Vec<(State, State)> = previous
        .iter()
        .zip(roles)
        .map(|(values, role)| {
            let cell = |end: End| match end {
                End::Instance(i) => values[i],
                End::Zero => zero,
            };
            let (input, output) = role.ends();
            (input.map(cell), output.map(cell))
        })
        .collect();
    for pair in states.windows(2) {
        for (out, next_in) in pair[0].1.iter().zip(&pair[1].0) {
            ctx.constrain_equal(out, next_in);
        }
    }
    let (hi, lo) = model_id.limbs();
    let hi = ctx.load_constant(hi);
    let lo = ctx.load_constant(lo);
    for (values, role) in previous.iter().zip(roles) {
        if *role == Role::Aggregate {
            ctx.constrain_equal(&values[MODEL_ID_HI], &hi);
            ctx.constrain_equal(&values[MODEL_ID_LO], &lo);
        }
    }
    if let (Some(first), Some(last)) = (states.first(), states.last()) {
        let exposed = first.0.iter().chain(&last.1).copied().chain([hi, lo]);
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
