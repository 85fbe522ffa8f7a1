//! What each planned chunk will cost, from its real circuit layout: proving time and memory,
//! and the points its proof and key carry into an aggregation circuit — all from the one
//! cost model ([`zkinfer_circuits::cost`], where the calibration lives).

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::plonk::{Circuit, ConstraintSystem, VerifyingKey};
use serde::Serialize;
use zkinfer_circuits::block::BlockCircuit;
use zkinfer_circuits::cost::Layout;
use zkinfer_circuits::head::HeadCircuit;

use super::plan::{ChunkKind, ChunkSpec};

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
    /// Fixed columns (selectors included, before compression).
    pub fixed_columns: usize,
    /// Lookup arguments.
    pub lookups: usize,
    /// Equality-enabled columns.
    pub equality_columns: usize,
    /// Points an aggregation circuit's verifier reads for this chunk (key and proof).
    pub points: usize,
    /// Estimated proving seconds on 2 cores.
    pub prove_seconds: f64,
    /// Estimated peak memory in bytes.
    pub memory_bytes: u64,
    /// Estimated aggregation proving seconds its points cause on 2 cores.
    pub aggregation_seconds: f64,
}

/// The layout of a `kind` chunk's circuit: its shape alone decides it, so no weights are
/// needed (a progress bar or a keys file can ask).
pub fn kind_layout(kind: &ChunkKind) -> Layout {
    let mut cs = ConstraintSystem::<Fr>::default();
    match kind {
        ChunkKind::Block { shape, .. } => {
            BlockCircuit::configure_with_params(&mut cs, *shape);
        }
        ChunkKind::Head { shape, .. } => {
            HeadCircuit::configure_with_params(&mut cs, *shape);
        }
    }
    Layout::of(&cs, kind.k())
}

/// The layout of `spec`'s circuit.
pub fn chunk_layout(spec: &ChunkSpec) -> Layout {
    kind_layout(&spec.kind)
}

/// The layout and estimated cost of `spec`'s circuit.
pub fn estimate_chunk(spec: &ChunkSpec) -> ChunkEstimate {
    let l = chunk_layout(spec);
    ChunkEstimate {
        index: spec.index,
        what: spec.kind.to_string(),
        k: l.k,
        advice_columns: l.advice,
        fixed_columns: l.fixed + l.selectors,
        lookups: l.lookups,
        equality_columns: l.equality,
        points: l.points(),
        prove_seconds: l.prove_seconds(),
        memory_bytes: l.memory_bytes(),
        aggregation_seconds: l.aggregation().prove_seconds,
    }
}

/// The layout of a `kind` chunk's circuit with its selector columns as keygen made them in
/// `vk`: its [`Layout::points`] are exactly those an in-circuit verifier reads.
pub fn keyed_layout(kind: &ChunkKind, vk: &VerifyingKey<G1Affine>) -> Layout {
    let l = kind_layout(kind);
    l.with_compressed_selectors(vk.fixed_commitments().len().saturating_sub(l.fixed))
}
