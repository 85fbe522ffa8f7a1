//! Aggregation of chained chunk proofs into one proof, its native verification, the
//! Solidity verifier in revm, and the cases that must be refused.
//!
//! The aggregation circuit needs `k = 20` (the INSECURE dev SRS for it is cached under
//! `$ZKINFER_CACHE/srs`, about 4 minutes to build the first time). The tree test is
//! ignored (three aggregation circuits, about 10 minutes on 2 cores):
//! `cargo test --release -p zkinfer-prover --test aggregate -- --ignored --nocapture`.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use revm::context::result::{ExecutionResult, Output};
use revm::context::TxEnv;
use revm::database::InMemoryDB;
use revm::handler::{MainnetContext, MainnetEvm};
use revm::primitives::{keccak256, Address, TxKind};
use revm::{Context, ExecuteCommitEvm, MainBuilder, MainContext};
use snark_verifier_sdk::snark_verifier::loader::evm::deploy_and_call;
use snark_verifier_sdk::snark_verifier::loader::halo2::halo2_ecc::halo2_base::gates::circuit::CircuitBuilderStage;
use snark_verifier_sdk::Snark;
use zkinfer_prover::aggregate::circuit::{
    self, Role, INPUT_COMMITMENT, MODEL_ID_HI, MODEL_ID_LO, NUM_PUBLIC_INPUTS, OUTPUT_COMMITMENT,
    OUTPUT_INDEX, OUTPUT_LOGIT,
};
use zkinfer_prover::aggregate::AggregatedProof;
use zkinfer_prover::halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use zkinfer_prover::halo2_proofs::dev::{MockProver, VerifyFailure};
use zkinfer_prover::halo2_proofs::halo2curves::ff::PrimeField;
use zkinfer_prover::halo2_proofs::plonk::{
    Advice, Circuit, Column, ConstraintSystem, Error, Fixed, Instance, Selector,
};
use zkinfer_prover::halo2_proofs::poly::Rotation;
use zkinfer_prover::snark::to_snark;
use zkinfer_prover::{
    aggregate, calldata, export_solidity, keygen, prove, verify_aggregated, AggregateError,
    AggregateVerifyError, AggregationParams, Fr, ModelId, Solc, Srs, SrsCache, VerifierParams,
};

type Evm = MainnetEvm<MainnetContext<InMemoryDB>>;

/// The aggregation circuits' size.
const AGG_K: u32 = 20;
/// The chunk circuits' size.
const CHUNK_K: u32 = 6;
/// Squaring steps per chunk.
const STEPS: usize = 8;

/// A stand-in chunk: `x₀ = input`, `xⱼ₊₁ = xⱼ² + c` for a per-chunk constant `c`, and
/// `output = x_STEPS`; the instance column is `[input, output]`, or, standing in for a head
/// slice (`tail` given), `[input, tail…]` with the tail values copied from advice cells
/// below the steps.
///
/// | row | x | c (fixed) | q_step |
/// |---|---|---|---|
/// | j < STEPS | xⱼ | c | 1 |
/// | STEPS | x_STEPS | | 0 |
/// | STEPS + 1 + i | tail i | | 0 |
///
/// Gate `step`: `q_step · (x[next] − x[cur]² − c) = 0`.
#[derive(Clone, Debug)]
struct ChunkCircuit {
    constant: u64,
    input: Value<Fr>,
    tail: Option<Vec<Fr>>,
}

#[derive(Clone, Debug)]
struct ChunkConfig {
    x: Column<Advice>,
    c: Column<Fixed>,
    io: Column<Instance>,
    q_step: Selector,
}

impl ChunkCircuit {
    fn output(constant: u64, input: Fr) -> Fr {
        (0..STEPS).fold(input, |x, _| x * x + Fr::from(constant))
    }
}

