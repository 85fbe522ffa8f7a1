//! MockProver tests of folded tables: every point reads back, and forged slots, rows and
//! outputs fail where expected.

use halo2_proofs::circuit::SimpleFloorPlanner;
use halo2_proofs::dev::{MockProver, VerifyFailure};
use halo2_proofs::plonk::{Circuit, Instance};
use zkinfer_quantize::fixed::tables::Tables;

use super::*;
use crate::testing::{constraint_failures, lookup_failures};

/// One element row: honest (the chip fills slot and outputs) or raw cells.
#[derive(Clone, Debug)]
enum Row {
    Honest(i128),
    /// `(x, y, slot, outputs)` written as they are.
    Raw(i128, i128, i128, Vec<i128>),
}

#[derive(Clone, Debug)]
struct FoldConfig {
    lookup: LookupConfig,
    outputs: Column<Instance>,
}

#[derive(Clone)]
struct FoldCircuit {
    table: LookupTable,
    k: u32,
    rows: Vec<Row>,
}

impl Circuit<Fr> for FoldCircuit {
    type Config = FoldConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = (usize, u32);

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn params(&self) -> (usize, u32) {
        (self.table.values.len(), self.k)
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, (len, k): (usize, u32)) -> FoldConfig {
        let (x, y) = (meta.advice_column(), meta.advice_column());
        meta.enable_equality(y);
        let lookup = LookupConfig::configure_for(meta, "table", x, y, len, k);
        let outputs = meta.instance_column();
        meta.enable_equality(outputs);
        FoldConfig { lookup, outputs }
    }

    fn configure(_: &mut ConstraintSystem<Fr>) -> FoldConfig {
        unreachable!("configured with params")
    }

    fn synthesize(&self, config: FoldConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let chip = LookupChip::construct(config.lookup, &self.table);
        chip.load(&mut layouter)?;
        let ys = layouter.assign_region(
            || "lookups",
            |mut region| {
                let mut ys = vec![];
                for (row, r) in self.rows.iter().enumerate() {
                    let y = match r {
                        Row::Honest(x) => {
                            let y = chip.get(*x).ok_or(Error::Synthesis)?;
                            chip.assign_pair(&mut region, row, Value::known((*x, y)))?.1
                        }
                        Row::Raw(x, y, slot, outs) => {
                            raw(&mut region, &config.lookup, row, *x, *y, *slot, outs)?
                        }
                    };
                    ys.push(y.cell());
                }
                Ok(ys)
            },
        )?;
        for (i, y) in ys.into_iter().enumerate() {
            layouter.constrain_instance(y, config.outputs, i);
        }
        Ok(())
    }
}

fn raw<'v>(
    region: &mut Region<'_, Fr>,
    cfg: &LookupConfig,
    row: usize,
    x: i128,
    y: i128,
    slot: i128,
    outs: &[i128],
) -> Result<AssignedFr<'v>, Error> {
    let f = cfg.folded.ok_or(Error::Synthesis)?;
    cfg.q_lookup.enable(region, row)?;
    region.assign_advice(cfg.input, row, Value::known(i128_to_fr(x)));
    region.assign_advice(f.slot, row, Value::known(i128_to_fr(slot)));
    for (column, &o) in f.outs.iter().flatten().zip(outs) {
        region.assign_advice(*column, row, Value::known(i128_to_fr(o)));
    }
    Ok(region.assign_advice(cfg.output, row, Value::known(i128_to_fr(y))))
}

fn run(table: &LookupTable, k: u32, rows: Vec<Row>, ys: &[i128]) -> Result<(), Vec<VerifyFailure>> {
    let circuit = FoldCircuit { table: table.clone(), k, rows };
    let instance = vec![ys.iter().map(|&y| i128_to_fr(y)).collect()];
    MockProver::run(k, &circuit, instance).expect("synthesis succeeds").verify()
}

/// The outputs of table row `i` (`R` rows, `F` slots).
fn row_outputs(table: &LookupTable, rows: usize, fold: usize, i: usize) -> Vec<i128> {
    (0..fold).map(|s| i128::from(table.values[s * rows + i])).collect()
}

