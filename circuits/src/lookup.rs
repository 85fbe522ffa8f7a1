//! Nonlinearity tables: `(x, y)` pairs constrained to be rows of one [`LookupTable`].
//!
//! # Plain layout (`fold = 1`)
//!
//! The table lives in three fixed columns, one row per domain point, with a `tag` of 1:
//!
//! | row | `tag` | `table_input` | `table_output₀` |
//! |---|---|---|---|
//! | `i < len` | 1 | `start + i` | `values[i]` |
//! | `i ≥ len` | 0 | 0 | 0 |
//!
//! An element uses one row of two advice columns:
//!
//! | row | `input` | `output` | `q_lookup` |
//! |---|---|---|---|
//! | `o` | `x` | `y` | 1 |
//!
//! Lookup `name`: `(q_lookup, q_lookup·x, q_lookup·y) ∈ {(tag, table_input, table_output₀)}`.
//! An enabled row must match a tagged row, so `x ∈ [start, end]` and `y = values[x − start]`;
//! a disabled row reads `(0, 0, 0)`, which the untagged rows past the table provide. The
//! table therefore needs at least one row to spare: `len < 2^k − blinding rows` (a 2^16-row
//! table needs `k = 17`). The lookup's input has degree 2, so with the fixed table the
//! argument has degree 5: the same extended domain as any lookup with a selector.
//!
//! # Folded layout (`fold = F ∈ {2, 4}`)
//!
//! A table of `len = F·R` points folds into `R` rows of `F` output columns, so that a
//! 2^16-point table fits a circuit of `k = 15` (`F = 4`). Point `start + s·R + i` sits at row
//! `i`, output column `s`:
//!
//! | row | `tag` | `table_input` | `table_outputₛ` (`s < F`) |
//! |---|---|---|---|
//! | `i < R` | 1 | `start + i` | `values[s·R + i]` |
//! | `i ≥ R` | 0 | 0 | 0 |
//!
//! An element uses one row of `F + 3` advice columns: `x`, `y`, the slot `s` and the row's
//! outputs `o₀ … o_{F−1}`. Lookup `name`:
//! `(q, q·(x − s·R), q·o₀, …, q·o_{F−1}) ∈ {(tag, table_input, table_output₀, …)}`, and gate
//! `name fold` (degree `F + 1 ≤ 5`):
//!
//! | constraint | equation |
//! |---|---|
//! | `slot in 0..F` | `q·∏ᵥ (s − v) = 0` |
//! | `y = o_slot` | `q·(y − Σᵥ Lᵥ(s)·oᵥ) = 0`, `Lᵥ` the Lagrange basis on `0 … F−1` |
//!
//! So `x − start = s·R + i` with `0 ≤ s < F` and `0 ≤ i < R`: `x` lies in the domain, and
//! `y = values[x − start]`, the output at slot `s` of the row the lookup matched.
//!
//! [`extended`] adds the out-of-domain branches of SiLU and exp.

pub mod extended;
mod fold;

use halo2_proofs::arithmetic::Field;
use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;
use zkinfer_quantize::fixed::tables::{
    LookupTable, EXP_IN_BITS, RECIP_MANT_BITS, RSQRT_MANT_BITS, SILU_IN_BITS,
};

use crate::failure::{check, unsupported, Chip, Int, Problem, Span};
use crate::field::{cell_i128, i128_to_fr, AssignedFr};
use crate::pool::ColumnPool;

pub use extended::{
    Beyond, ExtendedCells, ExtendedLookupChip, ExtendedLookupConfig, ExtendedWitness, Extension,
};
pub use fold::{fold_for, min_k_for, MAX_FOLD, TABLE_SPARE_ROWS};

/// Points of the integer model's `rsqrt` table.
pub const RSQRT_POINTS: usize = 1 << RSQRT_MANT_BITS;
/// Points of the `exp` table.
pub const EXP_POINTS: usize = 1 << EXP_IN_BITS;
/// Points of the `recip` table (mantissas `2^15 … 2^16 − 1`).
pub const RECIP_POINTS: usize = 1 << (RECIP_MANT_BITS - 1);
/// Points of the `silu` table.
pub const SILU_POINTS: usize = 1 << SILU_IN_BITS;

/// The extra columns of a folded table (see the [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub struct FoldColumns {
    /// The slot `s` of each element.
    pub slot: Column<Advice>,
    /// The outputs `o₀ … o_{F−1}` of the matched row (the first `fold` are used).
    pub outs: [Option<Column<Advice>>; MAX_FOLD],
}

/// Columns, selector and lookup of one table (see the [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub struct LookupConfig {
    /// Element inputs `x`.
    pub input: Column<Advice>,
    /// Element outputs `y`.
    pub output: Column<Advice>,
    /// Enables the lookup on an element row.
    pub q_lookup: Selector,
    /// 1 on the table's rows, 0 past them.
    pub tag: Column<Fixed>,
    /// The table's inputs (the low part `start + i` when folded).
    pub table_input: Column<Fixed>,
    /// The table's outputs, one column per slot (the first `fold` are used).
    pub table_outputs: [Option<Column<Fixed>>; MAX_FOLD],
    /// Points per table column `R` (`len = fold·R`); any length when `fold = 1`.
    pub rows: usize,
    /// Output columns per table row `F`.
    pub fold: usize,
    /// The slot and row-output columns, when `fold > 1`.
    pub folded: Option<FoldColumns>,
}

