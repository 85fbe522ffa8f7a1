//! The hand-off to `snark-verifier-sdk` aggregation: a chunk proof as its [`Snark`].

use halo2_proofs::halo2curves::bn256::G1Affine;
use halo2_proofs::plonk::VerifyingKey;
use snark_verifier_sdk::snark_verifier::system::halo2::{compile, Config};
use snark_verifier_sdk::Snark;

use crate::prove::Proof;
use crate::verifier_params::VerifierParams;

/// The chunk proof as a `snark-verifier-sdk` [`Snark`] (protocol compiled from `vk`, no
/// accumulator in the instances), ready for an SHPLONK aggregation circuit.
pub fn to_snark(params: &VerifierParams, vk: &VerifyingKey<G1Affine>, proof: &Proof) -> Snark {
    let kzg = params.for_k(vk.get_domain().k());
    let num_instance = proof.instances.iter().map(Vec::len).collect();
    let protocol = compile(&kzg, vk, Config::kzg().with_num_instance(num_instance));
    Snark::new(protocol, proof.instances.clone(), proof.bytes.clone())
}
