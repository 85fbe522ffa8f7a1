//! The activation commitment: known answers for the native sponge, the chip against
//! `commit_activations`, and the exact failure for each kind of tampering.

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::dev::{MockProver, VerifyFailure};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine};
use halo2_proofs::halo2curves::ff::{Field, PrimeField};
use halo2_proofs::plonk::{
    create_proof, keygen_pk, keygen_vk, verify_proof, Advice, Circuit, Column, ConstraintSystem, Error,
    Instance,
};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use halo2_proofs::transcript::{
    Blake2bRead, Blake2bWrite, Challenge255, TranscriptReadBuffer, TranscriptWriterBuffer,
};
use poseidon_primitives::poseidon::primitives::{ConstantLength, ConstantLengthIden3, Hash, Spec};
use rand::rngs::StdRng;
use rand::SeedableRng;
use zkinfer_circuits::poseidon::native::{
    activation_capacity, constants, i64_to_fr, pack_activations, permute, slot, two_pow, DOMAIN_TAG,
};
use zkinfer_circuits::poseidon::trace::{row_kind, rows, RowKind};
use zkinfer_circuits::poseidon::{
    commit_activations, sponge_hash, Absorb, AssignedFr, Bn254Spec, CommitTrace, PoseidonChip, PoseidonConfig,
};

// ---------------------------------------------------------------- native known answers

fn hex(f: Fr) -> String {
    format!("{f:?}")
}

#[test]
fn spec_is_circomlib_poseidon() {
    // circomlibjs `poseidon([1, 2])` (t = 3): state [0, 1, 2], output state[0].
    let h = Hash::<Fr, Bn254Spec, ConstantLengthIden3<2>, 3, 2>::init()
        .hash([Fr::from(1), Fr::from(2)], Fr::ZERO);
    assert_eq!(hex(h), "0x115cc0f5e7d690413df64c6b9662e9cf2a3617f2743245519e19607a4417189a");
    let mut state = [Fr::ZERO, Fr::from(1), Fr::from(2)];
    permute(&mut state);
    assert_eq!(state[0], h);
}

#[test]
fn constants_are_the_bn254_p128pow5t3_ones() {
    let c = constants();
    assert_eq!(c.round_constants.len(), 65);
    // The values poseidon-primitives pins for its bn256 P128Pow5T3 constants.
    assert_eq!(
        hex(c.round_constants[0][0]),
        "0x0ee9a592ba9a9518d05986d656f40c2114c4993c11bb29938d21d47304cd8e6e"
    );
    assert_eq!(
        hex(c.round_constants[64][2]),
        "0x1da55cc900f0d21f4a3e694391918a1b3c23b2ac773c6b3ef88e2e4228325161"
    );
    assert_eq!(hex(c.mds[0][0]), "0x109b7f411ba0e4c9b2b70caf5c36a7b194be7c11ad24378bfedb68592ba8118b");
    assert_eq!(hex(c.mds[2][0]), "0x143021ec686a3f330d5f9e654638065ce6cd79e28c5b3753326244ee65a1b1a7");
    assert_eq!((Bn254Spec::full_rounds(), Bn254Spec::partial_rounds()), (8, 57));
}

fn crate_hash<const L: usize>(msg: [Fr; L]) -> Fr {
    Hash::<Fr, Bn254Spec, ConstantLength<L>, 3, 2>::init().hash(msg)
}

#[test]
fn sponge_matches_poseidon_primitives_constant_length_hash() {
    let e: Vec<Fr> = (0..5u64).map(|i| Fr::from(i * 1_000_003 + 7) * two_pow(100 + i as u32)).collect();
    let cap = |l: u128| Fr::from_u128(l << 64);
    assert_eq!(sponge_hash(cap(1), &e[..1]), crate_hash([e[0]]));
    assert_eq!(sponge_hash(cap(2), &e[..2]), crate_hash([e[0], e[1]]));
    assert_eq!(sponge_hash(cap(3), &e[..3]), crate_hash([e[0], e[1], e[2]]));
    assert_eq!(sponge_hash(cap(4), &e[..4]), crate_hash([e[0], e[1], e[2], e[3]]));
    assert_eq!(sponge_hash(cap(5), &e[..5]), crate_hash([e[0], e[1], e[2], e[3], e[4]]));
}

