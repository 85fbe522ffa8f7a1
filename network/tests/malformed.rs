//! Garbage and oversized messages sent to a worker: refused, and the worker keeps working.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{chain, jobs, Behaviour, ChainChecker, Counter, Net, TestExecutor};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, Event, Message, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, tcp, yamux, StreamProtocol, SwarmBuilder};
use zkinfer_network::protocol::{BlobRequest, JobOffer, ProveRequest, BLOB_PROTOCOL, PROVE_PROTOCOL};
use zkinfer_network::{ContentHash, Coordinator, Job, Keypair, Multiaddr};

/// Sends raw bytes as a request and reads whatever comes back.
#[derive(Clone, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::other("this peer takes no requests"))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        io.take(1 << 20).read_to_end(&mut bytes).await?;
        if bytes.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "stream closed without an answer",
            ));
        }
        Ok(bytes)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()> {
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> std::io::Result<()> {
        Err(std::io::Error::other("this peer sends no responses"))
    }
}

fn frame(header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut bytes = ((4 + header.len() + body.len()) as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&(header.len() as u32).to_be_bytes());
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(body);
    bytes
}

/// Sends each request on `protocol` to `addr` over one allowed connection and returns each answer.
async fn send_raw(
    keypair: Keypair,
    addr: Multiaddr,
    protocol: StreamProtocol,
    requests: Vec<Vec<u8>>,
) -> Vec<Result<Vec<u8>, String>> {
    let mut swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                RawCodec,
                [(protocol, ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
            )
        })
        .unwrap()
        .build();
    let peer = match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => peer,
        _ => panic!("address without a peer id"),
    };
    swarm.dial(addr).unwrap();
    let mut answers = Vec::new();
    for bytes in requests {
        swarm.behaviour_mut().send_request(&peer, bytes);
        let answer = loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(Event::Message {
                    message: Message::Response { response, .. }, ..
                }) => break Ok(response),
                SwarmEvent::Behaviour(Event::OutboundFailure { error, .. }) => break Err(error.to_string()),
                _ => {}
            }
        };
        answers.push(answer);
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversized_messages_are_refused_without_a_crash() {
    let net = Net::new(1);
    let counter = Counter::default();
    let worker =
        net.worker(0, TestExecutor::new(Behaviour::Honest, Duration::from_millis(50), &counter), &[]).await;
    let addr = worker.listen_addrs()[0].clone();

    // Raw TCP garbage never gets past the noise handshake.
    let port = addr
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    let garbage = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = stream.write_all(&[0xA5; 4096]);
        let mut sink = Vec::new();
        // The worker closes the connection; any outcome but a hang is fine.
        let _ = stream.read_to_end(&mut sink);
        sink.len()
    });
    garbage.await.unwrap();

    let hello = serde_json::to_vec(&ProveRequest::Hello).unwrap();
    let job = &jobs(1)[0];
    let offer = |k: u32| JobOffer {
        job_id: Job::derive_id(0, k, &job.payload_hash()),
        chunk_index: 0,
        k,
        payload_hash: job.payload_hash(),
        payload_len: job.payload.len() as u64,
    };
    let bad_id = JobOffer { chunk_index: 1, ..offer(14) };
    let too_large = offer(30);
    let answers = send_raw(
        net.coordinator.clone(),
        addr.clone(),
        PROVE_PROTOCOL,
        vec![
            // A length prefix far over the 64 KiB request limit.
            [&(1u32 << 30).to_be_bytes()[..], &[0; 64]].concat(),
            // A header that is not JSON.
            frame(b"{not json", b""),
            // A header length past the end of the frame.
            [&12u32.to_be_bytes()[..], &100u32.to_be_bytes(), &[0; 8]].concat(),
            // A valid header with a body where none belongs.
            frame(&hello, b"extra"),
            // A truncated frame.
            frame(&hello, b"")[..6].to_vec(),
            // Well-formed offers the worker must refuse: an id that does not match, too large a k.
            frame(&serde_json::to_vec(&ProveRequest::Prove(bad_id)).unwrap(), b""),
            frame(&serde_json::to_vec(&ProveRequest::Prove(too_large)).unwrap(), b""),
            // And a well-formed handshake on the same connection still works.
            frame(&hello, b""),
        ],
    )
    .await;
    let (malformed, answered) = answers.split_at(5);
    for (i, answer) in malformed.iter().enumerate() {
        assert!(answer.is_err(), "malformed job request {i} got an answer: {answer:?}");
    }
    let text: Vec<String> = answered
        .iter()
        .map(|a| String::from_utf8_lossy(a.as_ref().expect("no answer")).into_owned())
        .collect();
    assert!(text[0].contains("\"BadOffer\""), "{}", text[0]);
    assert!(text[1].contains("\"TooLarge\":{\"k\":30,\"max_k\":18}"), "{}", text[1]);
    assert!(text[2].contains("max_k"), "not a capability answer: {}", text[2]);
    assert_eq!(counter.total(), 0, "a refused offer ran");

    let ask = serde_json::to_vec(&BlobRequest { hash: ContentHash::of(b"unknown") }).unwrap();
    let answers = send_raw(
        net.coordinator.clone(),
        addr,
        BLOB_PROTOCOL,
        vec![
            // Over the 4 KiB blob-request limit.
            frame(&ask, &[0; 8 << 10]),
            frame(b"[1, 2", b""),
            frame(&ask, b""),
        ],
    )
    .await;
    assert!(answers[0].is_err() && answers[1].is_err(), "{answers:?}");
    // `false`: not found, with an empty body.
    assert_eq!(answers[2].as_deref(), Ok(&frame(b"false", b"")[..]));

    // The worker still proves for its coordinator.
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs(3);
    let outcome =
        Coordinator::run(jobs.clone(), net.coordinator(dir.path(), &[&worker]), ChainChecker).await.unwrap();
    assert_eq!(outcome.results, jobs.iter().map(chain).collect::<Vec<_>>());
    worker.shutdown().await;
}
