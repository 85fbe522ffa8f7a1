//! The coordinator's checker on real (small) proofs: it accepts exactly a valid proof of
//! the job's chunk with the integer reference's instances, and rejects a flipped proof byte,
//! a valid proof of another chunk, wrong instances and garbage, with a clear message.
//!
//! The chunks here are a two-cell circuit (`out = in + shift`, both public) at `k = 4`
//! instead of the model's `k = 17` chunks, so the proofs take milliseconds; the checker only
//! sees verifying keys, instances and proof bytes, which have the same form.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use zkinfer_jobs::{ChunkChecker, ChunkResult};
use zkinfer_network::{Checker, Job};
use zkinfer_prover::chain::{BlockShape, ChunkKey, ChunkKind, ModelKeys, Part};
use zkinfer_prover::halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use zkinfer_prover::halo2_proofs::plonk::{
    Advice, Circuit, Column, ConstraintSystem, Error, Expression, Instance, Selector,
};
use zkinfer_prover::halo2_proofs::poly::Rotation;
use zkinfer_prover::{keygen, prove, vk_hash, ChunkProof, Fr, Srs, VerifierParams};

const K: u32 = 4;

/// Proves `out = in + shift` with `[in, out]` public; `shift` is fixed per circuit.
#[derive(Clone)]
struct Shift {
    shift: u64,
    input: Value<Fr>,
}

#[derive(Clone, Debug)]
struct ShiftConfig {
    a: Column<Advice>,
    b: Column<Advice>,
    out: Column<Instance>,
    q: Selector,
}

impl Circuit<Fr> for Shift {
    type Config = ShiftConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = u64;

    fn without_witnesses(&self) -> Self {
        Self { shift: self.shift, input: Value::unknown() }
    }

