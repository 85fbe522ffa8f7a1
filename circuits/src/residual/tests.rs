use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
use halo2_proofs::dev::{MockProver, VerifyFailure};
use halo2_proofs::plonk::{Circuit, Instance};
use zkinfer_quantize::int::ops;

use super::*;
use crate::range::RangeTableConfig;
use crate::testing::{constraint_failures, k_for, permutation_failures};

const BITS: u32 = 16;

fn site() -> RescaleSite {
    residual_site(BITS, BITS).expect("a valid site")
}

/// An element: inputs `(a, b)` copied in, and a raw witness (`None`: `assign` computes it).
#[derive(Clone, Debug)]
struct Elem {
    a: i128,
    b: i128,
    witness: Option<ResidualWitness>,
}

#[derive(Clone, Debug)]
struct TestConfig {
    residual: ResidualConfig,
    input: Column<Advice>,
    outputs: Column<Instance>,
}

#[derive(Clone, Debug)]
struct ResidualCircuit {
    elems: Vec<Elem>,
}

impl Circuit<Fr> for ResidualCircuit {
    type Config = TestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
        let table = RangeTableConfig::configure(meta);
        let rescale = RescaleConfig::configure(meta, table);
        let (a, b) = (meta.advice_column(), meta.advice_column());
        let residual = ResidualConfig::configure(meta, rescale, a, b);
        let input = meta.advice_column();
        meta.enable_equality(input);
        let outputs = meta.instance_column();
        meta.enable_equality(outputs);
        TestConfig { residual, input, outputs }
    }

    fn synthesize(&self, config: TestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        config.residual.rescale.output.table.load(&mut layouter)?;
        let chip = ResidualChip::construct(config.residual);
        let site = site();
        let ys = layouter.assign_region(
            || "residual",
            |mut region| {
                let mut ys = vec![];
                for (i, e) in self.elems.iter().enumerate() {
                    let row = i * site.rows(crate::range::RangeLayout::DEFAULT);
                    // Inputs sit two to a row (rows per element ≥ 2) in the input column.
                    let a = region.assign_advice(config.input, row, Value::known(i128_to_fr(e.a)));
                    let b = region.assign_advice(config.input, row + 1, Value::known(i128_to_fr(e.b)));
                    let y = match e.witness {
                        None => chip.assign(&mut region, row, &a, &b, &site)?,
                        Some(w) => {
                            let cells = chip.assign_witness(&mut region, row, &site, Value::known(w))?;
                            region.constrain_equal(a.cell(), cells.a.cell());
                            region.constrain_equal(b.cell(), cells.b.cell());
                            cells.y
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
    MockProver::run(k, &ResidualCircuit { elems }, instance).expect("synthesis succeeds").verify()
}

#[test]
fn matches_ops_add_at_both_saturations() {
    let a = vec![0, 1, -1, 32767, -32768, 32767, -32768, 20000, -20000];
    let b = vec![0, -1, 1, 1, -1, 32767, -32768, -5000, -20000];
    let expected = ops::add(&a, &b, BITS);
    assert_eq!(expected[3..7], [32767, -32768, 32767, -32768]);
    assert_eq!(expected[8], -32768);
    let elems = a.iter().zip(&b).map(|(&a, &b)| Elem { a: a.into(), b: b.into(), witness: None }).collect();
    let outputs: Vec<i128> = expected.iter().map(|&y| y.into()).collect();
    assert_eq!(run(elems, &outputs), Ok(()));
}

fn forged(a: i128, b: i128, w: ResidualWitness) -> Vec<Elem> {
    vec![Elem { a, b, witness: Some(w) }]
}

#[test]
fn rejects_a_tampered_output() {
    let mut w = ResidualWitness::new(100, 200, &site());
    w.rescale.y += 1;
    let err = run(forged(100, 200, w), &[w.rescale.y]).expect_err("y is off by one");
    let expected = vec![("rescale".to_string(), "q = y + (above - below)*(e + 1)".to_string(), 0)];
    assert_eq!(constraint_failures(&err), expected);
}

#[test]
fn rejects_an_unsaturated_overflow() {
    // 32767 + 1 claimed as the in-range value 32768: the output range check rejects it.
    let mut w = ResidualWitness::new(32767, 1, &site());
    (w.rescale.y, w.rescale.above, w.rescale.excess) = (32768, false, 0);
    let err = run(forged(32767, 1, w), &[32768]).expect_err("32768 is not a 16-bit value");
    let lookups = crate::testing::lookup_failures(&err);
    assert_eq!(
        lookups,
        vec![("rescale output".to_string(), crate::range::limbs(BITS, crate::range::LIMB_BITS) - 1)]
    );
}

#[test]
fn rejects_a_tampered_remainder() {
    // Shift 0: the remainder must be 0; a remainder of 1 with a quotient one lower still
    // balances the rounding equation, and the zero-bit range check rejects it.
    let mut w = ResidualWitness::new(100, 200, &site());
    (w.rescale.r, w.rescale.q) = (1, 299);
    let err = run(forged(100, 200, w), &[w.rescale.y]).expect_err("r must be 0");
    let mut failures = constraint_failures(&err);
    failures.sort();
    let expected = vec![
        ("range end".to_string(), "z = 0".to_string(), 0),
        ("rescale".to_string(), "q = y + (above - below)*(e + 1)".to_string(), 0),
    ];
    assert_eq!(failures, expected);
}

#[test]
fn rejects_swapped_cells() {
    let w = ResidualWitness::new(200, 100, &site());
    let err = run(forged(100, 200, w), &[300]).expect_err("the copies bind a and b");
    // Only copies break: the copies of a and b into the gate's row.
    assert_eq!(
        permutation_failures(&err),
        vec![("advice", 7, 0), ("advice", 8, 0), ("advice", 9, 0), ("advice", 9, 1)]
    );
}
