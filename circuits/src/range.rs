//! Range checks by limb decomposition: `0 ≤ v < 2^bits` and `−2^(bits−1) ≤ v < 2^(bits−1)`.
//!
//! A column's checks run in place, as below, or are deferred to a [`bus`] that proves them
//! in columns of its own and copies each value in ([`RangeCheck`]).
//!
//! # Limb width
//!
//! A value is split into `L`-bit limbs, each looked up in a table of `(limb, width)` pairs
//! with `2^(L+1) − 1` rows; `L` is the table's ([`RangeTableConfig::limb_bits`]), chosen by
//! the circuit. [`LIMB_BITS`]` = 8` (a 511-row table) is the default from
//! `PROVER-COSTS.md`: the table never decides a circuit's `k` (chips can run at `k ≈ 10`),
//! and byte-sized witnesses are small MSM scalars that commit almost for free. A circuit
//! whose `k` is set by something else can afford wider limbs, up to `L = k − 2` (the table
//! then fills half the rows): a block chunk at `k = 16` uses `L = 14`, so a 45-bit
//! remainder takes 4 limbs instead of 6, and every chip that range-checks needs fewer rows.
//!
//! # Layout
//!
//! One check of `n = ⌈bits / L⌉` limbs is a running sum in a single advice column `z`
//! (most significant part last), starting at the row of the value. `c = 0` for an unsigned
//! check and `c = 2^(bits−1)` for a signed one; every limb is `L` bits wide except the top
//! one, `w_{n−1} = bits − L(n − 1)`. Two layouts ([`RangeLayout::compact`]):
//!
//! **Ending in a zero row** (the original layout; `n + 1` rows):
//!
//! | row | `z` (advice) | `offset` (fixed) | `width` (fixed) | `q_limb` | `q_end` |
//! |---|---|---|---|---|---|
//! | `o` | `z₀ = v` | `c` | `w₀` | 1 | 0 |
//! | `o + i` (`0 < i < n`) | `zᵢ = ⌊(v + c) / 2^(L·i)⌋` | 0 | `wᵢ` | 1 | 0 |
//! | `o + n` | `zₙ = 0` | 0 | 0 | 0 | 1 |
//!
//! - lookup `name` (`q_limb`): `(zᵢ + offsetᵢ − 2^L·zᵢ₊₁, widthᵢ) ∈ {(l, w) : 0 ≤ l < 2^w ≤ 2^L}`;
//! - gate `range end` (`q_end`): `z = 0`.
//!
//! **Compact** (`max(n, 1)` rows): the top limb is the last running-sum value itself, so
//! no zero row follows; a fixed column `next` holds `2^L` on every row whose limb has a
//! successor and 0 on the top limb's row:
//!
//! | row | `z` (advice) | `offset` (fixed) | `width` (fixed) | `next` (fixed) | `q_limb` |
//! |---|---|---|---|---|---|
//! | `o` | `z₀ = v` | `c` | `w₀` | `2^L` (0 if `n ≤ 1`) | 1 |
//! | `o + i` (`0 < i < n − 1`) | `zᵢ` | 0 | `wᵢ` | `2^L` | 1 |
//! | `o + n − 1` | `z_{n−1}` | 0 | `w_{n−1}` | 0 | 1 |
//!
//! - lookup `name`: `(q_limb·(zᵢ + offsetᵢ) − nextᵢ·zᵢ₊₁, q_limb·widthᵢ) ∈` the same table.
//!   On the top row `next = 0`, so the row below (another check's, or nothing) is not read;
//!   a 0-bit check is one row with width 0, proving `v = 0`.
//!
//! Either way: `v + c = Σ lᵢ·2^(L·i)` with `0 ≤ lᵢ < 2^wᵢ`, so `0 ≤ v + c < 2^bits`. Since
//! `bits ≤` [`MAX_RANGE_BITS`]` < 253`, the sum cannot wrap around the field.

