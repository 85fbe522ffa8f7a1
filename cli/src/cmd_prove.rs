//! `zkinfer prove`: prove every block of the model on a prompt, write the bundle.

use anyhow::Result;
use serde_json::json;
use zkinfer_prover::chain::{prove_chain, prove_chain_fresh, setup, ChainEvent};
use zkinfer_prover::halo2_proofs::halo2curves::ff::PrimeField;
use zkinfer_prover::Fr;

use crate::cmd_coordinate;
use crate::cmd_verify::read_keys;
use crate::progress::{ChainProgress, Progress};
use crate::proving::{keys_beside, open_quantized, tokens, Env};
use crate::ProveArgs;

/// A field element as `0x` + 64 hex digits, big-endian.
pub fn fr_hex(f: &Fr) -> String {
    let mut bytes = f.to_repr();
    bytes.reverse();
    format!("0x{}", hex_string(&bytes))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn run(a: ProveArgs) -> Result<()> {
    let q = open_quantized(a.model.as_deref(), a.json)?;
    let toks = tokens(&q, a.prompt.as_deref(), a.tokens.as_deref())?;
    let network = if a.distributed { Some(cmd_coordinate::config(&a)?) } else { None };
    let env = Env::new(a.srs.as_deref(), a.max_k, a.key_cache.as_deref(), a.json)?;
    let keys_path = a.keys.clone().unwrap_or_else(|| keys_beside(&a.output));
    let start = std::time::Instant::now();
    let (bundle, best, setup_s, prove_s) = match (&a.keys, network) {
        // A fresh local run: each chunk's verifying key comes with its proving key, and the
        // keys file is written once every chunk is proved.
        (None, None) => {
            let mut p = ChainProgress::new(a.json);
            let mut keygen_s = 0.0;
            let (bundle, best, keys) = prove_chain_fresh(
                &q,
                &toks,
                a.max_k,
                &env.srs,
                &env.srs_cache,
                env.key_cache.as_ref(),
                &mut |e| {
                    if let ChainEvent::Proved(r) = &e {
                        keygen_s += r.keygen_seconds;
                    }
                    p.event(&e)
                },
            )?;
            keys.write(&keys_path)?;
            let total = start.elapsed().as_secs_f64();
            (bundle, best, keygen_s, total - keygen_s)
        }
        (listed, network) => {
            let keys = match listed {
                Some(p) => read_keys(p, a.max_k)?,
                None => {
                    let mut p = Progress::new("keygen", q.config().num_hidden_layers, a.json);
                    let keys =
                        setup(&q, toks.len(), a.max_k, &env.srs, &env.srs_cache, &mut |d, n| p.set(d, n))?;
                    keys.write(&keys_path)?;
                    keys
                }
            };
            let setup_s = start.elapsed().as_secs_f64();
            let start = std::time::Instant::now();
            let (bundle, best) = if let Some(config) = network {
                cmd_coordinate::prove(&q, &toks, keys, &env, config)?
            } else {
                let mut p = ChainProgress::new(a.json);
                prove_chain(&q, &toks, &keys, &env.srs, &env.srs_cache, env.key_cache.as_ref(), &mut |e| {
                    p.event(&e)
                })?
            };
            (bundle, best, setup_s, start.elapsed().as_secs_f64())
        }
    };
    bundle.write(&a.output)?;
    let first = bundle.chunks.first().and_then(|c| c.instances.first()?.first().copied());
    let last = bundle
        .chunks
        .iter()
        .rev()
        .find(|c| c.instances.first().is_some_and(|i| i.len() == 2))
        .and_then(|c| c.instances.first()?.get(1).copied());
    let (first, last) = (first.map(|f| fr_hex(&f)), last.map(|f| fr_hex(&f)));
    if a.json {
        println!(
            "{}",
            json!({
                "model_id": q.model_id(), "tokens": toks, "bundle": a.output, "keys": keys_path,
                "chunks": bundle.chunks.len(), "srs": env.srs.kind(), "setup_seconds": setup_s,
                "prove_seconds": prove_s, "input_commitment": first, "output_commitment": last,
                "next_token": best.index, "next_logit": best.logit.to_string(),
            })
        );
    } else {
        println!("model id {}", q.model_id());
        println!("tokens {toks:?}");
        let text = q.tokenizer().ok().flatten().and_then(|t| t.decode(&[best.index as u32]).ok());
        println!("next token {}{}", best.index, text.map(|s| format!(" {s:?}")).unwrap_or_default());
        println!("proved {} chunks in {prove_s:.1} s (keys: {setup_s:.1} s)", bundle.chunks.len());
        println!("bundle {}  keys {}", a.output.display(), keys_path.display());
        if env.srs.kind().is_insecure() {
            println!("SRS: INSECURE dev SRS — for testing only");
        }
        println!("verify with: zkinfer verify {} --keys {}", a.output.display(), keys_path.display());
    }
    Ok(())
}
