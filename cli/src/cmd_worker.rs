//! `zkinfer worker`: join a proving network and prove the chunks a coordinator offers.

use std::time::Instant;

use anyhow::{Context, Result};
use zkinfer_jobs::{ChunkExecutor, ChunkJob, ModelStore};
use zkinfer_network::protocol::Capabilities;
use zkinfer_network::{ExecError, Executor, Job, WorkerConfig, WorkerHandle};
use zkinfer_prover::KeyCache;

use crate::net_setup::{allowlist, cache_folder, identity, runtime};
use crate::proving::Env;
use crate::WorkerArgs;

/// Prints each job as it starts and ends.
struct Logged<E>(E);

impl<E: Executor> Executor for Logged<E> {
    fn execute(&self, job: &Job) -> Result<Vec<u8>, ExecError> {
        let what = ChunkJob::from_bytes(&job.payload)
            .map(|c| format!("chunk {} ({})", c.index, c.kind))
            .unwrap_or_else(|_| format!("chunk {}", job.chunk_index));
        println!("{what}: proving (job {:?})", job.id);
        let start = Instant::now();
        let outcome = self.0.execute(job);
        let seconds = start.elapsed().as_secs_f64();
        match &outcome {
            Ok(result) => println!("{what}: proved in {seconds:.1} s, {} result bytes", result.len()),
            Err(e) => println!("{what}: failed after {seconds:.1} s: {e}"),
        }
        outcome
    }
}

pub fn run(a: WorkerArgs) -> Result<()> {
    let keypair = identity(a.key.as_deref(), "worker")?;
    let allow = allowlist(a.allow.as_deref(), &a.bootstrap)?;
    let env = Env::new(a.srs.as_deref(), a.max_k, None, false)?;
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
            Logged(ChunkExecutor::new(fetcher, models, env.srs, env.srs_cache, key_cache))
        })
        .await
        .context("cannot start the worker")?;
        println!("worker {} (max k {}, {} job(s) at a time)", worker.peer_id(), a.max_k, a.jobs.max(1));
        for addr in worker.listen_addrs() {
            println!("listening on {addr}");
        }
        worker.wait().await.context("the worker stopped")
    })
}
