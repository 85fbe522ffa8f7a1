//! Criterion benches of real KZG proofs (INSECURE dev SRS, cached): single chips at small
//! `k`, and one whole block chunk of the built-in tiny model. Keygen is outside the timed
//! part; each sample is one `prove`.
//!
//! ```sh
//! cargo bench -p zkinfer-prover --bench chips            # all (the block takes minutes)
//! cargo bench -p zkinfer-prover --bench chips -- rescale # one
//! ```

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::plonk::{Advice, Circuit, Column, ConstraintSystem, Error, ProvingKey};
use zkinfer_circuits::block::BlockCircuit;
use zkinfer_circuits::field::i128_to_fr;
use zkinfer_circuits::matmul::{fr_from_i128, FixedMatrix, MatmulChip, MatmulConfig};
use zkinfer_circuits::poseidon::{PoseidonChip, PoseidonConfig};
use zkinfer_circuits::range::{RangeLayout, RangeTableConfig};
use zkinfer_circuits::rescale::{RescaleChip, RescaleConfig, RescaleSite, RescaleWitness};
use zkinfer_prover::chain::{chunk_inputs, plan_chunks, ChunkConsts, ChunkInput};
use zkinfer_prover::{keygen, prove, Fr, G1Affine, Srs, SrsCache};
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
use zkinfer_quantize::synthetic::{tiny_config, SyntheticModel};

/// SplitMix64, for seeded bench data.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn signed(state: &mut u64, bits: u32) -> i64 {
    (splitmix(state) >> (64 - bits)) as i64 - (1i64 << (bits - 1))
}

fn srs(k: u32) -> Srs {
    SrsCache::from_env().and_then(|c| c.insecure(k)).expect("dev SRS")
}

/// `N` rescales of 64-bit inputs by 20 bits to 16-bit outputs (a requantized linear output).
#[derive(Clone)]
struct Rescales(Vec<RescaleWitness>);

const SITE: RescaleSite = RescaleSite { shift: 20, bits: 16, x_bits: 64 };

impl Circuit<Fr> for Rescales {
    type Config = RescaleConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> RescaleConfig {
        let table = RangeTableConfig::configure(meta);
        RescaleConfig::configure(meta, table)
    }

    fn synthesize(&self, config: RescaleConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        config.output.table.load(&mut layouter)?;
        let chip = RescaleChip::construct(config);
        layouter.assign_region(
            || "rescales",
            |mut region| {
                for (i, w) in self.0.iter().enumerate() {
                    chip.assign_witness(
                        &mut region,
                        i * SITE.rows(RangeLayout::DEFAULT),
                        &SITE,
                        Value::known(*w),
                    )?;
                }
                Ok(())
            },
        )
    }
}

/// A Poseidon commitment to `N` activations.
#[derive(Clone)]
struct Commit(Vec<i64>);

impl Circuit<Fr> for Commit {
    type Config = (Column<Advice>, PoseidonConfig);
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> Self::Config {
        let input = meta.advice_column();
        meta.enable_equality(input);
        let advice = std::array::from_fn(|_| meta.advice_column());
        let rc = std::array::from_fn(|_| meta.fixed_column());
        let capacity = meta.fixed_column();
        (input, PoseidonChip::configure(meta, advice, rc, capacity))
    }

    fn synthesize(
        &self,
        (input, config): Self::Config,
        mut layouter: impl Layouter<Fr>,
    ) -> Result<(), Error> {
        layouter.assign_region(
            || "commit",
            |mut region| {
                let cells = self
                    .0
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| region.assign_advice(input, i, Value::known(i128_to_fr(i128::from(v)))))
                    .collect::<Vec<_>>();
                PoseidonChip::construct(config.clone()).commit(&mut region, 0, &cells)?;
                Ok(())
            },
        )
    }
}

/// `Y = W·X` for SmolLM2's `k_proj` shape (192 × 576), 4 tokens, 32 weight lanes.
#[derive(Clone)]
struct Matmul {
    w: FixedMatrix,
    x: Vec<Value<Fr>>,
    y: Vec<Value<Fr>>,
}

impl Circuit<Fr> for Matmul {
    type Config = MatmulConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> MatmulConfig {
        MatmulConfig::configure(meta, 4, 32)
    }

