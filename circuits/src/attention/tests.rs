use std::sync::OnceLock;

use halo2_proofs::circuit::SimpleFloorPlanner;
use halo2_proofs::dev::{FailureLocation, MockProver, VerifyFailure};
use halo2_proofs::plonk::{Advice, Circuit, Column, Instance};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zkinfer_quantize::int::ops::attention;

use super::head::HeadWitness;
use super::score::{ScoreWitness, SCORE_LANES};
use super::witness::RowWitness;
use super::*;
use crate::failure::Int;
use crate::field::i128_to_fr;
use crate::range::limbs;
use crate::rescale::RescaleSite;
use crate::softmax::{BLOCK_ROWS, PROB_SITE};
use crate::testing::LastRows;

/// The exp and recip tables have 2^16 rows.
const K: u32 = 17;

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(Tables::generate)
}

/// Block 0's attention inputs and reference output on a 3-token prompt of the quantized
/// built-in tiny model (4 query heads, 2 key/value heads, `D = 16`).
struct RealLayer {
    shape: AttnShape,
    q_bits: u32,
    k_bits: u32,
    q: Vec<i64>,
    k: Vec<i64>,
    v: Vec<i64>,
    heads: Vec<i64>,
}

fn real() -> &'static RealLayer {
    static REAL: OnceLock<RealLayer> = OnceLock::new();
    REAL.get_or_init(|| {
        use zkinfer_quantize::int::{forward_layer, ops::embed};
        use zkinfer_quantize::qmodel::file::QuantizedModel;
        use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
        use zkinfer_quantize::synthetic::{tiny_config, SyntheticModel};

        let path = std::env::temp_dir().join(format!("zkinfer-attn-test-{}.zkq", std::process::id()));
        let src = SyntheticModel::new(tiny_config(), 11);
        let prompts = vec![(0..40).map(|i| (i * 53 % 256) as u32).collect::<Vec<u32>>()];
        let opts = QuantOptions { max_seq: 16, ..QuantOptions::default() };
        quantize_to_file(&src, &prompts, &opts, &path, &mut |_, _, _| {}).expect("quantize");
        let model = QuantizedModel::open(&path).expect("open");
        let layer = model.layer(0).expect("layer 0");
        let cfg = model.config().clone();
        let params = model.manifest.body.params.clone();
        let tables = model.tables().expect("tables");
        let rope = model.rope().expect("rope");
        let tokens = [72u32, 105, 33];
        let x = embed(&model.embedding().expect("embedding"), &tokens);
        std::fs::remove_file(&path).expect("remove the temporary model");
        let tr = forward_layer(&cfg, &params, &layer, &tables, &rope, &x, tokens.len());
        let shape = AttnShape {
            t: tokens.len(),
            heads: cfg.num_attention_heads,
            kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim,
            score_mult: layer.score_mult,
            score_shift: layer.score_shift,
            score: params.score,
            v: layer.v.out,
        };
        RealLayer {
            shape,
            q_bits: layer.q.out.bits,
            k_bits: layer.k.out.bits,
            q: tr.q_rope,
            k: tr.k_rope,
            v: tr.v,
            heads: tr.attn.heads,
        }
    })
}

fn wide(x: &[i64]) -> Vec<i128> {
    x.iter().map(|&v| i128::from(v)).collect()
}

/// One attention call: its inputs and, when forged, the witness assigned for them.
#[derive(Clone, Debug)]
struct Call {
    layout: AttnLayout,
    q_bits: u32,
    k_bits: u32,
    q: Vec<i128>,
    k: Vec<i128>,
    v: Vec<i128>,
    witness: Option<AttnWitness>,
}

impl Call {
    fn new(shape: &AttnShape, q_bits: u32, k_bits: u32, q: &[i64], k: &[i64], v: &[i64]) -> Self {
        let layout = AttnLayout::new(shape, q_bits, k_bits, crate::range::RangeLayout::DEFAULT)
            .expect("a valid shape");
        Call { layout, q_bits, k_bits, q: wide(q), k: wide(k), v: wide(v), witness: None }
    }

    fn real() -> Self {
        let r = real();
        Call::new(&r.shape, r.q_bits, r.k_bits, &r.q, &r.k, &r.v)
    }

    /// The honest witness of the call.
    fn honest(&self) -> AttnWitness {
        chip().witness(&self.layout, &self.q, &self.k, &self.v).expect("honest witness")
    }
}

