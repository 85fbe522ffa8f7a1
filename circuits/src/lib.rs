//! halo2 chips (KZG over BN254, halo2-axiom) that constrain the integer model's
//! fixed-point operations exactly as `zkinfer_quantize` computes them.
//!
//! - [`field`]: signed integers as field elements;
//! - [`range`]: range checks by byte decomposition;
//! - [`rescale`]: `round_shift` then `saturate`, the rescale of every site;
//! - [`lookup`]: the nonlinearity tables, with SiLU's and exp's out-of-domain branches.
//!
//! halo2-axiom's `SimpleFloorPlanner` places every region at row 0, so chips take an
//! absolute row `offset` and say how many rows they use; the caller keeps the cursor.
#![deny(missing_docs)]

pub mod field;
pub mod lookup;
pub mod range;
pub mod rescale;

#[cfg(test)]
mod testing;
