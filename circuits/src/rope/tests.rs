use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
use halo2_proofs::dev::{MockProver, VerifyFailure};
use halo2_proofs::plonk::{Circuit, Instance};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zkinfer_quantize::int::ops;

use super::*;
use crate::field::i128_to_fr;
use crate::range::RangeTableConfig;
use crate::testing::{constraint_failures, k_for, permutation_failures};

const BITS: u32 = 16;
const HEAD_DIM: usize = 4;

fn site() -> RescaleSite {
    rope_site(BITS, BITS).expect("16-bit RoPE fits the rescale chip")
}

fn table() -> RopeTable {
    RopeTable::generate(4, HEAD_DIM, 10000.0)
}

/// `(cos, sin)` of pair index `i` at `pos`.
fn constants(t: &RopeTable, pos: usize, i: usize) -> (i64, i64) {
    (t.cos[pos * t.half + i], t.sin[pos * t.half + i])
}

#[derive(Clone, Debug)]
enum Job {
    /// A whole tensor through `assign_tensor`.
    Tensor { xs: Vec<i64>, shape: RopeShape, table: RopeTable },
    /// One pair with inputs `(a, b)` copied into a raw witness, the circuit's constants given.
    Pair { a: i128, b: i128, constants: (i64, i64), witness: RopeWitness },
}

#[derive(Clone, Debug)]
struct TestConfig {
    rope: RopeConfig,
    input: Column<Advice>,
    outputs: Column<Instance>,
}

#[derive(Clone, Debug)]
struct RopeCircuit {
    job: Job,
}

impl RopeCircuit {
    fn rows(&self) -> usize {
        match &self.job {
            Job::Tensor { shape, .. } => {
                RopeChip::tensor_rows(*shape, &site(), crate::range::RangeLayout::DEFAULT).max(shape.len())
            }
            Job::Pair { .. } => RopeChip::pair_rows(&site(), crate::range::RangeLayout::DEFAULT),
        }
    }
}

impl Circuit<Fr> for RopeCircuit {
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
        let rope = RopeConfig::configure(meta, rescale, a, b);
        let input = meta.advice_column();
        meta.enable_equality(input);
        let outputs = meta.instance_column();
        meta.enable_equality(outputs);
        TestConfig { rope, input, outputs }
    }

    fn synthesize(&self, config: TestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        config.rope.rescale.output.table.load(&mut layouter)?;
        let chip = RopeChip::construct(config.rope);
        let site = site();
        let ys = layouter.assign_region(
            || "rope",
            |mut region| {
                let ys = match &self.job {
                    Job::Tensor { xs, shape, table } => {
                        let cells: Vec<_> = xs
                            .iter()
                            .enumerate()
                            .map(|(row, &x)| {
                                region.assign_advice(config.input, row, Value::known(i128_to_fr(x.into())))
                            })
                            .collect();
                        chip.assign_tensor(&mut region, 0, &cells, *shape, 0, table, &site)?
                    }
                    Job::Pair { a, b, constants, witness } => {
                        let a = region.assign_advice(config.input, 0, Value::known(i128_to_fr(*a)));
                        let b = region.assign_advice(config.input, 1, Value::known(i128_to_fr(*b)));
                        let cells =
                            chip.assign_witness(&mut region, 0, &site, *constants, Value::known(*witness))?;
                        region.constrain_equal(a.cell(), cells.a.cell());
                        region.constrain_equal(b.cell(), cells.b.cell());
                        vec![cells.real, cells.imag]
                    }
                };
                Ok(ys.iter().map(|y| y.cell()).collect::<Vec<_>>())
            },
        )?;
        for (i, y) in ys.into_iter().enumerate() {
            layouter.constrain_instance(y, config.outputs, i);
        }
        Ok(())
    }
}

fn run(job: Job, outputs: &[i128]) -> Result<(), Vec<VerifyFailure>> {
    let circuit = RopeCircuit { job };
    let k = k_for(circuit.rows().max(RangeTableConfig::rows_for(crate::range::LIMB_BITS)));
    let instance = vec![outputs.iter().map(|&y| i128_to_fr(y)).collect()];
    MockProver::run(k, &circuit, instance).expect("synthesis succeeds").verify()
}

fn run_tensor(xs: Vec<i64>, seq: usize, heads: usize) -> Result<Vec<i64>, Vec<VerifyFailure>> {
    let t = table();
    let expected = ops::rope(&xs, seq, heads, HEAD_DIM, &t, BITS);
    let outputs: Vec<i128> = expected.iter().map(|&y| y.into()).collect();
    let shape = RopeShape { seq, heads, head_dim: HEAD_DIM };
    run(Job::Tensor { xs, shape, table: t }, &outputs)?;
    Ok(expected)
}

