//! The proof-bundle format: round trip with real proofs, and every kind of broken bundle.

mod common;

use common::{path_in, temp_dir, Op, TestCircuit, K, ROWS};
use sha2::{Digest, Sha256};
use zkinfer_prover::bundle::BUNDLE_VERSION;
use zkinfer_prover::halo2_proofs::plonk::ProvingKey;
use zkinfer_prover::{
    keygen, keygen_with, prove, Bundle, BundleError, ChunkProof, G1Affine, Selectors, Srs, SrsKind,
    VerifierParams,
};

struct Fixture {
    vp: VerifierParams,
    mul: ProvingKey<G1Affine>,
    add: ProvingKey<G1Affine>,
    bundle: Bundle,
}

fn fixture() -> Fixture {
    let srs = Srs::insecure(K).expect("dev SRS");
    let vp = VerifierParams::from_srs(&srs);
    let mul = keygen(&srs, &TestCircuit::new(Op::Mul, &ROWS)).expect("keygen mul");
    let add = keygen(&srs, &TestCircuit::new(Op::Add, &ROWS)).expect("keygen add");
    let chunks = [(Op::Mul, &mul), (Op::Add, &add)]
        .into_iter()
        .enumerate()
        .map(|(index, (op, pk))| {
            let proof = prove(&srs, pk, TestCircuit::new(op, &ROWS), TestCircuit::instances(op, &ROWS))
                .expect("prove");
            ChunkProof::new(index as u32, pk.get_vk(), proof)
        })
        .collect();
    let bundle = Bundle::new("test-model", &vp, chunks);
    Fixture { vp, mul, add, bundle }
}

/// Builds a bundle by hand from the documented layout, with a valid checksum.
fn seal(version: u32, manifest: &[u8], proofs: &[u8]) -> Vec<u8> {
    let mut out = b"ZKIBNDL\0".to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(manifest.len() as u64).to_le_bytes());
    out.extend_from_slice(manifest);
    out.extend_from_slice(proofs);
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    out
}

/// Splits encoded bundle bytes into the manifest (as JSON) and the proofs.
fn unseal(bytes: &[u8]) -> (serde_json::Value, Vec<u8>) {
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes")) as usize;
    let manifest = serde_json::from_slice(&bytes[20..20 + len]).expect("manifest JSON");
    (manifest, bytes[20 + len..bytes.len() - 32].to_vec())
}

fn reseal(manifest: &serde_json::Value, proofs: &[u8]) -> Vec<u8> {
    seal(BUNDLE_VERSION, &serde_json::to_vec(manifest).expect("JSON"), proofs)
}

#[test]
fn round_trip_keeps_everything_and_the_proofs_verify() {
    let Fixture { vp, mul, add, bundle } = fixture();
    let bytes = bundle.to_bytes();
    assert_eq!(Bundle::from_bytes(&bytes).expect("decode"), bundle);

    let dir = temp_dir();
    let path = path_in(&dir, "proof.zkb");
    bundle.write(&path).expect("write");
    let read = Bundle::read(&path).expect("read");
    assert_eq!(read, bundle);
    assert_eq!(read.srs, SrsKind::Insecure);
    read.check_srs(&vp).expect("same SRS");
    read.chunks[0].verify(&vp, mul.get_vk()).expect("chunk 0 verifies");
    read.chunks[1].verify(&vp, add.get_vk()).expect("chunk 1 verifies");

    let vks = [mul.get_vk().clone(), add.get_vk().clone()];
    read.verify(&vp, &vks).expect("the whole bundle verifies");
    let err = read.verify(&vp, &vks[..1]).expect_err("a chunk too many");
    assert!(matches!(err, BundleError::ChunkCount { expected: 1, got: 2 }), "{err}");
    let err = read.verify(&vp, &[vks[1].clone(), vks[0].clone()]).expect_err("swapped chunk order");
    assert!(matches!(err, BundleError::VkMismatch { index: 0, .. }), "{err}");

    let err = read.chunks[0].verify(&vp, add.get_vk()).expect_err("another chunk's vk");
    assert!(matches!(err, BundleError::VkMismatch { index: 0, .. }), "{err}");

    // A proof moved to another chunk's slot (with that chunk's vk hash) does not verify.
    let mut swapped = read.chunks[1].clone();
    swapped.proof = read.chunks[0].proof.clone();
    let err = swapped.verify(&vp, add.get_vk()).expect_err("swapped proof");
    assert!(matches!(err, BundleError::Verify { index: 1, .. }), "{err}");

    let (manifest, _) = unseal(&bytes);
    assert_eq!(manifest["srs"]["kind"], "insecure");
    assert_eq!(manifest["chunks"][0]["instances"][0][0], format!("0x{:064x}", 15));

    let err = Bundle::read(&path_in(&dir, "missing.zkb")).expect_err("missing file");
    assert!(matches!(err, BundleError::Read { .. }), "{err}");
}

