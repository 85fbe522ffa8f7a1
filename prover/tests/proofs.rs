//! Keygen, the key cache, proving and verifying a small real circuit, and the tamper cases.

mod common;

use std::fs;
use std::time::Instant;

use common::{temp_dir, Op, TestCircuit, TestConfig, K, ROWS};
use zkinfer_circuits::failure::{self, Chip, Problem, Span};
use zkinfer_circuits::field::fr_to_i128;
use zkinfer_prover::halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use zkinfer_prover::halo2_proofs::plonk::{Circuit, ConstraintSystem, Error};
use zkinfer_prover::keys::{vk_bytes_bound, vk_from_bytes, vk_to_bytes};
use zkinfer_prover::rle;
use zkinfer_prover::snark::{to_snark, verify_snark};
use zkinfer_prover::{
    keygen, prove, verify, vk_hash, CacheStatus, Fr, KeyCache, ProveError, ShapeId, Srs, VerifierParams,
    VerifyError,
};

fn srs() -> Srs {
    Srs::insecure(K).expect("dev SRS")
}

#[test]
fn honest_proof_verifies_and_tampering_is_rejected() {
    let srs = srs();
    let vp = VerifierParams::from_srs(&srs);
    let circuit = TestCircuit::new(Op::Mul, &ROWS);

    let start = Instant::now();
    let pk = keygen(&srs, &circuit.clone()).expect("keygen");
    let keygen_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let proof = prove(&srs, &pk, circuit, TestCircuit::instances(Op::Mul, &ROWS)).expect("prove");
    let prove_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    verify(&vp, pk.get_vk(), &proof.instances, &proof.bytes).expect("the honest proof verifies");
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    eprintln!(
        "k = {K}: keygen {keygen_s:.3} s, prove {prove_s:.3} s, verify {verify_ms:.1} ms, proof {} bytes",
        proof.bytes.len()
    );

    for position in [0, 31, proof.bytes.len() / 2, proof.bytes.len() - 1] {
        let mut bytes = proof.bytes.clone();
        bytes[position] ^= 1;
        let err = verify(&vp, pk.get_vk(), &proof.instances, &bytes).expect_err("flipped byte");
        assert!(matches!(err, VerifyError::Rejected(_)), "byte {position}: {err}");
    }

    let mut wrong_output = proof.instances.clone();
    wrong_output[0][1] += Fr::one();
    let err = verify(&vp, pk.get_vk(), &wrong_output, &proof.bytes).expect_err("changed public input");
    assert!(matches!(err, VerifyError::Rejected(_)), "{err}");

    let truncated = &proof.bytes[..proof.bytes.len() - 32];
    let err = verify(&vp, pk.get_vk(), &proof.instances, truncated).expect_err("truncated proof");
    assert!(matches!(err, VerifyError::Rejected(_)), "{err}");

    let mut padded = proof.bytes.clone();
    padded.extend_from_slice(&[0; 7]);
    let err = verify(&vp, pk.get_vk(), &proof.instances, &padded).expect_err("trailing bytes");
    assert!(matches!(err, VerifyError::TrailingBytes { extra: 7 }), "{err}");

    let err = verify(&vp, pk.get_vk(), &[], &proof.bytes).expect_err("no instance column");
    assert!(matches!(err, VerifyError::InstanceColumns { expected: 1, got: 0 }), "{err}");
    let err = verify(&vp, pk.get_vk(), &[vec![Fr::zero(); 1 << K]], &proof.bytes).expect_err("too long");
    assert!(matches!(err, VerifyError::InstanceTooLong { column: 0, .. }), "{err}");

    // The same public inputs satisfy the Add circuit for other witnesses; its vk must still
    // reject the Mul proof.
    let add = keygen(&srs, &TestCircuit::new(Op::Add, &ROWS)).expect("keygen add");
    assert_ne!(vk_hash(add.get_vk()), vk_hash(pk.get_vk()));
    let err = verify(&vp, add.get_vk(), &proof.instances, &proof.bytes).expect_err("another circuit's vk");
    assert!(matches!(err, VerifyError::Rejected(_)), "{err}");
}

#[test]
fn proofs_are_aggregation_ready() {
    let srs = srs();
    let vp = VerifierParams::from_srs(&srs);
    let circuit = TestCircuit::new(Op::Mul, &ROWS);
    let pk = keygen(&srs, &circuit.clone()).expect("keygen");
    let proof = prove(&srs, &pk, circuit, TestCircuit::instances(Op::Mul, &ROWS)).expect("prove");
    let snark = to_snark(&vp, pk.get_vk(), &proof);
    assert_eq!(snark.instances, proof.instances);
    verify_snark(&vp, &snark).expect("snark-verifier accepts the proof");
    let mut tampered = snark.clone();
    let middle = tampered.proof.len() / 2;
    tampered.proof[middle] ^= 1;
    assert!(verify_snark(&vp, &tampered).is_err(), "snark-verifier rejects a flipped byte");
    let mut wrong = snark;
    wrong.instances[0][0] += Fr::one();
    assert!(verify_snark(&vp, &wrong).is_err(), "snark-verifier rejects a changed public input");
}

