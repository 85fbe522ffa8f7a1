//! Saturating residual add `y = saturate(a + b, bits)`, exactly as
//! [`zkinfer_quantize::int::ops::add`] computes it.
//!
//! The saturation is the rescale chip with shift 0: `round_shift(x, 0) = x`, so
//! `rescale(a + b, 0, bits) = saturate(a + b, bits)`. A dedicated saturation check would
//! save only the quotient cell and the one-row zero remainder (2 of the `4 + 1 + R(bits) +
//! R(in_bits + 1)` cells, 13 of 15 remaining for 16 bits) and would be a second
//! saturation gate to audit; the row count is the same, since the output and excess
//! range checks set it either way.
//!
//! # Layout
//!
//! An element uses `R = site.rows()` rows from its offset `o`, sharing the rescale
//! chip's columns:
//!
//! | row | `a` | `b` | `q_residual` | rescale chip (shift 0) |
//! |---|---|---|---|---|
//! | `o` | `a` | `b` | 1 | `x = a + b` → `y` |
//!
//! Gate `residual` (on `q_residual`), degree 2:
//!
//! | constraint | equation |
//! |---|---|
//! | `x = a + b` | `x − a − b = 0` |
//!
//! With `|a|, |b| ≤ 2^(in_bits−1)`, `a + b` fits `in_bits + 1` bits ([`residual_site`]).

use halo2_proofs::circuit::{Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Selector};
use halo2_proofs::poly::Rotation;

use crate::failure::{check, internal, Chip, Problem};
use crate::field::{cell_i128, i128_to_fr, AssignedFr};
use crate::rescale::{RescaleChip, RescaleConfig, RescaleSite, RescaleWitness};

/// The rescale site of a residual add of two `in_bits`-bit values saturated to `bits`.
pub fn residual_site(in_bits: u32, bits: u32) -> Result<RescaleSite, Error> {
    RescaleSite::new(0, bits, in_bits + 1)
}

/// Every witness value of one element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResidualWitness {
    /// First summand.
    pub a: i128,
    /// Second summand.
    pub b: i128,
    /// The saturation (rescale by 0) of `a + b`.
    pub rescale: RescaleWitness,
}

impl ResidualWitness {
    /// The honest witness of `a + b`.
    pub fn new(a: i128, b: i128, site: &RescaleSite) -> Self {
        ResidualWitness { a, b, rescale: RescaleWitness::new(a + b, site) }
    }
}

/// Columns, selector and gate of the residual chip (see the [module docs](self)); the
/// rescale columns are shared.
#[derive(Clone, Copy, Debug)]
pub struct ResidualConfig {
    /// First summand (equality enabled).
    pub a: Column<Advice>,
    /// Second summand (equality enabled).
    pub b: Column<Advice>,
    /// Enables the `residual` gate.
    pub q_residual: Selector,
    /// The saturation the gate feeds.
    pub rescale: RescaleConfig,
}

impl ResidualConfig {
    /// Declares the gate `residual` over the summand columns `a`, `b` (which may be shared
    /// with other chips) and the input column of `rescale`.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        rescale: RescaleConfig,
        a: Column<Advice>,
        b: Column<Advice>,
    ) -> Self {
        meta.enable_equality(a);
        meta.enable_equality(b);
        let q_residual = meta.selector();
        meta.create_gate("residual", |meta| {
            let q = meta.query_selector(q_residual);
            let cur = Rotation::cur();
            let x = meta.query_advice(rescale.x, cur);
            let a = meta.query_advice(a, cur);
            let b = meta.query_advice(b, cur);
            vec![("x = a + b", q * (x - a - b))]
        });
        ResidualConfig { a, b, q_residual, rescale }
    }
}

/// The cells of one element that other chips connect to.
#[derive(Clone, Debug)]
pub struct ResidualCells<'v> {
    /// The first summand.
    pub a: AssignedFr<'v>,
    /// The second summand.
    pub b: AssignedFr<'v>,
    /// The output.
    pub y: AssignedFr<'v>,
}

/// Assigns residual adds.
#[derive(Clone, Copy, Debug)]
pub struct ResidualChip {
    config: ResidualConfig,
}

impl ResidualChip {
    /// A chip over `config`.
    pub fn construct(config: ResidualConfig) -> Self {
        ResidualChip { config }
    }

    /// The chip's configuration.
    pub fn config(&self) -> &ResidualConfig {
        &self.config
    }

    /// Adds the values of the cells `a`, `b` at rows `offset .. offset + site.rows()`:
    /// copies them in and returns the cell of `saturate(a + b, bits)`. `Error::Synthesis`
    /// when `site` has a shift or `a + b` is outside its reach.
    pub fn assign<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        a: &AssignedFr<'_>,
        b: &AssignedFr<'_>,
        site: &RescaleSite,
    ) -> Result<AssignedFr<'v>, Error> {
        let witness = cell_i128(a).zip(cell_i128(b)).map(|pair| match pair {
            (Some(a), Some(b)) => {
                a.checked_add(b).filter(|&x| site.accepts(x)).map(|_| ResidualWitness::new(a, b, site))
            }
            _ => None,
        });
        let x = cell_i128(a).zip(cell_i128(b)).map(|(a, b)| a.zip(b).and_then(|(a, b)| a.checked_add(b)));
        check(&x, Chip::Residual, |x| Problem::unless_in("sum a + b", *x, site.input_span()))?;
        let fallback = ResidualWitness::new(0, 0, site);
        let cells = self.assign_witness(region, offset, site, witness.map(|w| w.unwrap_or(fallback)))?;
        region.constrain_equal(a.cell(), cells.a.cell());
        region.constrain_equal(b.cell(), cells.b.cell());
        Ok(cells.y)
    }

    /// Assigns one element from a precomputed (possibly dishonest) witness at rows
    /// `offset .. offset + site.rows()`; `Error::Synthesis` when `site` has a shift.
    pub fn assign_witness<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        site: &RescaleSite,
        w: Value<ResidualWitness>,
    ) -> Result<ResidualCells<'v>, Error> {
        if site.shift != 0 {
            return Err(internal(Chip::Residual, "a residual site with a shift"));
        }
        let cfg = &self.config;
        cfg.q_residual.enable(region, offset)?;
        let a = region.assign_advice(cfg.a, offset, w.map(|w| i128_to_fr(w.a)));
        let b = region.assign_advice(cfg.b, offset, w.map(|w| i128_to_fr(w.b)));
        let y =
            RescaleChip::construct(cfg.rescale).assign_witness(region, offset, site, w.map(|w| w.rescale))?.y;
        Ok(ResidualCells { a, b, y })
    }
}

#[cfg(test)]
mod tests;
