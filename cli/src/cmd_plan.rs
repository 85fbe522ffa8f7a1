//! `zkinfer plan`.

use std::path::Path;

use anyhow::{bail, Result};
use serde_json::json;
use zkinfer_circuits::plan::{plan, LANES};
use zkinfer_prover::chain::{estimate_chunk, plan_chunks, ChunkEstimate};
use zkinfer_quantize::open;
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::synthetic::{llama2_7b_layer_config, tiny_config};
use zkinfer_quantize::LlamaConfig;

use crate::PlanArgs;

fn config(model: Option<&str>) -> Result<(String, LlamaConfig)> {
    Ok(match model {
        None | Some("tiny") => ("built-in tiny".into(), tiny_config()),
        Some("llama2-7b") => ("Llama-2-7B shape (32 layers)".into(), llama2_7b_layer_config(32, 32000)),
        Some(p) => {
            let path = Path::new(p);
            let cfg = if open::is_quantized(path)? {
                QuantizedModel::open(path)?.config().clone()
            } else {
                open::open_float(path)?.source.config().clone()
            };
            (p.to_string(), cfg)
        }
    })
}

/// The chunks `zkinfer prove` would make for a quantized model, with their real layouts.
fn run_quantized(a: &PlanArgs, path: &str) -> Result<()> {
    let q = QuantizedModel::open(Path::new(path))?;
    let specs = plan_chunks(&q, a.tokens, a.max_k)?;
    let chunks: Vec<ChunkEstimate> = specs.iter().map(estimate_chunk).collect();
    let total_s: f64 = chunks.iter().map(|c| c.prove_seconds).sum();
    let peak = chunks.iter().map(|c| c.memory_bytes).max().unwrap_or(0);
    if a.json {
        let out = json!({
            "model": path, "model_id": q.model_id(), "config": q.config(), "tokens": a.tokens, "max_k": a.max_k,
            "layout": "real", "chunks": chunks, "prove_seconds_estimate": total_s, "peak_memory_bytes_estimate": peak,
        });
        println!("{out}");
        return Ok(());
    }
    let cfg = q.config();
    println!(
        "{path}: {} layers, d={}, ffn={}, {} tokens, max k {} (the chunks `zkinfer prove` makes, real layouts)",
        cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size, a.tokens, a.max_k
    );
    println!(
        "{:>5} {:>3} {:>6} {:>6} {:>7} {:>9} {:>8}  chunk",
        "index", "k", "advice", "fixed", "lookups", "prove s", "mem MB"
    );
    for c in &chunks {
        println!(
            "{:>5} {:>3} {:>6} {:>6} {:>7} {:>9.1} {:>8.0}  {}",
            c.index,
            c.k,
            c.advice_columns,
            c.fixed_columns,
            c.lookups,
            c.prove_seconds,
            c.memory_bytes as f64 / 1e6,
            c.what
        );
    }
    println!(
        "{} chunks, estimated {total_s:.0} s of proving on 2 cores (keygen not included), peak {:.0} MB \
         (calibrated on measured proofs, see prover/src/chain/estimate.rs)",
        chunks.len(),
        peak as f64 / 1e6
    );
    Ok(())
}

pub fn run(a: PlanArgs) -> Result<()> {
    if !(10..=26).contains(&a.max_k) {
        bail!("--max-k {} is outside 10..=26", a.max_k);
    }
    if a.tokens == 0 {
        bail!("--tokens must be positive");
    }
    if let Some(path) = a.model.as_deref().filter(|p| open::is_quantized(Path::new(p)).unwrap_or(false)) {
        return run_quantized(&a, path);
    }
    let (name, cfg) = config(a.model.as_deref())?;
    let chunks = plan(&cfg, a.tokens, a.max_k);
    let total_s: f64 = chunks.iter().map(|c| c.estimate.prove_seconds).sum();
    let peak = chunks.iter().map(|c| c.estimate.memory_bytes).max().unwrap_or(0);
    let macs: u64 = chunks.iter().map(|c| c.estimate.macs).sum();
    if a.json {
        let out = json!({
            "model": name, "config": cfg, "tokens": a.tokens, "max_k": a.max_k, "lanes": LANES,
            "chunks": chunks, "macs": macs, "prove_seconds_estimate": total_s, "peak_memory_bytes_estimate": peak,
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "{name}: {} layers, d={}, ffn={}, {} tokens, max k {}",
        cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size, a.tokens, a.max_k
    );
    println!(
        "{:>5} {:>3} {:>9} {:>6} {:>6} {:>12} {:>9} {:>8}  ops",
        "chunk", "k", "rows", "advice", "fixed", "MACs", "prove s", "mem MB"
    );
    for c in &chunks {
        let e = &c.estimate;
        let ops = if c.ops.len() > 2 {
            format!("{} … {} ({} ops)", c.ops[0], c.ops[c.ops.len() - 1], c.ops.len())
        } else {
            c.ops.join(", ")
        };
        println!(
            "{:>5} {:>3} {:>9} {:>6} {:>6} {:>12} {:>9.1} {:>8.0}  {ops}",
            c.index,
            e.k,
            e.rows,
            e.advice_columns,
            e.fixed_columns,
            e.macs,
            e.prove_seconds,
            e.memory_bytes as f64 / 1e6
        );
    }
    println!(
        "{} chunks, {macs} MACs, estimated {total_s:.0} s of proving on 2 cores, peak {:.0} MB \
         (analytic model before layout, see circuits/src/plan.rs; it over-counts columns: \
         `zkinfer quantize` the model and plan the .zkq for the real chunks)",
        chunks.len(),
        peak as f64 / 1e6
    );
    Ok(())
}
