//! The composed libp2p behaviour and swarm construction shared by workers and coordinators.

use std::time::Duration;

use libp2p::allow_block_list::{self, AllowedPeers};
use libp2p::identity::Keypair;
use libp2p::kad::{self, store::MemoryStore};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, noise, tcp, yamux, Swarm, SwarmBuilder};

use crate::config::Limits;
use crate::error::NetworkError;
use crate::protocol::{
    BlobRequest, BlobResponse, ProveRequest, ProveResponse, BLOB_PROTOCOL, IDENTIFY_VERSION, KAD_PROTOCOL,
    PROVE_PROTOCOL,
};
use crate::security::Allowlist;
use crate::wire::FrameCodec;

/// Codec of `/zkinfer/prove/1`.
pub type ProveCodec = FrameCodec<ProveRequest, ProveResponse>;
/// Codec of `/zkinfer/blob/1`.
pub type BlobCodec = FrameCodec<BlobRequest, BlobResponse>;

/// Which side of `/zkinfer/prove/1` a node speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Answers job offers.
    Worker,
    /// Sends job offers.
    Coordinator,
}

/// Everything a zkinfer node runs.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Denies connections from peers outside the allowlist.
    pub allowlist: allow_block_list::Behaviour<AllowedPeers>,
    /// Exchanges listen addresses and protocols.
    pub identify: identify::Behaviour,
    /// Peer discovery and blob provider records.
    pub kad: kad::Behaviour<MemoryStore>,
    /// Job offers and results.
    pub prove: request_response::Behaviour<ProveCodec>,
    /// Blob transfer.
    pub blob: request_response::Behaviour<BlobCodec>,
}

/// Settings of [`build_swarm`].
pub struct SwarmSettings<'a> {
    /// The node's noise identity.
    pub keypair: Keypair,
    /// Peers allowed to connect.
    pub allowlist: &'a Allowlist,
    /// Message size limits.
    pub limits: Limits,
    /// How long a job request may stay unanswered.
    pub job_timeout: Duration,
    /// Worker or coordinator.
    pub role: Role,
}

/// Builds a TCP + noise + yamux swarm running [`Behaviour`].
pub fn build_swarm(settings: SwarmSettings<'_>) -> Result<Swarm<Behaviour>, NetworkError> {
    let SwarmSettings { keypair, allowlist, limits, job_timeout, role } = settings;
    let swarm_err = |e: &dyn std::fmt::Display| NetworkError::Swarm(e.to_string());
    let mut allowed = allow_block_list::Behaviour::<AllowedPeers>::default();
    for peer in allowlist.peers() {
        allowed.allow_peer(*peer);
    }
    let agent = match role {
        Role::Worker => "zkinfer-worker",
        Role::Coordinator => "zkinfer-coordinator",
    };
    let prove_support = match role {
        Role::Worker => ProtocolSupport::Inbound,
        Role::Coordinator => ProtocolSupport::Outbound,
    };
    let mut swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| swarm_err(&e))?
        .with_behaviour(|key| {
            let peer = key.public().to_peer_id();
            let identify = identify::Behaviour::new(
                identify::Config::new(IDENTIFY_VERSION.into(), key.public())
                    .with_agent_version(format!("{agent}/{}", env!("CARGO_PKG_VERSION"))),
            );
            let mut kad_config = kad::Config::new(KAD_PROTOCOL);
            kad_config.set_query_timeout(Duration::from_secs(10));
            kad_config.set_max_packet_size(limits.max_kad_message);
            let mut kad = kad::Behaviour::with_config(peer, MemoryStore::new(peer), kad_config);
            kad.set_mode(Some(kad::Mode::Server));
            let prove = request_response::Behaviour::with_codec(
                ProveCodec::new(limits.max_job_request, limits.max_job_response),
                [(PROVE_PROTOCOL, prove_support)],
                request_response::Config::default().with_request_timeout(job_timeout),
            );
            let blob = request_response::Behaviour::with_codec(
                BlobCodec::new(limits.max_blob_request, limits.max_blob),
                [(BLOB_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(limits.blob_timeout),
            );
            Behaviour { allowlist: allowed, identify, kad, prove, blob }
        })
        .map_err(|e| swarm_err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    swarm.behaviour_mut().kad.set_mode(Some(kad::Mode::Server));
    Ok(swarm)
}
