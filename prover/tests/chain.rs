//! A whole (tiny) model proved as a chain of block chunks with real KZG proofs: setup,
//! proving, verification, the integer reference bit for bit, and every tamper case
//! `zkinfer verify` must reject.
//!
//! Each test proves the whole tiny model once per run (several minutes on 2 cores), so they
//! are `#[ignore]`d: CI runs the same cases through the binary in `cli/tests/prove.rs`.
//! Run them with `cargo test --release -p zkinfer-prover --test chain -- --ignored --test-threads=1`.

use std::path::PathBuf;
use std::sync::OnceLock;

use zkinfer_circuits::poseidon::commit_activations;
use zkinfer_prover::chain::{prove_chain, setup, verify_chain, ChainError, ModelKeys};
use zkinfer_prover::{Bundle, BundleError, Fr, SrsCache, VerifierParams};
use zkinfer_quantize::int::forward;
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
use zkinfer_quantize::synthetic::{tiny_config, SyntheticModel};

const TOKENS: [u32; 4] = [3, 141, 59, 26];
const MAX_K: u32 = 17;

struct Fixture {
    model: QuantizedModel,
    keys: ModelKeys,
    bundle: Bundle,
    params: VerifierParams,
    _dir: tempfile::TempDir,
}

fn quantized(dir: &std::path::Path, seed: u64) -> QuantizedModel {
    let path: PathBuf = dir.join(format!("tiny-{seed}.zkq"));
    let src = SyntheticModel::new(tiny_config(), seed);
    let prompts = vec![(0..40).map(|i| (i * 37 % 256) as u32).collect::<Vec<u32>>()];
    let opts = QuantOptions { max_seq: 16, ..QuantOptions::default() };
    quantize_to_file(&src, &prompts, &opts, &path, &mut |_, _, _| {}).expect("quantize");
    QuantizedModel::open(&path).expect("open")
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let model = quantized(dir.path(), 7);
        // The dev SRS is shared with every other run on this machine.
        let srs_cache = SrsCache::from_env().expect("cache dir");
        let srs = srs_cache.insecure(MAX_K).expect("dev SRS");
        let start = std::time::Instant::now();
        let keys = setup(&model, TOKENS.len(), MAX_K, &srs, &srs_cache, &mut |_, _| {}).expect("setup");
        eprintln!("setup: {} chunks in {:.1} s", keys.chunks.len(), start.elapsed().as_secs_f64());
        let start = std::time::Instant::now();
        let (bundle, _) =
            prove_chain(&model, &TOKENS, &keys, &srs, &srs_cache, None, &mut |e| eprintln!("{e:?}"))
                .expect("prove");
        eprintln!("prove: {:.1} s", start.elapsed().as_secs_f64());
        Fixture { model, keys, bundle, params: VerifierParams::from_srs(&srs), _dir: dir }
    })
}

