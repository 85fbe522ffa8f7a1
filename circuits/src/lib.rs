//! zkinfer-circuits: halo2 chips (KZG over BN254) that constrain the integer reference
//! forward pass of `zkinfer-quantize`.
#![deny(missing_docs)]

pub mod matmul;
