//! The worker's event loop: owns the swarm, answers job offers, fetches payloads, runs the executor.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use libp2p::kad::{QueryId, RecordKey};
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};

use crate::job::{ContentHash, Executor, Job, JobId};
use crate::node::{Node, NodeEvent};
use crate::protocol::{
    BlobRequest, BlobResponse, Capabilities, JobOffer, ProveRequest, ProveResponse, Refusal,
};
use crate::worker::fetch::{Fetch, FetchStep};

/// The answer to [`Command::FetchBlob`].
pub(crate) type BlobReply = oneshot::Sender<Result<Arc<Vec<u8>>, String>>;

/// What a [`crate::WorkerHandle`] asks of the event loop.
pub(crate) enum Command {
    /// Fetch a blob by hash from the network.
    FetchBlob { hash: ContentHash, reply: BlobReply },
    /// Stop the worker.
    Shutdown,
}

/// Who is waiting for a fetch.
enum Waiter {
    Job(JobId),
    Client(BlobReply),
}

struct RunningJob {
    offer: JobOffer,
    channel: ResponseChannel<ProveResponse>,
}

pub(crate) struct WorkerLoop {
    node: Node,
    executor: Arc<dyn Executor>,
    capabilities: Capabilities,
    max_parallel_jobs: usize,
    commands: mpsc::Receiver<Command>,
    done_tx: mpsc::UnboundedSender<(JobId, Result<Vec<u8>, String>)>,
    done_rx: mpsc::UnboundedReceiver<(JobId, Result<Vec<u8>, String>)>,
    jobs: HashMap<JobId, RunningJob>,
    next_fetch: u64,
    fetches: HashMap<u64, (Fetch, Waiter)>,
    blob_requests: HashMap<OutboundRequestId, u64>,
    provider_queries: HashMap<QueryId, u64>,
    /// Peers that offered jobs, most recent first: a blob a job needs besides its payload
    /// (its model) is asked of them before Kademlia providers.
    job_sources: Vec<PeerId>,
}

/// How many job sources are remembered.
const MAX_JOB_SOURCES: usize = 8;

