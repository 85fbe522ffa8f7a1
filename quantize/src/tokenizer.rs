//! GPT-2-style byte-level BPE tokenizer with the SmolLM pre-tokenizer.
//!
//! Encoding follows `BPE` in the SmolLM2 slice's `reference.py` (and llama.cpp's `smollm`
//! pre-tokenizer):
//!
//! 1. special tokens (`<|im_start|>`...) are split out first, longest match first, and map
//!    straight to their ids;
//! 2. every numeric character (`\p{N}`) becomes a word of its own;
//! 3. the rest is cut into words by the GPT-2 regex
//!    `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
//! 4. each word's UTF-8 bytes are mapped to the GPT-2 byte-level alphabet and merged by
//!    BPE: repeatedly the adjacent pair with the lowest merge rank (leftmost on ties).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use fancy_regex::Regex;

/// The GPT-2 pre-tokenizer regex.
const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Largest token id accepted (guards the id → token table against absurd ids).
const MAX_TOKEN_ID: u32 = (1 << 24) - 1;
/// Words cached at most (the cache stops growing when full).
const CACHE_CAP: usize = 1 << 16;
/// Longest word (in bytes) that is cached.
const CACHE_MAX_WORD: usize = 64;

/// An error while loading a tokenizer or while encoding or decoding with it.
///
/// Loading errors name the file (or the GGUF metadata key) they come from.
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
    #[error("{origin}: merge line {line}: {msg}")]
    Merge {
        /// The merges file, or the GGUF key, the rule came from.
        origin: String,
        /// 1-based line (or 1-based list index for GGUF).
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// Encoding produced a piece that has no vocabulary entry.
    #[error("word {word:?}: piece `{piece}` has no vocabulary entry")]
    NoToken {
        /// The word (pre-tokenizer output) being encoded.
        word: String,
        /// The piece, in byte-level form.
        piece: String,
    },
    /// Decoding met an id that names no token.
    #[error("token id {id} is not in the vocabulary (size {vocab_size})")]
    UnknownId {
        /// The id.
        id: u32,
        /// The tokenizer's [`Tokenizer::vocab_size`].
        vocab_size: usize,
    },
    /// The pre-tokenizer regex failed (e.g. hit its backtracking limit).
    #[error("pre-tokenizer regex: {0}")]
    Regex(String),
}

/// A byte-level BPE tokenizer (GPT-2 alphabet, SmolLM pre-tokenizer, special tokens).
///
/// Encoding is thread-safe; recently seen words are cached.
pub struct Tokenizer {
    /// Token id → token text: byte-level form for vocabulary tokens, literal text for
    /// special tokens; `None` for unassigned ids.
    tokens: Vec<Option<String>>,
    /// Whether each id is a special token.
    special_id: Vec<bool>,
    /// Special token text → id.
    special: HashMap<String, u32>,
    /// Byte-level string → symbol id: vocabulary tokens, plus merge intermediates that are
    /// not in the vocabulary (ids ≥ `tokens.len()`, text in `extra`).
    symbols: HashMap<String, u32>,
    /// Text of the symbols that are not tokens.
    extra: Vec<String>,
    /// (left, right) symbol pair → (rank, merged symbol).
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Symbol of each byte's byte-level character.
    byte_sym: [u32; 256],
    /// Alternation of the special tokens, longest first; `None` when there are none.
    special_re: Option<Regex>,
    /// The GPT-2 pre-tokenizer; `None` when there are no merges (bytes are then final).
    pattern: Option<Regex>,
    /// Word → ids.
    cache: RwLock<HashMap<String, Vec<u32>>>,
    /// What the tokenizer was built from (stored in quantized model files).
    spec: TokenizerSpec,
}

/// Everything needed to rebuild a [`Tokenizer`]; quantized model files carry it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TokenizerSpec {
    /// [`Tokenizer::bytes`].
    Bytes,
    /// Byte-level BPE.
    Bpe {
        /// Token text by id (holes are `None`).
        tokens: Vec<Option<String>>,
        /// Merge rules `"a b"` by rank.
        merges: Vec<String>,
        /// Special tokens (text, id).
        special: Vec<(String, u32)>,
    },
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.tokens.len())
            .field("merges", &self.merges.len())
            .field("special_tokens", &self.special.len())
            .finish()
    }
}

