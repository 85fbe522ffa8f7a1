//! Tokenizers for the models users bring, built on HF's `tokenizers` crate.
//!
//! - An HF folder with `tokenizer.json` is read as HF reads it.
//! - An HF folder with only `vocab.json` and `merges.txt` gets a byte-level BPE with the
//!   SmolLM pre-tokenizer (see [`GgufPre::Smollm`]) and the special tokens of
//!   `tokenizer_meta.json` (the SmolLM2 test slice's format).
//! - A GGUF file's tokenizer is built from its `tokenizer.ggml.*` metadata
//!   ([`Tokenizer::from_gguf`]): `gpt2` (byte-level BPE with the pre-tokenizer that
//!   `tokenizer.ggml.pre` names) or `llama` (SentencePiece BPE with byte fallback); any other
//!   kind is refused by name.
//!
//! [`Tokenizer::encode`] never adds BOS/EOS; special tokens written in the text
//! (`<|im_start|>`) map to their ids.

mod gguf;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, DecoderWrapper};

pub use gguf::GgufPre;

/// An HF tokenizer with our pre- and post-processing types.
type Hf = tokenizers::Tokenizer;

/// Largest token id accepted (guards id tables against absurd ids).
const MAX_TOKEN_ID: u32 = (1 << 24) - 1;

/// An error while loading a tokenizer or while encoding or decoding with it.
///
/// Loading errors name the file, or the GGUF metadata key, they come from.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A tokenizer file could not be opened or read.
    #[error("{}: {err}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        err: std::io::Error,
    },
    /// A tokenizer file or list is malformed (bad JSON, duplicate or oversized ids...).
    #[error("{origin}: {msg}")]
    Format {
        /// The file, or the GGUF key, the data came from.
        origin: String,
        /// What is wrong.
        msg: String,
    },
    /// One merge rule is malformed.
    #[error("{origin}: merge {line}: {msg}")]
    Merge {
        /// The merges file, or the GGUF key, the rule came from.
        origin: String,
        /// 1-based line (or 1-based list index for GGUF).
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// A metadata key the tokenizer kind needs is absent.
    #[error("GGUF tokenizer `{kind}`: `{key}` is missing")]
    Missing {
        /// The kind (`tokenizer.ggml.model`).
        kind: String,
        /// The absent key.
        key: &'static str,
    },
    /// `tokenizer.ggml.model` names a kind this build cannot tokenize.
    #[error("GGUF tokenizer.ggml.model `{0}` is not supported (supported: gpt2, llama)")]
    UnknownKind(String),
    /// `tokenizer.ggml.pre` names a pre-tokenizer this build does not know.
    #[error("GGUF tokenizer.ggml.pre `{0}` is not supported (supported: {list})", list = GgufPre::NAMES.join(", "))]
    UnknownPre(String),
    /// A token's `tokenizer.ggml.token_type` is not one of GGUF's types.
    #[error("GGUF tokenizer.ggml.token_type: token {id} has type {ty}, not one of 0..=6")]
    BadTokenType {
        /// The token id.
        id: u32,
        /// The type found.
        ty: i64,
    },
    /// A per-token list is not as long as `tokenizer.ggml.tokens`.
    #[error("GGUF {key} has {got} entries for {tokens} tokens")]
    LengthMismatch {
        /// The key of the list.
        key: &'static str,
        /// Its length.
        got: usize,
        /// The number of tokens.
        tokens: usize,
    },
    /// The vocabulary has no token for a byte, so some text could not be encoded.
    #[error("{origin}: no token for byte 0x{byte:02X} (looked for {token:?})")]
    MissingByte {
        /// The file, or the GGUF key, the vocabulary came from.
        origin: String,
        /// The byte.
        byte: u8,
        /// The token text that would stand for it.
        token: String,
    },
    /// The text has a byte that a byte-level vocabulary has no token for (HF would drop it).
    #[error("the text has byte 0x{byte:02X}, which the vocabulary has no token for ({token:?})")]
    Unencodable {
        /// The byte.
        byte: u8,
        /// The byte-level character that would stand for it.
        token: String,
    },
    /// The `tokenizers` crate refused to build, encode or decode.
    #[error("{origin}: {msg}")]
    Hf {
        /// What was being done.
        origin: String,
        /// The crate's message.
        msg: String,
    },
    /// Decoding met an id that names no token.
    #[error("token id {id} is not in the vocabulary (size {vocab_size})")]
    UnknownId {
        /// The id.
        id: u32,
        /// The tokenizer's [`Tokenizer::vocab_size`].
        vocab_size: usize,
    },
}