use halo2_proofs::arithmetic::Field;
use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{
    Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector, TableColumn,
};
use halo2_proofs::poly::Rotation;

use crate::failure::{internal, too_wide, Chip};
use crate::field::{pow2, shr_bits, AssignedFr};

pub mod bus;

/// Bits per limb of the default table (chips on their own, the head circuit).
pub const LIMB_BITS: u32 = 8;

/// Widest limb a table may have (`2^17 − 1` rows).
pub const MAX_LIMB_BITS: u32 = 16;

/// Widest range a check accepts; keeps every decomposed sum far below the field modulus.
pub const MAX_RANGE_BITS: u32 = 240;

/// Limbs a `bits`-wide check uses with `limb`-bit limbs (0 for `bits = 0`, which proves
/// `v = 0`).
pub const fn limbs(bits: u32, limb: u32) -> usize {
    bits.div_ceil(limb) as usize
}

/// How range checks lay out their limbs (see the [module docs](self)): the table's limb
/// width `L` and whether a check ends on its top limb (compact) or in a zero row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RangeLayout {
    /// `L`: bits of a full limb.
    pub limb_bits: u32,
    /// Whether checks end on their top limb (no zero row).
    pub compact: bool,
    /// Whether the checks are deferred to a [`bus`]: the checked value then takes one row
    /// of its column, and its limbs take their rows in the bus.
    pub deferred: bool,
}

impl Default for RangeLayout {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl RangeLayout {
    /// The default: [`LIMB_BITS`]-bit limbs, checks ending in a zero row (chips on their
    /// own, the head circuit, block shapes from before the compact layout).
    pub const DEFAULT: RangeLayout = RangeLayout { limb_bits: LIMB_BITS, compact: false, deferred: false };

    /// `limb_bits`-bit limbs, compact checks.
    pub const fn compact(limb_bits: u32) -> Self {
        RangeLayout { limb_bits, compact: true, deferred: false }
    }

    /// `limb_bits`-bit limbs, checks ending in a zero row.
    pub const fn with_zero_row(limb_bits: u32) -> Self {
        RangeLayout { limb_bits, compact: false, deferred: false }
    }

    /// This layout with its checks deferred to a bus (or not).
    pub const fn deferring(self, deferred: bool) -> Self {
        RangeLayout { deferred, ..self }
    }

    /// Rows a `bits`-wide check uses in the checked value's column: its limbs (and zero row)
    /// in place, one row when deferred.
    pub const fn rows(self, bits: u32) -> usize {
        let n = limbs(bits, self.limb_bits);
        if self.deferred {
            1
        } else if !self.compact {
            n + 1
        } else if n == 0 {
            1
        } else {
            n
        }
    }
}

/// Rows a `bits`-wide check uses in `layout` (the final zero row included where it has one).
pub const fn range_rows(bits: u32, layout: RangeLayout) -> usize {
    layout.rows(bits)
}

/// The shared `(limb, width)` table: all pairs with `0 ≤ limb < 2^width`, `0 ≤ width ≤ L`.
///
/// | `value` | `width` |
/// |---|---|
/// | 0 | 0 |
/// | 0, 1 | 1 |
/// | … | … |
/// | 0 … 2^L − 1 | L |
#[derive(Clone, Copy, Debug)]
pub struct RangeTableConfig {
    /// Limb values.
    pub value: TableColumn,
    /// Widths the limb values fit in.
    pub width: TableColumn,
    /// `L`: bits of a full limb.
    pub limb_bits: u32,
    /// Whether the checks against this table are compact ([`RangeLayout::compact`]).
    pub compact: bool,
}

impl RangeTableConfig {
    /// Declares the two table columns of the default [`LIMB_BITS`]-bit table.
    pub fn configure(meta: &mut ConstraintSystem<Fr>) -> Self {
        Self::configure_layout(meta, RangeLayout::DEFAULT)
    }

