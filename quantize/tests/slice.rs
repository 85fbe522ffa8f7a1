//! The float and integer passes on the real SmolLM2 2-layer slice.

mod common;

use zkinfer_quantize::float;
use zkinfer_quantize::int;
use zkinfer_quantize::load::hf::HfModel;
use zkinfer_quantize::prompts::{tokenize_in_vocab, CALIBRATION};
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
use zkinfer_quantize::report::{top_k, AccuracyReport};
use zkinfer_quantize::tokenizer::Tokenizer;
use zkinfer_quantize::WeightSource;

const IDS: [u32; 4] = [6403, 1980, 253, 655];

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn float_pass_matches_every_reference_tensor() {
    let dir = common::slice_dir();
    let src = HfModel::open(&dir).expect("slice opens");
    let out = float::forward(&src, &IDS, &mut |_| {}).expect("forward");
    let l0 = out.layer0.as_ref().expect("layer 0 trace");
    let hidden: Vec<f32> = out.hidden.iter().flatten().copied().collect();
    let checks: Vec<(&str, Vec<f64>)> = vec![
        ("embeddings", f64s(&out.hidden[0])),
        ("layer0_attn_norm", f64s(&l0.attn_norm)),
        ("layer0_q_rope", f64s(&l0.q_rope)),
        ("layer0_k_rope", f64s(&l0.k_rope)),
        ("layer0_v", f64s(&l0.v)),
        ("layer0_attn_probs", f64s(&l0.probs)),
        ("layer0_attn_heads", f64s(&l0.heads)),
        ("layer0_attn_out", f64s(&l0.attn_out)),
        ("layer0_resid_mid", f64s(&l0.resid_mid)),
        ("layer0_ffn_norm", f64s(&l0.ffn_norm)),
        ("layer0_ffn_out", f64s(&l0.ffn_out)),
        ("layer0_out", f64s(&l0.out)),
        ("hidden_states", f64s(&hidden)),
        ("final_norm", f64s(&out.final_norm)),
        ("logits", f64s(&out.logits)),
    ];
    for (name, ours) in checks {
        let (_, reference) = common::read_npy(&dir.join("ref").join(format!("{name}.npy")));
        assert_eq!(ours.len(), reference.len(), "{name}: size");
        let e = common::rel_err(&ours, &reference);
        eprintln!("{name:20} rel err {e:.2e}");
        assert!(e <= 1e-4, "{name}: relative error {e:.3e} > 1e-4");
    }
}

#[test]
fn integer_pass_tracks_the_float_pass() {
    let dir = common::slice_dir();
    let src = HfModel::open(&dir).expect("slice opens");
    let tok = Tokenizer::from_hf_dir(&dir).expect("tokenizer");
    let vocab = src.config().vocab_size;
    let calib: Vec<Vec<u32>> =
        CALIBRATION.iter().map(|t| tokenize_in_vocab(&tok, t, vocab).expect("tokens")).collect();
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("slice.zkq");
    let opts = QuantOptions { max_seq: 64, ..QuantOptions::default() };
    let manifest = quantize_to_file(&src, &calib, &opts, &path, &mut |_, _, _| {}).expect("quantize");
    let q = QuantizedModel::open(&path).expect("reopen");
    assert_eq!(q.model_id(), manifest.model_id);
    let f = float::forward(&src, &IDS, &mut |_| {}).expect("float");
    let i = int::forward(&q, &IDS, &mut |_| {}).expect("int");
    let r = AccuracyReport::compare(&f, &i);
    eprintln!("{r:#?}");
    for (l, e) in r.hidden_rel_err.iter().enumerate() {
        assert!(*e <= 0.01, "hidden state {l}: relative error {e:.4} > 1 %");
    }
    let vocab = f.logits.len() / IDS.len();
    let fl = f64s(&f.logits[(IDS.len() - 1) * vocab..]);
    let il = i.logits_f64()[(IDS.len() - 1) * vocab..].to_vec();
    assert_eq!(top_k(&fl, 1), top_k(&il, 1), "next token differs");
    assert_eq!(r.top1_agreement, 1.0, "top-1 differs at some position");
}

#[test]
fn quantization_is_deterministic() {
    let dir = common::slice_dir();
    let src = HfModel::open(&dir).expect("slice opens");
    let tmp = tempfile::tempdir().expect("tmp");
    let opts = QuantOptions { max_seq: 16, ..QuantOptions::default() };
    let prompts = vec![IDS.to_vec()];
    let a = quantize_to_file(&src, &prompts, &opts, &tmp.path().join("a.zkq"), &mut |_, _, _| {}).expect("a");
    let b = quantize_to_file(&src, &prompts, &opts, &tmp.path().join("b.zkq"), &mut |_, _, _| {}).expect("b");
    assert_eq!(a.model_id, b.model_id);
    let qa = QuantizedModel::open(&tmp.path().join("a.zkq")).expect("open a");
    let ia = int::forward(&qa, &IDS, &mut |_| {}).expect("int a");
    let ib = int::forward(&qa, &IDS, &mut |_| {}).expect("int b");
    assert_eq!(ia.logits, ib.logits);
}
