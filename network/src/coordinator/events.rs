//! What a coordinator run reports: the reasons results are rejected, the event log, progress.

use std::fmt;

use libp2p::PeerId;

use crate::job::JobId;
use crate::protocol::{Capabilities, Refusal};

/// Why a job was taken back from a worker and reassigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The worker did not answer within the job timeout.
    Timeout,
    /// The connection to the worker closed (crash, kill, network loss).
    Disconnected,
    /// Any other transport failure (dial failure, malformed or oversized answer).
    Transport(String),
    /// The worker declined the job.
    Refused(Refusal),
    /// The worker tried and reported a failure.
    ExecFailed(String),
    /// The result failed the checker.
    CheckFailed(String),
    /// The worker answered with another job's id.
    WrongJob {
        /// The job id in the answer.
        answered: JobId,
    },
    /// The worker answered a job offer with a non-job message.
    UnexpectedResponse,
}

impl RejectReason {
    /// Whether the worker returned something false (as opposed to failing honestly).
    pub fn is_misbehaviour(&self) -> bool {
        matches!(self, Self::CheckFailed(_) | Self::WrongJob { .. } | Self::UnexpectedResponse)
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Disconnected => f.write_str("worker disconnected"),
            Self::Transport(e) => write!(f, "transport failure: {e}"),
            Self::Refused(r) => write!(f, "refused: {r:?}"),
            Self::ExecFailed(e) => write!(f, "worker failed: {e}"),
            Self::CheckFailed(e) => write!(f, "result failed the check: {e}"),
            Self::WrongJob { answered } => write!(f, "answered job {answered:?} instead"),
            Self::UnexpectedResponse => f.write_str("answered with a non-job message"),
        }
    }
}

/// One entry of a run's log, also sent live to an optional progress channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEvent {
    /// A result persisted by an earlier run was re-checked and kept.
    Resumed {
        /// The job.
        job: JobId,
        /// Its chunk.
        chunk_index: u32,
    },
    /// A persisted result failed its re-check and was discarded; the job runs again.
    DiscardedStored {
        /// The job.
        job: JobId,
        /// Why.
        reason: String,
    },
    /// A worker answered the capability handshake.
    WorkerJoined {
        /// The worker.
        peer: PeerId,
        /// What it announced.
        capabilities: Capabilities,
    },
    /// A worker's last connection closed.
    WorkerLeft {
        /// The worker.
        peer: PeerId,
    },
    /// A job was offered to a worker.
    Assigned {
        /// The job.
        job: JobId,
        /// Its chunk.
        chunk_index: u32,
        /// The worker.
        worker: PeerId,
    },
    /// A result passed the checker and was written to disk.
    Accepted {
        /// The job.
        job: JobId,
        /// Its chunk.
        chunk_index: u32,
        /// The worker.
        worker: PeerId,
    },
    /// A result or attempt was rejected; the job goes back to the queue.
    Rejected {
        /// The job.
        job: JobId,
        /// Its chunk.
        chunk_index: u32,
        /// The worker.
        worker: PeerId,
        /// Why.
        reason: RejectReason,
    },
    /// A worker returned too many false results and gets no more jobs.
    WorkerBanned {
        /// The worker.
        peer: PeerId,
    },
}

/// Where one job stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for a worker.
    Pending,
    /// Offered to this worker.
    Running(PeerId),
    /// Result accepted.
    Accepted,
}

/// Per-job progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobProgress {
    /// The job's chunk.
    pub chunk_index: u32,
    /// Its status.
    pub status: JobStatus,
    /// Offers made so far.
    pub attempts: u32,
}

/// Per-worker progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerProgress {
    /// The worker.
    pub peer: PeerId,
    /// What it announced.
    pub capabilities: Capabilities,
    /// Results accepted from it.
    pub accepted: u32,
    /// Attempts rejected.
    pub rejected: u32,
    /// Whether it still gets jobs.
    pub banned: bool,
    /// Whether it is connected.
    pub connected: bool,
}

/// A snapshot of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// One entry per job, in job order.
    pub jobs: Vec<JobProgress>,
    /// One entry per worker seen, by peer id.
    pub workers: Vec<WorkerProgress>,
}
