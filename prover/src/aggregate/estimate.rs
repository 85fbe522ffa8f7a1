//! What aggregating a set of proofs will cost, before any of it runs: the in-circuit
//! verifier of a SHPLONK proof costs about the same number of cells per commitment it
//! reads, whether the commitment is the proof's (a variable-base MSM term and a transcript
//! absorb) or the verifying key's (a fixed-base MSM term).
//!
//! Calibration (snark-verifier-sdk 0.2.7, `calculate_params` at `k = 20, 21`):
//!
//! | snark | commitments (key + proof) | advice cells |
//! |---|---|---|
//! | tiny block chunk (62 advice, 18 lookups) | 249 + 157 = 406 | 42.37 M |
//! | tiny head slice | 192 + 99 = 291 | 30.43 M |
//! | both blocks and the head together | 1,103 | 115.63 M (the sum) |
//!
//! — 104 k cells per commitment within 1 %. Time and memory per cell come from
//! `../shared/PROVER-COSTS.md`'s aggregation of two small proofs (6.7 M cells: keygen 44 s,
//! proof 113 s, 4.6 GB peak on 2 cores).

use snark_verifier_sdk::Snark;

/// Advice cells of the in-circuit verifier per commitment it reads (measured, above).
pub const CELLS_PER_COMMITMENT: u64 = 104_000;
/// Proving seconds per million cells on 2 cores (PROVER-COSTS.md).
const PROVE_S_PER_MCELL: f64 = 113.0 / 6.7;
/// Keygen seconds per million cells on 2 cores.
const KEYGEN_S_PER_MCELL: f64 = 44.0 / 6.7;
/// Peak bytes per cell.
const BYTES_PER_CELL: f64 = 4.6e9 / 6.7e6;

/// The estimated cost of one aggregation circuit over some snarks.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// Commitments the in-circuit verifiers read (verifying keys' and proofs').
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

/// The commitments the in-circuit verifier of `snark` reads.
pub fn commitments(snark: &Snark) -> usize {
    snark.protocol.preprocessed.len() + snark.protocol.num_witness.iter().sum::<usize>()
}

/// The estimated cost of one aggregation circuit of `2^k` rows verifying `snarks`.
pub fn estimate(snarks: &[Snark], k: u32) -> Estimate {
    let commitments: usize = snarks.iter().map(commitments).sum();
    let cells = commitments as u64 * CELLS_PER_COMMITMENT;
    let mcells = cells as f64 / 1e6;
    Estimate {
        commitments,
        cells,
        advice_columns: cells.div_ceil(1 << k),
        keygen_seconds: mcells * KEYGEN_S_PER_MCELL,
        prove_seconds: mcells * PROVE_S_PER_MCELL,
        memory_bytes: (cells as f64 * BYTES_PER_CELL) as u64,
    }
}