#[derive(Clone, Debug)]
struct TestConfig {
    attn: AttentionConfig,
    range_table: RangeTableConfig,
    input: Column<Advice>,
    heads: Column<Instance>,
}

#[derive(Clone)]
struct AttnCircuit {
    calls: Vec<Call>,
    /// Whether the inputs and forged witnesses are known (false for keygen).
    known: bool,
}

impl Circuit<Fr> for AttnCircuit {
    type Config = TestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        AttnCircuit { calls: self.calls.clone(), known: false }
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
        let range_table = RangeTableConfig::configure(meta);
        let attn = AttentionConfig::configure(meta, range_table, K);
        let input = meta.advice_column();
        meta.enable_equality(input);
        let heads = meta.instance_column();
        meta.enable_equality(heads);
        TestConfig { attn, range_table, input, heads }
    }

    fn synthesize(&self, config: TestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        config.range_table.load(&mut layouter)?;
        let chip = AttentionChip::construct(config.attn.clone(), tables())?;
        chip.load(&mut layouter)?;
        let heads = layouter.assign_region(
            || "attention",
            |mut region| {
                let (mut input_row, mut offset) = (0, 0);
                let mut heads = vec![];
                for call in &self.calls {
                    let mut cells = |xs: &[i128]| {
                        let cells: Vec<AssignedFr<'_>> = xs
                            .iter()
                            .enumerate()
                            .map(|(i, &x)| {
                                let x =
                                    if self.known { Value::known(i128_to_fr(x)) } else { Value::unknown() };
                                region.assign_advice(config.input, input_row + i, x)
                            })
                            .collect();
                        input_row += xs.len();
                        cells
                    };
                    let (q, k, v) = (cells(&call.q), cells(&call.k), cells(&call.v));
                    let out = match &call.witness {
                        None => chip.assign(
                            &mut region,
                            offset,
                            &call.layout.shape,
                            call.q_bits,
                            call.k_bits,
                            &q,
                            &k,
                            &v,
                        )?,
                        Some(w) => chip.assign_witness(
                            &mut region,
                            offset,
                            &call.layout,
                            &q,
                            &k,
                            &v,
                            if self.known { Value::known(w.clone()) } else { Value::unknown() },
                        )?,
                    };
                    offset += AttentionChip::rows(
                        &call.layout.shape,
                        call.q_bits,
                        call.k_bits,
                        crate::range::RangeLayout::DEFAULT,
                    )?;
                    heads.extend(out.into_iter().map(|c| c.cell()));
                }
                Ok(heads)
            },
        )?;
        for (i, h) in heads.into_iter().enumerate() {
            layouter.constrain_instance(h, config.heads, i);
        }
        Ok(())
    }
}

/// The test circuit's configuration (for its column indices).
fn test_config() -> TestConfig {
    AttnCircuit::configure(&mut ConstraintSystem::<Fr>::default())
}

/// A chip outside any circuit, for computing witnesses.
fn chip() -> &'static AttentionChip {
    static CHIP: OnceLock<AttentionChip> = OnceLock::new();
    CHIP.get_or_init(|| AttentionChip::construct(test_config().attn, tables()).expect("model tables"))
}

fn run(calls: Vec<Call>, heads: &[i128]) -> Result<(), Vec<VerifyFailure>> {
    let instance = vec![heads.iter().map(|&h| i128_to_fr(h)).collect()];
    MockProver::run(K, &AttnCircuit { calls, known: true }, instance).expect("synthesis succeeds").verify()
}

fn row_of(location: &FailureLocation) -> usize {
    match location {
        FailureLocation::InRegion { offset, .. } => *offset,
        FailureLocation::OutsideRegion { row } => *row,
    }
}

/// Every failure as `lookup <name> @ row`, `gate <gate>: <constraint> @ row` or
/// `permutation <column index> @ row`, sorted.
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
            VerifyFailure::Permutation { column, location } => {
                format!("permutation {} @ {}", column.index(), row_of(location))
            }
            other => format!("other {other}"),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The first row of the band of query head `hh`, token `ti`.
fn band_start(layout: &AttnLayout, hh: usize, ti: usize) -> usize {
    let t = layout.shape.t;
    (0..hh * t + ti).map(|r| layout.band_rows(r % t + 1)).sum()
}

/// The honest rest of row `r` (softmax, head output) after its scores changed.
fn rebuild(w: &mut AttnWitness, layout: &AttnLayout, r: usize) {
    let row = &w.rows[r];
    w.rows[r] = RowWitness::from_scores(row.scores.clone(), &row.head.values, chip().softmax(), layout)
        .expect("a reachable witness");
}