    /// Declares the two table columns of a `limb_bits`-bit table, for checks ending in a
    /// zero row.
    ///
    /// # Panics
    /// If `limb_bits` is not in `1..=MAX_LIMB_BITS` (a configuration bug, not a data error).
    pub fn configure_with(meta: &mut ConstraintSystem<Fr>, limb_bits: u32) -> Self {
        Self::configure_layout(meta, RangeLayout::with_zero_row(limb_bits))
    }

    /// Declares the two table columns for checks laid out as `layout` says.
    ///
    /// # Panics
    /// If the limb width is not in `1..=MAX_LIMB_BITS` (a configuration bug, not a data
    /// error).
    pub fn configure_layout(meta: &mut ConstraintSystem<Fr>, layout: RangeLayout) -> Self {
        let RangeLayout { limb_bits, compact, .. } = layout;
        assert!(
            (1..=MAX_LIMB_BITS).contains(&limb_bits),
            "limb width {limb_bits} out of 1..={MAX_LIMB_BITS}"
        );
        let value = meta.lookup_table_column();
        let width = meta.lookup_table_column();
        meta.annotate_lookup_column(value, || "range table: limb");
        meta.annotate_lookup_column(width, || "range table: width");
        RangeTableConfig { value, width, limb_bits, compact }
    }

    /// The layout of the checks against this table (in place).
    pub const fn layout(&self) -> RangeLayout {
        RangeLayout { limb_bits: self.limb_bits, compact: self.compact, deferred: false }
    }

    /// Rows a `limb_bits`-bit table occupies (`2^(L+1) − 1`).
    pub const fn rows_for(limb_bits: u32) -> usize {
        (1 << (limb_bits + 1)) - 1
    }

    /// Rows the table occupies.
    pub const fn rows(&self) -> usize {
        Self::rows_for(self.limb_bits)
    }

    /// Fills the table.
    pub fn load(&self, layouter: &mut impl Layouter<Fr>) -> Result<(), Error> {
        layouter.assign_table(
            || "range table",
            |mut table| {
                let mut row = 0;
                for w in 0..=self.limb_bits {
                    for v in 0..(1u64 << w) {
                        table.assign_cell(|| "limb", self.value, row, || Value::known(Fr::from(v)))?;
                        table.assign_cell(
                            || "width",
                            self.width,
                            row,
                            || Value::known(Fr::from(u64::from(w))),
                        )?;
                        row += 1;
                    }
                }
                Ok(())
            },
        )
    }
}

/// One range-check column: the advice column `z` whose rows hold checked values, and how
/// their checks are proven — in place (see the [module docs](self) for the layout), or
/// deferred to a [`bus`] that copies each value into a range column of its own.
#[derive(Clone, Copy, Debug)]
pub struct RangeConfig {
    /// The running sum (in place) or the value alone (deferred); the first row of a check
    /// holds the checked value.
    pub z: Column<Advice>,
    /// How the checks of `z` are proven.
    pub check: RangeCheck,
    /// The shared table.
    pub table: RangeTableConfig,
}

/// How the checks of a [`RangeConfig`]'s column are proven.
#[derive(Clone, Copy, Debug)]
pub enum RangeCheck {
    /// The limbs run down `z` itself, under a limb lookup of the column's own.
    InPlace(InPlace),
    /// `z` holds the value only: [`bus::RangeBusConfig`] checks it in its own columns and
    /// copies it back (equality is enabled on `z`).
    Deferred,
}

/// The fixed columns, selectors, `range end` gate and named limb lookup of a column whose
/// checks run in place.
#[derive(Clone, Copy, Debug)]
pub struct InPlace {
    /// `2^(bits−1)` on the first row of a signed check, else 0.
    pub offset: Column<Fixed>,
    /// Width of the limb decomposed on this row.
    pub width: Column<Fixed>,
    /// Enables the limb lookup.
    pub q_limb: Selector,
    /// The rows' ends: `q_end` (enables `z = 0`) in the layout with a zero row, the `next`
    /// column (`2^L` below a limb with a successor) in the compact one.
    pub end: RangeEnd,
}

/// How a [`RangeConfig`]'s checks end (see the [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub enum RangeEnd {
    /// A zero row, enforced by the `range end` gate on this selector.
    ZeroRow(Selector),
    /// The top limb; this fixed column holds `2^L` where a limb has a successor, else 0.
    Compact(Column<Fixed>),
}

