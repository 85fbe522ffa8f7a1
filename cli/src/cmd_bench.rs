//! `zkinfer bench`: prove a model chunk by chunk and record what each chunk cost.

use std::io::Write;
use std::path::Path;

use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;
use zkinfer_circuits::cost::Layout;
use zkinfer_prover::chain::{
    chunk_inputs, chunk_vk, keyed_layout, plan_chunks, prove_chain, prove_chunk, setup, verify_chain,
    ChainEvent, ChunkKind, ChunkReport,
};
use zkinfer_prover::vk_hash;
use zkinfer_prover::VerifierParams;
use zkinfer_quantize::census;
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::rss::peak_rss_bytes;

use crate::progress::Progress;
use crate::proving::{open_quantized, tokens, Env};
use crate::BenchArgs;

pub fn run(a: BenchArgs) -> Result<()> {
    let q = open_quantized(a.model.as_deref(), true)?;
    let toks = tokens(&q, a.prompt.as_deref(), a.tokens.as_deref())?;
    let t = toks.len();
    let env = Env::new(a.srs.as_deref(), a.max_k, None, true)?;
    let cfg = q.config().clone();
    let progress = |r: &ChunkReport| {
        tracing::info!(
            "chunk {} ({}): keygen {:.1} s, prove {:.1} s",
            r.index,
            r.kind,
            r.keygen_seconds,
            r.prove_seconds
        )
    };
    let run = match &a.chunks {
        None => whole_chain(&q, &toks, a.max_k, &env, a.json, &progress)?,
        Some(only) => some_chunks(&q, &toks, a.max_k, &env, only, &progress)?,
    };
    let (setup_s, verify_ms, reports) = (run.setup_s, run.verify_ms, run.reports);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let model = a.model.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in tiny".into());
    let rows: Vec<_> = reports
        .iter()
        .map(|r| {
            let macs = match r.report.kind {
                ChunkKind::Block { part, .. } => {
                    let (at, ml) = (census::attention(&cfg, t), census::mlp(&cfg, t));
                    match part {
                        zkinfer_prover::chain::Part::Both => at.plus(ml).macs(),
                        zkinfer_prover::chain::Part::Attention => at.macs(),
                        zkinfer_prover::chain::Part::Mlp => ml.macs(),
                    }
                }
                ChunkKind::Head { lo, hi, .. } => ((hi - lo) * cfg.hidden_size) as u64,
            };
            let c = &r.layout;
            json!({
                "model": model, "tokens": t, "chunk": r.report.index, "what": r.report.kind.to_string(),
                "k": c.k, "rows": c.rows(), "advice_columns": c.advice, "fixed_columns": c.fixed,
                "selectors": c.selectors, "selector_columns": c.selector_columns, "lookups": c.lookups,
                "equality_columns": c.equality, "advice_cells": c.advice as u64 * c.rows(), "macs": macs,
                "points": c.points(), "aggregation_prove_s": c.aggregation().prove_seconds,
                "keygen_s": r.report.keygen_seconds, "prove_s": r.report.prove_seconds,
                "predicted_prove_s": c.prove_seconds(),
                "proof_bytes": r.report.proof_bytes,
                "core_s_per_mac": r.report.prove_seconds * cores / macs.max(1) as f64,
            })
        })
        .collect();
    let summary = json!({
        "model": model, "model_id": q.model_id(), "tokens": toks, "next_token": run.next_token, "cores": cores,
        "setup_s": setup_s, "verify_ms": verify_ms, "peak_rss_bytes": peak_rss_bytes(), "chunks": rows,
    });
    write(&a.json_out, &serde_json::to_string_pretty(&summary)?)?;
    let mut md = String::from(
        "| model | chunk | k | advice cols | lookups | points | MACs | keygen s | prove s (model) | proof B | core-s/MAC |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} (t={}) | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} ({:.1}) | {} | {:.2e} |\n",
            r["model"].as_str().unwrap_or_default(),
            t,
            r["what"].as_str().unwrap_or_default(),
            r["k"],
            r["advice_columns"],
            r["lookups"],
            r["points"],
            r["macs"],
            r["keygen_s"].as_f64().unwrap_or_default(),
            r["prove_s"].as_f64().unwrap_or_default(),
            r["predicted_prove_s"].as_f64().unwrap_or_default(),
            r["proof_bytes"],
            r["core_s_per_mac"].as_f64().unwrap_or_default(),
        ));
    }
    md.push_str(&format!(
        "\nsetup (verifying keys) {setup_s:.1} s, verify {verify_ms:.0} ms, peak RSS {} MB\n",
        peak_rss_bytes().unwrap_or(0) >> 20
    ));
    write(&a.md_out, &md)?;
    if a.json {
        println!("{summary}");
    } else {
        print!("{md}");
    }
    Ok(())
}

