//! Elementwise product of two advice values, then a rescale: `y = rescale(s·u, n, bits)`;
//! and SwiGLU's `mid = rescale(silu(gate)·up, SILU_FRAC + up.frac − mid.frac, mid.bits)`
//! exactly as [`zkinfer_quantize::int::ops::swiglu`] computes it.
//!
//! # Layout
//!
//! A product uses `R = site.rows()` rows from its offset `o`, sharing the rescale chip's
//! columns: the gate writes `s·u` into the rescale input `x` of the same row.
//!
//! | row | `s` | `u` | `q_product` | rescale chip |
//! |---|---|---|---|---|
//! | `o` | `s` | `u` | 1 | `x = s·u` → `y` |
//!
//! Gate `product` (on `q_product`), degree 3:
//!
//! | constraint | equation |
//! |---|---|
//! | `x = s*u` | `x − s·u = 0` |
//!
//! A SwiGLU element puts the extended SiLU lookup of `gate` and the product of its output
//! with `up` side by side from the same offset (they use different columns):
//! `max(range_rows(gate_bits), R)` rows. The SiLU output is copied into `s`.
//!
//! Bounds: SiLU keeps `|silu(g)| ≤ max(|g|, 2^15)`, so with `gate_bits ≥ 16` the product
//! of a `gate_bits`-bit SiLU output and a `up.bits`-bit `up` has magnitude at most
//! `2^(gate_bits + up.bits − 2)`, and the site promises `x_bits = gate_bits + up.bits`
//! ([`swiglu_site`]).

use halo2_proofs::circuit::{Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Selector};
use halo2_proofs::poly::Rotation;
use zkinfer_quantize::fixed::tables::{SILU_FRAC, SILU_IN_BITS};
use zkinfer_quantize::fixed::Scale;

use crate::failure::{check, unsupported, Chip, Problem};
use crate::field::{cell_i128, i128_to_fr, AssignedFr};
use crate::lookup::ExtendedLookupChip;
use crate::range::RangeLayout;
use crate::rescale::{RescaleChip, RescaleConfig, RescaleSite, RescaleWitness};

/// The rescale site of SwiGLU's product: shift `SILU_FRAC + up.frac − mid.frac`, output
/// `mid.bits`, inputs `gate_bits + up.bits` wide. `Error::Synthesis` when the shift is
/// negative, `gate_bits < 16`, or a width is out of the rescale chip's reach.
pub fn swiglu_site(gate_bits: u32, up: Scale, mid: Scale) -> Result<RescaleSite, Error> {
    let shift = (SILU_FRAC + up.frac).checked_sub(mid.frac).ok_or_else(|| {
        let why =
            format!("mid's {} fractional bits exceed SiLU's {SILU_FRAC} plus up's {}", mid.frac, up.frac);
        unsupported(Chip::Swiglu, why)
    })?;
    if gate_bits < SILU_IN_BITS {
        let why =
            format!("a gate of {gate_bits} bits, narrower than the SiLU table's {SILU_IN_BITS}-bit input");
        return Err(unsupported(Chip::Swiglu, why));
    }
    RescaleSite::new(shift, mid.bits, gate_bits + up.bits)
}

/// Every witness value of one product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProductWitness {
    /// First factor.
    pub s: i128,
    /// Second factor.
    pub u: i128,
    /// The rescale of `s·u`.
    pub rescale: RescaleWitness,
}

impl ProductWitness {
    /// The honest witness of `s·u`.
    pub fn new(s: i128, u: i128, site: &RescaleSite) -> Self {
        ProductWitness { s, u, rescale: RescaleWitness::new(s * u, site) }
    }
}

/// Columns, selector and gate of the product chip (see the [module docs](self)); the
/// rescale columns are shared.
#[derive(Clone, Copy, Debug)]
pub struct ProductConfig {
    /// First factor (equality enabled).
    pub s: Column<Advice>,
    /// Second factor (equality enabled).
    pub u: Column<Advice>,
    /// Enables the `product` gate.
    pub q_product: Selector,
    /// The rescale the gate feeds.
    pub rescale: RescaleConfig,
}

impl ProductConfig {
    /// Declares the gate `product` over the factor columns `s`, `u` (which may be shared
    /// with other chips) and the input column of `rescale`.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        rescale: RescaleConfig,
        s: Column<Advice>,
        u: Column<Advice>,
    ) -> Self {
        meta.enable_equality(s);
        meta.enable_equality(u);
        let q_product = meta.selector();
        meta.create_gate("product", |meta| {
            let q = meta.query_selector(q_product);
            let cur = Rotation::cur();
            let x = meta.query_advice(rescale.x, cur);
            let s = meta.query_advice(s, cur);
            let u = meta.query_advice(u, cur);
            vec![("x = s*u", q * (x - s * u))]
        });
        ProductConfig { s, u, q_product, rescale }
    }
}