impl Circuit<Fr> for ChunkCircuit {
    type Config = ChunkConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        Self { constant: self.constant, input: Value::unknown(), tail: self.tail.clone() }
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> ChunkConfig {
        let x = meta.advice_column();
        let c = meta.fixed_column();
        let io = meta.instance_column();
        meta.enable_equality(x);
        meta.enable_equality(io);
        let q_step = meta.selector();
        meta.create_gate("step", |meta| {
            let q = meta.query_selector(q_step);
            let cur = meta.query_advice(x, Rotation::cur());
            let next = meta.query_advice(x, Rotation::next());
            let c = meta.query_fixed(c, Rotation::cur());
            vec![q * (next - cur.clone() * cur - c)]
        });
        ChunkConfig { x, c, io, q_step }
    }

    fn synthesize(&self, config: ChunkConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let constant = Fr::from(self.constant);
        let (first, last, tail) = layouter.assign_region(
            || "steps",
            |mut region| {
                let mut x = self.input;
                let first = region.assign_advice(config.x, 0, x).cell();
                for row in 0..STEPS {
                    config.q_step.enable(&mut region, row)?;
                    region.assign_fixed(config.c, row, constant);
                    x = x.map(|x| x * x + constant);
                    region.assign_advice(config.x, row + 1, x);
                }
                let last = region.assign_advice(config.x, STEPS, x).cell();
                let tail: Vec<_> = self
                    .tail
                    .iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, v)| region.assign_advice(config.x, STEPS + 1 + i, Value::known(*v)).cell())
                    .collect();
                Ok((first, last, tail))
            },
        )?;
        layouter.constrain_instance(first, config.io, 0);
        if self.tail.is_none() {
            layouter.constrain_instance(last, config.io, 1);
        }
        for (i, cell) in tail.into_iter().enumerate() {
            layouter.constrain_instance(cell, config.io, 1 + i);
        }
        Ok(())
    }
}

/// A stand-in head slice after `input`'s chunk: public `[input, tail…]`.
fn slice(constant: u64, input: Fr, tail: &[u64]) -> Snark {
    let srs = Srs::insecure(CHUNK_K).expect("chunk SRS");
    let tail: Vec<Fr> = tail.iter().map(|&v| Fr::from(v)).collect();
    let circuit = ChunkCircuit { constant, input: Value::known(input), tail: Some(tail.clone()) };
    let pk = keygen(&srs, &circuit).expect("slice keygen");
    let instances = vec![std::iter::once(input).chain(tail).collect()];
    let proof = prove(&srs, &pk, circuit, instances).expect("slice proof");
    to_snark(&VerifierParams::from_srs(&srs), pk.get_vk(), &proof)
}

fn agg_srs() -> Srs {
    SrsCache::from_env().and_then(|cache| cache.insecure(AGG_K)).expect("the k = 20 dev SRS")
}

fn model_id() -> ModelId {
    ModelId(std::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(3)))
}

/// Proves one chunk per constant, chained from `input`, as aggregation-ready snarks.
fn chain(constants: &[u64], input: u64) -> Vec<Snark> {
    let srs = Srs::insecure(CHUNK_K).expect("chunk SRS");
    let vp = VerifierParams::from_srs(&srs);
    let mut x = Fr::from(input);
    constants
        .iter()
        .map(|&constant| {
            let circuit = ChunkCircuit { constant, input: Value::known(x), tail: None };
            let pk = keygen(&srs, &circuit).expect("chunk keygen");
            let output = ChunkCircuit::output(constant, x);
            let proof = prove(&srs, &pk, circuit, vec![vec![x, output]]).expect("chunk proof");
            x = output;
            to_snark(&vp, pk.get_vk(), &proof)
        })
        .collect()
}

/// `n` block roles: the stand-in chunks' instances are `[input, output]`.
fn blocks(n: usize) -> Vec<Role> {
    vec![Role::Block; n]
}

fn solc() -> Solc {
    if std::env::var_os("ZKINFER_SOLC").is_some() {
        return Solc::from_env();
    }
    Solc::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/solc"))
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .map_or(0.0, |kb: f64| kb / 1024.0)
}

