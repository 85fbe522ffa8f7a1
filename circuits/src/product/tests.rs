use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
use halo2_proofs::dev::{MockProver, VerifyFailure};
use halo2_proofs::plonk::{Circuit, Instance};
use zkinfer_quantize::fixed::tables::Tables;
use zkinfer_quantize::int::ops;

use super::*;
use crate::field::i128_to_fr;
use crate::lookup::{ExtendedLookupConfig, Extension, LookupConfig};
use crate::range::RangeTableConfig;
use crate::testing::{constraint_failures, k_for, permutation_failures};

const GATE_BITS: u32 = 32;
const UP: Scale = Scale::new(8, 16);
const MID: Scale = Scale::new(8, 16);

fn product_site() -> RescaleSite {
    RescaleSite::new(8, 16, 32).expect("a valid site")
}

#[derive(Clone, Debug)]
enum Job {
    /// `ops::swiglu` through [`SwigluChip::assign`]; outputs `silu(gate)` then `mid`.
    Swiglu { gate: Vec<i64>, up: Vec<i64> },
    /// One product with inputs `(s, u)` copied into a raw witness.
    Product { s: i128, u: i128, witness: ProductWitness },
}

#[derive(Clone, Debug)]
struct TestConfig {
    product: ProductConfig,
    silu: ExtendedLookupConfig,
    input: Column<Advice>,
    outputs: Column<Instance>,
}

#[derive(Clone, Debug)]
struct ProductCircuit {
    job: Job,
}

impl Circuit<Fr> for ProductCircuit {
    type Config = TestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
        let range_table = RangeTableConfig::configure(meta);
        let rescale = RescaleConfig::configure(meta, range_table);
        let (s, u) = (meta.advice_column(), meta.advice_column());
        let product = ProductConfig::configure(meta, rescale, s, u);
        let (tx, ty) = (meta.advice_column(), meta.advice_column());
        let lookup = LookupConfig::configure(meta, "silu table", tx, ty);
        let silu = ExtendedLookupConfig::configure(meta, "silu", lookup, range_table, Extension::silu());
        let input = meta.advice_column();
        meta.enable_equality(input);
        let outputs = meta.instance_column();
        meta.enable_equality(outputs);
        TestConfig { product, silu, input, outputs }
    }

    fn synthesize(&self, config: TestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        config.product.rescale.output.table.load(&mut layouter)?;
        let product = ProductChip::construct(config.product);
        let input = |region: &mut Region<'_, Fr>, row: usize, v: i128| {
            region.assign_advice(config.input, row, Value::known(i128_to_fr(v)))
        };
        let ys = match &self.job {
            Job::Swiglu { gate, up } => {
                let tables = Tables::generate();
                let silu = ExtendedLookupChip::construct(config.silu, &tables.silu)?;
                silu.lookup().load(&mut layouter)?;
                let chip = SwigluChip::construct(silu, product);
                let site = swiglu_site(GATE_BITS, UP, MID)?;
                layouter.assign_region(
                    || "swiglu",
                    |mut region| {
                        let n = gate.len();
                        let (mut ss, mut mids) = (vec![], vec![]);
                        for (i, (&g, &u)) in gate.iter().zip(up).enumerate() {
                            let g = input(&mut region, i, g.into());
                            let u = input(&mut region, n + i, u.into());
                            let row =
                                i * SwigluChip::rows(GATE_BITS, &site, crate::range::RangeLayout::DEFAULT);
                            let (s, mid) = chip.assign(&mut region, row, &g, &u, GATE_BITS, &site)?;
                            ss.push(s.cell());
                            mids.push(mid.cell());
                        }
                        ss.extend(mids);
                        Ok(ss)
                    },
                )?
            }
            Job::Product { s, u, witness } => layouter.assign_region(
                || "product",
                |mut region| {
                    let s = input(&mut region, 0, *s);
                    let u = input(&mut region, 1, *u);
                    let cells =
                        product.assign_witness(&mut region, 0, &product_site(), Value::known(*witness))?;
                    region.constrain_equal(s.cell(), cells.s.cell());
                    region.constrain_equal(u.cell(), cells.u.cell());
                    Ok(vec![cells.y.cell()])
                },
            )?,
        };
        for (i, y) in ys.into_iter().enumerate() {
            layouter.constrain_instance(y, config.outputs, i);
        }
        Ok(())
    }
}