#[test]
fn commitment_packs_three_offset_slots_per_element() {
    let v = [-1i64, i64::MIN, i64::MAX, 1 << 31, -(1 << 31)];
    let u: Vec<u128> = v.iter().map(|&x| (i128::from(x) + (1 << 63)) as u128).collect();
    let e0 = Fr::from_u128(u[0] + (u[1] << 64)) + Fr::from_u128(u[2]) * two_pow(128);
    let e1 = Fr::from_u128(u[3] + (u[4] << 64));
    assert_eq!(pack_activations(&v), vec![e0, e1]);
    assert_eq!(slot(v[0]) as u128, u[0]);
    let cap = Fr::from_u128(DOMAIN_TAG) + Fr::from(5) * two_pow(128);
    assert_eq!(activation_capacity(5), cap);
    assert_eq!(commit_activations(&v), sponge_hash(cap, &[e0, e1]));
}

#[test]
fn commitment_binds_length_order_and_domain() {
    let base = commit_activations(&[3, -4, 5]);
    assert_ne!(base, commit_activations(&[-4, 3, 5]));
    assert_ne!(base, commit_activations(&[3, -4, 5, i64::MIN]));
    assert_ne!(commit_activations(&[]), commit_activations(&[i64::MIN]));
    assert_ne!(commit_activations(&[0]), commit_activations(&[0, 0]));
    let plain = sponge_hash(Fr::from_u128(3 << 64), &pack_activations(&[3, -4, 5]));
    assert_ne!(base, plain);
}

// ---------------------------------------------------------------- the chip

#[derive(Clone, Debug)]
enum Tamper {
    None,
    /// Add one to cell `(row, column)` of the commitment region's witness.
    Trace {
        row: usize,
        column: usize,
    },
    /// Hand the chip the activation cells `i` and `j` in swapped order.
    Swap(usize, usize),
    /// Hand the chip a witness one row short.
    Truncate,
}

#[derive(Clone, Debug)]
struct CommitCircuit {
    values: Vec<i64>,
    /// `false` for key generation: every activation is `Value::unknown()`.
    known: bool,
    tamper: Tamper,
}

#[derive(Clone, Debug)]
struct TestConfig {
    producer: Column<Advice>,
    instance: Column<Instance>,
    poseidon: PoseidonConfig,
}

impl Circuit<Fr> for CommitCircuit {
    type Config = TestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        CommitCircuit { known: false, ..self.clone() }
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
        let producer = meta.advice_column();
        meta.enable_equality(producer);
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        let advice = std::array::from_fn(|_| meta.advice_column());
        let rc = std::array::from_fn(|_| meta.fixed_column());
        let capacity = meta.fixed_column();
        TestConfig { producer, instance, poseidon: PoseidonChip::configure(meta, advice, rc, capacity) }
    }

    fn synthesize(&self, config: TestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let chip = PoseidonChip::construct(config.poseidon.clone());
        // The "producing chip": activations in a column of their own (every region starts at
        // row 0 under halo2-axiom's SimpleFloorPlanner).
        let mut cells: Vec<AssignedFr<'_>> = layouter.assign_region(
            || "activations",
            |mut region| {
                Ok(self
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let value = if self.known { Value::known(i64_to_fr(v)) } else { Value::unknown() };
                        region.assign_advice(config.producer, i, value)
                    })
                    .collect())
            },
        )?;
        if let Tamper::Swap(i, j) = self.tamper {
            cells.swap(i, j);
        }
        let commitment = layouter.assign_region(
            || "poseidon commit",
            |mut region| match self.tamper {
                Tamper::Trace { .. } | Tamper::Truncate => {
                    let values: Vec<Fr> = self.values.iter().map(|&v| i64_to_fr(v)).collect();
                    let mut trace = CommitTrace::new(&values);
                    if let Tamper::Trace { row, column } = self.tamper {
                        trace.rows[row][column] += Fr::ONE;
                    } else {
                        trace.rows.pop();
                    }
                    let capacity = activation_capacity(cells.len());
                    chip.assign_sponge(
                        &mut region,
                        0,
                        Absorb::Activations,
                        capacity,
                        &cells,
                        Value::known(&trace),
                    )
                }
                _ => chip.commit(&mut region, 0, &cells),
            },
        )?;
        layouter.constrain_instance(commitment.cell(), config.instance, 0);
        Ok(())
    }
}

