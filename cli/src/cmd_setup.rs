//! `zkinfer setup`: every chunk's keys, and the keys file a verifier trusts.

use anyhow::Result;
use serde_json::json;
use zkinfer_prover::chain::setup;

use crate::progress::Progress;
use crate::proving::{open_quantized, tokens, Env};
use crate::SetupArgs;

pub fn run(a: SetupArgs) -> Result<()> {
    let q = open_quantized(a.model.as_deref(), a.json)?;
    let t = match a.tokens_count {
        Some(n) => n,
        None => tokens(&q, a.prompt.as_deref(), None)?.len(),
    };
    let env = Env::new(a.srs.as_deref(), a.max_k, None, a.json)?;
    let start = std::time::Instant::now();
    let keys = {
        let mut p = Progress::new("keygen", q.config().num_hidden_layers, a.json);
        setup(&q, t, a.max_k, &env.srs, &env.srs_cache, &mut |d, n| p.set(d, n))?
    };
    let out = a.output.clone().unwrap_or_else(|| format!("{}-t{t}.keys.json", &q.model_id()[..16]).into());
    keys.write(&out)?;
    if a.json {
        let chunks: Vec<_> = keys
            .chunks
            .iter()
            .map(|c| json!({"chunk": c.kind.to_string(), "k": c.kind.k(), "vk_hash": c.vk_hash.to_string()}))
            .collect();
        println!(
            "{}",
            json!({"model_id": keys.model_id, "tokens": t, "keys": out, "srs": env.srs.kind(), "seconds": start.elapsed().as_secs_f64(), "chunks": chunks})
        );
    } else {
        println!("model id {}", keys.model_id);
        println!("{} chunks for {t} tokens, keys in {}", keys.chunks.len(), out.display());
        println!("setup took {:.1} s", start.elapsed().as_secs_f64());
    }
    Ok(())
}