/// Checks `agg` natively and in revm, and every tamper case both ways; returns the gas.
fn check_everywhere(agg: &AggregatedProof, vp: &VerifierParams, chunks: &[Snark]) -> u64 {
    let start = Instant::now();
    let outputs = verify_aggregated(vp, &agg.vk, &agg.instances, &agg.proof).expect("the proof verifies");
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    assert_eq!(outputs.model_id, model_id());
    assert_eq!(outputs.input_commitment(), chunks[0].instances[0][0]);
    assert_eq!(outputs.output_commitment(), chunks[chunks.len() - 1].instances[0][1]);
    assert_eq!(outputs.output[1..], [Fr::zero(), Fr::zero()], "a chain of blocks has no next token");
    assert_eq!(agg.instances.len(), NUM_PUBLIC_INPUTS);

    let back = AggregatedProof::from_bytes(&agg.to_bytes()).expect("the file reads back");
    assert_eq!(back.vk_hash(), agg.vk_hash());
    assert_eq!(back.instances, agg.instances);
    back.verify(vp).expect("the read-back proof verifies");

    let mut flipped = agg.proof.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 1;
    let mut wrong_output = agg.instances.clone();
    wrong_output[OUTPUT_COMMITMENT] += Fr::one();
    let mut wrong_input = agg.instances.clone();
    wrong_input[INPUT_COMMITMENT] += Fr::one();
    let mut wrong_model = agg.instances.clone();
    wrong_model[MODEL_ID_LO] += Fr::one();
    let mut wrong_accumulator = agg.instances.clone();
    wrong_accumulator[0] += Fr::one();
    let cases = [
        ("flipped proof byte", &agg.instances, &flipped),
        ("wrong output commitment", &wrong_output, &agg.proof),
        ("wrong input commitment", &wrong_input, &agg.proof),
        ("wrong model id", &wrong_model, &agg.proof),
        ("wrong accumulator limb", &wrong_accumulator, &agg.proof),
    ];
    for (what, instances, proof) in cases {
        let err = verify_aggregated(vp, &agg.vk, instances, proof).expect_err(what);
        assert!(matches!(err, AggregateVerifyError::Proof(_)), "{what}: {err}");
    }
    let err = verify_aggregated(vp, &agg.vk, &agg.instances[..MODEL_ID_HI], &agg.proof).expect_err("short");
    assert!(matches!(err, AggregateVerifyError::PublicInputs { got } if got == MODEL_ID_HI), "{err}");

    let start = Instant::now();
    let (source, bytecode) = export_solidity(vp, &agg.vk, &solc()).expect("the verifier compiles");
    let export_s = start.elapsed().as_secs_f64();
    assert!(source.contains("pragma solidity"), "Solidity source");
    // revm's mainnet rules refuse to deploy runtime code over 24,576 bytes (EIP-170).
    let gas = deploy_and_call(bytecode.clone(), calldata(&agg.instances, &agg.proof)).expect("revm accepts");
    for (what, instances, proof) in cases {
        let result = deploy_and_call(bytecode.clone(), calldata(instances, proof));
        assert!(result.is_err(), "revm must reject the {what}");
    }
    check_example_contract(agg, bytecode.clone());
    eprintln!(
        "aggregated proof: {} bytes, verify {verify_ms:.1} ms; verifier {} B source, {} B initcode, \
         export+solc {export_s:.1} s; revm gas {gas}; peak RSS {:.0} MB",
        agg.proof.len(),
        source.len(),
        bytecode.len(),
        peak_rss_mb()
    );
    for level in &agg.levels {
        eprintln!("  {level:?}");
    }
    gas
}

#[test]
fn chain_of_two_chunks_aggregates_and_verifies_natively_and_in_revm() {
    let srs = agg_srs();
    let vp = VerifierParams::from_srs(&srs);
    let chunks = chain(&[1, 2], 3);
    let params = AggregationParams { srs: &srs, arity: 2 };
    let agg = aggregate(&chunks, &blocks(chunks.len()), &model_id(), &params).expect("aggregate");
    assert_eq!(agg.levels.len(), 1, "two chunks fit one level");
    check_everywhere(&agg, &vp, &chunks);
}