#[test]
fn a_bundle_from_another_srs_is_refused() {
    let Fixture { bundle, .. } = fixture();
    let dir = temp_dir();
    let path = path_in(&dir, "foreign.params");
    let mut seed = zkinfer_prover::srs::INSECURE_SEED;
    seed[1] ^= 1;
    let params =
        <zkinfer_prover::halo2_proofs::poly::kzg::commitment::ParamsKZG<zkinfer_prover::Bn256>>::setup(
            5,
            <rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_seed(seed),
        );
    let mut bytes = Vec::new();
    params.write_custom(&mut bytes, zkinfer_prover::halo2_proofs::SerdeFormat::RawBytes).expect("encode");
    std::fs::write(&path, bytes).expect("write");
    let foreign = VerifierParams::from_srs(&Srs::load(&path).expect("load"));
    let err = bundle.check_srs(&foreign).expect_err("other SRS");
    assert!(matches!(err, BundleError::SrsMismatch { .. }), "{err}");
    assert!(err.to_string().contains("INSECURE"), "{err}");
}

#[test]
fn every_truncation_and_every_flipped_byte_is_an_error() {
    let bytes = fixture().bundle.to_bytes();
    for len in 0..bytes.len() {
        let err = Bundle::from_bytes(&bytes[..len]).expect_err("truncated bundle");
        if len < 8 {
            assert!(matches!(err, BundleError::BadMagic), "len {len}: {err}");
        }
        if len > bytes.len() - 32 - 100 {
            assert!(matches!(err, BundleError::Truncated { .. }), "len {len}: {err}");
        }
    }
    for position in 0..bytes.len() {
        let mut garbled = bytes.clone();
        garbled[position] ^= 0x20;
        assert!(Bundle::from_bytes(&garbled).is_err(), "flipped byte {position} was accepted");
    }
    let mut padded = bytes.clone();
    padded.push(0);
    assert!(Bundle::from_bytes(&padded).is_err(), "a byte after the checksum");
    let mut garbled = bytes;
    let last = garbled.len() - 1;
    garbled[last] ^= 1;
    assert!(matches!(Bundle::from_bytes(&garbled), Err(BundleError::Checksum)));
}

#[test]
fn resealed_bundles_with_bad_contents_name_the_problem() {
    let bytes = fixture().bundle.to_bytes();
    let (manifest, proofs) = unseal(&bytes);
    assert_eq!(
        Bundle::from_bytes(&reseal(&manifest, &proofs)).expect("a faithful reseal"),
        Bundle::from_bytes(&bytes).expect("the original")
    );

    let err = Bundle::from_bytes(&seal(2, b"{}", &[])).expect_err("future version");
    assert!(matches!(err, BundleError::UnsupportedVersion(2)), "{err}");

    let err = Bundle::from_bytes(&seal(BUNDLE_VERSION, b"{not json", &[])).expect_err("bad JSON");
    assert!(matches!(err, BundleError::Manifest(_)), "{err}");

    let mut extra = proofs.clone();
    extra.extend_from_slice(&[1, 2, 3]);
    let err = Bundle::from_bytes(&reseal(&manifest, &extra)).expect_err("bytes after the proofs");
    assert!(matches!(err, BundleError::TrailingBytes(3)), "{err}");

    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut m = manifest.clone();
        f(&mut m);
        Bundle::from_bytes(&reseal(&m, &proofs)).expect_err("edited manifest")
    };
    let err = edit(&|m| m["surprise"] = 1.into());
    assert!(matches!(err, BundleError::Manifest(ref e) if e.contains("surprise")), "{err}");
    let err = edit(&|m| m["proof_system"] = "groth16".into());
    assert!(matches!(err, BundleError::Manifest(ref e) if e.contains("groth16")), "{err}");
    let err = edit(&|m| m["chunks"][1]["index"] = 0.into());
    assert!(matches!(err, BundleError::Chunk { chunk: 1, ref reason } if reason.contains("index")), "{err}");
    let err = edit(&|m| m["chunks"][0]["k"] = 40.into());
    assert!(matches!(err, BundleError::Chunk { chunk: 0, .. }), "{err}");
    let modulus = "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001";
    let err = edit(&|m| m["chunks"][0]["instances"][0][2] = modulus.into());
    assert!(matches!(err, BundleError::Chunk { chunk: 0, ref reason } if reason.contains("row 2")), "{err}");
    let err = edit(&|m| m["chunks"][0]["instances"][0][2] = "0x0F".into());
    assert!(matches!(err, BundleError::Chunk { chunk: 0, .. }), "{err}");
    let err = edit(&|m| m["chunks"][1]["proof_sha256"] = "00".repeat(32).into());
    assert!(
        matches!(err, BundleError::Chunk { chunk: 1, ref reason } if reason.contains("proof_sha256")),
        "{err}"
    );
    let err = edit(&|m| m["chunks"][0]["vk_hash"] = "xyz".into());
    assert!(matches!(err, BundleError::Manifest(_)), "{err}");
    let err = edit(&|m| m["srs"] = serde_json::json!({ "kind": "file" }));
    assert!(matches!(err, BundleError::Manifest(_)), "{err}");
    let err = edit(&|m| {
        let len = m["chunks"][0]["proof_len"].as_u64().expect("a number");
        m["chunks"][0]["proof_len"] = (len + 1).into();
    });
    assert!(matches!(err, BundleError::Truncated { .. }), "{err}");
}

