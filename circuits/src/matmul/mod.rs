//! Matrix products with a fixed weight matrix: `Y = W·X` over BN254's scalar field, exact
//! for integers (no rescaling here; the accumulators are what other chips consume).
//!
//! `W` (`n × d`, e.g. a [`QLinear`](zkinfer_quantize::qmodel::QLinear)'s effective weights)
//! sits in fixed columns, so the verifying key binds it. `X` (`d × T` activations) and `Y`
//! (`n × T` accumulators) are phase-1 advice with equality enabled, so other chips can
//! copy-constrain them. After they are committed, two challenges `r` (over outputs) and `s`
//! (over tokens) are drawn and phase 2 proves the Freivalds identity
//!
//! ```text
//!   Σ_j r^j · y'_j  =  Σ_i u_i · x'_i,   y'_j = Σ_t s^t Y[j][t],  x'_i = Σ_t s^t X[i][t],
//!                                         u_i = Σ_j r^j W[j][i]   (u = rᵀ·W)
//! ```
//!
//! If `Y ≠ W·X` the difference `Σ_t Σ_j s^t r^j (Y − W·X)[j][t]` is a nonzero polynomial in
//! `(r, s)` of degree below `n + T`, so by Schwartz–Zippel a cheating prover passes with
//! probability at most `(n + T) / p` (below `2^-230` for any layer).
//! With `|W| ≤ 2^40`, `|X| < 2^31` and `d ≤ 2^20`, `|Y| < 2^91 ≪ p`, so field equality is
//! integer equality.
//!
//! # Layout
//!
//! `L` weight lanes, `B = ⌈n / L⌉` weight blocks per input (`W` padded with zero rows to
//! `B·L`). Rows from `offset`; `v(a) = Σ_t s^t a_t`, `U = Σ_c r^c w_c` (expressions, no
//! cells):
//!
//! | rows | `act_0..act_{T-1}` (adv 1) | `w_0..w_{L-1}` (fixed) | `h` (adv 2) | `acc` (adv 2) | gates |
//! |---|---|---|---|---|---|
//! | `k = 0` | `Y[n-1][·]` | | | `v(y)` | `Y_START` |
//! | `k = 1..n-1` | `Y[n-1-k][·]` | | | `acc[-1]·r + v(y)` | `Y_STEP` |
//! | input `i`, block `B-1` | | `W[(B-1)L + c][i]` | `U` | `acc[-1]` | `U_START`, `CARRY` |
//! | input `i`, block `0 < b < B-1` | | `W[bL + c][i]` | `h[-1]·r^L + U` | `acc[-1]` | `U_STEP`, `CARRY` |
//! | input `i`, block `0` | `X[i][·]` | `W[c][i]` | `u_i` | `acc[-1] − u_i·v(x)` | `U_STEP`, `DOT` |
//! | last row (`i = d-1`, block 0) | `X[d-1][·]` | `W[c][d-1]` | `u_{d-1}` | `0` | …, `CHECK` |
//!
//! (With `B = 1` an input's only row carries `U_START` and `DOT`.) Gates, each times its
//! selector, all of degree ≤ 3:
//!
//! | gate | constraint |
//! |---|---|
//! | [`gate::Y_START`] | `acc − v(act) = 0` |
//! | [`gate::Y_STEP`] | `acc − (acc[-1]·r + v(act)) = 0` |
//! | [`gate::U_START`] | `h − U = 0` |
//! | [`gate::U_STEP`] | `h − (h[-1]·r^L + U) = 0` |
//! | [`gate::CARRY`] | `acc − acc[-1] = 0` |
//! | [`gate::DOT`] | `acc − acc[-1] + h·v(act) = 0` |
//! | [`gate::CHECK`] | `acc = 0` |
//!
//! # Cost
//!
//! Advice cells per product: `T·(n + d)` for `Y` and `X`, `n` for `acc` on the output rows,
//! and `2·d·⌈n/L⌉` for `h` and `acc` on the weight rows; for `n·d·T` multiply-accumulates:
//!
//! ```text
//!   cells/MAC = 1/n + 1/d + 1/(d·T) + 2·⌈n/L⌉/(n·T)   ≈ 1/n + 1/d + 2/(L·T)
//! ```
//!
//! over `n + d·⌈n/L⌉` rows of `T + 2` advice and `L` fixed columns. SmolLM2's `k_proj`
//! (`192 × 576`) with `T = 4`, `L = 32`: 10,176 cells for 442,368 MACs, 0.023 cells per
//! MAC (`L = 64`: 0.015). More lanes trade fixed columns (keygen time, one opening each in
//! the proof) for fewer rows; `L ≥ n` leaves one row per input. A wide-row dot-product
//! gate needs at least `(L + 1)/L` cells per MAC, since every MAC puts an activation in an
//! advice cell.
//!
//! # Trust boundary
//!
//! The chip proves `Y = W·X` for whatever field elements sit in the activation cells; that
//! they are integers below `2^31` is the producing chip's range check. The outputs need
//! none: they equal the exact integer products.
//!
//! # Use
//!
//! Phases are global: call [`MatmulChip::assign_inputs`] for every product, then
//! `layouter.next_phase()`, then [`MatmulChip::assign_check`] for every product. The
//! offsets are absolute rows (halo2-axiom's `SimpleFloorPlanner` starts every region at
//! row 0); [`MatmulConfig::rows_needed`] says how many a product takes.

mod field;
mod freivalds;
mod matrix;

pub use field::fr_from_i128;
pub use freivalds::{gate, MatCell, MatmulChip, MatmulConfig, MatmulInputs};
pub use matrix::{FixedMatrix, MAX_WEIGHT};

use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::bn256::Fr;

/// Errors building a matmul's inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatmulError {
    /// A matrix without rows or columns.
    #[error("empty {rows} x {cols} weight matrix")]
    EmptyMatrix {
        /// Rows given.
        rows: usize,
        /// Columns given.
        cols: usize,
    },
    /// The weight count is not `rows · cols`.
    #[error("expected {expected} weights, got {got}")]
    WeightCount {
        /// `rows · cols`.
        expected: usize,
        /// Weights given.
        got: usize,
    },
    /// A weight above [`MAX_WEIGHT`] in magnitude.
    #[error("weight {value} at ({row}, {col}) exceeds 2^40 in magnitude")]
    WeightTooLarge {
        /// Its row.
        row: usize,
        /// Its column.
        col: usize,
        /// Its value.
        value: i64,
    },
    /// Inputs that are not a whole number of `cols`-long tokens.
    #[error("{got} inputs are not a multiple of {cols} columns")]
    InputCount {
        /// Columns of the matrix.
        cols: usize,
        /// Inputs given.
        got: usize,
    },
}

/// Known witness values of signed integers, for [`MatmulChip::assign_inputs`].
pub fn known_values<I: Into<i128> + Copy>(v: &[I]) -> Vec<Value<Fr>> {
    v.iter().map(|&x| Value::known(field::fr_from_i128(x.into()))).collect()
}