#[test]
#[ignore = "three aggregation circuits at k = 20, ~28 min loaded; its last-level verifier exceeds the EVM code limit at k = 20"]
fn chain_of_three_chunks_aggregates_as_a_tree() {
    let srs = agg_srs();
    let vp = VerifierParams::from_srs(&srs);
    let chunks = chain(&[1, 2, 3], 5);
    let params = AggregationParams { srs: &srs, arity: 2 };
    let agg = aggregate(&chunks, &blocks(chunks.len()), &model_id(), &params).expect("aggregate");
    assert_eq!(agg.levels.len(), 3, "groups [2, 1], then the two aggregates");
    check_everywhere(&agg, &vp, &chunks);
}

#[test]
fn broken_chains_and_bad_chunks_are_refused_before_proving() {
    let srs = agg_srs();
    let params = AggregationParams { srs: &srs, arity: 2 };
    let chunks = chain(&[1, 2, 3], 3);

    let swapped = [chunks[1].clone(), chunks[0].clone(), chunks[2].clone()];
    let err = aggregate(&swapped, &blocks(3), &model_id(), &params).expect_err("swapped order");
    assert!(matches!(err, AggregateError::BrokenChain { index: 0 }), "{err}");

    // A chunk proved from another input: valid on its own, but not linked to chunk 0.
    let unlinked = chain(&[2], 4);
    let mismatched = [chunks[0].clone(), unlinked[0].clone()];
    let err = aggregate(&mismatched, &blocks(2), &model_id(), &params).expect_err("mismatched commitment");
    assert!(matches!(err, AggregateError::BrokenChain { index: 0 }), "{err}");

    let mut tampered = chunks[..2].to_vec();
    tampered[1].proof[40] ^= 1;
    let err = aggregate(&tampered, &blocks(2), &model_id(), &params).expect_err("tampered chunk proof");
    assert!(matches!(err, AggregateError::ChunkRejected { index: 1, .. }), "{err}");

    let mut lying = chunks[..2].to_vec();
    lying[1].instances[0][1] += Fr::one();
    let err = aggregate(&lying, &blocks(2), &model_id(), &params)
        .expect_err("claimed output the proof does not give");
    assert!(matches!(err, AggregateError::ChunkRejected { index: 1, .. }), "{err}");

    let mut three_values = chunks[..1].to_vec();
    three_values[0].instances[0].push(Fr::one());
    let err = aggregate(&three_values, &blocks(1), &model_id(), &params).expect_err("shape");
    assert!(
        matches!(err, AggregateError::ChunkShape { index: 0, ref shape, expected: 2, .. } if shape == &[3]),
        "{err}"
    );
    let err = aggregate(&chunks[..1], &[Role::HeadNext], &model_id(), &params).expect_err("role");
    assert!(matches!(err, AggregateError::ChunkShape { index: 0, expected: 5, .. }), "{err}");
    let err = aggregate(&chunks, &blocks(2), &model_id(), &params).expect_err("role count");
    assert!(matches!(err, AggregateError::RoleCount { chunks: 3, roles: 2 }), "{err}");

    assert!(matches!(aggregate(&[], &[], &model_id(), &params), Err(AggregateError::NoChunks)));
    let one = AggregationParams { srs: &srs, arity: 1 };
    assert!(matches!(
        aggregate(&chunks, &blocks(3), &model_id(), &one),
        Err(AggregateError::Arity { arity: 1 })
    ));
    let small = Srs::insecure(CHUNK_K).expect("small");
    let small = AggregationParams { srs: &small, arity: 2 };
    assert!(matches!(
        aggregate(&chunks, &blocks(3), &model_id(), &small),
        Err(AggregateError::SrsTooSmall { .. })
    ));
}

