use std::ops::Range;
use std::sync::{Arc, OnceLock};

use halo2_proofs::dev::{MockProver, VerifyFailure};
use zkinfer_quantize::int::{forward, IntOutput};
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
use zkinfer_quantize::synthetic::{tiny_config, SyntheticModel};

use super::*;
use crate::argmax::first_max;
use crate::testing::permutation_failures;

const TOKENS: [u32; 4] = [3, 141, 59, 26];

/// The tiny synthetic model quantized once, and its integer pass over a 4-token prompt.
struct Fixture {
    model: QuantizedModel,
    out: IntOutput,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("zkinfer-head-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("tiny.zkq");
        let src = SyntheticModel::new(tiny_config(), 7);
        let prompts = vec![(0..40).map(|i| (i * 37 % 256) as u32).collect::<Vec<u32>>()];
        let opts = QuantOptions { max_seq: 16, ..QuantOptions::default() };
        quantize_to_file(&src, &prompts, &opts, &path, &mut |_, _, _| {}).expect("quantize");
        let model = QuantizedModel::open(&path).expect("open");
        let out = forward(&model, &TOKENS, &mut |_| {}).expect("integer pass");
        Fixture { model, out }
    })
}

/// The last block's output residual `[t, d]`.
fn input() -> &'static [i64] {
    let f = fixture();
    f.out.hidden.last().expect("hidden states")
}

/// The reference's logits of the last token.
fn reference_logits() -> &'static [i64] {
    let f = fixture();
    let vocab = f.model.config().vocab_size;
    &f.out.logits[(f.out.t - 1) * vocab..]
}

fn consts(vocab: Range<usize>) -> Arc<HeadConsts> {
    let m = &fixture().model;
    let c = HeadConsts::new(
        &m.final_norm().expect("final norm"),
        &m.lm_head().expect("lm_head"),
        &m.tables().expect("tables"),
        m.manifest.body.params.resid,
        TOKENS.len(),
        vocab,
    )
    .expect("constants");
    Arc::new(c)
}

fn mock(c: Arc<HeadConsts>, prior: Option<Prior>, instances: Vec<Vec<Fr>>) -> Result<(), Vec<VerifyFailure>> {
    let circuit = HeadCircuit::new(c, input().to_vec(), prior).expect("circuit");
    let k = circuit.shape().k;
    MockProver::run(k, &circuit, instances).expect("synthesis").verify()
}

#[test]
fn tiny_head_fits_the_minimum_k() {
    // The rsqrt table folds four times, so the head is as small as the block.
    let shape = HeadCircuit::keygen(consts(0..256)).shape();
    assert_eq!((shape.k, shape.elem_lanes, shape.t), (crate::block::MIN_K, 1, TOKENS.len()));
}

#[test]
fn slice_logits_match_the_integer_reference() {
    let logits = reference_logits();
    assert_eq!(consts(0..256).logits(input()).expect("logits"), logits);
    assert_eq!(consts(100..130).logits(input()).expect("logits"), &logits[100..130]);
}

#[test]
fn whole_vocabulary_head_proves_the_reference_argmax() {
    let c = consts(0..256);
    let (token, logit) = first_max(reference_logits()).expect("logits");
    let best = c.best(input(), None).expect("best");
    assert_eq!(best, Prior { index: token as u64, logit: logit.into() });
    let instances = HeadCircuit::honest_instances(&c, input(), None).expect("instances");
    assert_eq!(instances, HeadCircuit::instances(input(), None, best));
    assert_eq!(mock(c, None, instances), Ok(()));
}

#[test]
fn head_rejects_a_wrong_next_token() {
    let c = consts(0..256);
    let best = c.best(input(), None).expect("best");
    let wrong = Prior { index: (best.index + 1) % 256, ..best };
    let err = mock(c, None, HeadCircuit::instances(input(), None, wrong)).expect_err("wrong token");
    // Only copies break: the argmax index cell against the claimed token.
    assert_eq!(permutation_failures(&err), vec![("instance", 0, 1), ("advice", 45, 1275)]);
}

