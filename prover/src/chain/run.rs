//! Setup, proving and verification of a model's chunk chain.

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::plonk::{Circuit, VerifyingKey};
use zkinfer_circuits::argmax::Prior;
use zkinfer_circuits::head::check_chain;
use zkinfer_quantize::qmodel::file::QuantizedModel;

use super::check::chunk_vk;
use super::chunk::{chunk_inputs, prove_chunk_keyed, ChunkInput};
use super::keys_file::{ChunkKey, ModelKeys};
use super::plan::{plan_chunks, ChunkKind};
use crate::bundle::{Bundle, BundleError, ChunkProof};
use crate::keys::{keygen, vk_hash, KeyCache, KeyError, ShapeId, VkHash};
use crate::prove::{prove, ProveError};
use crate::srs::{Srs, SrsCache, SrsError};
use crate::verifier_params::VerifierParams;

/// Why a chain could not be set up, proved or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A keys file lists a chunk larger than the reader accepts; its key was not decoded.
    #[error(
        "keys file: chunk {index} ({kind}) is a circuit of 2^{k} rows, more than the 2^{max_k} accepted \
         (its verifying key alone would take memory in proportion to 2^{k})"
    )]
    KeyTooLarge {
        /// The chunk.
        index: usize,
        /// What it claims to prove.
        kind: String,
        /// Its circuit's `log2` rows.
        k: u32,
        /// The most accepted.
        max_k: u32,
    },
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
    #[error("chunk {index}, {kind}: {source}")]
    Prove {
        /// The chunk.
        index: usize,
        /// What it proves (the block, the layer, or the head slice).
        kind: Box<ChunkKind>,
        /// Why.
        source: ProveError,
    },
    /// A chunk's keys could not be made.
    #[error("chunk {index}, {kind}: {source}")]
    ChunkKeys {
        /// The chunk.
        index: usize,
        /// What it proves.
        kind: Box<ChunkKind>,
        /// Why.
        source: KeyError,
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
    /// The chunk proofs could not be aggregated.
    #[error("aggregation: {0}")]
    Aggregate(#[from] crate::aggregate::AggregateError),
    /// A chunk's public instances are not `[input commitment, output commitment]`.
    #[error("chunk {index}: public instances are not one column of two commitments")]
    InstanceShape {
        /// The chunk.
        index: usize,
    },
    /// The head slices are malformed or do not chain.
    #[error("head: {0}")]
    Head(String),
    /// The keys list the chunks in an order the chain cannot have.
    #[error("the keys list {0}")]
    ChunkOrder(String),
    /// A chunk's input or output activations have the wrong length.
    #[error("chunk {index}: the {what} has {got} values, the model's chunk takes {expected}")]
    InputShape {
        /// The chunk.
        index: usize,
        /// Which activations.
        what: &'static str,
        /// `tokens × hidden size`.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// A chunk does not start where the previous one ended.
    #[error("chunk {index}: its input commitment is not chunk {}'s output commitment (chunks swapped, missing or from another run)", index - 1)]
    BrokenChain {
        /// The chunk.
        index: usize,
    },
}

/// What a verified chain proves: this model turned the tokens whose embeddings are
/// committed to by `input_commitment` into the residual stream committed to by
/// `output_commitment`, and that into the next token `next_token` (logit `next_logit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainOutcome {
    /// The model id.
    pub model_id: String,
    /// Chunks verified.
    pub chunks: usize,
    /// Commitment to the first chunk's input (the embeddings of the tokens).
    pub input_commitment: Fr,
    /// Commitment to the last block's output.
    pub output_commitment: Fr,
    /// The proven next token.
    pub next_token: u64,
    /// Its logit (in the model's logit scale).
    pub next_logit: i128,
}

/// A phase of one chunk's proof, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkPhase {
    /// Making (or loading from the key cache) the chunk's proving key.
    Keygen,
    /// Synthesizing the witness, committing to it and opening the commitments.
    Prove,
}

impl std::fmt::Display for ChunkPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChunkPhase::Keygen => "keygen",
            ChunkPhase::Prove => "prove",
        })
    }
}

/// What proving a chain is doing, as it happens.
#[derive(Clone, Debug, PartialEq)]
pub enum ChainEvent {
    /// The chunks to prove, in chain order; next, the integer pass computes their inputs.
    Planned(Vec<ChunkKind>),
    /// Chunk `index` enters `phase`.
    Phase {
        /// Position in the chain.
        index: usize,
        /// The phase it enters.
        phase: ChunkPhase,
    },
    /// Chunk `index` is proved.
    Proved(ChunkReport),
}

/// What proving one chunk took.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkReport {
    /// Position in the chain.
    pub index: usize,
    /// What it proves.
    pub kind: ChunkKind,
    /// Seconds to make (or load) its proving key.
    pub keygen_seconds: f64,
    /// Seconds to prove.
    pub prove_seconds: f64,
    /// Proof size in bytes.
    pub proof_bytes: usize,
}