/// The aggregation circuit of `snarks` (with `roles`) under MockProver, with the public
/// inputs it exposes.
fn mock(srs: &Srs, snarks: &[Snark], roles: &[Role]) -> (MockProver<Fr>, Vec<Fr>) {
    let mut circuit = circuit::build(
        CircuitBuilderStage::Mock,
        circuit::initial_config(AGG_K),
        srs,
        snarks,
        roles,
        &model_id(),
    );
    circuit.calculate_params(Some(20));
    let instances = circuit::instances(&circuit);
    assert_eq!(instances[0][INPUT_COMMITMENT], snarks[0].instances[0][0]);
    let prover = MockProver::run(AGG_K, &circuit, instances.clone()).expect("mock synthesis");
    (prover, instances.into_iter().next().expect("one column"))
}

/// The chain is a constraint of the aggregation circuit, not only a native check: built
/// directly (skipping `aggregate`'s check) over swapped chunks, the circuit fails only copy
/// constraints (the link between the two chunks), while the chunks in order satisfy it.
#[test]
fn broken_chain_violates_the_aggregation_circuit() {
    let srs = agg_srs();
    let chunks = chain(&[1, 2], 3);
    let (prover, instances) = mock(&srs, &chunks, &blocks(2));
    assert_eq!(prover.verify(), Ok(()), "the chunks in order satisfy the circuit");
    assert_eq!(instances[OUTPUT_COMMITMENT], chunks[1].instances[0][1]);
    let swapped = [chunks[1].clone(), chunks[0].clone()];
    let failures = mock(&srs, &swapped, &blocks(2)).0.verify().expect_err("the broken link must fail");
    assert!(!failures.is_empty());
    for failure in &failures {
        assert!(matches!(failure, VerifyFailure::Permutation { .. }), "only the chain link fails: {failure}");
    }
}

/// Deploys `initcode` (and appended constructor arguments) in `evm`; the new address.
fn deploy(evm: &mut Evm, nonce: &mut u64, initcode: Vec<u8>) -> Address {
    let tx = TxEnv {
        gas_limit: 30_000_000,
        kind: TxKind::Create,
        data: initcode.into(),
        nonce: *nonce,
        ..Default::default()
    };
    *nonce += 1;
    match evm.transact_commit(tx).expect("a valid transaction") {
        ExecutionResult::Success { output: Output::Create(_, Some(address)), .. } => address,
        other => panic!("deployment failed: {other:?}"),
    }
}

/// Calls `to` with `data`; whether it succeeded.
fn call(evm: &mut Evm, nonce: &mut u64, to: Address, data: Vec<u8>) -> bool {
    let tx = TxEnv {
        gas_limit: 30_000_000,
        kind: TxKind::Call(to),
        data: data.into(),
        nonce: *nonce,
        ..Default::default()
    };
    *nonce += 1;
    matches!(evm.transact_commit(tx).expect("a valid transaction"), ExecutionResult::Success { .. })
}

fn word(value: &Fr) -> [u8; 32] {
    let mut bytes = value.to_repr();
    bytes.reverse();
    bytes
}

/// ABI calldata of `submit(uint256[12],uint256,uint256,uint256,uint256,bytes)`.
fn submit_calldata(instances: &[Fr], proof: &[u8]) -> Vec<u8> {
    let mut data = keccak256("submit(uint256[12],uint256,uint256,uint256,uint256,bytes)")[..4].to_vec();
    let picked = instances[..=INPUT_COMMITMENT].iter().chain(&instances[OUTPUT_COMMITMENT..=OUTPUT_LOGIT]);
    for value in picked {
        data.extend_from_slice(&word(value));
    }
    data.extend_from_slice(&word(&Fr::from(17 * 32)));
    data.extend_from_slice(&word(&Fr::from(proof.len() as u64)));
    data.extend_from_slice(proof);
    data.resize(data.len() + (32 - proof.len() % 32) % 32, 0);
    data
}