#[test]
fn bad_witnesses_and_mismatched_srs_are_errors_not_proofs() {
    let srs = srs();
    let circuit = TestCircuit::new(Op::Mul, &ROWS);
    let pk = keygen(&srs, &circuit.clone()).expect("keygen");

    let mut lying = TestCircuit::instances(Op::Mul, &ROWS);
    lying[0][0] = Fr::from(16);
    let err = prove(&srs, &pk, circuit.clone(), lying).expect_err("public output the witness does not give");
    assert!(matches!(err, ProveError::Unsatisfied(_)), "{err}");

    let mut not_a_byte = circuit.clone();
    not_a_byte.rows[2].0 = Value::known(Fr::from(300));
    let mut instances = TestCircuit::instances(Op::Mul, &ROWS);
    instances[0][2] = Fr::from(300 * 7);
    let err = prove(&srs, &pk, not_a_byte, instances).expect_err("lookup input outside the table");
    assert!(matches!(err, ProveError::Panicked(_) | ProveError::Unsatisfied(_)), "{err}");

    let big = Srs::insecure(K + 1).expect("k + 1");
    let err =
        prove(&big, &pk, circuit.clone(), TestCircuit::instances(Op::Mul, &ROWS)).expect_err("k mismatch");
    assert!(matches!(err, ProveError::KMismatch { key_k: K, srs_k: 10 }), "{err}");

    let err = prove(&srs, &pk, circuit, vec![]).expect_err("missing instance column");
    assert!(matches!(err, ProveError::Instances(VerifyError::InstanceColumns { .. })), "{err}");
}

#[test]
fn key_cache_hit_gives_identical_keys() {
    let dir = temp_dir();
    let cache = KeyCache::new(dir.path());
    let srs = srs();
    let circuit = TestCircuit::new(Op::Mul, &ROWS);
    let shape = ShapeId::new(&circuit, b"mul, 4 rows");

    let (fresh, status) = cache.load_or_keygen(&srs, &circuit, &shape).expect("miss");
    assert_eq!(status, CacheStatus::Miss);
    let (cached, status) = cache.load_or_keygen(&srs, &circuit, &shape).expect("hit");
    assert_eq!(status, CacheStatus::Hit);
    assert_eq!(vk_to_bytes(cached.get_vk()), vk_to_bytes(fresh.get_vk()));
    assert_eq!(vk_hash(cached.get_vk()), vk_hash(fresh.get_vk()));
    assert_eq!(vk_hash(cached.get_vk()), vk_hash(keygen(&srs, &circuit).expect("keygen").get_vk()));

    let vp = VerifierParams::from_srs(&srs);
    let proof = prove(&srs, &cached, circuit.clone(), TestCircuit::instances(Op::Mul, &ROWS))
        .expect("prove with the cached key");
    verify(&vp, fresh.get_vk(), &proof.instances, &proof.bytes).expect("verifies with the fresh vk");

    // Another declared shape, another circuit or another SRS size is another entry.
    let add = TestCircuit::new(Op::Add, &ROWS);
    let entry = cache.entry_path(&srs, &shape);
    assert_ne!(cache.entry_path(&srs, &ShapeId::new(&circuit, b"mul, 5 rows")), entry);
    assert_ne!(cache.entry_path(&srs, &ShapeId::new(&add, b"mul, 4 rows")), entry);
    assert_ne!(cache.entry_path(&Srs::insecure(K + 1).expect("k + 1"), &shape), entry);

    // A damaged entry is rebuilt, not trusted.
    let mut bytes = fs::read(&entry).expect("read the entry");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    fs::write(&entry, &bytes).expect("damage the entry");
    let (rebuilt, status) = cache.load_or_keygen(&srs, &circuit, &shape).expect("rebuild");
    assert!(
        matches!(status, CacheStatus::Rebuilt { ref reason } if reason.contains("checksum")),
        "{status:?}"
    );
    assert_eq!(vk_hash(rebuilt.get_vk()), vk_hash(fresh.get_vk()));
    fs::write(&entry, &bytes[..100]).expect("truncate the entry");
    let (_, status) = cache.load_or_keygen(&srs, &circuit, &shape).expect("rebuild");
    assert!(matches!(status, CacheStatus::Rebuilt { .. }), "{status:?}");
    assert_eq!(cache.load_or_keygen(&srs, &circuit, &shape).expect("hit").1, CacheStatus::Hit);
}

