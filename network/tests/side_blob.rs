//! An executor that needs a blob besides its payload (a model) fetches it by hash from the
//! coordinator that offered the job, which serves it next to the payloads.
#![allow(clippy::unwrap_used)]

mod common;

use common::{loopback, Net};
use zkinfer_network::protocol::Capabilities;
use zkinfer_network::{
    BlobFetcher, CheckError, Checker, ContentHash, Coordinator, ExecError, Executor, Job, WorkerConfig,
    WorkerHandle,
};

/// Returns the side blob named by the payload (a hex hash) followed by the payload.
struct NeedsSideBlob(BlobFetcher);

impl Executor for NeedsSideBlob {
    fn execute(&self, job: &Job) -> Result<Vec<u8>, ExecError> {
        let text = std::str::from_utf8(&job.payload).map_err(|e| ExecError::new(e.to_string()))?;
        let hash = ContentHash::from_hex(text).map_err(|e| ExecError::new(e.to_string()))?;
        let side = self.0.fetch_blocking(hash).map_err(|e| ExecError::new(e.to_string()))?;
        Ok([side.as_slice(), &job.payload].concat())
    }
}

/// Accepts exactly `side ++ payload`.
struct Expect(Vec<u8>);

impl Checker for Expect {
    fn check(&self, job: &Job, result: &[u8]) -> Result<(), CheckError> {
        let expected = [self.0.as_slice(), &job.payload].concat();
        (result == expected).then_some(()).ok_or_else(|| CheckError::new("not side ++ payload"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_fetches_a_blob_the_coordinator_serves_besides_the_payloads() {
    let net = Net::new(1);
    let capabilities = Capabilities { max_k: 18, ..Default::default() };
    let config = WorkerConfig::new(net.workers[0].clone(), loopback(), net.allowlist.clone(), capabilities);
    let worker = WorkerHandle::spawn_with(config, NeedsSideBlob).await.unwrap();
    let side = b"the quantized model".repeat(1000);
    let jobs = vec![Job::new(0, 14, ContentHash::of(&side).to_hex().into_bytes())];
    let dir = tempfile::tempdir().unwrap();
    let mut config = net.coordinator(dir.path(), &[&worker]);
    config.serve_blobs = vec![side.clone()];
    let outcome = Coordinator::run(jobs.clone(), config, Expect(side.clone())).await.unwrap();
    assert_eq!(outcome.results, vec![[side.as_slice(), &jobs[0].payload].concat()]);

    // Without the side blob served, the fetch fails and the job reports the failure.
    let dir = tempfile::tempdir().unwrap();
    let mut config = net.coordinator(dir.path(), &[&worker]);
    config.max_attempts = 1;
    let other = vec![Job::new(0, 14, ContentHash::of(b"not served").to_hex().into_bytes())];
    let err = Coordinator::run(other, config, Expect(side)).await.unwrap_err();
    assert!(err.to_string().contains("blob fetch failed"), "{err}");
    worker.shutdown().await;
}
