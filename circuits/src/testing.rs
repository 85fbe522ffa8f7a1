//! Test helpers: the failures a `MockProver` reports, reduced to names and rows, and
//! ([`LastRows`]) a value-free synthesis that records the rows a chip assigns.

use halo2_proofs::dev::{FailureLocation, VerifyFailure};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Any, Error};

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

/// `(column kind, column index, row)` of every failure — the kind is `"advice"`, `"fixed"`
/// or `"instance"` — sorted by column index and row; the failures must all be broken copy
/// constraints.
pub(crate) fn permutation_failures(failures: &[VerifyFailure]) -> Vec<(&'static str, usize, usize)> {
    let mut out: Vec<_> = failures
        .iter()
        .map(|f| match f {
            VerifyFailure::Permutation { column, location } => {
                let kind = match column.column_type() {
                    Any::Advice(_) => "advice",
                    Any::Fixed => "fixed",
                    Any::Instance => "instance",
                };
                (kind, column.index(), row(location))
            }
            other => panic!("expected only permutation failures, got {other}"),
        })
        .collect();
    out.sort_by_key(|&(kind, c, r)| (c, r, kind));
    out
}

pub(crate) use crate::probe::LastRows;

/// Runs `circuit` through `MockProver` at `k`, which must refuse it with
/// `Error::Synthesis`; returns the failure the refusing chip recorded.
pub(crate) fn refusal<C: halo2_proofs::plonk::Circuit<Fr>>(
    k: u32,
    circuit: &C,
    instances: Vec<Vec<Fr>>,
) -> crate::failure::Failure {
    crate::failure::clear();
    match halo2_proofs::dev::MockProver::run(k, circuit, instances) {
        Err(e @ Error::Synthesis) => crate::failure::explain(&e).expect("the refusing chip records why"),
        Err(e) => panic!("expected a synthesis refusal, got {e}"),
        Ok(_) => panic!("expected a synthesis refusal, the circuit synthesized"),
    }
}
