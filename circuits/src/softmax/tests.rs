use std::sync::OnceLock;

use halo2_proofs::circuit::SimpleFloorPlanner;
use halo2_proofs::dev::{FailureLocation, MockProver, VerifyFailure};
use halo2_proofs::plonk::{Circuit, Instance};
use zkinfer_quantize::fixed::Scale;
use zkinfer_quantize::int::ops::{attention, AttnShape};

use super::*;
use crate::range::limbs;

/// The circuit size of these tests (tables unfolded).
const K: u32 = 17;

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(Tables::generate)
}

/// One attention row: the score cells' values and, when forged, the witness assigned for
/// them (otherwise `assign` computes it).
#[derive(Clone, Debug)]
struct Row {
    scores: Vec<i128>,
    witness: Option<SoftmaxWitness>,
}

#[derive(Clone, Debug)]
struct TestConfig {
    softmax: SoftmaxConfig,
    range_table: RangeTableConfig,
    input: Column<Advice>,
    probs: Column<Instance>,
}

#[derive(Clone)]
struct SoftmaxCircuit {
    rows: Vec<Row>,
}

impl Circuit<Fr> for SoftmaxCircuit {
    type Config = TestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
        let range_table = RangeTableConfig::configure(meta);
        let softmax = SoftmaxConfig::configure(meta, range_table, K);
        let input = meta.advice_column();
        meta.enable_equality(input);
        let probs = meta.instance_column();
        meta.enable_equality(probs);
        TestConfig { softmax, range_table, input, probs }
    }

    fn synthesize(&self, config: TestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        config.range_table.load(&mut layouter)?;
        let chip = SoftmaxChip::construct(config.softmax, tables())?;
        chip.load(&mut layouter)?;
        let probs = layouter.assign_region(
            || "softmax rows",
            |mut region| {
                let mut offset = 0;
                let mut probs = vec![];
                for row in &self.rows {
                    let cells = row
                        .scores
                        .iter()
                        .enumerate()
                        .map(|(j, &s)| {
                            region.assign_advice(
                                config.input,
                                offset + j * BLOCK_ROWS,
                                Value::known(i128_to_fr(s)),
                            )
                        })
                        .collect::<Vec<_>>();
                    let p = match &row.witness {
                        None => chip.assign(&mut region, offset, &cells)?,
                        Some(w) => {
                            chip.assign_witness(&mut region, offset, &cells, Value::known(w.clone()))?
                        }
                    };
                    offset += rows(row.scores.len());
                    probs.extend(p.into_iter().map(|c| c.cell()));
                }
                Ok(probs)
            },
        )?;
        for (i, p) in probs.into_iter().enumerate() {
            layouter.constrain_instance(p, config.probs, i);
        }
        Ok(())
    }
}

fn run(rows: Vec<Row>, probs: Vec<i128>) -> Result<(), Vec<VerifyFailure>> {
    let instance = probs.into_iter().map(i128_to_fr).collect();
    let prover = MockProver::run(K, &SoftmaxCircuit { rows }, vec![instance]).expect("synthesis succeeds");
    prover.verify()
}

fn chip_witness(scores: &[i128]) -> SoftmaxWitness {
    softmax_chip().witness(scores).expect("honest witness")
}

/// A chip outside any circuit, for computing witnesses.
fn softmax_chip() -> SoftmaxChip {
    let mut meta = ConstraintSystem::<Fr>::default();
    let range_table = RangeTableConfig::configure(&mut meta);
    let config = SoftmaxConfig::configure(&mut meta, range_table, K);
    SoftmaxChip::construct(config, tables()).expect("model tables")
}

fn row_of(location: &FailureLocation) -> usize {
    match location {
        FailureLocation::InRegion { offset, .. } => *offset,
        FailureLocation::OutsideRegion { row } => *row,
    }
}