fn shape_id<C: Circuit<Fr>>(model: &QuantizedModel, circuit: &C, kind: &ChunkKind, t: usize) -> ShapeId {
    let declared = format!("{}/{kind}/t{t}", model.model_id());
    ShapeId::new(circuit, declared.as_bytes())
}

pub(super) fn srs_at(srs: &Srs, cache: &SrsCache, k: u32) -> Result<Srs, ChainError> {
    Ok(cache.downsized(srs, k)?)
}

/// Makes the verifying key of every chunk of `model` for `t` tokens, with chunks of at most
/// `2^max_k` rows; `progress(done, total)` after each. Proving keys are made when proving
/// (a GB or more each; [`prove_chain`] caches them only when asked).
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
        let vk = chunk_vk(spec, srs, srs_cache)?;
        chunks.push(ChunkKey { kind: spec.kind, vk_hash: vk_hash(&vk), vk });
        progress(chunks.len(), specs.len());
    }
    Ok(ModelKeys {
        model_id: model.model_id().to_string(),
        tokens: t,
        srs_verifier_digest: VerifierParams::from_srs(srs).digest(),
        chunks,
    })
}

/// Keygen (or the cache), a check that the key is the listed one (when one is listed), and
/// the proof; returns the proof, the keygen and proving seconds and the verifying key.
#[allow(clippy::too_many_arguments)]
pub(super) fn prove_one<C: Circuit<Fr>>(
    model: &QuantizedModel,
    index: usize,
    kind: &ChunkKind,
    vk_hash_listed: Option<&VkHash>,
    circuit: C,
    instances: Vec<Vec<Fr>>,
    srs: &Srs,
    key_cache: Option<&KeyCache>,
    t: usize,
    phase: &mut dyn FnMut(ChunkPhase),
) -> Result<(ChunkProof, f64, f64, VerifyingKey<G1Affine>), ChainError> {
    phase(ChunkPhase::Keygen);
    let start = std::time::Instant::now();
    let keys_error = |source| ChainError::ChunkKeys { index, kind: Box::new(*kind), source };
    let pk = match key_cache {
        Some(cache) => {
            cache.load_or_keygen(srs, &circuit, &shape_id(model, &circuit, kind, t)).map_err(keys_error)?.0
        }
        None => keygen(srs, &circuit).map_err(keys_error)?,
    };
    if vk_hash_listed.is_some_and(|listed| vk_hash(pk.get_vk()) != *listed) {
        return Err(ChainError::BadKeys(format!(
            "chunk {index}: the model's key for {kind} is not the listed one (keys made by another \
             zkinfer version or for another model: make them again with `zkinfer setup`)"
        )));
    }
    let keygen_s = start.elapsed().as_secs_f64();
    phase(ChunkPhase::Prove);
    let start = std::time::Instant::now();
    let proof = prove(srs, &pk, circuit, instances).map_err(|source| ChainError::Prove {
        index,
        kind: Box::new(*kind),
        source,
    })?;
    let chunk = ChunkProof::new(index as u32, pk.get_vk(), proof);
    Ok((chunk, keygen_s, start.elapsed().as_secs_f64(), pk.get_vk().clone()))
}

/// Runs the integer model on `tokens` and proves every chunk `keys` lists; returns the
/// bundle and the proven next token. Proving keys come from `key_cache` when given (and
/// are stored there), else are made for each chunk and dropped. `report` gets the plan,
/// each chunk's phases and each chunk's timings as it is done.
#[allow(clippy::too_many_arguments)]
pub fn prove_chain(
    model: &QuantizedModel,
    tokens: &[u32],
    keys: &ModelKeys,
    srs: &Srs,
    srs_cache: &SrsCache,
    key_cache: Option<&KeyCache>,
    report: &mut dyn FnMut(ChainEvent),
) -> Result<(Bundle, Prior), ChainError> {
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
    let listed: Vec<(ChunkKind, Option<VkHash>)> =
        keys.chunks.iter().map(|c| (c.kind, Some(c.vk_hash))).collect();
    let (proofs, _, best) = prove_listed(model, tokens, &listed, srs, srs_cache, key_cache, report)?;
    Ok((Bundle::new(model.model_id(), &VerifierParams::from_srs(srs), proofs), best))
}

