//! `zkinfer worker`: join a proving network and prove the chunks a coordinator offers.

use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use zkinfer_jobs::{ChunkExecutor, ChunkJob, ModelStore};
use zkinfer_network::protocol::Capabilities;
use zkinfer_network::{ExecError, Executor, Job, WorkerConfig, WorkerHandle};
use zkinfer_prover::KeyCache;

use crate::net_setup::{allowlist, cache_folder, identity, runtime};
use crate::proving::Env;
use crate::WorkerArgs;

/// Prints each job as it starts and ends: a line of text, or with `json` a JSON object.
struct Logged<E> {
    inner: E,
    json: bool,
}

impl<E: Executor> Executor for Logged<E> {
    fn execute(&self, job: &Job) -> Result<Vec<u8>, ExecError> {
        let what = ChunkJob::from_bytes(&job.payload)
            .map(|c| format!("chunk {} ({})", c.index, c.kind))
            .unwrap_or_else(|_| format!("chunk {}", job.chunk_index));
        let job_id = format!("{:?}", job.id);
        let base = json!({ "chunk": job.chunk_index, "what": what, "job": job_id });
        match self.json {
            true => println!("{}", with(&base, json!({ "event": "proving" }))),
            false => println!("{what}: proving (job {job_id})"),
        }
        let start = Instant::now();
        let outcome = self.inner.execute(job);
        let seconds = start.elapsed().as_secs_f64();
        match (&outcome, self.json) {
            (Ok(result), true) => println!(
                "{}",
                with(&base, json!({ "event": "proved", "seconds": seconds, "result_bytes": result.len() }))
            ),
            (Ok(result), false) => {
                println!("{what}: proved in {seconds:.1} s, {} result bytes", result.len())
            }
            (Err(e), true) => {
                println!(
                    "{}",
                    with(&base, json!({ "event": "failed", "seconds": seconds, "error": e.to_string() }))
                )
            }
            (Err(e), false) => println!("{what}: failed after {seconds:.1} s: {e}"),
        }
        outcome
    }
}

/// `base`'s fields and `more`'s in one object.
fn with(base: &Value, more: Value) -> Value {
    let mut out = base.clone();
    if let (Some(o), Value::Object(m)) = (out.as_object_mut(), more) {
        o.extend(m);
    }
    out
}

pub fn run(a: WorkerArgs) -> Result<()> {
    let keypair = identity(a.key.as_deref(), "worker")?;
    let allow = allowlist(a.allow.as_deref(), &a.bootstrap)?;
    let env = Env::new(a.srs.as_deref(), a.max_k, None, a.json)?;
    let models = ModelStore::new(match a.models {
        Some(dir) => dir,
        None => cache_folder("models")?.join("by-hash"),
    });
    let key_cache = a.key_cache.as_deref().map(KeyCache::new);
    let mut config =
        WorkerConfig::new(keypair, a.listen, allow, Capabilities::of_this_machine(a.max_k, None, vec![]));
    config.bootstrap = a.bootstrap;
    config.max_parallel_jobs = a.jobs.max(1);
    runtime()?.block_on(async move {
        let worker = WorkerHandle::spawn_with(config, |fetcher| {
            let inner = ChunkExecutor::new(fetcher, models, env.srs, env.srs_cache, key_cache);
            Logged { inner, json: a.json }
        })
        .await
        .context("cannot start the worker")?;
        let (jobs, addrs) = (a.jobs.max(1), worker.listen_addrs());
        if a.json {
            let listen: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            println!(
                "{}",
                json!({ "event": "listening", "peer_id": worker.peer_id().to_string(), "listen": listen,
                        "max_k": a.max_k, "jobs": jobs })
            );
        } else {
            println!("worker {} (max k {}, {jobs} job(s) at a time)", worker.peer_id(), a.max_k);
            for addr in addrs {
                println!("listening on {addr}");
            }
        }
        worker.wait().await.context("the worker stopped")
    })
}
