//! `zkinfer prove --distributed`: hand the chunks to workers, check every proof, assemble.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;
use zkinfer_circuits::argmax::Prior;
use zkinfer_jobs::plan_jobs;
use zkinfer_network::{ContentHash, Coordinator, CoordinatorConfig, PeerId, RunEvent};
use zkinfer_prover::chain::ModelKeys;
use zkinfer_prover::{Bundle, VerifierParams};
use zkinfer_quantize::qmodel::file::QuantizedModel;

use crate::net_setup::{allowlist, identity, runtime};
use crate::proving::Env;
use crate::ProveArgs;

/// The default folder for accepted results: `BUNDLE.results` beside the bundle.
fn results_beside(bundle: &std::path::Path) -> PathBuf {
    let mut name = bundle.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".results");
    bundle.with_file_name(name)
}

fn short(peer: &PeerId) -> String {
    let text = peer.to_string();
    text[text.len().saturating_sub(8)..].to_string()
}

/// Logs one line per event (info; warn for rejections and bans), with the time since the
/// chunk was handed out.
struct Printer {
    total: usize,
    accepted: usize,
    assigned: HashMap<(u32, PeerId), Instant>,
    /// Workers announced so far (a reconnecting worker says hello again).
    joined: HashSet<PeerId>,
}

impl Printer {
    fn print(&mut self, event: &RunEvent) {
        match event {
            RunEvent::WorkerJoined { peer, .. } if !self.joined.insert(*peer) => {}
            RunEvent::WorkerJoined { peer, capabilities: c } => tracing::info!(
                "worker …{} joined: {} cores, {:.1} GB, max k {}",
                short(peer),
                c.cores,
                c.memory_bytes as f64 / 1e9,
                c.max_k
            ),
            RunEvent::WorkerLeft { peer } => tracing::info!("worker …{} left", short(peer)),
            RunEvent::WorkerBanned { peer } => {
                tracing::warn!("worker …{} returned too many false results: no more jobs", short(peer))
            }
            RunEvent::Assigned { chunk_index, worker, .. } => {
                self.assigned.insert((*chunk_index, *worker), Instant::now());
                tracing::info!("chunk {chunk_index} -> worker …{}", short(worker));
            }
            RunEvent::Accepted { chunk_index, worker, .. } => {
                self.accepted += 1;
                let took = self.assigned.get(&(*chunk_index, *worker)).map(|t| t.elapsed().as_secs_f64());
                tracing::info!(
                    "chunk {chunk_index} verified and accepted from worker …{} after {:.1} s ({}/{})",
                    short(worker),
                    took.unwrap_or(0.0),
                    self.accepted,
                    self.total
                );
            }
            RunEvent::Rejected { chunk_index, worker, reason, .. } => {
                tracing::warn!(
                    "chunk {chunk_index} from worker …{} rejected: {reason}; reassigning",
                    short(worker)
                )
            }
            RunEvent::Resumed { chunk_index, .. } => {
                self.accepted += 1;
                tracing::info!(
                    "chunk {chunk_index}: stored result verified ({}/{})",
                    self.accepted,
                    self.total
                );
            }
            RunEvent::DiscardedStored { reason, .. } => tracing::info!("discarded a stored result: {reason}"),
        }
    }
}

/// The coordinator's settings from the command line, checked before the (slow) setup.
pub fn config(a: &ProveArgs) -> Result<CoordinatorConfig> {
    if a.bootstrap.is_empty() && a.listen.is_none() {
        bail!("--distributed needs workers: pass --bootstrap ADDR (a worker) or --listen ADDR (workers dial in)");
    }
    let keypair = identity(a.identity.as_deref(), "coordinator")?;
    let allow = allowlist(a.allow.as_deref(), &a.bootstrap)?;
    let results = a.results.clone().unwrap_or_else(|| results_beside(&a.output));
    let mut config = CoordinatorConfig::new(keypair, allow, results);
    config.listen = a.listen.clone();
    config.bootstrap = a.bootstrap.clone();
    config.job_timeout = Duration::from_secs(a.job_timeout);
    Ok(config)
}

/// Proves `q` on `toks` with the workers `config` reaches; returns the bundle and the next token.
pub fn prove(
    q: &QuantizedModel,
    toks: &[u32],
    keys: ModelKeys,
    env: &Env,
    mut config: CoordinatorConfig,
) -> Result<(Bundle, Prior)> {
    let model_bytes =
        std::fs::read(q.path()).with_context(|| format!("cannot read {}", q.path().display()))?;
    let plan = plan_jobs(q, &model_bytes, toks, Arc::new(keys), VerifierParams::from_srs(&env.srs))?;
    tracing::info!(
        "coordinator {}: {} chunks of model {} (file sha256 {}), results in {}",
        config.keypair.public().to_peer_id(),
        plan.jobs.len(),
        q.model_id(),
        ContentHash::of(&model_bytes),
        config.results_dir.display()
    );
    config.serve_blobs = vec![model_bytes];
    let outcome = runtime()?.block_on(async {
        let (events, mut received) = mpsc::unbounded_channel();
        let mut printer =
            Printer { total: plan.jobs.len(), accepted: 0, assigned: HashMap::new(), joined: HashSet::new() };
        let printing = tokio::spawn(async move {
            while let Some(event) = received.recv().await {
                printer.print(&event);
            }
        });
        let outcome =
            Coordinator::run_with_progress(plan.jobs.clone(), config, plan.checker.clone(), Some(events))
                .await;
        // The sender is dropped with the run, so the printer has ended or ends now.
        let _ = printing.await;
        outcome
    })?;
    for w in &outcome.progress.workers {
        tracing::info!("worker {}: {} chunks accepted, {} attempts rejected", w.peer, w.accepted, w.rejected);
    }
    let bundle = plan.assemble(&outcome.results)?;
    Ok((bundle, plan.best()))
}
