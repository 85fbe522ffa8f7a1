//! `zkinfer quantize`.

use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;
use zkinfer_quantize::prompts::{CALIBRATION, EVALUATION};
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions, Stage};
use zkinfer_quantize::report::AccuracyReport;
use zkinfer_quantize::rss::peak_rss_bytes;

use crate::model::{self, float_pass, int_pass};
use crate::progress::Progress;
use crate::QuantizeArgs;

pub fn run(a: QuantizeArgs) -> Result<()> {
    let t0 = Instant::now();
    let fm = model::open_float(a.model.as_deref())?;
    let src = &*fm.source;
    let cfg = src.config().clone();
    let tok = fm.tokenizer.as_ref();
    let calib = model::prompts(tok, cfg.vocab_size, &a.calib_prompts, CALIBRATION)?;
    let evals = model::prompts(tok, cfg.vocab_size, &a.eval_prompts, &[EVALUATION])?;
    let opts = QuantOptions {
        max_seq: a.max_seq,
        source_kind: fm.kind.to_string(),
        tokenizer: fm.tokenizer.as_ref().map(|t| t.spec().clone()),
    };
    let manifest = {
        let mut p = Progress::new("calibrate", cfg.num_hidden_layers + 1, a.json);
        quantize_to_file(src, &calib, &opts, &a.output, &mut |stage, d, t| {
            if stage == Stage::Write && d <= 1 {
                p.message("quantize");
            }
            p.set(d, t)
        })
        .with_context(|| format!("quantizing {}", src.path().display()))?
    };
    let quant_s = t0.elapsed().as_secs_f64();
    let q = QuantizedModel::open(&a.output)?;
    let mut report = AccuracyReport::default();
    for tokens in &evals {
        let f = float_pass(src, tokens, a.json)?;
        let i = int_pass(&q, tokens, a.json)?;
        report = report.merge(&AccuracyReport::compare(&f, &i));
    }
    let bytes = std::fs::metadata(&a.output).map(|m| m.len()).unwrap_or(0);
    if a.json {
        let out = json!({
            "output": a.output.display().to_string(),
            "model_id": manifest.model_id,
            "bytes": bytes,
            "config": manifest.body.config,
            "params": manifest.body.params,
            "calibration_prompts": calib.len(),
            "accuracy": report,
            "quantize_seconds": quant_s,
            "total_seconds": t0.elapsed().as_secs_f64(),
            "peak_rss_bytes": peak_rss_bytes(),
        });
        println!("{out}");
        return Ok(());
    }
    println!("wrote {} ({:.1} MB) in {quant_s:.1} s", a.output.display(), bytes as f64 / 1e6);
    println!("model id {}", manifest.model_id);
    let p = &manifest.body.params;
    println!(
        "scales: residual 2^-{} ({} bits), logits 2^-{}, {} calibration prompts ({} tokens)",
        p.resid.frac,
        p.resid.bits,
        p.logits.frac,
        calib.len(),
        calib.iter().map(Vec::len).sum::<usize>()
    );
    println!(
        "accuracy, integer vs float, {} prompt(s), {} positions (max|err| / max|float|):",
        report.prompts, report.positions
    );
    for (l, e) in report.hidden_rel_err.iter().enumerate() {
        let name = if l == 0 { "embeddings".to_string() } else { format!("layer {}", l - 1) };
        println!("  {name:>12}  {:.4} %", e * 100.0);
    }
    println!("  {:>12}  {:.4} %", "logits", report.logits_rel_err * 100.0);
    println!(
        "  top-1 agreement {:.1} %, int top-1 in float top-5 {:.1} %, top-5 overlap {:.1} %, next token agrees on {}/{}",
        report.top1_agreement * 100.0,
        report.top1_in_float_top5 * 100.0,
        report.top5_overlap * 100.0,
        report.next_token_agree,
        report.prompts
    );
    if let Some(rss) = peak_rss_bytes() {
        println!("peak RSS {:.0} MB", rss as f64 / 1e6);
    }
    Ok(())
}
