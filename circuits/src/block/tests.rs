use std::sync::{Arc, OnceLock};

use halo2_proofs::dev::MockProver;
use zkinfer_quantize::int::{forward_layer, ops, IntLayerTrace};
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
use zkinfer_quantize::synthetic::{tiny_config, SyntheticModel};

use super::*;
use crate::failure::{Int, Problem, Span};
use halo2_proofs::halo2curves::bn256::Fr;

const T: usize = 4;

/// The tiny synthetic model quantized once, and layer 0's trace over a 4-token prompt.
struct Fixture {
    model: QuantizedModel,
    input: Vec<i64>,
    trace: IntLayerTrace,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("zkinfer-block-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("tiny.zkq");
        let src = SyntheticModel::new(tiny_config(), 7);
        let prompts = vec![(0..40).map(|i| (i * 37 % 256) as u32).collect::<Vec<u32>>()];
        let opts = QuantOptions { max_seq: 16, ..QuantOptions::default() };
        quantize_to_file(&src, &prompts, &opts, &path, &mut |_, _, _| {}).expect("quantize");
        let model = QuantizedModel::open(&path).expect("open");
        let (input, trace) = layer0_trace(&model, &[3, 141, 59, 26]);
        Fixture { model, input, trace }
    })
}

/// The embedding of `tokens` and layer 0's integer trace over it.
fn layer0_trace(model: &QuantizedModel, tokens: &[u32]) -> (Vec<i64>, IntLayerTrace) {
    let input = ops::embed(&model.embedding().expect("embedding"), tokens);
    let trace = forward_layer(
        model.config(),
        &model.manifest.body.params,
        &model.layer(0).expect("layer 0"),
        &model.tables().expect("tables"),
        &model.rope().expect("rope"),
        &input,
        tokens.len(),
    );
    (input, trace)
}

fn consts(part: Part) -> Arc<BlockConsts> {
    Arc::new(consts_for(part, T))
}

/// Layer 0's constants for `t` tokens.
fn consts_for(part: Part, t: usize) -> BlockConsts {
    let m = &fixture().model;
    BlockConsts::new(
        m.config(),
        &m.manifest.body.params,
        &m.layer(0).expect("layer 0"),
        &m.tables().expect("tables"),
        &m.rope().expect("rope"),
        t,
        part,
    )
    .expect("constants")
}

fn mock(part: Part, input: &[i64], output: &[i64]) -> Result<(), Vec<halo2_proofs::dev::VerifyFailure>> {
    let circuit = BlockCircuit::new(consts(part), input.to_vec());
    let k = circuit.shape().k;
    MockProver::run(k, &circuit, BlockCircuit::instances(input, output)).expect("synthesis").verify()
}

/// The whole block in `shape` run on `input` against the honest instances of the
/// fixture's input and output.
fn mock_in(shape: BlockShape, input: &[i64]) -> Result<(), Vec<halo2_proofs::dev::VerifyFailure>> {
    let f = fixture();
    let circuit = BlockCircuit::with_shape(consts(Part::Both), shape, input.to_vec());
    MockProver::run(shape.k, &circuit, BlockCircuit::instances(&f.input, &f.trace.out))
        .expect("synthesis")
        .verify()
}

/// `shape` passes the fixture's honest run, and an input with one element changed fails
/// only the instance copy (its commitment is not the claimed one).
fn assert_honest_and_rejects_another_input(shape: BlockShape, changed: usize) {
    let f = fixture();
    assert_eq!(mock_in(shape, &f.input), Ok(()), "{shape:?}");
    let mut other = f.input.clone();
    other[changed] += 1;
    let err = mock_in(shape, &other).expect_err("another input");
    assert_commitment_copies_fail(&err, &format!("{shape:?}"));
}

