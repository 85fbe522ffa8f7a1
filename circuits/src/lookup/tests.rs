use halo2_proofs::circuit::SimpleFloorPlanner;
use halo2_proofs::dev::{MockProver, VerifyFailure};
use halo2_proofs::plonk::{Circuit, Instance};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use zkinfer_quantize::fixed::tables::Tables;

use super::*;
use crate::range::{limbs, RangeTableConfig};
use crate::testing::{constraint_failures, lookup_failures, permutation_failures};

/// An element: an input copied in (`assign` computes the output) or a raw pair/witness.
#[derive(Clone, Debug)]
enum Elem<W> {
    Honest(i128),
    Forged(W),
}

#[derive(Clone, Debug)]
struct PlainConfig {
    lookup: LookupConfig,
    input: Column<Advice>,
    outputs: Column<Instance>,
}

fn io_columns(meta: &mut ConstraintSystem<Fr>) -> (Column<Advice>, Column<Instance>) {
    let input = meta.advice_column();
    meta.enable_equality(input);
    let outputs = meta.instance_column();
    meta.enable_equality(outputs);
    (input, outputs)
}

#[derive(Clone)]
struct PlainCircuit {
    table: LookupTable,
    elems: Vec<Elem<(i128, i128)>>,
}

impl Circuit<Fr> for PlainCircuit {
    type Config = PlainConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> PlainConfig {
        let (x, y) = (meta.advice_column(), meta.advice_column());
        meta.enable_equality(x);
        meta.enable_equality(y);
        let lookup = LookupConfig::configure(meta, "table", x, y);
        let (input, outputs) = io_columns(meta);
        PlainConfig { lookup, input, outputs }
    }

