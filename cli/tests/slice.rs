//! Real proofs of the SmolLM2-135M slice (layers 0 and 1 of the trained model, 4 tokens of
//! "Once upon a time") through `zkinfer prove` and `zkinfer verify`: every chunk's public
//! inputs equal the integer reference's, the proven next token is the integer model's,
//! and `verify` rejects a flipped proof byte, a changed public input, another chunk's
//! proof, a swapped chunk order and another model's id; a prompt with a token outside the
//! slice's cut vocabulary is refused.

mod common;

use common::{assert_one_line_error, json, rejected, s, slice_dir, zkinfer};
use zkinfer_prover::chain::{chunk_inputs, ModelKeys};
use zkinfer_prover::{Bundle, Fr};
use zkinfer_quantize::qmodel::file::QuantizedModel;

const TOKENS: [u32; 4] = [6403, 1980, 253, 655];

#[test]
fn prove_the_smollm2_slice_and_reject_tampering() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let model = d.join("slice.zkq");
    json(&zkinfer(&["quantize", s(&slice_dir()), "-o", s(&model), "--json"]));
    let tokens = "6403,1980,253,655";
    let bundle_path = d.join("p.zkb");
    let proved = json(&zkinfer(&["prove", s(&model), "--tokens", tokens, "-o", s(&bundle_path), "--json"]));
    let run = json(&zkinfer(&["run", s(&model), "--tokens", tokens, "--json"]));
    assert_eq!(proved["next_token"], run["int"]["next_token"], "the proven token is the integer model's");

    // Every chunk proves exactly the integer reference's commitments and head outputs.
    let keys_path = d.join("p.zkb.keys.json");
    let keys = ModelKeys::read(&keys_path).expect("keys");
    let honest = Bundle::read(&bundle_path).expect("bundle");
    let q = QuantizedModel::open(&model).expect("model");
    let kinds: Vec<_> = keys.chunks.iter().map(|c| c.kind).collect();
    let reference = chunk_inputs(&q, &TOKENS, &kinds).expect("integer reference");
    assert!(kinds.len() >= 3, "two blocks and the head: {kinds:?}");
    for (i, (chunk, input)) in honest.chunks.iter().zip(&reference).enumerate() {
        assert_eq!(chunk.instances, input.instances(), "chunk {i} ({})", kinds[i]);
    }

    let v = json(&zkinfer(&["verify", s(&bundle_path), "--model", s(&model), "--tokens", tokens, "--json"]));
    assert_eq!((v["valid"].clone(), v["next_token"].clone()), (true.into(), proved["next_token"].clone()));

    // " zebra" is token 29106, outside the slice's 8,192 ids: every command refuses the
    // prompt rather than drop the token and prove or check "Once upon a" instead.
    let cut = "Once upon a zebra";
    for args in [
        vec!["verify", s(&bundle_path), "--model", s(&model), "--prompt", cut],
        vec!["prove", s(&model), "--prompt", cut, "-o", s(&d.join("cut.zkb"))],
        vec!["setup", s(&model), "--prompt", cut],
    ] {
        let o = zkinfer(&args);
        assert_one_line_error(&o, "token 29106 (\" zebra\") is outside the model's vocabulary of 8192 ids");
        assert_one_line_error(&o, "--tokens");
    }

    // A flipped byte in layer 0's proof; its output commitment changed.
    let mut t = honest.clone();
    let n = t.chunks[0].proof.len();
    t.chunks[0].proof[n / 2] ^= 0x01;
    rejected(d, &keys_path, &t, "byte.zkb", "chunk 0");
    let mut t = honest.clone();
    t.chunks[0].instances[0][1] += Fr::one();
    rejected(d, &keys_path, &t, "output.zkb", "chunk 0");

    // Layer 1's valid proof in layer 0's place; the two swapped; another model's id.
    let mut t = honest.clone();
    t.chunks[0].proof = honest.chunks[1].proof.clone();
    t.chunks[0].instances = honest.chunks[1].instances.clone();
    rejected(d, &keys_path, &t, "other-proof.zkb", "chunk 0");
    let mut t = honest.clone();
    t.chunks.swap(0, 1);
    for (i, c) in t.chunks.iter_mut().enumerate() {
        c.index = i as u32;
    }
    rejected(d, &keys_path, &t, "swapped.zkb", "vk");
    let mut t = honest.clone();
    t.model_id = "0".repeat(64);
    rejected(d, &keys_path, &t, "model.zkb", "model");
}
