//! Poseidon commitments to the activations that cross chunk boundaries.
//!
//! - [`native`]: the versioned commitment [`commit_activations`] and the sponge
//!   [`sponge_hash`] under it, computed outside the circuit;
//! - [`trace`]: the witness of a sponge region, row by row;
//! - [`chip`]: [`PoseidonChip`], which computes the same commitment in-circuit from
//!   assigned activation cells (and [`sponge_hash`] from field-element cells), at degree 3.
//!
//! # Cost
//!
//! One permutation absorbs 6 activations on 38 rows of 9 advice columns: 6.33 rows and
//! 57 advice cells per activation, `38·max(1, ⌈n/6⌉) + 1` rows for `n` activations
//! (2,304 activations, a SmolLM2 boundary of 4 tokens × 576: 14,593 rows, 131 k advice
//! cells). Fixed columns: 7, plus one per selector (6). Equality is enabled on 7 of the 9
//! advice columns (`s0` for the output, `aux0..5` for the copied activations); at degree 3
//! halo2 gives each equality column its own permutation product, unless the chunk circuit
//! already enables equality on the columns it lends this chip.

pub mod chip;
pub mod native;
pub mod trace;

pub use chip::{ActivationCell, AssignedFr, PoseidonChip, PoseidonConfig};
pub use native::{commit_activations, sponge_hash, Bn254Spec, COMMITMENT_VERSION};
pub use trace::{Absorb, CommitTrace};
