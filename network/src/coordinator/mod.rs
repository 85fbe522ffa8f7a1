//! The coordinator: hands jobs to workers, checks every result before accepting it (on tokio's
//! blocking threads, so a slow check stalls no peer), reassigns on timeout, disconnect, refusal
//! or a failed check, and persists accepted results.

mod events;
mod network;
mod scheduler;
mod store;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use libp2p::PeerId;
use tokio::sync::mpsc;

use crate::blob::BlobStore;
use crate::config::CoordinatorConfig;
use crate::error::NetworkError;
use crate::job::{CheckError, Checker, Job};
use crate::protocol::{JobOffer, ProveRequest, ProveResponse};
pub use events::{JobProgress, JobStatus, Progress, RejectReason, RunEvent, WorkerProgress};
use network::{Client, NetEvent};
use scheduler::{Policy, Scheduler};
pub use store::ResultStore;

/// What a finished run returns.
#[derive(Debug)]
pub struct RunOutcome {
    /// One accepted, checked result per job, in job order.
    pub results: Vec<Vec<u8>>,
    /// Everything that happened, in order.
    pub log: Vec<RunEvent>,
    /// Final per-job and per-worker figures.
    pub progress: Progress,
}

type Answer = (usize, PeerId, Result<ProveResponse, RejectReason>);
/// A checked result: its bytes and the checker's verdict.
type Checked = (Vec<u8>, Result<(), CheckError>);
/// A finished check of a worker's answer: the job's index, the worker, the checked result.
type Verdict = (usize, PeerId, Checked);
type Pending<T> = FuturesUnordered<Pin<Box<dyn Future<Output = T> + Send>>>;

/// Distributes a job set over the workers it finds.
pub struct Coordinator;

impl Coordinator {
    /// Runs every job to an accepted result, resuming from results already in `results_dir`.
    pub async fn run(
        jobs: Vec<Job>,
        config: CoordinatorConfig,
        checker: impl Checker,
    ) -> Result<RunOutcome, NetworkError> {
        Self::run_with_progress(jobs, config, checker, None).await
    }

    /// [`Coordinator::run`], also sending each [`RunEvent`] to `progress` as it happens.
    pub async fn run_with_progress(
        jobs: Vec<Job>,
        config: CoordinatorConfig,
        checker: impl Checker,
        progress: Option<mpsc::UnboundedSender<RunEvent>>,
    ) -> Result<RunOutcome, NetworkError> {
        let mut seen = HashSet::new();
        for job in &jobs {
            if !seen.insert(job.id) {
                return Err(NetworkError::DuplicateJob(job.id));
            }
            if job.id != Job::derive_id(job.chunk_index, job.k, &job.payload_hash()) {
                return Err(NetworkError::InvalidJob(job.id));
            }
        }
        let policy = Policy {
            max_attempts: config.max_attempts,
            max_worker_failures: config.max_worker_failures,
            busy_backoff: config.busy_backoff,
        };
        let mut run = Run {
            scheduler: Scheduler::new(jobs.iter().map(|j| (j.chunk_index, j.k)), policy),
            store: ResultStore::open(&config.results_dir)?,
            results: vec![None; jobs.len()],
            log: Vec::new(),
            progress,
            jobs: jobs.into_iter().map(Arc::new).collect(),
            checker: Arc::new(checker),
        };
        run.resume().await?;
        if run.scheduler.remaining() > 0 {
            run.distribute(&config).await?;
        }
        run.finish()
    }
}

struct Run<C> {
    jobs: Vec<Arc<Job>>,
    /// Runs on tokio's blocking threads, never on the event loop: a check may take seconds.
    checker: Arc<C>,
    scheduler: Scheduler,
    store: ResultStore,
    results: Vec<Option<Vec<u8>>>,
    log: Vec<RunEvent>,
    progress: Option<mpsc::UnboundedSender<RunEvent>>,
}

impl<C: Checker> Run<C> {
    fn record(&mut self, event: RunEvent) {
        if let Some(progress) = &self.progress {
            // A dropped receiver only means nobody watches the progress.
            let _ = progress.send(event.clone());
        }
        self.log.push(event);
    }