/// Only the two commitments' copies to the instance break: both instance rows and the two
/// commitment cells, in one advice column of the Poseidon chip.
fn assert_commitment_copies_fail(err: &[halo2_proofs::dev::VerifyFailure], context: &str) {
    let copies = crate::testing::permutation_failures(err);
    assert_eq!(copies.len(), 4, "{context}: {copies:?}");
    assert_eq!(copies[..2], [("instance", 0, 0), ("instance", 0, 1)], "{context}");
    assert!(copies[2].0 == "advice" && copies[2].1 == copies[3].1, "{context}: {copies:?}");
}

#[test]
fn mlp_half_matches_the_integer_reference() {
    let f = fixture();
    assert_eq!(mock(Part::Mlp, &f.trace.resid_mid, &f.trace.out), Ok(()));
}

#[test]
fn mlp_half_rejects_a_wrong_output_commitment() {
    let f = fixture();
    let mut out = f.trace.out.clone();
    out[5] += 1;
    let err = mock(Part::Mlp, &f.trace.resid_mid, &out).expect_err("the output differs");
    // Only the output commitment's cell against instance row 1.
    assert_eq!(crate::testing::permutation_failures(&err), vec![("instance", 0, 1), ("advice", 6, 3525)]);
    let _ = &f.input;
}

#[test]
fn attention_half_matches_the_integer_reference() {
    let f = fixture();
    assert_eq!(mock(Part::Attention, &f.input, &f.trace.resid_mid), Ok(()));
}

#[test]
fn whole_block_matches_the_integer_reference() {
    let f = fixture();
    assert_eq!(mock(Part::Both, &f.input, &f.trace.out), Ok(()));
}

#[test]
fn whole_block_rejects_another_input() {
    let f = fixture();
    let mut input = f.input.clone();
    input[0] += 1;
    // The honest run from the altered input: its input commitment is not the claimed one.
    let circuit = BlockCircuit::new(consts(Part::Both), input);
    let k = circuit.shape().k;
    let err = MockProver::run(k, &circuit, BlockCircuit::instances(&f.input, &f.trace.out))
        .expect("synthesis")
        .verify()
        .expect_err("the input commitment differs");
    // The input commitment's cell (row 1634) and the output's (row 4885) of the Poseidon
    // column against both instance rows: the honest run from another input commits to
    // another output too.
    assert_eq!(
        crate::testing::permutation_failures(&err),
        vec![("instance", 0, 0), ("instance", 0, 1), ("advice", 6, 1634), ("advice", 6, 4885)]
    );
}

/// The tiny block's columns and lookup arguments: what sets its proving cost at k = 15 (see
/// BENCHMARKS.md). A regression guard: a chip that adds columns or lookups shows up here.
#[test]
fn tiny_block_columns_and_lookups_stay_within_budget() {
    use halo2_proofs::plonk::ConstraintSystem;
    let c = consts(Part::Both);
    let shape = BlockShape::of(&c);
    assert_eq!(
        (shape.k, shape.elem_lanes),
        (MIN_K, 0),
        "the tiny block needs no lane of its own at the minimum k"
    );
    assert!(
        shape.stacked && shape.pool_lanes >= 1,
        "its elementwise work sits below the stacked chips: {shape:?}"
    );
    // The widest limbs k allows (13 bits at k = 15) and the fewest weight lanes (its matmuls
    // fill 6,328 of its rows with 8).
    assert_eq!((shape.limb_bits, shape.matmul_lanes), (crate::block::limb_bits_for(MIN_K), 8));
    assert_eq!(crate::block::limb_bits_for(MIN_K), 13);
    let rows = RowCounts::of(&c, &shape);
    assert!(shape.stacked, "the tiny block stacks RMSNorm, Poseidon and the attention");
    assert!(rows.elem.max(rows.tallest_fixed_group(true)) < usable_rows(shape.k));
    let columns = |shape: BlockShape| {
        let mut cs = ConstraintSystem::<Fr>::default();
        BlockConfig::configure(&mut cs, shape);
        (cs.num_advice_columns(), cs.lookups().len(), cs.degree())
    };
    let (advice, lookups, degree) = columns(shape);
    eprintln!("tiny block: {shape:?} {rows:?}: {advice} advice columns, {lookups} lookups, degree {degree}");
    // Its range checks (42,480 rows at 13-bit limbs, compact) fill two bus columns of 2^15
    // rows; every other range column is a plain advice column copied into the bus.
    assert_eq!(shape.range_bus, 2, "{shape:?}");
    // The matmul's 6, the shared columns of RMSNorm, Poseidon and the attention (as wide as
    // the softmax, with its folded exp and recip tables), the elementwise lanes drawn from
    // those same columns, and the bus: 43 advice and 8 lookups — one per nonlinearity table
    // and exponent table, two for the bus — where checking in place took 41 and 14.
    assert!(advice <= 43, "{advice} advice columns");
    assert!(lookups <= 8, "{lookups} lookup arguments");
    assert_eq!(degree, 5);
    let in_place = BlockShape { range_bus: 0, ..shape };
    assert_eq!(columns(in_place).1, 14);
    // Fewer commitments for the aggregation verifier, and cheaper to prove by the cost model.
    let (bus, own) = (shape.layout(), in_place.layout());
    assert!(bus.points() + 20 <= own.points(), "{} vs {}", bus.points(), own.points());
    assert!(bus.prove_seconds() < own.prove_seconds());
}