    fn params(&self) -> u64 {
        self.shift
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, shift: u64) -> ShiftConfig {
        let (a, b, out) = (meta.advice_column(), meta.advice_column(), meta.instance_column());
        for column in [a, b] {
            meta.enable_equality(column);
        }
        meta.enable_equality(out);
        let q = meta.selector();
        meta.create_gate("out = in + shift", |meta| {
            let q = meta.query_selector(q);
            let a = meta.query_advice(a, Rotation::cur());
            let b = meta.query_advice(b, Rotation::cur());
            vec![q * (a + Expression::Constant(Fr::from(shift)) - b)]
        });
        ShiftConfig { a, b, out, q }
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> ShiftConfig {
        Self::configure_with_params(meta, 1)
    }

    fn synthesize(&self, config: ShiftConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let shift = Fr::from(self.shift);
        let (a, b) = layouter.assign_region(
            || "row",
            |mut region| {
                config.q.enable(&mut region, 0)?;
                let a = region.assign_advice(config.a, 0, self.input).cell();
                let b = region.assign_advice(config.b, 0, self.input.map(|x| x + shift)).cell();
                Ok((a, b))
            },
        )?;
        layouter.constrain_instance(a, config.out, 0);
        layouter.constrain_instance(b, config.out, 1);
        Ok(())
    }
}

/// Two chained chunks (`x → x + 1 → x + 3`), their keys, jobs, honest results and checker.
struct Fixture {
    jobs: Vec<Job>,
    results: Vec<Vec<u8>>,
    instances: Vec<Vec<Vec<Fr>>>,
    checker: ChunkChecker,
}

fn fixture() -> Fixture {
    let srs = Srs::insecure(K).unwrap();
    let (shifts, input) = ([1u64, 2], Fr::from(40));
    let mut chunks = Vec::new();
    let mut proofs = Vec::new();
    let mut x = input;
    for (layer, shift) in shifts.into_iter().enumerate() {
        let circuit = Shift { shift, input: Value::known(x) };
        let pk = keygen(&srs, &circuit).unwrap();
        let instances = vec![vec![x, x + Fr::from(shift)]];
        let proof = prove(&srs, &pk, circuit, instances).unwrap();
        let shape = BlockShape { k: K, ..Default::default() };
        let vk = pk.get_vk().clone();
        chunks.push(ChunkKey {
            kind: ChunkKind::Block { layer, part: Part::Both, shape },
            vk_hash: vk_hash(&vk),
            vk,
        });
        proofs.push(ChunkProof::new(layer as u32, pk.get_vk(), proof));
        x += Fr::from(shift);
    }
    let params = VerifierParams::from_srs(&srs);
    let keys =
        ModelKeys { model_id: "shift-model".into(), tokens: 1, srs_verifier_digest: params.digest(), chunks };
    let jobs: Vec<Job> = (0..2).map(|i| Job::new(i, K, format!("chunk {i}").into_bytes())).collect();
    let instances: Vec<_> = proofs.iter().map(|p| p.instances.clone()).collect();
    let results = jobs.iter().zip(proofs).map(|(job, p)| ChunkResult::new(job.id, p).to_bytes()).collect();
    let expected = jobs.iter().zip(&instances).enumerate().map(|(i, (job, inst))| (job.id, i, inst.clone()));
    let checker = ChunkChecker::new(Arc::new(keys), params, expected);
    Fixture { jobs, results, instances, checker }
}

fn rejection(f: &Fixture, job: usize, result: &[u8]) -> String {
    f.checker.check(&f.jobs[job], result).unwrap_err().message
}

fn edited(bytes: &[u8], edit: impl FnOnce(&mut ChunkResult)) -> Vec<u8> {
    let mut r = ChunkResult::from_bytes(bytes).unwrap();
    edit(&mut r);
    r.to_bytes()
}

#[test]
fn honest_results_pass_and_assemble_in_order() {
    let f = fixture();
    for (i, job) in f.jobs.iter().enumerate() {
        let proof = f.checker.check_result(job, &f.results[i]).unwrap();
        assert_eq!(proof.index, i as u32);
        assert_eq!(proof.k, K);
        assert_eq!(proof.instances, f.instances[i]);
    }
}

#[test]
fn a_flipped_proof_byte_is_rejected() {
    let f = fixture();
    let flipped = edited(&f.results[1], |r| {
        let n = r.proof.len();
        r.proof[n / 3] ^= 0x10;
    });
    let message = rejection(&f, 1, &flipped);
    assert!(message.starts_with("chunk 1: chunk 1:"), "{message}");
    let truncated = edited(&f.results[1], |r| r.proof.truncate(10));
    assert!(rejection(&f, 1, &truncated).starts_with("chunk 1: chunk 1:"));
}

#[test]
fn a_valid_proof_of_another_chunk_is_rejected() {
    let f = fixture();
    // As sent: it answers chunk 0's job.
    let message = rejection(&f, 1, &f.results[0]);
    assert!(message.contains("answers job"), "{message}");
    // Relabelled for chunk 1's job: it names chunk 0.
    let relabelled = edited(&f.results[0], |r| r.job = f.jobs[1].id);
    assert!(rejection(&f, 1, &relabelled).contains("is for chunk 0"));
    // Also claiming chunk 1: it names chunk 0's verifying key.
    let reindexed = edited(&relabelled, |r| r.index = 1);
    assert!(rejection(&f, 1, &reindexed).contains("names vk"));
    // Also naming chunk 1's key: chunk 0's instances are not chunk 1's.
    let renamed = edited(&reindexed, |r| r.vk_hash = ChunkResult::from_bytes(&f.results[1]).unwrap().vk_hash);
    assert!(rejection(&f, 1, &renamed).contains("public instances"));
    // And with chunk 1's instances: chunk 0's proof does not verify under chunk 1's key.
    let restated = edited(&renamed, |r| r.instances = f.instances[1].clone());
    let message = rejection(&f, 1, &restated);
    assert!(message.starts_with("chunk 1: chunk 1:") && !message.contains("instances"), "{message}");
}

#[test]
fn wrong_instances_are_rejected_even_with_a_valid_proof_of_them() {
    let f = fixture();
    // A chunk-0 proof from another input (41 → 42) verifies under chunk 0's key, but the
    // coordinator's integer reference says the chunk starts at 40.
    let srs = Srs::insecure(K).unwrap();
    let circuit = Shift { shift: 1, input: Value::known(Fr::from(41)) };
    let pk = keygen(&srs, &circuit).unwrap();
    let proof = prove(&srs, &pk, circuit, vec![vec![Fr::from(41), Fr::from(42)]]).unwrap();
    let other = ChunkResult::new(f.jobs[0].id, ChunkProof::new(0, pk.get_vk(), proof)).to_bytes();
    assert!(rejection(&f, 0, &other).contains("public instances"));
    let shifted = edited(&f.results[0], |r| r.instances[0][1] += Fr::one());
    assert!(rejection(&f, 0, &shifted).contains("public instances"));
    let missing = edited(&f.results[0], |r| r.instances.clear());
    assert!(rejection(&f, 0, &missing).contains("public instances"));
}

#[test]
fn garbage_and_unknown_jobs_are_rejected() {
    let f = fixture();
    for bytes in [&b""[..], b"\x00\x01\x02", b"{}", b"{\"format\":\"zkinfer-chunk-result\",\"version\":1}"] {
        let message = rejection(&f, 0, bytes);
        assert!(message.contains("chunk result is malformed"), "{message}");
    }
    let newer = String::from_utf8(f.results[0].clone()).unwrap().replace("\"version\":1", "\"version\":9");
    assert!(rejection(&f, 0, newer.as_bytes()).contains("format version 9"));
    let stranger = Job::new(5, K, b"not planned".to_vec());
    let message = f.checker.check(&stranger, &f.results[0]).unwrap_err().message;
    assert!(message.contains("is not one of this run's"), "{message}");
}