/// Everything needed to rebuild a [`Tokenizer`]; quantized model files carry it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TokenizerSpec {
    /// [`Tokenizer::bytes`].
    Bytes,
    /// An HF `tokenizer.json` document.
    HfJson(String),
}

/// A tokenizer: HF's `tokenizers` pipeline (added tokens, normalizer, pre-tokenizer, model,
/// decoder) and what it was built from.
pub struct Tokenizer {
    hf: Hf,
    /// For a byte-level tokenizer, whether each byte's character is a token: a byte
    /// without one would be dropped from the ids, so text with it is refused.
    byte_known: Option<[bool; 256]>,
    /// One past the largest id.
    vocab_size: usize,
    spec: TokenizerSpec,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size)
            .field("added_tokens", &self.hf.get_added_tokens_decoder().len())
            .finish()
    }
}

impl Tokenizer {
    /// Loads an HF `tokenizer.json`.
    pub fn from_json_file(path: &Path) -> Result<Self, TokenizerError> {
        let text = read(path)?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// Parses an HF `tokenizer.json` document read from `origin`.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, TokenizerError> {
        let hf = Hf::from_str(text).map_err(|e| hf_err(origin, e))?;
        Self::wrap(hf, TokenizerSpec::HfJson(text.to_owned()))
    }

    /// Loads an HF-style `vocab.json` (token → id) and `merges.txt` (one `a b` rule per
    /// line by rank, optional `#version` header) as a byte-level BPE with the SmolLM
    /// pre-tokenizer, with the given special tokens (text, id).
    pub fn from_files(
        vocab_json: &Path,
        merges_txt: &Path,
        special: &[(String, u32)],
    ) -> Result<Self, TokenizerError> {
        let vocab_origin = vocab_json.display().to_string();
        let mut vocab: HashMap<String, u32> = parse_json(&read(vocab_json)?, &vocab_origin)?;
        let mut by_id: HashMap<u32, String> = HashMap::with_capacity(vocab.len());
        for (tok, &id) in &vocab {
            check_id(id, tok, &vocab_origin)?;
            if let Some(old) = by_id.insert(id, tok.clone()) {
                return Err(format_err(
                    &vocab_origin,
                    format!("id {id} is given to both {old:?} and {tok:?}"),
                ));
            }
        }
        let text = read(merges_txt)?;
        let merges = parse_merges(
            text.lines()
                .enumerate()
                .map(|(i, l)| (i + 1, l))
                .filter(|(_, l)| !l.is_empty() && !l.starts_with("#version")),
            &merges_txt.display().to_string(),
        )?;
        for (text, id) in special {
            check_id(*id, text, "special tokens")?;
            match by_id.get(id) {
                Some(t) if t != text => {
                    let msg =
                        format!("special token {text:?} has id {id}, which the vocabulary gives to {t:?}");
                    return Err(format_err("special tokens", msg));
                }
                Some(_) => {}
                None => {
                    vocab.insert(text.clone(), *id);
                }
            }
        }
        let added: Vec<AddedToken> = special.iter().map(|(t, _)| AddedToken::from(t.clone(), true)).collect();
        let hf = byte_level_bpe(vocab, merges, GgufPre::Smollm, &added, &vocab_origin)?;
        Self::from_hf(hf, &vocab_origin)
    }

