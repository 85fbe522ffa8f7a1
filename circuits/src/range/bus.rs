//! A range bus: range checks taken out of the columns of the chips that need them and laid out
//! one after another in a few range columns of their own, each value copied in.
//!
//! # Why
//!
//! A range column checked in place costs a lookup argument, three fixed columns and a
//! selector, and a chip that checks several values on one row (a rescale checks its
//! remainder, output and excess together) needs one such column per value. In a chunk
//! circuit those columns are mostly empty, yet each is a commitment in the proof and in the
//! verifying key — and every commitment costs an aggregation verifier about 104 k cells. With
//! a bus, a chip's range columns become plain advice columns with equality enabled
//! ([`RangeCheck::Deferred`](super::RangeCheck::Deferred)); the checks themselves fill the bus's columns back to back,
//! so their number follows the checks' rows, not the number of values a chip checks side by
//! side.
//!
//! # Layout
//!
//! A deferred [`RangeChip`] assignment writes `v` into the chip's `z` at its row and records
//! a [`Pending`] check (the cell, `v`, `bits`, the signed offset). Once every chip has
//! assigned, [`RangeBusConfig::assign`] proves each pending check in place in the bus's
//! columns — the first column from row 0 to its last usable row, then the next — and
//! constrains the check's first cell to equal the chip's cell:
//!
//! | bus column `i`, rows `o .. o + rows(bits)` | the check of one value, in place ([`crate::range`]) |
//! |---|---|
//! | copy constraint | bus cell `(i, o)` = the chip's cell |
//!
//! # Collecting
//!
//! Chips assign deferred checks through [`RangeChip`] unchanged; the checks are gathered for
//! the caller by [`collect`], which runs the chips' assignment with a collector installed
//! for the current thread (halo2 synthesizes a circuit on the thread that calls keygen,
//! `create_proof` or `MockProver::run`). A deferred assignment outside [`collect`] is a
//! configuration error (`Error::Synthesis`), never a check silently dropped.
//!
//! # Soundness
//!
//! Each bus check is the in-place check of [`crate::range`] on its own rows, and the copy
//! constraint makes its first cell the chip's value, so the chip's value is exactly as
//! constrained as if it had been checked in its own column.

use std::cell::RefCell;

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error};

use super::{RangeChip, RangeConfig, RangeTableConfig};

/// A range check recorded by a deferred assignment, waiting for the bus.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The chip's cell holding the value.
    pub cell: Cell,
    /// The value.
    pub value: Value<Fr>,
    /// `0 ≤ value + shift < 2^bits`.
    pub bits: u32,
    /// 0 (unsigned) or `2^(bits−1)` (signed).
    pub shift: Fr,
}

thread_local! {
    static PENDING: RefCell<Option<Vec<Pending>>> = const { RefCell::new(None) };
}

/// Records `check` for the collector of the current thread; `Error::Synthesis` when there is
/// none (a deferred column used outside [`collect`]).
pub(crate) fn defer(check: Pending) -> Result<(), Error> {
    PENDING.with(|p| match p.borrow_mut().as_mut() {
        Some(checks) => {
            checks.push(check);
            Ok(())
        }
        None => Err(crate::failure::internal(
            crate::failure::Chip::Range,
            "a deferred range check outside bus::collect",
        )),
    })
}

/// Runs `assign` and returns its result with the checks its deferred range assignments
/// recorded, in the order they were made. Nested calls each gather their own.
pub fn collect<R>(assign: impl FnOnce() -> Result<R, Error>) -> Result<(R, Vec<Pending>), Error> {
    let outer = PENDING.with(|p| p.borrow_mut().replace(Vec::new()));
    let result = assign();
    let checks = PENDING.with(|p| std::mem::replace(&mut *p.borrow_mut(), outer)).unwrap_or_default();
    Ok((result?, checks))
}

/// The bus's range columns (each checked in place, with equality enabled on its `z`).
#[derive(Clone, Debug)]
pub struct RangeBusConfig {
    /// The columns, filled in order.
    pub columns: Vec<RangeConfig>,
}

impl RangeBusConfig {
    /// Declares `n` bus columns over `table`, their lookups named `<name> <i>`.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, name: &str, n: usize, table: RangeTableConfig) -> Self {
        let columns = (0..n)
            .map(|i| {
                let z = meta.advice_column();
                meta.enable_equality(z);
                RangeConfig::configure(meta, &format!("{name} {i}"), z, table)
            })
            .collect();
        RangeBusConfig { columns }
    }

    /// Rows `checks` of these widths take in the bus (each check whole in one column, so a
    /// column may end with a few rows unused: see [`Self::assign`]).
    pub fn rows(&self, bits: impl IntoIterator<Item = u32>) -> usize {
        let table = self.columns.first().map(|c| c.table);
        table.map_or(0, |t| bits.into_iter().map(|b| super::range_rows(b, t.layout())).sum())
    }

    /// Proves every check of `checks` in the bus's columns, each in `rows` usable rows from
    /// row 0 (a check never straddles two columns), and copies its first cell to the chip's.
    /// `Error::NotEnoughRowsAvailable` when they do not fit.
    pub fn assign(
        &self,
        region: &mut Region<'_, Fr>,
        rows: usize,
        k: u32,
        checks: &[Pending],
    ) -> Result<(), Error> {
        let mut column = 0;
        let mut row = 0;
        for check in checks {
            let Some(cfg) = self.columns.get(column) else {
                return Err(Error::NotEnoughRowsAvailable { current_k: k });
            };
            let need = cfg.rows(check.bits);
            let cfg = if row + need <= rows {
                cfg
            } else {
                column += 1;
                row = 0;
                match self.columns.get(column) {
                    Some(next) if need <= rows => next,
                    _ => return Err(Error::NotEnoughRowsAvailable { current_k: k }),
                }
            };
            let cell =
                RangeChip::construct(*cfg).assign(region, row, check.value, check.bits, check.shift)?;
            region.constrain_equal(cell.cell(), check.cell);
            row += need;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
