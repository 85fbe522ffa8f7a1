//! Errors of distributed chain proving.

use zkinfer_network::ContentHash;
use zkinfer_prover::chain::ChainError;

/// Why a job or result was not made, read or accepted.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// Bytes that are not a job or result of the expected format.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// `"chunk job"` or `"chunk result"`.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A job or result of a format version this build does not read.
    #[error("{what} has format version {got}; this build reads version {expected}")]
    Version {
        /// `"chunk job"` or `"chunk result"`.
        what: &'static str,
        /// The version found.
        got: u32,
        /// The version read.
        expected: u32,
    },
    /// A job whose fields disagree with the network job carrying it.
    #[error("the job payload is for chunk {payload_index} (k = {payload_k}), the job for chunk {job_index} (k = {job_k})")]
    JobMismatch {
        /// The payload's chunk.
        payload_index: usize,
        /// The payload's `k`.
        payload_k: u32,
        /// The network job's chunk.
        job_index: u32,
        /// The network job's `k`.
        job_k: u32,
    },
    /// The job was planned with another SRS than the worker's.
    #[error("the job was planned with SRS verifier digest {job}, this worker's SRS has {worker}")]
    SrsMismatch {
        /// The job's digest, hex.
        job: String,
        /// The worker's, hex.
        worker: String,
    },
    /// The model could not be fetched, stored or opened.
    #[error("model {hash}: {reason}")]
    Model {
        /// The model's content hash.
        hash: ContentHash,
        /// What went wrong.
        reason: String,
    },
    /// The fetched model is another model than the job names.
    #[error("the model with hash {hash} has id {got}, the job names {expected}")]
    ModelId {
        /// The model's content hash.
        hash: ContentHash,
        /// The id the job names.
        expected: String,
        /// The model's id.
        got: String,
    },
    /// The coordinator was given results that are not one per job.
    #[error("{got} results for {expected} jobs")]
    ResultCount {
        /// Jobs planned.
        expected: usize,
        /// Results given.
        got: usize,
    },
    /// A result failed its check.
    #[error("result rejected: {0}")]
    Rejected(String),
    /// Planning, proving or assembling the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}