#[test]
fn a_2_16_table_folds_four_times_at_k_15() {
    let t = Tables::generate();
    let mut cs = ConstraintSystem::<Fr>::default();
    let (x, y) = (cs.advice_column(), cs.advice_column());
    let cfg = LookupConfig::configure_for(&mut cs, "rsqrt", x, y, t.rsqrt.values.len(), 15);
    assert_eq!((cfg.fold, cfg.rows), (4, 1 << 14));
    assert_eq!(cs.degree(), 5, "the fold gate stays at degree 5");
}

#[test]
fn every_slot_reads_its_point() {
    let t = Tables::generate();
    // Both edges of every slot of the rsqrt table (R = 2^14), and the exp table's ends.
    let xs = [0i128, 1, 16383, 16384, 32767, 32768, 49151, 49152, 65535];
    let ys: Vec<i128> = xs.iter().map(|&x| i128::from(t.rsqrt.values[x as usize])).collect();
    let rows = xs.iter().map(|&x| Row::Honest(x)).collect();
    assert_eq!(run(&t.rsqrt, 15, rows, &ys), Ok(()));
    // The recip table (2^15 points from 2^15) folds twice at k = 15.
    let xs = [32768i128, 49151, 49152, 65535];
    let ys: Vec<i128> = xs.iter().map(|&x| i128::from(t.recip.get(x as i64).unwrap_or(0))).collect();
    assert_eq!(run(&t.recip, 15, xs.iter().map(|&x| Row::Honest(x)).collect(), &ys), Ok(()));
}

#[test]
fn rejects_a_wrong_output() {
    let t = Tables::generate();
    let rows = 1 << 14;
    let x = 20000usize; // slot 1, row 3616
    let outs = row_outputs(&t.rsqrt, rows, 4, x - rows);
    let wrong = outs[1] + 1;
    let err = run(&t.rsqrt, 15, vec![Row::Raw(x as i128, wrong, 1, outs)], &[wrong]).expect_err("forged");
    assert_eq!(constraint_failures(&err), vec![("table fold".into(), "y = o_slot".into(), 0)]);
}

#[test]
fn rejects_the_output_of_another_slot() {
    let t = Tables::generate();
    let rows = 1 << 14;
    let x = 20000usize; // honest slot 1; claim slot 2 and its output
    let outs = row_outputs(&t.rsqrt, rows, 4, x - rows);
    let y = outs[2];
    let err = run(&t.rsqrt, 15, vec![Row::Raw(x as i128, y, 2, outs)], &[y]).expect_err("slot 2");
    // x − 2R = 20000 − 32768 is no table input.
    assert_eq!(lookup_failures(&err), vec![("table".to_string(), 0)]);
}

#[test]
fn rejects_outputs_of_another_row() {
    let t = Tables::generate();
    let rows = 1 << 14;
    let x = 20000usize;
    let outs = row_outputs(&t.rsqrt, rows, 4, x - rows + 1);
    let y = outs[1];
    let err = run(&t.rsqrt, 15, vec![Row::Raw(x as i128, y, 1, outs)], &[y]).expect_err("next row");
    assert_eq!(lookup_failures(&err), vec![("table".to_string(), 0)]);
}

#[test]
fn rejects_a_slot_past_the_fold() {
    let t = Tables::generate();
    let rows = 1usize << 14;
    // x = 4R + 5 is past the domain; slot 4 would make x − 4R = 5 a table input.
    let outs = row_outputs(&t.rsqrt, rows, 4, 5);
    let x = (4 * rows + 5) as i128;
    let y = outs[0];
    let err = run(&t.rsqrt, 15, vec![Row::Raw(x, y, 4, outs)], &[y]).expect_err("slot 4");
    let failures = constraint_failures(&err);
    assert!(failures.contains(&("table fold".into(), "slot in 0..F".into(), 0)), "{failures:?}");
}

#[test]
fn refuses_a_table_that_does_not_fold_evenly() {
    let t = Tables::generate();
    // Configured for 2^16 points at k = 15 (R = 2^14), loaded with one point fewer.
    let mut short = t.rsqrt.clone();
    short.values.pop();
    let circuit = FoldCircuit { table: t.rsqrt.clone(), k: 15, rows: vec![] };
    let mut cs = ConstraintSystem::<Fr>::default();
    let cfg = FoldCircuit::configure_with_params(&mut cs, circuit.params());
    let chip = LookupChip::construct(cfg.lookup, &short);
    assert!(matches!(chip.table_rows(), Err(Error::Synthesis)));
}
