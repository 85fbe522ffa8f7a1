//! `zkinfer run`.

use anyhow::{Context, Result};
use serde_json::{json, Value};
use zkinfer_quantize::open::{self, FloatModel};
use zkinfer_quantize::prompts::CALIBRATION;
use zkinfer_quantize::qmodel::dequant::DequantizedModel;
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
use zkinfer_quantize::report::top_k;
use zkinfer_quantize::tokenizer::Tokenizer;

use crate::model::{self, float_pass, int_pass};
use crate::progress::Progress;
use crate::RunArgs;

const DEFAULT_PROMPT: &str = "Once upon a time";

/// Argmax per position, the last position's top 5, as JSON.
fn summary(logits: &[f64], t: usize) -> (Vec<u32>, Vec<u32>) {
    let vocab = logits.len() / t;
    let top1 = (0..t).map(|p| top_k(&logits[p * vocab..(p + 1) * vocab], 1)[0]).collect();
    let top5 = top_k(&logits[(t - 1) * vocab..], 5);
    (top1, top5)
}

fn tokens_of(a: &RunArgs, tok: Option<&Tokenizer>, vocab: usize) -> Result<Vec<u32>> {
    match &a.tokens {
        Some(t) => Ok(t.clone()),
        None => model::prompt_tokens(tok, a.prompt.as_deref().unwrap_or(DEFAULT_PROMPT), vocab),
    }
}

pub fn run(a: RunArgs) -> Result<()> {
    let quantized = match a.model.as_deref() {
        Some(p) => open::is_quantized(p)?,
        None => false,
    };
    // Keeps the temporary quantized file alive for the run.
    let mut _tmp = None;
    let (q, float_src, tok, float_kind): (QuantizedModel, Option<FloatModel>, Option<Tokenizer>, String) =
        if quantized {
            let path = a.model.as_deref().context("no model")?;
            let q = QuantizedModel::open(path)?;
            let tok = q.tokenizer()?;
            let recorded = std::path::PathBuf::from(&q.manifest.source.path);
            let (fm, kind) = match &a.float_model {
                Some(f) => (Some(open::open_float(f)?), format!("{}", f.display())),
                None if recorded.exists() => match open::open_float(&recorded) {
                    Ok(fm) if fm.source.config() == q.config() => (Some(fm), recorded.display().to_string()),
                    _ => (None, "dequantized".to_string()),
                },
                None => (None, "dequantized".to_string()),
            };
            (q, fm, tok, kind)
        } else {
            let mut fm = model::open_float(a.model.as_deref())?;
            let cfg = fm.source.config().clone();
            let calib = model::prompts(fm.tokenizer.as_ref(), cfg.vocab_size, &[], CALIBRATION)?;
            let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
            let path = dir.path().join("model.zkq");
            let opts = QuantOptions {
                source_kind: fm.kind.to_string(),
                tokenizer: fm.tokenizer.as_ref().map(|t| t.spec().clone()),
                ..QuantOptions::default()
            };
            {
                let mut p = Progress::new("quantize", cfg.num_hidden_layers + 1, a.json);
                quantize_to_file(&*fm.source, &calib, &opts, &path, &mut |_, d, t| p.set(d, t))?;
            }
            let q = QuantizedModel::open(&path)?;
            _tmp = Some(dir);
            let tok = fm.tokenizer.take();
            let kind = fm.source.path().display().to_string();
            (q, Some(fm), tok, kind)
        };
    let tokens = tokens_of(&a, tok.as_ref(), q.config().vocab_size)?;
    let f = match &float_src {
        Some(fm) => float_pass(&*fm.source, &tokens, a.json)?,
        None => float_pass(&DequantizedModel::new(&q), &tokens, a.json)?,
    };
    let i = int_pass(&q, &tokens, a.json)?;
    let t = tokens.len();
    let fl: Vec<f64> = f.logits.iter().map(|&v| v as f64).collect();
    let il = i.logits_f64();
    let (f1, f5) = summary(&fl, t);
    let (i1, i5) = summary(&il, t);
    let agree = f1.iter().zip(&i1).filter(|(a, b)| a == b).count() as f64 / t as f64;
    if a.json {
        let side = |top1: &[u32], top5: &[u32]| -> Value {
            json!({"next_token": top1[t - 1], "top5": top5, "top1": top1})
        };
        let out = json!({
            "tokens": tokens,
            "model_id": q.model_id(),
            "float_source": float_kind,
            "float": side(&f1, &f5),
            "int": side(&i1, &i5),
            "top1_agreement": agree,
        });
        println!("{out}");
        return Ok(());
    }
    let show = |id: u32| -> String {
        match tok.as_ref().and_then(|tk| tk.decode(&[id]).ok()) {
            Some(s) => format!("{id} {s:?}"),
            None => id.to_string(),
        }
    };
    println!("model id {}", q.model_id());
    println!("tokens {tokens:?}");
    let vocab = fl.len() / t;
    for (name, top5, logits) in [("float", &f5, &fl), ("int", &i5, &il)] {
        println!("{name} next-token top-5:");
        for &id in top5.iter() {
            println!("  {:>10.4}  {}", logits[(t - 1) * vocab + id as usize], show(id));
        }
    }
    println!("float pass: {float_kind}");
    println!("top-1 agreement over {t} positions: {:.1} %", agree * 100.0);
    Ok(())
}
