//! `zkinfer verify`: check a bundle against the model's keys.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use zkinfer_circuits::poseidon::commit_activations;
use zkinfer_prover::chain::{check_keys, verify_chain, ChainError, ModelKeys};
use zkinfer_prover::{AggregatedProof, Bundle, Srs, SrsCache, VerifierParams};
use zkinfer_quantize::int::ops;

use crate::cmd_prove::fr_hex;
use crate::proving::{keys_beside, open_quantized, tokens};
use crate::VerifyArgs;

/// The keys file at `path`, of chunk circuits of at most `2^max_k` rows.
pub fn read_keys(path: &Path, max_k: u32) -> Result<ModelKeys> {
    ModelKeys::read_bounded(path, max_k)
        .map_err(|e| match e {
            ChainError::KeyTooLarge { k, .. } => anyhow!("{e}; pass --max-k {k} to accept it"),
            e => e.into(),
        })
        .with_context(|| format!("keys {}", path.display()))
}

pub fn run(a: VerifyArgs) -> Result<()> {
    let bytes = std::fs::read(&a.bundle).with_context(|| format!("cannot read {}", a.bundle.display()))?;
    if AggregatedProof::looks_aggregated(&bytes) {
        let agg = AggregatedProof::from_bytes(&bytes)
            .with_context(|| format!("{} is not a valid aggregated proof", a.bundle.display()))?;
        return crate::cmd_verify_agg::run(&a, agg);
    }
    if a.expect_vk.is_some() {
        bail!(
            "--expect-vk pins an aggregated proof's key; {} is a bundle (pin its keys with --keys)",
            a.bundle.display()
        );
    }
    let bundle = Bundle::from_bytes(&bytes)?;
    let keys_path = a.keys.clone().unwrap_or_else(|| keys_beside(&a.bundle));
    let keys = read_keys(&keys_path, a.max_k)?;
    let k = keys.chunks.iter().map(|c| c.kind.k()).max().context("the keys list no chunks")?;
    let srs = match &a.srs {
        Some(p) => Srs::load(p).with_context(|| format!("SRS {}", p.display()))?,
        None => SrsCache::from_env()?.insecure(k)?,
    };
    let params = VerifierParams::from_srs(&srs);
    if a.rebuild_keys {
        let q = open_quantized(a.model.as_deref(), true)?;
        let start = std::time::Instant::now();
        check_keys(&q, &keys, &srs, &SrsCache::from_env()?, &mut |d, n| {
            tracing::info!("rebuilt key {d}/{n} ({:.0} s)", start.elapsed().as_secs_f64())
        })
        .context("the keys file is not the model's")?;
    }
    let start = std::time::Instant::now();
    let outcome = verify_chain(&bundle, &keys, &params)?;
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    // With the model and the prompt, the first commitment must be the prompt's embeddings.
    let tokens_checked = match (&a.model, a.prompt.is_some() || a.tokens.is_some()) {
        (_, false) => None,
        (model, true) => {
            let q = open_quantized(model.as_deref(), true)?;
            if q.model_id() != outcome.model_id {
                bail!("the bundle is for model {}, not {}", outcome.model_id, q.model_id());
            }
            let toks = tokens(&q, a.prompt.as_deref(), a.tokens.as_deref())?;
            let x = ops::embed(&q.embedding()?, &toks);
            if commit_activations(&x) != outcome.input_commitment {
                bail!("the proof does not start from the embeddings of tokens {toks:?}");
            }
            Some(toks)
        }
    };
    let insecure = srs.kind().is_insecure();
    if a.json {
        println!(
            "{}",
            json!({
                "valid": true, "model_id": outcome.model_id, "chunks": outcome.chunks, "srs": srs.kind(),
                "insecure": insecure, "input_commitment": fr_hex(&outcome.input_commitment),
                "output_commitment": fr_hex(&outcome.output_commitment), "tokens": tokens_checked,
                "next_token": outcome.next_token, "next_logit": outcome.next_logit.to_string(),
                "verify_ms": verify_ms, "keys": keys_path, "keys_beside_bundle": a.keys.is_none(),
                "keys_rebuilt": a.rebuild_keys,
            })
        );
    } else {
        println!(
            "VALID: {} chunk proofs, commitment chain unbroken, every key is the one the keys file lists",
            outcome.chunks
        );
        println!("model id {}", outcome.model_id);
        if a.rebuild_keys {
            println!("keys: {} (every verifying key rebuilt from the model: identical)", keys_path.display());
        } else if a.keys.is_none() {
            println!(
                "keys: {} (beside the bundle, so from the prover: trust it only if it matches the keys file of your own `zkinfer setup`)",
                keys_path.display()
            );
        }
        match &tokens_checked {
            Some(t) => println!("tokens {t:?} (checked against the model's embeddings)"),
            None => println!("tokens: not checked (pass --tokens or --prompt, and the model)"),
        }
        println!("next token {} (logit {})", outcome.next_token, outcome.next_logit);
        println!("input commitment  {}", fr_hex(&outcome.input_commitment));
        println!("output commitment {}", fr_hex(&outcome.output_commitment));
        println!("SRS: {}{}", srs.kind(), if insecure { " — INSECURE, for testing only" } else { "" });
        println!("verified in {verify_ms:.1} ms");
    }
    Ok(())
}
