//! The model head as chunk circuits: the final RMSNorm of the last token, the `lm_head`
//! rows of a vocabulary slice (a Freivalds matmul with the weights in fixed columns, then a
//! requantization per row) and the argmax of the slice's logits, chained across slices.
//!
//! Only the last token is normalized and projected: the proof is of the next-token
//! prediction. The whole `[t, d]` input is range-checked and committed, so the head links to
//! the last block chunk's output commitment.
//!
//! # Public instances
//!
//! One instance column. A chunk over the vocabulary slice `[lo, hi)`:
//!
//! | slice | instances |
//! |---|---|
//! | first (`lo = 0`) | `[commit(input), best_index, best_logit]` |
//! | later (`lo > 0`) | `[commit(input), prior_index, prior_logit, best_index, best_logit]` |
//!
//! `best` is the first maximum over the vocabulary `[0, hi)`: a later slice proves the
//! argmax of its logits with the earlier slices' best put first, so an earlier index wins
//! ties. Logits are signed integers encoded as field elements (`p − |x|` when negative).
//! The verifier checks, with [`check_chain`], that the slices' input commitments all equal
//! the last block's output commitment and that each slice's prior is its predecessor's
//! best; the last slice's best is the next token. As with the blocks, each slice's
//! verifying key must be the one the model manifest lists for its slice: the key fixes the
//! norm weights, the `lm_head` rows and multipliers, the shifts and the slice's vocabulary
//! positions, and whether the slice takes a prior.
//!
//! # Soundness chain
//!
//! The input is range-checked to the residual width; the norm's output is range-checked
//! by its rescale (the matmul's inputs), each logit by its requantization's rescale (the
//! argmax's inputs). A prior logit is the previous slice's range-checked best.
//!
//! # Layout and cost
//!
//! Column groups side by side, each from row 0 ([`HeadRows`]): elementwise lanes (the
//! input's range checks, one requantization per logit), the norm (one token), the matmul
//! (`V + d·⌈V/64⌉` rows for a slice of `V` rows, [`HEAD_MATMUL_LANES`]), the argmax
//! (`R(logit bits)` rows per logit), Poseidon (`38·⌈t·d/6⌉ + 1` rows; the final norm stacks
//! below it in the same columns). The tiny model's whole vocabulary (256 × 64) fits
//! `k = 15`; SmolLM2's (49,152 × 576) needs 491k matmul rows, `k = 19`, or slices of at most
//! 13,056 rows at `k = 17` (4 slices of 12,288, [`vocab_slices`]).

mod config;
mod consts;
mod shape;
mod synth;

pub use config::HeadConfig;
pub use consts::HeadConsts;
pub use shape::{vocab_slices, HeadRows, HeadShape, HEAD_MATMUL_LANES};

use std::sync::Arc;

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Circuit, ConstraintSystem, Error};

use crate::argmax::Prior;
use crate::failure::{self, Chip};
use crate::field::{fr_to_i128, i128_to_fr};
use crate::lookup::LookupChip;
use crate::matmul::{MatmulChip, MatmulError};
use crate::norm::NormChip;
use crate::poseidon::commit_activations;

/// Errors building a head chunk or checking a chain of slices.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// A head over no tokens.
    #[error("the head needs at least one token")]
    NoTokens,
    /// The final norm and `lm_head` disagree on the hidden width.
    #[error("final norm width {norm} differs from lm_head's {lm_head} columns")]
    Width {
        /// The norm's width.
        norm: usize,
        /// `lm_head`'s columns.
        lm_head: usize,
    },
    /// `lm_head`'s stored vectors do not match its shape.
    #[error("lm_head's weights, scales or multipliers do not match its {rows} x {cols} shape")]
    LmHeadShape {
        /// Rows.
        rows: usize,
        /// Columns.
        cols: usize,
    },
    /// An empty slice or one past the vocabulary.
    #[error("vocabulary slice [{lo}, {hi}) is empty or outside the vocabulary of {vocab}")]
    VocabRange {
        /// Slice start.
        lo: usize,
        /// Slice end.
        hi: usize,
        /// Vocabulary size.
        vocab: usize,
    },
    /// A scale the chips do not accept.
    #[error("the {0} site is outside what the chips accept: {1}")]
    Site(&'static str, String),
    /// `lm_head` weights the matmul chip refuses.
    #[error("lm_head weights: {0}")]
    Weights(MatmulError),
    /// An input of the wrong length.
    #[error("expected an input of {expected} values, got {got}")]
    InputLength {
        /// `t·d`.
        expected: usize,
        /// Given.
        got: usize,
    },
    /// A prior given to the first slice, or missing for a later one.
    #[error("a slice starting at {lo} takes a prior best exactly when lo > 0")]
    Prior {
        /// Slice start.
        lo: usize,
    },
    /// Slice instances of the wrong length.
    #[error("slice {slice} has {got} instances, expected {expected}")]
    InstanceCount {
        /// Slice number.
        slice: usize,
        /// Expected count.
        expected: usize,
        /// Given.
        got: usize,
    },
    /// A slice whose input commitment differs from the first slice's.
    #[error("slice {slice} commits to a different input than slice 0")]
    InputMismatch {
        /// Slice number.
        slice: usize,
    },
    /// A slice whose prior is not its predecessor's best.
    #[error("slice {slice}'s prior best is not slice {}'s best", slice - 1)]
    BrokenChain {
        /// Slice number.
        slice: usize,
    },
    /// An index or logit that is not an integer of the expected range.
    #[error("slice {slice}'s best index or logit is not an integer")]
    NotAnInteger {
        /// Slice number.
        slice: usize,
    },
    /// No slices.
    #[error("no head slices")]
    NoSlices,
}