/// `rescale` with its quotient and output one too large and the remainder lowered to keep
/// the division equation: the remainder goes negative.
fn bump_rescale(w: &mut crate::rescale::RescaleWitness, site: &RescaleSite) {
    w.q += 1;
    w.y += 1;
    w.r -= 1i128 << site.shift;
}

/// Random `q`, `k`, `v` for `shape`, with `q`/`k` magnitudes below `2^qk_bits` and values
/// below `2^v_bits`.
fn random_inputs(shape: &AttnShape, qk_bits: u32, v_bits: u32, seed: u64) -> [Vec<i64>; 3] {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (t, h, kv, d) = (shape.t, shape.heads, shape.kv_heads, shape.head_dim);
    let mut draw = |len: usize, bits: u32| -> Vec<i64> {
        let half = 1i64 << bits;
        (0..len).map(|_| rng.gen_range(-half..half)).collect()
    };
    [draw(t * h * d, qk_bits), draw(t * kv * d, qk_bits), draw(t * kv * d, v_bits)]
}

fn max_bits(x: &[i64]) -> u32 {
    64 - x.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0).leading_zeros()
}

#[test]
fn matches_the_reference_on_random_and_real_layers_back_to_back() {
    let r = real();
    // Random inputs of the real layer's magnitudes, with D = 8.
    let shape = AttnShape { head_dim: 8, ..r.shape };
    let [q, k, v] = random_inputs(&shape, max_bits(&r.q), max_bits(&r.v), 3);
    let reference = attention(&q, &k, &v, shape, tables());
    let random = Call::new(&shape, r.q_bits, r.k_bits, &q, &k, &v);
    assert_eq!(random.honest().heads(&random.layout), wide(&reference.heads));
    let probs: std::collections::BTreeSet<i64> = reference.probs.iter().copied().collect();
    assert!(probs.len() > 10, "the random scores give varied probabilities: {probs:?}");

    let real_call = Call::real();
    assert_eq!(real_call.honest().heads(&real_call.layout), wide(&r.heads));
    let heads = [wide(&reference.heads), wide(&r.heads)].concat();
    assert_eq!(run(vec![random, real_call], &heads), Ok(()));
}

#[test]
fn rejects_wrong_public_heads() {
    let call = Call::real();
    let mut heads = wide(&real().heads);
    heads[5] += 1;
    let err = run(vec![call], &heads).expect_err("a head differs from the proof's");
    assert!(err.iter().all(|f| matches!(f, VerifyFailure::Permutation { .. })), "{err:?}");
}

/// One forged cell of the shared forged run: which attention row it is in and the
/// failures it must cause.
struct Forgery {
    /// `hh·t + ti`.
    row: usize,
    expected: Vec<String>,
}

/// The forgeries, each in its own attention row of block 0 of the tiny model, and the
/// failures of one `MockProver` run over all of them (one run at `k = 17` instead of one
/// per forgery). The public outputs are the forged witness's own heads, so that only the
/// forged cells can fail.
struct ForgedRun {
    layout: AttnLayout,
    /// A wrong dot product (the running sum's first row).
    dot: Forgery,
    /// A wrong score rescale remainder.
    score_rescale: Forgery,
    /// A key row swapped for another: the tampered key lane cells.
    swapped_key: Forgery,
    /// A wrong probability.
    prob: Forgery,
    /// A wrong head output.
    head: Forgery,
    failures: Vec<String>,
}