    /// Runs the checker on job `index`'s `result` on a blocking thread, off the event loop.
    fn check(&self, index: usize, result: Vec<u8>) -> impl Future<Output = Checked> + Send {
        let (checker, job) = (Arc::clone(&self.checker), Arc::clone(&self.jobs[index]));
        async move {
            tokio::task::spawn_blocking(move || {
                let verdict = checker.check(&job, &result);
                (result, verdict)
            })
            .await
            .unwrap_or_else(|e| (Vec::new(), Err(CheckError::new(format!("the check crashed: {e}")))))
        }
    }

    /// Re-checks results persisted by an earlier run and keeps the valid ones.
    async fn resume(&mut self) -> Result<(), NetworkError> {
        for index in 0..self.jobs.len() {
            let job = &self.jobs[index];
            let Some(bytes) = self.store.load(&job.id)? else { continue };
            let (id, chunk_index) = (job.id, job.chunk_index);
            let (bytes, verdict) = self.check(index, bytes).await;
            match verdict {
                Ok(()) => {
                    tracing::info!("resumed chunk {chunk_index} from its stored result");
                    self.results[index] = Some(bytes);
                    self.scheduler.mark_accepted(index);
                    self.record(RunEvent::Resumed { job: id, chunk_index });
                }
                Err(e) => {
                    tracing::warn!(
                        "stored result of chunk {chunk_index} fails its check ({e}); running it again"
                    );
                    self.store.remove(&id)?;
                    self.record(RunEvent::DiscardedStored { job: id, reason: e.message });
                }
            }
        }
        Ok(())
    }

    async fn distribute(&mut self, config: &CoordinatorConfig) -> Result<(), NetworkError> {
        let blobs = BlobStore::new();
        for blob in &config.serve_blobs {
            blobs.insert(blob.clone());
        }
        for (job, result) in self.jobs.iter().zip(&self.results) {
            if result.is_none() {
                blobs.insert(job.payload.clone());
            }
        }
        let (client, mut net_events, _guard) = network::start(config, blobs).await?;
        let deadline = config.run_timeout.map(|t| tokio::time::Instant::now() + t);
        let mut hellos: Pending<(PeerId, Result<ProveResponse, RejectReason>)> = FuturesUnordered::new();
        let mut answers: Pending<Answer> = FuturesUnordered::new();
        let mut checks: Pending<Verdict> = FuturesUnordered::new();
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        while self.scheduler.remaining() > 0 {
            for (index, peer) in self.scheduler.assign(Instant::now()) {
                answers.push(Box::pin(self.offer(&client, index, peer)));
            }
            tokio::select! {
                event = net_events.recv() => match event {
                    Some(NetEvent::ProverFound(peer)) => {
                        let client = client.clone();
                        hellos.push(Box::pin(async move { (peer, client.request(peer, ProveRequest::Hello).await) }));
                    }
                    Some(NetEvent::Disconnected(peer)) => {
                        if self.scheduler.remove_worker(&peer) {
                            tracing::info!("worker {peer} left");
                            self.record(RunEvent::WorkerLeft { peer });
                        }
                    }
                    None => return Err(NetworkError::Stopped),
                },
                Some((peer, answer)) = hellos.next() => self.on_hello(peer, answer),
                Some((index, peer, answer)) = answers.next() => match self.triage(index, answer) {
                    Ok(result) => {
                        let check = self.check(index, result);
                        checks.push(Box::pin(async move { (index, peer, check.await) }));
                    }
                    Err(reason) => self.reject(index, peer, reason)?,
                },
                Some((index, peer, checked)) = checks.next() => self.settle(index, peer, checked)?,
                _ = tick.tick() => {}
                _ = sleep_until(deadline) => {
                    return Err(NetworkError::RunTimeout {
                        remaining: self.scheduler.remaining(),
                        total: self.jobs.len(),
                    });
                }
            }
        }
        Ok(())
    }

    fn offer(&mut self, client: &Client, index: usize, peer: PeerId) -> impl Future<Output = Answer> + Send {
        let job = &self.jobs[index];
        let offer = JobOffer {
            job_id: job.id,
            chunk_index: job.chunk_index,
            k: job.k,
            payload_hash: job.payload_hash(),
            payload_len: job.payload.len() as u64,
        };
        let (id, chunk_index) = (job.id, job.chunk_index);
        tracing::info!("chunk {chunk_index} -> {peer}");
        self.record(RunEvent::Assigned { job: id, chunk_index, worker: peer });
        let client = client.clone();
        async move { (index, peer, client.request(peer, ProveRequest::Prove(offer)).await) }
    }

