//! Test helpers: the failures a `MockProver` reports, reduced to names and rows.

use halo2_proofs::dev::{FailureLocation, VerifyFailure};

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
