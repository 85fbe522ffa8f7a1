//! A table lookup extended past its domain `[start, end]`, as the integer model does it:
//!
//! | table | below `start` | above `end` | reference |
//! |---|---|---|---|
//! | `silu` | `y = 0` | `y = x` | [`Tables::silu`](zkinfer_quantize::fixed::tables::Tables::silu) |
//! | `exp` | `y = table[start]` | `y = table[end]` | [`Tables::exp_neg`](zkinfer_quantize::fixed::tables::Tables::exp_neg) (`z` saturates) |
//!
//! # Relations
//!
//! Two boolean flags `above`, `below` (never both) pick the branch and an excess `e`
//! proves it:
//!
//! - in domain (no flag): `(x, y)` is a table row through the [`LookupConfig`] columns, and
//!   `e = 0`;
//! - `above`: `x = end + 1 + e` with `0 ≤ e < 2^x_bits`, so `x > end`, and `y` follows the
//!   branch ([`Beyond`]);
//! - `below`: `x = start − 1 − e`, so `x < start`, and `y` follows the branch.
//!
//! A [`Beyond::Clamp`] branch looks up the domain edge: the table input is `end` (`start`)
//! and `y` is the table output, so `y = table[end]` without the chip knowing the table.
//! Every branch bounds `x` to `[start − 2^x_bits, end + 2^x_bits]`, so `x` is a genuine small
//! integer whatever field element is claimed.
//!
//! # Layout
//!
//! One element uses `range_rows(x_bits)` rows from its offset `o`:
//!
//! | row | `x` | `y` | `above` | `below` | `input` (table) | `output` (table) | `z_e` | `q_extend` | `q_lookup` |
//! |---|---|---|---|---|---|---|---|---|---|
//! | `o` | `x` | `y` | `above` | `below` | `tx` | `ty` | `e` | 1 | 1 |
//! | `o + 1 …` | | | | | | | limbs of `e` | 0 | 0 |
//!
//! Gate `<name> domain` (on `q_extend`), with `in = 1 − above − below`, degree ≤ 3:
//!
//! | constraint | equation |
//! |---|---|
//! | `above is boolean` | `above·(1 − above) = 0` |
//! | `below is boolean` | `below·(1 − below) = 0` |
//! | `not above and below` | `above·below = 0` |
//! | `in domain: table input = x` | `in·(tx − x) = 0` |
//! | `in domain: y = table output` | `in·(ty − y) = 0` |
//! | `excess` | `e − above·(x − end − 1) − below·(start − 1 − x) = 0` |
//! | `above: table input = end` ([`Beyond::Clamp`]) | `above·(tx − end) = 0` |
//! | `above: y = table output` ([`Beyond::Clamp`]) | `above·(ty − y) = 0` |
//! | `above: y = x` ([`Beyond::Identity`]) | `above·(y − x) = 0` |
//! | `above: y = c` ([`Beyond::Constant`]) | `above·(y − c) = 0` |
//!
//! and the same three options for `below` with `start`. Lookups: the table's (through
//! `tx`, `ty`) and `<name> excess` (`e`, unsigned `x_bits` bits).

use halo2_proofs::arithmetic::Field;
use halo2_proofs::circuit::{Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;
use zkinfer_quantize::fixed::tables::{LookupTable, EXP_IN_BITS, SILU_IN_BITS};

use super::{LookupChip, LookupConfig};
use crate::failure::{check, too_wide, unsupported, Chip, Problem, Span};
use crate::field::{cell_i128, i128_to_fr, AssignedFr};
use crate::pool::ColumnPool;
use crate::range::{range_rows, RangeChip, RangeConfig, RangeLayout, RangeTableConfig, MAX_RANGE_BITS};

/// What the output is on one side outside the table's domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beyond {
    /// The input saturates to the domain edge: `y = table[edge]`.
    Clamp,
    /// `y = x`.
    Identity,
    /// `y = c`.
    Constant(i64),
}