/// One head chunk: its constants and, when proving, its input and prior.
#[derive(Clone, Debug)]
pub struct HeadCircuit {
    consts: Arc<HeadConsts>,
    shape: HeadShape,
    input: Option<Vec<i64>>,
    prior: Option<Prior>,
}

impl HeadCircuit {
    /// The circuit for keygen (no witness).
    pub fn keygen(consts: Arc<HeadConsts>) -> Self {
        let shape = HeadShape::of(&consts);
        HeadCircuit { consts, shape, input: None, prior: None }
    }

    /// The circuit proving the slice on `input` (`[t, d]`, the last block's output
    /// residual) after the earlier slices' best `prior` (`None` for the first slice).
    pub fn new(consts: Arc<HeadConsts>, input: Vec<i64>, prior: Option<Prior>) -> Result<Self, HeadError> {
        let c = &consts;
        if input.len() != c.t * c.d {
            return Err(HeadError::InputLength { expected: c.t * c.d, got: input.len() });
        }
        if prior.is_some() != c.has_prior() {
            return Err(HeadError::Prior { lo: c.vocab.start });
        }
        Ok(HeadCircuit { input: Some(input), prior, ..Self::keygen(consts) })
    }

    /// The shape (configuration parameters).
    pub fn shape(&self) -> HeadShape {
        self.shape
    }

    /// The constants.
    pub fn consts(&self) -> &Arc<HeadConsts> {
        &self.consts
    }

    /// The public instances of a slice on `input` with `prior` (later slices) and `best`.
    pub fn instances(input: &[i64], prior: Option<Prior>, best: Prior) -> Vec<Vec<Fr>> {
        let mut v = vec![commit_activations(input)];
        for p in prior.iter().chain([&best]) {
            v.extend([Fr::from(p.index), i128_to_fr(p.logit)]);
        }
        vec![v]
    }

    /// The honest instances of this slice from the integer reference.
    pub fn honest_instances(
        consts: &HeadConsts,
        input: &[i64],
        prior: Option<Prior>,
    ) -> Result<Vec<Vec<Fr>>, HeadError> {
        let best = consts.best(input, prior)?;
        Ok(Self::instances(input, prior, best))
    }
}

/// Checks the instances of a chain of slices (in vocabulary order; each a single column as
/// [`HeadCircuit::instances`] lays it out): one input commitment, each prior its
/// predecessor's best. Returns `(input commitment, best)`, the best being the next token
/// and its logit. The verifier separately checks each proof and that each slice's key is
/// the manifest's key for that slice.
pub fn check_chain(slices: &[Vec<Fr>]) -> Result<(Fr, Prior), HeadError> {
    let first = slices.first().ok_or(HeadError::NoSlices)?;
    let mut best: Option<&[Fr]> = None;
    for (s, inst) in slices.iter().enumerate() {
        let expected = if s == 0 { 3 } else { 5 };
        if inst.len() != expected {
            return Err(HeadError::InstanceCount { slice: s, expected, got: inst.len() });
        }
        if inst[0] != first[0] {
            return Err(HeadError::InputMismatch { slice: s });
        }
        if let Some(prev) = best {
            if prev != &inst[1..3] {
                return Err(HeadError::BrokenChain { slice: s });
            }
        }
        best = Some(&inst[expected - 2..]);
    }
    let last = slices.len() - 1;
    let best = best.ok_or(HeadError::NoSlices)?;
    let index = fr_to_i128(best[0]).and_then(|i| u64::try_from(i).ok());
    let logit = fr_to_i128(best[1]);
    match (index, logit) {
        (Some(index), Some(logit)) => Ok((first[0], Prior { index, logit })),
        _ => Err(HeadError::NotAnInteger { slice: last }),
    }
}

impl Circuit<Fr> for HeadCircuit {
    type Config = HeadConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = HeadShape;

    fn without_witnesses(&self) -> Self {
        HeadCircuit { input: None, prior: None, ..self.clone() }
    }

    fn params(&self) -> HeadShape {
        self.shape
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, shape: HeadShape) -> HeadConfig {
        HeadConfig::configure(meta, shape)
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> HeadConfig {
        HeadConfig::configure(meta, HeadShape::default())
    }

    fn synthesize(&self, config: HeadConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        failure::clear();
        let c = &*self.consts;
        if config.shape != self.shape || config.argmax.bits != c.lm.out.bits || c.t == 0 {
            return Err(failure::internal(Chip::Head, "the configuration is not the circuit's shape"));
        }
        config.range_table.load(&mut layouter)?;
        NormChip::construct(config.norm, &c.tables.rsqrt).load(&mut layouter)?;
        LookupChip::construct(config.norm.rsqrt, &c.tables.rsqrt).load(&mut layouter)?;
        let input = match &self.input {
            Some(v) if v.len() != c.t * c.d => {
                return Err(failure::wrong_length(Chip::Head, "input", c.t * c.d, v.len()))
            }
            Some(v) => Value::known(v.as_slice()),
            None => Value::unknown(),
        };
        let prior = c.has_prior().then(|| self.prior.map_or(Value::unknown(), Value::known));
        let phase1 = layouter
            .assign_region(|| "head", |mut region| synth::run(&config, c, &mut region, input, prior))?;
        layouter.next_phase();
        MatmulChip::construct(config.matmul.clone()).assign_check(&mut layouter, &phase1.product)?;
        let mut row = 0;
        layouter.constrain_instance(phase1.input_commitment, config.instance, row);
        if let Some((index, logit)) = phase1.prior {
            layouter.constrain_instance(index, config.instance, 1);
            layouter.constrain_instance(logit, config.instance, 2);
            row = 2;
        }
        layouter.constrain_instance(phase1.index, config.instance, row + 1);
        layouter.constrain_instance(phase1.max, config.instance, row + 2);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
