//! A whole model's blocks as a chain of chunk proofs.
//!
//! Each block chunk is a [`BlockCircuit`] (a block, or one of its halves when a block does
//! not fit the row budget) whose public instances are `[commit(input), commit(output)]` of
//! the residual stream; then come the head slices ([`HeadCircuit`]: final norm, `lm_head`
//! rows, argmax), each taking the last block's output commitment and the previous slice's
//! best `(index, logit)`; the last slice's best is the next token. [`setup`] makes every chunk's keys (cached on disk; identical shapes of
//! different layers still differ, because the weights are fixed columns) and the
//! [`ModelKeys`] a verifier trusts: the model id, the token count and each chunk's
//! verifying key. [`prove_chain`] runs the integer model and proves every chunk;
//! [`verify_chain`] accepts a bundle only if it is for that model, has one proof per chunk
//! in order, every proof verifies under the listed key, every block chunk's input
//! commitment equals the previous chunk's output commitment, and the head slices chain
//! from the last block's output to the next token. A keys file is only as trustworthy as its
//! source: [`check_keys`] rebuilds every verifying key from the model and accepts the file
//! only if it is exactly the model's.

mod aggregate;
mod check;
mod chunk;
mod estimate;
mod keys_file;
mod plan;
mod run;

pub use aggregate::{aggregate_bundle, chain_roles, chain_snarks, model_id_of};
pub use check::{check_keys, chunk_vk};
pub use chunk::{chunk_inputs, prove_chunk, ChunkInput};
pub use estimate::{chunk_layout, estimate_chunk, keyed_layout, kind_layout, ChunkEstimate};
pub use keys_file::{ChunkKey, ModelKeys};
pub use plan::{head_consts, plan_chunks, ChunkConsts, ChunkKind, ChunkSpec};
pub use run::{
    prove_chain, prove_chain_fresh, setup, verify_chain, ChainError, ChainEvent, ChainOutcome, ChunkPhase,
    ChunkReport,
};

pub use zkinfer_circuits::block::{BlockCircuit, BlockConsts, BlockShape, Part};
pub use zkinfer_circuits::head::{HeadCircuit, HeadConsts, HeadShape};
