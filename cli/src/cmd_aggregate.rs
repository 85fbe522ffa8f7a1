//! `zkinfer aggregate`: a verified bundle's chunk proofs folded into one EVM-verifiable
//! proof, after an estimate of what that costs on this machine.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;
use zkinfer_prover::aggregate::estimate::{estimate, Estimate};
use zkinfer_prover::chain::{aggregate_bundle, chain_snarks, verify_chain};
use zkinfer_prover::{AggregationParams, Bundle, Srs, SrsCache, VerifierParams};

use crate::cmd_prove::fr_hex;
use crate::cmd_verify::read_keys;
use crate::proving::keys_beside;
use crate::AggregateArgs;

/// Bytes of memory this machine can still give (`MemAvailable`), if Linux says.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn describe(e: &Estimate, k: u32) -> String {
    format!(
        "{} commitments to verify in-circuit ≈ {:.1} M advice cells ({} columns at k = {k}); \
         ≈ {:.0} s keygen + {:.0} s proving on 2 cores, ≈ {:.1} GB",
        e.commitments,
        e.cells as f64 / 1e6,
        e.advice_columns,
        e.keygen_seconds,
        e.prove_seconds,
        e.memory_bytes as f64 / 1e9
    )
}

pub fn run(a: AggregateArgs) -> Result<()> {
    if !(18..=26).contains(&a.k) {
        bail!("--k {} is outside 18..=26 (an aggregation circuit needs at least 2^18 rows)", a.k);
    }
    if a.arity < 2 {
        bail!("--arity {} is too small: an aggregation circuit must take at least 2 proofs", a.arity);
    }
    let bundle = Bundle::read(&a.bundle)?;
    let keys_path = a.keys.clone().unwrap_or_else(|| keys_beside(&a.bundle));
    let keys = read_keys(&keys_path, a.max_k)?;
    let srs_cache = SrsCache::from_env()?;
    // A given SRS file is loaded once (and checked for size before any work); the dev SRS of
    // the aggregation's size is only built after the estimate says the run fits, and the
    // chunks are checked first with the three verifier points of its smallest size.
    let file_srs = match &a.srs {
        Some(p) => {
            let mut srs = Srs::load(p).with_context(|| format!("SRS {}", p.display()))?;
            if srs.k() < a.k {
                bail!(
                    "the SRS {} has k = {}, the aggregation circuits need k = {}",
                    p.display(),
                    srs.k(),
                    a.k
                );
            }
            srs.downsize(a.k)?;
            Some(srs)
        }
        None => None,
    };
    let vp = match &file_srs {
        Some(srs) => VerifierParams::from_srs(srs),
        None => VerifierParams::from_srs(&srs_cache.insecure(4)?),
    };
    let outcome =
        verify_chain(&bundle, &keys, &vp).context("the bundle does not verify; nothing to aggregate")?;
    let snarks = chain_snarks(&bundle, &keys, &vp);
    let groups = snarks.len().div_ceil(a.arity);
    let first = estimate(&snarks[..snarks.len().min(a.arity)], a.k);
    let total = estimate(&snarks, a.k);
    let levels = if snarks.len() > a.arity { "a tree: the first level alone" } else { "one level" };
    tracing::info!("aggregating {} chunk proofs ({levels}, {groups} circuit(s) at the bottom)", snarks.len());
    tracing::info!("  largest circuit: {}", describe(&first, a.k));
    tracing::info!(
        "  bottom level in all ({groups} circuits, one after another): {} commitments ≈ {:.1} M advice cells; \
         ≈ {:.0} s keygen + {:.0} s proving on 2 cores",
        total.commitments,
        total.cells as f64 / 1e6,
        total.keygen_seconds,
        total.prove_seconds
    );
    let available = match a.max_memory {
        Some(gb) if gb.is_finite() && gb > 0.0 => Some((gb * 1e9) as u64),
        Some(gb) => bail!("--max-memory {gb} is not a positive number of GB"),
        None => available_memory(),
    };
    let fits = available.is_none_or(|m| first.memory_bytes <= m);
    if a.estimate {
        println!(
            "{}",
            json!({ "chunks": snarks.len(), "k": a.k, "arity": a.arity, "largest_circuit": first,
                    "bottom_level": { "circuits": groups, "commitments": total.commitments, "cells": total.cells,
                                      "keygen_seconds": total.keygen_seconds, "prove_seconds": total.prove_seconds },
                    "available_memory_bytes": available, "fits": fits })
        );
        return Ok(());
    }
    if !fits && !a.force {
        bail!(
            "aggregating needs ≈ {:.1} GB for its largest circuit and may use {:.1} GB; \
             refusing rather than being killed halfway (use a larger machine, or --force)",
            first.memory_bytes as f64 / 1e9,
            available.unwrap_or(0) as f64 / 1e9
        );
    }
    let srs = match file_srs {
        // Already checked and downsized to `a.k` when loaded.
        Some(srs) => srs,
        None => srs_cache.insecure(a.k)?,
    };
    let start = Instant::now();
    let (agg, _) = aggregate_bundle(&bundle, &keys, &AggregationParams { srs: &srs, arity: a.arity })?;
    let seconds = start.elapsed().as_secs_f64();
    std::fs::write(&a.output, agg.to_bytes())
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    if a.json {
        println!(
            "{}",
            json!({ "output": a.output, "model_id": agg.model_id.to_string(), "next_token": outcome.next_token,
                    "vk_hash": agg.vk_hash().to_string(), "proof_bytes": agg.proof.len(), "seconds": seconds,
                    "levels": agg.levels, "srs": agg.srs, "input_commitment": fr_hex(&agg.input_commitment()) })
        );
    } else {
        println!("aggregated {} chunk proofs in {seconds:.0} s into {}", snarks.len(), a.output.display());
        for level in &agg.levels {
            println!(
                "  level {}: {} proofs, k = {}, {} advice columns, keygen {:.0} s, prove {:.0} s",
                level.level, level.snarks, level.k, level.advice_columns, level.keygen_s, level.prove_s
            );
        }
        println!("model id {}, next token {}", agg.model_id, outcome.next_token);
        println!("aggregation key {} (pin it: `zkinfer verify AGG --expect-vk …`)", agg.vk_hash());
        println!(
            "export its Solidity verifier with: zkinfer export-verifier {} --solidity Verifier.sol",
            a.output.display()
        );
    }
    Ok(())
}
