use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
use halo2_proofs::dev::{MockProver, VerifyFailure};
use halo2_proofs::plonk::{Circuit, Instance};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use zkinfer_quantize::fixed::rescale;

use super::*;
use crate::failure::{explain, Int};
use crate::range::{limbs, LIMB_BITS};
use crate::testing::{constraint_failures, k_for, lookup_failures, permutation_failures};

/// One element: an input copied from an `input` column (`chip.assign` computes the
/// witness), a raw witness (`chip.assign_witness`), or both (the witness is assigned and its
/// `x` tied to the input cell).
#[derive(Clone, Debug)]
struct Elem {
    site: RescaleSite,
    input: Option<i128>,
    witness: Option<RescaleWitness>,
}

fn honest(x: i128, site: RescaleSite) -> Elem {
    Elem { site, input: Some(x), witness: None }
}

fn forged(w: RescaleWitness, site: RescaleSite) -> Elem {
    Elem { site, input: None, witness: Some(w) }
}

#[derive(Clone, Debug)]
struct TestConfig {
    rescale: RescaleConfig,
    input: Column<Advice>,
    outputs: Column<Instance>,
}

#[derive(Clone)]
struct RescaleCircuit {
    elems: Vec<Elem>,
    /// The range table's layout.
    layout: RangeLayout,
}

impl Circuit<Fr> for RescaleCircuit {
    type Config = TestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = RangeLayout;

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn params(&self) -> RangeLayout {
        self.layout
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
        Self::configure_with_params(meta, RangeLayout::DEFAULT)
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, layout: RangeLayout) -> TestConfig {
        let table = RangeTableConfig::configure_layout(meta, layout);
        let rescale = RescaleConfig::configure(meta, table);
        let input = meta.advice_column();
        meta.enable_equality(input);
        let outputs = meta.instance_column();
        meta.enable_equality(outputs);
        TestConfig { rescale, input, outputs }
    }

