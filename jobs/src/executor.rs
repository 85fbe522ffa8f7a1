//! The worker's side: prove the chunk a job names.

use zkinfer_network::{BlobFetcher, ContentHash, ExecError, Executor, Job};
use zkinfer_prover::chain::prove_chunk;
use zkinfer_prover::{ChunkProof, KeyCache, Srs, SrsCache, VerifierParams};

use crate::error::JobsError;
use crate::model_store::ModelStore;
use crate::payload::ChunkJob;
use crate::result::ChunkResult;

/// Where a worker gets the model a job names.
pub trait ModelSource: Send + Sync + 'static {
    /// The bytes of the `.zkq` file with this SHA-256 (the caller checks the hash).
    fn fetch(&self, hash: ContentHash) -> Result<Vec<u8>, String>;
}

/// From the network: the coordinator serves the model as a blob.
impl ModelSource for BlobFetcher {
    fn fetch(&self, hash: ContentHash) -> Result<Vec<u8>, String> {
        self.fetch_blocking(hash).map(|bytes| bytes.as_ref().clone()).map_err(|e| e.to_string())
    }
}

/// Proves one chunk per job: reads the [`ChunkJob`], gets its model by hash (from the
/// [`ModelStore`], else from `source`), checks the model id and the SRS, proves the chunk
/// with [`prove_chunk`] and answers a [`ChunkResult`].
pub struct ChunkExecutor<S> {
    source: S,
    models: ModelStore,
    srs: Srs,
    srs_cache: SrsCache,
    srs_digest: [u8; 32],
    key_cache: Option<KeyCache>,
}

impl<S: ModelSource> ChunkExecutor<S> {
    /// An executor proving with `srs` (downsized through `srs_cache` to each chunk's `k`),
    /// proving keys from `key_cache` when given (else made for each job and dropped).
    pub fn new(
        source: S,
        models: ModelStore,
        srs: Srs,
        srs_cache: SrsCache,
        key_cache: Option<KeyCache>,
    ) -> Self {
        let srs_digest = VerifierParams::from_srs(&srs).digest();
        Self { source, models, srs, srs_cache, srs_digest, key_cache }
    }

    /// Proves the chunk `job` names and returns its proof.
    pub fn prove(&self, job: &Job) -> Result<ChunkProof, JobsError> {
        let chunk = ChunkJob::from_bytes(&job.payload)?;
        if chunk.index != job.chunk_index as usize || chunk.kind.k() != job.k {
            return Err(JobsError::JobMismatch {
                payload_index: chunk.index,
                payload_k: chunk.kind.k(),
                job_index: job.chunk_index,
                job_k: job.k,
            });
        }
        if chunk.srs_verifier_digest != self.srs_digest {
            return Err(JobsError::SrsMismatch {
                job: hex::encode(chunk.srs_verifier_digest),
                worker: hex::encode(self.srs_digest),
            });
        }
        let model = self.models.get(&chunk.model_hash, || self.source.fetch(chunk.model_hash))?;
        if model.model_id() != chunk.model_id {
            return Err(JobsError::ModelId {
                hash: chunk.model_hash,
                expected: chunk.model_id,
                got: model.model_id().into(),
            });
        }
        let (proof, _) = prove_chunk(
            &model,
            chunk.tokens,
            chunk.index,
            chunk.kind,
            &chunk.vk_hash,
            &chunk.input,
            &self.srs,
            &self.srs_cache,
            self.key_cache.as_ref(),
        )?;
        Ok(proof)
    }
}

impl<S: ModelSource> Executor for ChunkExecutor<S> {
    fn execute(&self, job: &Job) -> Result<Vec<u8>, ExecError> {
        let proof = self.prove(job).map_err(|e| ExecError::new(e.to_string()))?;
        Ok(ChunkResult::new(job.id, proof).to_bytes())
    }
}
