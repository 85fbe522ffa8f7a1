//! `zkinfer verify AGG`: an aggregated proof, checked with the verifier's three SRS points.

use std::time::Instant;

use anyhow::{bail, Result};
use serde_json::json;
use zkinfer_circuits::field::fr_to_i128;
use zkinfer_circuits::poseidon::commit_activations;
use zkinfer_prover::halo2_proofs::halo2curves::bn256::Fr;
use zkinfer_prover::AggregatedProof;
use zkinfer_quantize::int::ops;

use crate::aggregated::verifier_params;
use crate::cmd_prove::fr_hex;
use crate::proving::{open_quantized, tokens};
use crate::VerifyArgs;

/// The next token a chain's output index stands for.
fn token(index: Fr) -> Result<u64> {
    match fr_to_i128(index).and_then(|i| u64::try_from(i).ok()) {
        Some(t) => Ok(t),
        None => bail!("the proof's output index {} is not a token id", fr_hex(&index)),
    }
}

pub fn run(a: &VerifyArgs, agg: AggregatedProof) -> Result<()> {
    if a.keys.is_some() || a.rebuild_keys {
        bail!(
            "--keys and --rebuild-keys are for bundles: an aggregated proof's key fixes every chunk key \
             (pin it with --expect-vk)"
        );
    }
    let params = verifier_params(&agg, a.srs.as_deref())?;
    let start = Instant::now();
    let outputs = agg.verify(&params)?;
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    if outputs.model_id != agg.model_id {
        bail!("the proof's public model id {} is not the file's {}", outputs.model_id, agg.model_id);
    }
    let vk_hash = agg.vk_hash().to_string();
    if let Some(expected) = &a.expect_vk {
        if !expected.eq_ignore_ascii_case(&vk_hash) {
            bail!("the proof's aggregation key is {vk_hash}, not the pinned {expected}");
        }
    }
    let next_token = token(outputs.output[1])?;
    let next_logit = fr_to_i128(outputs.output[2]);
    let tokens_checked = match a.prompt.is_some() || a.tokens.is_some() {
        false => None,
        true => {
            let q = open_quantized(a.model.as_deref(), true)?;
            if q.model_id() != outputs.model_id.to_string() {
                bail!("the proof is for model {}, not {}", outputs.model_id, q.model_id());
            }
            let toks = tokens(&q, a.prompt.as_deref(), a.tokens.as_deref())?;
            if commit_activations(&ops::embed(&q.embedding()?, &toks)) != outputs.input_commitment() {
                bail!("the proof does not start from the embeddings of tokens {toks:?}");
            }
            Some(toks)
        }
    };
    let insecure = agg.srs.is_insecure();
    if a.json {
        println!(
            "{}",
            json!({
                "valid": true, "aggregated": true, "model_id": outputs.model_id.to_string(),
                "next_token": next_token, "next_logit": next_logit.map(|l| l.to_string()),
                "input_commitment": fr_hex(&outputs.input_commitment()),
                "output_commitment": fr_hex(&outputs.output_commitment()), "tokens": tokens_checked,
                "vk_hash": vk_hash, "vk_pinned": a.expect_vk.is_some(), "srs": agg.srs, "insecure": insecure,
                "verify_ms": verify_ms, "levels": agg.levels,
            })
        );
        return Ok(());
    }
    println!("VALID: aggregated proof (halo2 proof and KZG accumulator checked)");
    println!("model id {}", outputs.model_id);
    match &a.expect_vk {
        Some(_) => println!("aggregation key {vk_hash} (the pinned one)"),
        None => println!(
            "aggregation key {vk_hash} (NOT pinned: it fixes every chunk circuit; pass --expect-vk with the hash you trust)"
        ),
    }
    match &tokens_checked {
        Some(t) => println!("tokens {t:?} (checked against the model's embeddings)"),
        None => println!("tokens: not checked (pass --tokens or --prompt, and the model)"),
    }
    match next_logit {
        Some(l) => println!("next token {next_token} (logit {l})"),
        None => println!("next token {next_token}"),
    }
    println!("input commitment  {}", fr_hex(&outputs.input_commitment()));
    println!("output commitment {}", fr_hex(&outputs.output_commitment()));
    println!("SRS: {}{}", agg.srs, if insecure { " — INSECURE, for testing only" } else { "" });
    println!("verified in {verify_ms:.1} ms");
    Ok(())
}