    /// The tokenizer of an HF model folder: `tokenizer.json` when the folder has one, else
    /// `vocab.json` and `merges.txt` ([`Tokenizer::from_files`]) with the special tokens of
    /// `tokenizer_meta.json` (`special_tokens`: text → id) if it has them.
    pub fn from_hf_dir(dir: &Path) -> Result<Self, TokenizerError> {
        #[derive(serde::Deserialize)]
        struct Meta {
            special_tokens: Option<HashMap<String, u32>>,
        }
        let json_path = dir.join("tokenizer.json");
        if json_path.is_file() {
            return Self::from_json_file(&json_path);
        }
        let meta_path = dir.join("tokenizer_meta.json");
        let mut special: Vec<(String, u32)> = Vec::new();
        if meta_path.is_file() {
            let meta: Meta = parse_json(&read(&meta_path)?, &meta_path.display().to_string())?;
            special = meta.special_tokens.map(|m| m.into_iter().collect()).unwrap_or_default();
            special.sort_by_key(|(_, id)| *id);
        }
        Self::from_files(&dir.join("vocab.json"), &dir.join("merges.txt"), &special)
    }

    /// Rebuilds a tokenizer from its [`TokenizerSpec`].
    pub fn from_spec(spec: &TokenizerSpec) -> Result<Self, TokenizerError> {
        match spec {
            TokenizerSpec::Bytes => Ok(Self::bytes()),
            TokenizerSpec::HfJson(text) => Self::from_json(text, "stored tokenizer.json"),
        }
    }

    /// What this tokenizer was built from.
    pub fn spec(&self) -> &TokenizerSpec {
        &self.spec
    }

    /// A 256-token byte-level tokenizer: token `i` is the byte-level character of byte `i`,
    /// with no merges and no special tokens (for tiny built-in models).
    pub fn bytes() -> Self {
        let vocab: HashMap<String, u32> =
            byte_chars().iter().zip(0u32..).map(|(c, i)| (c.to_string(), i)).collect();
        let model = BPE::new(vocab.into_iter().collect(), Vec::new());
        let mut hf = Hf::new(model);
        hf.with_pre_tokenizer(Some(ByteLevel::new(false, false, false)));
        hf.with_decoder(Some(ByteLevelDecoder::new(false, false, false)));
        Tokenizer { hf, byte_known: None, vocab_size: 256, spec: TokenizerSpec::Bytes }
    }

    /// Wraps a tokenizer built here, storing its serialization as the spec.
    fn from_hf(hf: Hf, origin: &str) -> Result<Self, TokenizerError> {
        let json = hf.to_string(false).map_err(|e| hf_err(origin, e))?;
        Self::wrap(hf, TokenizerSpec::HfJson(json))
    }

    fn wrap(hf: Hf, spec: TokenizerSpec) -> Result<Self, TokenizerError> {
        let vocab_size = hf.get_vocab(true).values().max().map_or(0, |&m| m as usize + 1);
        if vocab_size > MAX_TOKEN_ID as usize + 1 {
            return Err(format_err(
                "tokenizer",
                format!("largest id {} is above the limit {MAX_TOKEN_ID}", vocab_size - 1),
            ));
        }
        let byte_known = matches!(hf.get_decoder(), Some(DecoderWrapper::ByteLevel(_))).then(|| {
            let chars = byte_chars();
            std::array::from_fn(|b| hf.token_to_id(chars[b].encode_utf8(&mut [0; 4])).is_some())
        });
        Ok(Tokenizer { hf, byte_known, vocab_size, spec })
    }

    /// Number of token ids: one past the largest id (vocabulary or added token).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The text of token `id` as the vocabulary stores it: byte-level form (`Ġtime`) for
    /// byte-level BPE, `▁time` for SentencePiece, literal text for special tokens; `None`
    /// for an unknown id.
    pub fn token_str(&self, id: u32) -> Option<String> {
        self.hf.id_to_token(id)
    }