#[test]
fn head_rejects_a_wrong_input_commitment() {
    let c = consts(0..256);
    let best = c.best(input(), None).expect("best");
    let mut other = input().to_vec();
    other[0] += 1;
    let err = mock(c, None, HeadCircuit::instances(&other, None, best)).expect_err("wrong commitment");
    // Only copies break: the input commitment's cell against the claimed one.
    assert_eq!(permutation_failures(&err), vec![("instance", 0, 0), ("advice", 11, 1634)]);
}

#[test]
fn two_slices_chain_to_the_whole_vocabulary_argmax() {
    let (first, second) = (consts(0..128), consts(128..256));
    let a = HeadCircuit::honest_instances(&first, input(), None).expect("slice 0");
    let prior = first.best(input(), None).expect("best of slice 0");
    let b = HeadCircuit::honest_instances(&second, input(), Some(prior)).expect("slice 1");
    assert_eq!(mock(first, None, a.clone()), Ok(()));
    assert_eq!(mock(second, Some(prior), b.clone()), Ok(()));
    let whole = consts(0..256).best(input(), None).expect("whole");
    let chained = check_chain(&[a[0].clone(), b[0].clone()]).expect("chain");
    assert_eq!(chained, (commit_activations(input()), whole));
}

#[test]
fn a_later_slice_keeps_a_tying_prior() {
    let c = consts(128..256);
    let (_, m) = first_max(&reference_logits()[128..]).expect("logits");
    let prior = Prior { index: 7, logit: m.into() };
    assert_eq!(c.best(input(), Some(prior)).expect("best"), prior);
    let instances = HeadCircuit::honest_instances(&c, input(), Some(prior)).expect("instances");
    assert_eq!(mock(c.clone(), Some(prior), instances), Ok(()));
    let own = c.best(input(), Some(Prior { logit: i128::from(m) - 1, ..prior })).expect("best");
    let err = mock(c, Some(prior), HeadCircuit::instances(input(), Some(prior), own)).expect_err("tie");
    // Only copies break: the slice's argmax cell against the claimed token.
    assert_eq!(permutation_failures(&err), vec![("instance", 0, 3), ("advice", 45, 640)]);
}

#[test]
fn check_chain_rejects_broken_links() {
    let p = |i: u64, l: i128| Prior { index: i, logit: l };
    let a = HeadCircuit::instances(&[1, 2], None, p(3, 10)).remove(0);
    let b = HeadCircuit::instances(&[1, 2], Some(p(3, 10)), p(200, -4)).remove(0);
    assert_eq!(check_chain(&[a.clone(), b.clone()]), Ok((commit_activations(&[1, 2]), p(200, -4))));
    let broken = HeadCircuit::instances(&[1, 2], Some(p(3, 9)), p(200, 11)).remove(0);
    assert_eq!(check_chain(&[a.clone(), broken]), Err(HeadError::BrokenChain { slice: 1 }));
    let other = HeadCircuit::instances(&[1, 3], Some(p(3, 10)), p(3, 10)).remove(0);
    assert_eq!(check_chain(&[a.clone(), other]), Err(HeadError::InputMismatch { slice: 1 }));
    assert_eq!(check_chain(&[b]), Err(HeadError::InstanceCount { slice: 0, expected: 3, got: 5 }));
    assert_eq!(check_chain(&[a.clone(), a]), Err(HeadError::InstanceCount { slice: 1, expected: 5, got: 3 }));
    assert_eq!(check_chain(&[]), Err(HeadError::NoSlices));
}

