//! Test helpers: the failures a `MockProver` reports, reduced to names and rows, and a
//! value-free synthesis that records the rows a chip assigns.

use std::collections::HashMap;

use halo2_proofs::circuit::Value;
use halo2_proofs::dev::{FailureLocation, VerifyFailure};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{
    Advice, Any, Assigned, Assignment, Challenge, Column, Error, Fixed, Instance, Selector,
};

/// The row a failure points at (the offset inside its region; halo2-axiom's
/// `SimpleFloorPlanner` starts every region at row 0, so this is the absolute row).
fn row(location: &FailureLocation) -> usize {
    match location {
        FailureLocation::InRegion { offset, .. } => *offset,
        FailureLocation::OutsideRegion { row } => *row,
    }
}

/// `(lookup name, row)` of every failure, which must all be lookup failures.
pub(crate) fn lookup_failures(failures: &[VerifyFailure]) -> Vec<(String, usize)> {
    failures
        .iter()
        .map(|f| match f {
            VerifyFailure::Lookup { name, location, .. } => (name.clone(), row(location)),
            other => panic!("expected only lookup failures, got {other}"),
        })
        .collect()
}

/// `(gate name, constraint name, row)` of every failure, which must all be unsatisfied
/// constraints.
pub(crate) fn constraint_failures(failures: &[VerifyFailure]) -> Vec<(String, String, usize)> {
    failures
        .iter()
        .map(|f| match f {
            VerifyFailure::ConstraintNotSatisfied { constraint, location, .. } => {
                // `metadata::Constraint` only exposes its names through `Display`:
                // "Constraint 2 ('name') in gate 0 ('gate')".
                let text = constraint.to_string();
                let quoted: Vec<&str> = text.split('\'').skip(1).step_by(2).collect();
                let (name, gate) = match quoted.as_slice() {
                    [name, gate] => (name.to_string(), gate.to_string()),
                    [gate] => (String::new(), gate.to_string()),
                    _ => panic!("unexpected constraint text {text}"),
                };
                (gate, name, row(location))
            }
            other => panic!("expected only constraint failures, got {other}"),
        })
        .collect()
}

/// The smallest `k` whose usable rows (2^k minus halo2's blinding rows) hold `rows`.
pub(crate) fn k_for(rows: usize) -> u32 {
    let mut k = 4;
    while (1usize << k) < rows + 16 {
        k += 1;
    }
    k
}

/// Whether every failure is a broken copy constraint (and there is at least one).
pub(crate) fn only_permutation_failures(failures: &[VerifyFailure]) -> bool {
    !failures.is_empty() && failures.iter().all(|f| matches!(f, VerifyFailure::Permutation { .. }))
}

/// An `Assignment` that keeps no values, as keygen's pass without witnesses sees the
/// circuit; it records the last row assigned in each advice column.
#[derive(Default)]
pub(crate) struct LastRows {
    advice: HashMap<usize, usize>,
}

impl LastRows {
    /// The last row assigned in any advice column but those with the indices in `skip`.
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
        _: &Selector,
        _: usize,
    ) -> Result<(), Error> {
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
