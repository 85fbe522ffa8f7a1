//! The rescale of every site: `y = saturate(round_shift(x, n), bits)`, exactly as
//! [`zkinfer_quantize::fixed::rescale`] computes it.
//!
//! # Relations
//!
//! With `lo = −2^(bits−1)` and `hi = 2^(bits−1) − 1`:
//!
//! - rounding half up: `x + 2^(n−1) = q·2^n + r` with `0 ≤ r < 2^n` (`2^(n−1)` reads 0 when
//!   `n = 0`), so `q = ⌊(x + 2^(n−1)) / 2^n⌋`;
//! - saturation, by two boolean flags `above` and `below` (never both) and an excess `e`:
//!   - in range (no flag): `y = q`, `e = 0`, and `lo ≤ y ≤ hi` by a signed range check;
//!   - `above`: `y = hi` and `q = hi + 1 + e` with `0 ≤ e < 2^E`, so `q > hi`;
//!   - `below`: `y = lo` and `q = lo − 1 − e` with `0 ≤ e < 2^E`, so `q < lo`.
//!
//! `E = max(x_bits − n, 0)` where the site promises `−2^(x_bits−1) ≤ x < 2^(x_bits−1)`; that
//! covers every honest excess. Every case bounds `q` to `[lo − 2^E, hi + 2^E]` and `r` to
//! `[0, 2^n)`, so `q·2^n + r − 2^(n−1)` is an integer of magnitude below `2^200`: the field
//! equation is the integer one and no field element other than that integer can pass as
//! `x`. (An `x` outside the promised range has no witness: a completeness limit, not a
//! soundness one.)
//!
//! # Layout
//!
//! One element uses `rows = max(range_rows(n), range_rows(bits), range_rows(E))` rows (with
//! the range table's limb width `L`, [`RescaleSite::rows`]) from
//! its offset `o`; the three range checks run side by side in their own `z` columns:
//!
//! | row | `x` | `q` | `above` | `below` | `z_r` | `z_y` | `z_e` | `pow` | `half` | `lo` | `q_rescale` |
//! |---|---|---|---|---|---|---|---|---|---|---|---|
//! | `o` | `x` | `q` | `above` | `below` | `r` | `y` | `e` | `2^n` | `2^(n−1)` | `lo` | 1 |
//! | `o + 1 …` | | | | | limbs of `r` | limbs of `y` | limbs of `e` | | | | 0 |
//!
//! Gate `rescale` (on `q_rescale`), every constraint of degree ≤ 3:
//!
//! | constraint | equation |
//! |---|---|
//! | `x + 2^(n-1) = q*2^n + r` | `x + half − q·pow − r = 0` |
//! | `above is boolean` | `above·(1 − above) = 0` |
//! | `below is boolean` | `below·(1 − below) = 0` |
//! | `not above and below` | `above·below = 0` |
//! | `above: y = hi` | `above·(y − (−lo − 1)) = 0` |
//! | `below: y = lo` | `below·(y − lo) = 0` |
//! | `q = y + (above - below)*(e + 1)` | `q − y − (above − below)·(e + 1) = 0` |
//! | `in range: e = 0` | `(1 − above − below)·e = 0` |
//!
//! Lookups: `rescale remainder` (`r`, unsigned `n` bits), `rescale output` (`y`, signed
//! `bits`), `rescale excess` (`e`, unsigned `E` bits), each a [`RangeConfig`].

use halo2_proofs::arithmetic::Field;
use halo2_proofs::circuit::{Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;
use zkinfer_quantize::fixed::{round_shift, saturate, signed_range};

use crate::failure::{check, too_wide, unsupported, Chip, Problem, Span};
use crate::field::{cell_i128, i128_to_fr, pow2, AssignedFr};
use crate::pool::ColumnPool;
use crate::range::{range_rows, RangeChip, RangeConfig, RangeLayout, RangeTableConfig};

/// Largest shift a site may use (keeps `x + 2^(n−1)` and `q·2^n` inside `i128`).
pub const MAX_SHIFT: u32 = 120;
/// Largest input width a site may promise.
pub const MAX_X_BITS: u32 = 120;

/// The constants of one rescale site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RescaleSite {
    /// `n`: the shift.
    pub shift: u32,
    /// Output width: `y` saturates to `[−2^(bits−1), 2^(bits−1) − 1]`.
    pub bits: u32,
    /// Input width the site promises: `−2^(x_bits−1) ≤ x < 2^(x_bits−1)`.
    pub x_bits: u32,
}

impl RescaleSite {
    /// A site, or `Error::Synthesis` when `shift > MAX_SHIFT`, `bits ∉ 1..=63` or
    /// `x_bits ∉ 1..=MAX_X_BITS`.
    pub fn new(shift: u32, bits: u32, x_bits: u32) -> Result<Self, Error> {
        if shift > MAX_SHIFT {
            Err(too_wide(Chip::Rescale, "shift", shift, MAX_SHIFT))
        } else if !(1..=63).contains(&bits) {
            Err(unsupported(Chip::Rescale, format!("an output of {bits} bits (1 to 63 are supported)")))
        } else if !(1..=MAX_X_BITS).contains(&x_bits) {
            Err(unsupported(
                Chip::Rescale,
                format!("an input of {x_bits} bits (1 to {MAX_X_BITS} are supported)"),
            ))
        } else {
            Ok(RescaleSite { shift, bits, x_bits })
        }
    }

