//! A tokenizer from a GGUF file's `tokenizer.ggml.*` metadata, assembled from the
//! `tokenizers` crate's components the way HF's own tokenizer files for those models are.
//!
//! | `tokenizer.ggml.model` | HF pipeline |
//! |---|---|
//! | `gpt2` | added tokens, [`GgufPre`] pre-tokenizer, byte-level BPE over `merges`, byte-level decoder |
//! | `llama` | added tokens, `▁` prefix (unless `add_space_prefix` is false) and spaces → `▁`, BPE whose merges rank by the merged piece's score, byte fallback to `<0xNN>`, decoder undoing both |

use std::collections::HashMap;

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{NormalizerWrapper, Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior};

use crate::load::gguf_model::GgufTokenizerData as GgufVocab;

use super::{byte_level_bpe, format_err, hf_err, parse_merges, Hf, Tokenizer, TokenizerError, MAX_TOKEN_ID};

/// `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
mod ty {
    /// Unknown token (`<unk>`).
    pub const UNKNOWN: i64 = 2;
    /// Control token (`<s>`, `<|im_start|>`).
    pub const CONTROL: i64 = 3;
    /// User-defined token, matched in text like a control token.
    pub const USER_DEFINED: i64 = 4;
    /// Largest valid type (6, a byte token `<0xNN>`).
    pub const MAX: i64 = 6;
}

/// Llama 3's split regex, from its `tokenizer.json`.
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// llama.cpp's fallback split regexes for a `gpt2` vocabulary without a known
/// pre-tokenizer, applied one after the other.
const DEFAULT_PATTERNS: [&str; 4] = [
    r"[\p{P}\$\+<=>\^~\|]+",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
    r"\p{N}+",
    r"[0-9][0-9][0-9]",
];

/// The pre-tokenizer of a `gpt2` GGUF vocabulary, named by `tokenizer.ggml.pre`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgufPre {
    /// `gpt2`, `gpt-2`: GPT-2's regex
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    Gpt2,
    /// `smollm`: every numeric character alone, then GPT-2's regex.
    Smollm,
    /// `llama3`, `llama-v3`, `llama-bpe`: Llama 3's regex (digits in runs of at most
    /// three); a word that is a whole token skips the merges.
    Llama3,
    /// `default` or no `tokenizer.ggml.pre`: llama.cpp's fallback, four regexes in turn
    /// (punctuation runs, GPT-2's regex, digit runs, digit triples).
    Default,
}

