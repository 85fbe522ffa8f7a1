//! The hand-off to `snark-verifier-sdk` aggregation: a chunk proof as its [`Snark`], and
//! the native run of the verifier the aggregation circuit embeds.

use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine};
use halo2_proofs::plonk::VerifyingKey;
use snark_verifier_sdk::halo2::{PoseidonTranscript, POSEIDON_SPEC};
use snark_verifier_sdk::snark_verifier::pcs::kzg::KzgDecidingKey;
use snark_verifier_sdk::snark_verifier::system::halo2::{compile, Config};
use snark_verifier_sdk::snark_verifier::verifier::SnarkVerifier;
use snark_verifier_sdk::{NativeLoader, PlonkVerifier, Snark, SHPLONK};

use crate::prove::Proof;
use crate::verifier_params::VerifierParams;

/// snark-verifier rejected a proof.
#[derive(Debug, thiserror::Error)]
#[error("snark-verifier rejects the proof: {0}")]
pub struct SnarkError(String);

/// The chunk proof as a `snark-verifier-sdk` [`Snark`] (protocol compiled from `vk`, no
/// accumulator in the instances), ready for an SHPLONK aggregation circuit.
pub fn to_snark(params: &VerifierParams, vk: &VerifyingKey<G1Affine>, proof: &Proof) -> Snark {
    let kzg = params.for_k(vk.get_domain().k());
    let num_instance = proof.instances.iter().map(Vec::len).collect();
    let protocol = compile(&kzg, vk, Config::kzg().with_num_instance(num_instance));
    Snark::new(protocol, proof.instances.clone(), proof.bytes.clone())
}

/// Runs snark-verifier's native SHPLONK PLONK verifier (the one the aggregation circuit
/// replays in-circuit) on `snark`, including the final pairing check.
pub fn verify_snark(params: &VerifierParams, snark: &Snark) -> Result<(), SnarkError> {
    let (g1, g2, s_g2) = params.points();
    let dk = KzgDecidingKey::<Bn256>::new(g1, g2, s_g2);
    let mut transcript =
        PoseidonTranscript::<NativeLoader, &[u8]>::from_spec(snark.proof(), POSEIDON_SPEC.clone());
    let proof = PlonkVerifier::<SHPLONK>::read_proof(&dk, &snark.protocol, &snark.instances, &mut transcript)
        .map_err(|e| SnarkError(format!("{e:?}")))?;
    PlonkVerifier::<SHPLONK>::verify(&dk, &snark.protocol, &snark.instances, &proof)
        .map_err(|e| SnarkError(format!("{e:?}")))
}
