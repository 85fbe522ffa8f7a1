//! A worker running the real `ChunkExecutor` on loopback, on jobs it must refuse before
//! proving: it fetches the model by hash from the coordinator, keeps it, and reports a model
//! that is not the one the job names, an SRS that is not its own, a model nobody serves and
//! a malformed payload as clear failures.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use zkinfer_jobs::{ChunkExecutor, ChunkJob, ModelStore};
use zkinfer_network::protocol::Capabilities;
use zkinfer_network::{
    Allowlist, CheckError, Checker, ContentHash, Coordinator, CoordinatorConfig, Job, Keypair, NetworkError,
    WorkerConfig, WorkerHandle,
};
use zkinfer_prover::chain::{BlockShape, ChunkInput, ChunkKind, Part};
use zkinfer_prover::{Srs, SrsCache, VerifierParams, VkHash};
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
use zkinfer_quantize::synthetic::{tiny_config, SyntheticModel};

/// Nothing should get this far.
struct NeverAccept;

impl Checker for NeverAccept {
    fn check(&self, _: &Job, _: &[u8]) -> Result<(), CheckError> {
        Err(CheckError::new("no result is expected"))
    }
}

/// Runs `job` once on a fresh coordinator serving `model_bytes` and returns why it failed.
async fn failure(
    worker: &WorkerHandle,
    allowlist: &Allowlist,
    coordinator: &Keypair,
    model: &[u8],
    job: Job,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut config = CoordinatorConfig::new(coordinator.clone(), allowlist.clone(), dir.path().into());
    config.bootstrap = worker.listen_addrs().to_vec();
    config.serve_blobs = vec![model.to_vec()];
    config.max_attempts = 1;
    config.run_timeout = Some(Duration::from_secs(60));
    match Coordinator::run(vec![job], config, NeverAccept).await.unwrap_err() {
        NetworkError::JobFailed { last_reason, .. } => last_reason,
        other => panic!("expected a failed job, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_fetches_the_model_by_hash_and_refuses_mismatched_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.zkq");
    let src = SyntheticModel::new(tiny_config(), 7);
    let prompts = vec![(0..40).map(|i| (i * 37 % 256) as u32).collect::<Vec<u32>>()];
    let opts = QuantOptions { max_seq: 16, ..QuantOptions::default() };
    quantize_to_file(&src, &prompts, &opts, &path, &mut |_, _, _| {}).unwrap();
    let model = QuantizedModel::open(&path).unwrap();
    let model_bytes = std::fs::read(&path).unwrap();
    let model_hash = ContentHash::of(&model_bytes);

    let srs = Srs::insecure(4).unwrap();
    let digest = VerifierParams::from_srs(&srs).digest();
    let (coordinator, worker_key) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let allowlist = Allowlist::new([coordinator.public().to_peer_id(), worker_key.public().to_peer_id()]);
    let capabilities = Capabilities { max_k: 17, ..Default::default() };
    let config = WorkerConfig::new(
        worker_key,
        "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        allowlist.clone(),
        capabilities,
    );
    let store = dir.path().join("worker-models");
    let models = ModelStore::new(&store);
    let srs_cache = SrsCache::new(dir.path().join("srs"));
    let worker =
        WorkerHandle::spawn_with(config, |fetcher| ChunkExecutor::new(fetcher, models, srs, srs_cache, None))
            .await
            .unwrap();

    let job = ChunkJob {
        model_id: "another model".into(),
        model_hash,
        model_len: model_bytes.len() as u64,
        tokens: 4,
        index: 0,
        kind: ChunkKind::Block {
            layer: 0,
            part: Part::Both,
            shape: BlockShape { k: 17, t: 4, ..Default::default() },
        },
        vk_hash: VkHash([0; 32]),
        srs_verifier_digest: digest,
        input: ChunkInput::Block { input: vec![0; 256], output: vec![0; 256] },
    };
    let reason = failure(&worker, &allowlist, &coordinator, &model_bytes, job.to_job()).await;
    assert!(
        reason.contains(&format!("has id {}, the job names another model", model.model_id())),
        "{reason}"
    );
    assert_eq!(std::fs::read(store.join(format!("{}.zkq", model_hash.to_hex()))).unwrap(), model_bytes);

    let other_srs = ChunkJob { srs_verifier_digest: [1; 32], ..job.clone() };
    let reason = failure(&worker, &allowlist, &coordinator, &model_bytes, other_srs.to_job()).await;
    assert!(reason.contains("planned with SRS verifier digest"), "{reason}");

    let unserved = ChunkJob { model_hash: ContentHash::of(b"no such model"), ..job.clone() };
    let reason = failure(&worker, &allowlist, &coordinator, &model_bytes, unserved.to_job()).await;
    assert!(reason.contains("blob fetch failed"), "{reason}");

    let garbage = Job::new(0, 17, b"{\"format\": 7}".to_vec());
    let reason = failure(&worker, &allowlist, &coordinator, &model_bytes, garbage).await;
    assert!(reason.contains("chunk job is malformed"), "{reason}");

    let relabelled = Job::new(1, 17, job.to_bytes());
    let reason = failure(&worker, &allowlist, &coordinator, &model_bytes, relabelled).await;
    assert!(reason.contains("the job payload is for chunk 0"), "{reason}");
    worker.shutdown().await;
}