/// The integer pass over `tokens` and a proof of each chunk `listed` (its kind, and the
/// verifying-key hash its proving key must have, if one is listed); returns the proofs,
/// their verifying keys and the proven next token.
#[allow(clippy::type_complexity)]
fn prove_listed(
    model: &QuantizedModel,
    tokens: &[u32],
    listed: &[(ChunkKind, Option<VkHash>)],
    srs: &Srs,
    srs_cache: &SrsCache,
    key_cache: Option<&KeyCache>,
    report: &mut dyn FnMut(ChainEvent),
) -> Result<(Vec<ChunkProof>, Vec<VerifyingKey<G1Affine>>, Prior), ChainError> {
    let t = tokens.len();
    let kinds: Vec<ChunkKind> = listed.iter().map(|(kind, _)| *kind).collect();
    report(ChainEvent::Planned(kinds.clone()));
    let inputs = chunk_inputs(model, tokens, &kinds)?;
    let (mut proofs, mut vks) = (Vec::with_capacity(kinds.len()), Vec::with_capacity(kinds.len()));
    let mut best: Option<Prior> = None;
    for (index, ((kind, vk_hash), input)) in listed.iter().zip(&inputs).enumerate() {
        let (proof, chunk_report, vk) = prove_chunk_keyed(
            model,
            t,
            index,
            *kind,
            vk_hash.as_ref(),
            input,
            srs,
            srs_cache,
            key_cache,
            &mut |phase| report(ChainEvent::Phase { index, phase }),
        )?;
        if let ChunkInput::Head { best: slice_best, .. } = input {
            best = Some(*slice_best);
        }
        report(ChainEvent::Proved(chunk_report));
        proofs.push(proof);
        vks.push(vk);
    }
    let best = best.ok_or_else(|| ChainError::ChunkOrder("no head slice".into()))?;
    Ok((proofs, vks, best))
}

/// [`setup`] and [`prove_chain`] in one pass, for a run without a keys file: each chunk's
/// verifying key comes out of its proving key instead of a keygen of its own (a SmolLM2
/// layer's verifying key alone takes about as long as a third of its proof). Returns the
/// bundle, the proven next token and the keys (the same [`setup`] makes). `report` gets what
/// [`prove_chain`]'s does.
pub fn prove_chain_fresh(
    model: &QuantizedModel,
    tokens: &[u32],
    max_k: u32,
    srs: &Srs,
    srs_cache: &SrsCache,
    key_cache: Option<&KeyCache>,
    report: &mut dyn FnMut(ChainEvent),
) -> Result<(Bundle, Prior, ModelKeys), ChainError> {
    let t = tokens.len();
    // Only the kinds: the plan's constants (every layer's weights) are not kept while proving.
    let kinds: Vec<ChunkKind> = plan_chunks(model, t, max_k)?.into_iter().map(|s| s.kind).collect();
    let listed: Vec<(ChunkKind, Option<VkHash>)> = kinds.iter().map(|&k| (k, None)).collect();
    let (proofs, vks, best) = prove_listed(model, tokens, &listed, srs, srs_cache, key_cache, report)?;
    let chunks =
        kinds.into_iter().zip(vks).map(|(kind, vk)| ChunkKey { kind, vk_hash: vk_hash(&vk), vk }).collect();
    let params = VerifierParams::from_srs(srs);
    let keys = ModelKeys {
        model_id: model.model_id().to_string(),
        tokens: t,
        srs_verifier_digest: params.digest(),
        chunks,
    };
    Ok((Bundle::new(model.model_id(), &params, proofs), best, keys))
}

/// Accepts `bundle` only if it is for the keys' model, was made with `params`' SRS, has one
/// proof per listed chunk, every proof verifies under its listed key, each block chunk's
/// input commitment is the previous one's output commitment, and the head slices start
/// from the last block's output and chain to the next token.
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
    let blocks = keys.chunks.iter().take_while(|c| matches!(c.kind, ChunkKind::Block { .. })).count();
    if blocks == 0 || blocks == keys.chunks.len() {
        return Err(ChainError::ChunkOrder("no block chunk or no head slice".into()));
    }
    if keys.chunks[blocks..].iter().any(|c| !matches!(c.kind, ChunkKind::Head { .. })) {
        return Err(ChainError::ChunkOrder("a block chunk after the head".into()));
    }
    let vks: Vec<_> = keys.chunks.iter().map(|c| c.vk.clone()).collect();
    bundle.verify(params, &vks)?;
    let mut ends: Vec<(Fr, Fr)> = Vec::with_capacity(blocks);
    for (index, chunk) in bundle.chunks[..blocks].iter().enumerate() {
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
    let mut slices = Vec::with_capacity(bundle.chunks.len() - blocks);
    for (i, chunk) in bundle.chunks[blocks..].iter().enumerate() {
        let [column] = chunk.instances.as_slice() else {
            return Err(ChainError::InstanceShape { index: blocks + i });
        };
        slices.push(column.clone());
    }
    let (head_input, best) = check_chain(&slices).map_err(|e| ChainError::Head(e.to_string()))?;
    let (first, last) = (ends[0], ends[blocks - 1]);
    if head_input != last.1 {
        return Err(ChainError::BrokenChain { index: blocks });
    }
    Ok(ChainOutcome {
        model_id: bundle.model_id.clone(),
        chunks: bundle.chunks.len(),
        input_commitment: first.0,
        output_commitment: last.1,
        next_token: best.index,
        next_logit: best.logit,
    })
}
