//! Nonlinearity tables: `(x, y)` pairs constrained to be rows of one [`LookupTable`].
//!
//! The table lives in three fixed columns, one row per domain point, with a `tag` of 1:
//!
//! | row | `tag` | `table_input` | `table_output` |
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
//! Lookup `name`: `(q_lookup, q_lookup·x, q_lookup·y) ∈ {(tag, table_input, table_output)}`.
//! An enabled row must match a tagged row, so `x ∈ [start, end]` and `y = values[x − start]`;
//! a disabled row reads `(0, 0, 0)`, which the untagged rows past the table provide. The
//! table therefore needs at least one row to spare: `len < 2^k − blinding rows` (a 2^16-row
//! table needs `k = 17`). The lookup's input has degree 2, so with the fixed table the
//! argument has degree 5: the same extended domain as any lookup with a selector.
//!
//! [`extended`] adds the out-of-domain branches of SiLU and exp.

pub mod extended;

use halo2_proofs::arithmetic::Field;
use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Fixed, Selector};
use halo2_proofs::poly::Rotation;
use zkinfer_quantize::fixed::tables::LookupTable;

use crate::field::{cell_i128, i128_to_fr, AssignedFr};

pub use extended::{
    Beyond, ExtendedCells, ExtendedLookupChip, ExtendedLookupConfig, ExtendedWitness, Extension,
};

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
    /// The table's inputs.
    pub table_input: Column<Fixed>,
    /// The table's outputs.
    pub table_output: Column<Fixed>,
}

impl LookupConfig {
    /// Declares the lookup, called `name`, of `(input, output)` pairs; its table columns.
    /// [`LookupChip::assign`] copies cells in and out, so it needs equality enabled on
    /// `input` and `output`; [`LookupChip::assign_pair`] does not.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        name: &str,
        input: Column<Advice>,
        output: Column<Advice>,
    ) -> Self {
        let q_lookup = meta.complex_selector();
        let tag = meta.fixed_column();
        let table_input = meta.fixed_column();
        let table_output = meta.fixed_column();
        meta.lookup_any(name, |meta| {
            let q = meta.query_selector(q_lookup);
            let x = meta.query_advice(input, Rotation::cur());
            let y = meta.query_advice(output, Rotation::cur());
            let tag = meta.query_fixed(tag, Rotation::cur());
            let tx = meta.query_fixed(table_input, Rotation::cur());
            let ty = meta.query_fixed(table_output, Rotation::cur());
            vec![(q.clone(), tag), (q.clone() * x, tx), (q * y, ty)]
        });
        LookupConfig { input, output, q_lookup, tag, table_input, table_output }
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

    /// Fills the table's fixed columns, rows `0 .. len`.
    pub fn load(&self, layouter: &mut impl Layouter<Fr>) -> Result<(), Error> {
        let cfg = &self.config;
        layouter.assign_region(
            || format!("{} table", self.table.name),
            |mut region| {
                for (i, &y) in self.table.values.iter().enumerate() {
                    let x = self.table.start + i as i64;
                    region.assign_fixed(cfg.tag, i, Fr::ONE);
                    region.assign_fixed(cfg.table_input, i, i128_to_fr(i128::from(x)));
                    region.assign_fixed(cfg.table_output, i, i128_to_fr(i128::from(y)));
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
        let value = cell_i128(x).map(|x| x.and_then(|x| Some((x, self.get(x)?))));
        value.error_if_known_and(Option::is_none)?;
        let pair = value.map(|p| p.unwrap_or_default());
        let (input, output) = self.assign_pair(region, offset, pair)?;
        region.constrain_equal(x.cell(), input.cell());
        Ok(output)
    }

    /// Assigns a precomputed (possibly dishonest) `(x, y)` pair at row `offset`; returns
    /// the input and output cells.
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
        Ok((x, y))
    }

    /// `table[x]`, or `None` outside the domain.
    pub fn get(&self, x: i128) -> Option<i128> {
        self.table.get(i64::try_from(x).ok()?).map(i128::from)
    }
}

#[cfg(test)]
mod tests;
