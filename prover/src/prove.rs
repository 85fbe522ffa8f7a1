//! Proving one circuit: SHPLONK over KZG with the snark-verifier Poseidon transcript, so
//! the proof can be verified natively ([`crate::verify()`]) and inside a
//! `snark-verifier-sdk` aggregation circuit ([`crate::snark::to_snark`]).

use std::panic::{self, AssertUnwindSafe};

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{create_proof, Circuit, ProvingKey};
use halo2_proofs::poly::kzg::commitment::KZGCommitmentScheme;
use halo2_proofs::poly::kzg::multiopen::ProverSHPLONK;
use rand::rngs::OsRng;
use rand::RngCore;
use snark_verifier_sdk::halo2::{PoseidonTranscript, POSEIDON_SPEC};
use snark_verifier_sdk::NativeLoader;
use zkinfer_circuits::failure::{self, Failure};

use crate::srs::Srs;
use crate::verifier_params::VerifierParams;
use crate::verify::{check_instances, verify, VerifyError};

/// A proof and the public inputs it was made for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// The public inputs, one vector per instance column.
    pub instances: Vec<Vec<Fr>>,
    /// The proof bytes (Poseidon transcript, SHPLONK openings).
    pub bytes: Vec<u8>,
}

/// Why no proof came out.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// The SRS size differs from the key's.
    #[error(
        "the proving key is for k = {key_k} but the SRS has k = {srs_k}; downsize the SRS to the key's k"
    )]
    KMismatch {
        /// The key's `k`.
        key_k: u32,
        /// The SRS's `k`.
        srs_k: u32,
    },
    /// The public inputs do not fit the circuit.
    #[error("bad public inputs: {0}")]
    Instances(VerifyError),
    /// A chip refused the witness while the circuit was synthesized (a value outside its
    /// calibrated range, a list of the wrong length, …).
    #[error("{0}")]
    Refused(Box<Failure>),
    /// halo2 returned an error of its own.
    #[error("proving failed: {0}")]
    Halo2(halo2_proofs::plonk::Error),
    /// halo2 panicked, which it does for some unsatisfied witnesses (a lookup input
    /// missing from its table).
    #[error("proving failed: the prover panicked ({0}); the witness likely violates a lookup")]
    Panicked(String),
    /// The proof came out but does not verify: the witness does not satisfy the circuit or
    /// does not match the public inputs.
    #[error("the witness does not satisfy the circuit for these public inputs: {0}")]
    Unsatisfied(VerifyError),
}

impl ProveError {
    /// halo2's `error`, or the chip's refusal recorded behind it (see
    /// [`zkinfer_circuits::failure`]).
    pub fn from_halo2(error: halo2_proofs::plonk::Error) -> Self {
        match failure::explain(&error) {
            Some(refusal) => ProveError::Refused(Box::new(refusal)),
            None => ProveError::Halo2(error),
        }
    }
}

/// Proves `circuit` for `instances` with fresh OS randomness. See [`prove_with_rng`].
pub fn prove<C: Circuit<Fr>>(
    srs: &Srs,
    pk: &ProvingKey<G1Affine>,
    circuit: C,
    instances: Vec<Vec<Fr>>,
) -> Result<Proof, ProveError> {
    prove_with_rng(srs, pk, circuit, instances, OsRng)
}

/// Proves `circuit` for `instances`, drawing blinding factors from `rng` (it must be
/// unpredictable for zero knowledge). `srs` must have the key's `k`. The proof is verified
/// before it is returned (one verification, milliseconds), so an unsatisfied witness is an
/// error here and never a bad proof later.
pub fn prove_with_rng<C: Circuit<Fr>>(
    srs: &Srs,
    pk: &ProvingKey<G1Affine>,
    circuit: C,
    instances: Vec<Vec<Fr>>,
    rng: impl RngCore,
) -> Result<Proof, ProveError> {
    let key_k = pk.get_vk().get_domain().k();
    if key_k != srs.k() {
        return Err(ProveError::KMismatch { key_k, srs_k: srs.k() });
    }
    check_instances(pk.get_vk(), &instances).map_err(ProveError::Instances)?;
    let columns: Vec<&[Fr]> = instances.iter().map(Vec::as_slice).collect();
    let mut transcript =
        PoseidonTranscript::<NativeLoader, Vec<u8>>::from_spec(vec![], POSEIDON_SPEC.clone());
    failure::clear();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<Bn256>, _, _, _, _>(
            srs.params(),
            pk,
            &[circuit],
            &[columns.as_slice()],
            rng,
            &mut transcript,
        )
    }));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(ProveError::from_halo2(e)),
        // halo2-axiom unwraps synthesis errors while proving: a refusal arrives as a panic.
        Err(payload) => {
            return Err(match failure::take() {
                Some(refusal) => ProveError::Refused(Box::new(refusal)),
                None => ProveError::Panicked(panic_message(payload.as_ref())),
            })
        }
    }
    let bytes = transcript.finalize();
    verify(&VerifierParams::from_srs(srs), pk.get_vk(), &instances, &bytes)
        .map_err(ProveError::Unsatisfied)?;
    Ok(Proof { instances, bytes })
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string())
}
