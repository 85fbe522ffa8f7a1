//! The BPE tokenizer against the reference tokenizer in the SmolLM2 slice's `reference.py`.
//!
//! `data/tokenizer_golden.json` holds `reference.py`'s ids for ~60 texts; regenerate it with
//! `python3 quantize/tests/data/gen_tokenizer_golden.py` (needs `pip install regex numpy`).

mod common;

use std::path::Path;

use zkinfer_quantize::tokenizer::{Tokenizer, TokenizerError};

fn smollm2() -> Tokenizer {
    let dir = common::slice_dir();
    Tokenizer::from_hf_dir(&dir)
        .unwrap_or_else(|e| panic!("loading the tokenizer from {}: {e}", dir.display()))
}

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
}

fn golden() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tokenizer_golden.json");
    let text = std::fs::read_to_string(&path).expect("read golden fixture");
    serde_json::from_str(&text).expect("parse golden fixture")
}

#[test]
fn once_upon_a_time() {
    let tok = smollm2();
    let ids = tok.encode("Once upon a time").expect("encode");
    assert_eq!(ids, [6403, 1980, 253, 655]);
    assert_eq!(tok.token_str(655), Some("Ġtime"));
    assert_eq!(tok.decode(&ids).expect("decode"), "Once upon a time");
    assert_eq!(tok.vocab_size(), 49152);
}

#[test]
fn matches_reference_golden() {
    let tok = smollm2();
    let cases = golden();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    assert!(cases.iter().any(|c| c.ids.len() >= 64), "no long prose case");
    for c in &cases {
        let ids = tok.encode(&c.text).unwrap_or_else(|e| panic!("{:?}: {e}", c.text));
        assert_eq!(ids, c.ids, "ids of {:?}", c.text);
        assert_eq!(tok.decode(&ids).expect("decode"), c.text);
    }
    // A second pass is served by the word cache and must agree.
    for c in &cases {
        assert_eq!(tok.encode(&c.text).expect("encode"), c.ids, "cached ids of {:?}", c.text);
    }
}

#[test]
fn special_tokens_and_edges() {
    let tok = smollm2();
    assert_eq!(tok.encode("").expect("encode"), Vec::<u32>::new());
    assert_eq!(tok.decode(&[]).expect("decode"), "");
    assert_eq!(tok.token_id("<|im_start|>"), Some(1));
    assert_eq!(tok.token_id("<|im_end|>"), Some(2));
    assert_eq!(tok.token_id("Ġtime"), Some(655));
    assert_eq!(tok.token_id("no such token"), None);
    assert_eq!(tok.encode("<|im_start|><|im_end|>").expect("encode"), [1, 2]);
    assert_eq!(tok.decode(&[1, 2]).expect("decode"), "<|im_start|><|im_end|>");
    // Digits are split one by one.
    let ids = tok.encode("2024").expect("encode");
    assert_eq!(ids.len(), 4);
    // A long whitespace run and a long word go through the heap BPE intact.
    for s in [" ".repeat(5000), "ab".repeat(3000), "x\n".repeat(1000)] {
        let ids = tok.encode(&s).expect("encode");
        assert_eq!(tok.decode(&ids).expect("decode"), s);
    }
    // Ids that split a multi-byte character decode lossily instead of failing.
    let ids = tok.encode("🙂").expect("encode");
    if ids.len() > 1 {
        assert!(tok.decode(&ids[..1]).expect("decode").contains('\u{fffd}'));
    }
}

#[test]
fn bytes_tokenizer_round_trips() {
    let tok = Tokenizer::bytes();
    assert_eq!(tok.vocab_size(), 256);
    assert_eq!(tok.token_str(b'a' as u32), Some("a"));
    assert_eq!(tok.token_str(b' ' as u32), Some("Ġ"));
    assert_eq!(tok.token_str(b'\n' as u32), Some("Ċ"));
    let s = "naïve café 日本語 🙂\n\t<|im_start|>";
    let ids = tok.encode(s).expect("encode");
    assert_eq!(ids, s.bytes().map(u32::from).collect::<Vec<_>>());
    assert_eq!(tok.decode(&ids).expect("decode"), s);
    let all: Vec<u32> = (0..256).collect();
    let text = tok.decode(&all).expect("decode");
    assert!(text.contains('\u{fffd}'));
    assert!(matches!(tok.decode(&[256]), Err(TokenizerError::UnknownId { id: 256, vocab_size: 256 })));
}