    fn synthesize(&self, config: PlainConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let chip = LookupChip::construct(config.lookup, &self.table);
        chip.load(&mut layouter)?;
        let ys = layouter.assign_region(
            || "lookups",
            |mut region| {
                let mut ys = vec![];
                for (row, e) in self.elems.iter().enumerate() {
                    let y = match *e {
                        Elem::Honest(x) => {
                            let x = region.assign_advice(config.input, row, Value::known(i128_to_fr(x)));
                            chip.assign(&mut region, row, &x)?
                        }
                        Elem::Forged(pair) => chip.assign_pair(&mut region, row, Value::known(pair))?.1,
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

fn run_plain(
    table: &LookupTable,
    k: u32,
    elems: Vec<Elem<(i128, i128)>>,
    outputs: &[i128],
) -> Result<(), Vec<VerifyFailure>> {
    let circuit = PlainCircuit { table: table.clone(), elems };
    let instance = vec![outputs.iter().map(|&y| i128_to_fr(y)).collect()];
    MockProver::run(k, &circuit, instance).expect("synthesis succeeds").verify()
}

fn table_failure(row: usize) -> (String, usize) {
    ("table".to_string(), row)
}

#[test]
fn rsqrt_edges_match_the_table() {
    let t = Tables::generate();
    let xs = [0i128, 1, 4, 16384, 65535];
    let ys: Vec<i128> = xs.iter().map(|&x| i128::from(t.rsqrt.values[x as usize])).collect();
    assert_eq!(ys[..3], [1 << 23, 1 << 23, 1 << 22]);
    let elems = xs.iter().map(|&x| Elem::Honest(x)).collect();
    assert_eq!(run_plain(&t.rsqrt, 17, elems, &ys), Ok(()));
}

#[test]
fn recip_edges_match_the_table() {
    let t = Tables::generate();
    let elems = vec![Elem::Honest(32768), Elem::Honest(65535)];
    assert_eq!(run_plain(&t.recip, 16, elems, &[65536, 32769]), Ok(()));
}

#[test]
fn rejects_a_wrong_output() {
    let t = Tables::generate();
    let elems = vec![Elem::Honest(40000), Elem::Forged((32768, 65537))];
    let y0 = i128::from(t.recip.values[40000 - 32768]);
    let err = run_plain(&t.recip, 16, elems, &[y0, 65537]).expect_err("recip[32768] = 65536");
    assert_eq!(lookup_failures(&err), vec![table_failure(1)]);
}

#[test]
fn rejects_an_input_outside_the_domain() {
    let t = Tables::generate();
    // 32767 is just below the recip domain; pair it with the first row's output.
    let err = run_plain(&t.recip, 16, vec![Elem::Forged((32767, 65536))], &[65536]).expect_err("outside");
    assert_eq!(lookup_failures(&err), vec![table_failure(0)]);
    // The chip refuses to look up any input the reference's `get` has no value for.
    for (table, k, x) in
        [(&t.recip, 16, 32767), (&t.recip, 16, 65536), (&t.rsqrt, 17, -1), (&t.rsqrt, 17, 65536)]
    {
        assert_eq!(table.get(x as i64), None);
        let circuit = PlainCircuit { table: table.clone(), elems: vec![Elem::Honest(x)] };
        let failure = crate::testing::refusal(k, &circuit, vec![vec![Fr::ZERO]]);
        let domain = Span::new(table.start.into(), table.end().into());
        assert_eq!(failure.chip, Chip::Lookup, "{} at {x}", table.name);
        assert_eq!(
            failure.problem,
            Problem::outside("input", None, Int(Some(x)), domain),
            "{} at {x}",
            table.name
        );
    }
}

#[test]
fn rejects_swapped_outputs() {
    let t = Tables::generate();
    let (a, b) = (100i128, 20000i128);
    let (ya, yb) = (i128::from(t.rsqrt.values[100]), i128::from(t.rsqrt.values[20000]));
    let elems = vec![Elem::Honest(7), Elem::Forged((a, yb)), Elem::Forged((b, ya))];
    let y7 = i128::from(t.rsqrt.values[7]);
    let err = run_plain(&t.rsqrt, 17, elems, &[y7, yb, ya]).expect_err("swapped");
    assert_eq!(lookup_failures(&err), vec![table_failure(1), table_failure(2)]);
}

/// Which extended table a test circuit configures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Which {
    #[default]
    Silu,
    Exp,
}

#[derive(Clone, Debug)]
struct ExtConfig {
    chip: ExtendedLookupConfig,
    input: Column<Advice>,
    outputs: Column<Instance>,
}

#[derive(Clone)]
struct ExtCircuit {
    which: Which,
    x_bits: u32,
    elems: Vec<Elem<ExtendedWitness>>,
}

fn configure_ext(meta: &mut ConstraintSystem<Fr>, which: Which) -> ExtConfig {
    let (name, extension) = match which {
        Which::Silu => ("silu", Extension::silu()),
        Which::Exp => ("exp", Extension::exp()),
    };
    let range_table = RangeTableConfig::configure(meta);
    let (tx, ty) = (meta.advice_column(), meta.advice_column());
    let lookup = LookupConfig::configure(meta, &format!("{name} table"), tx, ty);
    let chip = ExtendedLookupConfig::configure(meta, name, lookup, range_table, extension);
    let (input, outputs) = io_columns(meta);
    ExtConfig { chip, input, outputs }
}

impl Circuit<Fr> for ExtCircuit {
    type Config = ExtConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = Which;

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn params(&self) -> Which {
        self.which
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, which: Which) -> ExtConfig {
        configure_ext(meta, which)
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> ExtConfig {
        configure_ext(meta, Which::default())
    }

    fn synthesize(&self, config: ExtConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let tables = Tables::generate();
        let table = if self.which == Which::Silu { &tables.silu } else { &tables.exp };
        let chip = ExtendedLookupChip::construct(config.chip, table)?;
        chip.lookup().load(&mut layouter)?;
        config.chip.excess.table.load(&mut layouter)?;
        let ys = layouter.assign_region(
            || "extended lookups",
            |mut region| {
                let mut ys = vec![];
                let mut row = 0;
                for e in &self.elems {
                    let y = match *e {
                        Elem::Honest(x) => {
                            let x = region.assign_advice(config.input, row, Value::known(i128_to_fr(x)));
                            chip.assign(&mut region, row, &x, self.x_bits)?
                        }
                        Elem::Forged(w) => {
                            chip.assign_witness(&mut region, row, Value::known(w), self.x_bits)?.y
                        }
                    };
                    ys.push(y.cell());
                    row += ExtendedLookupChip::rows(self.x_bits, crate::range::RangeLayout::DEFAULT);
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

fn run_ext(
    which: Which,
    x_bits: u32,
    elems: Vec<Elem<ExtendedWitness>>,
    outputs: &[i128],
) -> Result<(), Vec<VerifyFailure>> {
    let circuit = ExtCircuit { which, x_bits, elems };
    let instance = vec![outputs.iter().map(|&y| i128_to_fr(y)).collect()];
    MockProver::run(17, &circuit, instance).expect("synthesis succeeds").verify()
}

/// The honest witness, from a chip built outside any circuit.
fn honest_witness(which: Which, x: i128, x_bits: u32) -> ExtendedWitness {
    let mut meta = ConstraintSystem::default();
    let config = configure_ext(&mut meta, which);
    let tables = Tables::generate();
    let table = if which == Which::Silu { &tables.silu } else { &tables.exp };
    let chip = ExtendedLookupChip::construct(config.chip, table).expect("domain fits");
    chip.witness(x, x_bits).expect("x within reach")
}

const SILU_X_BITS: u32 = 32;

#[test]
fn silu_matches_tables_silu_at_its_edges() {
    let t = Tables::generate();
    let min_at =
        t.silu.values.iter().enumerate().min_by_key(|&(_, v)| *v).map_or(0, |(i, _)| i as i64 + t.silu.start);
    let xs = [
        0,
        1,
        -1,
        2048,
        min_at,
        32767,
        32768,
        1 << 30,
        (1 << 31) - 1,
        -32768,
        -32769,
        -(1 << 30),
        -(1 << 31),
    ];
    let ys: Vec<i128> = xs.iter().map(|&x| i128::from(t.silu(x))).collect();
    let elems = xs.iter().map(|&x| Elem::Honest(i128::from(x))).collect();
    assert_eq!(run_ext(Which::Silu, SILU_X_BITS, elems, &ys), Ok(()));
}

#[test]
fn exp_matches_exp_neg_with_saturation() {
    let t = Tables::generate();
    let first_zero = t.exp.values.iter().position(|&v| v == 0).expect("reaches 0") as i64;
    let xs = [0, 1, 4096, first_zero - 1, first_zero, 65534, 65535, 65536, 1 << 40, -1, -5, -(1 << 40)];
    let ys: Vec<i128> = xs.iter().map(|&z| i128::from(t.exp_neg(z))).collect();
    assert_eq!(ys[..2], [65536, i128::from(t.exp.values[1])]);
    let elems = xs.iter().map(|&z| Elem::Honest(i128::from(z))).collect();
    assert_eq!(run_ext(Which::Exp, 48, elems, &ys), Ok(()));
}

#[test]
fn refuses_inputs_beyond_reach() {
    for x in [1i128 << 40, -(1 << 40)] {
        let circuit = ExtCircuit { which: Which::Silu, x_bits: SILU_X_BITS, elems: vec![Elem::Honest(x)] };
        let failure = crate::testing::refusal(17, &circuit, vec![vec![Fr::ZERO]]);
        let ext = Extension::silu();
        let w = 1i128 << SILU_X_BITS;
        let reach = Span::new(i128::from(ext.start) - w, i128::from(ext.end) + w);
        assert_eq!(failure.chip, Chip::ExtendedLookup);
        assert_eq!(failure.problem, Problem::outside("input", None, Int(Some(x)), reach));
    }
}

fn excess_failure(name: &str) -> Vec<(String, usize)> {
    vec![(format!("{name} excess"), limbs(SILU_X_BITS, crate::range::LIMB_BITS) - 1)]
}

#[test]
fn silu_rejects_identity_claimed_inside_the_domain() {
    let mut w = honest_witness(Which::Silu, 1000, SILU_X_BITS);
    (w.above, w.y, w.tx, w.ty, w.excess) = (true, 1000, -32768, 0, 1000 - 32767 - 1);
    let err = run_ext(Which::Silu, SILU_X_BITS, vec![Elem::Forged(w)], &[1000]).expect_err("1000 ≤ end");
    assert_eq!(lookup_failures(&err), excess_failure("silu"));
}

#[test]
fn silu_rejects_zero_claimed_inside_the_domain() {
    let mut w = honest_witness(Which::Silu, -1000, SILU_X_BITS);
    (w.below, w.y, w.tx, w.ty, w.excess) = (true, 0, -32768, 0, -32768 - 1 + 1000);
    let err = run_ext(Which::Silu, SILU_X_BITS, vec![Elem::Forged(w)], &[0]).expect_err("-1000 ≥ start");
    assert_eq!(lookup_failures(&err), excess_failure("silu"));
}

#[test]
fn silu_rejects_an_out_of_domain_input_read_from_the_table() {
    // x = 40000 claimed in the domain, with the identity as its "table" output.
    let w =
        ExtendedWitness { x: 40000, y: 40000, tx: 40000, ty: 40000, above: false, below: false, excess: 0 };
    let err = run_ext(Which::Silu, SILU_X_BITS, vec![Elem::Forged(w)], &[40000]).expect_err("not a row");
    assert_eq!(lookup_failures(&err), vec![("silu table".to_string(), 0)]);
}

#[test]
fn silu_rejects_a_wrong_table_output() {
    let t = Tables::generate();
    let good = honest_witness(Which::Silu, 5, SILU_X_BITS);
    let mut w = honest_witness(Which::Silu, 2048, SILU_X_BITS);
    w.y += 1;
    w.ty += 1;
    let outputs = [i128::from(t.silu(5)), w.y];
    let err = run_ext(Which::Silu, SILU_X_BITS, vec![Elem::Forged(good), Elem::Forged(w)], &outputs)
        .expect_err("silu(1) is off by one");
    assert_eq!(
        lookup_failures(&err),
        vec![(
            "silu table".to_string(),
            ExtendedLookupChip::rows(SILU_X_BITS, crate::range::RangeLayout::DEFAULT)
        )]
    );
}

#[test]
fn silu_rejects_an_identity_branch_off_by_one() {
    let mut w = honest_witness(Which::Silu, 40000, SILU_X_BITS);
    w.y += 1;
    let err = run_ext(Which::Silu, SILU_X_BITS, vec![Elem::Forged(w)], &[w.y]).expect_err("y ≠ x");
    assert_eq!(constraint_failures(&err), vec![("silu domain".to_string(), "above: y = x".to_string(), 0)]);
}

#[test]
fn exp_rejects_a_saturated_input_read_at_another_row() {
    // z = 70000 saturates to 65535 (output 0); the forgery reads row 100 instead.
    let t = Tables::generate();
    let mut w = honest_witness(Which::Exp, 70000, 48);
    (w.tx, w.ty) = (100, i128::from(t.exp.values[100]));
    w.y = w.ty;
    let err = run_ext(Which::Exp, 48, vec![Elem::Forged(w)], &[w.y]).expect_err("must read the end");
    assert_eq!(
        constraint_failures(&err),
        vec![("exp domain".to_string(), "above: table input = end".to_string(), 0)]
    );
}

#[test]
fn exp_rejects_a_saturated_output_that_is_not_the_edge_value() {
    let mut w = honest_witness(Which::Exp, -3, 48);
    assert_eq!((w.below, w.tx, w.y), (true, 0, 65536));
    (w.y, w.ty) = (65535, 65535);
    let err = run_ext(Which::Exp, 48, vec![Elem::Forged(w)], &[65535]).expect_err("exp[0] = 65536");
    assert_eq!(lookup_failures(&err), vec![("exp table".to_string(), 0)]);
}

#[test]
fn rejects_swapped_public_outputs() {
    // Honest elements for 3000 and -3000, their outputs published in swapped order.
    let t = Tables::generate();
    let circuit = ExtCircuit {
        which: Which::Silu,
        x_bits: SILU_X_BITS,
        elems: vec![Elem::Honest(3000), Elem::Honest(-3000)],
    };
    let outputs = [i128::from(t.silu(-3000)), i128::from(t.silu(3000))];
    let instance = vec![outputs.iter().map(|&y| i128_to_fr(y)).collect()];
    let err =
        MockProver::run(17, &circuit, instance).expect("synthesis succeeds").verify().expect_err("swapped");
    // Only copies break: both outputs against both instance rows.
    assert_eq!(
        permutation_failures(&err),
        vec![("instance", 0, 0), ("instance", 0, 1), ("advice", 3, 0), ("advice", 3, 5)]
    );
}

proptest! {
    #![proptest_config(Config { cases: 3, rng_seed: RngSeed::Fixed(0x5151_0e4e), failure_persistence: None, ..Config::default() })]

    #[test]
    fn matches_tables_silu_and_exp_neg(
        silu in prop::collection::vec((-(1i64 << 31)..(1i64 << 31), 0u32..31), 24),
        exp in prop::collection::vec((-(1i64 << 20)..(1i64 << 47), 0u32..47), 24),
    ) {
        // Shrink each input by a random number of bits so that both the table's domain and
        // the branches outside it are hit.
        let t = Tables::generate();
        let xs: Vec<i64> = silu.iter().map(|&(x, drop)| x >> drop).collect();
        let ys: Vec<i128> = xs.iter().map(|&x| i128::from(t.silu(x))).collect();
        let elems = xs.iter().map(|&x| Elem::Honest(i128::from(x))).collect();
        prop_assert_eq!(run_ext(Which::Silu, SILU_X_BITS, elems, &ys), Ok(()));

        let zs: Vec<i64> = exp.iter().map(|&(z, drop)| z >> drop).collect();
        let ys: Vec<i128> = zs.iter().map(|&z| i128::from(t.exp_neg(z))).collect();
        let elems = zs.iter().map(|&z| Elem::Honest(i128::from(z))).collect();
        prop_assert_eq!(run_ext(Which::Exp, 48, elems, &ys), Ok(()));
    }
}
