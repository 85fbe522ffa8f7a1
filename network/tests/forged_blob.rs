//! A coordinator that serves a payload whose hash does not match the offer: the worker
//! discards it, finds no other provider, and reports the job failed without running it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{jobs, Behaviour, Counter, Net, TestExecutor};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, Event, Message, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{noise, tcp, yamux, StreamProtocol, SwarmBuilder};
use zkinfer_network::protocol::{JobOffer, ProveRequest, BLOB_PROTOCOL, PROVE_PROTOCOL};

/// Whole streams as raw bytes, both directions.
#[derive(Clone, Default)]
struct Raw;

async fn read_all<T: AsyncRead + Unpin + Send>(io: &mut T) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io.take(1 << 20).read_to_end(&mut bytes).await?;
    Ok(bytes)
}

async fn write_all<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: Vec<u8>) -> std::io::Result<()> {
    io.write_all(&bytes).await?;
    io.close().await
}

impl request_response::Codec for Raw {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        read_all(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        read_all(io).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()> {
        write_all(io, req).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> std::io::Result<()> {
        write_all(io, res).await
    }
}

#[derive(NetworkBehaviour)]
struct ForgingCoordinator {
    prove: request_response::Behaviour<Raw>,
    blob: request_response::Behaviour<Raw>,
}

fn frame(header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut bytes = ((4 + header.len() + body.len()) as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&(header.len() as u32).to_be_bytes());
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(body);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_with_the_wrong_hash_is_discarded() {
    let net = Net::new(1);
    let counter = Counter::default();
    let worker =
        net.worker(0, TestExecutor::new(Behaviour::Honest, Duration::from_millis(10), &counter), &[]).await;
    let config = || request_response::Config::default().with_request_timeout(Duration::from_secs(20));
    let mut swarm = SwarmBuilder::with_existing_identity(net.coordinator.clone())
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|_| ForgingCoordinator {
            prove: request_response::Behaviour::with_codec(
                Raw,
                [(PROVE_PROTOCOL, ProtocolSupport::Outbound)],
                config(),
            ),
            blob: request_response::Behaviour::with_codec(
                Raw,
                [(BLOB_PROTOCOL, ProtocolSupport::Inbound)],
                config(),
            ),
        })
        .unwrap()
        .build();
    swarm.dial(worker.listen_addrs()[0].clone()).unwrap();
    let job = &jobs(1)[0];
    let offer = JobOffer {
        job_id: job.id,
        chunk_index: job.chunk_index,
        k: job.k,
        payload_hash: job.payload_hash(),
        payload_len: job.payload.len() as u64,
    };
    let request = frame(&serde_json::to_vec(&ProveRequest::Prove(offer)).unwrap(), b"");
    swarm.behaviour_mut().prove.send_request(&worker.peer_id(), request);
    let mut blob_requests = 0;
    let answer = loop {
        match swarm.select_next_some().await {
            SwarmEvent::Behaviour(ForgingCoordinatorEvent::Blob(Event::Message {
                message: Message::Request { channel, .. },
                ..
            })) => {
                blob_requests += 1;
                let forged = frame(b"true", b"not the payload");
                swarm.behaviour_mut().blob.send_response(channel, forged).unwrap();
            }
            SwarmEvent::Behaviour(ForgingCoordinatorEvent::Prove(Event::Message {
                message: Message::Response { response, .. },
                ..
            })) => break String::from_utf8_lossy(&response).into_owned(),
            SwarmEvent::Behaviour(ForgingCoordinatorEvent::Prove(Event::OutboundFailure {
                error, ..
            })) => {
                panic!("the worker did not answer: {error}")
            }
            _ => {}
        }
    };
    assert_eq!(blob_requests, 1);
    assert!(answer.contains("\"Failed\"") && answer.contains("matching hash"), "{answer}");
    assert_eq!(counter.total(), 0, "the worker ran a job on a forged payload");
    worker.shutdown().await;
}
