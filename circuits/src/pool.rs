//! Where a chip's advice columns and range checks come from: fresh columns for a chip on
//! its own, or a pool that several chips share in disjoint rows.
//!
//! # Why
//!
//! A halo2 proof pays for every column over all `2^k` rows and for every lookup argument,
//! whether a chip uses ten rows or all of them (`../shared/PROVER-COSTS.md`: about 3 s per
//! million committed advice cells, a lookup argument about as much as four or five advice
//! columns). A chunk circuit whose RMSNorm, attention and Poseidon each own their columns
//! pays for all of them at full height although each fills a few percent of the rows. A
//! shared pool stacks such chips vertically in one set of columns instead: the pool is as
//! wide as its widest chip, and its range-check columns carry one limb lookup each, however
//! many chips check values in them.
//!
//! # Use
//!
//! `configure_in` of a chip draws its columns from the pool in a fixed order; a chip that
//! contains others (the softmax and its rescale) draws theirs after its own, so columns used
//! on the same rows are always distinct. Between chips that will occupy *disjoint rows*,
//! the caller calls [`ColumnPool::rewind`], and the next chip draws the same columns again.
//!
//! # Soundness
//!
//! Every gate and lookup of a chip is switched on by that chip's own selectors, and a chip's
//! gates only query rows inside the rows it says it uses ([`crate::range`]'s running sums
//! end on a zero row of their own, or, compact, on a top limb whose lookup does not read the
//! row below), so stacking chips in disjoint row ranges of the same columns leaves every
//! chip's constraints exactly as they are in its own columns. A shared range column is one
//! [`RangeConfig`] (one `q_limb` selector, one `offset`, one `width` and, compact, one `next`
//! fixed column, one lookup argument): whichever chip checks a value in it sets those on its
//! rows, as it would in a column of its own. The caller must keep the row ranges of chips
//! drawn after a rewind disjoint; [`crate::block`] gives them one row cursor.
//!
//! A deferring pool ([`ColumnPool::deferring`]) hands out range columns whose checks a
//! range bus proves ([`crate::range::bus`]): plain advice columns with equality enabled, no
//! lookup, fixed column or selector of their own; each checked value is copied into its
//! check in the bus, so stacking and sharing them is sound for the same reasons.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem};

use crate::range::{RangeConfig, RangeTableConfig};

/// A source of advice columns and range-check columns (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct ColumnPool {
    shared: Option<Shared>,
    /// Whether range checks are deferred to a bus ([`crate::range::bus`]).
    deferred: bool,
}

#[derive(Clone, Debug)]
struct Shared {
    name: String,
    advice: Vec<Column<Advice>>,
    ranges: Vec<RangeConfig>,
    next_advice: usize,
    next_range: usize,
}

impl ColumnPool {
    /// A pool that hands out a new column on every call: each chip owns its columns, and
    /// each range check has the lookup name its chip gives it.
    pub fn fresh() -> Self {
        ColumnPool { shared: None, deferred: false }
    }

    /// A pool whose columns are reused after every [`Self::rewind`]; its range lookups are
    /// named `<name> range <i>`.
    pub fn shared(name: &str) -> Self {
        ColumnPool {
            shared: Some(Shared {
                name: name.to_string(),
                advice: vec![],
                ranges: vec![],
                next_advice: 0,
                next_range: 0,
            }),
            deferred: false,
        }
    }

    /// This pool, its range columns deferring their checks to a bus when `deferred`
    /// ([`RangeConfig::deferred`]: plain advice columns with equality, no lookup of their
    /// own).
    pub fn deferring(self, deferred: bool) -> Self {
        ColumnPool { deferred, ..self }
    }

    /// Starts handing out the pool's columns from the first again, for a chip that uses rows
    /// disjoint from those of every chip drawn since the last rewind. No effect on a fresh
    /// pool.
    pub fn rewind(&mut self) {
        if let Some(s) = &mut self.shared {
            s.next_advice = 0;
            s.next_range = 0;
        }
    }

    /// The next advice column, with equality enabled when `equality` (a shared column has it
    /// enabled once any of its users asks).
    pub fn advice(&mut self, meta: &mut ConstraintSystem<Fr>, equality: bool) -> Column<Advice> {
        let column = match &mut self.shared {
            None => meta.advice_column(),
            Some(s) => {
                if s.next_advice == s.advice.len() {
                    s.advice.push(meta.advice_column());
                }
                s.next_advice += 1;
                s.advice[s.next_advice - 1]
            }
        };
        if equality {
            meta.enable_equality(column);
        }
        column
    }

    /// `N` advice columns (see [`Self::advice`]).
    pub fn advice_array<const N: usize>(
        &mut self,
        meta: &mut ConstraintSystem<Fr>,
        equality: bool,
    ) -> [Column<Advice>; N] {
        std::array::from_fn(|_| self.advice(meta, equality))
    }

    /// The next range-check column over `table`; its lookup is called `name` in a fresh pool
    /// (a deferring pool's columns have no lookup of their own).
    pub fn range(
        &mut self,
        meta: &mut ConstraintSystem<Fr>,
        name: &str,
        table: RangeTableConfig,
    ) -> RangeConfig {
        let deferred = self.deferred;
        let declare = |meta: &mut ConstraintSystem<Fr>, name: &str| {
            let z = meta.advice_column();
            if deferred {
                RangeConfig::deferred(meta, z, table)
            } else {
                RangeConfig::configure(meta, name, z, table)
            }
        };
        match &mut self.shared {
            None => declare(meta, name),
            Some(s) => {
                if s.next_range == s.ranges.len() {
                    let lookup = format!("{} range {}", s.name, s.ranges.len());
                    s.ranges.push(declare(meta, &lookup));
                }
                s.next_range += 1;
                s.ranges[s.next_range - 1]
            }
        }
    }
}

#[cfg(test)]
mod tests;