/// The cells of one product that other chips connect to.
#[derive(Clone, Debug)]
pub struct ProductCells<'v> {
    /// The first factor.
    pub s: AssignedFr<'v>,
    /// The second factor.
    pub u: AssignedFr<'v>,
    /// The output.
    pub y: AssignedFr<'v>,
}

/// Assigns products.
#[derive(Clone, Copy, Debug)]
pub struct ProductChip {
    config: ProductConfig,
}

impl ProductChip {
    /// A chip over `config`.
    pub fn construct(config: ProductConfig) -> Self {
        ProductChip { config }
    }

    /// The chip's configuration.
    pub fn config(&self) -> &ProductConfig {
        &self.config
    }

    /// Multiplies the values of the cells `s`, `u` at rows `offset .. offset + site.rows()`:
    /// copies them in and returns the cell of `rescale(s·u, n, bits)`. `Error::Synthesis`
    /// when `s·u` is outside the site's reach.
    pub fn assign<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        s: &AssignedFr<'_>,
        u: &AssignedFr<'_>,
        site: &RescaleSite,
    ) -> Result<AssignedFr<'v>, Error> {
        let witness = cell_i128(s).zip(cell_i128(u)).map(|pair| match pair {
            (Some(s), Some(u)) => {
                s.checked_mul(u).filter(|&x| site.accepts(x)).map(|_| ProductWitness::new(s, u, site))
            }
            _ => None,
        });
        let x = cell_i128(s).zip(cell_i128(u)).map(|(s, u)| s.zip(u).and_then(|(s, u)| s.checked_mul(u)));
        check(&x, Chip::Product, |x| Problem::unless_in("product s·u", *x, site.input_span()))?;
        let fallback = ProductWitness::new(0, 0, site);
        let cells = self.assign_witness(region, offset, site, witness.map(|w| w.unwrap_or(fallback)))?;
        region.constrain_equal(s.cell(), cells.s.cell());
        region.constrain_equal(u.cell(), cells.u.cell());
        Ok(cells.y)
    }

    /// Assigns one product from a precomputed (possibly dishonest) witness at rows
    /// `offset .. offset + site.rows()`.
    pub fn assign_witness<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        site: &RescaleSite,
        w: Value<ProductWitness>,
    ) -> Result<ProductCells<'v>, Error> {
        let cfg = &self.config;
        cfg.q_product.enable(region, offset)?;
        let s = region.assign_advice(cfg.s, offset, w.map(|w| i128_to_fr(w.s)));
        let u = region.assign_advice(cfg.u, offset, w.map(|w| i128_to_fr(w.u)));
        let y =
            RescaleChip::construct(cfg.rescale).assign_witness(region, offset, site, w.map(|w| w.rescale))?.y;
        Ok(ProductCells { s, u, y })
    }
}

/// SwiGLU: the extended SiLU lookup of `gate`, then its product with `up`, rescaled.
#[derive(Clone, Debug)]
pub struct SwigluChip {
    silu: ExtendedLookupChip,
    product: ProductChip,
}

impl SwigluChip {
    /// A chip from an extended SiLU lookup (built over `Tables::silu` with
    /// `Extension::silu()`) and a product chip.
    pub fn construct(silu: ExtendedLookupChip, product: ProductChip) -> Self {
        SwigluChip { silu, product }
    }

    /// The SiLU chip (to load its table).
    pub fn silu(&self) -> &ExtendedLookupChip {
        &self.silu
    }

    /// Rows one element uses in the range layout `layout`.
    pub fn rows(gate_bits: u32, site: &RescaleSite, layout: RangeLayout) -> usize {
        ExtendedLookupChip::rows(gate_bits, layout).max(site.rows(layout))
    }

    /// One SwiGLU element at rows `offset .. offset + rows(gate_bits, site)`: copies `gate`
    /// and `up` in and returns the cells `(silu(gate), mid)` (`ops::swiglu`'s two outputs).
    pub fn assign<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        gate: &AssignedFr<'_>,
        up: &AssignedFr<'_>,
        gate_bits: u32,
        site: &RescaleSite,
    ) -> Result<(AssignedFr<'v>, AssignedFr<'v>), Error> {
        let s: AssignedFr<'v> = self.silu.assign(region, offset, gate, gate_bits)?;
        let mid = self.product.assign(region, offset, &s, up, site)?;
        Ok((s, mid))
    }
}

#[cfg(test)]
mod tests;
