//! Requantization of a matrix product's accumulator by its output row's multiplier:
//! `y = rescale(acc · m_j, shift, bits)`, exactly as [`zkinfer_quantize::int::ops::linear`]
//! computes each output from the exact dot product.
//!
//! `m_j` is a constant of the model (a [`QLinear`]'s per-row `mult`), so it sits in a fixed
//! column and the verifying key binds it like the weights.
//!
//! # Layout
//!
//! An element uses `R = site.rows()` rows from its offset `o`, sharing the rescale chip's
//! columns:
//!
//! | row | `acc` (advice) | `m` (fixed) | `q_requant` | rescale chip |
//! |---|---|---|---|---|
//! | `o` | `acc` | `m_j` | 1 | `x = acc·m_j` → `y` |
//!
//! Gate `requant` (on `q_requant`), degree 3:
//!
//! | constraint | equation |
//! |---|---|
//! | `x = acc*m` | `x − acc·m = 0` |
//!
//! Bounds: with `|x_i| < 2^(in_bits−1)`, effective weights below `2^(w_bits−1)` and `cols`
//! inputs, `|acc| < 2^(in_bits + w_bits − 2 + ⌈log2 cols⌉)`, and `m < 2^MULT_BITS`, so
//! [`requant_site`] promises `x_bits = in_bits + w_bits + ⌈log2 cols⌉ + MULT_BITS`.
//!
//! [`QLinear`]: zkinfer_quantize::qmodel::QLinear

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Fixed, Selector};
use halo2_proofs::poly::Rotation;
use zkinfer_quantize::qmodel::{QLinear, MULT_BITS};

use crate::failure::{check, Chip, Problem};
use crate::field::{fr_to_i128, i128_to_fr, AssignedFr};
use crate::rescale::{RescaleChip, RescaleConfig, RescaleSite, RescaleWitness};

/// Bits of a [`QLinear`]'s effective weights (an 8-bit weight times a 16-bit scale code).
pub const EFFECTIVE_WEIGHT_BITS: u32 = 24;

/// `⌈log2 n⌉` (0 for `n ≤ 1`).
pub fn ceil_log2(n: usize) -> u32 {
    usize::BITS - n.saturating_sub(1).leading_zeros()
}

/// The rescale site of `linear`'s outputs over `in_bits`-bit inputs.
pub fn requant_site(linear: &QLinear, in_bits: u32) -> Result<RescaleSite, Error> {
    let x_bits = in_bits + EFFECTIVE_WEIGHT_BITS + ceil_log2(linear.cols) + MULT_BITS;
    RescaleSite::new(linear.shift, linear.out.bits, x_bits)
}

/// Columns, selector and gate of the requant chip; the rescale columns are shared.
#[derive(Clone, Copy, Debug)]
pub struct RequantConfig {
    /// The accumulator (equality enabled).
    pub acc: Column<Advice>,
    /// The row's multiplier.
    pub mult: Column<Fixed>,
    /// Enables the `requant` gate.
    pub q_requant: Selector,
    /// The rescale the gate feeds.
    pub rescale: RescaleConfig,
}

impl RequantConfig {
    /// Declares the gate `requant` over the accumulator column `acc` (which may be shared
    /// with other chips), a new fixed multiplier column and the input of `rescale`.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, rescale: RescaleConfig, acc: Column<Advice>) -> Self {
        meta.enable_equality(acc);
        let mult = meta.fixed_column();
        let q_requant = meta.selector();
        meta.create_gate("requant", |meta| {
            let q = meta.query_selector(q_requant);
            let cur = Rotation::cur();
            let x = meta.query_advice(rescale.x, cur);
            let acc = meta.query_advice(acc, cur);
            let m = meta.query_fixed(mult, cur);
            vec![("x = acc*m", q * (x - acc * m))]
        });
        RequantConfig { acc, mult, q_requant, rescale }
    }
}

/// Assigns requantizations.
#[derive(Clone, Copy, Debug)]
pub struct RequantChip {
    config: RequantConfig,
}

impl RequantChip {
    /// A chip over `config`.
    pub fn construct(config: RequantConfig) -> Self {
        RequantChip { config }
    }

    /// Requantizes the accumulator in the cell at `acc` (any cell with equality enabled)
    /// by the multiplier `m` at rows `offset .. offset + site.rows()`; returns the output
    /// cell. `Error::Synthesis` when `acc·m` is outside the site's reach.
    pub fn assign<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        acc: Cell,
        acc_value: Value<Fr>,
        m: i64,
        site: &RescaleSite,
    ) -> Result<AssignedFr<'v>, Error> {
        let acc_int = acc_value.map(fr_to_i128);
        let witness = acc_int.map(|a| {
            let a = a?;
            a.checked_mul(i128::from(m)).filter(|&x| site.accepts(x)).map(|x| (a, x))
        });
        let x = acc_int.map(|a| a.and_then(|a| a.checked_mul(i128::from(m))));
        check(&x, Chip::Requant, |x| Problem::unless_in("accumulator × multiplier", *x, site.input_span()))?;
        let (a, x) = (witness.map(|w| w.unwrap_or_default().0), witness.map(|w| w.unwrap_or_default().1));
        let w = x.map(|x| RescaleWitness::new(x, site));
        let (acc_cell, y) = self.assign_witness(region, offset, a, m, site, w)?;
        region.constrain_equal(acc, acc_cell.cell());
        Ok(y)
    }

    /// Assigns one element from a precomputed (possibly dishonest) accumulator and
    /// rescale witness; returns the cells `(acc, y)`.
    pub fn assign_witness<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        acc: Value<i128>,
        m: i64,
        site: &RescaleSite,
        w: Value<RescaleWitness>,
    ) -> Result<(AssignedFr<'v>, AssignedFr<'v>), Error> {
        let cfg = &self.config;
        cfg.q_requant.enable(region, offset)?;
        region.assign_fixed(cfg.mult, offset, i128_to_fr(i128::from(m)));
        let acc = region.assign_advice(cfg.acc, offset, acc.map(i128_to_fr));
        let y = RescaleChip::construct(cfg.rescale).assign_witness(region, offset, site, w)?.y;
        Ok((acc, y))
    }
}

#[cfg(test)]
mod tests;