impl WorkerLoop {
    pub fn new(
        node: Node,
        executor: Arc<dyn Executor>,
        capabilities: Capabilities,
        max_parallel_jobs: usize,
        commands: mpsc::Receiver<Command>,
    ) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Self {
            node,
            executor,
            capabilities,
            max_parallel_jobs: max_parallel_jobs.max(1),
            commands,
            done_tx,
            done_rx,
            jobs: HashMap::new(),
            next_fetch: 0,
            fetches: HashMap::new(),
            blob_requests: HashMap::new(),
            provider_queries: HashMap::new(),
            job_sources: Vec::new(),
        }
    }

    /// Runs until shut down or until every handle is dropped.
    pub async fn run(mut self) {
        let mut bootstrap_period = Duration::from_millis(500);
        let mut next_bootstrap = tokio::time::Instant::now() + bootstrap_period;
        loop {
            tokio::select! {
                event = self.node.next_event() => self.on_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::FetchBlob { hash, reply }) => {
                        let sources = self.job_sources.clone();
                        self.start_fetch(hash, sources, Waiter::Client(reply));
                    }
                    Some(Command::Shutdown) | None => return,
                },
                Some((job_id, result)) = self.done_rx.recv() => self.finish_job(job_id, result),
                _ = tokio::time::sleep_until(next_bootstrap) => {
                    self.node.maintain();
                    bootstrap_period = (bootstrap_period * 2).min(Duration::from_secs(10));
                    next_bootstrap = tokio::time::Instant::now() + bootstrap_period;
                }
            }
        }
    }

    fn on_event(&mut self, event: NodeEvent) {
        match event {
            NodeEvent::ProveRequest { peer, request, channel } => self.on_request(peer, request, channel),
            NodeEvent::BlobResponse { request_id, response } => {
                let Some(fetch_id) = self.blob_requests.remove(&request_id) else { return };
                match response {
                    BlobResponse::Found(bytes) => self.on_blob(fetch_id, bytes),
                    BlobResponse::NotFound => self.blob_failed(fetch_id),
                }
            }
            NodeEvent::BlobFailure { request_id, reason } => {
                if let Some(fetch_id) = self.blob_requests.remove(&request_id) {
                    tracing::info!("blob request failed: {reason}");
                    self.blob_failed(fetch_id);
                }
            }
            NodeEvent::ProvidersFound { query, providers, last } => {
                if let Some(fetch_id) = self.provider_queries.get(&query).copied() {
                    if let Some((fetch, _)) = self.fetches.get_mut(&fetch_id) {
                        fetch.add_candidates(providers);
                        if last {
                            fetch.query_done();
                            self.provider_queries.remove(&query);
                        }
                    }
                    self.advance(fetch_id);
                }
            }
            NodeEvent::ProvidersDone { query } => {
                if let Some(fetch_id) = self.provider_queries.remove(&query) {
                    if let Some((fetch, _)) = self.fetches.get_mut(&fetch_id) {
                        fetch.query_done();
                    }
                    self.advance(fetch_id);
                }
            }
            NodeEvent::Listening(addr) => tracing::info!("worker listening on {addr}"),
            NodeEvent::ProverFound(_)
            | NodeEvent::Disconnected(_)
            | NodeEvent::ProveResponse { .. }
            | NodeEvent::ProveFailure { .. } => {}
        }
    }

    fn on_request(&mut self, peer: PeerId, request: ProveRequest, channel: ResponseChannel<ProveResponse>) {
        let offer = match request {
            ProveRequest::Hello => {
                let mut capabilities = self.capabilities.clone();
                capabilities.held.extend(self.node.blobs.hashes());
                capabilities.held.sort();
                capabilities.held.dedup();
                self.respond(channel, ProveResponse::Hello(capabilities));
                return;
            }
            ProveRequest::Prove(offer) => offer,
        };
        self.job_sources.retain(|p| *p != peer);
        self.job_sources.insert(0, peer);
        self.job_sources.truncate(MAX_JOB_SOURCES);
        let job_id = offer.job_id;
        let refusal = if Job::derive_id(offer.chunk_index, offer.k, &offer.payload_hash) != job_id {
            Some(Refusal::BadOffer)
        } else if offer.k > self.capabilities.max_k {
            Some(Refusal::TooLarge { k: offer.k, max_k: self.capabilities.max_k })
        } else if self.jobs.len() >= self.max_parallel_jobs || self.jobs.contains_key(&job_id) {
            Some(Refusal::Busy)
        } else {
            None
        };
        if let Some(reason) = refusal {
            tracing::info!("refusing job {job_id:?} from {peer}: {reason:?}");
            self.respond(channel, ProveResponse::Refused { job_id, reason });
            return;
        }
        tracing::info!("accepted job {job_id:?} (chunk {}) from {peer}", offer.chunk_index);
        let payload_hash = offer.payload_hash;
        self.jobs.insert(job_id, RunningJob { offer, channel });
        self.start_fetch(payload_hash, [peer], Waiter::Job(job_id));
    }

    fn start_fetch(&mut self, hash: ContentHash, first: impl IntoIterator<Item = PeerId>, waiter: Waiter) {
        if let Some(bytes) = self.node.blobs.get(&hash) {
            self.fetched(waiter, Ok(bytes));
            return;
        }
        let fetch_id = self.next_fetch;
        self.next_fetch += 1;
        self.fetches.insert(fetch_id, (Fetch::new(hash, first, self.node.local_peer_id()), waiter));
        self.advance(fetch_id);
    }

    fn advance(&mut self, fetch_id: u64) {
        let Some((fetch, _)) = self.fetches.get_mut(&fetch_id) else { return };
        let hash = fetch.hash;
        match fetch.next_step() {
            FetchStep::Ask(peer) => {
                let request_id =
                    self.node.swarm.behaviour_mut().blob.send_request(&peer, BlobRequest { hash });
                self.blob_requests.insert(request_id, fetch_id);
            }
            FetchStep::QueryProviders => {
                let query = self.node.swarm.behaviour_mut().kad.get_providers(RecordKey::new(&hash.0));
                self.provider_queries.insert(query, fetch_id);
            }
            FetchStep::Wait => {}
            FetchStep::GiveUp => {
                if let Some((_, waiter)) = self.fetches.remove(&fetch_id) {
                    self.fetched(waiter, Err(format!("no peer served blob {hash} with a matching hash")));
                }
            }
        }
    }

    fn on_blob(&mut self, fetch_id: u64, bytes: Vec<u8>) {
        let Some((fetch, _)) = self.fetches.get(&fetch_id) else { return };
        let hash = fetch.hash;
        match self.node.blobs.insert_checked(hash, bytes) {
            Ok(bytes) => {
                self.node.provide(&hash);
                if let Some((_, waiter)) = self.fetches.remove(&fetch_id) {
                    self.fetched(waiter, Ok(bytes));
                }
            }
            Err(mismatch) => {
                tracing::warn!("discarded a forged blob: {mismatch}");
                self.blob_failed(fetch_id);
            }
        }
    }

    fn blob_failed(&mut self, fetch_id: u64) {
        if let Some((fetch, _)) = self.fetches.get_mut(&fetch_id) {
            fetch.answer_failed();
        }
        self.advance(fetch_id);
    }

    fn fetched(&mut self, waiter: Waiter, bytes: Result<Arc<Vec<u8>>, String>) {
        match waiter {
            Waiter::Client(reply) => {
                // The handle may have given up waiting; nothing to do then.
                let _ = reply.send(bytes);
            }
            Waiter::Job(job_id) => match bytes {
                Ok(payload) => self.execute(job_id, payload),
                Err(reason) => self.finish_job(job_id, Err(reason)),
            },
        }
    }

    fn execute(&mut self, job_id: JobId, payload: Arc<Vec<u8>>) {
        let Some(running) = self.jobs.get(&job_id) else { return };
        let offer = &running.offer;
        let job =
            Job { id: job_id, chunk_index: offer.chunk_index, k: offer.k, payload: payload.as_ref().clone() };
        let executor = self.executor.clone();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let outcome = tokio::task::spawn_blocking(move || executor.execute(&job))
                .await
                .map_err(|e| format!("executor crashed: {e}"))
                .and_then(|result| result.map_err(|e| e.message));
            // The loop only stops on shutdown, when results are no longer wanted.
            let _ = done.send((job_id, outcome));
        });
    }

    fn finish_job(&mut self, job_id: JobId, outcome: Result<Vec<u8>, String>) {
        let Some(running) = self.jobs.remove(&job_id) else { return };
        let response = match outcome {
            Ok(result) => {
                tracing::info!("job {job_id:?} done, {} result bytes", result.len());
                ProveResponse::Done { job_id, result }
            }
            Err(reason) => {
                tracing::warn!("job {job_id:?} failed: {reason}");
                ProveResponse::Failed { job_id, reason }
            }
        };
        self.respond(running.channel, response);
    }

    fn respond(&mut self, channel: ResponseChannel<ProveResponse>, response: ProveResponse) {
        if self.node.swarm.behaviour_mut().prove.send_response(channel, response).is_err() {
            tracing::info!("the coordinator stopped waiting before the response was sent");
        }
    }
}
