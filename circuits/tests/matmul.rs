//! The matmul chip under `MockProver`: honest witnesses from the integer reference pass, and
//! the exact failure for each kind of tampering.

use std::path::PathBuf;
use std::time::Instant;

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::dev::{FailureLocation, MockProver, VerifyFailure};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine};
use halo2_proofs::plonk::{
    create_proof, keygen_pk, keygen_vk, verify_proof, Circuit, Column, ConstraintSystem, Error, Instance,
    VerifyingKey,
};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use halo2_proofs::transcript::{
    Blake2bRead, Blake2bWrite, Challenge255, TranscriptReadBuffer, TranscriptWriterBuffer,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkinfer_circuits::matmul::{fr_from_i128, gate, known_values, FixedMatrix, MatmulChip, MatmulConfig};
use zkinfer_quantize::fixed::{rescale, Scale};
use zkinfer_quantize::int::ops::linear;
use zkinfer_quantize::load::hf::HfModel;
use zkinfer_quantize::qmodel::QLinear;
use zkinfer_quantize::quant::weights::quantize_linear;
use zkinfer_quantize::{LayerTensor, TensorId, WeightSource};

/// SplitMix64: a seeded generator for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[-2^(bits-1), 2^(bits-1))`.
    fn signed(&mut self, bits: u32) -> i64 {
        (self.next() >> (64 - bits)) as i64 - (1i64 << (bits - 1))
    }
}

/// `(tokens, lanes)`.
#[derive(Clone, Copy, Debug)]
struct Shape(usize, usize);

impl Default for Shape {
    fn default() -> Self {
        Shape(4, 4)
    }
}

/// One product `Y = W·X`, with `Y[0][0]` (token 0, output 0) exposed as public input 0.
#[derive(Clone)]
struct MatmulCircuit {
    shape: Shape,
    w: FixedMatrix,
    x: Vec<Value<Fr>>,
    y: Vec<Value<Fr>>,
}

impl Circuit<Fr> for MatmulCircuit {
    type Config = (MatmulConfig, Column<Instance>);
    type FloorPlanner = SimpleFloorPlanner;
    type Params = Shape;

    fn without_witnesses(&self) -> Self {
        MatmulCircuit {
            x: vec![Value::unknown(); self.x.len()],
            y: vec![Value::unknown(); self.y.len()],
            ..self.clone()
        }
    }