fn forged_run() -> &'static ForgedRun {
    static RUN: OnceLock<ForgedRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let mut call = Call::real();
        let layout = call.layout;
        let (t, d) = (layout.shape.t, layout.shape.head_dim);
        let honest = call.honest();
        let mut w = honest.clone();
        let band = |hh: usize, ti: usize| band_start(&layout, hh, ti);
        let score_row = |hh: usize, ti: usize, key: usize| {
            band(hh, ti) + key * layout.score.rows(crate::range::RangeLayout::DEFAULT)
        };

        // Query head 0, token 2, key 1: the claimed dot product is one too large, and
        // everything after it is honest from there.
        let dot = {
            let r = 2;
            let sw = &mut w.rows[r].scores[1];
            sw.dot += 1;
            let x = sw.dot * i128::from(layout.score.mult);
            sw.rescale = crate::rescale::RescaleWitness::new(x, &layout.score.rescale);
            rebuild(&mut w, &layout, r);
            assert!(layout.score.dot_rows() > 1, "the first row is a running-sum row");
            let row = score_row(0, 2, 1);
            Forgery {
                row: r,
                expected: vec![format!("gate attention dot: acc = acc_next + sum(q*k) @ {row}")],
            }
        };

        // Query head 1, token 2, key 0: the score's quotient one too large.
        let score_rescale = {
            let r = t + 2;
            bump_rescale(&mut w.rows[r].scores[0].rescale, &layout.score.rescale);
            rebuild(&mut w, &layout, r);
            let top = score_row(1, 2, 0) + limbs(layout.score.rescale.shift, crate::range::LIMB_BITS) - 1;
            Forgery { row: r, expected: vec![format!("lookup rescale remainder @ {top}")] }
        };

        // Query head 2 (key/value head 1), token 2: key 1's score computed honestly over
        // key 2's row.
        let swapped_key = {
            let r = 2 * t + 2;
            let (q, k2) = (w.rows[r].scores[1].q.clone(), w.rows[r].scores[2].k.clone());
            w.rows[r].scores[1] = ScoreWitness::new(&q, &k2, &layout.score).expect("witness");
            rebuild(&mut w, &layout, r);
            assert_ne!(w.rows[r].softmax.probs, honest.rows[r].softmax.probs, "the swap changes the row");
            let row = score_row(2, 2, 1);
            let k_cols: Vec<usize> = test_config().attn.score.k.iter().map(|c| c.index()).collect();
            let old = &honest.rows[r].scores[1].k;
            let expected: Vec<String> = (0..d)
                .filter(|&i| old[i] != k2[i])
                .map(|i| format!("permutation {} @ {}", k_cols[i % SCORE_LANES], row + i / SCORE_LANES))
                .collect();
            assert!(!expected.is_empty());
            Forgery { row: r, expected }
        };

        // Query head 3, token 1: probability 1 one too large, the head output honest from it.
        let prob = {
            let r = 3 * t + 1;
            let row = &mut w.rows[r];
            row.softmax.probs[1] += 1;
            row.head = HeadWitness::new(&row.softmax.probs, &row.head.values, &layout.head).expect("witness");
            let top = band(3, 1)
                + layout.softmax_start(2)
                + BLOCK_ROWS
                + limbs(PROB_SITE.shift, crate::range::LIMB_BITS)
                - 1;
            Forgery { row: r, expected: vec![format!("lookup rescale remainder @ {top}")] }
        };

        // Query head 3, token 2: value column 11's output one too large.
        let head = {
            let r = 3 * t + 2;
            let c = 11;
            bump_rescale(&mut w.rows[r].head.outputs[c], &layout.head);
            let group_start = band(3, 2)
                + layout.head_start(3)
                + c / head::HEAD_LANES
                    * head::group_rows(3, &layout.head, crate::range::RangeLayout::DEFAULT);
            let top = group_start + limbs(layout.head.shift, crate::range::LIMB_BITS) - 1;
            Forgery { row: r, expected: vec![format!("lookup rescale remainder @ {top}")] }
        };

        let heads = w.heads(&layout);
        call.witness = Some(w);
        let failures = describe(&run(vec![call], &heads).expect_err("the forged witness must fail"));
        ForgedRun { layout, dot, score_rescale, swapped_key, prob, head, failures }
    })
}

/// Asserts that every failure `f` expects occurs in the forged run.
fn assert_caught(f: &Forgery) {
    let run = forged_run();
    let t = run.layout.shape.t;
    for e in &f.expected {
        assert!(
            run.failures.contains(e),
            "row (head {}, token {}): {e} missing from {:?}",
            f.row / t,
            f.row % t,
            run.failures
        );
    }
}

#[test]
fn rejects_a_wrong_dot_product() {
    assert_caught(&forged_run().dot);
}

#[test]
fn rejects_a_wrong_score_rescale_remainder() {
    assert_caught(&forged_run().score_rescale);
}

#[test]
fn rejects_a_swapped_key_row() {
    assert_caught(&forged_run().swapped_key);
}

#[test]
fn rejects_a_wrong_probability() {
    assert_caught(&forged_run().prob);
}

#[test]
fn rejects_a_wrong_head_output() {
    assert_caught(&forged_run().head);
}

