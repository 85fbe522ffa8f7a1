//! `zkinfer bench`: prove a model chunk by chunk and record what each chunk cost.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use zkinfer_circuits::block::BlockCircuit;
use zkinfer_circuits::head::HeadCircuit;
use zkinfer_prover::chain::{prove_chain, setup, verify_chain, ChunkKind, ChunkReport};
use zkinfer_prover::halo2_proofs::plonk::{Circuit, ConstraintSystem};
use zkinfer_prover::{Fr, VerifierParams};
use zkinfer_quantize::census;
use zkinfer_quantize::rss::peak_rss_bytes;

use crate::proving::{open_quantized, tokens, Env};
use crate::BenchArgs;

/// Advice columns, fixed columns and lookup arguments of a chunk's circuit.
fn columns(kind: &ChunkKind) -> (usize, usize, usize) {
    let mut cs = ConstraintSystem::<Fr>::default();
    match kind {
        ChunkKind::Block { shape, .. } => {
            BlockCircuit::configure_with_params(&mut cs, *shape);
        }
        ChunkKind::Head { shape, .. } => {
            HeadCircuit::configure_with_params(&mut cs, *shape);
        }
    }
    (cs.num_advice_columns(), cs.num_fixed_columns(), cs.lookups().len())
}

pub fn run(a: BenchArgs) -> Result<()> {
    let q = open_quantized(a.model.as_deref(), true)?;
    let toks = tokens(&q, a.prompt.as_deref(), a.tokens.as_deref())?;
    let t = toks.len();
    let env = Env::new(a.srs.as_deref(), a.max_k, None, true)?;
    let cfg = q.config().clone();
    let start = std::time::Instant::now();
    let keys = setup(&q, t, a.max_k, &env.srs, &env.srs_cache, &mut |d, n| eprintln!("setup {d}/{n}"))?;
    let setup_s = start.elapsed().as_secs_f64();
    let mut reports: Vec<ChunkReport> = vec![];
    let (bundle, best) = prove_chain(&q, &toks, &keys, &env.srs, &env.srs_cache, None, &mut |r| {
        eprintln!(
            "chunk {} ({}): keygen {:.1} s, prove {:.1} s",
            r.index, r.kind, r.keygen_seconds, r.prove_seconds
        );
        reports.push(r)
    })?;
    let params = VerifierParams::from_srs(&env.srs);
    let start = std::time::Instant::now();
    verify_chain(&bundle, &keys, &params)?;
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let model = a.model.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in tiny".into());
    let rows: Vec<_> = reports
        .iter()
        .map(|r| {
            let macs = match r.kind {
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
            let (advice, fixed, lookups) = columns(&r.kind);
            json!({
                "model": model, "tokens": t, "chunk": r.index, "what": r.kind.to_string(), "k": r.kind.k(),
                "advice_columns": advice, "fixed_columns": fixed, "lookups": lookups,
                "advice_cells": advice as u64 * (1u64 << r.kind.k()), "macs": macs,
                "keygen_s": r.keygen_seconds, "prove_s": r.prove_seconds, "proof_bytes": r.proof_bytes,
                "core_s_per_mac": r.prove_seconds * cores / macs.max(1) as f64,
            })
        })
        .collect();
    let summary = json!({
        "model": model, "model_id": q.model_id(), "tokens": toks, "next_token": best.index, "cores": cores,
        "setup_s": setup_s, "verify_ms": verify_ms, "peak_rss_bytes": peak_rss_bytes(), "chunks": rows,
    });
    write(&a.json_out, &serde_json::to_string_pretty(&summary)?)?;
    let mut md = String::from(
        "| model | chunk | k | advice cols | lookups | MACs | keygen s | prove s | proof B | core-s/MAC |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} (t={}) | {} | {} | {} | {} | {} | {:.1} | {:.1} | {} | {:.2e} |\n",
            r["model"].as_str().unwrap_or_default(),
            t,
            r["what"].as_str().unwrap_or_default(),
            r["k"],
            r["advice_columns"],
            r["lookups"],
            r["macs"],
            r["keygen_s"].as_f64().unwrap_or_default(),
            r["prove_s"].as_f64().unwrap_or_default(),
            r["proof_bytes"],
            r["core_s_per_mac"].as_f64().unwrap_or_default(),
        ));
    }
    md.push_str(&format!(
        "\nsetup (verifying keys) {setup_s:.1} s, verify {verify_ms:.0} ms, peak RSS {} MB\n",
        peak_rss_bytes().unwrap_or(0) >> 20
    ));
    write(&a.md_out, &md)?;
    print!("{md}");
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}
