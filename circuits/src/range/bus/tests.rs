use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
use halo2_proofs::dev::{MockProver, VerifyFailure};
use halo2_proofs::plonk::{Advice, Circuit, Column};

use super::*;
use crate::field::i128_to_fr;
use crate::range::{RangeLayout, LIMB_BITS};
use crate::testing::{lookup_failures, permutation_failures};

/// One value a chip checks: `(v, bits, signed)`.
type Check = (i128, u32, bool);

const K: u32 = 10;

#[derive(Clone, Debug)]
struct BusTestConfig {
    /// The chip's column, checked through the bus.
    chip: RangeConfig,
    bus: RangeBusConfig,
}

/// Checks of one chip column proven by a bus of `BUS` columns of `rows` usable rows each;
/// optionally one advice cell overwritten after the honest assignment.
#[derive(Clone)]
struct BusCircuit<const BUS: usize> {
    checks: Vec<Check>,
    rows: usize,
    collect: bool,
    tamper: Option<(bool, usize, i128)>,
}

impl<const BUS: usize> Circuit<Fr> for BusCircuit<BUS> {
    type Config = BusTestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> BusTestConfig {
        let table = RangeTableConfig::configure_layout(meta, RangeLayout::compact(LIMB_BITS));
        let z = meta.advice_column();
        let chip = RangeConfig::deferred(meta, z, table);
        let bus = RangeBusConfig::configure(meta, "test bus", BUS, table);
        BusTestConfig { chip, bus }
    }

    fn synthesize(&self, config: BusTestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        config.chip.table.load(&mut layouter)?;
        let chip = RangeChip::construct(config.chip);
        layouter.assign_region(
            || "checks",
            |mut region| {
                let assign_all = |region: &mut Region<'_, Fr>| {
                    for (i, &(v, bits, signed)) in self.checks.iter().enumerate() {
                        let v = Value::known(i128_to_fr(v));
                        if signed {
                            chip.assign_signed(region, i, v, bits)?;
                        } else {
                            chip.assign_unsigned(region, i, v, bits)?;
                        }
                    }
                    Ok(())
                };
                let pending = if self.collect {
                    collect(|| assign_all(&mut region))?.1
                } else {
                    assign_all(&mut region)?;
                    vec![]
                };
                config.bus.assign(&mut region, self.rows, K, &pending)?;
                if let Some((in_chip, row, v)) = self.tamper {
                    let column: Column<Advice> =
                        if in_chip { config.chip.z } else { config.bus.columns[0].z };
                    region.assign_advice(column, row, Value::known(i128_to_fr(v)));
                }
                Ok(())
            },
        )
    }
}

fn run<const BUS: usize>(checks: &[Check], rows: usize) -> Result<(), Vec<VerifyFailure>> {
    run_tampered::<BUS>(checks, rows, None)
}

fn run_tampered<const BUS: usize>(
    checks: &[Check],
    rows: usize,
    tamper: Option<(bool, usize, i128)>,
) -> Result<(), Vec<VerifyFailure>> {
    let circuit = BusCircuit::<BUS> { checks: checks.to_vec(), rows, collect: true, tamper };
    MockProver::run(K, &circuit, vec![]).expect("synthesis succeeds").verify()
}

/// The edges of unsigned and signed checks of many widths pass, across two bus columns.
#[test]
fn accepts_edges_across_columns() {
    let mut checks = vec![(0, 0, false)];
    for bits in [1, 7, 8, 9, 16, 17, 24, 45, 64] {
        checks.push(((1i128 << bits) - 1, bits, false));
        checks.push((-(1i128 << (bits - 1)), bits, true));
        checks.push(((1i128 << (bits - 1)) - 1, bits, true));
    }
    // 28 checks of 1 to 8 limbs take 82 rows: 50 rows per column makes them spill into the
    // second.
    let rows: usize =
        checks.iter().map(|c| crate::range::range_rows(c.1, RangeLayout::compact(LIMB_BITS))).sum();
    assert_eq!(rows, 82);
    assert_eq!(run::<2>(&checks, 50), Ok(()));
    let circuit = BusCircuit::<1> { checks, rows: 50, collect: true, tamper: None };
    assert!(matches!(MockProver::run(K, &circuit, vec![]), Err(Error::NotEnoughRowsAvailable { .. })));
}

