//! Tokenizers against HF `tokenizers` reference ids, for every kind zkinfer builds.
//!
//! `data/tokenizer/*.json` hold the reference ids and `data/tokenizer/*.gguf` the llama.cpp
//! vocabularies; `scripts/tokenizer-reference.py` wrote them (its docstring says how each
//! reference was made). `data/tokenizer_golden.json` holds `reference.py`'s ids for ~60 texts
//! (regenerate with `python3 quantize/tests/data/gen_tokenizer_golden.py`).

mod common;

use std::path::{Path, PathBuf};

use zkinfer_quantize::load::gguf::GgufFile;
use zkinfer_quantize::load::gguf_model::{GgufModel, GgufTokenizerData};
use zkinfer_quantize::tokenizer::{GgufPre, Tokenizer, TokenizerError, TokenizerSpec};

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
}

#[derive(serde::Deserialize)]
struct Reference {
    source: String,
    cases: Vec<Case>,
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn reference(name: &str) -> Reference {
    let path = data(&format!("tokenizer/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn golden() -> Vec<Case> {
    let text = std::fs::read_to_string(data("tokenizer_golden.json")).expect("read golden fixture");
    serde_json::from_str(&text).expect("parse golden fixture")
}

fn smollm2() -> Tokenizer {
    let dir = common::slice_dir();
    Tokenizer::from_hf_dir(&dir)
        .unwrap_or_else(|e| panic!("loading the tokenizer from {}: {e}", dir.display()))
}

/// The tokenizer of a llama.cpp vocabulary fixture.
fn vocab_gguf(name: &str) -> Tokenizer {
    let path = data(&format!("tokenizer/ggml-vocab-{name}.gguf"));
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let td = GgufTokenizerData::of(&file).expect("tokenizer metadata");
    Tokenizer::from_gguf(&td).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks every case of reference `name`; `round_trip` tells which texts must decode back
/// to themselves. Returns the number of cases.
fn check(tok: &Tokenizer, name: &str, round_trip: impl Fn(&str) -> bool) -> usize {
    let r = reference(name);
    assert!(r.cases.len() >= 40, "{name}: {} cases", r.cases.len());
    for c in &r.cases {
        let ids = tok.encode(&c.text).unwrap_or_else(|e| panic!("{name} {:?}: {e}", c.text));
        assert_eq!(ids, c.ids, "{name} ({}): ids of {:?}", r.source, c.text);
        if round_trip(&c.text) {
            assert_eq!(tok.decode(&ids).expect("decode"), c.text, "{name}: round trip");
        }
    }
    r.cases.len()
}

#[test]
fn smollm2_folder_matches_hf_and_reference_py() {
    let tok = smollm2();
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.encode("Once upon a time").expect("encode"), [6403, 1980, 253, 655]);
    assert_eq!(tok.token_str(655).as_deref(), Some("Ġtime"));
    assert_eq!(tok.token_id("<|im_start|>"), Some(1));
    check(&tok, "smollm2", |_| true);
    let cases = golden();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    for c in &cases {
        assert_eq!(tok.encode(&c.text).expect("encode"), c.ids, "reference.py ids of {:?}", c.text);
    }
}

#[test]
fn tokenizer_json_folder_and_stored_spec_agree() {
    let tok = smollm2();
    let TokenizerSpec::HfJson(json) = tok.spec() else { panic!("SmolLM2's spec is not tokenizer.json") };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("tokenizer.json"), json).expect("write");
    let from_dir = Tokenizer::from_hf_dir(dir.path()).expect("tokenizer.json folder");
    check(&from_dir, "smollm2", |_| true);
    let from_spec = Tokenizer::from_spec(tok.spec()).expect("spec");
    assert_eq!(from_spec.spec(), tok.spec());
    check(&from_spec, "smollm2", |_| true);

    std::fs::write(dir.path().join("tokenizer.json"), "{not json").expect("write");
    let err = Tokenizer::from_hf_dir(dir.path()).expect_err("malformed tokenizer.json");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

#[test]
fn smollm2_gguf_matches_hf() {
    let Some(path) = common::smollm2_gguf() else { return };
    let model = GgufModel::open(&path).expect("open");
    let td = model.tokenizer_data().expect("tokenizer metadata");
    assert_eq!((td.model.as_str(), td.pre.as_deref()), ("gpt2", Some("smollm")));
    let tok = Tokenizer::from_gguf(&td).expect("tokenizer");
    assert_eq!(tok.vocab_size(), 49152);
    check(&tok, "smollm2", |_| true);
    for c in golden() {
        assert_eq!(tok.encode(&c.text).expect("encode"), c.ids, "reference.py ids of {:?}", c.text);
    }
}

#[test]
fn llama_spm_matches_hf() {
    let tok = vocab_gguf("llama-spm");
    assert_eq!(tok.vocab_size(), 32000);
    assert_eq!(tok.encode("<s>").expect("encode"), [1]);
    // Text next to a control token does not round-trip in HF either (a `▁` is prepended).
    let specials = ["<s>", "</s>", "<unk>"];
    check(&tok, "llama-spm", |t| !specials.iter().any(|s| t.contains(s)));
    // Byte fallback: a character outside the vocabulary is its UTF-8 bytes.
    let ids = tok.encode("🦙").expect("encode");
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert_eq!(tok.token_str(ids[1]).as_deref(), Some("<0xF0>"));
}

#[test]
fn llama3_bpe_matches_hf() {
    let tok = vocab_gguf("llama-bpe");
    let bot = tok.token_id("<|begin_of_text|>").expect("<|begin_of_text|>");
    assert_eq!(tok.encode("<|begin_of_text|>").expect("encode"), [bot]);
    check(&tok, "llama-bpe", |_| true);
}

#[test]
fn gpt2_bpe_matches_hf() {
    let tok = vocab_gguf("gpt-2");
    check(&tok, "gpt-2", |_| true);
}

#[test]
fn pre_tokenizer_names() {
    assert_eq!(GgufPre::from_name(Some("smollm")).expect("smollm"), GgufPre::Smollm);
    assert_eq!(GgufPre::from_name(Some("llama-bpe")).expect("llama-bpe"), GgufPre::Llama3);
    assert_eq!(GgufPre::from_name(Some("gpt-2")).expect("gpt-2"), GgufPre::Gpt2);
    assert_eq!(GgufPre::from_name(None).expect("none"), GgufPre::Default);
    for name in GgufPre::NAMES {
        GgufPre::from_name(Some(name)).expect(name);
    }
    let err = GgufPre::from_name(Some("qwen2")).expect_err("qwen2");
    assert!(err.to_string().contains("tokenizer.ggml.pre `qwen2` is not supported"), "{err}");
}

/// A tiny `gpt2` vocabulary: the 256 byte-level characters (in byte order), then `ab`
/// (256) and `<|end|>` (257, control).
fn tiny_gpt2() -> GgufTokenizerData {
    let chars: Vec<String> =
        (0u8..=255).map(|b| Tokenizer::bytes().token_str(b.into()).expect("byte")).collect();
    let mut tokens = chars;
    tokens.extend(["ab".to_owned(), "<|end|>".to_owned()]);
    let mut types = vec![1i64; 258];
    types[257] = 3;
    GgufTokenizerData {
        model: "gpt2".into(),
        pre: Some("gpt2".into()),
        tokens,
        merges: vec!["a b".into()],
        scores: None,
        token_types: Some(types),
        bos: None,
        eos: None,
        add_bos: None,
        add_space_prefix: None,
        chat_template: None,
    }
}

/// A tiny `llama` vocabulary: `<unk>`, `<s>`, `</s>`, the 256 byte tokens, then `▁`, `a`,
/// `b`, `▁a`, `ab`, `▁ab` with scores favouring `▁a` over `ab`.
fn tiny_llama() -> GgufTokenizerData {
    let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>"].map(String::from).to_vec();
    let mut types = vec![2i64, 3, 3];
    tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
    types.extend([6; 256]);
    tokens.extend(["▁", "a", "b", "▁a", "ab", "▁ab"].map(String::from));
    types.extend([1; 6]);
    let mut scores = vec![0.0f32; tokens.len()];
    let n = tokens.len();
    scores[n - 3] = -1.0; // ▁a
    scores[n - 2] = -2.0; // ab
    scores[n - 1] = -3.0; // ▁ab
    GgufTokenizerData {
        model: "llama".into(),
        pre: Some("default".into()),
        tokens,
        merges: Vec::new(),
        scores: Some(scores),
        token_types: Some(types),
        bos: Some(1),
        eos: Some(2),
        add_bos: Some(true),
        add_space_prefix: None,
        chat_template: None,
    }
}

#[test]
fn tiny_vocabularies_encode_and_decode() {
    let tok = Tokenizer::from_gguf(&tiny_gpt2()).expect("gpt2");
    assert_eq!(tok.vocab_size(), 258);
    assert_eq!(tok.encode("ab<|end|>ba ab").expect("encode"), [256, 257, 98, 97, 32, 256]);
    assert_eq!(tok.decode(&[256, 257, 32]).expect("decode"), "ab<|end|> ");
    assert!(matches!(tok.decode(&[0, 999]), Err(TokenizerError::UnknownId { id: 999, vocab_size: 258 })));

    let v = tiny_llama();
    let n = v.tokens.len() as u32;
    let tok = Tokenizer::from_gguf(&v).expect("llama");
    // "ab ab": "▁ab▁ab"; ▁a merges before ab, then ▁a+b = ▁ab.
    assert_eq!(tok.encode("ab ab").expect("encode"), [n - 1, n - 1]);
    assert_eq!(tok.decode(&[n - 1, n - 1]).expect("decode"), "ab ab");
    // "c" is not in the vocabulary: `▁` then the byte 0x63.
    assert_eq!(tok.encode("c").expect("encode"), [n - 6, 3 + 0x63]);
    assert_eq!(tok.decode(&[n - 6, 3 + 0x63]).expect("decode"), "c");
    let mut v = tiny_llama();
    v.add_space_prefix = Some(false);
    let tok = Tokenizer::from_gguf(&v).expect("llama without prefix");
    assert_eq!(tok.encode("ab").expect("encode"), [n - 2]);
    assert_eq!(tok.decode(&[n - 2]).expect("decode"), "ab");
}

#[test]
fn gguf_errors_name_the_problem() {
    let err_of = |v: GgufTokenizerData| Tokenizer::from_gguf(&v).expect_err("refused").to_string();

    let mut v = tiny_gpt2();
    v.model = "bert".into();
    assert!(err_of(v).contains("tokenizer.ggml.model `bert` is not supported"));
    let mut v = tiny_gpt2();
    v.pre = Some("deepseek-llm".into());
    assert!(err_of(v).contains("tokenizer.ggml.pre `deepseek-llm` is not supported"));
    let mut v = tiny_gpt2();
    v.merges.clear();
    assert!(err_of(v).contains("`tokenizer.ggml.merges` is missing"));
    let mut v = tiny_gpt2();
    v.merges = vec!["a b".into(), "ab".into()];
    assert!(err_of(v).contains("merge 2: expected two tokens"));
    let mut v = tiny_gpt2();
    v.merges = vec!["b a".into()];
    let e = err_of(v);
    assert!(e.contains("tokenizer.ggml.merges"), "{e}");
    let mut v = tiny_gpt2();
    v.token_types.as_mut().expect("types")[7] = 9;
    assert!(err_of(v).contains("token 7 has type 9"));
    let mut v = tiny_gpt2();
    v.token_types.as_mut().expect("types").pop();
    assert!(err_of(v).contains("tokenizer.ggml.token_type has 257 entries for 258 tokens"));
    let mut v = tiny_gpt2();
    v.tokens[256] = "a".into();
    assert!(err_of(v).contains("token \"a\" is both id 97 and id 256"));
    let mut v = tiny_gpt2();
    v.tokens[b'!' as usize] = "!!".into();
    let tok = Tokenizer::from_gguf(&v).expect("a vocabulary without `!`");
    let err = tok.encode("hi!").expect_err("`!` has no token");
    assert!(err.to_string().contains("byte 0x21, which the vocabulary has no token for"), "{err}");
    assert_eq!(tok.encode("hi").expect("encode"), [104, 105]);

    let mut v = tiny_llama();
    v.scores = None;
    assert!(err_of(v).contains("`tokenizer.ggml.scores` is missing"));
    let mut v = tiny_llama();
    v.scores.as_mut().expect("scores").push(0.0);
    assert!(err_of(v).contains("tokenizer.ggml.scores has 266 entries for 265 tokens"));
    let mut v = tiny_llama();
    v.tokens[3 + 0x41] = "<0xZZ>".into();
    assert!(err_of(v).contains("no token for byte 0x41 (looked for \"<0x41>\")"));
}

#[test]
fn bytes_tokenizer_round_trips() {
    let tok = Tokenizer::bytes();
    assert_eq!(tok.vocab_size(), 256);
    assert_eq!(tok.token_str(b'a' as u32).as_deref(), Some("a"));
    assert_eq!(tok.token_str(b' ' as u32).as_deref(), Some("Ġ"));
    assert_eq!(tok.token_str(b'\n' as u32).as_deref(), Some("Ċ"));
    let s = "naïve café 日本語 🙂\n\t<|im_start|>";
    let ids = tok.encode(s).expect("encode");
    assert_eq!(ids, s.bytes().map(u32::from).collect::<Vec<_>>());
    assert_eq!(tok.decode(&ids).expect("decode"), s);
    let all: Vec<u32> = (0..256).collect();
    assert!(tok.decode(&all).expect("decode").contains('\u{fffd}'));
    assert!(matches!(tok.decode(&[256]), Err(TokenizerError::UnknownId { id: 256, vocab_size: 256 })));
    assert_eq!(
        Tokenizer::from_spec(&TokenizerSpec::Bytes).expect("spec").encode("hi").expect("encode"),
        [104, 105]
    );
}

#[test]
fn vocab_and_merges_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vocab = dir.path().join("vocab.json");
    let merges = dir.path().join("merges.txt");
    let mut map: serde_json::Map<String, serde_json::Value> = (0u8..=255)
        .map(|b| (Tokenizer::bytes().token_str(b.into()).expect("byte"), serde_json::Value::from(b)))
        .collect();
    map.insert("ab".into(), 256.into());
    std::fs::write(&vocab, serde_json::Value::Object(map).to_string()).expect("write");
    std::fs::write(&merges, "#version: 0.2\na b\n").expect("write");
    let tok = Tokenizer::from_files(&vocab, &merges, &[("<s>".into(), 257)]).expect("load");
    assert_eq!(tok.vocab_size(), 258);
    assert_eq!(tok.encode("ab<s>ba ab 12").expect("encode"), [256, 257, 98, 97, 32, 256, 32, 49, 50]);
    assert_eq!(tok.decode(&[256, 257, 32]).expect("decode"), "ab<s> ");
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
    assert!(err.to_string().contains("merges.txt: merge 3"), "{err}");

    std::fs::write(&merges, "a b\n").expect("write");
    let tok = Tokenizer::from_files(&vocab, &merges, &[]).expect("a vocabulary of a and b");
    assert_eq!(tok.encode("abba").expect("encode"), [2, 1, 0]);
    let err = tok.encode("abc").expect_err("c has no token");
    assert!(matches!(err, TokenizerError::Unencodable { byte: b'c', .. }), "{err}");

    std::fs::write(&vocab, r#"{"a": 0, "b": "one"}"#).expect("write");
    let err = Tokenizer::from_files(&vocab, &merges, &[]).expect_err("malformed vocab");
    assert!(err.to_string().contains("vocab.json: malformed JSON"), "{err}");

    std::fs::write(&vocab, r#"{"a": 0, "b": 0}"#).expect("write");
    let err = Tokenizer::from_files(&vocab, &merges, &[]).expect_err("duplicate id");
    assert!(err.to_string().contains("id 0 is given to both"), "{err}");

    std::fs::write(&vocab, r#"{"a": 4294967295}"#).expect("write");
    let err = Tokenizer::from_files(&vocab, &merges, &[]).expect_err("huge id");
    assert!(err.to_string().contains("above the limit"), "{err}");

    let err = Tokenizer::from_hf_dir(dir.path().join("nowhere").as_path()).expect_err("missing dir");
    assert!(err.to_string().contains("vocab.json"), "{err}");
}

#[test]
fn pre_tokenizers_split_as_named() {
    // Tokens "34" (258) and "Ġ," (259) with their merges: whether they apply shows the split.
    let with = |pre: Option<&str>| {
        let mut v = tiny_gpt2();
        v.tokens.extend(["34".to_owned(), "Ġ,".to_owned()]);
        v.token_types.as_mut().expect("types").extend([1, 1]);
        v.merges = vec!["3 4".into(), "Ġ ,".into()];
        v.pre = pre.map(str::to_owned);
        Tokenizer::from_gguf(&v).expect("tokenizer")
    };
    // GPT-2: "1234" is one word; " ," is one word.
    assert_eq!(with(Some("gpt2")).encode("1234 ,").expect("encode"), [49, 50, 258, 259]);
    // SmolLM: every digit alone.
    assert_eq!(with(Some("smollm")).encode("1234 ,").expect("encode"), [49, 50, 51, 52, 259]);
    // Llama 3: digits in threes ("123", "4"); a space before punctuation stays with it.
    assert_eq!(with(Some("llama3")).encode("1234 ,").expect("encode"), [49, 50, 51, 52, 259]);
    assert_eq!(with(Some("llama3")).encode("34 ,").expect("encode"), [258, 259]);
    // llama.cpp's default: punctuation runs first (" " and "," apart), then digit triples.
    assert_eq!(with(None).encode("1234 ,").expect("encode"), [49, 50, 51, 52, 32, 44]);
    assert_eq!(with(Some("default")).encode("34").expect("encode"), [258]);
}