    fn synthesize(&self, config: MatmulConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let chip = MatmulChip::construct(config);
        let inputs = chip.assign_inputs(&mut layouter, 0, &self.w, &self.x, &self.y)?;
        layouter.next_phase();
        chip.assign_check(&mut layouter, &inputs)
    }
}

/// What a proof bench makes once: the SRS, the proving key, the circuit and its instances.
type ProofSetup<C> = (Srs, ProvingKey<G1Affine>, C, Vec<Vec<Fr>>);

/// Benches `prove` of the circuit `make` returns (with its instances and `k`). `make` and
/// keygen run once, and only when the bench is selected (not filtered out).
fn bench_proof<C: Circuit<Fr> + Clone>(
    c: &mut Criterion,
    name: &str,
    make: impl FnOnce() -> (C, Vec<Vec<Fr>>, u32),
) {
    let mut make = Some(make);
    let mut setup: Option<ProofSetup<C>> = None;
    c.bench_function(name, |b| {
        let (srs, pk, circuit, instances) = setup.get_or_insert_with(|| {
            let (circuit, instances, k) = make.take().expect("made once")();
            let srs = srs(k);
            let pk = keygen(&srs, &circuit).expect("keygen");
            (srs, pk, circuit, instances)
        });
        b.iter(|| prove(srs, pk, circuit.clone(), instances.clone()).expect("prove"))
    });
}

fn rescale(c: &mut Criterion) {
    bench_proof(c, "rescale 1024 (shift 20, 16-bit out), k = 13", || {
        let mut s = 1;
        let elems = (0..1024).map(|_| RescaleWitness::new(i128::from(signed(&mut s, 36)), &SITE)).collect();
        (Rescales(elems), vec![], 13)
    });
}

fn poseidon(c: &mut Criterion) {
    bench_proof(c, "poseidon commit 1024 activations, k = 13", || {
        let mut s = 2;
        (Commit((0..1024).map(|_| signed(&mut s, 32)).collect()), vec![], 13)
    });
}

fn matmul(c: &mut Criterion) {
    bench_proof(c, "matmul 192x576 (k_proj), 4 tokens, 32 lanes, k = 13", || {
        let mut s = 3;
        let (n, d, t) = (192, 576, 4);
        let w: Vec<i64> = (0..n * d).map(|_| signed(&mut s, 24)).collect();
        // x is token-major [t, d]; y is [t, n].
        let x: Vec<i64> = (0..d * t).map(|_| signed(&mut s, 16)).collect();
        let w = FixedMatrix::new(n, d, w).expect("matrix");
        let y = w.accumulators(&x).expect("accumulators");
        let fr = |v: i128| Value::known(fr_from_i128(v));
        let circuit = Matmul {
            w,
            x: x.iter().map(|&v| fr(i128::from(v))).collect(),
            y: y.into_iter().map(fr).collect(),
        };
        (circuit, vec![], 13)
    });
}

/// Block 0 of the built-in tiny model on 4 tokens: one whole transformer layer.
fn block(c: &mut Criterion) {
    bench_proof(c, "tiny block 0 (d 64, 4 tokens), k = 15", || {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tiny.zkq");
        let prompts = vec![(0..40).map(|i| (i * 37 % 256) as u32).collect::<Vec<u32>>()];
        let opts = QuantOptions { max_seq: 16, ..QuantOptions::default() };
        quantize_to_file(&SyntheticModel::new(tiny_config(), 7), &prompts, &opts, &path, &mut |_, _, _| {})
            .expect("quantize");
        let model = QuantizedModel::open(&path).expect("model");
        let tokens = [3, 141, 59, 26];
        let specs = plan_chunks(&model, tokens.len(), 17).expect("plan");
        let kinds: Vec<_> = specs.iter().map(|s| s.kind).collect();
        let inputs = chunk_inputs(&model, &tokens, &kinds).expect("integer pass");
        let (ChunkConsts::Block(consts), ChunkInput::Block { input, output }) =
            (&specs[0].consts, &inputs[0])
        else {
            panic!("chunk 0 is a block");
        };
        let circuit = BlockCircuit::new(Arc::clone(consts), input.clone());
        let k = circuit.shape().k;
        assert_eq!(k, 15, "the bench's name says k = 15");
        (circuit, BlockCircuit::instances(input, output), k)
    });
}

criterion_group! {
    name = chips;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(10));
    targets = rescale, poseidon, matmul, block
}
criterion_main!(chips);