    fn params(&self) -> Shape {
        self.shape
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, p: Shape) -> Self::Config {
        let inst = meta.instance_column();
        meta.enable_equality(inst);
        (MatmulConfig::configure(meta, p.0, p.1), inst)
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> Self::Config {
        Self::configure_with_params(meta, Shape::default())
    }

    fn synthesize(&self, (config, inst): Self::Config, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let chip = MatmulChip::construct(config);
        let inputs = chip.assign_inputs(&mut layouter, 0, &self.w, &self.x, &self.y)?;
        layouter.constrain_instance(inputs.y[0].cell, inst, 0);
        layouter.next_phase();
        chip.assign_check(&mut layouter, &inputs)
    }
}

/// A hand-made quantized linear layer: random 8-bit weights, group codes, multipliers.
fn random_qlinear(rng: &mut Rng, rows: usize, cols: usize) -> QLinear {
    let groups = cols.div_ceil(32);
    QLinear {
        rows,
        cols,
        weight: (0..rows * cols).map(|_| rng.signed(8).max(-127) as i8).collect(),
        group_scale: (0..rows * groups).map(|_| (rng.next() >> 48) as u16).collect(),
        mult: (0..rows).map(|_| (rng.next() >> 41) as i64).collect(),
        shift: 40,
        out: Scale::new(8, 16),
    }
}

/// The circuit for `W = l`'s effective weights and random 32-bit activations, its
/// accumulators checked against `linear`'s output, and the smallest `k` that fits it.
fn honest(
    rng: &mut Rng,
    l: &QLinear,
    shape: Shape,
    x_bits: u32,
) -> (MatmulCircuit, Vec<i64>, Vec<i128>, u32) {
    let w = FixedMatrix::from_qlinear(l).expect("weights");
    let t = shape.0;
    let x: Vec<i64> = (0..t * l.cols).map(|_| rng.signed(x_bits)).collect();
    let y = w.accumulators(&x).expect("accumulators");
    // The accumulators are exactly the ones the reference pass rescales.
    let out = linear(&x, t, l);
    for (k, (&acc, &o)) in y.iter().zip(&out).enumerate() {
        let j = k % l.rows;
        assert_eq!(rescale(acc * l.mult[j] as i128, l.shift, l.out.bits), o, "output {k}");
    }
    let circuit = MatmulCircuit { shape, w, x: known_values(&x), y: known_values(&y) };
    let probe = MatmulConfig::configure(&mut ConstraintSystem::default(), shape.0, shape.1);
    let rows = probe.rows_needed(&circuit.w);
    let k = (rows + 10).next_power_of_two().trailing_zeros().max(4);
    (circuit, x, y, k)
}

fn run(c: &MatmulCircuit, k: u32, y00: i128) -> Result<(), Vec<VerifyFailure>> {
    MockProver::run(k, c, vec![vec![fr_from_i128(y00)]]).expect("synthesis").verify()
}

/// The only failure a tampered witness may cause: the final Freivalds check on the last
/// row of the product (which starts at row 0).
fn assert_check_fails(result: Result<(), Vec<VerifyFailure>>, circuit: &MatmulCircuit) {
    let probe = MatmulConfig::configure(&mut ConstraintSystem::default(), circuit.shape.0, circuit.shape.1);
    let last = probe.rows_needed(&circuit.w) - 1;
    let errs = result.expect_err("tampered witness must fail");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    match &errs[0] {
        VerifyFailure::ConstraintNotSatisfied { constraint, location, .. } => {
            assert_eq!(
                constraint.to_string(),
                format!("Constraint 0 ('acc = 0') in gate 6 ('{}')", gate::CHECK)
            );
            // halo2-axiom's MockProver records no region extents (regions all start at row
            // 0), so it reports the absolute row.
            assert_eq!(*location, FailureLocation::OutsideRegion { row: last });
        }
        other => panic!("unexpected failure {other:?}"),
    }
}

/// Small shapes: `B = 2` blocks (carry rows), `B = 1` (with and without padding), a last
/// block padded with zeros, one lane.
#[test]
fn honest_witness_passes_for_small_shapes() {
    let mut rng = Rng(1);
    let l = random_qlinear(&mut rng, 8, 16);
    for lanes in [4, 8, 3, 1, 16] {
        let (c, _, y, k) = honest(&mut rng, &l, Shape(4, lanes), 32);
        assert_eq!(run(&c, k, y[0]), Ok(()), "lanes {lanes}");
    }
    // One token, more columns than a group.
    let l = random_qlinear(&mut rng, 5, 70);
    let (c, _, y, k) = honest(&mut rng, &l, Shape(1, 2), 32);
    assert_eq!(run(&c, k, y[0]), Ok(()));
}

#[test]
fn changed_output_accumulator_fails_the_check() {
    let mut rng = Rng(2);
    let l = random_qlinear(&mut rng, 8, 16);
    let (mut c, _, mut y, k) = honest(&mut rng, &l, Shape(4, 4), 32);
    y[8 + 3] += 1; // token 1, output 3
    c.y = known_values(&y);
    assert_check_fails(run(&c, k, y[0]), &c);
}

#[test]
fn changed_activation_fails_the_check() {
    let mut rng = Rng(3);
    let l = random_qlinear(&mut rng, 8, 16);
    let (mut c, mut x, y, k) = honest(&mut rng, &l, Shape(4, 4), 32);
    x[2 * 16 + 5] -= 1; // token 2, input 5
    c.x = known_values(&x);
    assert_check_fails(run(&c, k, y[0]), &c);
}

#[test]
fn changed_weight_fails_the_check() {
    let mut rng = Rng(4);
    let mut l = random_qlinear(&mut rng, 8, 16);
    let (mut c, _, y, k) = honest(&mut rng, &l, Shape(4, 4), 32);
    // Same witness, different fixed W: a verifying key for other weights rejects it.
    let j = 6;
    let i = 9;
    l.weight[j * 16 + i] = if l.weight[j * 16 + i] == 127 { 126 } else { l.weight[j * 16 + i] + 1 };
    l.group_scale[j] = l.group_scale[j].max(1);
    c.w = FixedMatrix::from_qlinear(&l).expect("weights");
    assert_check_fails(run(&c, k, y[0]), &c);
}

#[test]
fn swapped_activation_rows_and_tokens_fail_the_check() {
    let mut rng = Rng(5);
    let l = random_qlinear(&mut rng, 8, 16);
    let (mut c, x, y, k) = honest(&mut rng, &l, Shape(4, 4), 32);
    // Inputs 2 and 11 swapped in every token.
    let mut xs = x.clone();
    for t in 0..4 {
        xs.swap(t * 16 + 2, t * 16 + 11);
    }
    c.x = known_values(&xs);
    assert_check_fails(run(&c, k, y[0]), &c);
    // Tokens 1 and 3 swapped in the activations only.
    let mut xt = x.clone();
    for i in 0..16 {
        xt.swap(16 + i, 3 * 16 + i);
    }
    c.x = known_values(&xt);
    assert_check_fails(run(&c, k, y[0]), &c);
    // Tokens 1 and 3 swapped in the outputs only.
    c.x = known_values(&x);
    let mut ys = y.clone();
    for j in 0..8 {
        ys.swap(8 + j, 3 * 8 + j);
    }
    c.y = known_values(&ys);
    assert_check_fails(run(&c, k, ys[0]), &c);
}

#[test]
fn output_cells_copy_into_other_columns() {
    let mut rng = Rng(6);
    let l = random_qlinear(&mut rng, 8, 16);
    let (c, _, y, k) = honest(&mut rng, &l, Shape(4, 4), 32);
    let errs = run(&c, k, y[0] + 1).expect_err("wrong public output");
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs.iter().all(|e| matches!(e, VerifyFailure::Permutation { .. })), "{errs:#?}");
}

