//! Distributed proving of a model's chunk chain: the glue between [`zkinfer_prover::chain`]
//! and [`zkinfer_network`].
//!
//! The coordinator runs the integer model once and makes one [`ChunkJob`] per chunk
//! ([`plan_jobs`]): it names the model by id and SHA-256 of its `.zkq` file and carries the
//! chunk's input activations, so every chunk can be proved at once. A worker's
//! [`ChunkExecutor`] fetches the model by hash (the coordinator serves it as a blob), proves
//! the chunk and answers a [`ChunkResult`]. The coordinator's [`ChunkChecker`] accepts a
//! result only if its proof verifies under the keys file's verifying key for that chunk and
//! its public instances are exactly the ones the integer reference gives; the accepted
//! results become the same [`zkinfer_prover::Bundle`] a local `prove_chain` writes
//! ([`DistributedPlan::assemble`]).
//!
//! Jobs and results are versioned JSON: [`JOB_FORMAT`] / [`JOB_VERSION`] and
//! [`RESULT_FORMAT`] / [`RESULT_VERSION`].
#![deny(missing_docs)]

mod checker;
mod error;
mod executor;
mod field;
mod model_store;
mod payload;
mod plan;
mod result;

pub use checker::ChunkChecker;
pub use error::JobsError;
pub use executor::{ChunkExecutor, ModelSource};
pub use model_store::ModelStore;
pub use payload::{ChunkJob, JOB_FORMAT, JOB_VERSION};
pub use plan::{plan_jobs, DistributedPlan};
pub use result::{ChunkResult, RESULT_FORMAT, RESULT_VERSION};