#[test]
fn gguf_parts_match_hf_files() {
    let dir = common::slice_dir();
    let vocab: std::collections::HashMap<String, u32> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("vocab.json")).expect("vocab")).expect("json");
    let mut tokens = vec![String::new(); vocab.len()];
    for (t, i) in vocab {
        tokens[i as usize] = t;
    }
    let merges_txt = std::fs::read_to_string(dir.join("merges.txt")).expect("merges");
    let merges: Vec<String> =
        merges_txt.lines().skip(1).filter(|l| !l.is_empty()).map(String::from).collect();
    let tok = Tokenizer::from_gguf_parts(tokens, merges, &(0..17).collect::<Vec<_>>()).expect("gguf parts");
    for c in golden() {
        assert_eq!(tok.encode(&c.text).expect("encode"), c.ids, "ids of {:?}", c.text);
    }
    let err = Tokenizer::from_gguf_parts(vec!["a".into()], vec![], &[5]).expect_err("bad special id");
    assert!(err.to_string().contains("special token id 5"), "{err}");
}

#[test]
fn tiny_vocab_and_missing_piece() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vocab = dir.path().join("vocab.json");
    let merges = dir.path().join("merges.txt");
    // Only "a", "b", "ab" and "Ġ": "c" has no entry.
    std::fs::write(&vocab, r#"{"a": 0, "b": 1, "ab": 2, "Ġ": 3}"#).expect("write");
    std::fs::write(&merges, "#version: 0.2\na b\n").expect("write");
    let tok = Tokenizer::from_files(&vocab, &merges, &[("<s>".into(), 4)]).expect("load");
    assert_eq!(tok.vocab_size(), 5);
    assert_eq!(tok.encode("ab<s>ba ab").expect("encode"), [2, 4, 1, 0, 3, 2]);
    assert_eq!(tok.decode(&[2, 4, 3]).expect("decode"), "ab<s> ");
    let err = tok.encode("abc").expect_err("c is not in the vocabulary");
    assert!(matches!(&err, TokenizerError::NoToken { piece, .. } if piece == "c"), "{err}");
    assert!(matches!(tok.decode(&[0, 9]), Err(TokenizerError::UnknownId { id: 9, vocab_size: 5 })));
    // A special id already given to another vocabulary token is refused.
    let err = Tokenizer::from_files(&vocab, &merges, &[("<s>".into(), 1)]).expect_err("conflict");
    assert!(err.to_string().contains("special token \"<s>\" has id 1"), "{err}");
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vocab = dir.path().join("vocab.json");
    let merges = dir.path().join("merges.txt");
    let missing = dir.path().join("missing.json");
    std::fs::write(&vocab, r#"{"a": 0, "b": 1, "ab": 2}"#).expect("write");
    std::fs::write(&merges, "#version: 0.2\na b\nab\n").expect("write");

    let err = Tokenizer::from_files(&missing, &merges, &[]).expect_err("missing file");
    assert!(matches!(err, TokenizerError::Io { .. }), "{err}");
    assert!(err.to_string().contains("missing.json"), "{err}");

    let err = Tokenizer::from_files(&vocab, &merges, &[]).expect_err("malformed merge");
    assert!(matches!(err, TokenizerError::Merge { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("merges.txt: merge line 3"), "{err}");

    std::fs::write(&merges, "a b\n").expect("write");
    std::fs::write(&vocab, r#"{"a": 0, "b": "one"}"#).expect("write");
    let err = Tokenizer::from_files(&vocab, &merges, &[]).expect_err("malformed vocab");
    assert!(err.to_string().contains("vocab.json: malformed JSON"), "{err}");

    std::fs::write(&vocab, r#"{"a": 0, "b": 0}"#).expect("write");
    let err = Tokenizer::from_files(&vocab, &merges, &[]).expect_err("duplicate id");
    assert!(err.to_string().contains("id 0 is given to both"), "{err}");

    let err = Tokenizer::from_hf_dir(dir.path().join("nowhere").as_path()).expect_err("missing dir");
    assert!(err.to_string().contains("vocab.json"), "{err}");
}

#[test]
fn hf_dir_reads_added_tokens_from_tokenizer_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("vocab.json"), r#"{"a": 0, "b": 1, "ab": 2}"#).expect("write");
    std::fs::write(dir.path().join("merges.txt"), "a b\n").expect("write");
    std::fs::write(
        dir.path().join("tokenizer.json"),
        r#"{"added_tokens": [{"id": 3, "content": "<|end|>", "special": true}], "model": {}}"#,
    )
    .expect("write");
    let tok = Tokenizer::from_hf_dir(dir.path()).expect("load");
    assert_eq!(tok.encode("ab<|end|>a").expect("encode"), [2, 3, 0]);
    std::fs::write(dir.path().join("tokenizer.json"), "{not json").expect("write");
    let err = Tokenizer::from_hf_dir(dir.path()).expect_err("malformed tokenizer.json");
    assert!(err.to_string().contains("tokenizer.json: malformed JSON"), "{err}");
}