#[test]
fn min_k_is_where_every_table_fits_folded() {
    use crate::lookup::{min_k_for, EXP_POINTS, RECIP_POINTS, RSQRT_POINTS, SILU_POINTS};
    let k = [EXP_POINTS, RECIP_POINTS, RSQRT_POINTS, SILU_POINTS].map(min_k_for).into_iter().max();
    assert_eq!(k, Some(MIN_K));
}

/// SwiGLU stays on lane 0 (the SiLU table's), which must still hold its share of the rest,
/// at whatever `k`, limb width and layout the shape picks, for short and long prompts (at
/// 16 tokens with its checks in place SwiGLU fills over a quarter of lane 0).
#[test]
fn lanes_leave_room_for_swiglu_on_lane_0() {
    use super::shape::budget;
    let max_seq = fixture().model.rope().expect("rope").max_seq;
    for t in [4, 8, 16, 32, 64].into_iter().filter(|&t| t <= max_seq) {
        let c = consts_for(Part::Both, t);
        let shape = BlockShape::of(&c);
        let rows = RowCounts::of(&c, &shape);
        if t == 16 && shape.range_bus == 0 {
            assert!(rows.swiglu > budget(shape.k) / 4, "{shape:?} {rows:?}");
        }
        assert!(rows.swiglu < budget(shape.k), "{shape:?} {rows:?}");
        let pooled = shape.pool_lanes * budget(shape.k).saturating_sub(rows.stacked());
        assert!(rows.elem <= shape.elem_lanes * budget(shape.k) + pooled, "{shape:?} {rows:?}");
        assert!(rows.tallest_fixed_group(shape.stacked) <= usable_rows(shape.k), "{shape:?} {rows:?}");
        assert!(rows.matmul <= usable_rows(shape.k), "{shape:?} {rows:?}");
    }
}

/// The shape takes the cheaper of stacking RMSNorm, Poseidon and the attention in shared
/// columns and giving each its own; stacking costs fewer columns and lookup arguments at
/// the same `k`.
#[test]
fn stacking_saves_columns_and_lookups_at_the_same_k() {
    use halo2_proofs::plonk::ConstraintSystem;
    let shape = BlockShape { range_bus: 0, ..BlockShape::of(&consts(Part::Both)) };
    let count = |shape: BlockShape| {
        let mut cs = ConstraintSystem::<Fr>::default();
        BlockConfig::configure(&mut cs, shape);
        (cs.num_advice_columns(), cs.lookups().len())
    };
    let (stacked, side) = (count(shape), count(BlockShape { stacked: false, ..shape }));
    eprintln!("stacked {stacked:?}, side by side {side:?}");
    assert!(stacked.0 + 50 <= side.0 && stacked.1 + 10 <= side.1, "{stacked:?} vs {side:?}");
    assert!(shape.cost() < BlockShape { stacked: false, ..shape }.cost());
}