/// The golden bundle: format version 1, the dev SRS at `K`, chunks Mul then Add over `ROWS`.
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/bundle-v1.zkb");

/// A bundle written by an earlier build still reads, names the vks today's keygen gives
/// with the selector layout of that build (one fixed column per selector), and verifies:
/// the format, the vk hash and the transcript have not drifted. Today's default keygen
/// compresses selectors, which gives other keys: the golden proofs do not verify under them.
#[test]
fn golden_bundle_v1_still_reads_and_verifies() {
    let srs = Srs::insecure(K).expect("dev SRS");
    let vp = VerifierParams::from_srs(&srs);
    let separate = |op| keygen_with(&srs, &TestCircuit::new(op, &ROWS), Selectors::Separate).expect("keygen");
    let (mul, add) = (separate(Op::Mul), separate(Op::Add));
    let golden = Bundle::read(std::path::Path::new(GOLDEN)).expect("read the golden bundle");
    assert_eq!(golden.model_id, "golden-test-model");
    golden.check_srs(&vp).expect("made with the dev SRS");
    golden.chunks[0].verify(&vp, mul.get_vk()).expect("golden chunk 0");
    golden.chunks[1].verify(&vp, add.get_vk()).expect("golden chunk 1");
    let compressed = keygen(&srs, &TestCircuit::new(Op::Mul, &ROWS)).expect("keygen");
    let err = golden.chunks[0].verify(&vp, compressed.get_vk()).expect_err("other keys");
    assert!(matches!(err, BundleError::VkMismatch { index: 0, .. }), "{err}");
}

/// Rewrites the golden bundle; run only when the format version changes:
/// `cargo test --release -p zkinfer-prover --test bundle -- --ignored regenerate`.
#[test]
#[ignore = "rewrites tests/data/bundle-v1.zkb"]
fn regenerate_golden_bundle_v1() {
    use rand::SeedableRng;
    let srs = Srs::insecure(K).expect("dev SRS");
    let vp = VerifierParams::from_srs(&srs);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let chunks = [Op::Mul, Op::Add]
        .into_iter()
        .enumerate()
        .map(|(index, op)| {
            let pk = keygen_with(&srs, &TestCircuit::new(op, &ROWS), Selectors::Separate).expect("keygen");
            let circuit = TestCircuit::new(op, &ROWS);
            let proof = zkinfer_prover::prove_with_rng(
                &srs,
                &pk,
                circuit,
                TestCircuit::instances(op, &ROWS),
                &mut rng,
            )
            .expect("prove");
            ChunkProof::new(index as u32, pk.get_vk(), proof)
        })
        .collect();
    Bundle::new("golden-test-model", &vp, chunks).write(std::path::Path::new(GOLDEN)).expect("write");
}