    /// `E`: the width of the excess of a saturated `q`.
    pub fn excess_bits(&self) -> u32 {
        self.x_bits.saturating_sub(self.shift)
    }

    /// Rows one element uses in the range layout `layout`.
    pub fn rows(&self, layout: RangeLayout) -> usize {
        let r = |bits| range_rows(bits, layout);
        r(self.shift).max(r(self.bits)).max(r(self.excess_bits()))
    }

    /// The promised input range, `[−2^(x_bits−1), 2^(x_bits−1) − 1]`.
    pub fn input_span(&self) -> Span {
        Span::signed(self.x_bits)
    }

    /// Whether `x` lies in the promised input range.
    pub fn accepts(&self, x: i128) -> bool {
        let half = 1i128 << (self.x_bits - 1);
        (-half..half).contains(&x)
    }
}

/// Every witness value of one element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RescaleWitness {
    /// Input.
    pub x: i128,
    /// `round_shift(x, n)`.
    pub q: i128,
    /// Remainder: `x + 2^(n−1) − q·2^n`.
    pub r: i128,
    /// Output: `saturate(q, bits)`.
    pub y: i128,
    /// Distance of a saturated `q` beyond its clamp bound, minus one; 0 in range.
    pub excess: i128,
    /// `q > hi`.
    pub above: bool,
    /// `q < lo`.
    pub below: bool,
}

impl RescaleWitness {
    /// The honest witness for `x` (`site.accepts(x)` must hold for it to verify).
    pub fn new(x: i128, site: &RescaleSite) -> Self {
        let n = site.shift;
        let q = round_shift(x, n);
        let half = if n == 0 { 0 } else { 1i128 << (n - 1) };
        let r = x + half - (q << n);
        let y = i128::from(saturate(q, site.bits));
        let (lo, hi) = signed_range(site.bits);
        let (lo, hi) = (i128::from(lo), i128::from(hi));
        let (above, below) = (q > hi, q < lo);
        let excess = if above {
            q - hi - 1
        } else if below {
            lo - 1 - q
        } else {
            0
        };
        RescaleWitness { x, q, r, y, excess, above, below }
    }
}

/// Columns, selector, gate and range checks of the rescale chip (see the
/// [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub struct RescaleConfig {
    /// Input `x` (equality enabled).
    pub x: Column<Advice>,
    /// Rounded quotient `q`.
    pub q: Column<Advice>,
    /// Flag: `q` saturates at `hi`.
    pub above: Column<Advice>,
    /// Flag: `q` saturates at `lo`.
    pub below: Column<Advice>,
    /// `2^n`.
    pub pow: Column<Fixed>,
    /// `2^(n−1)`, or 0 when `n = 0`.
    pub half: Column<Fixed>,
    /// `lo = −2^(bits−1)`.
    pub lo: Column<Fixed>,
    /// Enables the `rescale` gate.
    pub q_rescale: Selector,
    /// Range check of the remainder `r` (its `z` column holds `r`).
    pub remainder: RangeConfig,
    /// Range check of the output `y` (its `z` column holds `y`; equality enabled).
    pub output: RangeConfig,
    /// Range check of the excess `e` (its `z` column holds `e`).
    pub excess: RangeConfig,
}

impl RescaleConfig {
    /// Bits of a full range limb (the shared table's).
    pub fn limb_bits(&self) -> u32 {
        self.remainder.limb_bits()
    }

    /// The layout of the chip's range checks (the shared table's).
    pub fn range_layout(&self) -> RangeLayout {
        self.remainder.layout()
    }

    /// Rows one element of `site` uses in these columns.
    pub fn rows(&self, site: &RescaleSite) -> usize {
        site.rows(self.range_layout())
    }

