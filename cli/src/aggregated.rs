//! What `aggregate`, `export-verifier` and `verify` share for aggregated proofs: the
//! verifier's three SRS points, checked against the ones the proof was made with.

use std::path::Path;

use anyhow::{bail, Context, Result};
use zkinfer_prover::{AggregatedProof, Srs, SrsCache, VerifierParams};

/// The verifier params for `agg`: from `srs` (a params file, or verifier params written by
/// `VerifierParams::write`) when given, else the INSECURE dev SRS's when the proof says it
/// was made with it. Refuses points that are not the proof's.
pub fn verifier_params(agg: &AggregatedProof, srs: Option<&Path>) -> Result<VerifierParams> {
    let params = match srs {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("SRS {}", path.display()))?;
            match VerifierParams::from_bytes(&bytes) {
                Ok(vp) => vp,
                Err(_) => VerifierParams::from_srs(
                    &Srs::load(path).with_context(|| format!("SRS {}", path.display()))?,
                ),
            }
        }
        None if agg.srs.is_insecure() => {
            // Every size of the dev SRS has the same three verifier points: take the smallest.
            VerifierParams::from_srs(&SrsCache::from_env()?.insecure(4)?)
        }
        None => {
            bail!("the proof was made with {}: pass --srs with that SRS (or its verifier params)", agg.srs)
        }
    };
    if params.digest() != agg.srs_verifier_digest {
        bail!(
            "the SRS given is not the one the proof was made with (verifier digest {} ≠ {})",
            hex::encode(params.digest()),
            hex::encode(agg.srs_verifier_digest)
        );
    }
    Ok(params)
}

/// Reads an aggregated proof file.
pub fn read(path: &Path) -> Result<AggregatedProof> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    AggregatedProof::from_bytes(&bytes)
        .with_context(|| format!("{} is not a valid aggregated proof", path.display()))
}
