//! A chunk of one transformer block as one circuit: the attention half, the MLP half, or
//! both, from the block's input residual to its output residual, with weights in fixed
//! columns and Poseidon commitments to the input and output as the public instances.
//!
//! # Public instances
//!
//! One instance column with two rows: `[commit(input), commit(output)]`, each
//! [`crate::poseidon::commit_activations`] of the `[t, d]` residual
//! stream (token-major). Chunk `i + 1`'s input commitment must equal chunk `i`'s output
//! commitment; the verifier checks that chain and that each chunk's verifying key is the one
//! the model manifest lists (the key fixes the weights, multipliers, norm weights, RoPE
//! constants, tables and every shift).
//!
//! # Soundness chain
//!
//! The input is range-checked to the residual width, then every value is produced by a
//! chip that range-checks its output (norm, requant, RoPE, SwiGLU, residual add: all end in
//! a rescale), so every matmul input is a range-checked integer as the matmul chip requires,
//! and every commitment absorbs range-checked values as the Poseidon chip requires.
//!
//! # Layout
//!
//! Column groups side by side, each with its own row cursor ([`BlockConfig`]):
//! elementwise lanes (range checks of the input, requantizations, RoPE, SwiGLU, residual
//! adds; spread over lanes of their own, [`BlockShape::own_lanes`], and lanes below the
//! stacked chips in their shared columns, [`BlockShape::pool_lanes`]; SiLU and SwiGLU on lane
//! 0), the matmul chip (all products, then the phase-2 Freivalds checks), and one shared set
//! of columns ([`crate::pool`]) in which RMSNorm, Poseidon and the attention chip stack one
//! below the other: each of them fills only a few percent of a chunk's rows, so owning
//! columns of full height each would cost their width over all `2^k` rows (and a lookup
//! argument per range check). The rows of each group are in [`RowCounts`].
//! [`BlockShape::of`] tries the smallest `k ≥` [`MIN_K`] holding the tallest group and the
//! next one, each with range limbs of `k − 2` bits ([`limb_bits_for`]: fewer rows per
//! rescale) in either range layout ([`crate::range::RangeLayout`]), the fewest matmul weight
//! lanes that fit and every split of the elementwise lanes (none of their own when all fit
//! in the shared columns), and keeps the layout that [`crate::cost`]'s measured cost model
//! finds cheapest — with each chip's range checks in range columns of its own, or copied
//! into a range bus of as many columns as their rows need ([`crate::range::bus`];
//! [`RangeCensus`] counts them), which trades each chip's range lookups, fixed columns and
//! selectors for a copy constraint per value. Below
//! `k = 17` the 2^16-point nonlinearity tables fold into 2 or 4 output columns per row
//! ([`crate::lookup`]), so a small block proves at `k = 15`.

mod census;
mod config;
mod consts;
mod cursor;
mod shape;
mod synth;
pub(crate) mod wire;

pub use census::RangeCensus;
pub use config::{BlockConfig, ElemLane};
pub use consts::{AttnConsts, BlockConsts, Linear, MlpConsts, Part};
pub use cursor::Lanes;
pub use shape::{
    limb_bits_for, usable_rows, BlockShape, RowCounts, MATMUL_LANES, MATMUL_LANE_CHOICES, MAX_K,
    MAX_POOL_LANES, MIN_K, RESERVED_ROWS,
};
pub use wire::{MAX_ELEM_LANES, MAX_SHAPE_TOKENS};

use std::sync::Arc;

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Circuit, ConstraintSystem, Error};

use crate::attention::AttentionChip;
use crate::failure::{self, Chip, Failure, Problem, Span};
use crate::lookup::LookupChip;
use crate::matmul::MatmulChip;
use crate::norm::NormChip;
use crate::poseidon::commit_activations;

/// One block chunk: its constants (shared, they are the verifying key's content) and, when
/// proving, its input.
#[derive(Clone, Debug)]
pub struct BlockCircuit {
    consts: Arc<BlockConsts>,
    shape: BlockShape,
    input: Option<Vec<i64>>,
    /// An advice cell overwritten after the honest assignment (tests of internal cells).
    #[cfg(test)]
    tamper: Option<tests::Tamper>,
}

impl BlockCircuit {
    /// The circuit for keygen (no input).
    pub fn keygen(consts: Arc<BlockConsts>) -> Self {
        let shape = BlockShape::of(&consts);
        BlockCircuit {
            consts,
            shape,
            input: None,
            #[cfg(test)]
            tamper: None,
        }
    }

