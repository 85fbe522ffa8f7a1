//! halo2 chips (KZG over BN254, halo2-axiom) for zkinfer's chunk circuits.
#![deny(missing_docs)]

pub mod poseidon;