#[test]
fn constructor_refuses_bad_slices_and_priors() {
    let m = &fixture().model;
    let (norm, lm) = (m.final_norm().expect("final norm"), m.lm_head().expect("lm_head"));
    let tables = m.tables().expect("tables");
    let resid = m.manifest.body.params.resid;
    let err = HeadConsts::new(&norm, &lm, &tables, resid, 4, 200..300).expect_err("past the vocabulary");
    assert_eq!(err, HeadError::VocabRange { lo: 200, hi: 300, vocab: 256 });
    assert!(matches!(HeadConsts::new(&norm, &lm, &tables, resid, 0, 0..4), Err(HeadError::NoTokens)));
    let c = consts(10..20);
    assert_eq!(c.best(input(), None), Err(HeadError::Prior { lo: 10 }));
    assert!(matches!(HeadCircuit::new(c, vec![0; 3], None), Err(HeadError::InputLength { got: 3, .. })));
}

/// The head in every range layout it may choose (8-bit limbs ending in a zero row, 13-bit
/// limbs with or without the zero row, as at `k = 15`): the reference's next token passes
/// and a wrong one fails only the instance copy, whatever the argmax's row stride.
#[test]
fn every_range_layout_proves_the_reference_argmax() {
    use crate::range::RangeLayout;
    let c = consts(0..256);
    let best = c.best(input(), None).expect("best");
    let wrong = Prior { index: (best.index + 1) % 256, ..best };
    // The argmax index cell (advice 45) sits lower the more rows each range check takes.
    for (layout, row) in [
        (RangeLayout::DEFAULT, 1275),
        (RangeLayout::with_zero_row(13), 1020),
        (RangeLayout::compact(13), 765),
    ] {
        let honest = HeadCircuit::new(c.clone(), input().to_vec(), None).expect("circuit");
        let shape =
            HeadShape { limb_bits: layout.limb_bits, compact_ranges: layout.compact, ..honest.shape() };
        let circuit = HeadCircuit { shape, ..honest };
        let run = |p: Prior| {
            MockProver::run(shape.k, &circuit, HeadCircuit::instances(input(), None, p))
                .expect("synthesis")
                .verify()
        };
        assert_eq!(run(best), Ok(()), "{layout:?}");
        let err = run(wrong).expect_err("wrong token");
        assert_eq!(permutation_failures(&err), vec![("instance", 0, 1), ("advice", 45, row)], "{layout:?}");
    }
}

/// Head shapes from before the head chose its range limbs read as 8-bit limbs ending in a
/// zero row (their keys stay the same); shapes that would panic in `configure` or declare
/// unbounded columns are refused, naming the field.
#[test]
fn head_shapes_decode_with_old_defaults_and_bounds() {
    let old = r#"{"t":4,"logit_bits":32,"elem_lanes":1,"k":17}"#;
    let s: HeadShape = serde_json::from_str(old).expect("an old shape");
    assert_eq!((s.limb_bits, s.compact_ranges), (crate::range::LIMB_BITS, false));
    let back: HeadShape = serde_json::from_str(&serde_json::to_string(&s).expect("writes")).expect("reads");
    assert_eq!(back, s);
    let with = |field: &str, value: &str| old.replacen('}', &format!(r#","{field}":{value}}}"#), 1);
    for (json, needle) in [
        (with("limb_bits", "40"), "range limbs"),
        (old.replace(r#""elem_lanes":1"#, r#""elem_lanes":1000000000"#), "elementwise"),
        (old.replace(r#""t":4"#, r#""t":10000000"#), "tokens"),
        (old.replace(r#""k":17"#, r#""k":60"#), "k = 60"),
        (old.replace(r#""logit_bits":32"#, r#""logit_bits":4000"#), "logits"),
    ] {
        let err = serde_json::from_str::<HeadShape>(&json).expect_err(needle).to_string();
        assert!(err.contains(needle), "{json}: {err}");
    }
    assert!(serde_json::from_str::<HeadShape>(&with("extra", "1")).is_err(), "unknown fields stay refused");
}
