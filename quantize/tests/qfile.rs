//! The quantized model file: round trip, and corruption caught with a clear error.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use zkinfer_quantize::int;
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
use zkinfer_quantize::synthetic::{tiny_config, SyntheticModel};
use zkinfer_quantize::{Error, LoadError};

fn tiny(dir: &Path) -> PathBuf {
    let src = SyntheticModel::new(tiny_config(), 7);
    let path = dir.join("tiny.zkq");
    let prompts = vec![(0..40).map(|i| (i * 37 % 256) as u32).collect::<Vec<u32>>(), vec![1, 2, 3]];
    let opts = QuantOptions { max_seq: 64, ..QuantOptions::default() };
    quantize_to_file(&src, &prompts, &opts, &path, &mut |_, _, _| {}).expect("quantize");
    path
}

/// Opens and reads everything; returns the first error.
fn read_all(path: &Path) -> Result<(), Error> {
    let q = QuantizedModel::open(path)?;
    q.tables()?;
    q.rope()?;
    q.embedding()?;
    q.final_norm()?;
    q.lm_head()?;
    for l in 0..q.config().num_hidden_layers {
        q.layer(l)?;
    }
    int::forward(&q, &[5, 6, 7], &mut |_| {})?;
    Ok(())
}

#[test]
fn round_trip_is_lossless_and_runs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tiny(tmp.path());
    read_all(&path).expect("valid file");
    assert!(!tmp.path().join("tiny.zkq.partial").exists());
    let q = QuantizedModel::open(&path).expect("open");
    assert_eq!(q.model_id().len(), 64);
    assert_eq!(q.manifest.body.layers.len(), 2);
    assert!(q.manifest.tokenizer.is_none());
}

#[test]
fn a_flipped_weight_byte_names_the_tensor() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tiny(tmp.path());
    let q = QuantizedModel::open(&path).expect("open");
    let off = q.manifest.body.layers[1].content.q.weight.offset as usize;
    drop(q);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[off + 3] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    let q = QuantizedModel::open(&path).expect("framing still valid");
    q.layer(0).expect("layer 0 untouched");
    let e = q.layer(1).expect_err("layer 1 corrupt").to_string();
    assert!(e.contains("tiny.zkq") && e.contains("layers.1.q") && e.contains("hash mismatch"), "{e}");
}

#[test]
fn an_edited_manifest_breaks_the_model_id() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tiny(tmp.path());
    let bytes = std::fs::read(&path).expect("read");
    // Change the score shift of layer 0 in the manifest (same length keeps the framing).
    let q = QuantizedModel::open(&path).expect("open");
    let s = q.manifest.body.layers[0].content.score_shift;
    let needle = format!("\"score_shift\": {s}");
    let pos = bytes.windows(needle.len()).position(|w| w == needle.as_bytes()).expect("field present");
    let mut edited = bytes.clone();
    let digit = edited[pos + needle.len() - 1];
    edited[pos + needle.len() - 1] = if digit == b'9' { b'8' } else { digit + 1 };
    std::fs::write(&path, &edited).expect("write");
    let e = QuantizedModel::open(&path).err().expect("must fail").to_string();
    assert!(e.contains("model id mismatch"), "{e}");
}

#[test]
fn truncations_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tiny(tmp.path());
    let bytes = std::fs::read(&path).expect("read");
    let cut = tmp.path().join("cut.zkq");
    for n in [0, 7, 8, 16, 100, bytes.len() / 2, bytes.len() - 25, bytes.len() - 1] {
        std::fs::write(&cut, &bytes[..n]).expect("write");
        let e = QuantizedModel::open(&cut).err().unwrap_or_else(|| panic!("cut at {n} accepted"));
        assert!(matches!(e, LoadError::Format { .. }), "cut at {n}: {e}");
        assert!(e.to_string().contains("cut.zkq"), "{e}");
    }
}

#[test]
fn a_prompt_past_the_rope_table_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tiny(tmp.path());
    let q = QuantizedModel::open(&path).expect("open");
    let long: Vec<u32> = (0..65).collect();
    assert!(matches!(int::forward(&q, &long, &mut |_| {}), Err(Error::PromptTooLong { len: 65, max: 64 })));
    assert!(matches!(int::forward(&q, &[300], &mut |_| {}), Err(Error::TokenOutOfRange { token: 300, .. })));
    assert!(matches!(int::forward(&q, &[], &mut |_| {}), Err(Error::EmptyPrompt)));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]
    /// Random byte flips and truncations never panic: every read is Ok or a clear error.
    #[test]
    fn mutations_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                             cut in proptest::option::of(any::<prop::sample::Index>())) {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tiny_cached();
        let mut bytes = std::fs::read(&path).expect("read");
        for (i, x) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= x | 1;
        }
        if let Some(c) = cut {
            let n = c.index(bytes.len());
            bytes.truncate(n);
        }
        let p = tmp.path().join("m.zkq");
        std::fs::write(&p, &bytes).expect("write");
        let _ = read_all(&p);
    }
}

fn tiny_cached() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("zkinfer-qfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        tiny(&dir)
    })
    .clone()
}