    /// Declares the chip's columns, gate and lookups over the shared range table.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, table: RangeTableConfig) -> Self {
        Self::configure_in(meta, &mut ColumnPool::fresh(), table)
    }

    /// [`Self::configure`] with the advice and range-check columns drawn from `pool`.
    pub fn configure_in(
        meta: &mut ConstraintSystem<Fr>,
        pool: &mut ColumnPool,
        table: RangeTableConfig,
    ) -> Self {
        let x = pool.advice(meta, true);
        let q = pool.advice(meta, false);
        let above = pool.advice(meta, false);
        let below = pool.advice(meta, false);
        let pow = meta.fixed_column();
        let half = meta.fixed_column();
        let lo = meta.fixed_column();
        let q_rescale = meta.selector();
        let remainder = pool.range(meta, "rescale remainder", table);
        let output = pool.range(meta, "rescale output", table);
        meta.enable_equality(output.z);
        let excess = pool.range(meta, "rescale excess", table);

        meta.create_gate("rescale", |meta| {
            let s = meta.query_selector(q_rescale);
            let cur = Rotation::cur();
            let x = meta.query_advice(x, cur);
            let q = meta.query_advice(q, cur);
            let above = meta.query_advice(above, cur);
            let below = meta.query_advice(below, cur);
            let r = meta.query_advice(remainder.z, cur);
            let y = meta.query_advice(output.z, cur);
            let e = meta.query_advice(excess.z, cur);
            let pow = meta.query_fixed(pow, cur);
            let half = meta.query_fixed(half, cur);
            let lo = meta.query_fixed(lo, cur);
            let one = Expression::Constant(Fr::ONE);
            let in_range = one.clone() - above.clone() - below.clone();
            vec![
                ("x + 2^(n-1) = q*2^n + r", s.clone() * (x + half - q.clone() * pow - r)),
                ("above is boolean", s.clone() * above.clone() * (one.clone() - above.clone())),
                ("below is boolean", s.clone() * below.clone() * (one.clone() - below.clone())),
                ("not above and below", s.clone() * above.clone() * below.clone()),
                ("above: y = hi", s.clone() * above.clone() * (y.clone() + lo.clone() + one.clone())),
                ("below: y = lo", s.clone() * below.clone() * (y.clone() - lo)),
                (
                    "q = y + (above - below)*(e + 1)",
                    s.clone() * (q - y - (above - below) * (e.clone() + one)),
                ),
                ("in range: e = 0", s * in_range * e),
            ]
        });

        RescaleConfig { x, q, above, below, pow, half, lo, q_rescale, remainder, output, excess }
    }
}

/// The two cells of an element that other chips connect to.
#[derive(Clone, Debug)]
pub struct RescaleCells<'v> {
    /// The input `x`.
    pub x: AssignedFr<'v>,
    /// The output `y` (in the output range check's column).
    pub y: AssignedFr<'v>,
}

/// Assigns rescale elements.
#[derive(Clone, Copy, Debug)]
pub struct RescaleChip {
    config: RescaleConfig,
}

impl RescaleChip {
    /// A chip over `config`.
    pub fn construct(config: RescaleConfig) -> Self {
        RescaleChip { config }
    }

    /// The chip's configuration.
    pub fn config(&self) -> &RescaleConfig {
        &self.config
    }

    /// Rescales the value of the cell `x` at rows `offset .. offset + site.rows()`: copies
    /// `x` in and returns the cell of `y = rescale(x, n, bits)`. Fails with
    /// `Error::Synthesis` when `x` is not an integer the site accepts.
    pub fn assign<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        x: &AssignedFr<'_>,
        site: &RescaleSite,
    ) -> Result<AssignedFr<'v>, Error> {
        let value = cell_i128(x);
        check(&value, Chip::Rescale, |v| Problem::unless_in("input", *v, site.input_span()))?;
        let witness = value.map(|v| RescaleWitness::new(v.unwrap_or_default(), site));
        let cells = self.assign_witness(region, offset, site, witness)?;
        region.constrain_equal(x.cell(), cells.x.cell());
        Ok(cells.y)
    }

    /// Assigns one element from a precomputed (possibly dishonest) witness at rows
    /// `offset .. offset + site.rows()`.
    pub fn assign_witness<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        site: &RescaleSite,
        w: Value<RescaleWitness>,
    ) -> Result<RescaleCells<'v>, Error> {
        let site = RescaleSite::new(site.shift, site.bits, site.x_bits)?;
        let cfg = &self.config;
        let n = site.shift;
        cfg.q_rescale.enable(region, offset)?;
        region.assign_fixed(cfg.pow, offset, pow2(n));
        region.assign_fixed(cfg.half, offset, if n == 0 { Fr::ZERO } else { pow2(n - 1) });
        region.assign_fixed(cfg.lo, offset, -pow2(site.bits - 1));

        let fr = |f: fn(&RescaleWitness) -> i128| w.map(|w| i128_to_fr(f(&w)));
        let flag = |f: fn(&RescaleWitness) -> bool| w.map(|w| Fr::from(u64::from(f(&w))));
        let x = region.assign_advice(cfg.x, offset, fr(|w| w.x));
        region.assign_advice(cfg.q, offset, fr(|w| w.q));
        region.assign_advice(cfg.above, offset, flag(|w| w.above));
        region.assign_advice(cfg.below, offset, flag(|w| w.below));
        RangeChip::construct(cfg.remainder).assign_unsigned(region, offset, fr(|w| w.r), n)?;
        let y = RangeChip::construct(cfg.output).assign_signed(region, offset, fr(|w| w.y), site.bits)?;
        RangeChip::construct(cfg.excess).assign_unsigned(
            region,
            offset,
            fr(|w| w.excess),
            site.excess_bits(),
        )?;
        Ok(RescaleCells { x, y })
    }
}

#[cfg(test)]
mod tests;
