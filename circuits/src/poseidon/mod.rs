//! Poseidon commitments to the activations that cross chunk boundaries.
//!
//! - [`native`]: the versioned commitment [`commit_activations`] and the sponge
//!   [`sponge_hash`] under it, computed outside the circuit;
//! - [`trace`]: the witness of a commitment region, row by row;
//! - [`chip`]: [`PoseidonChip`], which computes the same commitment in-circuit from
//!   assigned activation cells (and [`sponge_hash`] from field-element cells), at degree 3.
//!
//! Cost: one permutation absorbs 6 activations on 38 rows of 9 advice columns, i.e.
//! 6.33 rows and 57 advice cells per activation (plus 39 rows for the last, partly filled
//! block and the output row).

pub mod chip;
pub mod native;
pub mod trace;

pub use chip::{ActivationCell, AssignedFr, PoseidonChip, PoseidonConfig};
pub use native::{commit_activations, sponge_hash, Bn254Spec, COMMITMENT_VERSION};
pub use trace::{Absorb, CommitTrace};