/// A table's domain and its branches outside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extension {
    /// Smallest table input.
    pub start: i64,
    /// Largest table input.
    pub end: i64,
    /// The branch for `x < start`.
    pub below: Beyond,
    /// The branch for `x > end`.
    pub above: Beyond,
}

impl Extension {
    /// SiLU: zero below `−2^15`, identity from `2^15` on.
    pub const fn silu() -> Self {
        let half = 1i64 << (SILU_IN_BITS - 1);
        Extension { start: -half, end: half - 1, below: Beyond::Constant(0), above: Beyond::Identity }
    }

    /// exp(−z): `z` saturates to `[0, 2^16 − 1]`.
    pub const fn exp() -> Self {
        Extension { start: 0, end: (1i64 << EXP_IN_BITS) - 1, below: Beyond::Clamp, above: Beyond::Clamp }
    }

    /// Whether `table` has exactly this domain.
    pub fn fits(&self, table: &LookupTable) -> bool {
        table.start == self.start && table.end() == self.end
    }
}

/// Every witness value of one element.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtendedWitness {
    /// Input.
    pub x: i128,
    /// Output.
    pub y: i128,
    /// The table row's input.
    pub tx: i128,
    /// The table row's output.
    pub ty: i128,
    /// `x > end`.
    pub above: bool,
    /// `x < start`.
    pub below: bool,
    /// How far `x` lies past the domain edge, minus one; 0 inside.
    pub excess: i128,
}

/// The constraint names of one side's branch.
struct SideNames {
    table_input: &'static str,
    table_output: &'static str,
    identity: &'static str,
    constant: &'static str,
}

const ABOVE_NAMES: SideNames = SideNames {
    table_input: "above: table input = end",
    table_output: "above: y = table output",
    identity: "above: y = x",
    constant: "above: y = c",
};

const BELOW_NAMES: SideNames = SideNames {
    table_input: "below: table input = start",
    table_output: "below: y = table output",
    identity: "below: y = x",
    constant: "below: y = c",
};

/// Columns, selector, gate and range check of an extended lookup (see the
/// [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub struct ExtendedLookupConfig {
    /// The table's columns; `tx` and `ty` are its `input` and `output` (which need no
    /// equality).
    pub lookup: LookupConfig,
    /// Input `x` (equality enabled).
    pub x: Column<Advice>,
    /// Output `y` (equality enabled).
    pub y: Column<Advice>,
    /// Flag: `x > end`.
    pub above: Column<Advice>,
    /// Flag: `x < start`.
    pub below: Column<Advice>,
    /// Enables the domain gate.
    pub q_extend: Selector,
    /// Range check of the excess `e` (its `z` column holds `e`).
    pub excess: RangeConfig,
    /// The domain and branches.
    pub extension: Extension,
}