impl GgufPre {
    /// The names [`GgufPre::from_name`] accepts.
    pub const NAMES: [&'static str; 7] =
        ["gpt2", "gpt-2", "smollm", "llama3", "llama-v3", "llama-bpe", "default"];

    /// The pre-tokenizer `tokenizer.ggml.pre` names; no name is `default`, as in llama.cpp.
    pub fn from_name(name: Option<&str>) -> Result<Self, TokenizerError> {
        match name {
            Some("gpt2" | "gpt-2") => Ok(GgufPre::Gpt2),
            Some("smollm") => Ok(GgufPre::Smollm),
            Some("llama3" | "llama-v3" | "llama-bpe") => Ok(GgufPre::Llama3),
            Some("default") | None => Ok(GgufPre::Default),
            Some(other) => Err(TokenizerError::UnknownPre(other.to_owned())),
        }
    }

    /// Whether a word that is itself a token is taken whole (HF's `ignore_merges`).
    pub(super) fn ignores_merges(self) -> bool {
        self == GgufPre::Llama3
    }

    /// The HF pre-tokenizer, byte-level mapping included.
    pub(super) fn pre_tokenizer(self) -> Result<PreTokenizerWrapper, TokenizerError> {
        let gpt2 = || ByteLevel::new(false, true, true).into();
        let bytes = || ByteLevel::new(false, true, false).into();
        let split = |p: &str| -> Result<PreTokenizerWrapper, TokenizerError> {
            Split::new(SplitPattern::Regex(p.to_owned()), SplitDelimiterBehavior::Isolated, false)
                .map(Into::into)
                .map_err(|e| hf_err("pre-tokenizer regex", e))
        };
        Ok(match self {
            GgufPre::Gpt2 => gpt2(),
            GgufPre::Smollm => PreSequence::new(vec![Digits::new(true).into(), gpt2()]).into(),
            GgufPre::Llama3 => PreSequence::new(vec![split(LLAMA3_PATTERN)?, bytes()]).into(),
            GgufPre::Default => {
                let mut seq = DEFAULT_PATTERNS.iter().map(|p| split(p)).collect::<Result<Vec<_>, _>>()?;
                seq.push(bytes());
                PreSequence::new(seq).into()
            }
        })
    }
}

impl Tokenizer {
    /// Builds the tokenizer a GGUF file describes (see the module doc). Fails, naming the
    /// problem, on another `tokenizer.ggml.model`, an unknown `tokenizer.ggml.pre`, missing
    /// merges or scores, per-token lists of the wrong length, a bad token type, duplicate
    /// tokens, or a vocabulary that cannot spell every byte.
    pub fn from_gguf(v: &GgufVocab) -> Result<Self, TokenizerError> {
        const ORIGIN: &str = "GGUF tokenizer.ggml.tokens";
        let n = v.tokens.len();
        if n > MAX_TOKEN_ID as usize + 1 {
            return Err(format_err(ORIGIN, format!("{n} tokens is too many")));
        }
        let types = match &v.token_types {
            Some(t) if t.len() != n => {
                return Err(TokenizerError::LengthMismatch {
                    key: "tokenizer.ggml.token_type",
                    got: t.len(),
                    tokens: n,
                })
            }
            Some(t) => t.clone(),
            None => vec![1; n],
        };
        if let Some((id, &ty)) = (0u32..).zip(&types).find(|(_, &t)| !(0..=ty::MAX).contains(&t)) {
            return Err(TokenizerError::BadTokenType { id, ty });
        }
        let mut vocab: HashMap<String, u32> = HashMap::with_capacity(n);
        for (tok, id) in v.tokens.iter().zip(0u32..) {
            if let Some(old) = vocab.insert(tok.clone(), id) {
                return Err(format_err(ORIGIN, format!("token {tok:?} is both id {old} and id {id}")));
            }
        }
        let added: Vec<AddedToken> = v
            .tokens
            .iter()
            .zip(&types)
            .filter(|(t, &ty)| !t.is_empty() && matches!(ty, ty::UNKNOWN | ty::CONTROL | ty::USER_DEFINED))
            .map(|(t, &ty)| AddedToken::from(t.clone(), ty != ty::USER_DEFINED).normalized(false))
            .collect();
        let hf = match v.model.as_str() {
            "gpt2" => gpt2(v, vocab, &added)?,
            "llama" => llama(v, vocab, &types, &added)?,
            other => return Err(TokenizerError::UnknownKind(other.to_owned())),
        };
        Self::from_hf(hf, ORIGIN)
    }
}

/// `gpt2`: byte-level BPE over the file's merges with the named pre-tokenizer.
fn gpt2(v: &GgufVocab, vocab: HashMap<String, u32>, added: &[AddedToken]) -> Result<Hf, TokenizerError> {
    const MERGES: &str = "GGUF tokenizer.ggml.merges";
    if v.merges.is_empty() {
        return Err(TokenizerError::Missing { kind: v.model.clone(), key: "tokenizer.ggml.merges" });
    }
    let pre = GgufPre::from_name(v.pre.as_deref())?;
    let merges = parse_merges(v.merges.iter().enumerate().map(|(i, m)| (i + 1, m.as_str())), MERGES)?;
    byte_level_bpe(vocab, merges, pre, added, MERGES)
}

/// `llama`: SentencePiece BPE. The merges are HF's conversion of a SentencePiece model:
/// every split of a token into two tokens, ranked by the whole token's score (highest
/// first, ties by id), then by the ids of the halves.
fn llama(
    v: &GgufVocab,
    vocab: HashMap<String, u32>,
    types: &[i64],
    added: &[AddedToken],
) -> Result<Hf, TokenizerError> {
    const ORIGIN: &str = "GGUF tokenizer.ggml.tokens";
    let n = v.tokens.len();
    let scores = v
        .scores
        .as_ref()
        .ok_or_else(|| TokenizerError::Missing { kind: v.model.clone(), key: "tokenizer.ggml.scores" })?;
    if scores.len() != n {
        return Err(TokenizerError::LengthMismatch {
            key: "tokenizer.ggml.scores",
            got: scores.len(),
            tokens: n,
        });
    }
    for byte in 0..=255u8 {
        let token = format!("<0x{byte:02X}>");
        if !vocab.contains_key(&token) {
            return Err(TokenizerError::MissingByte { origin: ORIGIN.to_owned(), byte, token });
        }
    }
    let mut merges: Vec<(u32, u32, u32)> = Vec::new();
    for (tok, id) in v.tokens.iter().zip(0u32..) {
        let start = merges.len();
        for (i, _) in tok.char_indices().skip(1) {
            if let (Some(&l), Some(&r)) = (vocab.get(&tok[..i]), vocab.get(&tok[i..])) {
                merges.push((l, r, id));
            }
        }
        merges[start..].sort_by_key(|&(l, r, _)| (l, r));
    }
    merges.sort_by(|a, b| scores[b.2 as usize].total_cmp(&scores[a.2 as usize]));
    let name = |id: u32| v.tokens[id as usize].clone();
    let merges: Vec<(String, String)> = merges.into_iter().map(|(l, r, _)| (name(l), name(r))).collect();

    let unk = v.tokens.iter().zip(types).find(|(_, &t)| t == ty::UNKNOWN).map(|(t, _)| t.clone());
    let mut model = BPE::builder()
        .vocab_and_merges(vocab.into_iter().collect::<Vocab>(), merges)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unk) = unk {
        model = model.unk_token(unk);
    }
    let model = model.build().map_err(|e| hf_err(ORIGIN, e))?;

    let prefix = v.add_space_prefix.unwrap_or(true);
    let replace = |from: &str, to: &str| Replace::new(from, to).map_err(|e| hf_err("normalizer", e));
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if prefix {
        normalizers.push(Prepend::new("▁".to_owned()).into());
    }
    normalizers.push(replace(" ", "▁")?.into());
    let mut decoders: Vec<DecoderWrapper> =
        vec![replace("▁", " ")?.into(), ByteFallback::new().into(), Fuse::new().into()];
    if prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    let mut hf = Hf::new(model);
    hf.with_normalizer(Some(NormalizerSequence::new(normalizers)));
    hf.with_decoder(Some(DecoderSequence::new(decoders)));
    hf.add_special_tokens(added);
    Ok(hf)
}
