//! Opening a model by path: HF folders, GGUF files and quantized files are told apart by
//! their contents, and each comes with its tokenizer where it carries one.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, LoadError};
use crate::load::gguf_model::GgufModel;
use crate::load::hf::HfModel;
use crate::load::WeightSource;
use crate::qmodel::manifest::MAGIC;
use crate::synthetic::{tiny_config, tiny_d128_config, SyntheticModel};
use crate::tokenizer::{Tokenizer, TokenizerError};

/// A float model and its tokenizer.
pub struct FloatModel {
    /// The weights.
    pub source: Box<dyn WeightSource>,
    /// The tokenizer, when the model carries one that can be built exactly.
    pub tokenizer: Option<Tokenizer>,
    /// Why the tokenizer the model carries could not be built (an unsupported GGUF kind or
    /// pre-tokenizer, a malformed vocabulary): the model opens without one, so text prompts
    /// are refused and token ids must be given.
    pub tokenizer_error: Option<TokenizerError>,
    /// `hf`, `gguf` or `synthetic`.
    pub kind: &'static str,
}

fn magic(path: &Path) -> Result<[u8; 8], LoadError> {
    let mut f = std::fs::File::open(path).map_err(|e| LoadError::io(path, e))?;
    let mut b = [0u8; 8];
    let mut n = 0;
    while n < 8 {
        match f.read(&mut b[n..]).map_err(|e| LoadError::io(path, e))? {
            0 => break,
            k => n += k,
        }
    }
    Ok(b)
}

/// Whether `path` is a zkinfer quantized model file.
pub fn is_quantized(path: &Path) -> Result<bool, LoadError> {
    Ok(path.is_file() && &magic(path)? == MAGIC)
}

/// Opens an HF folder or a GGUF file, with its tokenizer when it has one. A tokenizer that
/// is there but cannot be built exactly is never replaced by another: the model comes
/// without one and [`FloatModel::tokenizer_error`] says why.
pub fn open_float(path: &Path) -> Result<FloatModel, Error> {
    if path.is_dir() {
        let source = Box::new(HfModel::open(path)?);
        let has_json = path.join("tokenizer.json").is_file();
        let built = if has_json || (path.join("vocab.json").is_file() && path.join("merges.txt").is_file()) {
            Some(Tokenizer::from_hf_dir(path))
        } else {
            None
        };
        let (tokenizer, tokenizer_error) = split(built);
        return Ok(FloatModel { source, tokenizer, tokenizer_error, kind: "hf" });
    }
    let m = magic(path)?;
    if &m[..4] == b"GGUF" {
        let g = GgufModel::open(path)?;
        let (tokenizer, tokenizer_error) = split(g.tokenizer_data().map(|td| Tokenizer::from_gguf(&td)));
        return Ok(FloatModel { source: Box::new(g), tokenizer, tokenizer_error, kind: "gguf" });
    }
    if &m == MAGIC {
        return Err(LoadError::format(
            path,
            "is a quantized model; this needs the float model (an HF folder or a .gguf)",
        )
        .into());
    }
    Err(LoadError::format(path, "is neither an HF model folder, a GGUF file nor a zkinfer quantized model")
        .into())
}

/// A tokenizer, or why there is none.
fn split(built: Option<Result<Tokenizer, TokenizerError>>) -> (Option<Tokenizer>, Option<TokenizerError>) {
    match built {
        Some(Ok(t)) => (Some(t), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    }
}

/// The built-in tiny model (deterministic synthetic weights, byte-level tokens).
pub fn builtin_tiny() -> FloatModel {
    FloatModel {
        source: Box::new(SyntheticModel::new(tiny_config(), 0)),
        tokenizer: Some(Tokenizer::bytes()),
        tokenizer_error: None,
        kind: "synthetic",
    }
}

/// Names of the built-in synthetic models [`builtin`] knows.
pub const BUILTIN_NAMES: [&str; 2] = ["tiny", "tiny-d128"];

/// A built-in synthetic model (random weights, byte tokenizer) by name: `tiny` ([`tiny_config`])
/// or `tiny-d128` ([`tiny_d128_config`]).
pub fn builtin(name: &str) -> Option<FloatModel> {
    let config = match name {
        "tiny" => tiny_config(),
        "tiny-d128" => tiny_d128_config(),
        _ => return None,
    };
    Some(FloatModel {
        source: Box::new(SyntheticModel::new(config, 0)),
        tokenizer: Some(Tokenizer::bytes()),
        tokenizer_error: None,
        kind: "synthetic",
    })
}

/// A deterministic pseudo-random prompt standing for `text` in a model without a
/// tokenizer: one token per four bytes of text (at least one).
pub fn pseudo_prompt(text: &str, vocab: usize) -> Vec<u32> {
    let mut s =
        text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    (0..(text.len() / 4).max(1))
        .map(|_| {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) % vocab.max(1) as u64) as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_models_are_found_by_name_only() {
        let d128 = builtin("tiny-d128").expect("tiny-d128");
        let c = d128.source.config();
        assert_eq!(
            (c.hidden_size, c.intermediate_size, c.num_attention_heads, c.head_dim),
            (128, 344, 4, 32)
        );
        assert_eq!(builtin("tiny").expect("tiny").source.config().hidden_size, 64);
        assert!(builtin("tiny-d256").is_none());
        assert!(BUILTIN_NAMES.iter().all(|n| builtin(n).is_some()));
    }
}