impl ExtendedLookupConfig {
    /// Declares the gate `<name> domain` and the lookup `<name> excess` around `lookup`.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        name: &str,
        lookup: LookupConfig,
        range_table: RangeTableConfig,
        extension: Extension,
    ) -> Self {
        Self::configure_in(meta, &mut ColumnPool::fresh(), name, lookup, range_table, extension)
    }

    /// [`Self::configure`] with the advice and range-check columns drawn from `pool`.
    pub fn configure_in(
        meta: &mut ConstraintSystem<Fr>,
        pool: &mut ColumnPool,
        name: &str,
        lookup: LookupConfig,
        range_table: RangeTableConfig,
        extension: Extension,
    ) -> Self {
        let x = pool.advice(meta, true);
        let y = pool.advice(meta, true);
        let above = pool.advice(meta, false);
        let below = pool.advice(meta, false);
        let q_extend = meta.selector();
        let excess = pool.range(meta, &format!("{name} excess"), range_table);

        meta.create_gate(format!("{name} domain"), |meta| {
            let s = meta.query_selector(q_extend);
            let cur = Rotation::cur();
            let x = meta.query_advice(x, cur);
            let y = meta.query_advice(y, cur);
            let above = meta.query_advice(above, cur);
            let below = meta.query_advice(below, cur);
            let tx = meta.query_advice(lookup.input, cur);
            let ty = meta.query_advice(lookup.output, cur);
            let e = meta.query_advice(excess.z, cur);
            let c = |v: i64| Expression::Constant(i128_to_fr(i128::from(v)));
            let one = Expression::Constant(Fr::ONE);
            let inside = one.clone() - above.clone() - below.clone();
            let (start, end) = (extension.start, extension.end);
            let mut constraints = vec![
                ("above is boolean", above.clone() * (one.clone() - above.clone())),
                ("below is boolean", below.clone() * (one.clone() - below.clone())),
                ("not above and below", above.clone() * below.clone()),
                ("in domain: table input = x", inside.clone() * (tx.clone() - x.clone())),
                ("in domain: y = table output", inside * (ty.clone() - y.clone())),
                (
                    "excess",
                    e - above.clone() * (x.clone() - c(end) - one.clone())
                        - below.clone() * (c(start) - one - x.clone()),
                ),
            ];
            let sides =
                [(above, extension.above, end, &ABOVE_NAMES), (below, extension.below, start, &BELOW_NAMES)];
            for (flag, branch, edge, names) in sides {
                match branch {
                    Beyond::Clamp => {
                        constraints.push((names.table_input, flag.clone() * (tx.clone() - c(edge))));
                        constraints.push((names.table_output, flag * (ty.clone() - y.clone())));
                    }
                    Beyond::Identity => constraints.push((names.identity, flag * (y.clone() - x.clone()))),
                    Beyond::Constant(v) => constraints.push((names.constant, flag * (y.clone() - c(v)))),
                }
            }
            constraints.into_iter().map(move |(name, poly)| (name, s.clone() * poly)).collect::<Vec<_>>()
        });

        ExtendedLookupConfig { lookup, x, y, above, below, q_extend, excess, extension }
    }
}

/// The two cells of an element that other chips connect to.
#[derive(Clone, Debug)]
pub struct ExtendedCells<'v> {
    /// The input `x`.
    pub x: AssignedFr<'v>,
    /// The output `y`.
    pub y: AssignedFr<'v>,
}

/// Assigns extended-lookup elements; the table itself is loaded by [`LookupChip::load`].
#[derive(Clone, Debug)]
pub struct ExtendedLookupChip {
    config: ExtendedLookupConfig,
    lookup: LookupChip,
}

impl ExtendedLookupChip {
    /// A chip for `table` over `config`; `Error::Synthesis` when the table's domain is not
    /// the configured one.
    pub fn construct(config: ExtendedLookupConfig, table: &LookupTable) -> Result<Self, Error> {
        if !config.extension.fits(table) || table.values.is_empty() {
            let (start, end) = (config.extension.start, config.extension.end);
            let why = format!("the {} table's domain is not the configured [{start}, {end}]", table.name);
            return Err(unsupported(Chip::ExtendedLookup, why));
        }
        Ok(ExtendedLookupChip { config, lookup: LookupChip::construct(config.lookup, table) })
    }

    /// The chip's configuration.
    pub fn config(&self) -> &ExtendedLookupConfig {
        &self.config
    }

    /// The plain chip of the table (to load it).
    pub fn lookup(&self) -> &LookupChip {
        &self.lookup
    }

    /// Rows one element with a `x_bits`-bit input uses in the range layout `layout`.
    pub fn rows(x_bits: u32, layout: RangeLayout) -> usize {
        range_rows(x_bits, layout)
    }