#[test]
fn vk_bytes_round_trip_and_hash_binds_the_gates() {
    let srs = srs();
    let mul = keygen(&srs, &TestCircuit::new(Op::Mul, &ROWS)).expect("keygen mul");
    let bytes = vk_to_bytes(mul.get_vk());
    let k = mul.get_vk().get_domain().k();
    let back = vk_from_bytes::<TestCircuit>(&bytes, Op::Mul, k).expect("read the vk");
    assert_eq!(vk_hash(&back), vk_hash(mul.get_vk()));

    // The Add circuit has the same columns and fixed values, so the same vk bytes parse as
    // its vk; only the hash (which covers the gates) tells them apart.
    let as_add = vk_from_bytes::<TestCircuit>(&bytes, Op::Add, k).expect("parse with the add gates");
    assert_ne!(vk_hash(&as_add), vk_hash(mul.get_vk()));

    let mut padded = bytes.clone();
    padded.push(0);
    assert!(vk_from_bytes::<TestCircuit>(&padded, Op::Mul, k).is_err(), "trailing bytes");
    assert!(vk_from_bytes::<TestCircuit>(&bytes[..bytes.len() - 1], Op::Mul, k).is_err(), "truncated");
    assert!(vk_from_bytes::<TestCircuit>(&bytes[1..], Op::Mul, k).is_err(), "no magic");

    // Tampered headers inside the run-length encoding (selectors are compressed: flag 1).
    let raw = rle::unpack(&bytes[5..], 1 << 20).expect("the vk decodes");
    assert_eq!(raw[5], 1, "keygen compresses selectors");
    let encode = |raw: &[u8]| [&bytes[..5], rle::pack(raw).as_slice()].concat();
    assert_eq!(encode(&raw), bytes, "the encoding is deterministic");
    for (offset, value, what) in [
        (0, 9, "version"),
        (1, 60, "k"),
        (4, 0x80, "k"),
        (5, 2, "compression flag"),
        (1, 26, "selectors for 2^26 rows"),
    ] {
        let mut bad = raw.clone();
        bad[offset] = value;
        let err = vk_from_bytes::<TestCircuit>(&encode(&bad), Op::Mul, k).expect_err(what);
        assert!(err.to_string().contains("invalid verifying key"), "{what}: {err}");
    }
    let mut bomb = bytes[..5].to_vec();
    bomb.extend([1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
    let err = vk_from_bytes::<TestCircuit>(&bomb, Op::Mul, k).expect_err("decodes to 4 GiB");
    // Refused at what a key of this circuit at 2^k rows can take, not at a fixed 256 MiB.
    let bound = vk_bytes_bound::<TestCircuit>(Op::Mul, k);
    assert!(bound >= raw.len() && bound < 1 << 16, "bound {bound} for a {}-byte key", raw.len());
    assert!(err.to_string().contains(&format!("decodes to more than {bound} bytes")), "{err}");
    // A key of another size than the circuit's shape says is refused, however well formed.
    let err = vk_from_bytes::<TestCircuit>(&bytes, Op::Mul, k + 1).expect_err("k differs");
    assert!(err.to_string().contains(&format!("is of 2^{k} rows")), "{err}");
    let mut huge_k = raw.clone();
    huge_k[1] = 28;
    assert!(
        vk_from_bytes::<TestCircuit>(&encode(&huge_k), Op::Mul, k).is_err(),
        "k too big for the FFT domain"
    );
    assert!(vk_from_bytes::<TestCircuit>(&bytes[..3], Op::Mul, k).is_err(), "no header");
    assert_eq!(
        vk_hash(mul.get_vk()).to_string().parse::<zkinfer_prover::VkHash>().ok(),
        Some(vk_hash(&back))
    );
}

/// The test circuit behind a check, as the circuits' chips make, that refuses a known `a`
/// outside a byte before anything is assigned.
#[derive(Clone)]
struct Checked(TestCircuit);

impl Circuit<Fr> for Checked {
    type Config = TestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = Op;

    fn without_witnesses(&self) -> Self {
        Checked(self.0.without_witnesses())
    }

    fn params(&self) -> Op {
        self.0.params()
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, op: Op) -> TestConfig {
        TestCircuit::configure_with_params(meta, op)
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
        TestCircuit::configure(meta)
    }

    fn synthesize(&self, config: TestConfig, layouter: impl Layouter<Fr>) -> Result<(), Error> {
        for (a, _) in &self.0.rows {
            let a = a.map(fr_to_i128);
            failure::check(&a, Chip::Lookup, |a| Problem::unless_in("input", *a, Span::new(0, 255)))?;
        }
        self.0.synthesize(config, layouter)
    }
}

#[test]
fn a_chip_refusal_reaches_the_caller_with_its_detail() {
    let srs = srs();
    let circuit = Checked(TestCircuit::new(Op::Mul, &ROWS));
    let pk = keygen(&srs, &circuit.clone()).expect("keygen");
    let mut not_a_byte = circuit.clone();
    not_a_byte.0.rows[2].0 = Value::known(Fr::from(300));
    let mut instances = TestCircuit::instances(Op::Mul, &ROWS);
    instances[0][2] = Fr::from(300 * 7);
    // A detail left from an earlier run is not reported for this one.
    failure::fail(Chip::Rescale, Problem::Unsupported("stale".into()));
    let err = prove(&srs, &pk, not_a_byte, instances.clone()).expect_err("a refused witness");
    assert!(matches!(err, ProveError::Refused(_)), "{err}");
    assert_eq!(err.to_string(), "lookup: input = 300 is outside the unsigned 8-bit range [0, 255]");
    // The detail went with the error: nothing is left for the next run.
    assert!(failure::explain(&Error::Synthesis).is_none());
    prove(&srs, &pk, circuit, TestCircuit::instances(Op::Mul, &ROWS)).expect("honest");
}