/// The forged run fails at the forged cells only: besides the expected failures, only the
/// other ends of the swapped key's broken copies (key lanes or the input column).
#[test]
fn forged_run_fails_nowhere_else() {
    let run = forged_run();
    let expected: Vec<&String> = [&run.dot, &run.score_rescale, &run.swapped_key, &run.prob, &run.head]
        .iter()
        .flat_map(|f| &f.expected)
        .collect();
    let config = test_config();
    let mut copy_ends: Vec<usize> = config.attn.score.k.iter().map(|c| c.index()).collect();
    copy_ends.push(config.input.index());
    for f in run.failures.iter().filter(|f| !expected.contains(f)) {
        let col =
            f.strip_prefix("permutation ").and_then(|f| f.split(' ').next()).and_then(|c| c.parse().ok());
        assert!(col.is_some_and(|c: usize| copy_ends.contains(&c)), "unexpected {f} in {:?}", run.failures);
    }
}

#[test]
fn refuses_shapes_it_cannot_lay_out() {
    let r = real();
    let bad = |shape: AttnShape| {
        AttentionChip::rows(&shape, r.q_bits, r.k_bits, crate::range::RangeLayout::DEFAULT).is_err()
    };
    assert!(bad(AttnShape { head_dim: 10, ..r.shape }));
    assert!(bad(AttnShape { t: 0, ..r.shape }));
    assert!(bad(AttnShape { heads: 3, ..r.shape }));
    assert!(bad(AttnShape { score: zkinfer_quantize::fixed::Scale::new(12, 33), ..r.shape }));
    assert!(AttentionChip::rows(&r.shape, 0, r.k_bits, crate::range::RangeLayout::DEFAULT).is_err());
    assert!(AttentionChip::rows(&r.shape, 100, 100, crate::range::RangeLayout::DEFAULT).is_err());
}

#[test]
fn rows_match_the_documented_layout() {
    let r = real();
    let layout =
        AttnLayout::new(&r.shape, r.q_bits, r.k_bits, crate::range::RangeLayout::DEFAULT).expect("layout");
    assert_eq!(
        (
            layout.score.rescale.x_bits,
            layout.score.rows(crate::range::RangeLayout::DEFAULT),
            layout.score.dot_rows()
        ),
        (74, 8, 4)
    );
    // Scores (8 rows each), the softmax (6n + 4), then 16 head groups of 5 rows, stacked.
    assert_eq!((1..=3).map(|n| layout.band_rows(n)).collect::<Vec<_>>(), vec![98, 112, 126]);
    assert_eq!((layout.softmax_start(3), layout.head_start(3)), (24, 46));
    assert_eq!(
        AttentionChip::rows(&r.shape, r.q_bits, r.k_bits, crate::range::RangeLayout::DEFAULT).ok(),
        Some(4 * (98 + 112 + 126))
    );
}

#[test]
fn refuses_inputs_out_of_reach() {
    let refusal = |call: Call| {
        let failure =
            crate::testing::refusal(K, &AttnCircuit { calls: vec![call], known: true }, vec![vec![]]);
        assert_eq!(failure.chip, Chip::Attention);
        failure.problem
    };
    let mut call = Call::real();
    call.q.pop();
    let s = call.layout.shape;
    let expected = s.t * s.heads * s.head_dim;
    assert_eq!(refusal(call), Problem::Length { what: "queries", expected, got: expected - 1 });
    // A query far beyond its promised bits.
    let mut call = Call::real();
    call.q[0] = 1 << 90;
    let q_bits = call.q_bits;
    assert_eq!(refusal(call), Problem::outside("query", Some(0), Int(Some(1 << 90)), Span::signed(q_bits)));
    let mut call = Call::real();
    let mut w = call.honest();
    w.rows[1].scores.pop();
    call.witness = Some(w);
    assert!(matches!(refusal(call), Problem::Unsupported(_)));
}

#[test]
fn synthesizes_without_witnesses_in_exactly_its_rows() {
    use halo2_proofs::plonk::FloorPlanner;

    let call = Call::real();
    let rows = call.layout.rows();
    let circuit = AttnCircuit { calls: vec![call], known: true }.without_witnesses();
    let mut cs = ConstraintSystem::<Fr>::default();
    let config = AttnCircuit::configure(&mut cs);
    let input = config.input.index();
    let mut last = LastRows::default();
    SimpleFloorPlanner::synthesize(&mut last, &circuit, config, cs.constants().clone())
        .expect("synthesis without witnesses");
    assert_eq!(last.last_row_except(&[input]), Some(rows - 1));
}
