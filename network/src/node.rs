//! What workers and coordinators share: the swarm, discovery, blob serving and peer checks.
//!
//! [`Node::next_event`] handles identify, Kademlia routing and inbound blob requests itself and
//! hands the role-specific events (job messages, blob responses, provider queries) to the caller.

use std::collections::HashSet;

use futures::StreamExt;
use libp2p::kad::{self, GetProvidersOk, QueryId, QueryResult};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, InboundRequestId, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, Multiaddr, PeerId, Swarm};

use crate::behaviour::{Behaviour, BehaviourEvent};
use crate::blob::BlobStore;
use crate::coordinator::RejectReason;
use crate::error::NetworkError;
use crate::protocol::{BlobRequest, BlobResponse, ProveRequest, ProveResponse, PROVE_PROTOCOL};
use crate::security::Allowlist;

/// An event the role-specific event loop handles.
pub(crate) enum NodeEvent {
    /// A peer that answers `/zkinfer/prove/1` is connected and identified.
    ProverFound(PeerId),
    /// The last connection to a peer closed.
    Disconnected(PeerId),
    /// A new listen address.
    Listening(Multiaddr),
    /// A job message from an allowed peer.
    ProveRequest { peer: PeerId, request: ProveRequest, channel: ResponseChannel<ProveResponse> },
    /// The answer to one of our job messages.
    ProveResponse { request_id: OutboundRequestId, response: ProveResponse },
    /// One of our job messages failed (timeout, closed connection, malformed answer).
    ProveFailure { request_id: OutboundRequestId, reason: RejectReason },
    /// The answer to one of our blob requests (its hash is not checked yet).
    BlobResponse { request_id: OutboundRequestId, response: BlobResponse },
    /// One of our blob requests failed.
    BlobFailure { request_id: OutboundRequestId, reason: String },
    /// A provider query found peers holding a blob; `last` when the query has ended.
    ProvidersFound { query: QueryId, providers: HashSet<PeerId>, last: bool },
    /// A provider query ended.
    ProvidersDone { query: QueryId },
}

/// A swarm plus the state every zkinfer node keeps.
pub(crate) struct Node {
    pub swarm: Swarm<Behaviour>,
    pub blobs: BlobStore,
    allowlist: Allowlist,
    bootstrap: Vec<Multiaddr>,
}

impl Node {
    pub fn new(swarm: Swarm<Behaviour>, blobs: BlobStore, allowlist: Allowlist) -> Self {
        Self { swarm, blobs, allowlist, bootstrap: Vec::new() }
    }

    /// Dials the bootstrap peers now (an unusable address is an error) and again on every
    /// [`Node::maintain`] while they are not connected (a peer started later, or restarted).
    pub fn join(&mut self, bootstrap: Vec<Multiaddr>) -> Result<(), NetworkError> {
        for addr in &bootstrap {
            self.swarm
                .dial(addr.clone())
                .map_err(|e| NetworkError::Dial { addr: addr.clone(), message: e.to_string() })?;
        }
        self.bootstrap = bootstrap;
        Ok(())
    }

    /// Periodic upkeep: redials unconnected bootstrap peers and asks Kademlia for more peers.
    pub fn maintain(&mut self) {
        for addr in &self.bootstrap {
            let peer = addr.iter().find_map(|p| match p {
                Protocol::P2p(peer) => Some(peer),
                _ => None,
            });
            if peer.is_some_and(|peer| self.swarm.is_connected(&peer)) {
                continue;
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::info!("cannot redial {addr}: {e}");
            }
        }
        // `NoKnownPeers` only means nobody is connected yet; the next round retries.
        let _ = self.swarm.behaviour_mut().kad.bootstrap();
    }

    pub fn local_peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Announces this node as a provider of a blob.
    pub fn provide(&mut self, hash: &crate::job::ContentHash) {
        if let Err(e) = self.swarm.behaviour_mut().kad.start_providing(kad::RecordKey::new(&hash.0)) {
            tracing::warn!("cannot announce blob {hash:?}: {e}");
        }
    }

    /// Waits for the next event the caller has to handle.
    pub async fn next_event(&mut self) -> NodeEvent {
        loop {
            let event = self.swarm.select_next_some().await;
            if let Some(event) = self.handle(event) {
                return event;
            }
        }
    }

