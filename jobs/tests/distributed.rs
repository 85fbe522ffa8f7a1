//! End to end, with real proofs: three in-process workers on loopback prove a one-block
//! synthetic model (one block chunk and one head slice, both k = 15 since the tables fold) for
//! a coordinator that serves the model by hash, verifies every proof before accepting it, and
//! assembles the bundle, which `verify_chain` accepts with the integer reference's commitments
//! and next token.
//!
//! Setup 38.8 s and the distributed prove 222.7 s (262 s in all) on the 2-core development
//! machine while another proving test ran beside it; at k = 17 it took 853 s and 10 GB.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use zkinfer_circuits::poseidon::commit_activations;
use zkinfer_jobs::{plan_jobs, ChunkExecutor, ModelStore};
use zkinfer_network::protocol::Capabilities;
use zkinfer_network::{
    Allowlist, Coordinator, CoordinatorConfig, Keypair, RunEvent, WorkerConfig, WorkerHandle,
};
use zkinfer_prover::chain::{setup, verify_chain};
use zkinfer_prover::{SrsCache, VerifierParams};
use zkinfer_quantize::config::LlamaConfig;
use zkinfer_quantize::int::forward;
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
use zkinfer_quantize::synthetic::{tiny_config, SyntheticModel};

const TOKENS: [u32; 4] = [3, 141, 59, 26];
const MAX_K: u32 = 17;

fn one_block_model(dir: &std::path::Path) -> QuantizedModel {
    let path = dir.join("one-block.zkq");
    let src = SyntheticModel::new(LlamaConfig { num_hidden_layers: 1, ..tiny_config() }, 7);
    let prompts = vec![(0..40).map(|i| (i * 37 % 256) as u32).collect::<Vec<u32>>()];
    let opts = QuantOptions { max_seq: 16, ..QuantOptions::default() };
    quantize_to_file(&src, &prompts, &opts, &path, &mut |_, _, _| {}).unwrap();
    QuantizedModel::open(&path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_prove_a_model_whose_bundle_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let model = one_block_model(dir.path());
    let model_bytes = std::fs::read(model.path()).unwrap();
    let srs_cache = SrsCache::from_env().unwrap();
    let srs = srs_cache.insecure(MAX_K).unwrap();
    let start = Instant::now();
    let keys = setup(&model, TOKENS.len(), MAX_K, &srs, &srs_cache, &mut |_, _| {}).unwrap();
    eprintln!("setup: {} chunks in {:.1} s", keys.chunks.len(), start.elapsed().as_secs_f64());
    let keys = Arc::new(keys);
    let params = VerifierParams::from_srs(&srs);
    let plan = plan_jobs(&model, &model_bytes, &TOKENS, keys.clone(), params.clone()).unwrap();
    assert_eq!(plan.jobs.len(), 2, "one block chunk and one head slice");

    let coordinator = Keypair::generate_ed25519();
    let worker_keys: Vec<Keypair> = (0..3).map(|_| Keypair::generate_ed25519()).collect();
    let allowlist = Allowlist::new(worker_keys.iter().chain([&coordinator]).map(|k| k.public().to_peer_id()));
    let mut workers = Vec::new();
    for (i, keypair) in worker_keys.iter().enumerate() {
        let capabilities = Capabilities { cores: 1, max_k: MAX_K, ..Default::default() };
        let config = WorkerConfig::new(
            keypair.clone(),
            "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
            allowlist.clone(),
            capabilities,
        );
        // Each worker keeps its own model copy, fetched from the coordinator by hash.
        let models = ModelStore::new(dir.path().join(format!("worker-{i}")));
        let (srs, srs_cache) = (srs.clone(), srs_cache.clone());
        let worker = WorkerHandle::spawn_with(config, move |fetcher| {
            ChunkExecutor::new(fetcher, models, srs, srs_cache, None)
        })
        .await
        .unwrap();
        workers.push(worker);
    }
    let mut config = CoordinatorConfig::new(coordinator, allowlist, dir.path().join("results"));
    config.bootstrap = workers.iter().map(|w| w.listen_addrs()[0].clone()).collect();
    config.serve_blobs = vec![model_bytes.clone()];
    config.job_timeout = Duration::from_secs(3600);
    config.run_timeout = Some(Duration::from_secs(7200));
    let start = Instant::now();
    let outcome = Coordinator::run(plan.jobs.clone(), config, plan.checker.clone()).await.unwrap();
    eprintln!("distributed prove: {:.1} s", start.elapsed().as_secs_f64());
    for event in &outcome.log {
        eprintln!("{event:?}");
    }
    assert!(
        !outcome.log.iter().any(|e| matches!(e, RunEvent::Rejected { .. })),
        "no honest result is rejected"
    );
    let helpers = outcome.progress.workers.iter().filter(|w| w.accepted > 0).count();
    assert_eq!(helpers, 2, "each chunk went to its own worker: {:?}", outcome.progress.workers);
    let model_file = format!("{}.zkq", zkinfer_network::ContentHash::of(&model_bytes).to_hex());
    for (i, worker) in workers.iter().enumerate() {
        let proved = outcome.progress.workers.iter().any(|w| w.peer == worker.peer_id() && w.accepted > 0);
        let fetched = dir.path().join(format!("worker-{i}")).join(&model_file).exists();
        assert_eq!(proved, fetched, "a worker fetches the model by hash when it gets a job");
    }

    let bundle = plan.assemble(&outcome.results).unwrap();
    let back = zkinfer_prover::Bundle::from_bytes(&bundle.to_bytes()).unwrap();
    let verified = verify_chain(&back, &keys, &params).unwrap();
    let reference = forward(&model, &TOKENS, &mut |_| {}).unwrap();
    assert_eq!(verified.input_commitment, commit_activations(&reference.hidden[0]));
    assert_eq!(verified.output_commitment, commit_activations(&reference.hidden[1]));
    let vocab = reference.logits.len() / TOKENS.len();
    let last = &reference.logits[(TOKENS.len() - 1) * vocab..];
    let argmax = zkinfer_quantize::report::top_k(&last.iter().map(|&v| v as f64).collect::<Vec<_>>(), 1)[0];
    assert_eq!(verified.next_token, u64::from(argmax), "the proven next token is the integer model's");
    assert_eq!(verified.next_token, plan.best().index);
    assert_eq!(verified.next_logit, plan.best().logit);
    for worker in workers {
        worker.shutdown().await;
    }
}
