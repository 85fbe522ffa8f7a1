//! `zkinfer plan`.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use zkinfer_circuits::cost::Aggregation;
use zkinfer_circuits::plan::{plan, LANES};
use zkinfer_prover::chain::{estimate_chunk, plan_chunks, ChunkEstimate, ChunkKind};
use zkinfer_quantize::open::{self, FloatModel};
use zkinfer_quantize::prompts::CALIBRATION;
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
use zkinfer_quantize::synthetic::{llama2_7b_layer_config, tiny_config, SyntheticModel};
use zkinfer_quantize::LlamaConfig;

use crate::model;
use crate::PlanArgs;

/// Layers of the Llama-2-7B shape (`plan llama2-7b` quantizes one and repeats its chunks).
const LLAMA2_7B_LAYERS: usize = 32;

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

/// A model that is not quantized yet, quantized into a temporary file so that the real
/// planner can lay out its chunks: `llama2-7b` as one synthetic layer of its shape (every
/// layer of a synthetic model has the same layout), anything else whole.
fn quantize_for_plan(a: &PlanArgs, dir: &Path) -> Result<(String, QuantizedModel, usize)> {
    let (name, fm, layers) = match a.model.as_deref() {
        Some("llama2-7b") => {
            let cfg = llama2_7b_layer_config(1, 32000);
            let fm = FloatModel {
                source: Box::new(SyntheticModel::new(cfg, 0)),
                tokenizer: None,
                tokenizer_error: None,
                kind: "synthetic",
            };
            ("Llama-2-7B shape (random weights)".to_string(), fm, LLAMA2_7B_LAYERS)
        }
        m => {
            let fm = model::open_float(m.map(Path::new))?;
            let layers = fm.source.config().num_hidden_layers;
            (m.unwrap_or("built-in tiny").to_string(), fm, layers)
        }
    };
    let cfg = fm.source.config().clone();
    let calib = model::prompts(fm.tokenizer.as_ref(), cfg.vocab_size, &[], &CALIBRATION[..1])?;
    let opts = QuantOptions {
        max_seq: a.tokens.max(16),
        source_kind: fm.kind.to_string(),
        tokenizer: fm.tokenizer.as_ref().map(|t| t.spec().clone()),
    };
    if !a.json && std::io::stderr().is_terminal() {
        eprintln!(
            "quantizing {name} to lay out its chunks (plan a .zkq from `zkinfer quantize` to skip this)"
        );
    }
    let path = dir.join("plan.zkq");
    quantize_to_file(&*fm.source, &calib, &opts, &path, &mut |_, _, _| {})
        .with_context(|| format!("quantizing {name} for the plan"))?;
    Ok((name, QuantizedModel::open(&path)?, layers))
}

/// The chunks `zkinfer prove` would make for a quantized model, with their real layouts;
/// the block chunks of a model quantized with fewer layers than `layers` stand for every
/// layer (a synthetic shape).
fn run_quantized(a: &PlanArgs, name: &str, q: &QuantizedModel, layers: usize) -> Result<()> {
    let specs = plan_chunks(q, a.tokens, a.max_k).map_err(|e| {
        anyhow!(
            "{e} (a chunk is a layer or one of its halves: raise --max-k, or see --analytic for \
             the per-operation estimate, which splits matrices by rows)"
        )
    })?;
    let chunks: Vec<ChunkEstimate> = specs.iter().map(estimate_chunk).collect();
    let quantized_layers = q.config().num_hidden_layers.max(1);
    let repeat = layers.div_ceil(quantized_layers);
    // How many times each planned chunk is proved: a block chunk once per layer it stands for.
    let times: Vec<usize> =
        specs.iter().map(|s| if matches!(s.kind, ChunkKind::Block { .. }) { repeat } else { 1 }).collect();
    let total_s: f64 = chunks.iter().zip(&times).map(|(c, &n)| c.prove_seconds * n as f64).sum();
    let count: usize = times.iter().sum();
    let peak = chunks.iter().map(|c| c.memory_bytes).max().unwrap_or(0);
    let points: usize = chunks.iter().zip(&times).map(|(c, &n)| c.points * n).sum();
    let agg = Aggregation::of_points(points);
    if a.json {
        let out = json!({
            "model": name, "model_id": q.model_id(), "config": q.config(), "layers": layers, "tokens": a.tokens,
            "max_k": a.max_k, "layout": "real", "chunks": chunks, "block_chunks_repeat": repeat,
            "chunk_count": count, "prove_seconds_estimate": total_s, "peak_memory_bytes_estimate": peak,
            "points": points, "aggregation_bottom_level": agg,
        });
        println!("{out}");
        return Ok(());
    }
    let cfg = q.config();
    println!(
        "{name}: {layers} layers, d={}, ffn={}, {} tokens, max k {} (the chunks `zkinfer prove` makes, real layouts)",
        cfg.hidden_size, cfg.intermediate_size, a.tokens, a.max_k
    );
    if repeat > 1 {
        println!("(one layer quantized from random weights; its block chunks stand for each of the {layers} layers)");
    }
    println!(
        "{:>5} {:>3} {:>6} {:>6} {:>7} {:>6} {:>9} {:>8} {:>7}  chunk",
        "index", "k", "advice", "fixed", "lookups", "points", "prove s", "mem MB", "agg s"
    );
    for c in &chunks {
        println!(
            "{:>5} {:>3} {:>6} {:>6} {:>7} {:>6} {:>9.1} {:>8.0} {:>7.0}  {}",
            c.index,
            c.k,
            c.advice_columns,
            c.fixed_columns,
            c.lookups,
            c.points,
            c.prove_seconds,
            c.memory_bytes as f64 / 1e6,
            c.aggregation_seconds,
            c.what
        );
    }
    println!(
        "{count} chunks, estimated {total_s:.0} s of proving on 2 cores (keygen not included), peak {:.0} MB; \
         their {points} points cost ≈ {:.0} s of aggregation proving and {:.1} GB at the bottom level \
         (the cost model: circuits/src/cost.rs)",
        peak as f64 / 1e6,
        agg.prove_seconds,
        agg.memory_bytes as f64 / 1e9
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
    let quantized = a.model.as_deref().filter(|p| open::is_quantized(Path::new(p)).unwrap_or(false));
    if let Some(path) = quantized.filter(|_| !a.analytic) {
        let q = QuantizedModel::open(Path::new(path))?;
        let layers = q.config().num_hidden_layers;
        return run_quantized(&a, path, &q, layers);
    }
    if !a.analytic {
        let dir = tempfile::tempdir().context("a temporary folder for the plan's quantized model")?;
        let (name, q, layers) = quantize_for_plan(&a, dir.path())?;
        return run_quantized(&a, &name, &q, layers);
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
         drop --analytic for the real chunks)",
        chunks.len(),
        peak as f64 / 1e6
    );
    Ok(())
}
