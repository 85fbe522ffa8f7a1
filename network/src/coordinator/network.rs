//! The coordinator's network side: a cloneable [`Client`] and the event loop that owns the swarm.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::request_response::OutboundRequestId;
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::behaviour::{build_swarm, Role, SwarmSettings};
use crate::blob::BlobStore;
use crate::config::CoordinatorConfig;
use crate::coordinator::RejectReason;
use crate::error::NetworkError;
use crate::node::{Node, NodeEvent};
use crate::protocol::{ProveRequest, ProveResponse};
use crate::worker::listen;

type Reply = oneshot::Sender<Result<ProveResponse, RejectReason>>;

enum Command {
    Request { peer: PeerId, request: ProveRequest, reply: Reply },
}

/// What the network tells the run loop.
pub(crate) enum NetEvent {
    /// An identified peer serves `/zkinfer/prove/1`.
    ProverFound(PeerId),
    /// A peer's last connection closed.
    Disconnected(PeerId),
}

/// Sends job messages through the event loop.
#[derive(Clone)]
pub(crate) struct Client {
    commands: mpsc::Sender<Command>,
}

impl Client {
    /// Sends a request and waits for its answer or failure.
    pub async fn request(&self, peer: PeerId, request: ProveRequest) -> Result<ProveResponse, RejectReason> {
        let (reply, answer) = oneshot::channel();
        let stopped = || RejectReason::Transport("the network event loop has stopped".into());
        self.commands.send(Command::Request { peer, request, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Aborts the event loop when the run ends or is dropped (a killed coordinator).
pub(crate) struct LoopGuard(JoinHandle<()>);

impl Drop for LoopGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Builds the swarm, serves `blobs`, dials the bootstrap peers and starts the event loop.
pub(crate) async fn start(
    config: &CoordinatorConfig,
    blobs: BlobStore,
) -> Result<(Client, mpsc::Receiver<NetEvent>, LoopGuard), NetworkError> {
    let swarm = build_swarm(SwarmSettings {
        keypair: config.keypair.clone(),
        allowlist: &config.allowlist,
        limits: config.limits,
        job_timeout: config.job_timeout,
        role: Role::Coordinator,
    })?;
    let mut node = Node::new(swarm, blobs.clone(), config.allowlist.clone());
    for hash in blobs.hashes() {
        node.provide(&hash);
    }
    if let Some(addr) = &config.listen {
        for addr in listen(&mut node, addr.clone()).await? {
            tracing::info!("coordinator listening on {addr}");
        }
    }
    node.join(config.bootstrap.clone())?;
    let (commands, commands_rx) = mpsc::channel(64);
    let (events_tx, events) = mpsc::channel(64);
    let event_loop =
        CoordinatorLoop { node, commands: commands_rx, events: events_tx, pending: HashMap::new() };
    let task = tokio::spawn(event_loop.run());
    Ok((Client { commands }, events, LoopGuard(task)))
}

struct CoordinatorLoop {
    node: Node,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    pending: HashMap<OutboundRequestId, Reply>,
}

impl CoordinatorLoop {
    async fn run(mut self) {
        let mut bootstrap_period = Duration::from_millis(300);
        let mut next_bootstrap = tokio::time::Instant::now() + bootstrap_period;
        loop {
            tokio::select! {
                event = self.node.next_event() => {
                    if !self.on_event(event).await {
                        return;
                    }
                }
                command = self.commands.recv() => match command {
                    Some(Command::Request { peer, request, reply }) => {
                        let request_id = self.node.swarm.behaviour_mut().prove.send_request(&peer, request);
                        self.pending.insert(request_id, reply);
                    }
                    None => return,
                },
                _ = tokio::time::sleep_until(next_bootstrap) => {
                    self.node.maintain();
                    bootstrap_period = (bootstrap_period * 2).min(Duration::from_secs(10));
                    next_bootstrap = tokio::time::Instant::now() + bootstrap_period;
                }
            }
        }
    }

    /// Handles one event; `false` once the run loop is gone.
    async fn on_event(&mut self, event: NodeEvent) -> bool {
        let forward = match event {
            NodeEvent::ProverFound(peer) => NetEvent::ProverFound(peer),
            NodeEvent::Disconnected(peer) => NetEvent::Disconnected(peer),
            NodeEvent::ProveResponse { request_id, response } => {
                self.answer(request_id, Ok(response));
                return true;
            }
            NodeEvent::ProveFailure { request_id, reason } => {
                self.answer(request_id, Err(reason));
                return true;
            }
            NodeEvent::Listening(addr) => {
                tracing::info!("coordinator listening on {addr}");
                return true;
            }
            NodeEvent::ProveRequest { peer, .. } => {
                // Coordinators only send offers; the protocol is outbound-only here.
                tracing::warn!("ignored a job offer from {peer}");
                return true;
            }
            NodeEvent::BlobResponse { .. }
            | NodeEvent::BlobFailure { .. }
            | NodeEvent::ProvidersFound { .. }
            | NodeEvent::ProvidersDone { .. } => return true,
        };
        self.events.send(forward).await.is_ok()
    }

    fn answer(&mut self, request_id: OutboundRequestId, answer: Result<ProveResponse, RejectReason>) {
        if let Some(reply) = self.pending.remove(&request_id) {
            // The run loop may have finished; then nobody needs the answer.
            let _ = reply.send(answer);
        }
    }
}