#[test]
fn rotates_a_tensor_like_ops_rope() {
    let (seq, heads) = (3, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut xs: Vec<i64> = (0..seq * heads * HEAD_DIM).map(|_| rng.gen_range(-32768..=32767)).collect();
    // Position 1, head 0: pair 0 saturates low (a·c − b·s ≪ lo), pair 1 high.
    let base = heads * HEAD_DIM;
    xs[base..base + HEAD_DIM].copy_from_slice(&[-32768, 32767, 32767, -32768]);
    let ys = run_tensor(xs.clone(), seq, heads).expect("honest rotation verifies");
    assert_eq!(ys[base], -32768, "{ys:?}");
    assert_eq!(ys[base + 1], 32767, "{ys:?}");
    assert_eq!(ys[..base], xs[..base], "position 0 is the identity");
}

#[test]
fn position_zero_is_the_identity() {
    let xs = vec![-32768, 32767, 0, -1];
    let ys = run_tensor(xs.clone(), 1, 1).expect("position 0 verifies");
    assert_eq!(ys, xs);
}

fn pair(a: i128, b: i128, pos: usize) -> (RopeWitness, (i64, i64)) {
    let c = constants(&table(), pos, 0);
    (RopeWitness::new(a, b, c, &site()), c)
}

fn outputs(w: &RopeWitness) -> [i128; 2] {
    [w.real.y, w.imag.y]
}

#[test]
fn accepts_an_honest_pair() {
    let (w, constants) = pair(1000, -2000, 1);
    assert_eq!(run(Job::Pair { a: 1000, b: -2000, constants, witness: w }, &outputs(&w)), Ok(()));
}

#[test]
fn rejects_a_tampered_output() {
    let (mut w, constants) = pair(1000, -2000, 1);
    w.real.y += 1;
    let err = run(Job::Pair { a: 1000, b: -2000, constants, witness: w }, &outputs(&w))
        .expect_err("a' is off by one");
    let expected = vec![("rescale".to_string(), "q = y + (above - below)*(e + 1)".to_string(), 0)];
    assert_eq!(constraint_failures(&err), expected);
}

#[test]
fn rejects_another_positions_constants() {
    // The prover rotates by position 2; the circuit's fixed columns hold position 1.
    let (w, _) = pair(1000, -2000, 2);
    let (_, constants) = pair(1000, -2000, 1);
    let err = run(Job::Pair { a: 1000, b: -2000, constants, witness: w }, &outputs(&w))
        .expect_err("the constants are bound by the circuit");
    let gate = |row| ("rope".to_string(), "x = a*c - b*s".to_string(), row);
    assert_eq!(
        constraint_failures(&err),
        vec![gate(0), gate(site().rows(crate::range::RangeLayout::DEFAULT))]
    );
}

#[test]
fn rejects_a_tampered_remainder() {
    let (mut w, constants) = pair(1000, -2000, 1);
    assert!(w.real.r + 1 < 1 << ROPE_FRAC, "the tampered remainder stays in range");
    w.real.r += 1;
    let err = run(Job::Pair { a: 1000, b: -2000, constants, witness: w }, &outputs(&w))
        .expect_err("the remainder is off by one");
    let expected = vec![("rescale".to_string(), "x + 2^(n-1) = q*2^n + r".to_string(), 0)];
    assert_eq!(constraint_failures(&err), expected);
}

#[test]
fn rejects_swapped_inputs() {
    // The prover rotates (b, a) while the copied inputs are (a, b).
    let (w, constants) = pair(-2000, 1000, 1);
    let err = run(Job::Pair { a: 1000, b: -2000, constants, witness: w }, &outputs(&w))
        .expect_err("the copies bind a and b");
    // Only copies break: the copies of a and b into the pair's row.
    assert_eq!(
        permutation_failures(&err),
        vec![("advice", 7, 0), ("advice", 8, 0), ("advice", 9, 0), ("advice", 9, 1)]
    );
}

#[test]
fn rejects_a_table_that_misses_the_positions() {
    let shape = RopeShape { seq: 5, heads: 1, head_dim: HEAD_DIM };
    let job = Job::Tensor { xs: vec![0; shape.len()], shape, table: table() };
    let circuit = RopeCircuit { job };
    let failure = crate::testing::refusal(10, &circuit, vec![vec![]]);
    assert_eq!(failure.chip, Chip::Rope);
    assert!(failure.to_string().contains("5 tokens from position 0"), "{failure}");
}