#[test]
fn bad_shapes_are_errors() {
    assert!(FixedMatrix::new(0, 3, vec![]).is_err());
    assert!(FixedMatrix::new(2, 3, vec![1; 5]).is_err());
    assert!(FixedMatrix::new(1, 1, vec![1 << 41]).is_err());
    let w = FixedMatrix::new(2, 3, vec![1; 6]).expect("matrix");
    assert!(w.accumulators(&[1; 4]).is_err());
    // Activations for 3 tokens where the chip has 4 columns: synthesis refuses.
    let c = MatmulCircuit { shape: Shape(4, 2), w, x: known_values(&[1i64; 9]), y: known_values(&[3i64; 8]) };
    assert!(matches!(MockProver::run(6, &c, vec![vec![fr_from_i128(3)]]), Err(Error::Synthesis)));
}

/// `ZKINFER_SLICE_DIR`, else `../shared/models/smollm2-slice` beside the repository, else
/// `/work/shared/models/smollm2-slice`.
fn slice_dir() -> PathBuf {
    if let Ok(p) = std::env::var("ZKINFER_SLICE_DIR") {
        return PathBuf::from(p);
    }
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/smollm2-slice");
    if beside.is_dir() {
        return beside;
    }
    PathBuf::from("/work/shared/models/smollm2-slice")
}

/// SmolLM2's layer-0 `k_proj` (`192 × 576`), 4 tokens of 16-bit activations, 32 lanes.
#[test]
fn smollm2_layer0_k_proj() {
    let src = HfModel::open(&slice_dir()).expect("slice opens");
    let t = src.load(TensorId::Layer(0, LayerTensor::K)).expect("k_proj");
    let l = quantize_linear("k_proj", &t, 12, Scale::new(10, 16)).expect("quantize");
    assert_eq!((l.rows, l.cols), (192, 576));
    let mut rng = Rng(7);
    let shape = Shape(4, 32);
    let (mut c, _, mut y, k) = honest(&mut rng, &l, shape, 16);
    let cfg = MatmulConfig::configure(&mut ConstraintSystem::default(), shape.0, shape.1);
    let cells = cfg.advice_cells(&c.w);
    let macs = 192 * 576 * 4;
    eprintln!(
        "k_proj: k = {k}, rows = {}, advice cells = {cells}, MACs = {macs}, cells/MAC = {:.4}",
        cfg.rows_needed(&c.w),
        cells as f64 / macs as f64
    );
    let start = Instant::now();
    assert_eq!(run(&c, k, y[0]), Ok(()));
    eprintln!("k_proj: MockProver run + verify {:.2} s", start.elapsed().as_secs_f64());
    y[3 * 192 + 191] -= 1;
    c.y = known_values(&y);
    assert_check_fails(run(&c, k, y[0]), &c);
}