/// The whole block with its elementwise work spread over a lane of its own and three lanes
/// in the shared columns below RMSNorm, Poseidon and the attention: still the integer
/// reference bit for bit, and another input still fails only on the instance copy.
#[test]
fn lanes_in_the_shared_columns_match_the_integer_reference() {
    let c = consts(Part::Both);
    let shape = BlockShape {
        pool_lanes: 3,
        elem_lanes: 1,
        compact_ranges: false,
        range_bus: 0,
        ..BlockShape::of(&c)
    };
    assert!(shape.stacked && shape.limb_bits == 13, "{shape:?}");
    assert_honest_and_rejects_another_input(shape, 3);
    let mut cs = halo2_proofs::plonk::ConstraintSystem::<Fr>::default();
    assert_eq!(BlockConfig::configure(&mut cs, shape).lanes.len(), 4);
    // The three lanes' 9 range checks need one range column more than RMSNorm's 8; every
    // other column of theirs is one the stacked chips already have.
    assert_eq!((cs.num_advice_columns(), cs.lookups().len()), (63, 19));
}

/// The whole block in both range layouts at the tiny block's 13-bit limbs, each with a range
/// bus and in place: compact checks (no zero row, every chip's elements back to back) and
/// checks ending in a zero row all give the integer reference bit for bit and reject another
/// input; in place, compact saves rows in every group that range-checks, and trades each
/// range column's `range end` gate for a fixed column.
#[test]
fn both_range_layouts_match_the_integer_reference() {
    let c = consts(Part::Both);
    let base = BlockShape::of(&c);
    let mut rows = vec![];
    assert!(base.range_bus > 0, "{base:?}");
    for compact in [true, false] {
        // With a range bus (one column more than the chosen layout needs, for either layout)…
        let bus =
            BlockShape { compact_ranges: compact, limb_bits: 13, range_bus: base.range_bus + 1, ..base };
        assert_honest_and_rejects_another_input(bus, 5);
        // …and with every check in place.
        let shape = BlockShape { range_bus: 0, ..bus };
        assert_honest_and_rejects_another_input(shape, 5);
        let mut cs = halo2_proofs::plonk::ConstraintSystem::<Fr>::default();
        BlockConfig::configure(&mut cs, shape);
        let gates = cs.gates().iter().filter(|g| g.name() == "range end").count();
        assert_eq!(gates == 0, compact, "compact checks have no zero row to constrain");
        rows.push(RowCounts::of(&c, &shape));
    }
    let (compact, zero_row) = (rows[0], rows[1]);
    assert!(compact.elem < zero_row.elem && compact.norm < zero_row.norm, "{compact:?} {zero_row:?}");
    assert!(compact.attention < zero_row.attention, "{compact:?} {zero_row:?}");
}

/// Every elementwise lane in the shared columns below RMSNorm, Poseidon and the attention
/// (SiLU and SwiGLU on the first of them), with one to three such lanes and in both range
/// layouts: the integer reference bit for bit, another input rejected only by the instance
/// copy, and no advice column of a lane's own.
#[test]
fn lanes_only_in_the_shared_columns_match_the_integer_reference() {
    let c = consts(Part::Both);
    let base = BlockShape::of(&c);
    let own_lane = BlockShape { elem_lanes: 1, pool_lanes: 1, compact_ranges: false, ..base };
    let advice = |shape: BlockShape| {
        let mut cs = halo2_proofs::plonk::ConstraintSystem::<Fr>::default();
        let cfg = BlockConfig::configure(&mut cs, shape);
        assert!(cfg.lanes[0].silu.is_some(), "lane 0 carries SiLU: {shape:?}");
        assert!(cfg.lanes.iter().skip(1).all(|l| l.silu.is_none()));
        cs.num_advice_columns()
    };
    for (pool_lanes, compact) in [(1, false), (2, true), (3, false)] {
        let shape = BlockShape { elem_lanes: 0, pool_lanes, compact_ranges: compact, stacked: true, ..base };
        assert_eq!(shape.own_lanes(), 0);
        assert_honest_and_rejects_another_input(shape, 1);
        if !compact && pool_lanes == 1 {
            assert!(advice(shape) + 9 < advice(own_lane), "SiLU's lane takes no columns of its own");
        }
    }
    // Without lanes in the shared columns, or unstacked, a shape keeps one lane of its own.
    assert_eq!(BlockShape { elem_lanes: 0, pool_lanes: 0, ..base }.own_lanes(), 1);
    assert_eq!(BlockShape { elem_lanes: 0, stacked: false, pool_lanes: 2, ..base }.own_lanes(), 1);
}

