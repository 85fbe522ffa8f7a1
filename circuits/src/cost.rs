//! What a circuit's columns cost to prove, measured on this project's chunk proofs.
//!
//! halo2-axiom's phase timings (its `profile` feature) on a SmolLM2 layer (k = 17: 50
//! advice, 128 fixed, 83 selectors, 19 lookups, 36 equality columns; 87.7 s on 2 cores) and
//! the tiny block (k = 15; 24.0 s) split the proving time per column kind, in units of one
//! advice column (its commitment, its FFT and its four extended-domain parts, ≈ 0.27 s at
//! k = 17):
//!
//! | column kind | units | where the time goes |
//! |---|---|---|
//! | advice | 1 | MSM commitment, FFT, coset FFTs of `h(X)` |
//! | fixed (and compressed selectors) | 0.55 | halo2-axiom brings every fixed polynomial to each extended-domain part at proving time (22 s of the 87.7 s) |
//! | lookup argument | 4.6 | permuted input and table, their commitments, the product column |
//! | equality-enabled column | 1.4 | the permutation argument's sigma and product columns |
//!
//! Seconds ≈ [`SECONDS_PER_UNIT_ROW`] · [`column_cost`] · `2^k`: 2.49 µs (SmolLM2 layer) and
//! 2.42 µs (tiny block) per unit and row on this 2-core machine.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::ConstraintSystem;

/// Proving seconds per unit of [`column_cost`] and row, 2 cores (see the module docs).
pub const SECONDS_PER_UNIT_ROW: f64 = 2.45e-6;

/// The proving cost of a configured circuit per row, in advice-column units (see the module
/// docs). Selectors count a quarter of a fixed column each: keygen compresses them several
/// to a column.
pub fn column_cost(cs: &ConstraintSystem<Fr>) -> f64 {
    let fixed = cs.num_fixed_columns() as f64 + cs.num_selectors() as f64 / 4.0;
    cs.num_advice_columns() as f64
        + 0.55 * fixed
        + 4.6 * cs.lookups().len() as f64
        + 1.4 * cs.permutation().get_columns().len() as f64
}
