//! Worker and coordinator settings.

use std::path::PathBuf;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::Multiaddr;

use crate::protocol::Capabilities;
use crate::security::Allowlist;

/// Size and time limits on messages; anything larger is refused before it is buffered.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A job offer (no payload: payloads travel as blobs).
    pub max_job_request: usize,
    /// A job response (result bytes: a proof with its instances).
    pub max_job_response: usize,
    /// A blob request.
    pub max_blob_request: usize,
    /// A blob (payload, model chunk, proving key).
    pub max_blob: usize,
    /// A Kademlia message.
    pub max_kad_message: usize,
    /// How long one blob transfer may take.
    pub blob_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_job_request: 64 << 10,
            max_job_response: 64 << 20,
            max_blob_request: 4 << 10,
            max_blob: 1 << 30,
            max_kad_message: 64 << 10,
            blob_timeout: Duration::from_secs(300),
        }
    }
}

/// Everything [`crate::run_worker`] needs.
pub struct WorkerConfig {
    /// The worker's noise identity.
    pub keypair: Keypair,
    /// Where it listens, e.g. `/ip4/0.0.0.0/tcp/4100`.
    pub listen: Multiaddr,
    /// Peers it dials on start (coordinators or other workers).
    pub bootstrap: Vec<Multiaddr>,
    /// The only peers it talks to.
    pub allowlist: Allowlist,
    /// What it announces.
    pub capabilities: Capabilities,
    /// Jobs it runs at once; more are refused as busy.
    pub max_parallel_jobs: usize,
    /// The longest a job may run before the coordinator's request expires on this side.
    pub max_job_time: Duration,
    /// Blobs it holds from the start (e.g. models already on disk), served to peers.
    pub preload_blobs: Vec<Vec<u8>>,
    /// Message limits.
    pub limits: Limits,
}

impl WorkerConfig {
    /// A worker with default limits, one job at a time, no preloaded blobs.
    pub fn new(
        keypair: Keypair,
        listen: Multiaddr,
        allowlist: Allowlist,
        capabilities: Capabilities,
    ) -> Self {
        Self {
            keypair,
            listen,
            bootstrap: Vec::new(),
            allowlist,
            capabilities,
            max_parallel_jobs: 1,
            max_job_time: Duration::from_secs(3600),
            preload_blobs: Vec::new(),
            limits: Limits::default(),
        }
    }
}

/// Everything [`crate::Coordinator::run`] needs.
pub struct CoordinatorConfig {
    /// The coordinator's noise identity (keep it across restarts: workers allowlist it).
    pub keypair: Keypair,
    /// Where it listens for workers that dial it; `None` to only dial out.
    pub listen: Option<Multiaddr>,
    /// Workers (or other peers) it dials to join the network.
    pub bootstrap: Vec<Multiaddr>,
    /// The only peers it talks to.
    pub allowlist: Allowlist,
    /// Where accepted results are written as they arrive, and read back on a restart.
    pub results_dir: PathBuf,
    /// How long a worker has for one job before it is reassigned.
    pub job_timeout: Duration,
    /// Attempts per job before the run fails.
    pub max_attempts: u32,
    /// Invalid or mismatched results a worker may return before it gets no more jobs.
    pub max_worker_failures: u32,
    /// How long a busy worker is left alone before it is offered a job again.
    pub busy_backoff: Duration,
    /// The whole run's time limit; `None` waits for workers indefinitely.
    pub run_timeout: Option<Duration>,
    /// Blobs served to workers besides the job payloads (e.g. the model every job names).
    pub serve_blobs: Vec<Vec<u8>>,
    /// Message limits.
    pub limits: Limits,
}

impl CoordinatorConfig {
    /// A coordinator with default limits: 10-minute job timeout, 8 attempts per job, 2 strikes,
    /// no blobs served besides the payloads.
    pub fn new(keypair: Keypair, allowlist: Allowlist, results_dir: PathBuf) -> Self {
        Self {
            keypair,
            listen: None,
            bootstrap: Vec::new(),
            allowlist,
            results_dir,
            job_timeout: Duration::from_secs(600),
            max_attempts: 8,
            max_worker_failures: 2,
            busy_backoff: Duration::from_millis(500),
            run_timeout: None,
            serve_blobs: Vec::new(),
            limits: Limits::default(),
        }
    }
}