    fn synthesize(&self, config: TestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        config.rescale.output.table.load(&mut layouter)?;
        let chip = RescaleChip::construct(config.rescale);
        let ys = layouter.assign_region(
            || "rescale",
            |mut region| {
                let mut ys = vec![];
                let mut row = 0;
                for e in &self.elems {
                    let input =
                        e.input.map(|x| region.assign_advice(config.input, row, Value::known(i128_to_fr(x))));
                    let y = match (&input, e.witness) {
                        (Some(x), None) => chip.assign(&mut region, row, x, &e.site)?,
                        (input, Some(w)) => {
                            let cells = chip.assign_witness(&mut region, row, &e.site, Value::known(w))?;
                            if let Some(x) = input {
                                region.constrain_equal(x.cell(), cells.x.cell());
                            }
                            cells.y
                        }
                        (None, None) => return Err(Error::Synthesis),
                    };
                    ys.push(y.cell());
                    row += config.rescale.rows(&e.site);
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

fn site(shift: u32, bits: u32, x_bits: u32) -> RescaleSite {
    RescaleSite::new(shift, bits, x_bits).expect("valid site")
}

/// Runs the circuit with `outputs` as the public outputs.
fn run_with(elems: Vec<Elem>, outputs: &[i128]) -> Result<(), Vec<VerifyFailure>> {
    run_with_layout(RangeLayout::DEFAULT, elems, outputs)
}

/// [`run_with`] over a range table of `layout`.
fn run_with_layout(
    layout: RangeLayout,
    elems: Vec<Elem>,
    outputs: &[i128],
) -> Result<(), Vec<VerifyFailure>> {
    let rows: usize = elems.iter().map(|e| e.site.rows(layout)).sum();
    let circuit = RescaleCircuit { elems, layout };
    let instance = vec![outputs.iter().map(|&y| i128_to_fr(y)).collect()];
    MockProver::run(k_for(rows.max(RangeTableConfig::rows_for(layout.limb_bits))), &circuit, instance)
        .expect("synthesis succeeds")
        .verify()
}

/// Runs honest elements and checks their outputs against `fixed::rescale`.
fn run_honest(cases: &[(i128, RescaleSite)]) -> Result<(), Vec<VerifyFailure>> {
    let expected: Vec<i128> = cases.iter().map(|&(x, s)| i128::from(rescale(x, s.shift, s.bits))).collect();
    run_with(cases.iter().map(|&(x, s)| honest(x, s)).collect(), &expected)
}

const X_BITS: u32 = 101;

#[test]
fn matches_round_shift_edges() {
    let cases: Vec<(i128, RescaleSite)> =
        [(5, 1), (-5, 1), (4, 1), (7, 2), (6, 2), (5, 2), (-6, 2), (-7, 2), (123, 0)]
            .iter()
            .map(|&(x, n)| (x, site(n, 63, X_BITS)))
            .chain([(i64::MAX as i128 * 4, site(2, 63, X_BITS))])
            .collect();
    assert_eq!(run_honest(&cases), Ok(()));
}

#[test]
fn matches_saturate_edges() {
    let at = |shift, bits| site(shift, bits, X_BITS);
    let cases = [
        (127, at(0, 8)),
        (128, at(0, 8)),
        (-128, at(0, 8)),
        (-129, at(0, 8)),
        ((1 << 100) - 1, at(0, 24)),
        (-(1 << 100), at(0, 24)),
        (1 << 40, at(1, 16)),
        // q = hi and q = hi + 1 after rounding.
        (127 * 16 + 7, at(4, 8)),
        (127 * 16 + 8, at(4, 8)),
        // q = lo and q = lo − 1 after rounding.
        (-128 * 16 - 8, at(4, 8)),
        (-128 * 16 - 9, at(4, 8)),
        // One-bit outputs: {−1, 0}.
        (1, at(0, 1)),
        (-1, at(0, 1)),
        (-2, at(0, 1)),
    ];
    assert_eq!(run_honest(&cases), Ok(()));
}

#[test]
fn matches_at_the_input_width_edges() {
    let mut cases = vec![];
    for shift in [0, 1, 30, 99, 100, 101, 120] {
        for x in [(1i128 << 100) - 1, -(1 << 100), 0, -1] {
            cases.push((x, site(shift, 16, X_BITS)));
        }
    }
    for x_bits in [1, 2, 17, 64] {
        let half = 1i128 << (x_bits - 1);
        for x in [half - 1, -half] {
            cases.push((x, site(3, 8, x_bits)));
        }
    }
    assert_eq!(run_honest(&cases), Ok(()));
}

#[test]
fn refuses_inputs_outside_the_promised_width() {
    let circuit =
        RescaleCircuit { elems: vec![honest(1 << 20, site(4, 16, 21))], layout: RangeLayout::DEFAULT };
    let failure = crate::testing::refusal(10, &circuit, vec![vec![Fr::ZERO]]);
    assert_eq!(failure.chip, Chip::Rescale);
    assert_eq!(failure.problem, Problem::outside("input", None, Int(Some(1 << 20)), Span::signed(21)));
    assert_eq!(
        failure.to_string(),
        "rescale: input = 2^20 is outside the signed 21-bit range [-2^20, 2^20 − 1]"
    );
    let e = RescaleSite::new(MAX_SHIFT + 1, 16, 64).expect_err("too wide a shift");
    let too_wide = Problem::TooWide { what: "shift", got: MAX_SHIFT + 1, max: MAX_SHIFT };
    assert_eq!(explain(&e).map(|f| f.problem), Some(too_wide));
    assert!(RescaleSite::new(4, 64, 64).is_err());
    assert!(RescaleSite::new(4, 0, 64).is_err());
    assert!(RescaleSite::new(4, 16, MAX_X_BITS + 1).is_err());
}

#[test]
fn rejects_a_wrong_public_output() {
    let s = site(4, 16, 40);
    let err =
        run_with(vec![honest(1000, s)], &[i128::from(rescale(1000, 4, 16)) + 1]).expect_err("wrong output");
    // Only copies break: the output cell against the instance.
    assert_eq!(permutation_failures(&err), vec![("instance", 0, 0), ("advice", 5, 0)]);
}

/// The row of the top limb of a `bits`-wide range check started at `offset`.
fn top_limb(offset: usize, bits: u32) -> usize {
    offset + limbs(bits, LIMB_BITS) - 1
}

#[test]
fn rejects_a_remainder_above_its_range() {
    // q one too small, r one 2^n too large: the equation holds, r does not fit n bits.
    let s = site(6, 16, 40);
    let mut w = RescaleWitness::new(1000, &s);
    w.q -= 1;
    w.y -= 1;
    w.r += 1 << 6;
    let err = run_with(vec![honest(5, s), forged(w, s)], &[0, w.y]).expect_err("r ≥ 2^n");
    assert_eq!(
        lookup_failures(&err),
        vec![("rescale remainder".to_string(), top_limb(s.rows(RangeLayout::DEFAULT), 6))]
    );
}

#[test]
fn rejects_a_negative_remainder() {
    let s = site(6, 16, 40);
    let mut w = RescaleWitness::new(-1000, &s);
    w.q += 1;
    w.y += 1;
    w.r -= 1 << 6;
    let err = run_with(vec![forged(w, s)], &[w.y]).expect_err("r < 0");
    assert_eq!(lookup_failures(&err), vec![("rescale remainder".to_string(), top_limb(0, 6))]);
}

#[test]
fn rejects_an_inconsistent_remainder() {
    let s = site(6, 16, 40);
    let mut w = RescaleWitness::new(1000, &s);
    w.r += 1;
    let err = run_with(vec![forged(w, s)], &[w.y]).expect_err("equation broken");
    assert_eq!(
        constraint_failures(&err),
        vec![("rescale".to_string(), "x + 2^(n-1) = q*2^n + r".to_string(), 0)]
    );
}

#[test]
fn rejects_saturation_claimed_on_an_in_range_value() {
    // q = 100 fits 8 bits; claiming it saturates at 127 needs a negative excess.
    let s = site(2, 8, 40);
    let mut w = RescaleWitness::new(400, &s);
    assert_eq!((w.q, w.y, w.above), (100, 100, false));
    w.above = true;
    w.y = 127;
    w.excess = w.q - 127 - 1;
    let err = run_with(vec![forged(w, s)], &[127]).expect_err("q is in range");
    assert_eq!(lookup_failures(&err), vec![("rescale excess".to_string(), top_limb(0, s.excess_bits()))]);
}

#[test]
fn rejects_low_saturation_claimed_on_an_in_range_value() {
    let s = site(2, 8, 40);
    let mut w = RescaleWitness::new(-400, &s);
    w.below = true;
    w.y = -128;
    w.excess = -128 - 1 - w.q;
    let err = run_with(vec![forged(w, s)], &[-128]).expect_err("q is in range");
    assert_eq!(lookup_failures(&err), vec![("rescale excess".to_string(), top_limb(0, s.excess_bits()))]);
}

#[test]
fn rejects_an_out_of_range_value_passed_through() {
    // q = 200 does not fit 8 bits; claiming no saturation leaves y out of range.
    let s = site(2, 8, 40);
    let mut w = RescaleWitness::new(800, &s);
    assert!(w.above);
    (w.above, w.y, w.excess) = (false, w.q, 0);
    let err = run_with(vec![forged(w, s)], &[w.y]).expect_err("y = 200 > 127");
    assert_eq!(lookup_failures(&err), vec![("rescale output".to_string(), top_limb(0, 8))]);
}

#[test]
fn rejects_an_output_off_by_one() {
    let s = site(2, 8, 40);
    let mut w = RescaleWitness::new(401, &s);
    w.y += 1;
    let err = run_with(vec![forged(w, s)], &[w.y]).expect_err("y ≠ q");
    assert_eq!(
        constraint_failures(&err),
        vec![("rescale".to_string(), "q = y + (above - below)*(e + 1)".to_string(), 0)]
    );
}

#[test]
fn rejects_both_flags() {
    let s = site(0, 8, 40);
    let mut w = RescaleWitness::new(128, &s);
    w.below = true;
    let failed: Vec<String> =
        constraint_failures(&run_with(vec![forged(w, s)], &[127]).expect_err("both flags"))
            .into_iter()
            .map(|(_, name, _)| name)
            .collect();
    assert_eq!(failed, ["not above and below", "below: y = lo", "q = y + (above - below)*(e + 1)"]);
}

#[test]
fn rejects_a_swapped_row() {
    // Element 0 carries element 1's witness while its input cell holds element 0's x.
    let s = site(3, 16, 40);
    let (a, b) = (1000, -77);
    let elems = vec![
        Elem { site: s, input: Some(a), witness: Some(RescaleWitness::new(b, &s)) },
        Elem { site: s, input: Some(b), witness: Some(RescaleWitness::new(a, &s)) },
    ];
    let outputs = [i128::from(rescale(b, 3, 16)), i128::from(rescale(a, 3, 16))];
    let err = run_with(elems, &outputs).expect_err("inputs swapped");
    // Only copies break: both inputs against both elements' copies.
    assert_eq!(
        permutation_failures(&err),
        vec![("advice", 0, 0), ("advice", 0, 6), ("advice", 7, 0), ("advice", 7, 6)]
    );
}

proptest! {
    #![proptest_config(Config { cases: 12, rng_seed: RngSeed::Fixed(0x02e5_ca1e), failure_persistence: None, ..Config::default() })]

    #[test]
    fn matches_fixed_rescale(
        batch in prop::collection::vec(
            (-(1i128 << 100)..(1i128 << 100), 0u32..48, 1u32..=63, 0u32..100),
            8,
        )
    ) {
        // Mix magnitudes: shrink x by a random number of bits so small values occur too.
        let cases: Vec<(i128, RescaleSite)> =
            batch.iter().map(|&(x, n, bits, drop)| (x >> drop, site(n, bits, X_BITS))).collect();
        prop_assert_eq!(run_honest(&cases), Ok(()));
    }
}

/// The SmolLM2 query projection's site (45-bit remainder, 24-bit output, 81-bit input) over
/// the 14-bit limbs of a `k = 16` block chunk: 5 rows instead of 7 (4 when compact);
/// honest elements (in range and saturating both ways) pass, and a remainder pushed to
/// `2^45` (with `q` one smaller) fails the remainder's top limb, a saturation flag on an
/// in-range value the gate — in both range layouts, and with the forged element placed
/// after honest ones (compact elements sit back to back).
#[test]
fn wide_limbs_keep_the_remainder_and_saturation_checks() {
    let s = site(45, 24, 81);
    let (zero_row, compact) = (RangeLayout::with_zero_row(14), RangeLayout::compact(14));
    assert_eq!((s.rows(zero_row), s.rows(compact), s.rows(RangeLayout::DEFAULT)), (5, 4, 7));
    for layout in [zero_row, compact] {
        let xs = [0i128, 1 << 44, -(1 << 44), 123_456_789_012_345, (1 << 68) + 5, -(1 << 68), (1 << 80) - 1];
        let outputs: Vec<i128> = xs.iter().map(|&x| RescaleWitness::new(x, &s).y).collect();
        assert_eq!(run_with_layout(layout, xs.iter().map(|&x| honest(x, s)).collect(), &outputs), Ok(()));
        let mut w = RescaleWitness::new(123_456_789_012_345, &s);
        w.q -= 1;
        w.y -= 1;
        w.r += 1 << 45;
        let before = RescaleWitness::new(1 << 44, &s).y;
        let err =
            run_with_layout(layout, vec![honest(1 << 44, s), forged(w, s), honest(-5, s)], &[before, w.y, 0])
                .expect_err("r ≥ 2^45");
        let top = s.rows(layout) + limbs(45, 14) - 1;
        assert_eq!(lookup_failures(&err), vec![("rescale remainder".to_string(), top)], "{layout:?}");
        let mut w = RescaleWitness::new(1 << 50, &s);
        assert!(!w.above && !w.below);
        w.above = true;
        w.y = (1 << 23) - 1;
        let err =
            run_with_layout(layout, vec![forged(w, s)], &[w.y]).expect_err("a flag on an in-range value");
        assert!(!constraint_failures(&err).is_empty(), "{err:?}");
    }
}
