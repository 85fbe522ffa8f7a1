//! What aggregating a set of proofs will cost, before any of it runs: the points each
//! snark's in-circuit verifier reads, priced by the one cost model
//! ([`zkinfer_circuits::cost`], where the per-point figures and their calibration live).

use snark_verifier_sdk::Snark;
use zkinfer_circuits::cost::Aggregation;

pub use zkinfer_circuits::cost::CELLS_PER_POINT;

/// The estimated cost of one aggregation circuit over some snarks.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// Points (commitments) the in-circuit verifiers read: verifying keys' and proofs'.
    pub commitments: usize,
    /// Advice cells.
    pub cells: u64,
    /// Advice columns at the given `k`.
    pub advice_columns: u64,
    /// Keygen seconds on 2 cores.
    pub keygen_seconds: f64,
    /// Proving seconds on 2 cores.
    pub prove_seconds: f64,
    /// Peak memory in bytes.
    pub memory_bytes: u64,
}

/// The points the in-circuit verifier of `snark` reads: snark-verifier's preprocessed and
/// witness commitments ([`zkinfer_circuits::cost::Layout::points`] counts the same from a
/// constraint system).
pub fn commitments(snark: &Snark) -> usize {
    snark.protocol.preprocessed.len() + snark.protocol.num_witness.iter().sum::<usize>()
}

/// The estimated cost of one aggregation circuit of `2^k` rows verifying `snarks`.
pub fn estimate(snarks: &[Snark], k: u32) -> Estimate {
    let a = Aggregation::of_points(snarks.iter().map(commitments).sum());
    Estimate {
        commitments: a.points,
        cells: a.cells,
        advice_columns: a.advice_columns(k),
        keygen_seconds: a.keygen_seconds,
        prove_seconds: a.prove_seconds,
        memory_bytes: a.memory_bytes,
    }
}
