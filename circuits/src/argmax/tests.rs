use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
use halo2_proofs::dev::{MockProver, VerifyFailure};
use halo2_proofs::plonk::{Circuit, Instance};

use super::*;
use crate::failure::Int;
use crate::testing::{constraint_failures, lookup_failures, permutation_failures};

const BITS: u32 = 8;
/// Rows per candidate at 8 bits.
const R: usize = 2;
/// The vocabulary position of the first logit.
const FIRST: u64 = 100;
/// Two equal maxima, at positions 1 and 3.
const LOGITS: [i128; 5] = [3, 7, -5, 7, 1];

#[derive(Clone, Debug)]
struct TestConfig {
    argmax: ArgmaxConfig,
    source: Column<Advice>,
    instance: Column<Instance>,
}

#[derive(Clone, Debug)]
struct ArgmaxCircuit {
    logits: Vec<i128>,
    prior: Option<Prior>,
    /// `None`: the chip computes the honest witness.
    witness: Option<ArgmaxWitness>,
}

impl ArgmaxCircuit {
    fn honest(logits: &[i128], prior: Option<Prior>) -> Self {
        ArgmaxCircuit { logits: logits.to_vec(), prior, witness: None }
    }

    fn forged(chosen: &[usize], max: i128) -> Self {
        let chosen = (0..LOGITS.len()).map(|j| chosen.contains(&j)).collect();
        ArgmaxCircuit { logits: LOGITS.to_vec(), prior: None, witness: Some(ArgmaxWitness { chosen, max }) }
    }
}

impl Circuit<Fr> for ArgmaxCircuit {
    type Config = TestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
        let table = RangeTableConfig::configure(meta);
        let argmax = ArgmaxConfig::configure(meta, table, BITS);
        let source = meta.advice_column();
        meta.enable_equality(source);
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        TestConfig { argmax, source, instance }
    }

    fn synthesize(&self, config: TestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        config.argmax.gap.table.load(&mut layouter)?;
        let chip = ArgmaxChip::construct(config.argmax);
        let prior = self.prior.map(Value::known);
        let cells = layouter.assign_region(
            || "argmax",
            |mut region| {
                let logits: Vec<AssignedFr<'_>> = self
                    .logits
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| region.assign_advice(config.source, i, Value::known(i128_to_fr(l))))
                    .collect();
                match &self.witness {
                    None => chip.assign(&mut region, 0, prior, &logits, FIRST),
                    Some(w) => {
                        chip.assign_witness(&mut region, 0, prior, &logits, FIRST, Value::known(w.clone()))
                    }
                }
                .map(|c| {
                    let prior = c.prior.map(|(i, l)| (i.cell(), l.cell()));
                    (c.index.cell(), c.max.cell(), prior)
                })
            },
        )?;
        let (index, max, prior) = cells;
        let mut row = 0;
        if let Some((i, l)) = prior {
            layouter.constrain_instance(i, config.instance, 0);
            layouter.constrain_instance(l, config.instance, 1);
            row = 2;
        }
        layouter.constrain_instance(index, config.instance, row);
        layouter.constrain_instance(max, config.instance, row + 1);
        Ok(())
    }
}

fn run(circuit: &ArgmaxCircuit, public: &[i128]) -> Result<(), Vec<VerifyFailure>> {
    let instance = public.iter().map(|&v| i128_to_fr(v)).collect();
    MockProver::run(10, circuit, vec![instance]).expect("synthesis succeeds").verify()
}

/// The gap check of candidate `j` (8 bits: a single limb, on the candidate's row).
fn gap(j: usize) -> (String, usize) {
    ("argmax gap".to_string(), j * R)
}

#[test]
fn proves_the_first_maximum() {
    assert_eq!(run(&ArgmaxCircuit::honest(&LOGITS, None), &[101, 7]), Ok(()));
    assert_eq!(run(&ArgmaxCircuit::honest(&[-128, 127, 0], None), &[101, 127]), Ok(()));
    assert_eq!(run(&ArgmaxCircuit::honest(&[-3], None), &[100, -3]), Ok(()));
}

