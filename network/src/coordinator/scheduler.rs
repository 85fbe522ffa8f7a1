//! The coordinator's bookkeeping: which job runs where, who may get what, when a job gives up.
//! Pure state, no I/O: the run loop feeds it outcomes and performs the assignments it returns.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::PeerId;

use crate::coordinator::events::{JobProgress, JobStatus, Progress, RejectReason, WorkerProgress};
use crate::protocol::{Capabilities, Refusal};

/// Scheduling limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    pub max_attempts: u32,
    pub max_worker_failures: u32,
    pub busy_backoff: Duration,
}

struct JobSlot {
    chunk_index: u32,
    k: u32,
    status: JobStatus,
    attempts: u32,
    excluded: HashSet<PeerId>,
    last_reason: Option<RejectReason>,
}

struct WorkerSlot {
    capabilities: Capabilities,
    connected: bool,
    busy: bool,
    failures: u32,
    accepted: u32,
    rejected: u32,
    available_at: Instant,
}

impl WorkerSlot {
    fn banned(&self, policy: &Policy) -> bool {
        self.failures >= policy.max_worker_failures
    }
}

/// What [`Scheduler::reject`] concluded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RejectOutcome {
    /// The worker crossed the misbehaviour limit with this rejection.
    pub newly_banned: bool,
    /// The job used up its attempts: `(attempts, last reason)`.
    pub exhausted: Option<(u32, RejectReason)>,
}

pub(crate) struct Scheduler {
    jobs: Vec<JobSlot>,
    workers: BTreeMap<PeerId, WorkerSlot>,
    policy: Policy,
}

impl Scheduler {
    /// One slot per `(chunk_index, k)`, in job order.
    pub fn new(jobs: impl IntoIterator<Item = (u32, u32)>, policy: Policy) -> Self {
        let jobs = jobs
            .into_iter()
            .map(|(chunk_index, k)| JobSlot {
                chunk_index,
                k,
                status: JobStatus::Pending,
                attempts: 0,
                excluded: HashSet::new(),
                last_reason: None,
            })
            .collect();
        Self { jobs, workers: BTreeMap::new(), policy }
    }

    /// Marks a job accepted without running it (a result persisted by an earlier run).
    pub fn mark_accepted(&mut self, job: usize) {
        if let Some(slot) = self.jobs.get_mut(job) {
            slot.status = JobStatus::Accepted;
        }
    }

    /// A worker answered the handshake (again, after a reconnect).
    pub fn add_worker(&mut self, peer: PeerId, capabilities: Capabilities, now: Instant) {
        let slot = self.workers.entry(peer).or_insert_with(|| WorkerSlot {
            capabilities: capabilities.clone(),
            connected: true,
            busy: false,
            failures: 0,
            accepted: 0,
            rejected: 0,
            available_at: now,
        });
        slot.capabilities = capabilities;
        slot.connected = true;
    }

    /// A worker's last connection closed; its running job comes back through its failed request.
    pub fn remove_worker(&mut self, peer: &PeerId) -> bool {
        match self.workers.get_mut(peer) {
            Some(slot) if slot.connected => {
                slot.connected = false;
                true
            }
            _ => false,
        }
    }

    /// Jobs without an accepted result.
    pub fn remaining(&self) -> usize {
        self.jobs.iter().filter(|j| j.status != JobStatus::Accepted).count()
    }

    /// Pairs pending jobs with idle, eligible workers and marks them running.
    pub fn assign(&mut self, now: Instant) -> Vec<(usize, PeerId)> {
        let mut assignments = Vec::new();
        for index in 0..self.jobs.len() {
            if self.jobs[index].status != JobStatus::Pending {
                continue;
            }
            self.forgive_if_stuck(index);
            let job = &self.jobs[index];
            let policy = &self.policy;
            let chosen = self
                .workers
                .iter()
                .filter(|(peer, w)| {
                    w.connected
                        && !w.busy
                        && !w.banned(policy)
                        && w.available_at <= now
                        && w.capabilities.max_k >= job.k
                        && !job.excluded.contains(peer)
                })
                .min_by_key(|(peer, w)| (w.failures, w.rejected, **peer))
                .map(|(peer, _)| *peer);
            let Some(peer) = chosen else { continue };
            if let Some(worker) = self.workers.get_mut(&peer) {
                worker.busy = true;
            }
            let job = &mut self.jobs[index];
            job.status = JobStatus::Running(peer);
            job.attempts += 1;
            assignments.push((index, peer));
        }
        assignments
    }