    /// The inputs an `x_bits`-bit excess reaches: `[start − 2^x_bits, end + 2^x_bits]`.
    pub fn reach(&self, x_bits: u32) -> Span {
        let ext = &self.config.extension;
        let w = if x_bits < 127 { 1i128 << x_bits } else { i128::MAX };
        Span::new(i128::from(ext.start).saturating_sub(w), i128::from(ext.end).saturating_add(w))
    }

    /// The honest witness for `x`, or `None` when the excess does not fit `x_bits` bits.
    pub fn witness(&self, x: i128, x_bits: u32) -> Option<ExtendedWitness> {
        let ext = &self.config.extension;
        let (start, end) = (i128::from(ext.start), i128::from(ext.end));
        let (above, below) = (x > end, x < start);
        let (branch, edge, excess) = if above {
            (ext.above, end, x - end - 1)
        } else if below {
            (ext.below, start, start - 1 - x)
        } else {
            let y = self.lookup.get(x)?;
            return Some(ExtendedWitness { x, y, tx: x, ty: y, above, below, excess: 0 });
        };
        if x_bits > MAX_RANGE_BITS || (excess >> x_bits.min(127)) != 0 {
            return None;
        }
        let (tx, y) = match branch {
            Beyond::Clamp => (edge, self.lookup.get(edge)?),
            Beyond::Identity => (start, x),
            Beyond::Constant(c) => (start, i128::from(c)),
        };
        let ty = self.lookup.get(tx)?;
        Some(ExtendedWitness { x, y, tx, ty, above, below, excess })
    }

    /// Evaluates the extended table at the value of the cell `x` at rows
    /// `offset .. offset + rows(x_bits)`: copies `x` in and returns the cell of `y`. Fails
    /// with `Error::Synthesis` when `x` is out of the `x_bits` reach.
    pub fn assign<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        x: &AssignedFr<'_>,
        x_bits: u32,
    ) -> Result<AssignedFr<'v>, Error> {
        if x_bits > MAX_RANGE_BITS {
            return Err(too_wide(Chip::ExtendedLookup, "input", x_bits, MAX_RANGE_BITS));
        }
        let value = cell_i128(x);
        check(&value, Chip::ExtendedLookup, |v| Problem::unless_in("input", *v, self.reach(x_bits)))?;
        let witness = value.map(|x| self.witness(x?, x_bits));
        check(&witness, Chip::ExtendedLookup, |w| {
            w.is_none()
                .then(|| Problem::Unsupported(format!("the {} table has a gap", self.lookup.table().name)))
        })?;
        let witness = witness.map(Option::unwrap_or_default);
        let cells = self.assign_witness(region, offset, witness, x_bits)?;
        region.constrain_equal(x.cell(), cells.x.cell());
        Ok(cells.y)
    }

    /// Assigns one element from a precomputed (possibly dishonest) witness at rows
    /// `offset .. offset + rows(x_bits)`.
    pub fn assign_witness<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        w: Value<ExtendedWitness>,
        x_bits: u32,
    ) -> Result<ExtendedCells<'v>, Error> {
        let cfg = &self.config;
        cfg.q_extend.enable(region, offset)?;
        let fr = |f: fn(&ExtendedWitness) -> i128| w.map(|w| i128_to_fr(f(&w)));
        let flag = |f: fn(&ExtendedWitness) -> bool| w.map(|w| Fr::from(u64::from(f(&w))));
        let x = region.assign_advice(cfg.x, offset, fr(|w| w.x));
        let y = region.assign_advice(cfg.y, offset, fr(|w| w.y));
        region.assign_advice(cfg.above, offset, flag(|w| w.above));
        region.assign_advice(cfg.below, offset, flag(|w| w.below));
        self.lookup.assign_pair(region, offset, w.map(|w| (w.tx, w.ty)))?;
        RangeChip::construct(cfg.excess).assign_unsigned(region, offset, fr(|w| w.excess), x_bits)?;
        Ok(ExtendedCells { x, y })
    }
}