    /// The id of a token's text as the vocabulary stores it (see [`Tokenizer::token_str`]).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.hf.token_to_id(token)
    }

    /// Encodes `text` to token ids. No BOS or EOS is added; special tokens written in the
    /// text map to their ids. Text that the vocabulary cannot spell is refused
    /// ([`TokenizerError::Unencodable`]).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        if let Some(known) = &self.byte_known {
            if let Some(byte) = text.bytes().find(|&b| !known[b as usize]) {
                return Err(TokenizerError::Unencodable {
                    byte,
                    token: byte_chars()[byte as usize].to_string(),
                });
            }
        }
        let enc = self.hf.encode_fast(text, false).map_err(|e| hf_err("encode", e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Decodes ids to text. Special tokens give their literal text; byte sequences that
    /// are not valid UTF-8 become U+FFFD. Fails on an id that names no token.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        if let Some(&id) = ids.iter().find(|&&id| self.hf.id_to_token(id).is_none()) {
            return Err(TokenizerError::UnknownId { id, vocab_size: self.vocab_size });
        }
        self.hf.decode(ids, false).map_err(|e| hf_err("decode", e))
    }
}

/// A byte-level BPE (GPT-2 alphabet) over `vocab` (token text → id) and
/// `merges` by rank, with the pre-tokenizer `pre` and the `added` tokens split out first.
fn byte_level_bpe(
    vocab: HashMap<String, u32>,
    merges: Vec<(String, String)>,
    pre: GgufPre,
    added: &[AddedToken],
    origin: &str,
) -> Result<Hf, TokenizerError> {
    let model = BPE::builder()
        .vocab_and_merges(vocab.into_iter().collect::<Vocab>(), merges)
        .ignore_merges(pre.ignores_merges())
        .build()
        .map_err(|e| hf_err(origin, e))?;
    let mut hf = Hf::new(model);
    hf.with_pre_tokenizer(Some(pre.pre_tokenizer()?));
    hf.with_decoder(Some(ByteLevelDecoder::new(false, false, false)));
    hf.add_special_tokens(added);
    Ok(hf)
}

/// Splits `"a b"` merge rules (numbered for errors) into pairs.
fn parse_merges<'a>(
    rules: impl Iterator<Item = (usize, &'a str)>,
    origin: &str,
) -> Result<Vec<(String, String)>, TokenizerError> {
    rules
        .map(|(line, rule)| match rule.split_once(' ') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains(' ') => {
                Ok((a.to_owned(), b.to_owned()))
            }
            _ => {
                let msg = format!("expected two tokens separated by one space, got {rule:?}");
                Err(TokenizerError::Merge { origin: origin.to_owned(), line, msg })
            }
        })
        .collect()
}

/// Reads a tokenizer file to a string.
fn read(path: &Path) -> Result<String, TokenizerError> {
    std::fs::read_to_string(path).map_err(|err| TokenizerError::Io { path: path.to_owned(), err })
}

/// Parses JSON text from `origin` into `T`.
fn parse_json<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, TokenizerError> {
    serde_json::from_str(text).map_err(|e| format_err(origin, format!("malformed JSON: {e}")))
}

/// A [`TokenizerError::Format`].
fn format_err(origin: &str, msg: String) -> TokenizerError {
    TokenizerError::Format { origin: origin.to_owned(), msg }
}

/// A [`TokenizerError::Hf`].
fn hf_err(origin: &str, e: impl std::fmt::Display) -> TokenizerError {
    TokenizerError::Hf { origin: origin.to_owned(), msg: e.to_string() }
}

/// Fails on an id above [`MAX_TOKEN_ID`].
fn check_id(id: u32, tok: &str, origin: &str) -> Result<(), TokenizerError> {
    if id > MAX_TOKEN_ID {
        return Err(format_err(origin, format!("token {tok:?} has id {id}, above the limit {MAX_TOKEN_ID}")));
    }
    Ok(())
}

/// GPT-2's byte → character table: printable bytes map to themselves, the other 68 bytes
/// to U+0100, U+0101... in byte order.
fn byte_chars() -> [char; 256] {
    let printable =
        |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
    let mut out = ['\0'; 256];
    let mut n = 0;
    for (b, c) in (0u32..).zip(out.iter_mut()) {
        let code = if printable(b) {
            b
        } else {
            n += 1;
            255 + n
        };
        *c = char::from_u32(code).unwrap_or('\0');
    }
    out
}