#[test]
#[ignore = "proves a whole tiny model; CI covers it in cli/tests/prove.rs"]
fn the_chain_verifies_and_equals_the_integer_reference() {
    let f = fixture();
    assert_eq!(f.keys.chunks.len(), 3, "one chunk per block of the tiny model, one head slice");
    let start = std::time::Instant::now();
    let outcome = verify_chain(&f.bundle, &f.keys, &f.params).expect("the honest chain verifies");
    eprintln!("verify: {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
    let reference = forward(&f.model, &TOKENS, &mut |_| {}).expect("integer pass");
    assert_eq!(
        outcome.input_commitment,
        commit_activations(&reference.hidden[0]),
        "starts at the embeddings"
    );
    assert_eq!(
        outcome.output_commitment,
        commit_activations(&reference.hidden[2]),
        "ends at block 1's output"
    );
    assert_eq!(outcome.chunks, 3);
    let vocab = reference.logits.len() / TOKENS.len();
    let last = &reference.logits[(TOKENS.len() - 1) * vocab..];
    let argmax = zkinfer_quantize::report::top_k(&last.iter().map(|&v| v as f64).collect::<Vec<_>>(), 1)[0];
    assert_eq!(outcome.next_token, u64::from(argmax), "the proven next token is the integer model's");
    assert_eq!(outcome.next_logit, i128::from(last[argmax as usize]));
    let back = Bundle::from_bytes(&f.bundle.to_bytes()).expect("round trip");
    verify_chain(&back, &f.keys, &f.params).expect("the decoded bundle verifies");
}

#[test]
#[ignore = "proves a whole tiny model; CI covers it in cli/tests/prove.rs"]
fn a_flipped_proof_byte_is_rejected() {
    let f = fixture();
    for chunk in 0..3 {
        let mut b = f.bundle.clone();
        let n = b.chunks[chunk].proof.len();
        b.chunks[chunk].proof[n / 3] ^= 0x10;
        let err = verify_chain(&b, &f.keys, &f.params).expect_err("flipped byte");
        assert!(
            matches!(err, ChainError::Bundle(BundleError::Verify { index, .. }) if index == chunk as u32),
            "{err}"
        );
    }
}

#[test]
#[ignore = "proves a whole tiny model; CI covers it in cli/tests/prove.rs"]
fn a_changed_public_input_is_rejected() {
    let f = fixture();
    let mut b = f.bundle.clone();
    b.chunks[1].instances[0][1] += Fr::one();
    let err = verify_chain(&b, &f.keys, &f.params).expect_err("changed output commitment");
    assert!(matches!(err, ChainError::Bundle(BundleError::Verify { index: 1, .. })), "{err}");
    // A different next token.
    let mut b = f.bundle.clone();
    b.chunks[2].instances[0][1] += Fr::one();
    let err = verify_chain(&b, &f.keys, &f.params).expect_err("changed next token");
    assert!(matches!(err, ChainError::Bundle(BundleError::Verify { index: 2, .. })), "{err}");
}

#[test]
#[ignore = "proves a whole tiny model; CI covers it in cli/tests/prove.rs"]
fn swapped_chunks_and_a_proof_of_another_chunk_are_rejected() {
    let f = fixture();
    let mut swapped = f.bundle.clone();
    swapped.chunks.swap(0, 1);
    for (i, c) in swapped.chunks.iter_mut().enumerate() {
        c.index = i as u32;
    }
    let err = verify_chain(&swapped, &f.keys, &f.params).expect_err("swapped order");
    assert!(matches!(err, ChainError::Bundle(BundleError::VkMismatch { index: 0, .. })), "{err}");

    // Chunk 0's valid proof in chunk 1's place, claiming chunk 1's key.
    let mut other = f.bundle.clone();
    other.chunks[1].proof = f.bundle.chunks[0].proof.clone();
    other.chunks[1].instances = f.bundle.chunks[0].instances.clone();
    let err = verify_chain(&other, &f.keys, &f.params).expect_err("another chunk's proof");
    assert!(matches!(err, ChainError::Bundle(BundleError::Verify { index: 1, .. })), "{err}");

    // The same, naming chunk 0's key: the key is not the one the model lists for chunk 1.
    other.chunks[1].vk_hash = f.bundle.chunks[0].vk_hash;
    let err = verify_chain(&other, &f.keys, &f.params).expect_err("another chunk's key");
    assert!(matches!(err, ChainError::Bundle(BundleError::VkMismatch { index: 1, .. })), "{err}");
}

#[test]
#[ignore = "proves a whole tiny model; CI covers it in cli/tests/prove.rs"]
fn a_bundle_of_another_model_is_rejected() {
    let f = fixture();
    let mut b = f.bundle.clone();
    b.model_id = "0".repeat(64);
    let err = verify_chain(&b, &f.keys, &f.params).expect_err("another model id");
    assert!(matches!(err, ChainError::ModelMismatch { .. }), "{err}");
}

#[test]
#[ignore = "proves a whole tiny model; CI covers it in cli/tests/prove.rs"]
fn keys_round_trip_and_tampered_keys_are_refused() {
    let f = fixture();
    let json = f.keys.to_json();
    let back = ModelKeys::from_json(&json).expect("round trip");
    verify_chain(&f.bundle, &back, &f.params).expect("verifies with decoded keys");
    let forged =
        json.replacen(&f.keys.chunks[0].vk_hash.to_string(), &f.keys.chunks[1].vk_hash.to_string(), 1);
    let err = ModelKeys::from_json(&forged).expect_err("vk hash does not match the vk");
    assert!(matches!(err, ChainError::BadKeys(_)), "{err}");
    assert!(ModelKeys::from_json("{}").is_err());
}
