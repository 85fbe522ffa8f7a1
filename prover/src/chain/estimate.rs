//! What each planned chunk will cost to prove, from its real circuit layout: the columns,
//! lookup arguments and equality-enabled columns its shape declares and its `2^k` rows.
//!
//! Proving time is [`zkinfer_circuits::cost`]'s model (`2.45 µs · column cost · 2^k`, the
//! column cost weighing advice, fixed, lookup and equality columns by what halo2-axiom's
//! phases measured); peak memory `128 B · (advice + fixed) · 2^k` (fixed columns counting
//! selectors: the proving key's polynomials and the prover's). Calibration (BENCHMARKS.md,
//! idle 2-core machine):
//!
//! | chunk | k | advice / fixed / lookups | prove s est. / measured | peak GB est. / measured |
//! |---|---|---|---|---|
//! | tiny block, 8 tokens (8-bit limbs, 32 lanes) | 15 | 67 / 221 / 19 | 24.2 / 24.0 | 1.21 / 1.01 |
//! | SmolLM2 layer 0, 4 tokens (8-bit limbs, 32 lanes) | 17 | 50 / 211 / 19 | 86.1 / 87.7 | 4.38 / 3.98 |
//! | SmolLM2 layer 0, 4 tokens (14-bit limbs, 64 lanes) | 16 | 73 / 255 / 24 | 55.4 / 55.1 | 2.75 / 2.57 |

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Circuit, ConstraintSystem};
use serde::Serialize;
use zkinfer_circuits::block::BlockCircuit;
use zkinfer_circuits::cost::{column_cost, SECONDS_PER_UNIT_ROW};
use zkinfer_circuits::head::HeadCircuit;

use super::plan::{ChunkConsts, ChunkSpec};

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

/// `(advice, fixed + selectors, lookups, column cost per row)` of `circuit`.
fn columns<C: Circuit<Fr>>(circuit: &C) -> (usize, usize, usize, f64) {
    let mut cs = ConstraintSystem::<Fr>::default();
    let _config = C::configure_with_params(&mut cs, circuit.params());
    let fixed = cs.num_fixed_columns() + cs.num_selectors();
    (cs.num_advice_columns(), fixed, cs.lookups().len(), column_cost(&cs))
}

/// The layout and calibrated cost of `spec`'s circuit.
pub fn estimate_chunk(spec: &ChunkSpec) -> ChunkEstimate {
    let (advice, fixed, lookups, cost) = match &spec.consts {
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
        prove_seconds: SECONDS_PER_UNIT_ROW * cost * rows,
        memory_bytes: (BYTES_PER_CELL * (advice + fixed) as f64 * rows) as u64,
    }
}