impl RangeConfig {
    /// Bits of a full limb (the table's).
    pub fn limb_bits(&self) -> u32 {
        self.table.limb_bits
    }

    /// The layout of this column's checks (the table's, deferred when a bus proves them).
    pub fn layout(&self) -> RangeLayout {
        self.table.layout().deferring(matches!(self.check, RangeCheck::Deferred))
    }

    /// Rows a `bits`-wide check uses in this column.
    pub fn rows(&self, bits: u32) -> usize {
        range_rows(bits, self.layout())
    }
}

impl RangeConfig {
    /// Declares range checks in the advice column `z`, with a limb lookup called `name`.
    /// Enable equality on `z` only where a checked value is copied elsewhere.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        name: &str,
        z: Column<Advice>,
        table: RangeTableConfig,
    ) -> Self {
        let offset = meta.fixed_column();
        let width = meta.fixed_column();
        let q_limb = meta.complex_selector();
        let end = if table.compact {
            RangeEnd::Compact(meta.fixed_column())
        } else {
            let q_end = meta.selector();
            meta.create_gate("range end", |meta| {
                let q = meta.query_selector(q_end);
                let z = meta.query_advice(z, Rotation::cur());
                vec![("z = 0", q * z)]
            });
            RangeEnd::ZeroRow(q_end)
        };

        meta.lookup(name, |meta| {
            let q = meta.query_selector(q_limb);
            let z_cur = meta.query_advice(z, Rotation::cur());
            let z_next = meta.query_advice(z, Rotation::next());
            let offset = meta.query_fixed(offset, Rotation::cur());
            let width = meta.query_fixed(width, Rotation::cur());
            let limb = match end {
                RangeEnd::ZeroRow(_) => {
                    q.clone() * (z_cur + offset - z_next * Expression::Constant(pow2(table.limb_bits)))
                }
                RangeEnd::Compact(next) => {
                    q.clone() * (z_cur + offset) - meta.query_fixed(next, Rotation::cur()) * z_next
                }
            };
            vec![(limb, table.value), (q * width, table.width)]
        });

        RangeConfig { z, check: RangeCheck::InPlace(InPlace { offset, width, q_limb, end }), table }
    }

    /// Declares `z` as a column whose checks a [`bus::RangeBusConfig`] proves (enabling
    /// equality on it): the caller's gates read the values in `z`, the bus copies each into
    /// a check of its own.
    pub fn deferred(meta: &mut ConstraintSystem<Fr>, z: Column<Advice>, table: RangeTableConfig) -> Self {
        meta.enable_equality(z);
        RangeConfig { z, check: RangeCheck::Deferred, table }
    }
}

/// Assigns range checks into a [`RangeConfig`]'s column.
#[derive(Clone, Copy, Debug)]
pub struct RangeChip {
    config: RangeConfig,
}

impl RangeChip {
    /// A chip over `config`.
    pub fn construct(config: RangeConfig) -> Self {
        RangeChip { config }
    }

    /// The chip's configuration.
    pub fn config(&self) -> &RangeConfig {
        &self.config
    }

