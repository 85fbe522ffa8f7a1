//! Distributed proving over libp2p.
//!
//! Workers join a network (TCP + noise + yamux, Kademlia discovery, identify) and announce their
//! capabilities; a coordinator offers them jobs on `/zkinfer/prove/1`, lets them fetch payloads
//! by SHA-256 on `/zkinfer/blob/1`, checks every result with a [`Checker`] before accepting it,
//! reassigns jobs on timeout, disconnect, refusal or a failed check, and writes accepted results
//! to disk as they arrive so a restarted coordinator resumes where it stopped. Only peers in an
//! allowlist may connect. This crate never sees proofs or circuits: jobs and results are opaque,
//! versioned bytes defined by the prover.
#![deny(missing_docs)]

mod behaviour;
mod blob;
mod config;
mod coordinator;
mod error;
mod job;
mod node;
pub mod protocol;
mod security;
mod wire;
mod worker;

pub use config::{CoordinatorConfig, Limits, WorkerConfig};
pub use coordinator::{
    Coordinator, JobProgress, JobStatus, Progress, RejectReason, ResultStore, RunEvent, RunOutcome,
    WorkerProgress,
};
pub use error::NetworkError;
pub use job::{CheckError, Checker, ContentHash, ExecError, Executor, HashParseError, Job, JobId};
pub use libp2p::identity::Keypair;
pub use libp2p::multiaddr::Protocol;
pub use libp2p::{Multiaddr, PeerId};
pub use security::{load_or_create_identity, Allowlist};
pub use worker::{run_worker, BlobFetcher, WorkerHandle};