/// A real two-phase KZG proof of `c` with public input `y00`.
fn prove(params: &ParamsKZG<Bn256>, c: &MatmulCircuit, y00: i128) -> Vec<u8> {
    let vk = keygen_vk(params, &c.without_witnesses()).expect("vk");
    let pk = keygen_pk(params, vk, &c.without_witnesses()).expect("pk");
    let inst = [fr_from_i128(y00)];
    let mut transcript = Blake2bWrite::<_, G1Affine, Challenge255<_>>::init(vec![]);
    create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<Bn256>, _, _, _, _>(
        params,
        &pk,
        std::slice::from_ref(c),
        &[&[&inst]],
        ChaCha20Rng::seed_from_u64(9),
        &mut transcript,
    )
    .expect("proof");
    transcript.finalize()
}

fn verifies(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, proof: &[u8], y00: i128) -> bool {
    let inst = [fr_from_i128(y00)];
    let mut transcript = Blake2bRead::<_, G1Affine, Challenge255<_>>::init(proof);
    verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, _>(
        params,
        vk,
        SingleStrategy::new(params),
        &[&[&inst]],
        &mut transcript,
    )
    .is_ok()
}

/// The real prover runs both phases: an honest proof verifies, a proof of a tampered
/// accumulator does not, and a verifying key for other weights rejects the honest proof.
#[test]
fn kzg_proofs_verify_only_for_the_right_product_and_weights() {
    let mut rng = Rng(8);
    let mut l = random_qlinear(&mut rng, 8, 16);
    let (mut c, _, mut y, k) = honest(&mut rng, &l, Shape(4, 4), 32);
    let params = ParamsKZG::<Bn256>::setup(k, ChaCha20Rng::seed_from_u64(0));
    let vk = keygen_vk(&params, &c.without_witnesses()).expect("vk");

    let proof = prove(&params, &c, y[0]);
    assert!(verifies(&params, &vk, &proof, y[0]), "honest proof");
    assert!(!verifies(&params, &vk, &proof, y[0] + 1), "wrong public output");

    l.weight[5] = if l.weight[5] == 127 { 126 } else { l.weight[5] + 1 };
    l.group_scale[0] = l.group_scale[0].max(1);
    let other = MatmulCircuit { w: FixedMatrix::from_qlinear(&l).expect("weights"), ..c.clone() };
    let other_vk = keygen_vk(&params, &other.without_witnesses()).expect("vk");
    assert!(!verifies(&params, &other_vk, &proof, y[0]), "other weights");

    y[2 * 8 + 7] += 1;
    c.y = known_values(&y);
    let bad = prove(&params, &c, y[0]);
    assert!(!verifies(&params, &vk, &bad, y[0]), "tampered accumulator");
}

/// Two products over the same activations (like `k_proj` and `v_proj`), stacked in rows;
/// the second's activation cells are copies of the first's.
#[derive(Clone)]
struct SharedInput {
    shape: Shape,
    w: [FixedMatrix; 2],
    x: [Vec<Value<Fr>>; 2],
    y: [Vec<Value<Fr>>; 2],
}

impl Circuit<Fr> for SharedInput {
    type Config = MatmulConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = Shape;

    fn without_witnesses(&self) -> Self {
        let unknown = |v: &Vec<Value<Fr>>| vec![Value::unknown(); v.len()];
        SharedInput {
            x: [unknown(&self.x[0]), unknown(&self.x[1])],
            y: [unknown(&self.y[0]), unknown(&self.y[1])],
            ..self.clone()
        }
    }

