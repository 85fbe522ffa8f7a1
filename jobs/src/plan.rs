//! The coordinator's side: one job per chunk, and the bundle from the accepted results.

use std::sync::Arc;

use zkinfer_circuits::argmax::Prior;
use zkinfer_network::{ContentHash, Job};
use zkinfer_prover::chain::{chunk_inputs, ChainError, ChunkInput, ModelKeys};
use zkinfer_prover::{Bundle, VerifierParams};
use zkinfer_quantize::qmodel::file::QuantizedModel;

use crate::checker::ChunkChecker;
use crate::error::JobsError;
use crate::payload::ChunkJob;

/// A chain split into network jobs, with the checker of their results.
pub struct DistributedPlan {
    /// One job per chunk, in chain order.
    pub jobs: Vec<Job>,
    /// The chunk jobs the network jobs carry.
    pub chunk_jobs: Vec<ChunkJob>,
    /// Accepts exactly the honest, valid result of each job.
    pub checker: ChunkChecker,
    model_id: String,
    params: VerifierParams,
    best: Prior,
}

/// Runs the integer model on `tokens` and makes one job per chunk `keys` lists, for the
/// model whose `.zkq` file is `model_bytes` (named in each job by its SHA-256). The keys
/// must be `model`'s for this token count, made with the SRS `params` come from.
pub fn plan_jobs(
    model: &QuantizedModel,
    model_bytes: &[u8],
    tokens: &[u32],
    keys: Arc<ModelKeys>,
    params: VerifierParams,
) -> Result<DistributedPlan, JobsError> {
    if keys.model_id != model.model_id() {
        return Err(ChainError::ModelMismatch {
            bundle: model.model_id().into(),
            keys: keys.model_id.clone(),
        }
        .into());
    }
    if tokens.len() != keys.tokens {
        return Err(ChainError::TokenCount { keys: keys.tokens, prompt: tokens.len() }.into());
    }
    if params.digest() != keys.srs_verifier_digest {
        return Err(ChainError::SrsMismatch.into());
    }
    let kinds: Vec<_> = keys.chunks.iter().map(|c| c.kind).collect();
    let inputs = chunk_inputs(model, tokens, &kinds)?;
    let best = inputs
        .iter()
        .rev()
        .find_map(|input| match input {
            ChunkInput::Head { best, .. } => Some(*best),
            ChunkInput::Block { .. } => None,
        })
        .ok_or_else(|| ChainError::ChunkOrder("no head slice".into()))?;
    let model_hash = ContentHash::of(model_bytes);
    let chunk_jobs: Vec<ChunkJob> = keys
        .chunks
        .iter()
        .zip(inputs)
        .enumerate()
        .map(|(index, (key, input))| ChunkJob {
            model_id: model.model_id().into(),
            model_hash,
            model_len: model_bytes.len() as u64,
            tokens: tokens.len(),
            index,
            kind: key.kind,
            vk_hash: key.vk_hash,
            srs_verifier_digest: keys.srs_verifier_digest,
            input,
        })
        .collect();
    let jobs: Vec<Job> = chunk_jobs.iter().map(ChunkJob::to_job).collect();
    let expected = jobs.iter().zip(&chunk_jobs).map(|(job, c)| (job.id, c.index, c.input.instances()));
    let checker = ChunkChecker::new(keys, params.clone(), expected);
    Ok(DistributedPlan { jobs, chunk_jobs, checker, model_id: model.model_id().into(), params, best })
}

impl DistributedPlan {
    /// The next token the integer reference gives (what the bundle will prove).
    pub fn best(&self) -> Prior {
        self.best
    }

    /// The bundle of `results` (one per job, in job order), each checked again.
    pub fn assemble(&self, results: &[Vec<u8>]) -> Result<Bundle, JobsError> {
        if results.len() != self.jobs.len() {
            return Err(JobsError::ResultCount { expected: self.jobs.len(), got: results.len() });
        }
        let mut chunks = Vec::with_capacity(results.len());
        for (job, bytes) in self.jobs.iter().zip(results) {
            let proof = self.checker.check_result(job, bytes).map_err(|e| JobsError::Rejected(e.message))?;
            chunks.push(proof);
        }
        Ok(Bundle::new(self.model_id.clone(), &self.params, chunks))
    }
}
