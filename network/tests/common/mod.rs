//! Test doubles and helpers for the loopback tests: an executor computing a SHA-256 chain of the
//! job (with a configurable delay), a checker recomputing it, and dishonest executors.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use zkinfer_network::protocol::Capabilities;
use zkinfer_network::{
    Allowlist, CheckError, Checker, CoordinatorConfig, ExecError, Executor, Job, JobId, Keypair, Multiaddr,
    PeerId, WorkerConfig, WorkerHandle,
};

/// The honest result of a job: 64 rounds of SHA-256 over its id and payload.
pub fn chain(job: &Job) -> Vec<u8> {
    let mut digest: [u8; 32] =
        Sha256::new().chain_update(job.id.0).chain_update(&job.payload).finalize().into();
    for _ in 0..64 {
        digest = Sha256::digest(digest).into();
    }
    digest.to_vec()
}

/// Counts executions per job across every worker of a test.
#[derive(Clone, Default)]
pub struct Counter(Arc<Mutex<HashMap<JobId, u32>>>);

impl Counter {
    pub fn bump(&self, job: &JobId) {
        *self.0.lock().unwrap().entry(*job).or_default() += 1;
    }
    pub fn get(&self, job: &JobId) -> u32 {
        self.0.lock().unwrap().get(job).copied().unwrap_or(0)
    }
    pub fn total(&self) -> u32 {
        self.0.lock().unwrap().values().sum()
    }
}

/// What a test executor returns.
#[derive(Clone)]
pub enum Behaviour {
    /// The honest chain.
    Honest,
    /// Random-looking bytes of the right length.
    Forge,
    /// The honest result of another job (the next one in `jobs`, by chunk index).
    OtherJob(Arc<Vec<Job>>),
    /// `n` bytes of zeros.
    Huge(usize),
    /// An executor error.
    Fail,
}

/// Holds every worker's jobs until `needed` distinct workers have started one, so a test can
/// require that all of them took part without depending on timing.
pub struct Rendezvous {
    seen: Mutex<std::collections::HashSet<usize>>,
    all_here: std::sync::Condvar,
    needed: usize,
}

impl Rendezvous {
    pub fn new(needed: usize) -> Arc<Self> {
        Arc::new(Self { seen: Mutex::new(Default::default()), all_here: Default::default(), needed })
    }

    fn arrive(&self, worker: usize) -> Result<(), ExecError> {
        let mut seen = self.seen.lock().unwrap();
        seen.insert(worker);
        self.all_here.notify_all();
        let (seen, timeout) = self
            .all_here
            .wait_timeout_while(seen, Duration::from_secs(30), |seen| seen.len() < self.needed)
            .unwrap();
        if timeout.timed_out() {
            return Err(ExecError::new(format!(
                "only {} of {} workers ever got a job",
                seen.len(),
                self.needed
            )));
        }
        Ok(())
    }
}

pub struct TestExecutor {
    pub behaviour: Behaviour,
    pub delay: Duration,
    pub counter: Counter,
    /// Told the chunk index whenever a job starts.
    pub started: Option<mpsc::UnboundedSender<u32>>,
    /// `(this worker's index, the meeting point)`.
    pub rendezvous: Option<(usize, Arc<Rendezvous>)>,
}

impl TestExecutor {
    pub fn new(behaviour: Behaviour, delay: Duration, counter: &Counter) -> Self {
        Self { behaviour, delay, counter: counter.clone(), started: None, rendezvous: None }
    }
}

impl Executor for TestExecutor {
    fn execute(&self, job: &Job) -> Result<Vec<u8>, ExecError> {
        if let Some((worker, rendezvous)) = &self.rendezvous {
            rendezvous.arrive(*worker)?;
        }
        self.counter.bump(&job.id);
        if let Some(started) = &self.started {
            let _ = started.send(job.chunk_index);
        }
        std::thread::sleep(self.delay);
        Ok(match &self.behaviour {
            Behaviour::Honest => chain(job),
            Behaviour::Forge => Sha256::digest(&job.payload).to_vec(),
            Behaviour::OtherJob(jobs) => {
                let other = jobs
                    .iter()
                    .find(|j| j.chunk_index == (job.chunk_index + 1) % jobs.len() as u32)
                    .ok_or_else(|| ExecError::new("no other job"))?;
                chain(other)
            }
            Behaviour::Huge(n) => vec![0; *n],
            Behaviour::Fail => return Err(ExecError::new("out of memory")),
        })
    }
}