    /// Every usable worker is excluded from this job: let them try again rather than stall.
    fn forgive_if_stuck(&mut self, index: usize) {
        let job = &self.jobs[index];
        let usable: Vec<&PeerId> = self
            .workers
            .iter()
            .filter(|(_, w)| w.connected && !w.banned(&self.policy) && w.capabilities.max_k >= job.k)
            .map(|(peer, _)| peer)
            .collect();
        if !usable.is_empty() && usable.iter().all(|peer| job.excluded.contains(*peer)) {
            self.jobs[index].excluded.clear();
        }
    }

    /// The worker's result for `job` was accepted.
    pub fn accept(&mut self, job: usize, peer: &PeerId) {
        if let Some(worker) = self.workers.get_mut(peer) {
            worker.busy = false;
            worker.accepted += 1;
        }
        if let Some(slot) = self.jobs.get_mut(job) {
            slot.status = JobStatus::Accepted;
        }
    }

    /// The worker's attempt at `job` failed; the job goes back to the queue.
    pub fn reject(&mut self, job: usize, peer: &PeerId, reason: RejectReason, now: Instant) -> RejectOutcome {
        let mut newly_banned = false;
        if let Some(worker) = self.workers.get_mut(peer) {
            let was_banned = worker.banned(&self.policy);
            worker.busy = false;
            worker.rejected += 1;
            if reason.is_misbehaviour() {
                worker.failures += 1;
            }
            if reason == RejectReason::Refused(Refusal::Busy) {
                worker.available_at = now + self.policy.busy_backoff;
            }
            newly_banned = !was_banned && worker.banned(&self.policy);
        }
        let Some(slot) = self.jobs.get_mut(job) else {
            return RejectOutcome { newly_banned, exhausted: None };
        };
        if slot.status != JobStatus::Running(*peer) {
            return RejectOutcome { newly_banned, exhausted: None };
        }
        slot.status = JobStatus::Pending;
        if reason == RejectReason::Refused(Refusal::Busy) {
            // Busy is not an attempt at the job: the worker never started it.
            slot.attempts = slot.attempts.saturating_sub(1);
        } else {
            slot.excluded.insert(*peer);
        }
        slot.last_reason = Some(reason);
        let exhausted = (slot.attempts >= self.policy.max_attempts)
            .then(|| (slot.attempts, slot.last_reason.clone().unwrap_or(RejectReason::Timeout)));
        RejectOutcome { newly_banned, exhausted }
    }

