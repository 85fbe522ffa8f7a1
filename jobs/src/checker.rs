//! The coordinator's check of a returned chunk result.

use std::collections::HashMap;
use std::sync::Arc;

use zkinfer_network::{CheckError, Checker, Job, JobId};
use zkinfer_prover::chain::ModelKeys;
use zkinfer_prover::{ChunkProof, Fr, VerifierParams};

use crate::result::ChunkResult;

/// What an honest result of one job is.
#[derive(Clone, Debug)]
struct Expected {
    index: usize,
    instances: Vec<Vec<Fr>>,
}

/// Accepts a result only if it answers this job, names the keys file's verifying key for
/// the job's chunk, has exactly the public instances the integer reference gives (the
/// chunk's input and output commitments; for a head slice also the prior and best
/// `(index, logit)`), and its proof verifies under that key with the keys' SRS.
#[derive(Clone)]
pub struct ChunkChecker {
    keys: Arc<ModelKeys>,
    params: VerifierParams,
    expected: HashMap<JobId, Expected>,
}

impl ChunkChecker {
    /// A checker for the jobs `expected` lists as `(job, chunk index, honest instances)`.
    pub fn new(
        keys: Arc<ModelKeys>,
        params: VerifierParams,
        expected: impl IntoIterator<Item = (JobId, usize, Vec<Vec<Fr>>)>,
    ) -> Self {
        let expected = expected
            .into_iter()
            .map(|(job, index, instances)| (job, Expected { index, instances }))
            .collect();
        Self { keys, params, expected }
    }

    /// Decodes `result`, checks it is a valid result of `job`, and returns its bundle entry.
    pub fn check_result(&self, job: &Job, result: &[u8]) -> Result<ChunkProof, CheckError> {
        let expected = self
            .expected
            .get(&job.id)
            .ok_or_else(|| CheckError::new(format!("job {} is not one of this run's", job.id)))?;
        let index = expected.index;
        let fail = |message: String| CheckError::new(format!("chunk {index}: {message}"));
        let r = ChunkResult::from_bytes(result).map_err(|e| fail(e.to_string()))?;
        if r.job != job.id {
            return Err(fail(format!("the result answers job {}, not {}", r.job, job.id)));
        }
        if r.index != index {
            return Err(fail(format!("the result is for chunk {}", r.index)));
        }
        let key = self
            .keys
            .chunks
            .get(index)
            .ok_or_else(|| fail(format!("the keys list {} chunks", self.keys.chunks.len())))?;
        if r.vk_hash != key.vk_hash {
            return Err(fail(format!(
                "the proof names vk {}, the keys file lists {}",
                r.vk_hash, key.vk_hash
            )));
        }
        if r.instances != expected.instances {
            return Err(fail(
                "the public instances are not the ones the integer reference gives (commitments or best token differ)"
                    .into(),
            ));
        }
        let proof = r.to_chunk_proof(key.vk.get_domain().k());
        proof.verify(&self.params, &key.vk).map_err(|e| fail(e.to_string()))?;
        Ok(proof)
    }
}

impl Checker for ChunkChecker {
    fn check(&self, job: &Job, result: &[u8]) -> Result<(), CheckError> {
        self.check_result(job, result).map(|_| ())
    }
}