/// The benchmark's shape: the tiny block over 8 tokens, in the layout the chooser picks (no
/// lane of its own, SiLU and SwiGLU on the first of the lanes in the shared columns, compact
/// range checks): every element fits the planned rows (SwiGLU in lane 0's reserved tail,
/// the rest around it) and the integer reference passes bit for bit.
#[test]
fn tiny_block_over_eight_tokens_fits_its_planned_rows() {
    let (input, trace) = layer0_trace(&fixture().model, &[3, 141, 59, 26, 5, 35, 89, 79]);
    let circuit = BlockCircuit::new(Arc::new(consts_for(Part::Both, 8)), input.clone());
    let shape = circuit.shape();
    assert_eq!((shape.elem_lanes, shape.k), (0, MIN_K), "{shape:?}");
    let prover =
        MockProver::run(shape.k, &circuit, BlockCircuit::instances(&input, &trace.out)).expect("synthesis");
    assert_eq!(prover.verify(), Ok(()));
}

/// An advice cell overwritten after the honest assignment of a whole block, in a region of
/// its own (halo2-axiom's `SimpleFloorPlanner` starts every region at row 0, so `row` is
/// absolute; the mock prover keeps the last value assigned to a cell).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tamper {
    pub column: halo2_proofs::plonk::Column<halo2_proofs::plonk::Advice>,
    pub row: usize,
    pub value: Fr,
}

impl Tamper {
    pub(crate) fn apply(
        &self,
        layouter: &mut impl halo2_proofs::circuit::Layouter<Fr>,
    ) -> Result<(), halo2_proofs::plonk::Error> {
        layouter.assign_region(
            || "tamper",
            |mut region| {
                region.assign_advice(self.column, self.row, halo2_proofs::circuit::Value::known(self.value));
                Ok(())
            },
        )
    }
}

/// The whole block's configuration in its default shape and the rows each selector is
/// enabled on (a synthesis without witnesses, which lays out exactly as a proof does).
fn whole_block_layout() -> (BlockConfig, crate::testing::LastRows) {
    use halo2_proofs::circuit::SimpleFloorPlanner;
    use halo2_proofs::plonk::FloorPlanner;
    use halo2_proofs::plonk::{Circuit, ConstraintSystem};
    let f = fixture();
    let circuit = BlockCircuit::new(consts(Part::Both), f.input.clone());
    let mut cs = ConstraintSystem::<Fr>::default();
    let config = BlockCircuit::configure_with_params(&mut cs, circuit.shape());
    let mut rows = crate::testing::LastRows::default();
    SimpleFloorPlanner::synthesize(
        &mut rows,
        &circuit.without_witnesses(),
        config.clone(),
        cs.constants().clone(),
    )
    .expect("synthesis without witnesses");
    (config, rows)
}