/// A value just outside its range fails the bus lookup on its check's top limb, which sits
/// where the bus placed it (after the checks before it), not in the chip's column.
#[test]
fn rejects_values_just_outside_at_their_bus_row() {
    // Rows in the bus: 8 bits = 1 row, then 16 bits = 2 rows (top limb at row 2).
    let err = run::<1>(&[(255, 8, false), (1 << 16, 16, false)], 100).expect_err("2^16 in 16 bits");
    assert_eq!(lookup_failures(&err), vec![("test bus 0".to_string(), 2)]);
    let err = run::<1>(&[(-1, 16, false)], 100).expect_err("-1 is not unsigned");
    assert_eq!(lookup_failures(&err), vec![("test bus 0".to_string(), 1)]);
    let err = run::<1>(&[(0, 3, false), (-129, 8, true)], 100).expect_err("-129 < -128");
    assert_eq!(lookup_failures(&err), vec![("test bus 0".to_string(), 1)]);
}

/// The copy binds the chip's value to the bus's check: a chip cell changed after the
/// honest assignment (still in range) breaks exactly that copy, and so does a bus cell.
#[test]
fn the_copy_binds_the_chip_cell_to_its_check() {
    let checks = [(5, 8, false), (200, 8, false), (7, 8, false)];
    assert_eq!(run_tampered::<1>(&checks, 100, None), Ok(()));
    let err = run_tampered::<1>(&checks, 100, Some((true, 1, 201))).expect_err("chip cell changed");
    // Advice column 0 is the chip's, 1 the bus's.
    assert_eq!(permutation_failures(&err), vec![("advice", 0, 1), ("advice", 1, 1)]);
    let err = run_tampered::<1>(&checks, 100, Some((false, 2, 8))).expect_err("bus cell changed");
    assert_eq!(permutation_failures(&err), vec![("advice", 0, 2), ("advice", 1, 2)]);
}

/// Checks that do not fit the bus's rows are refused at synthesis, never dropped.
#[test]
fn refuses_checks_beyond_its_rows() {
    let checks = vec![(1, 16, false); 4];
    assert_eq!(run::<2>(&checks, 4), Ok(()), "two 2-row checks per column");
    let circuit = BusCircuit::<2> { checks: checks.clone(), rows: 3, collect: true, tamper: None };
    assert!(matches!(MockProver::run(K, &circuit, vec![]), Err(Error::NotEnoughRowsAvailable { .. })));
    let circuit = BusCircuit::<1> { checks, rows: 1, collect: true, tamper: None };
    assert!(matches!(MockProver::run(K, &circuit, vec![]), Err(Error::NotEnoughRowsAvailable { .. })));
}

/// A deferred assignment with no collector is a configuration error.
#[test]
fn a_deferred_check_outside_collect_is_refused() {
    let circuit = BusCircuit::<1> { checks: vec![(1, 8, false)], rows: 10, collect: false, tamper: None };
    assert!(matches!(MockProver::run(K, &circuit, vec![]), Err(Error::Synthesis)));
}

/// Nested collectors each gather their own checks and restore the outer one.
#[test]
fn nested_collectors_keep_their_own_checks() {
    let column = ConstraintSystem::<Fr>::default().advice_column();
    let pend = |bits| Pending {
        cell: halo2_proofs::circuit::Cell { row_offset: 0, column: column.into() },
        value: Value::unknown(),
        bits,
        shift: Fr::from(0),
    };
    let (((), inner), outer) = collect(|| {
        defer(pend(1))?;
        let inner = collect(|| defer(pend(2)))?;
        defer(pend(3))?;
        Ok(inner)
    })
    .expect("collected");
    assert_eq!(inner.iter().map(|p| p.bits).collect::<Vec<_>>(), vec![2]);
    assert_eq!(outer.iter().map(|p| p.bits).collect::<Vec<_>>(), vec![1, 3]);
    assert!(defer(pend(4)).is_err(), "no collector once the outer one returns");
}