/// Accepts exactly the honest chain of the job.
pub struct ChainChecker;

impl Checker for ChainChecker {
    fn check(&self, job: &Job, result: &[u8]) -> Result<(), CheckError> {
        if result == chain(job) {
            Ok(())
        } else {
            Err(CheckError::new(format!("chunk {}: result is not the job's chain", job.chunk_index)))
        }
    }
}

/// A gate that checks wait on until the test opens it.
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Gate {
    /// Lets every waiting and later check through.
    pub fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    /// Waits until released; gives up after `limit` so a failing test ends instead of hanging.
    fn wait(&self, limit: Duration) -> Result<(), CheckError> {
        let open = self.open.lock().unwrap();
        let (_open, timeout) = self.opened.wait_timeout_while(open, limit, |open| !*open).unwrap();
        if timeout.timed_out() {
            return Err(CheckError::new("the test never released the held check"));
        }
        Ok(())
    }
}

/// Checks like [`ChainChecker`], but holds the check of one chunk at a [`Gate`] until the test
/// releases it, telling `held` when that check starts: a slow verifier the test controls.
pub struct HeldChecker {
    pub chunk: u32,
    pub held: mpsc::UnboundedSender<u32>,
    pub gate: Arc<Gate>,
}

impl Checker for HeldChecker {
    fn check(&self, job: &Job, result: &[u8]) -> Result<(), CheckError> {
        if job.chunk_index == self.chunk {
            let _ = self.held.send(job.chunk_index);
            self.gate.wait(Duration::from_secs(90))?;
        }
        ChainChecker.check(job, result)
    }
}

pub fn jobs(n: u32) -> Vec<Job> {
    (0..n)
        .map(|i| Job::new(i, 14, format!("chunk {i} weights and activations").repeat(50).into_bytes()))
        .collect()
}

pub fn loopback() -> Multiaddr {
    "/ip4/127.0.0.1/tcp/0".parse().unwrap()
}

/// Identities of one coordinator and some workers, all allowlisting each other.
pub struct Net {
    pub coordinator: Keypair,
    pub workers: Vec<Keypair>,
    pub allowlist: Allowlist,
}

impl Net {
    pub fn new(workers: usize) -> Self {
        let coordinator = Keypair::generate_ed25519();
        let workers: Vec<Keypair> = (0..workers).map(|_| Keypair::generate_ed25519()).collect();
        let allowlist = Allowlist::new(
            std::iter::once(&coordinator)
                .chain(&workers)
                .map(|k| k.public().to_peer_id())
                .collect::<Vec<PeerId>>(),
        );
        Self { coordinator, workers, allowlist }
    }

    pub async fn worker(&self, i: usize, executor: TestExecutor, bootstrap: &[Multiaddr]) -> WorkerHandle {
        let capabilities =
            Capabilities { cores: 1, memory_bytes: 1 << 30, gpu: None, max_k: 18, held: vec![] };
        let mut config =
            WorkerConfig::new(self.workers[i].clone(), loopback(), self.allowlist.clone(), capabilities);
        config.bootstrap = bootstrap.to_vec();
        WorkerHandle::spawn(config, executor).await.unwrap()
    }

    pub fn coordinator(&self, results: &Path, bootstrap: &[&WorkerHandle]) -> CoordinatorConfig {
        let mut config =
            CoordinatorConfig::new(self.coordinator.clone(), self.allowlist.clone(), results.into());
        config.bootstrap = bootstrap.iter().map(|w| w.listen_addrs()[0].clone()).collect();
        config.job_timeout = Duration::from_secs(10);
        config.run_timeout = Some(Duration::from_secs(40));
        config.busy_backoff = Duration::from_millis(100);
        config
    }
}
