//! An `Assignment` that keeps no values: how a circuit lays out, as keygen's pass without
//! witnesses sees it, at no memory cost — what [`crate::block::RangeCensus`] counts with, and
//! what tests read rows from.

use std::collections::HashMap;

use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{
    Advice, Any, Assigned, Assignment, Challenge, Column, Error, Fixed, Instance, Selector,
};

/// An `Assignment` that keeps no values, as keygen's pass without witnesses sees the
/// circuit; it records the last row assigned in each advice column and the rows each
/// selector is enabled on.
#[derive(Default)]
pub(crate) struct LastRows {
    advice: HashMap<usize, usize>,
    selectors: HashMap<usize, Vec<usize>>,
}

impl LastRows {
    /// A probe that records nothing yet.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The last row assigned in the advice column with index `column`.
    #[cfg(test)]
    pub(crate) fn last_row(&self, column: usize) -> Option<usize> {
        self.advice.get(&column).copied()
    }

    /// The rows `selector` is enabled on, in the order they were enabled.
    #[cfg(test)]
    pub(crate) fn selector_rows(&self, selector: &Selector) -> &[usize] {
        self.selectors.get(&selector.index()).map_or(&[], Vec::as_slice)
    }

    /// The last row assigned in any advice column but those with the indices in `skip`.
    #[cfg(test)]
    pub(crate) fn last_row_except(&self, skip: &[usize]) -> Option<usize> {
        self.advice.iter().filter(|(c, _)| !skip.contains(c)).map(|(_, &r)| r).max()
    }
}

impl Assignment<Fr> for LastRows {
    fn enter_region<NR: Into<String>, N: FnOnce() -> NR>(&mut self, _: N) {}
    fn annotate_column<A: FnOnce() -> AR, AR: Into<String>>(&mut self, _: A, _: Column<Any>) {}
    fn exit_region(&mut self) {}
    fn enable_selector<A: FnOnce() -> AR, AR: Into<String>>(
        &mut self,
        _: A,
        selector: &Selector,
        row: usize,
    ) -> Result<(), Error> {
        self.selectors.entry(selector.index()).or_default().push(row);
        Ok(())
    }
    fn query_instance(&self, _: Column<Instance>, _: usize) -> Result<Value<Fr>, Error> {
        Ok(Value::unknown())
    }
    fn assign_advice<'v>(
        &mut self,
        column: Column<Advice>,
        row: usize,
        _: Value<Assigned<Fr>>,
    ) -> Value<&'v Assigned<Fr>> {
        let last = self.advice.entry(column.index()).or_default();
        *last = (*last).max(row);
        Value::unknown()
    }
    fn assign_fixed(&mut self, _: Column<Fixed>, _: usize, _: Assigned<Fr>) {}
    fn copy(&mut self, _: Column<Any>, _: usize, _: Column<Any>, _: usize) {}
    fn fill_from_row(&mut self, _: Column<Fixed>, _: usize, _: Value<Assigned<Fr>>) -> Result<(), Error> {
        Ok(())
    }
    fn get_challenge(&self, _: Challenge) -> Value<Fr> {
        Value::unknown()
    }
    fn push_namespace<NR: Into<String>, N: FnOnce() -> NR>(&mut self, _: N) {}
    fn pop_namespace(&mut self, _: Option<String>) {}
}
