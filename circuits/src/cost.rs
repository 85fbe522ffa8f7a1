//! The cost model: what a circuit's columns cost to prove, what its proof costs later inside
//! an aggregation circuit, and the memory both take — one place for the layout chooser,
//! `plan`, `bench` and `aggregate --estimate`.
//!
//! # Chunk proving
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
//! Seconds ≈ [`SECONDS_PER_UNIT_ROW`] · [`Layout::units`] · `2^k`: 2.49 µs (SmolLM2 layer)
//! and 2.42 µs (tiny block) per unit and row on this 2-core machine. Peak memory ≈
//! [`BYTES_PER_COLUMN_ROW`] per `(advice + fixed + selector)` column and row: the proving
//! key's polynomials and the prover's (1.01 GB measured for the tiny block's 1.21 GB
//! estimate, 3.98 for the SmolLM2 layer's 4.38).
//!
//! # Aggregation
//!
//! The in-circuit verifier (snark-verifier-sdk 0.2.7, halo2-ecc's non-native BN254) costs
//! about [`CELLS_PER_POINT`] advice cells for every commitment it reads — the verifying key's
//! (fixed, compressed selector and permutation columns: a fixed-base MSM term) and the
//! proof's (advice, lookup and permutation-product columns: a variable-base MSM term and a
//! transcript absorb) alike. Calibrated with `calculate_params` on real chunk proofs of the
//! tiny model (k = 20, 21):
//!
//! | snark | points (key + proof) | advice cells |
//! |---|---|---|
//! | tiny block chunk (62 advice, 18 lookups) | 249 + 157 = 406 | 42.37 M |
//! | tiny head slice | 192 + 99 = 291 | 30.43 M |
//! | both blocks and the head together | 1,103 | 115.63 M (the sum) |
//!
//! — 104 k cells per point within 1 %. The points are snark-verifier's count (its
//! `PlonkProtocol`: preprocessed plus witness commitments, [`Layout::points`]); the quotient
//! pieces and the SHPLONK openings, a handful per proof, are inside the per-point figure.
//! Aggregation proving and keygen time and memory per cell come from
//! `../shared/PROVER-COSTS.md` (6.7 M cells: keygen 44 s, proof 113 s, 4.6 GB on 2 cores):
//! every point a chunk carries costs ≈ 1.8 s of aggregation proving and ≈ 70 MB.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::ConstraintSystem;
use serde::Serialize;

/// Proving seconds per unit of [`Layout::units`] and row, 2 cores (see the module docs).
pub const SECONDS_PER_UNIT_ROW: f64 = 2.45e-6;
/// Peak proving bytes per `(advice + fixed + selector)` column and row.
pub const BYTES_PER_COLUMN_ROW: f64 = 128.0;
/// Advice cells of the in-circuit verifier per point it reads (see the module docs).
pub const CELLS_PER_POINT: u64 = 104_000;
/// Aggregation proving seconds per million cells on 2 cores.
pub const AGG_PROVE_S_PER_MCELL: f64 = 113.0 / 6.7;
/// Aggregation keygen seconds per million cells on 2 cores.
pub const AGG_KEYGEN_S_PER_MCELL: f64 = 44.0 / 6.7;
/// Aggregation peak bytes per cell.
pub const AGG_BYTES_PER_CELL: f64 = 4.6e9 / 6.7e6;
/// Compressed selector columns per declared selector when keygen's compression is not at
/// hand: halo2 folds selectors never on in the same row, within the constraint system's
/// degree (the tiny block: 66 selectors in 24 columns).
const COMPRESSED_PER_SELECTOR: f64 = 24.0 / 66.0;

/// What the cost model reads of a configured circuit: its columns, lookup arguments, gate
/// degree and rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Layout {
    /// `log2` of the rows.
    pub k: u32,
    /// Advice columns.
    pub advice: usize,
    /// Fixed columns declared by the chips (selectors apart).
    pub fixed: usize,
    /// Selectors declared.
    pub selectors: usize,
    /// Fixed columns the selectors take after keygen's compression: exact when read from a
    /// verifying key ([`Layout::with_compressed_selectors`]), else estimated.
    pub selector_columns: usize,
    /// Lookup arguments.
    pub lookups: usize,
    /// Equality-enabled columns (instance included).
    pub equality: usize,
    /// The constraint system's degree.
    pub degree: usize,
}

impl Layout {
    /// The layout of `cs` over `2^k` rows, its compressed selectors estimated.
    pub fn of(cs: &ConstraintSystem<Fr>, k: u32) -> Self {
        let selectors = cs.num_selectors();
        Layout {
            k,
            advice: cs.num_advice_columns(),
            fixed: cs.num_fixed_columns(),
            selectors,
            selector_columns: (selectors as f64 * COMPRESSED_PER_SELECTOR).ceil() as usize,
            lookups: cs.lookups().len(),
            equality: cs.permutation().get_columns().len(),
            degree: cs.degree(),
        }
    }

