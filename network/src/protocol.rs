//! The zkinfer protocols: ids, messages and the capabilities a worker announces.

use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use crate::job::{ContentHash, JobId};
use crate::wire::Wire;

/// Job hand-off: the coordinator asks, the worker answers with a result, a refusal or a failure.
pub const PROVE_PROTOCOL: StreamProtocol = StreamProtocol::new("/zkinfer/prove/1");
/// Content-addressed blob transfer: anyone holding a blob serves it by SHA-256.
pub const BLOB_PROTOCOL: StreamProtocol = StreamProtocol::new("/zkinfer/blob/1");
/// Kademlia on a zkinfer-only DHT.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/zkinfer/kad/1");
/// Identify's protocol version string.
pub const IDENTIFY_VERSION: &str = "/zkinfer/id/1";

/// What a worker can do, announced in answer to [`ProveRequest::Hello`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// CPU cores it proves with.
    pub cores: u32,
    /// Memory available for proving, in bytes.
    pub memory_bytes: u64,
    /// GPU description, if it proves on one.
    pub gpu: Option<String>,
    /// Largest circuit (2^k rows) it accepts.
    pub max_k: u32,
    /// Content hashes of models and keys it already holds.
    pub held: Vec<ContentHash>,
}

impl Capabilities {
    /// This machine's cores and memory (from `/proc/meminfo` on Linux, else 0), with the
    /// given circuit limit, GPU description and held blobs.
    pub fn of_this_machine(max_k: u32, gpu: Option<String>, held: Vec<ContentHash>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let memory_bytes =
            std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| mem_total(&text)).unwrap_or(0);
        Self { cores, memory_bytes, gpu, max_k, held }
    }
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// A job offer: everything but the payload, which the worker fetches by hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOffer {
    /// The job's id; the worker recomputes it from the fields below.
    pub job_id: JobId,
    /// Chunk position in the plan.
    pub chunk_index: u32,
    /// Circuit size.
    pub k: u32,
    /// SHA-256 of the payload blob.
    pub payload_hash: ContentHash,
    /// Payload length in bytes.
    pub payload_len: u64,
}

/// Requests on [`PROVE_PROTOCOL`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProveRequest {
    /// Asks for the worker's capabilities.
    Hello,
    /// Asks the worker to run a job.
    Prove(JobOffer),
}

/// Why a worker declined a job without trying it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// It is running as many jobs as it takes.
    Busy,
    /// The job's circuit is larger than its `max_k`.
    TooLarge {
        /// The job's k.
        k: u32,
        /// The worker's limit.
        max_k: u32,
    },
    /// The offer's id does not match its fields.
    BadOffer,
}

/// Responses on [`PROVE_PROTOCOL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProveResponse {
    /// The worker's capabilities.
    Hello(Capabilities),
    /// The job ran; `result` is the executor's output.
    Done {
        /// The job it claims to answer.
        job_id: JobId,
        /// Result bytes, checked by the coordinator before acceptance.
        result: Vec<u8>,
    },
    /// The worker declined the job.
    Refused {
        /// The job declined.
        job_id: JobId,
        /// Why.
        reason: Refusal,
    },
    /// The worker tried and failed (payload unavailable, executor error).
    Failed {
        /// The job that failed.
        job_id: JobId,
        /// Why.
        reason: String,
    },
}

/// The JSON header of a [`ProveResponse`]; `Done`'s result travels as the body.
#[derive(Debug, Serialize, Deserialize)]
pub enum ProveResponseHeader {
    /// See [`ProveResponse::Hello`].
    Hello(Capabilities),
    /// See [`ProveResponse::Done`].
    Done {
        /// The job it claims to answer.
        job_id: JobId,
    },
    /// See [`ProveResponse::Refused`].
    Refused {
        /// The job declined.
        job_id: JobId,
        /// Why.
        reason: Refusal,
    },
    /// See [`ProveResponse::Failed`].
    Failed {
        /// The job that failed.
        job_id: JobId,
        /// Why.
        reason: String,
    },
}

impl Wire for ProveRequest {
    type Header = ProveRequest;
    fn into_parts(self) -> (Self, Vec<u8>) {
        (self, Vec::new())
    }
    fn from_parts(header: Self, body: Vec<u8>) -> Result<Self, String> {
        expect_empty(&body)?;
        Ok(header)
    }
}