fn run(job: Job, k: u32, outputs: &[i128]) -> Result<(), Vec<VerifyFailure>> {
    let instance = vec![outputs.iter().map(|&y| i128_to_fr(y)).collect()];
    MockProver::run(k, &ProductCircuit { job }, instance).expect("synthesis succeeds").verify()
}

#[test]
fn swiglu_matches_ops_swiglu_beyond_the_table_and_at_both_saturations() {
    // In the table, beyond both ends of it (40000, −40000, 2^20), and products that
    // saturate `mid` high and low.
    let gate = vec![0, 2048, -2048, 32767, -32768, 40000, -40000, 1 << 20];
    let up = vec![100, -100, 32767, -32768, 5, 32767, 7, -32768];
    let tables = Tables::generate();
    let (s, mid) = ops::swiglu(&gate, &up, UP, MID, &tables);
    assert_eq!((s[5], s[6], s[7]), (40000, 0, 1 << 20), "identity above, zero below the table");
    assert_eq!((mid[5], mid[7]), (32767, -32768), "mid saturates at both ends");
    let outputs: Vec<i128> = s.iter().chain(&mid).map(|&v| v.into()).collect();
    assert_eq!(run(Job::Swiglu { gate, up }, 17, &outputs), Ok(()));
}

fn product(s: i128, u: i128) -> ProductWitness {
    ProductWitness::new(s, u, &product_site())
}

fn small_k() -> u32 {
    k_for(RangeTableConfig::rows_for(crate::range::LIMB_BITS))
}

#[test]
fn product_matches_rescale_at_both_saturations() {
    for (s, u) in [(300, -700), (32767, 32767), (-32768, 32767), (0, -5), (-1, 128)] {
        let w = product(s, u);
        let y = i128::from(zkinfer_quantize::fixed::rescale(s * u, 8, 16));
        assert_eq!(w.rescale.y, y);
        assert_eq!(run(Job::Product { s, u, witness: w }, small_k(), &[y]), Ok(()), "{s}·{u}");
    }
}

#[test]
fn rejects_a_tampered_output() {
    let mut w = product(300, -700);
    w.rescale.y += 1;
    let err = run(Job::Product { s: 300, u: -700, witness: w }, small_k(), &[w.rescale.y])
        .expect_err("y is off by one");
    let expected = vec![("rescale".to_string(), "q = y + (above - below)*(e + 1)".to_string(), 0)];
    assert_eq!(constraint_failures(&err), expected);
}

#[test]
fn rejects_a_tampered_product() {
    let mut w = product(300, -700);
    w.rescale = RescaleWitness::new(300 * -701, &product_site());
    let err = run(Job::Product { s: 300, u: -700, witness: w }, small_k(), &[w.rescale.y])
        .expect_err("x is not s·u");
    assert_eq!(constraint_failures(&err), vec![("product".to_string(), "x = s*u".to_string(), 0)]);
}

#[test]
fn rejects_a_tampered_remainder() {
    let mut w = product(300, -700);
    assert!(w.rescale.r + 1 < 1 << 8, "the tampered remainder stays in range");
    w.rescale.r += 1;
    let err = run(Job::Product { s: 300, u: -700, witness: w }, small_k(), &[w.rescale.y])
        .expect_err("r is off by one");
    let expected = vec![("rescale".to_string(), "x + 2^(n-1) = q*2^n + r".to_string(), 0)];
    assert_eq!(constraint_failures(&err), expected);
}

#[test]
fn rejects_swapped_cells() {
    // The witness holds (u, s) in the (s, u) cells: the product is the same, the copies
    // are not.
    let w = product(-700, 300);
    let err = run(Job::Product { s: 300, u: -700, witness: w }, small_k(), &[w.rescale.y])
        .expect_err("the copies bind s and u");
    // Only copies break: the copies of s and u into the gate's row.
    assert_eq!(
        permutation_failures(&err),
        vec![("advice", 7, 0), ("advice", 8, 0), ("advice", 16, 0), ("advice", 16, 1)]
    );
}

#[test]
fn swiglu_site_rejects_a_negative_shift() {
    assert!(swiglu_site(GATE_BITS, Scale::new(0, 16), Scale::new(12, 16)).is_err());
    assert!(swiglu_site(8, UP, MID).is_err());
}