/// Deterministic activations: extremes first, then xorshift values of mixed sign and size.
fn activations(n: usize, seed: u64) -> Vec<i64> {
    let extremes = [1i64 << 31, -(1i64 << 31), -1, 0, i64::MIN, i64::MAX, (1 << 31) - 1, 1 - (1 << 31)];
    let mut x = seed | 1;
    (0..n)
        .map(|i| {
            if let Some(&e) = extremes.get(i) {
                return e;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x as i64) >> (x % 40)
        })
        .collect()
}

fn k_for(n: usize) -> u32 {
    let needed = rows(n).max(n) + 8;
    (needed as f64).log2().ceil() as u32
}

fn mock(values: Vec<i64>, tamper: Tamper, commitment: Fr) -> MockProver<Fr> {
    let k = k_for(values.len());
    let circuit = CommitCircuit { values, known: true, tamper };
    match MockProver::run(k, &circuit, vec![vec![commitment]]) {
        Ok(prover) => prover,
        Err(e) => panic!("synthesis failed: {e:?}"),
    }
}

/// Failures as `constraint location` / `permutation column location` lines, sorted.
fn failures(prover: &MockProver<Fr>) -> Vec<String> {
    let mut out: Vec<String> = match prover.verify() {
        Ok(()) => vec![],
        Err(failures) => failures
            .iter()
            .map(|f| match f {
                VerifyFailure::ConstraintNotSatisfied { constraint, location, .. } => {
                    format!("{constraint} {location}")
                }
                VerifyFailure::Permutation { column, location } => format!("permutation {column} {location}"),
                other => format!("unexpected: {other}"),
            })
            .collect(),
    };
    out.sort();
    out
}

#[test]
fn gates_have_degree_three() {
    let mut cs = ConstraintSystem::<Fr>::default();
    CommitCircuit::configure(&mut cs);
    assert_eq!(cs.degree(), 3);
}

#[test]
fn chip_matches_native_commitment() {
    for n in [0usize, 1, 2, 3, 7, 64, 577] {
        let values = activations(n, 0x5eed + n as u64);
        let expected = commit_activations(&values);
        let fields: Vec<Fr> = values.iter().map(|&v| i64_to_fr(v)).collect();
        assert_eq!(CommitTrace::new(&fields).commitment(), expected, "trace, n = {n}");
        let prover = mock(values, Tamper::None, expected);
        assert_eq!(failures(&prover), Vec::<String>::new(), "n = {n}");
    }
}

#[test]
fn rows_per_block_and_kinds() {
    assert_eq!(rows(0), 39);
    assert_eq!(rows(6), 39);
    assert_eq!(rows(7), 77);
    assert_eq!(rows(577), 38 * 97 + 1);
    assert_eq!(row_kind(0, 1), RowKind::Absorb { block: 0 });
    assert_eq!(row_kind(4, 1), RowKind::Full { round: 3 });
    assert_eq!(row_kind(5, 1), RowKind::PartialPair { round: 4 });
    assert_eq!(row_kind(32, 1), RowKind::PartialPair { round: 58 });
    assert_eq!(row_kind(33, 1), RowKind::PartialSingle { round: 60 });
    assert_eq!(row_kind(37, 1), RowKind::Full { round: 64 });
    assert_eq!(row_kind(38, 2), RowKind::Absorb { block: 1 });
    assert_eq!(row_kind(38, 1), RowKind::Output);
}

const REGION: &str = "Region 1 ('poseidon commit')";

fn constraint(index: usize, name: &str, gate: usize, gate_name: &str, offset: usize) -> String {
    format!("Constraint {index} ('{name}') in gate {gate} ('{gate_name}') in {REGION} at offset {offset}")
}

/// The copy-constraint failures of a commitment cell that disagrees with the instance.
/// (halo2-axiom's MockProver locates permutation failures by absolute row only.)
fn instance_mismatch(n: usize) -> Vec<String> {
    vec![
        format!("permutation Column('Advice', 1) outside any region, on row {}", rows(n) - 1),
        "permutation Column('Instance', 0) outside any region, on row 0".to_string(),
    ]
}

#[test]
fn trace_of_the_wrong_length_is_a_synthesis_error() {
    let values = activations(7, 31);
    let circuit = CommitCircuit { values, known: true, tamper: Tamper::Truncate };
    assert!(matches!(MockProver::run(k_for(7), &circuit, vec![vec![Fr::ZERO]]), Err(Error::Synthesis)));
}