impl Wire for ProveResponse {
    type Header = ProveResponseHeader;
    fn into_parts(self) -> (ProveResponseHeader, Vec<u8>) {
        match self {
            Self::Hello(caps) => (ProveResponseHeader::Hello(caps), Vec::new()),
            Self::Done { job_id, result } => (ProveResponseHeader::Done { job_id }, result),
            Self::Refused { job_id, reason } => (ProveResponseHeader::Refused { job_id, reason }, Vec::new()),
            Self::Failed { job_id, reason } => (ProveResponseHeader::Failed { job_id, reason }, Vec::new()),
        }
    }
    fn from_parts(header: ProveResponseHeader, body: Vec<u8>) -> Result<Self, String> {
        if !matches!(header, ProveResponseHeader::Done { .. }) {
            expect_empty(&body)?;
        }
        Ok(match header {
            ProveResponseHeader::Done { job_id } => Self::Done { job_id, result: body },
            ProveResponseHeader::Hello(caps) => Self::Hello(caps),
            ProveResponseHeader::Refused { job_id, reason } => Self::Refused { job_id, reason },
            ProveResponseHeader::Failed { job_id, reason } => Self::Failed { job_id, reason },
        })
    }
}

/// A request on [`BLOB_PROTOCOL`]: the blob with this SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRequest {
    /// The blob's content hash.
    pub hash: ContentHash,
}

impl Wire for BlobRequest {
    type Header = BlobRequest;
    fn into_parts(self) -> (Self, Vec<u8>) {
        (self, Vec::new())
    }
    fn from_parts(header: Self, body: Vec<u8>) -> Result<Self, String> {
        expect_empty(&body)?;
        Ok(header)
    }
}

/// A response on [`BLOB_PROTOCOL`]. The receiver checks the hash of `Found`'s bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobResponse {
    /// The blob's bytes.
    Found(Vec<u8>),
    /// The peer does not hold it.
    NotFound,
}

impl Wire for BlobResponse {
    type Header = bool;
    fn into_parts(self) -> (bool, Vec<u8>) {
        match self {
            Self::Found(bytes) => (true, bytes),
            Self::NotFound => (false, Vec::new()),
        }
    }
    fn from_parts(found: bool, body: Vec<u8>) -> Result<Self, String> {
        if found {
            Ok(Self::Found(body))
        } else {
            expect_empty(&body)?;
            Ok(Self::NotFound)
        }
    }
}

fn expect_empty(body: &[u8]) -> Result<(), String> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(format!("unexpected {}-byte body", body.len()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::{decode, encode};

    fn round_trip<M: Wire + Clone + PartialEq + std::fmt::Debug>(message: M) {
        let frame = encode(message.clone(), 1 << 20).unwrap();
        assert_eq!(decode::<M>(frame[4..].to_vec()).unwrap(), message);
    }

    #[test]
    fn messages_round_trip() {
        let hash = ContentHash::of(b"x");
        round_trip(ProveRequest::Hello);
        round_trip(ProveRequest::Prove(JobOffer {
            job_id: hash,
            chunk_index: 1,
            k: 14,
            payload_hash: hash,
            payload_len: 9,
        }));
        round_trip(ProveResponse::Hello(Capabilities {
            cores: 2,
            max_k: 18,
            held: vec![hash],
            ..Default::default()
        }));
        round_trip(ProveResponse::Done { job_id: hash, result: vec![7; 40] });
        round_trip(ProveResponse::Refused { job_id: hash, reason: Refusal::TooLarge { k: 20, max_k: 18 } });
        round_trip(ProveResponse::Failed { job_id: hash, reason: "no payload".into() });
        round_trip(BlobRequest { hash });
        round_trip(BlobResponse::Found(vec![1, 2]));
        round_trip(BlobResponse::NotFound);
    }

    #[test]
    fn reads_total_memory_from_meminfo() {
        assert_eq!(mem_total("MemFree: 5 kB\nMemTotal:       24576000 kB\n"), Some(24576000 * 1024));
        assert_eq!(mem_total("MemTotal: lots\n"), None);
        assert_eq!(mem_total(""), None);
        let caps = Capabilities::of_this_machine(18, None, vec![]);
        assert!(caps.cores >= 1 && caps.max_k == 18);
    }

    #[test]
    fn a_body_where_none_belongs_is_refused() {
        let mut frame = encode(BlobRequest { hash: ContentHash::of(b"x") }, 1 << 20).unwrap();
        frame.push(0);
        assert!(decode::<BlobRequest>(frame[4..].to_vec())
            .unwrap_err()
            .to_string()
            .contains("unexpected 1-byte body"));
    }
}
