//! A proving worker: joins the network, announces its capabilities, runs the jobs it is offered.

mod event_loop;
mod fetch;

use std::sync::Arc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::behaviour::{build_swarm, Role, SwarmSettings};
use crate::blob::BlobStore;
use crate::config::WorkerConfig;
use crate::error::NetworkError;
use crate::job::{ContentHash, Executor};
use crate::node::{Node, NodeEvent};
use event_loop::{Command, WorkerLoop};

/// A running worker: the client side of its event loop.
pub struct WorkerHandle {
    peer_id: PeerId,
    listen_addrs: Vec<Multiaddr>,
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    /// Starts a worker on the current tokio runtime; returns once it listens.
    pub async fn spawn(config: WorkerConfig, executor: impl Executor) -> Result<Self, NetworkError> {
        Self::spawn_with(config, |_| executor).await
    }

    /// [`WorkerHandle::spawn`] with an executor built from a [`BlobFetcher`] of this worker,
    /// for executors that fetch more than the job payload (the model a job names).
    pub async fn spawn_with<E: Executor>(
        config: WorkerConfig,
        build: impl FnOnce(BlobFetcher) -> E,
    ) -> Result<Self, NetworkError> {
        let blobs = BlobStore::new();
        let peer_id = config.keypair.public().to_peer_id();
        let swarm = build_swarm(SwarmSettings {
            keypair: config.keypair,
            allowlist: &config.allowlist,
            limits: config.limits,
            job_timeout: config.max_job_time,
            role: Role::Worker,
        })?;
        let mut node = Node::new(swarm, blobs, config.allowlist);
        for blob in config.preload_blobs {
            let hash = node.blobs.insert(blob);
            node.provide(&hash);
        }
        let listen_addrs = listen(&mut node, config.listen).await?;
        node.join(config.bootstrap)?;
        let (commands, commands_rx) = mpsc::channel(16);
        let executor = build(BlobFetcher { commands: commands.downgrade() });
        let event_loop = WorkerLoop::new(
            node,
            Arc::new(executor),
            config.capabilities,
            config.max_parallel_jobs,
            commands_rx,
        );
        let task = tokio::spawn(event_loop.run());
        Ok(Self { peer_id, listen_addrs, commands, task })
    }

    /// The worker's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Addresses it listens on, each ending in `/p2p/<peer id>`.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    /// Fetches a blob by SHA-256 from the network, checking its hash: see [`BlobFetcher::fetch`].
    pub async fn fetch_blob(&self, hash: ContentHash) -> Result<Arc<Vec<u8>>, NetworkError> {
        BlobFetcher { commands: self.commands.downgrade() }.fetch(hash).await
    }

    /// Stops the worker cleanly and waits for its event loop to end.
    pub async fn shutdown(self) {
        // An event loop that already ended has nothing left to stop.
        let _ = self.commands.send(Command::Shutdown).await;
        let _ = self.task.await;
    }

    /// Stops the worker at once, as a crash would: connections drop, running jobs are abandoned.
    pub fn kill(self) {
        self.task.abort();
    }

    /// Waits until the event loop ends (it only ends on shutdown).
    pub async fn wait(self) -> Result<(), NetworkError> {
        self.task.await.map_err(|_| NetworkError::Stopped)
    }
}

/// Fetches blobs by hash through a worker's event loop: first from the peers that offered it
/// jobs (most recent first), then from Kademlia providers; a blob is accepted only if it hashes
/// to what was asked. Cloneable; an [`Executor`] keeps one to fetch what its jobs name. It does
/// not keep the worker running: once the [`WorkerHandle`] is gone, fetches fail as stopped.
#[derive(Clone)]
pub struct BlobFetcher {
    commands: mpsc::WeakSender<Command>,
}

impl BlobFetcher {
    fn sender(&self) -> Result<mpsc::Sender<Command>, NetworkError> {
        self.commands.upgrade().ok_or(NetworkError::Stopped)
    }

    /// Fetches the blob with this SHA-256.
    pub async fn fetch(&self, hash: ContentHash) -> Result<Arc<Vec<u8>>, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.sender()?.send(Command::FetchBlob { hash, reply }).await.map_err(|_| NetworkError::Stopped)?;
        answer.await.map_err(|_| NetworkError::Stopped)?.map_err(NetworkError::Fetch)
    }

    /// [`BlobFetcher::fetch`], waiting on this thread. Call it only from a thread that runs
    /// no async task, such as the one [`Executor::execute`] runs on; tokio panics otherwise.
    pub fn fetch_blocking(&self, hash: ContentHash) -> Result<Arc<Vec<u8>>, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .blocking_send(Command::FetchBlob { hash, reply })
            .map_err(|_| NetworkError::Stopped)?;
        answer.blocking_recv().map_err(|_| NetworkError::Stopped)?.map_err(NetworkError::Fetch)
    }
}

/// Runs a worker until it is stopped (the CLI's `zkinfer worker`).
pub async fn run_worker(config: WorkerConfig, executor: impl Executor) -> Result<(), NetworkError> {
    let handle = WorkerHandle::spawn(config, executor).await?;
    for addr in handle.listen_addrs() {
        tracing::info!("worker {} listening on {addr}", handle.peer_id());
    }
    handle.wait().await
}

/// Listens on `addr` and returns the first concrete address (with the chosen port).
pub(crate) async fn listen(node: &mut Node, addr: Multiaddr) -> Result<Vec<Multiaddr>, NetworkError> {
    node.swarm
        .listen_on(addr.clone())
        .map_err(|e| NetworkError::Listen { addr: addr.clone(), message: e.to_string() })?;
    let peer_id = node.local_peer_id();
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let NodeEvent::Listening(found) = node.next_event().await {
                return found;
            }
        }
    })
    .await
    .map_err(|_| NetworkError::Listen { addr, message: "no listen address within 10 s".into() })?;
    Ok(vec![first.with_p2p(peer_id).unwrap_or_else(|a| a)])
}