/// The failures of a tampered run, sorted.
struct Failures {
    /// `(gate, constraint, row)` of every unsatisfied constraint.
    gates: Vec<(String, String, usize)>,
    /// `(lookup, row)` of every failed lookup.
    lookups: Vec<(String, usize)>,
    /// `(column kind, column, row)` of every broken copy constraint.
    copies: Vec<(&'static str, usize, usize)>,
}

/// The failures of the whole block run honestly on the fixture but for `tamper`.
fn tampered_failures(tamper: Tamper) -> Failures {
    use halo2_proofs::dev::VerifyFailure;
    let f = fixture();
    let circuit = BlockCircuit::new(consts(Part::Both), f.input.clone()).tampered(tamper);
    let err = MockProver::run(circuit.shape().k, &circuit, BlockCircuit::instances(&f.input, &f.trace.out))
        .expect("synthesis")
        .verify()
        .expect_err("a tampered cell fails");
    let (gates, rest): (Vec<_>, Vec<_>) =
        err.into_iter().partition(|e| matches!(e, VerifyFailure::ConstraintNotSatisfied { .. }));
    let (lookups, rest): (Vec<_>, Vec<_>) =
        rest.into_iter().partition(|e| matches!(e, VerifyFailure::Lookup { .. }));
    assert!(rest.iter().all(|e| matches!(e, VerifyFailure::Permutation { .. })), "{rest:?}");
    let mut gates = crate::testing::constraint_failures(&gates);
    let mut lookups = crate::testing::lookup_failures(&lookups);
    gates.sort();
    lookups.sort();
    Failures { gates, lookups, copies: crate::testing::permutation_failures(&rest) }
}

/// The copy between the chip's cell `(column, row)` and its check in the range bus is the
/// one broken: exactly that cell and one cell of a bus column.
fn assert_bus_copy(config: &BlockConfig, copies: &[(&'static str, usize, usize)], cell: (usize, usize)) {
    let bus: Vec<usize> =
        config.range_bus.as_ref().expect("a range bus").columns.iter().map(|c| c.z.index()).collect();
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert!(copies.contains(&("advice", cell.0, cell.1)), "{copies:?}");
    assert!(copies.iter().any(|&(kind, c, _)| kind == "advice" && bus.contains(&c)), "{copies:?}");
}

/// A running sum inside the range bus (the second limb of its first check, the block's
/// first input value) fails the limb lookups that read it, on the bus's rows.
#[test]
fn whole_block_rejects_a_tampered_range_bus_limb() {
    let (config, _) = whole_block_layout();
    let bus = config.range_bus.as_ref().expect("a range bus");
    let Failures { gates, lookups, copies } =
        tampered_failures(Tamper { column: bus.columns[0].z, row: 1, value: forged() });
    // Row 0 reads `z₁` as the limb below its own, row 1 as its own limb.
    let name = "block range bus 0".to_string();
    assert_eq!(lookups, vec![(name.clone(), 0), (name, 1)]);
    assert_eq!((gates, copies), (vec![], vec![]));
}

/// A value no honest cell of these rows holds: far outside every range a chip checks.
fn forged() -> Fr {
    Fr::from(1u64 << 60)
}

/// A requantization's remainder inside the block (not an input or output) fails the rescale
/// equation on its row and its copy into the range bus, and nothing else.
#[test]
fn whole_block_rejects_a_tampered_requant_remainder() {
    let (config, rows) = whole_block_layout();
    let (lane, row) = config
        .lanes
        .iter()
        .find_map(|l| rows.selector_rows(&l.requant.q_requant).first().map(|&r| (l, r)))
        .expect("a requantization");
    let Failures { gates, lookups, copies } =
        tampered_failures(Tamper { column: lane.rescale.remainder.z, row, value: forged() });
    assert_eq!(gates, vec![("rescale".to_string(), "x + 2^(n-1) = q*2^n + r".to_string(), row)]);
    // Its range check sits in the bus, which holds the honest remainder: the copy between
    // the two breaks, and nothing else does.
    assert_eq!(lookups, vec![]);
    assert_bus_copy(&config, &copies, (lane.rescale.remainder.z.index(), row));
}

/// A softmax probability inside the attention fails its rescale on its row, and its copies
/// (to its range check and into the head's products) break.
#[test]
fn whole_block_rejects_a_tampered_softmax_output() {
    let (config, rows) = whole_block_layout();
    let softmax = &config.attention.as_ref().expect("attention").softmax;
    let row = *rows.selector_rows(&softmax.rescale.q_rescale).first().expect("a probability");
    let Failures { gates, lookups, copies } =
        tampered_failures(Tamper { column: softmax.rescale.output.z, row, value: forged() });
    assert_eq!(gates, vec![("rescale".to_string(), "q = y + (above - below)*(e + 1)".to_string(), row)]);
    // Its range check is in the bus; the probability's copy cycle (its check in the bus, its
    // use in the head) breaks at the tampered cell and at the cell before it in the cycle.
    assert_eq!(lookups, vec![]);
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert!(copies.contains(&("advice", softmax.rescale.output.z.index(), row)), "{copies:?}");
}

/// A running sum of squares inside RMSNorm fails the accumulation on its row and on the
/// next, which reads it.
#[test]
fn whole_block_rejects_a_tampered_rmsnorm_sum() {
    let (config, rows) = whole_block_layout();
    let row = *rows.selector_rows(&config.norm.q_acc).first().expect("an accumulation row");
    let Failures { gates, lookups, copies } =
        tampered_failures(Tamper { column: config.norm.acc, row, value: forged() });
    let step = |r| ("norm square sum".to_string(), "acc = acc_prev + x^2".to_string(), r);
    assert_eq!(gates, vec![step(row), step(row + 1)]);
    assert_eq!((lookups, copies), (vec![], vec![]));
}

/// The Freivalds check's accumulator of a matrix product (second phase) fails the gate on
/// its row and on the next, which reads it.
#[test]
fn whole_block_rejects_a_tampered_matmul_accumulator() {
    let (config, rows) = whole_block_layout();
    let (acc, q_y) = config.matmul.accumulator();
    let row = *rows.selector_rows(&q_y).first().expect("an output row");
    let Failures { gates, lookups, copies } = tampered_failures(Tamper { column: acc, row, value: forged() });
    let step = |r| ("matmul: output horner step".to_string(), "acc = acc[-1]·r + v(y)".to_string(), r);
    assert_eq!(gates, vec![step(row), step(row + 1)]);
    assert_eq!((lookups, copies), (vec![], vec![]));
}

/// The census counts exactly the checks the bus receives: the rows they fill in the bus's
/// columns, less what a column leaves unused when the next check does not fit it.
#[test]
fn the_range_census_counts_the_checks_the_bus_receives() {
    let c = consts(Part::Both);
    let census = RangeCensus::of(&c).expect("census");
    let (config, rows) = whole_block_layout();
    let layout = config.range_table.layout();
    let bus = config.range_bus.as_ref().expect("a range bus");
    let used: usize = bus.columns.iter().map(|col| rows.last_row(col.z.index()).map_or(0, |r| r + 1)).sum();
    let total = census.rows(layout);
    let widest = census.widths.keys().map(|&b| crate::range::range_rows(b, layout)).max().unwrap_or(0);
    assert!(used <= total && total < used + widest * bus.columns.len(), "{used} rows used, {total} counted");
    // Every input value is checked at the residual width.
    let t_d = c.t * c.config.hidden_size;
    assert!(census.widths.get(&c.resid.bits).is_some_and(|&n| n >= t_d), "{census:?}");
}

#[test]
fn refuses_an_input_of_the_wrong_length_or_outside_the_residual_range() {
    let f = fixture();
    let c = consts(Part::Mlp);
    let k = BlockCircuit::new(c.clone(), f.trace.resid_mid.clone()).shape().k;
    let refusal = |input: Vec<i64>| {
        let instances = BlockCircuit::instances(&input, &f.trace.out);
        crate::testing::refusal(k, &BlockCircuit::new(c.clone(), input), instances)
    };
    let n = f.trace.resid_mid.len();
    let failure = refusal(f.trace.resid_mid[1..].to_vec());
    assert_eq!(failure.to_string(), format!("block: input has {} values; {n} expected", n - 1));
    let mut wide = f.trace.resid_mid.clone();
    wide[5] = 1 << 40;
    let failure = refusal(wide);
    let bits = f.model.manifest.body.params.resid.bits;
    assert_eq!(failure.chip, Chip::Block);
    let outside = Problem::outside("input", Some(5), Int(Some(1 << 40)), Span::signed(bits));
    assert_eq!(failure.problem, outside);
}