impl LookupConfig {
    /// Declares the lookup, called `name`, of `(input, output)` pairs on a plain table (one
    /// row per point). [`LookupChip::assign`] copies cells in and out, so it needs equality
    /// enabled on `input` and `output`; [`LookupChip::assign_pair`] does not.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        name: &str,
        input: Column<Advice>,
        output: Column<Advice>,
    ) -> Self {
        Self::configure_folded(meta, name, input, output, 0, 1)
    }

    /// Declares the lookup of a table of `len` points for a circuit of `2^k` rows, folded
    /// as little as fits ([`fold_for`]).
    pub fn configure_for(
        meta: &mut ConstraintSystem<Fr>,
        name: &str,
        input: Column<Advice>,
        output: Column<Advice>,
        len: usize,
        k: u32,
    ) -> Self {
        Self::configure_for_in(meta, &mut ColumnPool::fresh(), name, input, output, len, k)
    }

    /// [`Self::configure_for`] with the fold's slot and row-output columns drawn from `pool`.
    pub fn configure_for_in(
        meta: &mut ConstraintSystem<Fr>,
        pool: &mut ColumnPool,
        name: &str,
        input: Column<Advice>,
        output: Column<Advice>,
        len: usize,
        k: u32,
    ) -> Self {
        let fold = fold_for(len, k);
        Self::configure_folded_in(meta, pool, name, input, output, len / fold, fold)
    }

    /// Declares the lookup of a table folded `fold` times into `rows` rows (`fold` is 1, 2
    /// or 4; `rows` is ignored when `fold = 1`).
    pub fn configure_folded(
        meta: &mut ConstraintSystem<Fr>,
        name: &str,
        input: Column<Advice>,
        output: Column<Advice>,
        rows: usize,
        fold: usize,
    ) -> Self {
        Self::configure_folded_in(meta, &mut ColumnPool::fresh(), name, input, output, rows, fold)
    }

    /// [`Self::configure_folded`] with the fold's columns drawn from `pool`.
    pub fn configure_folded_in(
        meta: &mut ConstraintSystem<Fr>,
        pool: &mut ColumnPool,
        name: &str,
        input: Column<Advice>,
        output: Column<Advice>,
        rows: usize,
        fold: usize,
    ) -> Self {
        assert!(matches!(fold, 1 | 2 | 4), "fold {fold} is not 1, 2 or 4");
        let q_lookup = meta.complex_selector();
        let tag = meta.fixed_column();
        let table_input = meta.fixed_column();
        let table_outputs: [Option<Column<Fixed>>; MAX_FOLD] =
            std::array::from_fn(|s| (s < fold).then(|| meta.fixed_column()));
        let folded = (fold > 1).then(|| FoldColumns {
            slot: pool.advice(meta, false),
            outs: std::array::from_fn(|s| (s < fold).then(|| pool.advice(meta, false))),
        });
        let config =
            LookupConfig { input, output, q_lookup, tag, table_input, table_outputs, rows, fold, folded };
        meta.lookup_any(name, |meta| {
            let cur = Rotation::cur();
            let q = meta.query_selector(q_lookup);
            let x = meta.query_advice(input, cur);
            let mut args = vec![(q.clone(), meta.query_fixed(tag, cur))];
            let outs: Vec<Expression<Fr>> = match &folded {
                None => {
                    args.push((q.clone() * x, meta.query_fixed(table_input, cur)));
                    vec![meta.query_advice(output, cur)]
                }
                Some(f) => {
                    let s = meta.query_advice(f.slot, cur);
                    let low = x - s * Expression::Constant(Fr::from(rows as u64));
                    args.push((q.clone() * low, meta.query_fixed(table_input, cur)));
                    f.outs.iter().flatten().map(|&o| meta.query_advice(o, cur)).collect()
                }
            };
            for (o, t) in outs.into_iter().zip(table_outputs.iter().flatten()) {
                args.push((q.clone() * o, meta.query_fixed(*t, cur)));
            }
            args
        });
        if let Some(f) = folded {
            meta.create_gate(format!("{name} fold"), |meta| {
                let cur = Rotation::cur();
                let q = meta.query_selector(q_lookup);
                let s = meta.query_advice(f.slot, cur);
                let y = meta.query_advice(output, cur);
                let outs: Vec<Expression<Fr>> =
                    f.outs.iter().flatten().map(|&o| meta.query_advice(o, cur)).collect();
                vec![
                    ("slot in 0..F", q.clone() * fold::vanishing(&s, fold)),
                    ("y = o_slot", q * (y - fold::select(&s, &outs))),
                ]
            });
        }
        config
    }
}

