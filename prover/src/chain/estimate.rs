//! What each planned chunk will cost to prove, from its real circuit layout: the columns
//! and lookup arguments its shape declares and its `2^k` rows.
//!
//! Calibration (BENCHMARKS.md, "Issue shapes", idle 2-core machine): proving time is
//! `5.2 µs · (advice + 4.5 · lookups) · 2^k` and peak memory `128 B · (advice + fixed) · 2^k`
//! (fixed columns counting selectors: the proving key's cosets and the prover's
//! polynomials):
//!
//! | chunk | k | advice / fixed / lookups | prove s est. / measured | peak GB est. / measured |
//! |---|---|---|---|---|
//! | tiny block, 8 tokens | 15 | 67 / 221 / 19 | 26.0 / 24.8 | 1.21 / 1.14 |
//! | d = 128 block, 16 tokens | 17 | 62 / 211 / 19 | 100.5 / 99.7 | 4.58 / 4.7 |
//! | SmolLM2 layer 0, 4 tokens | 17 | 50 / 211 / 19 | 92.4 / 95.4 | 4.38 / 4.4 |
//! | SmolLM2 head slice (8,192 rows) | 17 | 43 / 166 / 14 | 72.2 / 65.1 | 3.50 / — |

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Circuit, ConstraintSystem};
use serde::Serialize;
use zkinfer_circuits::block::BlockCircuit;
use zkinfer_circuits::head::HeadCircuit;

use super::plan::{ChunkConsts, ChunkSpec};

/// Proving seconds per unit of `(advice + 4.5 · lookups) · 2^k`.
const SECONDS_PER_UNIT: f64 = 5.2e-6;
/// A lookup argument's cost in advice columns.
const LOOKUP_WEIGHT: f64 = 4.5;
/// Peak bytes per `(advice + fixed)` cell.
const BYTES_PER_CELL: f64 = 128.0;

/// One chunk's layout and estimated cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChunkEstimate {
    /// Position in the chain.
    pub index: usize,
    /// What it proves.
    pub what: String,
    /// `log2` of its rows.
    pub k: u32,
    /// Advice columns.
    pub advice_columns: usize,
    /// Fixed columns (selectors included).
    pub fixed_columns: usize,
    /// Lookup arguments.
    pub lookups: usize,
    /// Estimated proving seconds on 2 cores.
    pub prove_seconds: f64,
    /// Estimated peak memory in bytes.
    pub memory_bytes: u64,
}

fn columns<C: Circuit<Fr>>(circuit: &C) -> (usize, usize, usize) {
    let mut cs = ConstraintSystem::<Fr>::default();
    let _config = C::configure_with_params(&mut cs, circuit.params());
    (cs.num_advice_columns(), cs.num_fixed_columns() + cs.num_selectors(), cs.lookups().len())
}

/// The layout and calibrated cost of `spec`'s circuit.
pub fn estimate_chunk(spec: &ChunkSpec) -> ChunkEstimate {
    let (advice, fixed, lookups) = match &spec.consts {
        ChunkConsts::Block(c) => columns(&BlockCircuit::keygen(c.clone())),
        ChunkConsts::Head(c) => columns(&HeadCircuit::keygen(c.clone())),
    };
    let k = spec.kind.k();
    let rows = (1u64 << k) as f64;
    ChunkEstimate {
        index: spec.index,
        what: spec.kind.to_string(),
        k,
        advice_columns: advice,
        fixed_columns: fixed,
        lookups,
        prove_seconds: SECONDS_PER_UNIT * (advice as f64 + LOOKUP_WEIGHT * lookups as f64) * rows,
        memory_bytes: (BYTES_PER_CELL * (advice + fixed) as f64 * rows) as u64,
    }
}