/// The example contract of `docs/` records an output only with a valid proof of its model.
fn check_example_contract(agg: &AggregatedProof, verifier_code: Vec<u8>) {
    let source = include_str!("../../docs/ModelOutputRegistry.sol");
    let registry_code = solc().compile(source).expect("the example contract compiles");
    let mut evm: Evm = Context::mainnet().with_db(InMemoryDB::default()).build_mainnet();
    let mut nonce = 0;
    let verifier = deploy(&mut evm, &mut nonce, verifier_code);
    let registry_for = |evm: &mut Evm, nonce: &mut u64, id: [u8; 32]| {
        let mut initcode = registry_code.clone();
        initcode.extend_from_slice(&[0; 12]);
        initcode.extend_from_slice(verifier.as_slice());
        initcode.extend_from_slice(&id);
        deploy(evm, nonce, initcode)
    };
    let registry = registry_for(&mut evm, &mut nonce, model_id().0);
    let mut other_id = model_id().0;
    other_id[31] ^= 1;
    let other = registry_for(&mut evm, &mut nonce, other_id);

    assert!(call(&mut evm, &mut nonce, registry, submit_calldata(&agg.instances, &agg.proof)), "valid proof");
    let mut wrong_output = agg.instances.clone();
    wrong_output[OUTPUT_COMMITMENT] += Fr::one();
    assert!(
        !call(&mut evm, &mut nonce, registry, submit_calldata(&wrong_output, &agg.proof)),
        "wrong output"
    );
    let mut flipped = agg.proof.clone();
    flipped[100] ^= 1;
    assert!(
        !call(&mut evm, &mut nonce, registry, submit_calldata(&agg.instances, &flipped)),
        "tampered proof"
    );
    assert!(!call(&mut evm, &mut nonce, other, submit_calldata(&agg.instances, &agg.proof)), "another model");
}

/// A block, then two head slices: each slice reads the block's output commitment, the
/// second slice's prior must be the first slice's best, and the aggregated proof exposes the
/// last best (the next token) — checked natively by `aggregate` and as copy constraints of
/// the circuit (a wrong prior fails only the permutation).
#[test]
fn head_slices_chain_by_their_best_in_circuit() {
    let srs = agg_srs();
    let block = chain(&[1], 3).remove(0);
    let out = block.instances[0][1];
    let first = slice(4, out, &[7, 250]);
    let next = slice(5, out, &[7, 250, 9, 300]);
    let roles = [Role::Block, Role::HeadFirst, Role::HeadNext];

    let honest = [block.clone(), first.clone(), next];
    let (prover, instances) = mock(&srs, &honest, &roles);
    assert_eq!(prover.verify(), Ok(()), "an honest block + slices chain satisfies the circuit");
    assert_eq!(instances[OUTPUT_COMMITMENT], out, "the head reads the block's output");
    assert_eq!(instances[OUTPUT_INDEX..=OUTPUT_LOGIT], [Fr::from(9), Fr::from(300)], "the next token");
    assert_eq!(instances[INPUT_COMMITMENT + 1..OUTPUT_COMMITMENT], [Fr::zero(), Fr::zero()]);

    let params = AggregationParams { srs: &srs, arity: 3 };
    let wrong_prior = slice(5, out, &[8, 250, 9, 300]);
    let bad = [block.clone(), first.clone(), wrong_prior];
    let err = aggregate(&bad, &roles, &model_id(), &params).expect_err("a prior that is not the best before");
    assert!(matches!(err, AggregateError::BrokenChain { index: 1 }), "{err}");
    let failures = mock(&srs, &bad, &roles).0.verify().expect_err("the wrong prior must fail in-circuit");
    for failure in &failures {
        assert!(matches!(failure, VerifyFailure::Permutation { .. }), "only the chain link fails: {failure}");
    }
    let other_input = slice(4, out + Fr::one(), &[7, 250]);
    let err = aggregate(&[block, other_input], &roles[..2], &model_id(), &params).expect_err("another input");
    assert!(matches!(err, AggregateError::BrokenChain { index: 0 }), "{err}");
}