    fn on_hello(&mut self, peer: PeerId, answer: Result<ProveResponse, RejectReason>) {
        match answer {
            Ok(ProveResponse::Hello(capabilities)) => {
                tracing::info!("worker {peer} joined: {capabilities:?}");
                self.scheduler.add_worker(peer, capabilities.clone(), Instant::now());
                self.record(RunEvent::WorkerJoined { peer, capabilities });
            }
            Ok(other) => tracing::warn!("worker {peer} answered the handshake with {other:?}"),
            Err(reason) => tracing::info!("handshake with {peer} failed: {reason}"),
        }
    }

    /// The result bytes of an answer that claims to finish job `index`, or why it does not.
    fn triage(
        &self,
        index: usize,
        answer: Result<ProveResponse, RejectReason>,
    ) -> Result<Vec<u8>, RejectReason> {
        let id = self.jobs[index].id;
        match answer? {
            ProveResponse::Done { job_id, .. } if job_id != id => {
                Err(RejectReason::WrongJob { answered: job_id })
            }
            ProveResponse::Done { result, .. } => Ok(result),
            ProveResponse::Refused { reason, .. } => Err(RejectReason::Refused(reason)),
            ProveResponse::Failed { reason, .. } => Err(RejectReason::ExecFailed(reason)),
            ProveResponse::Hello(_) => Err(RejectReason::UnexpectedResponse),
        }
    }

    /// Accepts and persists a checked result, or rejects it and requeues the job.
    fn settle(&mut self, index: usize, peer: PeerId, (result, verdict): Checked) -> Result<(), NetworkError> {
        if let Err(e) = verdict {
            return self.reject(index, peer, RejectReason::CheckFailed(e.message));
        }
        if self.results[index].is_some() {
            return Ok(());
        }
        let (id, chunk_index) = (self.jobs[index].id, self.jobs[index].chunk_index);
        self.store.save(&id, &result)?;
        self.results[index] = Some(result);
        self.scheduler.accept(index, &peer);
        tracing::info!("chunk {chunk_index} accepted from {peer}");
        self.record(RunEvent::Accepted { job: id, chunk_index, worker: peer });
        Ok(())
    }

    /// Takes job `index` back from `peer` and requeues it; fails once it has no attempts left.
    fn reject(&mut self, index: usize, peer: PeerId, reason: RejectReason) -> Result<(), NetworkError> {
        let (id, chunk_index) = (self.jobs[index].id, self.jobs[index].chunk_index);
        tracing::warn!("chunk {chunk_index} from {peer} rejected: {reason}; reassigning");
        let outcome = self.scheduler.reject(index, &peer, reason.clone(), Instant::now());
        self.record(RunEvent::Rejected { job: id, chunk_index, worker: peer, reason });
        if outcome.newly_banned {
            tracing::warn!("worker {peer} returned too many false results; it gets no more jobs");
            self.record(RunEvent::WorkerBanned { peer });
        }
        if let Some((attempts, last)) = outcome.exhausted {
            return Err(NetworkError::JobFailed {
                job: id,
                chunk_index,
                attempts,
                last_reason: last.to_string(),
            });
        }
        Ok(())
    }

    fn finish(self) -> Result<RunOutcome, NetworkError> {
        let progress = self.scheduler.progress();
        let results = self.results.into_iter().collect::<Option<Vec<_>>>().ok_or(NetworkError::Stopped)?;
        Ok(RunOutcome { results, log: self.log, progress })
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::job::CheckError;
    use crate::security::Allowlist;
    use libp2p::identity::Keypair;

    struct Never;

    impl Checker for Never {
        fn check(&self, _: &Job, _: &[u8]) -> Result<(), CheckError> {
            Err(CheckError::new("never"))
        }
    }

    fn config(dir: &std::path::Path) -> CoordinatorConfig {
        CoordinatorConfig::new(Keypair::generate_ed25519(), Allowlist::default(), dir.into())
    }

    #[tokio::test]
    async fn refuses_duplicate_and_mislabelled_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let job = Job::new(0, 14, vec![1, 2, 3]);
        let err =
            Coordinator::run(vec![job.clone(), job.clone()], config(dir.path()), Never).await.unwrap_err();
        assert!(matches!(err, NetworkError::DuplicateJob(id) if id == job.id), "{err}");
        let mislabelled = Job { chunk_index: 1, ..job };
        let err = Coordinator::run(vec![mislabelled], config(dir.path()), Never).await.unwrap_err();
        assert!(matches!(err, NetworkError::InvalidJob(_)), "{err}");
    }

