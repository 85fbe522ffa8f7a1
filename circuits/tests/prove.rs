//! The chips through the real prover: keygen, a SHPLONK proof over KZG (insecure seeded
//! SRS), and verification, for `y = table⁺(rescale(x))` with a toy extended table.

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{
    create_proof, keygen_pk, keygen_vk, verify_proof, Advice, Circuit, Column, ConstraintSystem, Error,
    Instance, ProvingKey,
};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use halo2_proofs::transcript::{
    Blake2bRead, Blake2bWrite, Challenge255, TranscriptReadBuffer, TranscriptWriterBuffer,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkinfer_circuits::field::i128_to_fr;
use zkinfer_circuits::lookup::{Beyond, ExtendedLookupChip, ExtendedLookupConfig, Extension, LookupConfig};
use zkinfer_circuits::range::RangeTableConfig;
use zkinfer_circuits::rescale::{RescaleChip, RescaleConfig, RescaleSite};
use zkinfer_quantize::fixed::rescale;
use zkinfer_quantize::fixed::tables::LookupTable;

const K: u32 = 10;
const SHIFT: u32 = 4;
const BITS: u32 = 8;
const X_BITS: u32 = 24;
const TOY: Extension = Extension { start: -8, end: 7, below: Beyond::Constant(0), above: Beyond::Identity };

fn toy_table() -> LookupTable {
    LookupTable { name: "toy".to_string(), start: -8, values: (-8..8).map(|x: i64| x * x - 5).collect() }
}

/// The reference: `rescale`, then the toy table with SiLU's out-of-domain branches.
fn reference(x: i128) -> i128 {
    let q = rescale(x, SHIFT, BITS);
    let t = toy_table();
    i128::from(t.get(q).unwrap_or(if q > t.end() { q } else { 0 }))
}

#[derive(Clone, Debug)]
struct PipelineConfig {
    rescale: RescaleConfig,
    toy: ExtendedLookupConfig,
    input: Column<Advice>,
    outputs: Column<Instance>,
}

#[derive(Clone, Default)]
struct Pipeline {
    xs: Vec<Value<i128>>,
}

impl Circuit<Fr> for Pipeline {
    type Config = PipelineConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        Pipeline { xs: vec![Value::unknown(); self.xs.len()] }
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> PipelineConfig {
        let range_table = RangeTableConfig::configure(meta);
        let rescale = RescaleConfig::configure(meta, range_table);
        let (tx, ty) = (meta.advice_column(), meta.advice_column());
        let lookup = LookupConfig::configure(meta, "toy table", tx, ty);
        let toy = ExtendedLookupConfig::configure(meta, "toy", lookup, range_table, TOY);
        let input = meta.advice_column();
        meta.enable_equality(input);
        let outputs = meta.instance_column();
        meta.enable_equality(outputs);
        PipelineConfig { rescale, toy, input, outputs }
    }

    fn synthesize(&self, config: PipelineConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        config.rescale.output.table.load(&mut layouter)?;
        let rescale_chip = RescaleChip::construct(config.rescale);
        let toy = ExtendedLookupChip::construct(config.toy, &toy_table())?;
        toy.lookup().load(&mut layouter)?;
        let site = RescaleSite::new(SHIFT, BITS, X_BITS)?;
        let limb = zkinfer_circuits::range::RangeLayout::DEFAULT;
        let rows = site.rows(limb).max(ExtendedLookupChip::rows(BITS, limb));
        let ys = layouter.assign_region(
            || "pipeline",
            |mut region| {
                let mut ys = vec![];
                for (i, x) in self.xs.iter().enumerate() {
                    let row = i * rows;
                    let x = region.assign_advice(config.input, row, x.map(i128_to_fr));
                    let q = rescale_chip.assign(&mut region, row, &x, &site)?;
                    ys.push(toy.assign(&mut region, row, &q, BITS)?.cell());
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

fn keys(params: &ParamsKZG<Bn256>, n: usize) -> ProvingKey<G1Affine> {
    let shape = Pipeline { xs: vec![Value::unknown(); n] };
    let vk = keygen_vk(params, &shape).expect("vk");
    keygen_pk(params, vk, &shape).expect("pk")
}

fn prove(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, xs: &[i128], outputs: &[Fr]) -> Vec<u8> {
    let circuit = Pipeline { xs: xs.iter().map(|&x| Value::known(x)).collect() };
    let mut transcript = Blake2bWrite::<_, G1Affine, Challenge255<_>>::init(vec![]);
    create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(
        params,
        pk,
        &[circuit],
        &[&[outputs]],
        ChaCha20Rng::seed_from_u64(2),
        &mut transcript,
    )
    .expect("proof");
    transcript.finalize()
}

fn verifies(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, proof: &[u8], outputs: &[Fr]) -> bool {
    let mut transcript = Blake2bRead::<_, G1Affine, Challenge255<_>>::init(proof);
    verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, SingleStrategy<'_, Bn256>>(
        params,
        pk.get_vk(),
        SingleStrategy::new(params),
        &[&[outputs]],
        &mut transcript,
    )
    .is_ok()
}

#[test]
fn rescale_then_extended_lookup_proves_and_verifies() {
    // Inputs that hit every branch: in the table, above it (identity), below it (zero),
    // and saturated by the rescale on both sides.
    let xs = [0i128, 7, -8, 100, 119, -129, 40_000, -40_000, (1 << 23) - 1, -(1 << 23)];
    let outputs: Vec<Fr> = xs.iter().map(|&x| i128_to_fr(reference(x))).collect();
    let params = ParamsKZG::<Bn256>::setup(K, ChaCha20Rng::seed_from_u64(1));
    let pk = keys(&params, xs.len());
    let proof = prove(&params, &pk, &xs, &outputs);
    assert!(verifies(&params, &pk, &proof, &outputs));

    let mut wrong = outputs.clone();
    wrong[3] += Fr::from(1u64);
    assert!(!verifies(&params, &pk, &proof, &wrong));
}

#[test]
fn constraint_system_costs_stay_pinned() {
    // Gates stay at degree 3; the lookups (degree-2 inputs against fixed tables) set the
    // system's degree to 5, i.e. an extended domain of 4·2^k.
    let mut meta = ConstraintSystem::<Fr>::default();
    Pipeline::configure(&mut meta);
    assert!(meta.gates().iter().flat_map(|g| g.polynomials()).all(|p| p.degree() <= 3));
    assert_eq!(meta.degree(), 5);
    // Advice: rescale 7 (x, q, above, below, z_r, z_y, z_e), extended lookup 7 (x, y,
    // above, below, tx, ty, z_e), the pipeline's input 1. Only the cells that are copied
    // are in the permutation: input, rescale x and y, lookup x and y, and the instance.
    assert_eq!(meta.num_advice_columns(), 15);
    assert_eq!(meta.permutation().get_columns().len(), 6);
    // One lookup per range-check column (rescale 3, extended 1) and one per table.
    assert_eq!(meta.lookups().len(), 5);
}
