//! What `setup`, `prove` and `verify` share: the quantized model to prove (a `.zkq` file
//! or the built-in tiny model, quantized once into the cache), the SRS and the caches.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use zkinfer_prover::{KeyCache, Srs, SrsCache};
use zkinfer_quantize::open;
use zkinfer_quantize::prompts::CALIBRATION;
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};

use crate::model;
use crate::progress::Progress;

/// The SRS (and where it came from) plus the caches.
pub struct Env {
    pub srs: Srs,
    pub srs_cache: SrsCache,
    /// Proving keys on disk (`--key-cache`); gigabytes per chunk, so off by default.
    pub key_cache: Option<KeyCache>,
}

impl Env {
    /// `--srs FILE` (a ceremony's params file, downsized as needed), else the cached
    /// INSECURE dev SRS of `2^k` rows.
    pub fn new(srs: Option<&Path>, k: u32, key_cache: Option<&Path>, quiet: bool) -> Result<Self> {
        let srs_cache = SrsCache::from_env()?;
        let key_cache = key_cache.map(KeyCache::new);
        let srs = match srs {
            Some(p) => {
                let s = Srs::load(p).with_context(|| format!("SRS {}", p.display()))?;
                if s.k() < k {
                    bail!("the SRS {} has 2^{} rows; the chunks need 2^{k}", p.display(), s.k());
                }
                s
            }
            None => {
                if !quiet && !crate::logging::quiet() {
                    eprintln!("using the INSECURE dev SRS (k = {k}); pass --srs for a ceremony's params");
                }
                srs_cache.insecure(k)?
            }
        };
        Ok(Env { srs, srs_cache, key_cache })
    }
}

/// Where the built-in tiny model is quantized to.
fn builtin_path(cache: &SrsCache) -> PathBuf {
    cache.dir().with_file_name("models").join("builtin-tiny-v1.zkq")
}

/// The quantized model at `path`, or the built-in tiny model (quantized once, cached).
pub fn open_quantized(path: Option<&Path>, quiet: bool) -> Result<QuantizedModel> {
    if let Some(p) = path {
        if !open::is_quantized(p)? {
            bail!(
                "{} is not a quantized model: run `zkinfer quantize {} -o MODEL.zkq` first",
                p.display(),
                p.display()
            );
        }
        return Ok(QuantizedModel::open(p)?);
    }
    let target = builtin_path(&SrsCache::from_env()?);
    if let Ok(q) = QuantizedModel::open(&target) {
        return Ok(q);
    }
    let fm = model::open_float(None)?;
    let cfg = fm.source.config().clone();
    let calib = model::prompts(fm.tokenizer.as_ref(), cfg.vocab_size, &[], CALIBRATION)?;
    let dir = target.parent().context("cache path")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = tempfile::NamedTempFile::new_in(dir).context("temporary model file")?;
    let opts = QuantOptions {
        source_kind: fm.kind.to_string(),
        tokenizer: fm.tokenizer.as_ref().map(|t| t.spec().clone()),
        max_seq: 64,
    };
    {
        let mut p = Progress::new("quantize", cfg.num_hidden_layers + 1, quiet);
        quantize_to_file(&*fm.source, &calib, &opts, tmp.path(), &mut |_, d, t| p.set(d, t))?;
    }
    tmp.persist(&target).with_context(|| format!("cannot write {}", target.display()))?;
    Ok(QuantizedModel::open(&target)?)
}

/// The tokens of `--tokens` or `--prompt` (default: "Once upon a time").
pub fn tokens(q: &QuantizedModel, prompt: Option<&str>, tokens: Option<&[u32]>) -> Result<Vec<u32>> {
    if let Some(t) = tokens {
        if t.is_empty() {
            bail!("--tokens is empty");
        }
        return Ok(t.to_vec());
    }
    let text = prompt.unwrap_or("Once upon a time");
    model::prompt_tokens(q.tokenizer()?.as_ref(), text, q.config().vocab_size)
}

/// The default keys file beside a bundle.
pub fn keys_beside(bundle: &Path) -> PathBuf {
    let mut name = bundle.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".keys.json");
    bundle.with_file_name(name)
}
