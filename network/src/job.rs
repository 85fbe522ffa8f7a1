//! The job interface between the network and the prover: opaque, versioned bytes.

use std::fmt;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A SHA-256 digest naming a blob (a job payload, a model chunk, a proving key) by its content.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// The SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> Result<Self, HashParseError> {
        let bytes = hex::decode(text).map_err(|_| HashParseError { text: text.to_owned() })?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| HashParseError { text: text.to_owned() })?;
        Ok(Self(array))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &self.to_hex()[..12])
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl serde::Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for ContentHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// A string that is not 64 hex characters was given as a content hash.
#[derive(Debug, Error)]
#[error("`{text}` is not a SHA-256 hash (64 hex characters)")]
pub struct HashParseError {
    /// The rejected text.
    pub text: String,
}

/// The identity of a job: SHA-256 over its chunk index, circuit size and payload hash.
pub type JobId = ContentHash;

/// One unit of proving work. The payload's format (and its version) is the prover crate's.
#[derive(Clone, PartialEq, Eq)]
pub struct Job {
    /// Content hash of everything below; two jobs with the same id are the same job.
    pub id: JobId,
    /// Position of the chunk in the model's plan.
    pub chunk_index: u32,
    /// Circuit size (rows = 2^k) the job needs; a worker announcing a smaller `max_k` never gets it.
    pub k: u32,
    /// Opaque, versioned job bytes; workers fetch them by `payload_hash`.
    pub payload: Vec<u8>,
}

impl Job {
    /// Builds a job, deriving its id from its content.
    pub fn new(chunk_index: u32, k: u32, payload: Vec<u8>) -> Self {
        let id = Self::derive_id(chunk_index, k, &ContentHash::of(&payload));
        Self { id, chunk_index, k, payload }
    }

    /// The id a job with these fields has.
    pub fn derive_id(chunk_index: u32, k: u32, payload_hash: &ContentHash) -> JobId {
        let mut hasher = Sha256::new();
        hasher.update(b"zkinfer-job/1");
        hasher.update(chunk_index.to_le_bytes());
        hasher.update(k.to_le_bytes());
        hasher.update(payload_hash.0);
        ContentHash(hasher.finalize().into())
    }

    /// SHA-256 of the payload.
    pub fn payload_hash(&self) -> ContentHash {
        ContentHash::of(&self.payload)
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("chunk_index", &self.chunk_index)
            .field("k", &self.k)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// Why a worker could not run a job.
#[derive(Debug, Error)]
#[error("{message}")]
pub struct ExecError {
    /// Human-readable reason, sent back to the coordinator.
    pub message: String,
}

impl ExecError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

/// Why the coordinator rejected a returned result.
#[derive(Debug, Error)]
#[error("{message}")]
pub struct CheckError {
    /// Human-readable reason, logged with the rejection.
    pub message: String,
}

impl CheckError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

/// What a worker runs on a job (the real one wraps the prover).
pub trait Executor: Send + Sync + 'static {
    /// Runs the job and returns its result bytes (e.g. a serialized proof with its instances).
    fn execute(&self, job: &Job) -> Result<Vec<u8>, ExecError>;
}

/// What the coordinator runs on every returned result before accepting it.
pub trait Checker: Send + Sync + 'static {
    /// Accepts the result only if it is a valid result of exactly this job.
    fn check(&self, job: &Job, result: &[u8]) -> Result<(), CheckError>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn job_id_binds_every_field() {
        let job = Job::new(3, 14, b"payload".to_vec());
        assert_eq!(job.id, Job::derive_id(3, 14, &job.payload_hash()));
        assert_ne!(job.id, Job::new(4, 14, b"payload".to_vec()).id);
        assert_ne!(job.id, Job::new(3, 15, b"payload".to_vec()).id);
        assert_ne!(job.id, Job::new(3, 14, b"payloae".to_vec()).id);
    }

    #[test]
    fn hash_hex_round_trips_and_rejects_bad_text() {
        let hash = ContentHash::of(b"abc");
        assert_eq!(ContentHash::from_hex(&hash.to_hex()).ok(), Some(hash));
        assert!(ContentHash::from_hex("zz").is_err());
        assert!(ContentHash::from_hex("abcd").is_err());
    }
}