#[test]
fn breaks_ties_by_the_lowest_index() {
    assert_eq!(run(&ArgmaxCircuit::honest(&[4, 4, 4, 4], None), &[100, 4]), Ok(()));
    assert_eq!(run(&ArgmaxCircuit::honest(&[-128, -128], None), &[100, -128]), Ok(()));
    let err = run(&ArgmaxCircuit::honest(&LOGITS, None), &[103, 7]).expect_err("the first 7 is at 101");
    // Only copies break: the claimed index (advice 4, row 8) is not the instance's.
    assert_eq!(permutation_failures(&err), vec![("instance", 0, 0), ("advice", 4, 8)]);
}

#[test]
fn first_max_matches_top_k() {
    assert_eq!(first_max(&LOGITS), Some((1, 7)));
    assert_eq!(first_max(&[2, 2]), Some((0, 2)));
    assert_eq!(first_max::<i64>(&[]), None);
}

#[test]
fn rejects_an_index_that_is_not_the_max() {
    let err = run(&ArgmaxCircuit::forged(&[4], 1), &[104, 1]).expect_err("1 is not the max");
    let mut failures = lookup_failures(&err);
    failures.sort_by_key(|f| f.1);
    assert_eq!(failures, vec![gap(0), gap(1), gap(3)]);
}

#[test]
fn rejects_a_later_tie() {
    let err = run(&ArgmaxCircuit::forged(&[3], 7), &[103, 7]).expect_err("an earlier 7 exists");
    assert_eq!(lookup_failures(&err), vec![gap(1)]);
}

#[test]
fn rejects_a_max_other_than_the_chosen_logit() {
    let err = run(&ArgmaxCircuit::forged(&[1], 8), &[101, 8]).expect_err("l_1 = 7, not 8");
    assert_eq!(
        constraint_failures(&err),
        vec![("argmax candidate".to_string(), "chosen: logit = max".to_string(), R)]
    );
}

#[test]
fn rejects_two_chosen_candidates() {
    let err = run(&ArgmaxCircuit::forged(&[1, 3], 7), &[204, 7]).expect_err("two flags");
    assert_eq!(
        constraint_failures(&err),
        vec![("argmax one chosen".to_string(), "c = 1".to_string(), 4 * R)]
    );
}

#[test]
fn rejects_no_chosen_candidate() {
    let err = run(&ArgmaxCircuit::forged(&[], 8), &[0, 8]).expect_err("no flag");
    assert_eq!(
        constraint_failures(&err),
        vec![("argmax one chosen".to_string(), "c = 1".to_string(), 4 * R)]
    );
}

#[test]
fn a_prior_best_wins_ties_and_loses_to_a_larger_logit() {
    let tie = Some(Prior { index: 5, logit: 7 });
    assert_eq!(run(&ArgmaxCircuit::honest(&LOGITS, tie), &[5, 7, 5, 7]), Ok(()));
    let lower = Some(Prior { index: 5, logit: 6 });
    assert_eq!(run(&ArgmaxCircuit::honest(&LOGITS, lower), &[5, 6, 101, 7]), Ok(()));
    let higher = Some(Prior { index: 5, logit: 100 });
    assert_eq!(run(&ArgmaxCircuit::honest(&LOGITS, higher), &[5, 100, 5, 100]), Ok(()));
}

#[test]
fn rejects_a_slice_tie_claimed_over_the_prior() {
    let chosen = [false, false, true, false, false, false];
    let circuit = ArgmaxCircuit {
        logits: LOGITS.to_vec(),
        prior: Some(Prior { index: 5, logit: 7 }),
        witness: Some(ArgmaxWitness { chosen: chosen.to_vec(), max: 7 }),
    };
    let err = run(&circuit, &[5, 7, 101, 7]).expect_err("the prior's 7 comes first");
    assert_eq!(lookup_failures(&err), vec![gap(0)]);
}

#[test]
fn refuses_logits_outside_the_width() {
    let circuit = ArgmaxCircuit::honest(&[3, 128], None);
    let failure = crate::testing::refusal(10, &circuit, vec![vec![]]);
    assert_eq!(failure.chip, Chip::Argmax);
    assert_eq!(failure.problem, Problem::outside("logit", Some(1), Int(Some(128)), Span::signed(8)));
    let circuit = ArgmaxCircuit::honest(&[], None);
    assert!(matches!(crate::testing::refusal(10, &circuit, vec![vec![]]).problem, Problem::Unsupported(_)));
}
