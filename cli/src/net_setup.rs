//! What `zkinfer worker` and `zkinfer prove --distributed` share: the noise identity, the
//! allowlist and the tokio runtime.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use zkinfer_network::{load_or_create_identity, Allowlist, Keypair, Multiaddr, PeerId, Protocol};
use zkinfer_prover::SrsCache;

/// The zkinfer cache folder named `name` (beside the SRS cache).
pub fn cache_folder(name: &str) -> Result<PathBuf> {
    Ok(SrsCache::from_env()?.dir().with_file_name(name))
}

/// The identity at `path`, else `~/.cache/zkinfer/identity/DEFAULT.key`; created if absent.
pub fn identity(path: Option<&Path>, default: &str) -> Result<Keypair> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => cache_folder("identity")?.join(format!("{default}.key")),
    };
    load_or_create_identity(&path).with_context(|| format!("identity {}", path.display()))
}

/// `zkinfer identity`: prints the peer id of the identity at `path`, creating it if absent;
/// as `{"peer_id", "key"}` with `json`.
pub fn print_peer_id(path: &Path, json: bool) -> Result<()> {
    let peer = identity(Some(path), "")?.public().to_peer_id();
    if json {
        println!("{}", serde_json::json!({ "peer_id": peer.to_string(), "key": path }));
    } else {
        println!("{peer}");
    }
    Ok(())
}

/// The peer id an address ends with (`…/p2p/<peer id>`), if any.
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// The peers of the `--allow` file plus those `--bootstrap` addresses name; never empty.
pub fn allowlist(file: Option<&Path>, bootstrap: &[Multiaddr]) -> Result<Allowlist> {
    let listed = match file {
        Some(p) => Allowlist::load(p).with_context(|| format!("allowlist {}", p.display()))?,
        None => Allowlist::default(),
    };
    let peers: Vec<PeerId> = listed.peers().copied().chain(bootstrap.iter().filter_map(peer_of)).collect();
    if peers.is_empty() {
        bail!(
            "no peer is allowed: pass --allow FILE ({{\"allowed_peers\": [\"12D3KooW…\"]}}) or --bootstrap addresses ending in /p2p/<peer id>"
        );
    }
    Ok(Allowlist::new(peers))
}

/// A multi-threaded tokio runtime for the network.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the tokio runtime")
}
