//! Each chunk's input from the integer reference, without proving: block chunks chain the
//! reference's hidden states, the head slice reads the last one and yields its argmax, and
//! `prove_chunk` refuses inputs of the wrong length or kind before any keygen.

use zkinfer_prover::chain::{chunk_inputs, plan_chunks, prove_chunk, ChainError, ChunkInput, ChunkKind};
use zkinfer_prover::{ProveError, Srs, SrsCache, VkHash};
use zkinfer_quantize::int::forward;
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
use zkinfer_quantize::synthetic::{tiny_config, SyntheticModel};

const TOKENS: [u32; 4] = [3, 141, 59, 26];

fn tiny(dir: &std::path::Path) -> QuantizedModel {
    let path = dir.join("tiny.zkq");
    let src = SyntheticModel::new(tiny_config(), 7);
    let prompts = vec![(0..40).map(|i| (i * 37 % 256) as u32).collect::<Vec<u32>>()];
    let opts = QuantOptions { max_seq: 16, ..QuantOptions::default() };
    quantize_to_file(&src, &prompts, &opts, &path, &mut |_, _, _| {}).expect("quantize");
    QuantizedModel::open(&path).expect("open")
}

#[test]
fn chunk_inputs_follow_the_integer_reference_and_bad_inputs_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = tiny(dir.path());
    let kinds: Vec<ChunkKind> =
        plan_chunks(&model, TOKENS.len(), 17).expect("plan").into_iter().map(|c| c.kind).collect();
    let inputs = chunk_inputs(&model, &TOKENS, &kinds).expect("inputs");
    let reference = forward(&model, &TOKENS, &mut |_| {}).expect("integer pass");
    assert_eq!(inputs.len(), 3, "two blocks and one head slice");
    for (layer, input) in inputs[..2].iter().enumerate() {
        let expected = ChunkInput::Block {
            input: reference.hidden[layer].clone(),
            output: reference.hidden[layer + 1].clone(),
        };
        assert_eq!(*input, expected, "block {layer}");
    }
    let ChunkInput::Head { input, prior, best } = &inputs[2] else { panic!("the last chunk is the head") };
    assert_eq!((input, prior), (&reference.hidden[2], &None));
    let vocab = reference.logits.len() / TOKENS.len();
    let last = &reference.logits[(TOKENS.len() - 1) * vocab..];
    let argmax = zkinfer_quantize::report::top_k(&last.iter().map(|&v| v as f64).collect::<Vec<_>>(), 1)[0];
    assert_eq!((best.index, best.logit), (u64::from(argmax), i128::from(last[argmax as usize])));
    assert_eq!(inputs[0].instances()[0][1], inputs[1].instances()[0][0], "chunk 1 starts where chunk 0 ends");

    let srs = Srs::insecure(4).expect("srs");
    let cache = SrsCache::new(dir.path().join("srs"));
    let vk = VkHash([0; 32]);
    let ChunkInput::Block { input, output } = &inputs[0] else { panic!("block") };
    let short = ChunkInput::Block { input: input[1..].to_vec(), output: output.clone() };
    let err = prove_chunk(&model, 4, 0, kinds[0], &vk, &short, &srs, &cache, None).expect_err("short input");
    assert!(matches!(err, ChainError::InputShape { index: 0, expected: 256, got: 255, .. }), "{err}");
    let err =
        prove_chunk(&model, 4, 2, kinds[2], &vk, &inputs[0], &srs, &cache, None).expect_err("wrong kind");
    assert!(matches!(err, ChainError::ChunkOrder(_)), "{err}");

    // An activation outside the residual stream's calibrated range: refused before keygen,
    // with the chunk, its layer, the chip, the value and the range named.
    let mut wide = input.clone();
    wide[5] = 1 << 40;
    let bad = ChunkInput::Block { input: wide, output: output.clone() };
    let err =
        prove_chunk(&model, 4, 0, kinds[0], &vk, &bad, &srs, &cache, None).expect_err("input out of range");
    assert!(matches!(err, ChainError::Prove { index: 0, source: ProveError::Refused(_), .. }), "{err}");
    let bits = model.manifest.body.params.resid.bits;
    let half = bits - 1;
    assert_eq!(
        err.to_string(),
        format!(
            "chunk 0, block 0 (Both): block: input[5] = 2^40 is outside the signed {bits}-bit range \
             [-2^{half}, 2^{half} − 1]"
        )
    );
}