#[test]
fn tampered_activation_cell_breaks_copy_and_absorb() {
    // Activation 8 sits in block 1 (absorb row 38), slot 2: trace column 5 = aux2, which is
    // advice column 6 (column 0 is the producer's).
    let values = activations(13, 7);
    let expected = commit_activations(&values);
    let prover = mock(values, Tamper::Trace { row: 38, column: 5 }, expected);
    assert_eq!(
        failures(&prover),
        vec![
            constraint(0, "s0' = s0 + pack(aux0, aux1, aux2)", 3, "sponge absorb", 38),
            "permutation Column('Advice', 0) outside any region, on row 8".to_string(),
            "permutation Column('Advice', 6) outside any region, on row 38".to_string(),
        ]
    );
}

#[test]
fn changed_activation_changes_the_commitment() {
    // The producer hands on a different value than the one the instance committed to.
    let values = activations(13, 19);
    let expected = commit_activations(&values);
    let mut changed = values.clone();
    changed[8] += 1;
    let prover = mock(changed, Tamper::None, expected);
    assert_eq!(failures(&prover), instance_mismatch(13));
}

#[test]
fn tampered_state_cell_breaks_both_neighbouring_rounds() {
    // Row 10 is a partial-round pair; its s1 is checked by row 9's `s1'` and enters row
    // 10's `m0` and (through m1, m2) all three next-state constraints.
    let values = activations(7, 11);
    let expected = commit_activations(&values);
    let prover = mock(values, Tamper::Trace { row: 10, column: 1 }, expected);
    let pair = "poseidon partial round pair";
    assert_eq!(
        failures(&prover),
        vec![
            constraint(2, "m0 = (M·(a^5, s1 + c1, s2 + c2))_0", 1, pair, 10),
            constraint(5, "s0' = (M·(b^5, m1 + c4, m2 + c5))_0", 1, pair, 10),
            constraint(6, "s1' = (M·(b^5, m1 + c4, m2 + c5))_1", 1, pair, 10),
            constraint(6, "s1' = (M·(b^5, m1 + c4, m2 + c5))_1", 1, pair, 9),
            constraint(7, "s2' = (M·(b^5, m1 + c4, m2 + c5))_2", 1, pair, 10),
        ]
    );
}

#[test]
fn tampered_sbox_cell_breaks_its_round() {
    // Row 1 is the first full round; trace column 6 is x4_0.
    let values = activations(3, 23);
    let expected = commit_activations(&values);
    let prover = mock(values, Tamper::Trace { row: 1, column: 6 }, expected);
    let full = "poseidon full round";
    assert_eq!(
        failures(&prover),
        vec![
            // A constraint that queries only advice columns is located by row alone.
            "Constraint 3 ('x4_0 = x2_0^2') in gate 0 ('poseidon full round') outside any region, on row 1"
                .to_string(),
            constraint(6, "s0' = (M·x^5)_0", 0, full, 1),
            constraint(7, "s1' = (M·x^5)_1", 0, full, 1),
            constraint(8, "s2' = (M·x^5)_2", 0, full, 1),
        ]
    );
}

#[test]
fn wrong_commitment_in_instance_is_rejected() {
    let values = activations(7, 13);
    let wrong = commit_activations(&values) + Fr::ONE;
    let prover = mock(values, Tamper::None, wrong);
    assert_eq!(failures(&prover), instance_mismatch(7));
}

#[test]
fn swapped_activations_change_the_commitment() {
    let values = activations(7, 17);
    let expected = commit_activations(&values);
    let mut swapped = values.clone();
    swapped.swap(2, 5);
    assert_ne!(commit_activations(&swapped), expected);
    let prover = mock(values, Tamper::Swap(2, 5), expected);
    assert_eq!(failures(&prover), instance_mismatch(7));
}

// ---------------------------------------------------------------- hashing field elements

#[derive(Clone, Debug)]
struct HashCircuit {
    capacity: Fr,
    elements: Vec<Fr>,
}