/// Every failure as `lookup <name> @ row`, `gate <gate>: <constraint> @ row` or
/// `permutation`, sorted.
fn describe(failures: &[VerifyFailure]) -> Vec<String> {
    let mut out: Vec<String> = failures
        .iter()
        .map(|f| match f {
            VerifyFailure::Lookup { name, location, .. } => format!("lookup {name} @ {}", row_of(location)),
            VerifyFailure::ConstraintNotSatisfied { constraint, location, .. } => {
                // "Constraint 2 ('name') in gate 0 ('gate')".
                let text = constraint.to_string();
                let quoted: Vec<&str> = text.split('\'').skip(1).step_by(2).collect();
                format!("gate {}: {} @ {}", quoted[1], quoted[0], row_of(location))
            }
            VerifyFailure::Permutation { .. } => "permutation".to_string(),
            other => format!("other {other}"),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn expect_failures(rows: Vec<Row>, probs: Vec<i128>, expected: &[String]) {
    let err = run(rows, probs).expect_err("the forged witness must fail");
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(describe(&err), expected);
}

fn shape(t: usize, score_shift: u32) -> AttnShape {
    AttnShape {
        t,
        heads: 1,
        kv_heads: 1,
        head_dim: 2,
        score_mult: 1,
        score_shift,
        score: Scale::new(12, 32),
        v: Scale::new(8, 24),
    }
}

/// Every causal row of one head's attention, with the reference probabilities.
fn attention_rows(q: &[i64], k: &[i64], v: &[i64], t: usize, score_shift: u32) -> (Vec<Row>, Vec<i128>) {
    let tr = attention(q, k, v, shape(t, score_shift), tables());
    let mut rows = vec![];
    let mut probs = vec![];
    for ti in 0..t {
        let scores: Vec<i128> = tr.scores[ti * t..=ti * t + ti].iter().map(|&s| i128::from(s)).collect();
        let w = chip_witness(&scores);
        assert_eq!(w.max, i128::from(tr.max[ti]));
        assert_eq!(w.exps, tr.exp[ti * t..=ti * t + ti].iter().map(|&e| i128::from(e)).collect::<Vec<_>>());
        assert_eq!((w.mant, w.exponent), (i128::from(tr.sum_mant[ti]), tr.sum_exp[ti]));
        assert_eq!(w.recip, i128::from(tr.recip[ti]));
        let expected: Vec<i128> = tr.probs[ti * t..=ti * t + ti].iter().map(|&p| i128::from(p)).collect();
        assert_eq!(w.probs, expected);
        probs.extend(expected);
        rows.push(Row { scores, witness: None });
    }
    (rows, probs)
}

#[test]
fn matches_the_reference_probabilities_bit_for_bit() {
    let mut rows = vec![];
    let mut probs = vec![];
    // Four tokens, scores around ±2 at 12 fractional bits (q·k ≈ 2^25, shift 12).
    let q = [6000, -3000, 2500, 7000, -4100, 1234, 8191, 8191];
    let k = [5000, 1000, -7000, 3000, 4096, -4096, 100, 9000];
    let v = [1, 2, 3, 4, 5, 6, 7, 8];
    let cases = [
        attention_rows(&q, &k, &v, 4, 12),
        // One token: p = 2^16.
        attention_rows(&[5, 6], &[7, 8], &[300, -200], 1, 1),
        // Equal scores: p = 2^15 each.
        attention_rows(&[1, 0, 1, 0], &[4, 0, 4, 0], &[100, 0, 301, 0], 2, 1),
        // A score far below the max: z saturates and e = 0.
        attention_rows(&[1 << 12, 0, 1 << 12, 0], &[-(1 << 12), 0, 1 << 12, 0], &[7, 0, 9, 0], 2, 1),
    ];
    assert_eq!(cases[1].1, vec![65536]);
    assert_eq!(cases[2].1, vec![65536, 32768, 32768]);
    assert_eq!(cases[3].1, vec![65536, 0, 65536]);
    let distinct: std::collections::BTreeSet<i128> =
        cases[0].0.iter().flat_map(|r| r.scores.clone()).collect();
    assert!(distinct.len() > 4, "the four-token case has varied scores: {distinct:?}");
    for (r, p) in cases {
        rows.extend(r);
        probs.extend(p);
    }
    assert_eq!(run(rows, probs), Ok(()));
}

/// Three scores with a unique maximum at `j = 0`; `tail` is the tail's row.
const SCORES: [i128; 3] = [4096, -2000, 1000];
const TAIL: usize = 3 * BLOCK_ROWS;

fn forged(w: SoftmaxWitness) -> (Vec<Row>, Vec<i128>) {
    let probs = w.probs.clone();
    (vec![Row { scores: SCORES.to_vec(), witness: Some(w) }], probs)
}

fn gap_top_limb(block: usize) -> String {
    format!("lookup softmax gap @ {}", block * BLOCK_ROWS + limbs(SCORE_BITS, crate::range::LIMB_BITS) - 1)
}

fn not_a_score() -> String {
    format!("gate softmax normalize: max is a score: prod = 0 @ {TAIL}")
}

#[test]
fn honest_forged_witness_passes() {
    let (rows, probs) = forged(chip_witness(&SCORES));
    assert_eq!(run(rows, probs), Ok(()));
}

#[test]
fn rejects_a_max_below_a_score() {
    let w = softmax_chip().witness_with_max(&SCORES, SCORES[0] - 1).expect("witness");
    let (rows, probs) = forged(w);
    expect_failures(rows, probs, &[gap_top_limb(0), not_a_score()]);
}

#[test]
fn rejects_a_max_that_is_no_score() {
    let w = softmax_chip().witness_with_max(&SCORES, SCORES[0] + 1).expect("witness");
    let (rows, probs) = forged(w);
    expect_failures(rows, probs, &[not_a_score()]);
}

#[test]
fn rejects_a_wrong_exp_inside_and_beyond_the_domain() {
    let chip = softmax_chip();
    let w = chip_witness(&SCORES);
    let mut exps = w.exps.clone();
    exps[1] += 1;
    let (rows, probs) = forged(chip.witness_with_exps(w.max, w.gaps, exps).expect("witness"));
    expect_failures(rows, probs, &[format!("lookup softmax exp @ {BLOCK_ROWS}")]);

    // Gap 74096 > 2^16 − 1: the clamp gives exp[2^16 − 1] = 0; claim 1 instead.
    let scores = vec![4096, -70000];
    let w = chip.witness(&scores).expect("witness");
    assert_eq!(w.exps, vec![65536, 0]);
    let w = chip.witness_with_exps(w.max, w.gaps, vec![65536, 1]).expect("witness");
    let probs = w.probs.clone();
    let rows = vec![Row { scores, witness: Some(w) }];
    expect_failures(rows, probs, &[format!("lookup softmax exp @ {BLOCK_ROWS}")]);
}

#[test]
fn rejects_a_wrong_normalization_exponent() {
    let mut w = chip_witness(&SCORES);
    let sum = w.sum();
    w.exponent += 1;
    w.mant = sum >> w.exponent;
    w.rem = sum - (w.mant << w.exponent);
    w.recompute_probs();
    let (rows, probs) = forged(w);
    expect_failures(rows, probs, &[format!("lookup softmax recip @ {TAIL}")]);
}

#[test]
fn rejects_a_remainder_beyond_the_exponent() {
    // k kept, m one too small: r_k = S − (m − 1)·2^k ≥ 2^k, so the slack is negative.
    let mut w = chip_witness(&SCORES);
    w.mant -= 1;
    w.rem += 1 << w.exponent;
    w.recip = softmax_chip().recip.get(w.mant).expect("in domain");
    w.recompute_probs();
    let (rows, probs) = forged(w);
    expect_failures(
        rows,
        probs,
        &[format!("lookup softmax slack @ {}", TAIL + limbs(NORM_BITS, crate::range::LIMB_BITS) - 1)],
    );
}

#[test]
fn rejects_a_wrong_reciprocal() {
    let mut w = chip_witness(&SCORES);
    w.recip += 1;
    w.recompute_probs();
    let (rows, probs) = forged(w);
    expect_failures(rows, probs, &[format!("lookup softmax recip @ {TAIL}")]);
}

#[test]
fn rejects_a_tampered_probability() {
    let mut w = chip_witness(&SCORES);
    w.probs[1] += 1;
    let (rows, probs) = forged(w);
    let top = BLOCK_ROWS + limbs(PROB_SITE.shift, crate::range::LIMB_BITS) - 1;
    expect_failures(rows, probs, &[format!("lookup rescale remainder @ {top}")]);
}

#[test]
fn rejects_swapped_scores() {
    let w = chip_witness(&SCORES);
    let probs = w.probs.clone();
    let rows = vec![Row { scores: vec![SCORES[1], SCORES[0], SCORES[2]], witness: Some(w) }];
    expect_failures(
        rows,
        probs,
        &[
            "gate softmax score: d = mx - s @ 0".to_string(),
            format!("gate softmax score: d = mx - s @ {BLOCK_ROWS}"),
        ],
    );
}

#[test]
fn assign_refuses_an_empty_row() {
    let rows = vec![Row { scores: vec![], witness: None }];
    let failure = crate::testing::refusal(K, &SoftmaxCircuit { rows }, vec![vec![]]);
    assert_eq!(failure.to_string(), "softmax: a row of no scores");
}