    /// The circuit proving the chunk on `input` (`[t, d]`, the residual stream).
    pub fn new(consts: Arc<BlockConsts>, input: Vec<i64>) -> Self {
        BlockCircuit { input: Some(input), ..Self::keygen(consts) }
    }

    /// The circuit for `shape` rather than the one [`BlockShape::of`] picks (tests of other
    /// layouts of the same chunk).
    #[cfg(test)]
    pub(crate) fn with_shape(consts: Arc<BlockConsts>, shape: BlockShape, input: Vec<i64>) -> Self {
        BlockCircuit { consts, shape, input: Some(input), tamper: None }
    }

    /// This circuit with one advice cell overwritten after the honest assignment.
    #[cfg(test)]
    pub(crate) fn tampered(self, tamper: tests::Tamper) -> Self {
        BlockCircuit { tamper: Some(tamper), ..self }
    }

    /// The shape (configuration parameters).
    pub fn shape(&self) -> BlockShape {
        self.shape
    }

    /// The constants.
    pub fn consts(&self) -> &Arc<BlockConsts> {
        &self.consts
    }

    /// Refuses what synthesis would refuse of the input before any keygen: a length other
    /// than `t · d`, or a value outside the residual stream's calibrated range.
    pub fn check_input(&self) -> Result<(), Failure> {
        let (Some(v), c) = (&self.input, &*self.consts) else { return Ok(()) };
        let span = Span::signed(c.resid.bits);
        let problem = Problem::length("input", c.t * c.config.hidden_size, v.len())
            .or_else(|| Problem::first_outside("input", v.iter().map(|&v| Some(v.into())), span));
        problem.map_or(Ok(()), |problem| Err(Failure { chip: Chip::Block, problem }))
    }

    /// The public instances of a run from `input` to `output`.
    pub fn instances(input: &[i64], output: &[i64]) -> Vec<Vec<Fr>> {
        vec![vec![commit_activations(input), commit_activations(output)]]
    }
}

impl Circuit<Fr> for BlockCircuit {
    type Config = BlockConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = BlockShape;

    fn without_witnesses(&self) -> Self {
        BlockCircuit { input: None, ..self.clone() }
    }

    fn params(&self) -> BlockShape {
        self.shape
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, shape: BlockShape) -> BlockConfig {
        BlockConfig::configure(meta, shape)
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> BlockConfig {
        BlockConfig::configure(meta, BlockShape::default())
    }

    fn synthesize(&self, config: BlockConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        failure::clear();
        let c = &*self.consts;
        if config.shape != self.shape {
            return Err(failure::internal(Chip::Block, "the configuration is not the circuit's shape"));
        }
        config.range_table.load(&mut layouter)?;
        NormChip::construct(config.norm, &c.tables.rsqrt).load(&mut layouter)?;
        LookupChip::construct(config.norm.rsqrt, &c.tables.rsqrt).load(&mut layouter)?;
        if let Some(silu) = config.lanes.first().and_then(|l| l.silu) {
            LookupChip::construct(silu.lookup, &c.tables.silu).load(&mut layouter)?;
        }
        if let Some(attention) = &config.attention {
            AttentionChip::construct(attention.clone(), &c.tables)?.load(&mut layouter)?;
        }
        self.check_input().map_err(failure::record)?;
        let input = match &self.input {
            Some(v) => Value::known(v.as_slice()),
            None => Value::unknown(),
        };
        let phase1 = layouter.assign_region(
            || "block",
            |mut region| {
                let (phase1, checks) =
                    crate::range::bus::collect(|| synth::Synth::new(&config, c).run(&mut region, input))?;
                match &config.range_bus {
                    Some(bus) => bus.assign(&mut region, usable_rows(self.shape.k), self.shape.k, &checks)?,
                    None if checks.is_empty() => {}
                    None => return Err(failure::internal(Chip::Block, "range checks deferred with no bus")),
                }
                Ok(phase1)
            },
        )?;
        layouter.next_phase();
        let matmul = MatmulChip::construct(config.matmul.clone());
        for product in &phase1.products {
            matmul.assign_check(&mut layouter, product)?;
        }
        layouter.constrain_instance(phase1.input_commitment, config.instance, 0);
        layouter.constrain_instance(phase1.output_commitment, config.instance, 1);
        #[cfg(test)]
        if let Some(t) = &self.tamper {
            t.apply(&mut layouter)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
