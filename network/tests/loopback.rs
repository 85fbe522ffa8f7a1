//! Workers and a coordinator on 127.0.0.1, in-process.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{chain, jobs, Behaviour, ChainChecker, Counter, Gate, HeldChecker, Net, TestExecutor};
use tokio::sync::mpsc;
use zkinfer_network::{ContentHash, Coordinator, NetworkError, RejectReason, RunEvent};

const FAST: Duration = Duration::from_millis(100);

fn expected(jobs: &[zkinfer_network::Job]) -> Vec<Vec<u8>> {
    jobs.iter().map(chain).collect()
}

fn rejections(log: &[RunEvent]) -> Vec<(zkinfer_network::PeerId, RejectReason)> {
    log.iter()
        .filter_map(|e| match e {
            RunEvent::Rejected { worker, reason, .. } => Some((*worker, reason.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_found_through_kademlia_finish_a_job_set() {
    let net = Net::new(3);
    let counter = Counter::default();
    // Each worker's first job waits until all three have one: all must be found to finish.
    let rendezvous = common::Rendezvous::new(3);
    let executor = |i: usize| TestExecutor {
        rendezvous: Some((i, rendezvous.clone())),
        ..TestExecutor::new(Behaviour::Honest, FAST, &counter)
    };
    let first = net.worker(0, executor(0), &[]).await;
    let boot = first.listen_addrs().to_vec();
    let second = net.worker(1, executor(1), &boot).await;
    let third = net.worker(2, executor(2), &boot).await;
    let dir = tempfile::tempdir().unwrap();
    // The coordinator only knows the first worker; it finds the others through the DHT.
    let config = net.coordinator(dir.path(), &[&first]);
    let jobs = jobs(24);
    let outcome = Coordinator::run(jobs.clone(), config, ChainChecker).await.unwrap();
    assert_eq!(outcome.results, expected(&jobs));
    assert!(rejections(&outcome.log).is_empty(), "{:?}", outcome.log);
    assert_eq!(counter.total(), 24, "every job ran exactly once");
    let workers = &outcome.progress.workers;
    assert_eq!(workers.len(), 3, "{workers:?}");
    for handle in [&first, &second, &third] {
        let w = workers.iter().find(|w| w.peer == handle.peer_id()).unwrap();
        assert!(w.accepted > 0, "worker {} did no job: {workers:?}", w.peer);
        assert_eq!(w.capabilities.max_k, 18);
    }
    // Accepted results are on disk.
    for job in &jobs {
        let stored = std::fs::read(dir.path().join(format!("{}.result", job.id.to_hex()))).unwrap();
        assert_eq!(stored, chain(job));
    }
    for handle in [first, second, third] {
        handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_has_its_job_reassigned() {
    let net = Net::new(3);
    let counter = Counter::default();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let mut doomed_executor = TestExecutor::new(Behaviour::Honest, Duration::from_secs(3), &counter);
    doomed_executor.started = Some(started_tx);
    let doomed = net.worker(0, doomed_executor, &[]).await;
    let doomed_id = doomed.peer_id();
    let a = net.worker(1, TestExecutor::new(Behaviour::Honest, FAST, &counter), &[]).await;
    let b = net.worker(2, TestExecutor::new(Behaviour::Honest, FAST, &counter), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = net.coordinator(dir.path(), &[&doomed, &a, &b]);
    let jobs = jobs(8);
    let run = tokio::spawn(Coordinator::run(jobs.clone(), config, ChainChecker));
    let chunk = started.recv().await.unwrap();
    doomed.kill();
    let outcome = run.await.unwrap().unwrap();
    assert_eq!(outcome.results, expected(&jobs));
    let rejected = rejections(&outcome.log);
    assert!(
        rejected.contains(&(doomed_id, RejectReason::Disconnected)),
        "chunk {chunk} of the killed worker was not reassigned: {rejected:?}"
    );
    assert!(outcome.log.contains(&RunEvent::WorkerLeft { peer: doomed_id }));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_results_and_other_jobs_results_are_rejected_and_reassigned() {
    let net = Net::new(3);
    let counter = Counter::default();
    let jobs = jobs(9);
    let forger = net.worker(0, TestExecutor::new(Behaviour::Forge, FAST, &counter), &[]).await;
    let other = TestExecutor::new(Behaviour::OtherJob(Arc::new(jobs.clone())), FAST, &counter);
    let misdirector = net.worker(1, other, &[]).await;
    let honest =
        net.worker(2, TestExecutor::new(Behaviour::Honest, Duration::from_millis(300), &counter), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = net.coordinator(dir.path(), &[&forger, &misdirector, &honest]);
    let outcome = Coordinator::run(jobs.clone(), config, ChainChecker).await.unwrap();
    assert_eq!(outcome.results, expected(&jobs), "only valid results are accepted");
    let rejected = rejections(&outcome.log);
    for cheat in [forger.peer_id(), misdirector.peer_id()] {
        assert!(
            rejected.iter().any(|(w, r)| *w == cheat && matches!(r, RejectReason::CheckFailed(_))),
            "{cheat} not caught: {rejected:?}"
        );
        assert!(outcome.log.contains(&RunEvent::WorkerBanned { peer: cheat }), "{cheat} not banned");
        let progress = outcome.progress.workers.iter().find(|w| w.peer == cheat).unwrap();
        assert_eq!(progress.accepted, 0);
    }
    for handle in [forger, misdirector, honest] {
        handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_oversized_and_failing_workers_have_their_jobs_reassigned() {
    let net = Net::new(4);
    let counter = Counter::default();
    let slow =
        net.worker(0, TestExecutor::new(Behaviour::Honest, Duration::from_secs(4), &counter), &[]).await;
    let bloated = net.worker(1, TestExecutor::new(Behaviour::Huge(1 << 20), FAST, &counter), &[]).await;
    let honest = net.worker(2, TestExecutor::new(Behaviour::Honest, FAST, &counter), &[]).await;
    let failing = net.worker(3, TestExecutor::new(Behaviour::Fail, FAST, &counter), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = net.coordinator(dir.path(), &[&slow, &bloated, &honest, &failing]);
    config.job_timeout = Duration::from_secs(1);
    config.limits.max_job_response = 64 << 10;
    let jobs = jobs(6);
    let outcome = Coordinator::run(jobs.clone(), config, ChainChecker).await.unwrap();
    assert_eq!(outcome.results, expected(&jobs));
    let rejected = rejections(&outcome.log);
    assert!(rejected.contains(&(slow.peer_id(), RejectReason::Timeout)), "{rejected:?}");
    assert!(
        rejected.iter().any(|(w, r)| *w == bloated.peer_id() && matches!(r, RejectReason::Transport(_))),
        "{rejected:?}"
    );
    assert!(
        rejected.contains(&(failing.peer_id(), RejectReason::ExecFailed("out of memory".into()))),
        "{rejected:?}"
    );
    for handle in [slow, bloated, honest, failing] {
        handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_outside_the_allowlist_gets_nothing_done() {
    let net = Net::new(1);
    let counter = Counter::default();
    let worker = net.worker(0, TestExecutor::new(Behaviour::Honest, FAST, &counter), &[]).await;
    let intruder = zkinfer_network::Keypair::generate_ed25519();
    // The intruder allowlists the worker, but the worker does not allowlist the intruder.
    let allow = zkinfer_network::Allowlist::new([worker.peer_id(), intruder.public().to_peer_id()]);
    let dir = tempfile::tempdir().unwrap();
    let mut config = zkinfer_network::CoordinatorConfig::new(intruder, allow, dir.path().into());
    config.bootstrap = worker.listen_addrs().to_vec();
    config.run_timeout = Some(Duration::from_secs(3));
    let err = Coordinator::run(jobs(2), config, ChainChecker).await.unwrap_err();
    assert!(matches!(err, NetworkError::RunTimeout { remaining: 2, total: 2 }), "{err}");
    assert_eq!(counter.total(), 0, "the worker ran a job for a peer outside its allowlist");
    // The worker still serves its real coordinator.
    let config = net.coordinator(dir.path(), &[&worker]);
    let jobs = jobs(2);
    let outcome = Coordinator::run(jobs.clone(), config, ChainChecker).await.unwrap();
    assert_eq!(outcome.results, expected(&jobs));
    worker.shutdown().await;
}

/// A free port on 127.0.0.1 for a coordinator to listen on.
fn free_loopback_addr() -> zkinfer_network::Multiaddr {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_check_stalls_neither_other_workers_results_nor_new_workers() {
    let net = Net::new(3);
    let counter = Counter::default();
    let a = net.worker(0, TestExecutor::new(Behaviour::Honest, FAST, &counter), &[]).await;
    let b = net.worker(1, TestExecutor::new(Behaviour::Honest, FAST, &counter), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let listen = free_loopback_addr();
    let mut config = net.coordinator(dir.path(), &[&a, &b]);
    config.listen = Some(listen.clone());
    let jobs = jobs(6);
    let (held_tx, mut held) = mpsc::unbounded_channel();
    let gate = Arc::new(Gate::default());
    let checker = HeldChecker { chunk: 0, held: held_tx, gate: gate.clone() };
    let (progress_tx, mut progress) = mpsc::unbounded_channel();
    let run = tokio::spawn(Coordinator::run_with_progress(jobs.clone(), config, checker, Some(progress_tx)));
    // Bounds only a failure: a coordinator that checks on its event loop never gets further.
    let limit = Duration::from_secs(30);
    tokio::time::timeout(limit, held.recv()).await.unwrap().unwrap();

    // While chunk 0's check is held, a third worker dials in and the others' results arrive.
    let coordinator = net.coordinator.public().to_peer_id();
    let late = net
        .worker(
            2,
            TestExecutor::new(Behaviour::Honest, FAST, &counter),
            &[listen.with_p2p(coordinator).unwrap()],
        )
        .await;
    let mut waiting: HashSet<u32> = (1..jobs.len() as u32).collect();
    let (mut late_joined, mut chunk0_worker, mut accepted_from) = (false, None, HashSet::new());
    tokio::time::timeout(limit, async {
        while !waiting.is_empty() || !late_joined {
            match progress.recv().await.unwrap() {
                RunEvent::Assigned { chunk_index: 0, worker, .. } => chunk0_worker = Some(worker),
                RunEvent::Accepted { chunk_index, worker, .. } => {
                    assert_ne!(chunk_index, 0, "the held check passed before it was released");
                    waiting.remove(&chunk_index);
                    accepted_from.insert(worker);
                }
                RunEvent::WorkerJoined { peer, .. } => late_joined |= peer == late.peer_id(),
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!("stalled by the held check: chunks {waiting:?} pending, late worker joined: {late_joined}")
    });
    let chunk0_worker = chunk0_worker.unwrap();
    assert!(!accepted_from.contains(&chunk0_worker), "{chunk0_worker} proved chunk 0 and is still checked");
    gate.release();
    let outcome = run.await.unwrap().unwrap();
    assert_eq!(outcome.results, expected(&jobs));
    assert!(outcome.log.contains(&RunEvent::Accepted {
        job: jobs[0].id,
        chunk_index: 0,
        worker: chunk0_worker
    }));
    for handle in [a, b, late] {
        handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_coordinator_resumes_without_rerunning_accepted_jobs() {
    let net = Net::new(3);
    let counter = Counter::default();
    let delay = Duration::from_millis(300);
    let mut workers = Vec::new();
    for i in 0..3 {
        workers.push(net.worker(i, TestExecutor::new(Behaviour::Honest, delay, &counter), &[]).await);
    }
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs(12);
    let (progress_tx, mut progress) = mpsc::unbounded_channel();
    let config = net.coordinator(dir.path(), &workers.iter().collect::<Vec<_>>());
    let first_run =
        tokio::spawn(Coordinator::run_with_progress(jobs.clone(), config, ChainChecker, Some(progress_tx)));
    let mut accepted = 0;
    while accepted < 4 {
        if let Some(RunEvent::Accepted { .. }) = progress.recv().await {
            accepted += 1;
        }
    }
    first_run.abort();
    assert!(first_run.await.unwrap_err().is_cancelled());
    let persisted: Vec<ContentHash> = jobs
        .iter()
        .filter(|j| dir.path().join(format!("{}.result", j.id.to_hex())).exists())
        .map(|j| j.id)
        .collect();
    assert!(persisted.len() >= 4 && persisted.len() < jobs.len(), "{} persisted", persisted.len());

    let config = net.coordinator(dir.path(), &workers.iter().collect::<Vec<_>>());
    let outcome = Coordinator::run(jobs.clone(), config, ChainChecker).await.unwrap();
    assert_eq!(outcome.results, expected(&jobs));
    let resumed = outcome.log.iter().filter(|e| matches!(e, RunEvent::Resumed { .. })).count();
    assert_eq!(resumed, persisted.len());
    for job in &persisted {
        assert_eq!(counter.get(job), 1, "accepted job {job:?} ran again after the restart");
        assert!(
            !outcome.log.iter().any(|e| matches!(e, RunEvent::Assigned { job: j, .. } if j == job)),
            "accepted job {job:?} was offered again"
        );
    }
    for handle in workers {
        handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_fetches_a_blob_from_a_peer_by_hash() {
    let net = Net::new(2);
    let counter = Counter::default();
    let model = b"quantized chunk 7".repeat(1000);
    let capabilities = zkinfer_network::protocol::Capabilities { max_k: 18, ..Default::default() };
    let mut config = zkinfer_network::WorkerConfig::new(
        net.workers[0].clone(),
        common::loopback(),
        net.allowlist.clone(),
        capabilities,
    );
    config.preload_blobs = vec![model.clone()];
    let holder =
        zkinfer_network::WorkerHandle::spawn(config, TestExecutor::new(Behaviour::Honest, FAST, &counter))
            .await
            .unwrap();
    let fetcher =
        net.worker(1, TestExecutor::new(Behaviour::Honest, FAST, &counter), holder.listen_addrs()).await;
    let hash = ContentHash::of(&model);
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            // The first query may run before the DHT connection is up.
            match fetcher.fetch_blob(hash).await {
                Ok(bytes) => return bytes,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got.as_slice(), model.as_slice());
    let missing = fetcher.fetch_blob(ContentHash::of(b"nobody has this")).await.unwrap_err();
    assert!(missing.to_string().contains("no peer served blob"), "{missing}");
    holder.shutdown().await;
    fetcher.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_started_before_the_coordinator_keep_dialing_it() {
    let net = Net::new(2);
    let counter = Counter::default();
    let coordinator_id = net.coordinator.public().to_peer_id();
    let listen = free_loopback_addr();
    let boot = [listen.clone().with_p2p(coordinator_id).unwrap()];
    // Nobody listens there yet: the first dials fail and the workers retry.
    let a = net.worker(0, TestExecutor::new(Behaviour::Honest, FAST, &counter), &boot).await;
    let b = net.worker(1, TestExecutor::new(Behaviour::Honest, FAST, &counter), &boot).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = net.coordinator(dir.path(), &[]);
    config.listen = Some(listen);
    let jobs = jobs(6);
    let outcome = Coordinator::run(jobs.clone(), config, ChainChecker).await.unwrap();
    assert_eq!(outcome.results, expected(&jobs));
    let joined: Vec<_> = outcome
        .log
        .iter()
        .filter_map(|e| match e {
            RunEvent::WorkerJoined { peer, .. } => Some(*peer),
            _ => None,
        })
        .collect();
    assert!(joined.contains(&a.peer_id()) && joined.contains(&b.peer_id()), "{joined:?}");
    a.shutdown().await;
    b.shutdown().await;
}