impl Circuit<Fr> for HashCircuit {
    type Config = TestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
        CommitCircuit::configure(meta)
    }

    fn synthesize(&self, config: TestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let chip = PoseidonChip::construct(config.poseidon.clone());
        let cells: Vec<AssignedFr<'_>> = layouter.assign_region(
            || "elements",
            |mut region| {
                Ok(self
                    .elements
                    .iter()
                    .enumerate()
                    .map(|(i, &e)| region.assign_advice(config.producer, i, Value::known(e)))
                    .collect())
            },
        )?;
        let hash = layouter.assign_region(
            || "poseidon hash",
            |mut region| chip.hash_elements(&mut region, 0, self.capacity, &cells),
        )?;
        layouter.constrain_instance(hash.cell(), config.instance, 0);
        Ok(())
    }
}

fn hash_failures(capacity: Fr, elements: Vec<Fr>, expected: Fr) -> Vec<String> {
    let circuit = HashCircuit { capacity, elements };
    match MockProver::run(8, &circuit, vec![vec![expected]]) {
        Ok(prover) => failures(&prover),
        Err(e) => panic!("synthesis failed: {e:?}"),
    }
}

#[test]
fn chip_hashes_elements_like_poseidon_primitives() {
    let e: Vec<Fr> = (0..5u64).map(|i| -Fr::from(i * 7919 + 3) * two_pow(200)).collect();
    let expected = [
        crate_hash([e[0]]),
        crate_hash([e[0], e[1]]),
        crate_hash([e[0], e[1], e[2]]),
        crate_hash([e[0], e[1], e[2], e[3]]),
        crate_hash([e[0], e[1], e[2], e[3], e[4]]),
    ];
    for (l, &want) in (1..=5).zip(&expected) {
        let capacity = Fr::from_u128((l as u128) << 64);
        assert_eq!(sponge_hash(capacity, &e[..l]), want);
        assert_eq!(CommitTrace::sponge(Absorb::Elements, capacity, &e[..l]).commitment(), want);
        assert_eq!(hash_failures(capacity, e[..l].to_vec(), want), Vec::<String>::new(), "L = {l}");
    }
    assert_eq!(Absorb::Elements.rows(5), 3 * 38 + 1);
}

#[test]
fn changed_element_changes_the_hash() {
    let e: Vec<Fr> = (1..=3u64).map(Fr::from).collect();
    let capacity = Fr::from_u128(3 << 64);
    let want = sponge_hash(capacity, &e);
    let mut changed = e.clone();
    changed[2] += Fr::ONE;
    assert_eq!(
        hash_failures(capacity, changed, want),
        vec![
            format!(
                "permutation Column('Advice', 1) outside any region, on row {}",
                Absorb::Elements.rows(3) - 1
            ),
            "permutation Column('Instance', 0) outside any region, on row 0".to_string(),
        ]
    );
}

// ---------------------------------------------------------------- a real proof

/// Keygen (without witnesses), prove and verify; `Ok(false)` when the proof is rejected.
fn prove_and_verify(values: Vec<i64>, commitment: Fr) -> Result<bool, Error> {
    let k = k_for(values.len());
    let params = ParamsKZG::<Bn256>::setup(k, StdRng::seed_from_u64(42));
    let circuit = CommitCircuit { values, known: true, tamper: Tamper::None };
    let vk = keygen_vk(&params, &circuit.without_witnesses())?;
    let pk = keygen_pk(&params, vk, &circuit.without_witnesses())?;
    // The prover is handed the honest commitment; the verifier gets `commitment`.
    let honest = [commit_activations(&circuit.values)];
    let mut transcript = Blake2bWrite::<_, G1Affine, Challenge255<_>>::init(vec![]);
    create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(
        &params,
        &pk,
        &[circuit],
        &[&[&honest]],
        StdRng::seed_from_u64(7),
        &mut transcript,
    )?;
    let proof = transcript.finalize();
    let mut transcript = Blake2bRead::<_, G1Affine, Challenge255<_>>::init(&proof[..]);
    let verified = verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, _>(
        &params,
        pk.get_vk(),
        SingleStrategy::new(&params),
        &[&[&[commitment]]],
        &mut transcript,
    );
    Ok(verified.is_ok())
}

#[test]
fn real_proof_binds_the_commitment() -> Result<(), Error> {
    let values = activations(13, 29);
    let honest = commit_activations(&values);
    assert!(prove_and_verify(values.clone(), honest)?);
    assert!(!prove_and_verify(values, honest + Fr::ONE)?);
    Ok(())
}