    /// A snapshot for progress reports.
    pub fn progress(&self) -> Progress {
        Progress {
            jobs: self
                .jobs
                .iter()
                .map(|j| JobProgress {
                    chunk_index: j.chunk_index,
                    status: j.status.clone(),
                    attempts: j.attempts,
                })
                .collect(),
            workers: self
                .workers
                .iter()
                .map(|(peer, w)| WorkerProgress {
                    peer: *peer,
                    capabilities: w.capabilities.clone(),
                    accepted: w.accepted,
                    rejected: w.rejected,
                    banned: w.banned(&self.policy),
                    connected: w.connected,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use libp2p::identity::Keypair;

    fn peer() -> PeerId {
        Keypair::generate_ed25519().public().to_peer_id()
    }

    fn caps(max_k: u32) -> Capabilities {
        Capabilities { cores: 2, max_k, ..Default::default() }
    }

    fn policy() -> Policy {
        Policy { max_attempts: 3, max_worker_failures: 2, busy_backoff: Duration::from_secs(1) }
    }

    #[test]
    fn assigns_each_idle_worker_one_fitting_job() {
        let now = Instant::now();
        let mut s = Scheduler::new([(0, 14), (1, 18), (2, 14)], policy());
        let (small, big) = (peer(), peer());
        s.add_worker(small, caps(16), now);
        s.add_worker(big, caps(20), now);
        let got = s.assign(now);
        assert_eq!(got.len(), 2);
        assert_ne!(got[0].1, got[1].1, "one job per worker");
        for (job, worker) in &got {
            assert!(s.jobs[*job].k <= s.workers[worker].capabilities.max_k);
        }
        assert!(s.assign(now).is_empty(), "both workers are busy");
    }

    #[test]
    fn a_rejected_job_goes_to_another_worker_and_cheaters_are_banned() {
        let now = Instant::now();
        let mut s = Scheduler::new([(0, 14), (1, 14)], policy());
        let (cheat, honest) = (peer(), peer());
        s.add_worker(cheat, caps(18), now);
        let [(job, w)] = s.assign(now)[..] else { panic!("one assignment expected") };
        assert_eq!(w, cheat);
        let out = s.reject(job, &cheat, RejectReason::CheckFailed("bad proof".into()), now);
        assert_eq!(out, RejectOutcome { newly_banned: false, exhausted: None });
        s.add_worker(honest, caps(18), now);
        let got = s.assign(now);
        assert!(got.contains(&(job, honest)), "the rejected job avoids the cheater: {got:?}");
        let other = got.iter().find(|(_, w)| *w == cheat).map(|(j, _)| *j).unwrap();
        let out = s.reject(
            other,
            &cheat,
            RejectReason::WrongJob { answered: crate::job::ContentHash([0; 32]) },
            now,
        );
        assert!(out.newly_banned);
        s.accept(job, &honest);
        assert_eq!(s.assign(now), vec![(other, honest)]);
        s.accept(other, &honest);
        assert_eq!(s.remaining(), 0);
        let progress = s.progress();
        assert!(progress.workers.iter().any(|w| w.peer == cheat && w.banned && w.rejected == 2));
    }

    #[test]
    fn busy_workers_back_off_without_using_attempts() {
        let now = Instant::now();
        let mut s = Scheduler::new([(0, 14)], policy());
        let w = peer();
        s.add_worker(w, caps(18), now);
        let mut t = now;
        for _ in 0..5 {
            t += Duration::from_secs(2);
            assert_eq!(s.assign(t), vec![(0, w)]);
            let out = s.reject(0, &w, RejectReason::Refused(Refusal::Busy), t);
            assert_eq!(out.exhausted, None);
            assert!(s.assign(t).is_empty(), "backing off");
        }
        assert_eq!(s.progress().jobs[0].attempts, 0);
    }

    #[test]
    fn a_job_gives_up_after_its_attempts_and_stuck_exclusions_are_forgiven() {
        let now = Instant::now();
        let mut s = Scheduler::new([(0, 14)], policy());
        let w = peer();
        s.add_worker(w, caps(18), now);
        for attempt in 1..=3 {
            assert_eq!(s.assign(now), vec![(0, w)], "attempt {attempt}");
            let out = s.reject(0, &w, RejectReason::Timeout, now);
            if attempt < 3 {
                assert_eq!(out.exhausted, None);
            } else {
                assert_eq!(out.exhausted, Some((3, RejectReason::Timeout)));
            }
        }
    }

    #[test]
    fn disconnected_workers_get_nothing_until_they_return() {
        let now = Instant::now();
        let mut s = Scheduler::new([(0, 14)], policy());
        let w = peer();
        s.add_worker(w, caps(18), now);
        assert!(s.remove_worker(&w));
        assert!(!s.remove_worker(&w));
        assert!(s.assign(now).is_empty());
        s.add_worker(w, caps(18), now);
        assert_eq!(s.assign(now), vec![(0, w)]);
    }
}
