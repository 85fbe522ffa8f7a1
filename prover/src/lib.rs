//! The zkinfer prover: KZG structured reference strings, key generation, SHPLONK proofs with
//! the snark-verifier Poseidon transcript, verification, and the proof-bundle format.
//!
//! Chunk proofs made here are ready for aggregation with `snark-verifier-sdk`: they use the
//! SHPLONK multi-open scheme and the same Poseidon transcript the aggregation circuit
//! replays (see [`snark::to_snark`]).
//!
//! The modules follow the life of a proof:
//! - [`srs`]: load a ceremony's params file or build a cached INSECURE dev SRS; downsize.
//! - [`verifier_params`]: the three points a KZG verifier needs, instead of a whole SRS.
//! - [`keys`]: keygen, the verifying-key hash a model manifest lists, an on-disk key cache.
//! - [`mod@prove`] and [`mod@verify`]: one circuit, one proof.
//! - [`rle`]: the run-length encoding that keeps compressed-selector verifying keys small.
//! - [`snark`]: hand a proof to `snark-verifier-sdk` for aggregation, and run its native
//!   verifier as a pre-flight check.
//! - [`bundle`]: the versioned file that carries every chunk proof of one inference.
//! - [`mod@aggregate`]: every chunk proof of an inference into one proof, the chain enforced.
//! - [`evm`]: the Solidity verifier of that proof, its bytecode and calldata.
//! - [`chain`]: a model's blocks as a chain of chunk proofs linked by commitments.

#![deny(missing_docs)]

pub mod aggregate;
pub mod bundle;
mod cache_dir;
pub mod chain;
mod dev_srs;
pub mod evm;
pub mod keys;
pub mod prove;
pub mod rle;
pub mod snark;
pub mod srs;
pub mod verifier_params;
pub mod verify;

pub use aggregate::{
    aggregate, verify_aggregated, AggregateError, AggregateVerifyError, AggregatedOutputs, AggregatedProof,
    AggregationParams, ModelId,
};
pub use bundle::{Bundle, BundleError, ChunkProof};
pub use evm::{calldata, export_solidity, EvmError, Solc};
pub use keys::{
    keygen, keygen_vk, keygen_with, vk_hash, CacheStatus, KeyCache, KeyError, Selectors, ShapeId, VkHash,
};
pub use prove::{prove, prove_with_rng, Proof, ProveError};
pub use snark::{to_snark, verify_snark, SnarkError};
pub use srs::{Srs, SrsCache, SrsError, SrsKind};
pub use verifier_params::{VerifierParams, VerifierParamsError};
pub use verify::{verify, VerifyError};

/// The halo2 fork this crate proves with, re-exported so callers use the same types.
pub use halo2_proofs;
/// The BN254 types every proof here is over.
pub use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