    fn handle(&mut self, event: SwarmEvent<BehaviourEvent>) -> Option<NodeEvent> {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => Some(NodeEvent::Listening(address)),
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                Some(NodeEvent::Disconnected(peer_id))
            }
            SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                tracing::info!("refused incoming connection from {send_back_addr}: {error}");
                None
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::info!("dial to {peer_id:?} failed: {error}");
                None
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => self.on_identify(event),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad(event),
            SwarmEvent::Behaviour(BehaviourEvent::Prove(event)) => self.on_prove(event),
            SwarmEvent::Behaviour(BehaviourEvent::Blob(event)) => self.on_blob(event),
            _ => None,
        }
    }

    fn on_identify(&mut self, event: identify::Event) -> Option<NodeEvent> {
        let identify::Event::Received { peer_id, info, .. } = event else {
            return None;
        };
        if !self.allowlist.contains(&peer_id) {
            return None;
        }
        for addr in info.listen_addrs {
            self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
        }
        info.protocols.contains(&PROVE_PROTOCOL).then_some(NodeEvent::ProverFound(peer_id))
    }

    fn on_kad(&mut self, event: kad::Event) -> Option<NodeEvent> {
        match event {
            kad::Event::RoutingUpdated { peer, .. } => {
                if self.allowlist.contains(&peer) && !self.swarm.is_connected(&peer) {
                    // Addresses come from the routing table; a failed dial is logged as an event.
                    let _ = self.swarm.dial(peer);
                }
                None
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result: QueryResult::GetProviders(result),
                step,
                ..
            } => match result {
                Ok(GetProvidersOk::FoundProviders { providers, .. }) => {
                    Some(NodeEvent::ProvidersFound { query: id, providers, last: step.last })
                }
                _ if step.last => Some(NodeEvent::ProvidersDone { query: id }),
                _ => None,
            },
            _ => None,
        }
    }

    fn on_prove(&mut self, event: request_response::Event<ProveRequest, ProveResponse>) -> Option<NodeEvent> {
        use request_response::{Event, Message};
        match event {
            Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                if !self.allowlist.contains(&peer) {
                    tracing::warn!("dropped a job message from {peer}, who is not allowlisted");
                    return None;
                }
                Some(NodeEvent::ProveRequest { peer, request, channel })
            }
            Event::Message { message: Message::Response { request_id, response }, .. } => {
                Some(NodeEvent::ProveResponse { request_id, response })
            }
            Event::OutboundFailure { request_id, error, peer, .. } => {
                let reason = match error {
                    request_response::OutboundFailure::Timeout => RejectReason::Timeout,
                    request_response::OutboundFailure::ConnectionClosed => RejectReason::Disconnected,
                    other => RejectReason::Transport(format!("{peer}: {other}")),
                };
                Some(NodeEvent::ProveFailure { request_id, reason })
            }
            Event::InboundFailure { peer, error, request_id, .. } => {
                log_inbound_failure("job", peer, request_id, &error);
                None
            }
            Event::ResponseSent { .. } => None,
        }
    }

    fn on_blob(&mut self, event: request_response::Event<BlobRequest, BlobResponse>) -> Option<NodeEvent> {
        use request_response::{Event, Message};
        match event {
            Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                if !self.allowlist.contains(&peer) {
                    tracing::warn!("dropped a blob request from {peer}, who is not allowlisted");
                    return None;
                }
                let response = match self.blobs.get(&request.hash) {
                    Some(bytes) => BlobResponse::Found(bytes.as_ref().clone()),
                    None => BlobResponse::NotFound,
                };
                if self.swarm.behaviour_mut().blob.send_response(channel, response).is_err() {
                    tracing::info!("{peer} left before its blob {:?} was sent", request.hash);
                }
                None
            }
            Event::Message { message: Message::Response { request_id, response }, .. } => {
                Some(NodeEvent::BlobResponse { request_id, response })
            }
            Event::OutboundFailure { request_id, error, peer, .. } => {
                Some(NodeEvent::BlobFailure { request_id, reason: format!("{peer}: {error}") })
            }
            Event::InboundFailure { peer, error, request_id, .. } => {
                log_inbound_failure("blob", peer, request_id, &error);
                None
            }
            Event::ResponseSent { .. } => None,
        }
    }
}

fn log_inbound_failure(
    what: &str,
    peer: PeerId,
    request_id: InboundRequestId,
    error: &request_response::InboundFailure,
) {
    tracing::warn!("refused {what} request {request_id} from {peer}: {error}");
}