/// One chunk's report and its exact layout.
struct Measured {
    report: ChunkReport,
    layout: Layout,
}

/// What a bench run measured.
struct Run {
    setup_s: f64,
    verify_ms: f64,
    reports: Vec<Measured>,
    /// The proven next token (a whole chain only).
    next_token: Option<u64>,
}

/// Setup, prove and verify every chunk of the model.
fn whole_chain(
    q: &QuantizedModel,
    toks: &[u32],
    max_k: u32,
    env: &Env,
    quiet: bool,
    progress: &dyn Fn(&ChunkReport),
) -> Result<Run> {
    let start = Instant::now();
    let keys = {
        let mut p = Progress::new("keygen", 0, quiet);
        setup(q, toks.len(), max_k, &env.srs, &env.srs_cache, &mut |d, n| p.set(d, n))?
    };
    let setup_s = start.elapsed().as_secs_f64();
    let mut reports: Vec<Measured> = vec![];
    let (bundle, best) = prove_chain(q, toks, &keys, &env.srs, &env.srs_cache, None, &mut |e| {
        if let ChainEvent::Proved(r) = e {
            progress(&r);
            let layout = keyed_layout(&r.kind, &keys.chunks[r.index].vk);
            reports.push(Measured { report: r, layout })
        }
    })?;
    let start = Instant::now();
    verify_chain(&bundle, &keys, &VerifierParams::from_srs(&env.srs))?;
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    Ok(Run { setup_s, verify_ms, reports, next_token: Some(best.index) })
}

/// Verifying key, proof and verification of the chunks `only` of the model's plan alone
/// (the integer pass still runs through the whole plan, for their inputs).
fn some_chunks(
    q: &QuantizedModel,
    toks: &[u32],
    max_k: u32,
    env: &Env,
    only: &[usize],
    progress: &dyn Fn(&ChunkReport),
) -> Result<Run> {
    let specs = plan_chunks(q, toks.len(), max_k)?;
    if let Some(bad) = only.iter().find(|&&i| i >= specs.len()) {
        bail!("chunk {bad} does not exist: the plan has {} chunks (0..{})", specs.len(), specs.len());
    }
    let kinds: Vec<ChunkKind> = specs.iter().map(|s| s.kind).collect();
    let inputs = chunk_inputs(q, toks, &kinds)?;
    let (mut setup_s, mut verify_ms, mut reports) = (0.0, 0.0, vec![]);
    for &i in only {
        let spec = &specs[i];
        let start = Instant::now();
        let vk = chunk_vk(spec, &env.srs, &env.srs_cache)?;
        setup_s += start.elapsed().as_secs_f64();
        let (proof, report) = prove_chunk(
            q,
            toks.len(),
            i,
            spec.kind,
            &vk_hash(&vk),
            &inputs[i],
            &env.srs,
            &env.srs_cache,
            None,
        )?;
        let start = Instant::now();
        proof
            .verify(&VerifierParams::from_srs(&env.srs), &vk)
            .with_context(|| format!("chunk {i} does not verify"))?;
        if proof.instances != inputs[i].instances() {
            bail!("chunk {i}'s proof is not of the integer reference's instances");
        }
        verify_ms += start.elapsed().as_secs_f64() * 1e3;
        progress(&report);
        reports.push(Measured { layout: keyed_layout(&report.kind, &vk), report });
    }
    Ok(Run { setup_s, verify_ms, reports, next_token: None })
}

fn write(path: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}
