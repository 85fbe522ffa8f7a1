use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
use halo2_proofs::dev::{MockProver, VerifyFailure};
use halo2_proofs::plonk::{Circuit, Instance};
use zkinfer_quantize::fixed::rescale;

use super::*;
use crate::range::RangeTableConfig;
use crate::testing::{constraint_failures, k_for, lookup_failures, permutation_failures};

const SHIFT: u32 = 30;
const BITS: u32 = 16;

fn site() -> RescaleSite {
    RescaleSite::new(SHIFT, BITS, 24 + EFFECTIVE_WEIGHT_BITS + 10 + MULT_BITS).expect("a valid site")
}

/// An element: accumulator and multiplier, and a raw witness (`None`: `assign` computes it).
#[derive(Clone, Debug)]
struct Elem {
    acc: i128,
    m: i64,
    witness: Option<(i128, RescaleWitness)>,
}

#[derive(Clone, Debug)]
struct TestConfig {
    requant: RequantConfig,
    input: Column<Advice>,
    outputs: Column<Instance>,
}

#[derive(Clone, Debug)]
struct RequantCircuit {
    elems: Vec<Elem>,
}

impl Circuit<Fr> for RequantCircuit {
    type Config = TestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
        let table = RangeTableConfig::configure(meta);
        let rescale = RescaleConfig::configure(meta, table);
        let acc = meta.advice_column();
        let requant = RequantConfig::configure(meta, rescale, acc);
        let input = meta.advice_column();
        meta.enable_equality(input);
        let outputs = meta.instance_column();
        meta.enable_equality(outputs);
        TestConfig { requant, input, outputs }
    }

    fn synthesize(&self, config: TestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        config.requant.rescale.output.table.load(&mut layouter)?;
        let chip = RequantChip::construct(config.requant);
        let site = site();
        let ys = layouter.assign_region(
            || "requant",
            |mut region| {
                let mut ys = vec![];
                for (i, e) in self.elems.iter().enumerate() {
                    let row = i * site.rows(crate::range::RangeLayout::DEFAULT);
                    let value = Value::known(i128_to_fr(e.acc));
                    let acc = region.assign_advice(config.input, row, value);
                    let y = match e.witness {
                        None => chip.assign(&mut region, row, acc.cell(), value, e.m, &site)?,
                        Some((a, w)) => {
                            let (cell, y) = chip.assign_witness(
                                &mut region,
                                row,
                                Value::known(a),
                                e.m,
                                &site,
                                Value::known(w),
                            )?;
                            region.constrain_equal(acc.cell(), cell.cell());
                            y
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

fn run(elems: Vec<Elem>, outputs: &[i128]) -> Result<(), Vec<VerifyFailure>> {
    let k = k_for(
        (elems.len() * site().rows(crate::range::RangeLayout::DEFAULT))
            .max(RangeTableConfig::rows_for(crate::range::LIMB_BITS)),
    );
    let instance = vec![outputs.iter().map(|&y| i128_to_fr(y)).collect()];
    MockProver::run(k, &RequantCircuit { elems }, instance).expect("synthesis succeeds").verify()
}

#[test]
fn matches_ops_linear_requantization() {
    let cases: [(i128, i64); 6] = [
        (0, 1 << 22),
        (123_456_789, 5_000_000),
        (-123_456_789, 5_000_000),
        (1 << 40, (1 << 23) - 1),
        (-(1 << 40), (1 << 23) - 1),
        (-7, 3),
    ];
    let elems: Vec<Elem> = cases.iter().map(|&(acc, m)| Elem { acc, m, witness: None }).collect();
    let outputs: Vec<i128> =
        cases.iter().map(|&(acc, m)| i128::from(rescale(acc * i128::from(m), SHIFT, BITS))).collect();
    assert_eq!(outputs[3], 32767, "saturates above");
    assert_eq!(outputs[4], -32768, "saturates below");
    assert_eq!(run(elems, &outputs), Ok(()));
}

fn honest(acc: i128, m: i64) -> (i128, RescaleWitness) {
    (acc, RescaleWitness::new(acc * i128::from(m), &site()))
}

#[test]
fn rejects_a_product_that_is_not_acc_times_m() {
    // The rescale of acc·(m + 1) is self-consistent; the gate ties x to this row's m.
    let (acc, m) = (987_654, 4_000_000);
    let (a, w) = honest(acc, m + 1);
    let err = run(vec![Elem { acc, m, witness: Some((a, w)) }], &[w.y]).expect_err("x is not acc·m");
    assert_eq!(constraint_failures(&err), vec![("requant".to_string(), "x = acc*m".to_string(), 0)]);
}

#[test]
fn rejects_a_tampered_remainder() {
    let (acc, m) = (987_654, 4_000_000);
    let (a, mut w) = honest(acc, m);
    // Move one unit from the quotient into the remainder: the equation still balances,
    // the remainder leaves its SHIFT-bit range.
    w.r += 1 << SHIFT;
    w.q -= 1;
    w.y -= 1;
    let err = run(vec![Elem { acc, m, witness: Some((a, w)) }], &[w.y]).expect_err("r ≥ 2^n");
    let lookups = lookup_failures(&err);
    assert!(
        !lookups.is_empty() && lookups.iter().all(|(name, _)| name == "rescale remainder"),
        "{lookups:?}"
    );
}

#[test]
fn rejects_an_accumulator_that_is_not_the_input() {
    let (acc, m) = (987_654, 4_000_000);
    let (a, w) = honest(acc + 1, m);
    let err = run(vec![Elem { acc, m, witness: Some((a, w)) }], &[w.y]).expect_err("acc is copied");
    // Only copies break: the caller's accumulator against the chip's copy.
    assert_eq!(permutation_failures(&err), vec![("advice", 7, 0), ("advice", 8, 0)]);
}
