//! Opening models and turning prompts into tokens for the commands.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use zkinfer_quantize::float::{self, FloatOutput};
use zkinfer_quantize::int::{self, IntOutput};
use zkinfer_quantize::open::{self, FloatModel};
use zkinfer_quantize::prompts::{tokenize_in_vocab, tokenize_prompt};
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::tokenizer::Tokenizer;
use zkinfer_quantize::WeightSource;

use crate::progress::Progress;

/// The float model at `path`, a built-in synthetic model named by `path` (`tiny`,
/// `tiny-d128`) when no such file exists, or the built-in tiny model. A model whose
/// tokenizer cannot be built opens without one, with a warning that says why.
pub fn open_float(path: Option<&Path>) -> Result<FloatModel> {
    let fm = match path {
        None => open::builtin_tiny(),
        Some(p) if !p.exists() => match p.to_str().and_then(open::builtin) {
            Some(m) => m,
            None => open::open_float(p)?,
        },
        Some(p) => open::open_float(p)?,
    };
    if let (Some(p), Some(e)) = (path, &fm.tokenizer_error) {
        eprintln!(
            "warning: {}: no tokenizer ({e}); text prompts are refused, give token ids with --tokens",
            p.display()
        );
    }
    Ok(fm)
}

/// The token ids of `--prompt` for `run`, `setup`, `prove`, `verify` and `bench`: exactly the
/// tokenizer's, or an error that points to `--tokens` when the model has no tokenizer or the
/// prompt has a token outside its vocabulary.
pub fn prompt_tokens(tok: Option<&Tokenizer>, text: &str, vocab: usize) -> Result<Vec<u32>> {
    tokenize_prompt(tok, text, vocab)
        .map_err(|e| anyhow!("--prompt {text:?}: {e}; give the prompt as token ids with --tokens 1,2,3"))
}

/// Calibration and evaluation texts only (`texts`, or `defaults` when `texts` is empty),
/// never a prompt to run or prove: ids outside the vocabulary are dropped (models with a cut
/// vocabulary), and without a tokenizer each text becomes a deterministic pseudo-random
/// token sequence of its byte length.
pub fn prompts(
    tok: Option<&Tokenizer>,
    vocab: usize,
    texts: &[String],
    defaults: &[&str],
) -> Result<Vec<Vec<u32>>> {
    let list: Vec<&str> =
        if texts.is_empty() { defaults.to_vec() } else { texts.iter().map(String::as_str).collect() };
    list.iter()
        .map(|t| match tok {
            Some(tk) => tokenize_in_vocab(tk, t, vocab).with_context(|| format!("prompt {t:?}")),
            None => Ok(open::pseudo_prompt(t, vocab)),
        })
        .collect()
}

/// The float pass with a progress bar.
pub fn float_pass(src: &dyn WeightSource, tokens: &[u32], quiet: bool) -> Result<FloatOutput> {
    let n = src.config().num_hidden_layers;
    let mut p = Progress::new("float pass", n, quiet);
    Ok(float::forward(src, tokens, &mut |d| p.set(d, n))?)
}

/// The integer pass with a progress bar.
pub fn int_pass(q: &QuantizedModel, tokens: &[u32], quiet: bool) -> Result<IntOutput> {
    let n = q.config().num_hidden_layers;
    let mut p = Progress::new("int pass", n, quiet);
    Ok(int::forward(q, tokens, &mut |d| p.set(d, n))?)
}
