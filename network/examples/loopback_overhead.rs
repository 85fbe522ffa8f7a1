//! Measures what distribution costs on one machine: N synthetic jobs on 1, 2 and 4 in-process
//! workers over loopback TCP, against running the same jobs back to back without a network.
//!
//! The executor burns CPU with a SHA-256 chain (no real proof: the chunk circuits are not merged
//! yet), so on a 2-core box the numbers show overhead and core contention, not speed-up.
//!
//! ```sh
//! cargo run --release -p zkinfer-network --example loopback_overhead -- [JOBS] [ROUNDS] [PAYLOAD_KB] [RESULT_KB]
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use zkinfer_network::protocol::Capabilities;
use zkinfer_network::{
    Allowlist, CheckError, Checker, Coordinator, CoordinatorConfig, ExecError, Executor, Job, JobId, Keypair,
    WorkerConfig, WorkerHandle,
};

struct Burn {
    rounds: u32,
    result_len: usize,
}

fn burn(job: &Job, rounds: u32, result_len: usize) -> Vec<u8> {
    let mut digest: [u8; 32] = Sha256::digest(&job.payload).into();
    for _ in 0..rounds {
        digest = Sha256::digest(digest).into();
    }
    digest.iter().copied().cycle().take(result_len).collect()
}

impl Executor for Burn {
    fn execute(&self, job: &Job) -> Result<Vec<u8>, ExecError> {
        Ok(burn(job, self.rounds, self.result_len))
    }
}

/// Compares with the local run's results: about as cheap as a proof check (milliseconds).
struct Expected(HashMap<JobId, Vec<u8>>);

impl Checker for Expected {
    fn check(&self, job: &Job, result: &[u8]) -> Result<(), CheckError> {
        (self.0.get(&job.id).map(Vec::as_slice) == Some(result))
            .then_some(())
            .ok_or_else(|| CheckError::new("result differs from the local run"))
    }
}

/// Times fetching a blob by hash from a peer (Kademlia provider lookup + `/zkinfer/blob/1`).
async fn transfer_rate() -> Result<(), Box<dyn std::error::Error>> {
    for mib in [4usize, 64] {
        let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let allowlist = Allowlist::new([a.public().to_peer_id(), b.public().to_peer_id()]);
        let caps = Capabilities { max_k: 18, ..Default::default() };
        let blob: Vec<u8> = (0..mib << 20).map(|i| (i * 7 + i / 4096) as u8).collect();
        let hash = zkinfer_network::ContentHash::of(&blob);
        let mut config =
            WorkerConfig::new(a, "/ip4/127.0.0.1/tcp/0".parse()?, allowlist.clone(), caps.clone());
        config.preload_blobs = vec![blob];
        let holder = WorkerHandle::spawn(config, Burn { rounds: 0, result_len: 0 }).await?;
        let mut config = WorkerConfig::new(b, "/ip4/127.0.0.1/tcp/0".parse()?, allowlist, caps);
        config.bootstrap = holder.listen_addrs().to_vec();
        let fetcher = WorkerHandle::spawn(config, Burn { rounds: 0, result_len: 0 }).await?;
        // Let the connection, identify and the DHT settle before timing.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let start = Instant::now();
        let got = fetcher.fetch_blob(hash).await?;
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(got.len(), mib << 20);
        println!("blob fetch from a peer: {mib} MiB in {secs:.3} s = {:.0} MiB/s", mib as f64 / secs);
        holder.shutdown().await;
        fetcher.shutdown().await;
    }
    Ok(())
}

fn arg(n: usize, default: u64) -> Result<u64, String> {
    std::env::args().nth(n).map_or(Ok(default), |a| a.parse().map_err(|e| format!("argument {n} `{a}`: {e}")))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jobs_n = arg(1, 16)? as u32;
    let rounds = arg(2, 2_000_000)? as u32;
    let payload_kb = arg(3, 4096)? as usize;
    let result_kb = arg(4, 16)? as usize;
    let jobs: Vec<Job> = (0..jobs_n)
        .map(|i| {
            let payload: Vec<u8> = (0..payload_kb * 1024).map(|b| (b as u32 ^ i) as u8).collect();
            Job::new(i, 14, payload)
        })
        .collect();

    let start = Instant::now();
    let local: Vec<Vec<u8>> = jobs.iter().map(|j| burn(j, rounds, result_kb * 1024)).collect();
    let local_s = start.elapsed().as_secs_f64();
    println!(
        "{jobs_n} jobs, {payload_kb} KiB payload, {result_kb} KiB result, {:.3} s/job: local sequential {local_s:.2} s",
        local_s / jobs_n as f64
    );

    transfer_rate().await?;

    for workers in [1usize, 2, 4] {
        let coordinator = Keypair::generate_ed25519();
        let keys: Vec<Keypair> = (0..workers).map(|_| Keypair::generate_ed25519()).collect();
        let allowlist =
            Allowlist::new(std::iter::once(&coordinator).chain(&keys).map(|k| k.public().to_peer_id()));
        let mut handles = Vec::new();
        for key in &keys {
            let caps = Capabilities { cores: 1, max_k: 18, ..Default::default() };
            let config =
                WorkerConfig::new(key.clone(), "/ip4/127.0.0.1/tcp/0".parse()?, allowlist.clone(), caps);
            handles.push(WorkerHandle::spawn(config, Burn { rounds, result_len: result_kb * 1024 }).await?);
        }
        let dir = tempfile::tempdir()?;
        let mut config = CoordinatorConfig::new(coordinator, allowlist, dir.path().into());
        config.bootstrap = handles.iter().map(|h| h.listen_addrs()[0].clone()).collect();
        config.run_timeout = Some(Duration::from_secs(600));
        config.limits.max_job_response = (result_kb + 64) * 1024;
        let expected = Expected(jobs.iter().map(|j| j.id).zip(local.iter().cloned()).collect());
        let start = Instant::now();
        let outcome = Coordinator::run(jobs.clone(), config, expected).await?;
        let wall = start.elapsed().as_secs_f64();
        assert_eq!(outcome.results, local, "distributed results differ from the local run");
        let ideal = local_s / workers.min(2) as f64;
        println!(
            "{workers} worker(s): {wall:.2} s wall, {:.3} s/job; ideal on 2 cores {ideal:.2} s",
            wall / jobs_n as f64
        );
        for handle in handles {
            handle.shutdown().await;
        }
    }
    Ok(())
}
