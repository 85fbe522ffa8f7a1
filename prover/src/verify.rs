//! Verifying one chunk proof: SHPLONK over KZG with the snark-verifier Poseidon transcript,
//! needing only [`VerifierParams`] and the verifying key.

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{verify_proof, VerifyingKey};
use halo2_proofs::poly::kzg::commitment::KZGCommitmentScheme;
use halo2_proofs::poly::kzg::multiopen::VerifierSHPLONK;
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use snark_verifier_sdk::halo2::{PoseidonTranscript, POSEIDON_SPEC};
use snark_verifier_sdk::NativeLoader;

use crate::verifier_params::VerifierParams;

/// Why a proof was rejected.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The number of instance columns differs from the circuit's.
    #[error("the circuit has {expected} instance columns, the proof came with {got}")]
    InstanceColumns {
        /// The circuit's count.
        expected: usize,
        /// The count given.
        got: usize,
    },
    /// An instance column holds more values than the circuit has usable rows.
    #[error("instance column {column} holds {len} values; the circuit has room for {max}")]
    InstanceTooLong {
        /// The column.
        column: usize,
        /// Its length.
        len: usize,
        /// The usable rows.
        max: usize,
    },
    /// The proof failed to verify (bad proof, wrong public inputs or wrong key).
    #[error("proof rejected: {0}")]
    Rejected(halo2_proofs::plonk::Error),
    /// The proof verified but has bytes after its end.
    #[error("proof has {extra} trailing bytes")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
}

/// Verifies `proof` of the circuit with verifying key `vk` for the public `instances`
/// (one vector per instance column).
pub fn verify(
    params: &VerifierParams,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Vec<Fr>],
    proof: &[u8],
) -> Result<(), VerifyError> {
    check_instances(vk, instances)?;
    let k = vk.get_domain().k();
    let kzg = params.for_k(k);
    let columns: Vec<&[Fr]> = instances.iter().map(Vec::as_slice).collect();
    let mut stream = proof;
    let mut transcript =
        PoseidonTranscript::<NativeLoader, &mut &[u8]>::from_spec(&mut stream, POSEIDON_SPEC.clone());
    verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<Bn256>, _, _, _>(
        &kzg,
        vk,
        SingleStrategy::new(&kzg),
        &[columns.as_slice()],
        &mut transcript,
    )
    .map_err(VerifyError::Rejected)?;
    drop(transcript);
    if !stream.is_empty() {
        return Err(VerifyError::TrailingBytes { extra: stream.len() });
    }
    Ok(())
}

/// halo2's verifier checks the column count but not the lengths; a column longer than the
/// usable rows would be evaluated past the domain.
pub(crate) fn check_instances(vk: &VerifyingKey<G1Affine>, instances: &[Vec<Fr>]) -> Result<(), VerifyError> {
    let cs = vk.cs();
    let expected = cs.num_instance_columns();
    if instances.len() != expected {
        return Err(VerifyError::InstanceColumns { expected, got: instances.len() });
    }
    let n = 1usize << vk.get_domain().k();
    let max = n.saturating_sub(cs.blinding_factors() + 1);
    match instances.iter().enumerate().find(|(_, column)| column.len() > max) {
        Some((column, values)) => Err(VerifyError::InstanceTooLong { column, len: values.len(), max }),
        None => Ok(()),
    }
}