    #[tokio::test]
    async fn a_stored_result_that_fails_its_check_is_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let job = Job::new(0, 14, vec![1, 2, 3]);
        ResultStore::open(dir.path()).unwrap().save(&job.id, b"stale").unwrap();
        let mut config = config(dir.path());
        config.run_timeout = Some(std::time::Duration::from_millis(200));
        let err = Coordinator::run(vec![job.clone()], config, Never).await.unwrap_err();
        assert!(matches!(err, NetworkError::RunTimeout { remaining: 1, total: 1 }), "{err}");
        assert_eq!(ResultStore::open(dir.path()).unwrap().load(&job.id).unwrap(), None);
    }

    /// Accepts exactly `b"ok"`.
    struct OnlyOk;

    impl Checker for OnlyOk {
        fn check(&self, _: &Job, result: &[u8]) -> Result<(), CheckError> {
            (result == b"ok").then_some(()).ok_or_else(|| CheckError::new("not ok"))
        }
    }

    #[test]
    fn settles_answers_for_the_wrong_job_bad_results_and_good_ones() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = [Job::new(0, 14, vec![0]), Job::new(1, 14, vec![1])];
        let policy =
            Policy { max_attempts: 8, max_worker_failures: 5, busy_backoff: std::time::Duration::ZERO };
        let mut run = Run {
            scheduler: Scheduler::new(jobs.iter().map(|j| (j.chunk_index, j.k)), policy),
            store: ResultStore::open(dir.path()).unwrap(),
            results: vec![None, None],
            log: Vec::new(),
            progress: None,
            jobs: jobs.iter().cloned().map(Arc::new).collect(),
            checker: Arc::new(OnlyOk),
        };
        let worker = Keypair::generate_ed25519().public().to_peer_id();
        run.scheduler.add_worker(
            worker,
            crate::protocol::Capabilities { max_k: 18, ..Default::default() },
            Instant::now(),
        );
        // What the run loop does with an answer, with the check inline.
        let answer = |run: &mut Run<OnlyOk>, answer| match run.triage(0, answer) {
            Ok(result) => {
                let verdict = run.checker.check(&run.jobs[0], &result);
                run.settle(0, worker, (result, verdict))
            }
            Err(reason) => run.reject(0, worker, reason),
        };
        let answers: [Result<ProveResponse, RejectReason>; 3] = [
            Ok(ProveResponse::Done { job_id: jobs[1].id, result: b"ok".to_vec() }),
            Ok(ProveResponse::Done { job_id: jobs[0].id, result: b"forged".to_vec() }),
            Ok(ProveResponse::Hello(Default::default())),
        ];
        for a in answers {
            let assigned = run.scheduler.assign(Instant::now());
            assert_eq!(assigned[0], (0, worker));
            answer(&mut run, a).unwrap();
            for (index, _) in &assigned[1..] {
                run.scheduler.reject(*index, &worker, RejectReason::Timeout, Instant::now());
            }
        }
        let reasons: Vec<RejectReason> = run
            .log
            .iter()
            .filter_map(|e| match e {
                RunEvent::Rejected { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            reasons,
            [
                RejectReason::WrongJob { answered: jobs[1].id },
                RejectReason::CheckFailed("not ok".into()),
                RejectReason::UnexpectedResponse
            ]
        );
        assert_eq!(run.store.load(&jobs[0].id).unwrap(), None, "nothing rejected is stored");
        let assigned = run.scheduler.assign(Instant::now());
        assert_eq!(assigned[0], (0, worker));
        answer(&mut run, Ok(ProveResponse::Done { job_id: jobs[0].id, result: b"ok".to_vec() })).unwrap();
        assert_eq!(run.store.load(&jobs[0].id).unwrap().as_deref(), Some(&b"ok"[..]));
        assert_eq!(run.results[0].as_deref(), Some(&b"ok"[..]));
        assert!(run.log.contains(&RunEvent::Accepted { job: jobs[0].id, chunk_index: 0, worker }));
    }
}