    /// The same layout with the selector columns keygen actually made.
    pub fn with_compressed_selectors(self, selector_columns: usize) -> Self {
        Layout { selector_columns, ..self }
    }

    /// Rows.
    pub fn rows(&self) -> u64 {
        1u64 << self.k
    }

    /// The proving cost per row in advice-column units (see the module docs). Selectors
    /// count a quarter of a fixed column each, as the calibration runs did.
    pub fn units(&self) -> f64 {
        let fixed = self.fixed as f64 + self.selectors as f64 / 4.0;
        self.advice as f64 + 0.55 * fixed + 4.6 * self.lookups as f64 + 1.4 * self.equality as f64
    }

    /// Estimated proving seconds on 2 cores.
    pub fn prove_seconds(&self) -> f64 {
        SECONDS_PER_UNIT_ROW * self.units() * self.rows() as f64
    }

    /// Estimated peak proving memory in bytes.
    pub fn memory_bytes(&self) -> u64 {
        (BYTES_PER_COLUMN_ROW * (self.advice + self.fixed + self.selectors) as f64 * self.rows() as f64)
            as u64
    }

    /// Permutation product columns: `⌈E / (d − 2)⌉` (halo2 chunks the equality columns by
    /// the degree).
    fn permutation_products(&self) -> usize {
        match self.equality {
            0 => 0,
            e => e.div_ceil(self.degree.saturating_sub(2).max(1)),
        }
    }

    /// Points the verifying key carries: fixed and compressed selector columns, and one
    /// permutation column per equality-enabled column.
    pub fn key_points(&self) -> usize {
        self.fixed + self.selector_columns + self.equality
    }

    /// Points a proof carries: advice columns, each lookup's two permuted columns and its
    /// product, the permutation products and the vanishing argument's random polynomial.
    pub fn proof_points(&self) -> usize {
        self.advice + 3 * self.lookups + self.permutation_products() + 1
    }

    /// Points an in-circuit verifier reads for this circuit's proof (key and proof).
    pub fn points(&self) -> usize {
        self.key_points() + self.proof_points()
    }

    /// What this circuit's points cost in an aggregation circuit.
    pub fn aggregation(&self) -> Aggregation {
        Aggregation::of_points(self.points())
    }

    /// Chunk proving seconds plus the aggregation proving its points cause: the figure the
    /// layout chooser minimizes.
    pub fn total_seconds(&self) -> f64 {
        self.prove_seconds() + self.aggregation().prove_seconds
    }
}

/// The estimated cost of verifying some points in an aggregation circuit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Aggregation {
    /// Points the in-circuit verifiers read.
    pub points: usize,
    /// Advice cells.
    pub cells: u64,
    /// Keygen seconds on 2 cores.
    pub keygen_seconds: f64,
    /// Proving seconds on 2 cores.
    pub prove_seconds: f64,
    /// Peak memory in bytes.
    pub memory_bytes: u64,
}

impl Aggregation {
    /// The cost of verifying `points` points in-circuit.
    pub fn of_points(points: usize) -> Self {
        let cells = points as u64 * CELLS_PER_POINT;
        let mcells = cells as f64 / 1e6;
        Aggregation {
            points,
            cells,
            keygen_seconds: mcells * AGG_KEYGEN_S_PER_MCELL,
            prove_seconds: mcells * AGG_PROVE_S_PER_MCELL,
            memory_bytes: (cells as f64 * AGG_BYTES_PER_CELL) as u64,
        }
    }

    /// Advice columns at `2^k` rows.
    pub fn advice_columns(&self, k: u32) -> u64 {
        self.cells.div_ceil(1 << k)
    }
}

/// The proving cost of a configured circuit per row, in advice-column units
/// ([`Layout::units`]).
pub fn column_cost(cs: &ConstraintSystem<Fr>) -> f64 {
    Layout::of(cs, 0).units()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_count_key_and_proof_commitments() {
        let l = Layout {
            k: 16,
            advice: 10,
            fixed: 6,
            selectors: 9,
            selector_columns: 3,
            lookups: 2,
            equality: 4,
            degree: 5,
        };
        // Key: 6 fixed + 3 selector columns + 4 permutation columns; proof: 10 advice,
        // 2·3 lookup, ⌈4/3⌉ = 2 permutation products, 1 random polynomial.
        assert_eq!((l.key_points(), l.proof_points(), l.points()), (13, 19, 32));
        let agg = l.aggregation();
        assert_eq!(agg.cells, 32 * CELLS_PER_POINT);
        assert!((agg.prove_seconds / 32.0 - 1.75).abs() < 0.01, "{}", agg.prove_seconds);
        assert!(l.total_seconds() > l.prove_seconds() + agg.prove_seconds - 1e-9);
    }
}