    /// Proves `0 ≤ v < 2^bits` on rows `offset .. offset + rows(bits)`; returns the cell
    /// holding `v` (copy it where `v` is used).
    pub fn assign_unsigned<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        v: Value<Fr>,
        bits: u32,
    ) -> Result<AssignedFr<'v>, Error> {
        self.assign(region, offset, v, bits, Fr::ZERO)
    }

    /// Proves `−2^(bits−1) ≤ v < 2^(bits−1)` (`bits ≥ 1`) on rows
    /// `offset .. offset + rows(bits)`; returns the cell holding `v`.
    pub fn assign_signed<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        v: Value<Fr>,
        bits: u32,
    ) -> Result<AssignedFr<'v>, Error> {
        if bits == 0 {
            return Err(internal(Chip::Range, "a signed range check of 0 bits"));
        }
        self.assign(region, offset, v, bits, pow2(bits - 1))
    }

    /// Proves `0 ≤ v + shift < 2^bits` (see [`Self::assign_unsigned`] and
    /// [`Self::assign_signed`]).
    pub(crate) fn assign<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        v: Value<Fr>,
        bits: u32,
        shift: Fr,
    ) -> Result<AssignedFr<'v>, Error> {
        if bits > MAX_RANGE_BITS {
            return Err(too_wide(Chip::Range, "range check", bits, MAX_RANGE_BITS));
        }
        let cfg = &self.config;
        match cfg.check {
            RangeCheck::InPlace(place) => Self::assign_in_place(cfg, &place, region, offset, v, bits, shift),
            RangeCheck::Deferred => {
                let cell = region.assign_advice(cfg.z, offset, v);
                bus::defer(bus::Pending { cell: cell.cell(), value: v, bits, shift })?;
                Ok(cell)
            }
        }
    }

    fn assign_in_place<'v>(
        cfg: &RangeConfig,
        place: &InPlace,
        region: &mut Region<'_, Fr>,
        offset: usize,
        v: Value<Fr>,
        bits: u32,
        shift: Fr,
    ) -> Result<AssignedFr<'v>, Error> {
        let limb = cfg.limb_bits();
        let n = limbs(bits, limb);
        let shifted = v.map(|v| v + shift);
        let first = region.assign_advice(cfg.z, offset, v);
        for i in 0..n {
            let row = offset + i;
            place.q_limb.enable(region, row)?;
            let width = if i + 1 == n { bits - limb * (n as u32 - 1) } else { limb };
            region.assign_fixed(place.width, row, Fr::from(u64::from(width)));
            if let RangeEnd::Compact(next) = place.end {
                let successor = if i + 1 < n { pow2(limb) } else { Fr::ZERO };
                region.assign_fixed(next, row, successor);
            }
            if i == 0 {
                region.assign_fixed(place.offset, row, shift);
            } else {
                region.assign_advice(cfg.z, row, shifted.map(|s| shr_bits(s, limb * i as u32)));
            }
        }
        match place.end {
            // The final row is zero for an honest value; a value out of range leaves its
            // excess in the top limb, which the lookup then rejects. With no limbs the
            // final row is the value's own row.
            RangeEnd::ZeroRow(q_end) => {
                if n > 0 {
                    region.assign_advice(cfg.z, offset + n, Value::known(Fr::ZERO));
                }
                q_end.enable(region, offset + n)?;
            }
            // The top limb is the last running-sum value, bounded by its width; with no
            // limbs, the value's own row is looked up with width 0 (`next` there is 0).
            RangeEnd::Compact(_) => {
                if n == 0 {
                    place.q_limb.enable(region, offset)?;
                    region.assign_fixed(place.width, offset, Fr::ZERO);
                }
            }
        }
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use halo2_proofs::circuit::SimpleFloorPlanner;
    use halo2_proofs::dev::{MockProver, VerifyFailure};
    use halo2_proofs::plonk::Circuit;

    use super::*;
    use crate::failure::Problem;
    use crate::field::i128_to_fr;
    use crate::testing::{constraint_failures, lookup_failures};

    /// One checked value: `(v, bits, signed)`.
    type Check = (i128, u32, bool);

    #[derive(Clone)]
    struct RangeCircuit {
        checks: Vec<Check>,
        /// The table's layout.
        layout: RangeLayout,
        /// A running-sum cell overwritten after the honest assignment: `(row, value)`.
        tamper: Option<(usize, i128)>,
    }

    impl Circuit<Fr> for RangeCircuit {
        type Config = RangeConfig;
        type FloorPlanner = SimpleFloorPlanner;
        type Params = RangeLayout;

        fn without_witnesses(&self) -> Self {
            self.clone()
        }

        fn params(&self) -> RangeLayout {
            self.layout
        }

        fn configure_with_params(meta: &mut ConstraintSystem<Fr>, layout: RangeLayout) -> RangeConfig {
            let table = RangeTableConfig::configure_layout(meta, layout);
            let z = meta.advice_column();
            RangeConfig::configure(meta, "test range", z, table)
        }

        fn configure(meta: &mut ConstraintSystem<Fr>) -> RangeConfig {
            Self::configure_with_params(meta, RangeLayout::DEFAULT)
        }

        fn synthesize(&self, config: RangeConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
            config.table.load(&mut layouter)?;
            let chip = RangeChip::construct(config);
            layouter.assign_region(
                || "checks",
                |mut region| {
                    let mut row = 0;
                    for &(v, bits, signed) in &self.checks {
                        let v = Value::known(i128_to_fr(v));
                        if signed {
                            chip.assign_signed(&mut region, row, v, bits)?;
                        } else {
                            chip.assign_unsigned(&mut region, row, v, bits)?;
                        }
                        row += config.rows(bits);
                    }
                    if let Some((row, v)) = self.tamper {
                        region.assign_advice(config.z, row, Value::known(i128_to_fr(v)));
                    }
                    Ok(())
                },
            )
        }
    }

    /// Both layouts of the default limb width.
    const LAYOUTS: [RangeLayout; 2] = [RangeLayout::DEFAULT, RangeLayout::compact(LIMB_BITS)];

    fn run(checks: &[Check]) -> Result<(), Vec<VerifyFailure>> {
        run_with(RangeLayout::DEFAULT, checks)
    }

    /// The checks in a column over a table of `layout`, at the smallest `k` holding both.
    fn run_with(layout: RangeLayout, checks: &[Check]) -> Result<(), Vec<VerifyFailure>> {
        run_tampered(layout, checks, None)
    }

    /// [`run_with`], with one running-sum cell overwritten after the honest assignment.
    fn run_tampered(
        layout: RangeLayout,
        checks: &[Check],
        tamper: Option<(usize, i128)>,
    ) -> Result<(), Vec<VerifyFailure>> {
        let rows: usize = checks.iter().map(|c| range_rows(c.1, layout)).sum();
        let k = crate::testing::k_for(rows.max(RangeTableConfig::rows_for(layout.limb_bits))).max(10);
        let circuit = RangeCircuit { checks: checks.to_vec(), layout, tamper };
        let prover = MockProver::run(k, &circuit, vec![]).expect("synthesis succeeds");
        prover.verify()
    }

    /// A tampered running-sum cell breaks the chain at the limbs that read it, in both
    /// layouts: 0 as a 45-bit value in 13-bit limbs (running sums at rows 0-3), `z₂ := 1`
    /// makes limb 1 `0 − 2^13` (outside every width) while limb 2 becomes 1 (still in range),
    /// and `z₃ := 64` pushes the 6-bit top limb to 64 and limb 2 below zero.
    #[test]
    fn tampered_running_sums_fail_the_limbs_that_read_them() {
        for layout in [RangeLayout::with_zero_row(13), RangeLayout::compact(13)] {
            let checks = [(0, 45, false)];
            assert_eq!(run_tampered(layout, &checks, None), Ok(()), "{layout:?}");
            let err = run_tampered(layout, &checks, Some((2, 1))).expect_err("z₂ tampered");
            assert_eq!(lookup_failures(&err), vec![("test range".to_string(), 1)], "{layout:?}");
            let err = run_tampered(layout, &checks, Some((3, 64))).expect_err("z₃ tampered");
            let mut failed = lookup_failures(&err);
            failed.sort();
            assert_eq!(
                failed,
                vec![("test range".to_string(), 2), ("test range".to_string(), 3)],
                "{layout:?}"
            );
        }
        // The zero row of the original layout is a cell too: a non-zero one fails its gate
        // (and the top limb, which reads it).
        let err =
            run_tampered(RangeLayout::with_zero_row(13), &[(0, 45, false)], Some((4, 1))).expect_err("z₄");
        let (gates, lookups): (Vec<_>, Vec<_>) =
            err.into_iter().partition(|e| matches!(e, VerifyFailure::ConstraintNotSatisfied { .. }));
        assert_eq!(constraint_failures(&gates), vec![("range end".to_string(), "z = 0".to_string(), 4)]);
        assert_eq!(lookup_failures(&lookups), vec![("test range".to_string(), 3)]);
    }

    #[test]
    fn accepts_unsigned_edges() {
        let mut checks = vec![(0, 0, false)];
        for bits in [1, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 120, 126] {
            checks.push((0, bits, false));
            checks.push(((1i128 << bits) - 1, bits, false));
            checks.push(((1i128 << bits) / 3, bits, false));
        }
        for layout in LAYOUTS {
            assert_eq!(run_with(layout, &checks), Ok(()), "{layout:?}");
        }
    }

    #[test]
    fn accepts_signed_edges() {
        let mut checks = vec![];
        for bits in [1, 2, 8, 9, 16, 24, 32, 63, 101, 127] {
            checks.push((-(1i128 << (bits - 1)), bits, true));
            checks.push(((1i128 << (bits - 1)) - 1, bits, true));
            checks.push((0, bits, true));
            checks.push((-1, bits, true));
        }
        for layout in LAYOUTS {
            assert_eq!(run_with(layout, &checks), Ok(()), "{layout:?}");
        }
    }

    /// The failing lookup is on the top limb of the check, the only limb that can hold an
    /// excess.
    fn top_limb_failure(rows_before: usize, bits: u32) -> Vec<(String, usize)> {
        vec![("test range".to_string(), rows_before + limbs(bits, LIMB_BITS) - 1)]
    }

    #[test]
    fn rejects_unsigned_just_above_range() {
        for layout in LAYOUTS {
            for bits in [1, 8, 12, 16, 100] {
                let err =
                    run_with(layout, &[(1i128 << bits, bits, false)]).expect_err("2^bits is out of range");
                assert_eq!(lookup_failures(&err), top_limb_failure(0, bits), "bits = {bits}, {layout:?}");
            }
        }
    }

    #[test]
    fn rejects_negative_as_unsigned() {
        for layout in LAYOUTS {
            let err = run_with(layout, &[(5, 8, false), (-1, 16, false)]).expect_err("-1 is not unsigned");
            assert_eq!(lookup_failures(&err), top_limb_failure(range_rows(8, layout), 16), "{layout:?}");
        }
    }

    #[test]
    fn rejects_signed_outside_both_edges() {
        for layout in LAYOUTS {
            let err = run_with(layout, &[(128, 8, true)]).expect_err("128 > 127");
            assert_eq!(lookup_failures(&err), top_limb_failure(0, 8));
            let err = run_with(layout, &[(-129, 8, true)]).expect_err("-129 < -128");
            assert_eq!(lookup_failures(&err), top_limb_failure(0, 8));
            let err = run_with(layout, &[(1 << 23, 24, true)]).expect_err("2^23 is out of 24-bit range");
            assert_eq!(lookup_failures(&err), top_limb_failure(0, 24));
        }
    }

    #[test]
    fn zero_bits_proves_zero() {
        let err = run(&[(1, 0, false)]).expect_err("only 0 fits in 0 bits");
        assert_eq!(constraint_failures(&err), vec![("range end".to_string(), "z = 0".to_string(), 0)]);
        // Compact: the value's own row is looked up with width 0.
        let compact = RangeLayout::compact(LIMB_BITS);
        let err = run_with(compact, &[(0, 3, false), (1, 0, false)]).expect_err("only 0 fits in 0 bits");
        assert_eq!(lookup_failures(&err), vec![("test range".to_string(), 1)]);
        assert_eq!(run_with(compact, &[(0, 0, false), (7, 3, false), (0, 0, false)]), Ok(()));
    }

    /// Compact checks packed back to back: a check's top limb does not read the next check's
    /// first row, so the largest values sit next to each other, and a top limb one past its
    /// width is caught on its own row whatever follows.
    #[test]
    fn compact_checks_back_to_back_stay_independent() {
        let compact = RangeLayout::compact(LIMB_BITS);
        let max = |bits: u32| (1i128 << bits) - 1;
        let checks = [(max(20), 20, false), (max(16), 16, false), (-1, 9, true), (max(8), 8, false)];
        assert_eq!(run_with(compact, &checks), Ok(()));
        let rows_before = range_rows(20, compact);
        assert_eq!(rows_before, 3);
        let err = run_with(compact, &[(max(20), 20, false), (1 << 16, 16, false), (0, 8, false)])
            .expect_err("2^16 in 16 bits");
        assert_eq!(lookup_failures(&err), top_limb_failure(rows_before, 16));
    }

    /// Wide limbs (the block chunks' 13 to 16 bits) keep every edge: a 45-bit remainder in
    /// 4 limbs of 13 (the top one 6 bits wide), a signed 24-bit value in 2.
    #[test]
    fn wide_limbs_accept_edges_and_reject_just_outside() {
        for layout in
            [13, 14, 16].into_iter().flat_map(|l| [RangeLayout::with_zero_row(l), RangeLayout::compact(l)])
        {
            let limb = layout.limb_bits;
            let mut checks = vec![(0, 0, false)];
            for bits in [1, 6, 13, 14, 16, 17, 24, 45, 53, 95] {
                checks.push(((1i128 << bits) - 1, bits, false));
                checks.push((-(1i128 << (bits - 1)), bits, true));
                checks.push(((1i128 << (bits - 1)) - 1, bits, true));
            }
            assert_eq!(run_with(layout, &checks), Ok(()), "{layout:?}");
            for (v, bits, signed) in
                [(1i128 << 45, 45, false), (-1, 45, false), (1 << 23, 24, true), (-(1 << 23) - 1, 24, true)]
            {
                let err = run_with(layout, &[(v, bits, signed)]).expect_err("out of range");
                let top = limbs(bits, limb) - 1;
                assert_eq!(
                    lookup_failures(&err),
                    vec![("test range".to_string(), top)],
                    "{layout:?}, {v} in {bits}"
                );
            }
        }
    }

    /// A prover who puts a full-width limb where the top limb must be narrower is caught by
    /// the width column: 2^45 − 1 + 2^45 passes no 45-bit check, whatever the limb width.
    #[test]
    fn wide_limbs_bound_the_top_limb_by_its_width() {
        assert_eq!(limbs(45, 13), 4);
        for layout in [RangeLayout::with_zero_row(13), RangeLayout::compact(13)] {
            let err =
                run_with(layout, &[((1i128 << 46) - 1, 45, false)]).expect_err("46 bits in a 45-bit check");
            assert_eq!(lookup_failures(&err), vec![("test range".to_string(), 3)], "{layout:?}");
        }
    }

    #[test]
    fn rejects_bits_above_the_maximum() {
        let circuit = RangeCircuit {
            checks: vec![(0, MAX_RANGE_BITS + 1, false)],
            layout: RangeLayout::DEFAULT,
            tamper: None,
        };
        let failure = crate::testing::refusal(10, &circuit, vec![]);
        let too_wide = Problem::TooWide { what: "range check", got: MAX_RANGE_BITS + 1, max: MAX_RANGE_BITS };
        assert_eq!((failure.chip, failure.problem), (Chip::Range, too_wide));
        let zero_bits =
            crate::testing::refusal(10, &RangeCircuit { checks: vec![(0, 0, true)], ..circuit }, vec![]);
        assert_eq!(zero_bits.problem, Problem::Internal("a signed range check of 0 bits"));
    }
}
