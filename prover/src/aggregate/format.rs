//! The aggregated-proof file (version 2).
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `ZKIAGG\0\x02` |
//! | 4 | header length `h` (`u32` LE) |
//! | h | JSON header: `model_id` (hex), `config` (the final circuit's shape), `levels`, `srs` (its kind), `srs_verifier_digest` (hex) |
//! | 4 | public input count `n` (`u32` LE) |
//! | 32·n | public inputs, canonical little-endian field elements |
//! | 4 | proof length `p` (`u32` LE) |
//! | p | proof bytes |
//! | rest | the final verifying key ([`crate::keys::vk_to_bytes`]) |

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::PrimeField;
use serde::{Deserialize, Serialize};
use snark_verifier_sdk::halo2::aggregation::{AggregationCircuit, AggregationConfigParams};

use super::circuit::NUM_PUBLIC_INPUTS;
use super::{AggregatedProof, LevelReport, ModelId};
use crate::keys::{vk_from_bytes, vk_to_bytes, KeyError};
use crate::srs::SrsKind;

const MAGIC: &[u8; 8] = b"ZKIAGG\0\x02";

/// Why bytes are not an aggregated proof.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The bytes end early.
    #[error("aggregated proof is truncated: {what} is missing")]
    Truncated {
        /// What was being read.
        what: &'static str,
    },
    /// The magic or version is not ours.
    #[error("not a zkinfer aggregated proof (version 2): bad magic")]
    BadMagic,
    /// The JSON header does not parse.
    #[error("aggregated proof header is invalid: {0}")]
    Header(#[from] serde_json::Error),
    /// A model id that is not 64 hex digits.
    #[error("aggregated proof header has an invalid model id {0:?}")]
    ModelId(String),
    /// An SRS digest that is not 64 hex digits.
    #[error("aggregated proof header has an invalid SRS digest {0:?}")]
    SrsDigest(String),
    /// The public input count is not the aggregation circuit's.
    #[error("aggregated proof has {got} public inputs; the aggregation circuit has {NUM_PUBLIC_INPUTS}")]
    PublicInputCount {
        /// The count found.
        got: usize,
    },
    /// A public input is not a canonical field element.
    #[error("public input {index} is not a canonical field element")]
    FieldElement {
        /// Its index.
        index: usize,
    },
    /// The verifying key does not read back.
    #[error("aggregated proof's verifying key: {0}")]
    Vk(#[from] KeyError),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    model_id: String,
    config: AggregationConfigParams,
    levels: Vec<LevelReport>,
    srs: SrsKind,
    srs_verifier_digest: String,
}

impl AggregatedProof {
    /// Whether `bytes` start like an aggregated-proof file (any version).
    pub fn looks_aggregated(bytes: &[u8]) -> bool {
        bytes.starts_with(&MAGIC[..6])
    }

    /// Encodes as described in the module docs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = Header {
            model_id: self.model_id.to_string(),
            config: self.config,
            levels: self.levels.clone(),
            srs: self.srs.clone(),
            srs_verifier_digest: hex::encode(self.srs_verifier_digest),
        };
        // A struct of strings, integers and floats always serializes.
        let header = serde_json::to_vec(&header).unwrap_or_default();
        let mut out = MAGIC.to_vec();
        push_len(&mut out, header.len());
        out.extend_from_slice(&header);
        push_len(&mut out, self.instances.len());
        for value in &self.instances {
            out.extend_from_slice(&value.to_repr());
        }
        push_len(&mut out, self.proof.len());
        out.extend_from_slice(&self.proof);
        out.extend_from_slice(&vk_to_bytes(&self.vk));
        out
    }

    /// Decodes bytes from [`Self::to_bytes`]. The result is not verified.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut rest = bytes;
        if take(&mut rest, MAGIC.len(), "magic")? != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let len = take_len(&mut rest, "header length")?;
        let header: Header = serde_json::from_slice(take(&mut rest, len, "header")?)?;
        let mut model_id = [0u8; 32];
        hex::decode_to_slice(&header.model_id, &mut model_id)
            .map_err(|_| FormatError::ModelId(header.model_id.clone()))?;
        let mut srs_verifier_digest = [0u8; 32];
        hex::decode_to_slice(&header.srs_verifier_digest, &mut srs_verifier_digest)
            .map_err(|_| FormatError::SrsDigest(header.srs_verifier_digest.clone()))?;
        let count = take_len(&mut rest, "public input count")?;
        if count != NUM_PUBLIC_INPUTS {
            return Err(FormatError::PublicInputCount { got: count });
        }
        let mut instances = Vec::with_capacity(count);
        for index in 0..count {
            let mut repr = [0u8; 32];
            repr.copy_from_slice(take(&mut rest, 32, "public inputs")?);
            let value = Option::from(Fr::from_repr(repr)).ok_or(FormatError::FieldElement { index })?;
            instances.push(value);
        }
        let len = take_len(&mut rest, "proof length")?;
        let proof = take(&mut rest, len, "proof")?.to_vec();
        let vk = vk_from_bytes::<AggregationCircuit>(rest, header.config, header.config.degree)?;
        Ok(Self {
            model_id: ModelId(model_id),
            instances,
            proof,
            vk,
            config: header.config,
            levels: header.levels,
            srs: header.srs,
            srs_verifier_digest,
        })
    }
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    // Headers, proofs and public inputs are far below 4 GiB.
    out.extend_from_slice(&(len as u32).to_le_bytes());
}

fn take<'a>(rest: &mut &'a [u8], len: usize, what: &'static str) -> Result<&'a [u8], FormatError> {
    if rest.len() < len {
        return Err(FormatError::Truncated { what });
    }
    let (head, tail) = rest.split_at(len);
    *rest = tail;
    Ok(head)
}

fn take_len(rest: &mut &[u8], what: &'static str) -> Result<usize, FormatError> {
    let bytes = take(rest, 4, what)?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
}
