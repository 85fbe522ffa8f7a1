//! Errors of the network crate.

use std::path::PathBuf;

use libp2p::Multiaddr;
use thiserror::Error;

use crate::job::JobId;

/// Anything that stops a worker or coordinator.
#[derive(Debug, Error)]
pub enum NetworkError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A configuration file is malformed.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The libp2p transport or behaviour could not be built.
    #[error("cannot build the libp2p swarm: {0}")]
    Swarm(String),
    /// Listening on an address failed.
    #[error("cannot listen on {addr}: {message}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        message: String,
    },
    /// Dialing a bootstrap peer failed immediately.
    #[error("cannot dial {addr}: {message}")]
    Dial {
        /// The address.
        addr: Multiaddr,
        /// Why.
        message: String,
    },
    /// No peer served a blob with the requested hash.
    #[error("blob fetch failed: {0}")]
    Fetch(String),
    /// The node's event loop has stopped.
    #[error("the network event loop has stopped")]
    Stopped,
    /// A job was attempted too many times without an accepted result.
    #[error("job {job} (chunk {chunk_index}) failed {attempts} times; last reason: {last_reason}")]
    JobFailed {
        /// The job.
        job: JobId,
        /// Its chunk.
        chunk_index: u32,
        /// Attempts made.
        attempts: u32,
        /// The last rejection reason.
        last_reason: String,
    },
    /// The run did not finish within its time limit.
    #[error("run timed out with {remaining} of {total} jobs unaccepted")]
    RunTimeout {
        /// Jobs without an accepted result.
        remaining: usize,
        /// All jobs.
        total: usize,
    },
    /// A job's id does not match its content.
    #[error("job {0} has an id that does not match its chunk index, k and payload")]
    InvalidJob(JobId),
    /// Two jobs in a run have the same id.
    #[error("job {0} appears twice in the job set")]
    DuplicateJob(JobId),
}