impl Tokenizer {
    /// Loads an HF-style `vocab.json` (token → id) and `merges.txt` (one `a b` rule per
    /// line by rank, optional `#version` header), with the given special tokens
    /// (text, id), which are split out of the text before BPE.
    pub fn from_files(
        vocab_json: &Path,
        merges_txt: &Path,
        special: &[(String, u32)],
    ) -> Result<Self, TokenizerError> {
        let vocab_origin = vocab_json.display().to_string();
        let vocab: HashMap<String, u32> = parse_json(&read(vocab_json)?, &vocab_origin)?;
        let mut tokens: Vec<Option<String>> = Vec::new();
        for (tok, id) in vocab {
            put_token(&mut tokens, id, tok, &vocab_origin)?;
        }
        let text = read(merges_txt)?;
        let merges = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with("#version"));
        Self::build(tokens, special, merges, &merges_txt.display().to_string())
    }

    /// Loads `vocab.json` and `merges.txt` from an HF model folder. Special tokens come
    /// from `tokenizer_meta.json` (`special_tokens`: text → id) if it has them, else from
    /// `tokenizer.json` (`added_tokens`) if it has them, else there are none.
    pub fn from_hf_dir(dir: &Path) -> Result<Self, TokenizerError> {
        #[derive(serde::Deserialize)]
        struct Meta {
            special_tokens: Option<HashMap<String, u32>>,
        }
        #[derive(serde::Deserialize)]
        struct Added {
            id: u32,
            content: String,
        }
        #[derive(serde::Deserialize)]
        struct HfTokenizer {
            added_tokens: Option<Vec<Added>>,
        }
        let meta_path = dir.join("tokenizer_meta.json");
        let json_path = dir.join("tokenizer.json");
        let mut special: Option<Vec<(String, u32)>> = None;
        if meta_path.is_file() {
            let meta: Meta = parse_json(&read(&meta_path)?, &meta_path.display().to_string())?;
            special = meta.special_tokens.map(|m| m.into_iter().collect());
        }
        if special.is_none() && json_path.is_file() {
            let hf: HfTokenizer = parse_json(&read(&json_path)?, &json_path.display().to_string())?;
            special = hf.added_tokens.map(|v| v.into_iter().map(|a| (a.content, a.id)).collect());
        }
        let special = special.unwrap_or_default();
        Self::from_files(&dir.join("vocab.json"), &dir.join("merges.txt"), &special)
    }

    /// Builds a tokenizer from GGUF metadata: `tokens` is `tokenizer.ggml.tokens` (token
    /// text indexed by id), `merges` is `tokenizer.ggml.merges` (`"a b"` by rank), and
    /// `special_ids` are the ids whose `tokenizer.ggml.token_type` is 3 (control).
    ///
    /// Special tokens with empty text are ignored (they cannot occur in text).
    pub fn from_gguf_parts(
        tokens: Vec<String>,
        merges: Vec<String>,
        special_ids: &[u32],
    ) -> Result<Self, TokenizerError> {
        const ORIGIN: &str = "GGUF tokenizer.ggml.tokens";
        if tokens.len() > MAX_TOKEN_ID as usize + 1 {
            return Err(format_err(ORIGIN, format!("{} tokens is too many", tokens.len())));
        }
        let mut special = Vec::with_capacity(special_ids.len());
        for &id in special_ids {
            let text = tokens.get(id as usize).ok_or_else(|| {
                format_err(ORIGIN, format!("special token id {id} is past the {} tokens", tokens.len()))
            })?;
            if !text.is_empty() {
                special.push((text.clone(), id));
            }
        }
        let tokens = tokens.into_iter().map(Some).collect();
        let merges = merges.iter().enumerate().map(|(i, m)| (i + 1, m.as_str()));
        Self::build(tokens, &special, merges, "GGUF tokenizer.ggml.merges")
    }

    /// Rebuilds a tokenizer from its [`TokenizerSpec`].
    pub fn from_spec(spec: &TokenizerSpec) -> Result<Self, TokenizerError> {
        match spec {
            TokenizerSpec::Bytes => Ok(Self::bytes()),
            TokenizerSpec::Bpe { tokens, merges, special } => Self::build(
                tokens.clone(),
                special,
                merges.iter().enumerate().map(|(i, m)| (i + 1, m.as_str())),
                "stored tokenizer merges",
            ),
        }
    }

    /// What this tokenizer was built from.
    pub fn spec(&self) -> &TokenizerSpec {
        &self.spec
    }

    /// A 256-token byte-level tokenizer: token `i` is the byte-level character of byte `i`,
    /// with no merges and no special tokens (for tiny built-in models).
    pub fn bytes() -> Self {
        let chars = byte_chars();
        let tokens: Vec<Option<String>> = chars.iter().map(|c| Some(c.to_string())).collect();
        let symbols = chars.iter().zip(0u32..).map(|(c, i)| (c.to_string(), i)).collect();
        Tokenizer {
            special_id: vec![false; tokens.len()],
            tokens,
            special: HashMap::new(),
            symbols,
            extra: Vec::new(),
            merges: HashMap::new(),
            byte_sym: std::array::from_fn(|i| i as u32),
            special_re: None,
            pattern: None,
            cache: RwLock::new(HashMap::new()),
            spec: TokenizerSpec::Bytes,
        }
    }

    /// Shared tail of the constructors: adds the special tokens, interns the merges
    /// (`(line, "a b")` in rank order) and the byte alphabet, compiles the regexes.
    fn build<'a>(
        mut tokens: Vec<Option<String>>,
        special: &[(String, u32)],
        merges: impl Iterator<Item = (usize, &'a str)>,
        merges_origin: &str,
    ) -> Result<Self, TokenizerError> {
        let merges: Vec<(usize, &str)> = merges.collect();
        let spec = TokenizerSpec::Bpe {
            tokens: tokens.clone(),
            merges: merges.iter().map(|(_, m)| m.to_string()).collect(),
            special: special.to_vec(),
        };
        let merges = merges.into_iter();
        let mut symbols: HashMap<String, u32> = HashMap::with_capacity(tokens.len());
        for (tok, id) in tokens.iter().zip(0u32..) {
            if let Some(tok) = tok {
                symbols.entry(tok.clone()).or_insert(id);
            }
        }
        let mut special_map = HashMap::with_capacity(special.len());
        for (text, id) in special {
            if text.is_empty() {
                return Err(format_err("special tokens", format!("id {id} has empty text")));
            }
            match tokens.get(*id as usize) {
                Some(Some(t)) if t != text => {
                    let msg =
                        format!("special token {text:?} has id {id}, which the vocabulary gives to {t:?}");
                    return Err(format_err("special tokens", msg));
                }
                Some(Some(_)) => {}
                _ => put_token(&mut tokens, *id, text.clone(), "special tokens")?,
            }
            special_map.insert(text.clone(), *id);
        }
        let mut special_id = vec![false; tokens.len()];
        for &id in special_map.values() {
            special_id[id as usize] = true;
        }

        let base = tokens.len() as u32;
        let mut extra = Vec::new();
        let mut intern = |s: &str| -> u32 {
            if let Some(&id) = symbols.get(s) {
                return id;
            }
            let id = base + extra.len() as u32;
            extra.push(s.to_owned());
            symbols.insert(s.to_owned(), id);
            id
        };
        let mut merge_map = HashMap::new();
        for (rank, (line, rule)) in (0u32..).zip(merges) {
            let (a, b) = match rule.split_once(' ') {
                Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains(' ') => (a, b),
                _ => {
                    let msg = format!("expected two tokens separated by one space, got {rule:?}");
                    return Err(TokenizerError::Merge { origin: merges_origin.to_owned(), line, msg });
                }
            };
            let pair = (intern(a), intern(b));
            let merged = intern(&format!("{a}{b}"));
            merge_map.insert(pair, (rank, merged));
        }
        let mut byte_sym = [0u32; 256];
        for (s, c) in byte_sym.iter_mut().zip(byte_chars()) {
            *s = intern(c.encode_utf8(&mut [0; 4]));
        }

        let special_re = if special_map.is_empty() {
            None
        } else {
            let mut texts: Vec<&str> = special_map.keys().map(String::as_str).collect();
            texts.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
            let alt: Vec<String> = texts.iter().map(|t| fancy_regex::escape(t).into_owned()).collect();
            Some(compile(&alt.join("|"))?)
        };
        let pattern = if merge_map.is_empty() { None } else { Some(compile(GPT2_PATTERN)?) };
        Ok(Tokenizer {
            tokens,
            special_id,
            special: special_map,
            symbols,
            extra,
            merges: merge_map,
            byte_sym,
            special_re,
            pattern,
            cache: RwLock::new(HashMap::new()),
            spec,
        })
    }

    /// Number of token ids: one past the largest id (vocabulary or special).
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The text of token `id`: byte-level form (GPT-2 alphabet, e.g. `Ġtime`) for
    /// vocabulary tokens, literal text for special tokens; `None` for an unknown id.
    pub fn token_str(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize)?.as_deref()
    }

    /// The id of a special token's text or of a vocabulary token's byte-level form.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        if let Some(&id) = self.special.get(token) {
            return Some(id);
        }
        self.symbols.get(token).copied().filter(|&id| (id as usize) < self.tokens.len())
    }

    /// Encodes `text` to token ids (no BOS is added). Fails if a BPE piece has no
    /// vocabulary entry.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 1);
        let mut start = 0;
        if let Some(re) = &self.special_re {
            for m in re.find_iter(text) {
                let m = m.map_err(|e| TokenizerError::Regex(e.to_string()))?;
                self.encode_chunk(&text[start..m.start()], &mut ids)?;
                match self.special.get(m.as_str()) {
                    Some(&id) => ids.push(id),
                    None => self.encode_chunk(m.as_str(), &mut ids)?,
                }
                start = m.end();
            }
        }
        self.encode_chunk(&text[start..], &mut ids)?;
        Ok(ids)
    }

    /// Decodes ids to text. Special tokens give their literal text; byte sequences that
    /// are not valid UTF-8 become U+FFFD. Fails on an id that names no token.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            let tok =
                self.token_str(id).ok_or(TokenizerError::UnknownId { id, vocab_size: self.tokens.len() })?;
            if self.special_id[id as usize] {
                bytes.extend_from_slice(tok.as_bytes());
                continue;
            }
            for c in tok.chars() {
                match char_byte(c) {
                    Some(b) => bytes.push(b),
                    None => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
        }
        Ok(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// Encodes text with no special tokens in it: every numeric character alone, the
    /// runs between them through the GPT-2 regex.
    fn encode_chunk(&self, chunk: &str, ids: &mut Vec<u32>) -> Result<(), TokenizerError> {
        let Some(pattern) = &self.pattern else {
            let start = ids.len();
            ids.extend(chunk.bytes().map(|b| self.byte_sym[b as usize]));
            return self.check_tokens(chunk, &ids[start..]);
        };
        let mut run = 0;
        for (i, c) in chunk.char_indices() {
            if c.is_numeric() {
                self.encode_run(pattern, &chunk[run..i], ids)?;
                run = i + c.len_utf8();
                self.encode_word(&chunk[i..run], ids)?;
            }
        }
        self.encode_run(pattern, &chunk[run..], ids)
    }

    /// Splits a digit-free run into words with the GPT-2 regex and encodes each.
    fn encode_run(&self, pattern: &Regex, run: &str, ids: &mut Vec<u32>) -> Result<(), TokenizerError> {
        for m in pattern.find_iter(run) {
            let m = m.map_err(|e| TokenizerError::Regex(e.to_string()))?;
            self.encode_word(m.as_str(), ids)?;
        }
        Ok(())
    }

    /// Appends the BPE of one word, through the cache.
    fn encode_word(&self, word: &str, ids: &mut Vec<u32>) -> Result<(), TokenizerError> {
        let cacheable = word.len() <= CACHE_MAX_WORD;
        if cacheable {
            if let Ok(cache) = self.cache.read() {
                if let Some(hit) = cache.get(word) {
                    ids.extend_from_slice(hit);
                    return Ok(());
                }
            }
        }
        let start = ids.len();
        self.bpe(word, ids);
        self.check_tokens(word, &ids[start..])?;
        if cacheable {
            if let Ok(mut cache) = self.cache.write() {
                if cache.len() < CACHE_CAP {
                    cache.insert(word.to_owned(), ids[start..].to_vec());
                }
            }
        }
        Ok(())
    }

    /// Fails on the first symbol of `syms` (the encoding of `word`) that is not a token.
    fn check_tokens(&self, word: &str, syms: &[u32]) -> Result<(), TokenizerError> {
        let n = self.tokens.len();
        match syms.iter().find(|&&s| s as usize >= n || self.tokens[s as usize].is_none()) {
            None => Ok(()),
            Some(&s) => {
                let piece = match (s as usize).checked_sub(n) {
                    Some(e) => self.extra.get(e).cloned(),
                    None => self.token_str(s).map(str::to_owned),
                };
                Err(TokenizerError::NoToken { word: word.to_owned(), piece: piece.unwrap_or_default() })
            }
        }
    }

    /// Appends the BPE symbols of `word`: starting from its bytes, merges the adjacent
    /// pair of lowest rank (leftmost on ties) until no pair has a rank. A heap of
    /// (rank, position) with stale entries skipped keeps this O(n log n).
    fn bpe(&self, word: &str, out: &mut Vec<u32>) {
        let mut sym: Vec<u32> = word.bytes().map(|b| self.byte_sym[b as usize]).collect();
        let n = sym.len();
        if n < 2 {
            out.extend_from_slice(&sym);
            return;
        }
        let rank = |a: u32, b: u32| self.merges.get(&(a, b)).copied();
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut heap: BinaryHeap<Reverse<(u32, usize)>> =
            (0..n - 1).filter_map(|i| rank(sym[i], sym[i + 1]).map(|(r, _)| Reverse((r, i)))).collect();
        while let Some(Reverse((r, i))) = heap.pop() {
            let j = next[i];
            if !alive[i] || j >= n {
                continue;
            }
            match rank(sym[i], sym[j]) {
                Some((r_now, merged)) if r_now == r => sym[i] = merged,
                _ => continue,
            }
            alive[j] = false;
            let k = next[j];
            next[i] = k;
            if k < n {
                prev[k] = i;
                if let Some((r2, _)) = rank(sym[i], sym[k]) {
                    heap.push(Reverse((r2, i)));
                }
            }
            let p = prev[i];
            if p < n {
                if let Some((r2, _)) = rank(sym[p], sym[i]) {
                    heap.push(Reverse((r2, p)));
                }
            }
        }
        let mut i = 0;
        while i < n {
            out.push(sym[i]);
            i = next[i];
        }
    }
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

/// Compiles a regex, mapping failure to [`TokenizerError::Regex`].
fn compile(pattern: &str) -> Result<Regex, TokenizerError> {
    Regex::new(pattern).map_err(|e| TokenizerError::Regex(e.to_string()))
}

/// Stores `tok` at `id`, growing the table; fails on an id that is taken or too large.
fn put_token(
    tokens: &mut Vec<Option<String>>,
    id: u32,
    tok: String,
    origin: &str,
) -> Result<(), TokenizerError> {
    if id > MAX_TOKEN_ID {
        return Err(format_err(origin, format!("token {tok:?} has id {id}, above the limit {MAX_TOKEN_ID}")));
    }
    let i = id as usize;
    if tokens.len() <= i {
        tokens.resize(i + 1, None);
    }
    if let Some(old) = &tokens[i] {
        return Err(format_err(origin, format!("id {id} is given to both {old:?} and {tok:?}")));
    }
    tokens[i] = Some(tok);
    Ok(())
}

/// Whether GPT-2's byte-level alphabet maps byte `b` to the character of the same code.
fn printable(b: u32) -> bool {
    (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b)
}

/// GPT-2's byte → character table: printable bytes map to themselves, the other 68 bytes
/// to U+0100, U+0101... in byte order.
fn byte_chars() -> [char; 256] {
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

/// The inverse of [`byte_chars`]; `None` for characters outside the alphabet.
fn char_byte(c: char) -> Option<u8> {
    let u = c as u32;
    match u {
        _ if u < 256 && printable(u) => Some(u as u8),
        0x100..=0x120 => Some((u - 0x100) as u8),
        0x121..=0x142 => Some((u - 0x121 + 0x7f) as u8),
        0x143 => Some(0xad),
        _ => None,
    }
}
