use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
use halo2_proofs::dev::{MockProver, VerifyFailure};
use halo2_proofs::plonk::{Circuit, Instance};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zkinfer_quantize::fixed::tables::Tables;
use zkinfer_quantize::int::ops::rmsnorm;

use super::*;
use crate::range::limbs;
use crate::testing::{constraint_failures, lookup_failures, permutation_failures};

/// The rsqrt table has 2^16 rows, so every test runs at the smallest `k` that holds it.
const K: u32 = 17;

/// One token: the caller's inputs and, when forged, the witness the chip assigns instead
/// of the honest one.
#[derive(Clone, Debug)]
struct Token {
    x: Vec<i128>,
    witness: Option<NormWitness>,
}

#[derive(Clone, Debug)]
struct TestConfig {
    norm: NormConfig,
    input: Column<Advice>,
    outputs: Column<Instance>,
}

#[derive(Clone)]
struct NormCircuit {
    site: NormSite,
    rsqrt: LookupTable,
    tokens: Vec<Token>,
}

impl Circuit<Fr> for NormCircuit {
    type Config = TestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
        let table = RangeTableConfig::configure(meta);
        let rescale = RescaleConfig::configure(meta, table);
        let (lin, lout) = (meta.advice_column(), meta.advice_column());
        let rsqrt = LookupConfig::configure(meta, "rsqrt", lin, lout);
        let norm = NormConfig::configure(meta, table, rsqrt, rescale);
        let input = meta.advice_column();
        meta.enable_equality(input);
        let outputs = meta.instance_column();
        meta.enable_equality(outputs);
        TestConfig { norm, input, outputs }
    }

    fn synthesize(&self, config: TestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        config.norm.div_rem.table.load(&mut layouter)?;
        let chip = NormChip::construct(config.norm, &self.rsqrt);
        chip.load(&mut layouter)?;
        LookupChip::construct(config.norm.rsqrt, &self.rsqrt).load(&mut layouter)?;
        let ys = layouter.assign_region(
            || "norm",
            |mut region| {
                let mut ys = vec![];
                let mut row = 0;
                for t in &self.tokens {
                    let x: Vec<AssignedFr<'_>> =
                        t.x.iter()
                            .enumerate()
                            .map(|(i, &v)| {
                                region.assign_advice(config.input, row + i, Value::known(i128_to_fr(v)))
                            })
                            .collect();
                    let cells = match &t.witness {
                        None => chip.assign(&mut region, row, &x, &self.site)?,
                        Some(w) => chip.assign_witness(&mut region, row, &x, &self.site, Value::known(w))?,
                    };
                    ys.extend(cells.y.iter().map(|y| y.cell()));
                    row += self.site.rows(crate::range::RangeLayout::DEFAULT);
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

fn tables() -> Tables {
    Tables::generate()
}

/// A norm with the quantizer's shapes: 16-bit weights at `frac = 14`, a 16-bit output at 10
/// fractional bits, inputs at 10 fractional bits (`eps = 1e-5 · 2^20 ≈ 10`).
fn norm(d: usize, seed: u64) -> QNorm {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let weight = (0..d).map(|_| rng.gen_range(-(1i64 << 15)..(1i64 << 15))).collect();
    QNorm { weight, frac: 14, out: Scale::new(10, 16), eps: 10 }
}

fn site(n: &QNorm) -> NormSite {
    NormSite::new(n, 32).expect("valid site")
}

/// Runs `tokens` with `outputs` as the public outputs.
fn run_with(n: &QNorm, tokens: Vec<Token>, outputs: &[i64]) -> Result<(), Vec<VerifyFailure>> {
    let t = tables();
    let circuit = NormCircuit { site: site(n), rsqrt: t.rsqrt, tokens };
    let instance = vec![outputs.iter().map(|&y| i128_to_fr(i128::from(y))).collect()];
    MockProver::run(K, &circuit, instance).expect("synthesis succeeds").verify()
}

/// The reference's outputs for the rows of `xs`.
fn reference(n: &QNorm, xs: &[Vec<i64>]) -> Vec<i64> {
    rmsnorm(&xs.concat(), n, &tables()).out
}

fn honest_tokens(xs: &[Vec<i64>]) -> Vec<Token> {
    xs.iter().map(|x| Token { x: x.iter().map(|&v| i128::from(v)).collect(), witness: None }).collect()
}

fn random_row(d: usize, bits: u32, seed: u64) -> Vec<i64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let half = 1i64 << (bits - 1);
    (0..d).map(|_| rng.gen_range(-half..half)).collect()
}

/// The honest witness of `x`, for forging.
fn witness(n: &QNorm, x: &[i64]) -> NormWitness {
    let x: Vec<i128> = x.iter().map(|&v| i128::from(v)).collect();
    NormWitness::new(&x, &site(n), &tables().rsqrt)
}

/// A single forged token with input `x`.
fn forged(x: &[i64], w: NormWitness) -> Vec<Token> {
    vec![Token { x: x.iter().map(|&v| i128::from(v)).collect(), witness: Some(w) }]
}

/// The honest outputs of one forged token (a forged `y` must not pass by matching them).
fn run_forged(n: &QNorm, x: &[i64], w: NormWitness) -> Vec<VerifyFailure> {
    let outputs: Vec<i64> = w.rescale.iter().map(|r| r.y as i64).collect();
    run_with(n, forged(x, w), &outputs).expect_err("the forged witness is rejected")
}

#[test]
fn matches_reference_on_random_rows_and_edges() {
    let d = 8;
    let n = norm(d, 1);
    let mut big = vec![0i64; d];
    big[3] = 1 << 30;
    big[5] = -(1 << 30);
    let xs = vec![
        random_row(d, 16, 2),
        random_row(d, 32, 3),
        vec![0; d],
        big,
        vec![i32::MIN as i64, i32::MAX as i64, i32::MIN as i64, 1, -1, 0, 7, i32::MAX as i64],
        vec![1, -2, 3, 0, 0, 0, 0, 1],
    ];
    let t = rmsnorm(&xs.concat(), &n, &tables());
    // The rows cover e = 0 (all zeros and small values), a middling e and e near its max.
    assert!(t.exp.contains(&0), "{:?}", t.exp);
    assert!(t.exp.iter().any(|&e| e >= 20), "{:?}", t.exp);
    assert_eq!(run_with(&n, honest_tokens(&xs), &t.out), Ok(()));
}

#[test]
fn matches_reference_on_a_realistic_row() {
    // SmolLM2-135M's hidden size; inputs at 10 fractional bits of magnitude up to ~2^12.
    let d = 576;
    let n = norm(d, 7);
    let xs = vec![random_row(d, 22, 8)];
    assert_eq!(run_with(&n, honest_tokens(&xs), &reference(&n, &xs)), Ok(()));
}

#[test]
fn rejects_wrong_public_outputs() {
    let n = norm(8, 1);
    let xs = vec![random_row(8, 16, 2)];
    let mut out = reference(&n, &xs);
    out[2] += 1;
    let err = run_with(&n, honest_tokens(&xs), &out).expect_err("outputs differ");
    // Only copies break: output 2's cell against instance row 2.
    assert_eq!(permutation_failures(&err), vec![("instance", 0, 2), ("advice", 5, 16)]);
}

/// A row whose mean square has `e > 0` and a nonzero normalize remainder.
fn row_with_exponent() -> Vec<i64> {
    vec![123_456, -98_765, 4_321, 0, 77_777, -1, 31_337, 65_535]
}

/// Forges `ms − 1` with `r_d + d`: the division equation still holds, but `r_d ≥ d`.
/// `(m, e)` and everything after are recomputed honestly from the forged `ms`.
fn forge_division(n: &QNorm, x: &[i64]) -> Vec<VerifyFailure> {
    let w = witness(n, x);
    let (ms, r_d) = (w.ms - 1, w.r_d + n.weight.len() as i128);
    let (m, e) = normalize(ms, RSQRT_MANT_BITS, 2);
    let forged = NormWitness::with_normalization(&w.x, &site(n), &tables().rsqrt, ms, r_d, i128::from(m), e);
    run_forged(n, x, forged)
}

#[test]
fn rejects_a_mean_square_remainder_of_d() {
    // d = 8: r_d + 8 ≥ 2^3 breaks the remainder's own 3-bit check as well as the gap's.
    let n = norm(8, 1);
    let err = forge_division(&n, &row_with_exponent());
    assert_eq!(
        lookup_failures(&err),
        vec![("norm div remainder".to_string(), 0), ("norm div gap".to_string(), 0)]
    );
    // d = 6 and r_d = 0: r_d + 6 fits 3 bits, so only d − 1 − r_d < 0 objects.
    let n = norm(6, 1);
    let x = vec![6000, 0, 0, 0, 0, 0];
    assert_eq!(witness(&n, &x).r_d, 0);
    let err = forge_division(&n, &x);
    assert_eq!(lookup_failures(&err), vec![("norm div gap".to_string(), 0)]);
}

#[test]
fn rejects_an_exponent_one_too_large() {
    let n = norm(8, 1);
    let x = row_with_exponent();
    let w = witness(&n, &x);
    let e = w.e + 1;
    let m = w.ms >> (2 * e);
    let forged = NormWitness::with_normalization(&w.x, &site(&n), &tables().rsqrt, w.ms, w.r_d, m, e);
    let err = run_forged(&n, &x, forged);
    // m < 2^14 with e > 0: m − 2^14 is negative, caught on the 16-bit check's top limb.
    assert_eq!(
        lookup_failures(&err),
        vec![("norm mantissa low".to_string(), limbs(16, crate::range::LIMB_BITS) - 1)]
    );
}

#[test]
fn rejects_an_exponent_one_too_small() {
    let n = norm(8, 1);
    let x = row_with_exponent();
    let w = witness(&n, &x);
    let e = w.e - 1;
    let m = w.ms >> (2 * e);
    assert!(m >= 1 << 16);
    let forged = NormWitness::with_normalization(&w.x, &site(&n), &tables().rsqrt, w.ms, w.r_d, m, e);
    let err = run_forged(&n, &x, forged);
    // m ≥ 2^16 is outside the rsqrt table (and m − 2^14 outside 16 bits when m ≥ 5·2^14).
    let mut expected = vec![("rsqrt".to_string(), 0)];
    if m - (1 << 14) >= 1 << 16 {
        expected.push(("norm mantissa low".to_string(), limbs(16, crate::range::LIMB_BITS) - 1));
    }
    let mut got = lookup_failures(&err);
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn rejects_a_wrong_rsqrt_output() {
    let n = norm(8, 1);
    let x = row_with_exponent();
    let honest = witness(&n, &x);
    let mut w = honest.clone();
    w.r += 1;
    // Recompute the products from the wrong r so that only the lookup can object.
    let s = site(&n);
    let scale = 1i128 << (MAX_EXP - w.e);
    for (i, rw) in w.rescale.iter_mut().enumerate() {
        *rw = RescaleWitness::new(w.x[i] * w.r * scale * i128::from(n.weight[i]), &s.rescale_site());
    }
    let err = run_forged(&n, &x, w);
    assert_eq!(lookup_failures(&err), vec![("rsqrt".to_string(), 0)]);
}

#[test]
fn rejects_a_tampered_output() {
    let n = norm(8, 1);
    let x = row_with_exponent();
    let mut w = witness(&n, &x);
    w.rescale[3].y += 1;
    let err = run_forged(&n, &x, w);
    let row = 3 * site(&n).rescale_site().rows(crate::range::RangeLayout::DEFAULT);
    assert_eq!(
        constraint_failures(&err),
        vec![("rescale".to_string(), "q = y + (above - below)*(e + 1)".to_string(), row)]
    );
}

#[test]
fn rejects_swapped_inputs() {
    let n = norm(8, 1);
    let x = row_with_exponent();
    let mut swapped = x.clone();
    swapped.swap(0, 1);
    // An honest witness of the swapped row: every gate holds, only the copies of x_0 and
    // x_1 from the caller's cells break.
    let w = witness(&n, &swapped);
    let err = run_forged(&n, &x, w);
    // Only copies break: the caller's cells of x_0 and x_1 against the chip's copies.
    assert_eq!(
        permutation_failures(&err),
        vec![("advice", 9, 0), ("advice", 9, 1), ("advice", 25, 0), ("advice", 25, 1)]
    );
}

#[test]
fn rejects_invalid_sites() {
    let mut n = norm(4, 1);
    assert!(NormSite::new(&n, 33).is_err());
    assert!(NormSite::new(&n, 0).is_err());
    n.eps = 0;
    assert!(NormSite::new(&n, 32).is_err());
    let mut n = norm(4, 1);
    n.weight[0] = 1 << 15;
    assert!(NormSite::new(&n, 32).is_err());
    let mut n = norm(4, 1);
    n.out = Scale::new(23 + MAX_EXP + n.frac + 1, 16);
    assert!(NormSite::new(&n, 32).is_err());
    assert!(NormSite::new(&QNorm { weight: vec![], ..norm(1, 1) }, 32).is_err());
}

#[test]
fn matches_reference_with_a_quantized_models_norms() {
    use zkinfer_quantize::qmodel::file::QuantizedModel;
    use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
    use zkinfer_quantize::synthetic::{tiny_config, SyntheticModel};

    let path = std::env::temp_dir().join(format!("zkinfer-norm-test-{}.zkq", std::process::id()));
    let src = SyntheticModel::new(tiny_config(), 7);
    let prompts = vec![(0..40).map(|i| (i * 37 % 256) as u32).collect::<Vec<u32>>()];
    let opts = QuantOptions { max_seq: 64, ..QuantOptions::default() };
    quantize_to_file(&src, &prompts, &opts, &path, &mut |_, _, _| {}).expect("quantize");
    let q = QuantizedModel::open(&path).expect("open");
    let layer = q.layer(0).expect("layer 0");
    let final_norm = q.final_norm().expect("final norm");
    std::fs::remove_file(&path).expect("remove the temporary model");
    for (i, n) in [layer.attn_norm, layer.ffn_norm, final_norm].iter().enumerate() {
        let d = n.weight.len();
        let xs = vec![random_row(d, 24, 20 + i as u64), random_row(d, 12, 30 + i as u64)];
        assert_eq!(run_with(n, honest_tokens(&xs), &reference(n, &xs)), Ok(()), "norm {i}: {n:?}");
    }
}
