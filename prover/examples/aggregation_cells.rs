//! Measures what verifying chosen chunk proofs of a bundle in-circuit costs: builds their
//! aggregation circuit (keygen stage, no proof) and prints the cells and columns
//! `calculate_params` chose. The calibration of `zkinfer_prover::aggregate::estimate`.
//!
//! `cargo run --release -p zkinfer-prover --example aggregation_cells -- BUNDLE KEYS K 0,1,2`

use std::path::Path;
use std::time::Instant;

use snark_verifier_sdk::snark_verifier::loader::halo2::halo2_ecc::halo2_base::gates::circuit::CircuitBuilderStage;
use zkinfer_prover::aggregate::circuit;
use zkinfer_prover::aggregate::estimate::commitments;
use zkinfer_prover::chain::{chain_roles, chain_snarks, model_id_of, ModelKeys};
use zkinfer_prover::{Bundle, SrsCache, VerifierParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bundle, keys, k, chosen] = args.as_slice() else {
        return Err("usage: aggregation_cells BUNDLE KEYS K CHUNKS (e.g. 0,1,2)".into());
    };
    let bundle = Bundle::read(Path::new(bundle))?;
    let keys = ModelKeys::read(Path::new(keys))?;
    let k: u32 = k.parse()?;
    let chosen: Vec<usize> = chosen.split(',').map(str::parse).collect::<Result<_, _>>()?;
    if let Some(bad) = chosen.iter().find(|&&i| i >= bundle.chunks.len()) {
        return Err(format!("the bundle has {} chunks, not {}", bundle.chunks.len(), bad + 1).into());
    }
    let srs = SrsCache::from_env()?.insecure(k)?;
    let all = chain_snarks(&bundle, &keys, &VerifierParams::from_srs(&srs));
    let roles = chain_roles(&keys);
    let snarks: Vec<_> = chosen.iter().map(|&i| all[i].clone()).collect();
    let roles: Vec<_> = chosen.iter().map(|&i| roles[i]).collect();
    for (i, s) in chosen.iter().zip(&snarks) {
        println!(
            "chunk {i}: {} key commitments, proof commitments per phase {:?}, {} evaluations ({} in all)",
            s.protocol.preprocessed.len(),
            s.protocol.num_witness,
            s.protocol.evaluations.len(),
            commitments(s)
        );
    }
    let start = Instant::now();
    let model_id = model_id_of(&keys.model_id)?;
    let mut c = circuit::build(
        CircuitBuilderStage::Keygen,
        circuit::initial_config(k),
        &srs,
        &snarks,
        &roles,
        &model_id,
    );
    let config = c.calculate_params(Some(20));
    let stats = c.builder.statistics();
    println!("built in {:.1} s: {config:?}", start.elapsed().as_secs_f64());
    println!(
        "advice cells per phase {:?}, lookup cells {:?}",
        stats.gate.total_advice_per_phase, stats.total_lookup_advice_per_phase
    );
    Ok(())
}