    fn params(&self) -> Shape {
        self.shape
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, p: Shape) -> MatmulConfig {
        MatmulConfig::configure(meta, p.0, p.1)
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> MatmulConfig {
        Self::configure_with_params(meta, Shape::default())
    }

    fn synthesize(&self, config: MatmulConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let chip = MatmulChip::construct(config);
        let first = chip.assign_inputs(&mut layouter, 0, &self.w[0], &self.x[0], &self.y[0])?;
        let offset = chip.config().rows_needed(&self.w[0]);
        let second = chip.assign_inputs(&mut layouter, offset, &self.w[1], &self.x[1], &self.y[1])?;
        layouter.assign_region(
            || "shared activations",
            |mut region| {
                for (a, b) in first.x.iter().zip(&second.x) {
                    region.constrain_equal(a.cell, b.cell);
                }
                Ok(())
            },
        )?;
        layouter.next_phase();
        chip.assign_check(&mut layouter, &first)?;
        chip.assign_check(&mut layouter, &second)
    }
}

#[test]
fn stacked_products_share_copied_activations() {
    let mut rng = Rng(10);
    let shape = Shape(2, 4);
    let (l0, l1) = (random_qlinear(&mut rng, 8, 16), random_qlinear(&mut rng, 6, 16));
    let (w0, w1) = (FixedMatrix::from_qlinear(&l0).expect("w0"), FixedMatrix::from_qlinear(&l1).expect("w1"));
    let x: Vec<i64> = (0..2 * 16).map(|_| rng.signed(32)).collect();
    let (y0, y1) = (w0.accumulators(&x).expect("y0"), w1.accumulators(&x).expect("y1"));
    let mut c = SharedInput {
        shape,
        w: [w0, w1],
        x: [known_values(&x), known_values(&x)],
        y: [known_values(&y0), known_values(&y1)],
    };
    let cfg = MatmulConfig::configure(&mut ConstraintSystem::default(), shape.0, shape.1);
    let rows = cfg.rows_needed(&c.w[0]) + cfg.rows_needed(&c.w[1]);
    assert_eq!(rows, (8 + 16 * 2) + (6 + 16 * 2));
    let k = 7;
    assert_eq!(MockProver::run(k, &c, vec![]).expect("synthesis").verify(), Ok(()));

    // The second product proves its own (consistent) product of different activations:
    // only the copy constraints catch it, in the activation column of the changed token.
    let mut x1 = x.clone();
    x1[16 + 4] += 3; // token 1, input 4
    c.x[1] = known_values(&x1);
    c.y[1] = known_values(&c.w[1].accumulators(&x1).expect("y1"));
    let errs = MockProver::run(k, &c, vec![]).expect("synthesis").verify().expect_err("copy broken");
    let first_x4 = 8 + 4 * 2 + 1; // block 0 of input 4 in the first product
    let second_x4 = 40 + 6 + 4 * 2 + 1;
    let rows: Vec<_> = errs
        .iter()
        .map(|e| match e {
            VerifyFailure::Permutation { column, location } => (column.to_string(), location.clone()),
            other => panic!("unexpected failure {other:?}"),
        })
        .collect();
    let act1 = "Column('Advice', 1)".to_string();
    assert_eq!(
        rows,
        [
            (act1.clone(), FailureLocation::OutsideRegion { row: first_x4 }),
            (act1, FailureLocation::OutsideRegion { row: second_x4 })
        ]
    );
}

/// Random shapes (`n ≤ 12`, `d ≤ 20`, `T ≤ 4`, `L ≤ 9`) and random weights of up to 24
/// bits: the honest witness passes, and one changed activation or output fails the check.
#[test]
fn random_shapes_pass_honestly_and_fail_when_tampered() {
    let mut rng = Rng(11);
    for case in 0..40 {
        let (n, d) = (1 + rng.next() as usize % 12, 1 + rng.next() as usize % 20);
        let shape = Shape(1 + rng.next() as usize % 4, 1 + rng.next() as usize % 9);
        let w = FixedMatrix::new(n, d, (0..n * d).map(|_| rng.signed(24)).collect()).expect("w");
        let x: Vec<i64> = (0..shape.0 * d).map(|_| rng.signed(32)).collect();
        let mut y = w.accumulators(&x).expect("y");
        let mut c = MatmulCircuit { shape, w, x: known_values(&x), y: known_values(&y) };
        let cfg = MatmulConfig::configure(&mut ConstraintSystem::default(), shape.0, shape.1);
        let k = (cfg.rows_needed(&c.w) + 10).next_power_of_two().trailing_zeros().max(4);
        assert_eq!(run(&c, k, y[0]), Ok(()), "case {case}: n {n}, d {d}, {shape:?}");
        if case % 2 == 0 {
            let at = rng.next() as usize % y.len();
            y[at] += 1 + (rng.next() % 1000) as i128;
            c.y = known_values(&y);
        } else {
            let mut x = x;
            let at = rng.next() as usize % x.len();
            x[at] -= 1 + (rng.next() % 1000) as i64;
            c.x = known_values(&x);
        }
        assert_check_fails(run(&c, k, y[0]), &c);
    }
}
