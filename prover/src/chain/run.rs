//! Setup, proving and verification of a model's chunk chain.

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::plonk::ProvingKey;
use zkinfer_circuits::block::{BlockCircuit, BlockConsts, Part};
use zkinfer_quantize::int::{forward_layer, ops};
use zkinfer_quantize::qmodel::file::QuantizedModel;

use super::keys_file::{ChunkKey, ModelKeys};
use super::plan::plan_chunks;
use crate::bundle::{Bundle, BundleError, ChunkProof};
use crate::keys::{keygen, keygen_vk, vk_hash, KeyCache, KeyError, ShapeId};
use crate::prove::{prove, ProveError};
use crate::srs::{Srs, SrsCache, SrsError};
use crate::verifier_params::VerifierParams;

/// Why a chain could not be set up, proved or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The quantized model could not be read.
    #[error("model: {0}")]
    Model(#[from] zkinfer_quantize::error::LoadError),
    /// The integer pass refused the input.
    #[error("model: {0}")]
    Inference(#[from] zkinfer_quantize::error::Error),
    /// A block's constants are outside what the circuits support.
    #[error("block {layer} cannot be proved: {reason}")]
    Unsupported {
        /// The block.
        layer: usize,
        /// Why.
        reason: String,
    },
    /// Even half a block needs more rows than allowed.
    #[error("block {layer} needs 2^{k} rows, more than the limit 2^{max_k}")]
    TooLarge {
        /// The block.
        layer: usize,
        /// Its `k`.
        k: u32,
        /// The limit.
        max_k: u32,
    },
    /// The SRS could not be loaded or downsized.
    #[error("SRS: {0}")]
    Srs(#[from] SrsError),
    /// Keys could not be generated or cached.
    #[error("keys: {0}")]
    Keys(#[from] KeyError),
    /// Proving failed.
    #[error("chunk {index}: {source}")]
    Prove {
        /// The chunk.
        index: usize,
        /// Why.
        source: ProveError,
    },
    /// A keys file is malformed.
    #[error("keys file: {0}")]
    BadKeys(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The prompt's length is not the one the keys are for.
    #[error("the keys are for {keys} tokens, the prompt has {prompt}")]
    TokenCount {
        /// The keys' count.
        keys: usize,
        /// The prompt's.
        prompt: usize,
    },
    /// The bundle, the keys and the model disagree on the model.
    #[error("the bundle is for model {bundle}, the keys for model {keys}")]
    ModelMismatch {
        /// The bundle's model id.
        bundle: String,
        /// The keys' model id.
        keys: String,
    },
    /// The keys were made with another SRS than the verifier's.
    #[error("the keys were made with another SRS than the one given to the verifier")]
    SrsMismatch,
    /// A chunk proof or the bundle is invalid.
    #[error("{0}")]
    Bundle(#[from] BundleError),
    /// A chunk's public instances are not `[input commitment, output commitment]`.
    #[error("chunk {index}: public instances are not one column of two commitments")]
    InstanceShape {
        /// The chunk.
        index: usize,
    },
    /// A chunk does not start where the previous one ended.
    #[error("chunk {index}: its input commitment is not chunk {}'s output commitment (chunks swapped, missing or from another run)", index - 1)]
    BrokenChain {
        /// The chunk.
        index: usize,
    },
}

/// What a verified chain proves: this model turned the residual stream committed to by
/// `input_commitment` into the one committed to by `output_commitment`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainOutcome {
    /// The model id.
    pub model_id: String,
    /// Chunks verified.
    pub chunks: usize,
    /// Commitment to the first chunk's input (the embeddings of the tokens).
    pub input_commitment: Fr,
    /// Commitment to the last chunk's output.
    pub output_commitment: Fr,
}

fn shape_id(model: &QuantizedModel, circuit: &BlockCircuit, layer: usize, part: Part) -> ShapeId {
    let declared = format!("{}/layer{layer}/{part:?}/t{}", model.model_id(), circuit.consts().t);
    ShapeId::new(circuit, declared.as_bytes())
}

fn srs_at(srs: &Srs, cache: &SrsCache, k: u32) -> Result<Srs, ChainError> {
    Ok(cache.downsized(srs, k)?)
}

/// Makes the verifying key of every chunk of `model` for `t` tokens, with chunks of at most
/// `2^max_k` rows; `progress(done, total)` after each. Proving keys are made when proving
/// (they are gigabytes each at `k = 17`; [`prove_chain`] caches them only when asked).
pub fn setup(
    model: &QuantizedModel,
    t: usize,
    max_k: u32,
    srs: &Srs,
    srs_cache: &SrsCache,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ModelKeys, ChainError> {
    let specs = plan_chunks(model, t, max_k)?;
    let mut chunks = Vec::with_capacity(specs.len());
    for spec in &specs {
        let circuit = BlockCircuit::keygen(spec.consts.clone());
        let srs = srs_at(srs, srs_cache, spec.shape.k)?;
        let vk = keygen_vk(&srs, &circuit)?;
        chunks.push(ChunkKey {
            layer: spec.layer,
            part: spec.part,
            shape: spec.shape,
            vk_hash: vk_hash(&vk),
            vk,
        });
        progress(chunks.len(), specs.len());
    }
    Ok(ModelKeys {
        model_id: model.model_id().to_string(),
        tokens: t,
        srs_verifier_digest: VerifierParams::from_srs(srs).digest(),
        chunks,
    })
}

fn proving_key(
    model: &QuantizedModel,
    circuit: &BlockCircuit,
    key: &ChunkKey,
    srs: &Srs,
    key_cache: Option<&KeyCache>,
) -> Result<ProvingKey<G1Affine>, ChainError> {
    match key_cache {
        Some(cache) => {
            Ok(cache.load_or_keygen(srs, circuit, &shape_id(model, circuit, key.layer, key.part))?.0)
        }
        None => Ok(keygen(srs, circuit)?),
    }
}

/// Runs the integer model on `tokens` and proves every chunk `keys` lists; returns the
/// bundle and the last block's output (`[t, d]`, the residual stream before the final
/// norm). Proving keys come from `key_cache` when given (and are stored there), else are
/// made for each chunk and dropped. `progress(done, total)` after each chunk.
pub fn prove_chain(
    model: &QuantizedModel,
    tokens: &[u32],
    keys: &ModelKeys,
    srs: &Srs,
    srs_cache: &SrsCache,
    key_cache: Option<&KeyCache>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Bundle, Vec<i64>), ChainError> {
    if keys.model_id != model.model_id() {
        return Err(ChainError::ModelMismatch {
            bundle: model.model_id().into(),
            keys: keys.model_id.clone(),
        });
    }
    let t = tokens.len();
    if t != keys.tokens {
        return Err(ChainError::TokenCount { keys: keys.tokens, prompt: t });
    }
    zkinfer_quantize::float::check_tokens(tokens, model.config().vocab_size)?;
    let cfg = model.config();
    let params = &model.manifest.body.params;
    let (tables, rope) = (model.tables()?, model.rope()?);
    let mut x = ops::embed(&model.embedding()?, tokens);
    let mut proofs = Vec::with_capacity(keys.chunks.len());
    let mut layer_cache: Option<(
        usize,
        zkinfer_quantize::qmodel::QLayer,
        zkinfer_quantize::int::IntLayerTrace,
    )> = None;
    for (index, key) in keys.chunks.iter().enumerate() {
        if layer_cache.as_ref().is_none_or(|(l, _, _)| *l != key.layer) {
            let q = model.layer(key.layer)?;
            let trace = forward_layer(cfg, params, &q, &tables, &rope, &x, t);
            layer_cache = Some((key.layer, q, trace));
        }
        let Some((_, q, trace)) = &layer_cache else { unreachable!("set above") };
        let (input, output) = match key.part {
            Part::Both => (&x, &trace.out),
            Part::Attention => (&x, &trace.resid_mid),
            Part::Mlp => (&trace.resid_mid, &trace.out),
        };
        let consts = BlockConsts::new(cfg, params, q, &tables, &rope, t, key.part)
            .map_err(|e| ChainError::Unsupported { layer: key.layer, reason: e.to_string() })?;
        let circuit = BlockCircuit::new(std::sync::Arc::new(consts), input.clone());
        if circuit.shape() != key.shape {
            return Err(ChainError::BadKeys(format!("chunk {index}: the keys' shape is not this model's")));
        }
        let srs_k = srs_at(srs, srs_cache, key.shape.k)?;
        let pk = proving_key(model, &circuit, key, &srs_k, key_cache)?;
        if vk_hash(pk.get_vk()) != key.vk_hash {
            return Err(ChainError::BadKeys(format!(
                "chunk {index}: the cached proving key is not the listed one"
            )));
        }
        let instances = BlockCircuit::instances(input, output);
        let proof =
            prove(&srs_k, &pk, circuit, instances).map_err(|source| ChainError::Prove { index, source })?;
        proofs.push(ChunkProof::new(index as u32, pk.get_vk(), proof));
        if matches!(key.part, Part::Both | Part::Mlp) {
            x = trace.out.clone();
        }
        progress(index + 1, keys.chunks.len());
    }
    Ok((Bundle::new(model.model_id(), &VerifierParams::from_srs(srs), proofs), x))
}

/// Accepts `bundle` only if it is for the keys' model, was made with `params`' SRS, has one
/// proof per listed chunk, every proof verifies under its listed key, and each chunk's
/// input commitment is the previous chunk's output commitment.
pub fn verify_chain(
    bundle: &Bundle,
    keys: &ModelKeys,
    params: &VerifierParams,
) -> Result<ChainOutcome, ChainError> {
    if bundle.model_id != keys.model_id {
        return Err(ChainError::ModelMismatch {
            bundle: bundle.model_id.clone(),
            keys: keys.model_id.clone(),
        });
    }
    if params.digest() != keys.srs_verifier_digest {
        return Err(ChainError::SrsMismatch);
    }
    let vks: Vec<_> = keys.chunks.iter().map(|c| c.vk.clone()).collect();
    bundle.verify(params, &vks)?;
    let mut ends = Vec::with_capacity(bundle.chunks.len());
    for (index, chunk) in bundle.chunks.iter().enumerate() {
        let [column] = chunk.instances.as_slice() else {
            return Err(ChainError::InstanceShape { index });
        };
        let [input, output] = column.as_slice() else {
            return Err(ChainError::InstanceShape { index });
        };
        if let Some((_, previous)) = ends.last() {
            if previous != input {
                return Err(ChainError::BrokenChain { index });
            }
        }
        ends.push((*input, *output));
    }
    let (Some(first), Some(last)) = (ends.first(), ends.last()) else {
        return Err(ChainError::InstanceShape { index: 0 });
    };
    Ok(ChainOutcome {
        model_id: bundle.model_id.clone(),
        chunks: ends.len(),
        input_commitment: first.0,
        output_commitment: last.1,
    })
}