/// Loads one table and assigns `(x, table[x])` elements.
#[derive(Clone, Debug)]
pub struct LookupChip {
    config: LookupConfig,
    table: LookupTable,
}

impl LookupChip {
    /// A chip for `table` over `config`.
    pub fn construct(config: LookupConfig, table: &LookupTable) -> Self {
        LookupChip { config, table: table.clone() }
    }

    /// The chip's configuration.
    pub fn config(&self) -> &LookupConfig {
        &self.config
    }

    /// The chip's table.
    pub fn table(&self) -> &LookupTable {
        &self.table
    }

    /// Rows the table occupies: its length, or `R` when folded.
    fn table_rows(&self) -> Result<usize, Error> {
        let (len, cfg) = (self.table.values.len(), &self.config);
        match cfg.fold {
            1 => Ok(len),
            f if cfg.rows * f == len => Ok(cfg.rows),
            f => Err(unsupported(
                Chip::Lookup,
                format!(
                    "the {} table has {len} values; folded {f} times it needs {}",
                    self.table.name,
                    cfg.rows * f
                ),
            )),
        }
    }

    /// Fills the table's fixed columns, rows `0 .. len` (`0 .. R` when folded). Fails with
    /// `Error::Synthesis` when a folded table's length is not the configured `F·R`.
    pub fn load(&self, layouter: &mut impl Layouter<Fr>) -> Result<(), Error> {
        let cfg = &self.config;
        let rows = self.table_rows()?;
        layouter.assign_region(
            || format!("{} table", self.table.name),
            |mut region| {
                for i in 0..rows {
                    let x = self.table.start + i as i64;
                    region.assign_fixed(cfg.tag, i, Fr::ONE);
                    region.assign_fixed(cfg.table_input, i, i128_to_fr(i128::from(x)));
                    for (s, column) in cfg.table_outputs.iter().flatten().enumerate() {
                        let y = self.table.values[s * rows + i];
                        region.assign_fixed(*column, i, i128_to_fr(i128::from(y)));
                    }
                }
                Ok(())
            },
        )
    }

    /// Looks up the value of the cell `x` at row `offset`: copies `x` in and returns the
    /// cell of `table[x]`. Fails with `Error::Synthesis` when `x` is outside the domain.
    pub fn assign<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        x: &AssignedFr<'_>,
    ) -> Result<AssignedFr<'v>, Error> {
        let value = cell_i128(x).map(|x| (x, x.and_then(|x| self.get(x))));
        check(&value, Chip::Lookup, |(x, y)| {
            let domain = Span::new(self.table.start.into(), self.table.end().into());
            y.is_none().then(|| Problem::outside("input", None, Int(*x), domain))
        })?;
        let pair = value.map(|(x, y)| x.zip(y).unwrap_or_default());
        let (input, output) = self.assign_pair(region, offset, pair)?;
        region.constrain_equal(x.cell(), input.cell());
        Ok(output)
    }

    /// Assigns a precomputed (possibly dishonest) `(x, y)` pair at row `offset`; returns
    /// the input and output cells. When folded, the slot and row outputs are those of the
    /// point `x` (zeros outside the domain).
    pub fn assign_pair<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        pair: Value<(i128, i128)>,
    ) -> Result<(AssignedFr<'v>, AssignedFr<'v>), Error> {
        let cfg = &self.config;
        cfg.q_lookup.enable(region, offset)?;
        let x = region.assign_advice(cfg.input, offset, pair.map(|(x, _)| i128_to_fr(x)));
        let y = region.assign_advice(cfg.output, offset, pair.map(|(_, y)| i128_to_fr(y)));
        if let Some(f) = &cfg.folded {
            let rows = self.table_rows()?;
            let point = pair.map(|(x, _)| self.fold_point(x, rows));
            region.assign_advice(f.slot, offset, point.map(|(s, _)| Fr::from(s as u64)));
            for (s, column) in f.outs.iter().flatten().enumerate() {
                let out = point.map(|(_, i)| {
                    let v = i.and_then(|i| self.table.values.get(s * rows + i).copied()).unwrap_or(0);
                    i128_to_fr(i128::from(v))
                });
                region.assign_advice(*column, offset, out);
            }
        }
        Ok((x, y))
    }

    /// The slot of `x` (clamped to `0 … F−1`) and its row, if `x` is in the domain.
    fn fold_point(&self, x: i128, rows: usize) -> (usize, Option<usize>) {
        let idx = x - i128::from(self.table.start);
        let rows_i = rows as i128;
        let slot = idx.div_euclid(rows_i.max(1)).clamp(0, self.config.fold as i128 - 1);
        let low = idx - slot * rows_i;
        (slot as usize, (0..rows_i).contains(&low).then_some(low as usize))
    }

    /// `table[x]`, or `None` outside the domain.
    pub fn get(&self, x: i128) -> Option<i128> {
        self.table.get(i64::try_from(x).ok()?).map(i128::from)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fold_tests;
