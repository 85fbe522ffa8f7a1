//! Noise identities and the peer allowlist.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use libp2p::identity::Keypair;
use libp2p::PeerId;
use serde::Deserialize;

use crate::error::NetworkError;

/// The peers a node talks to; connections from anyone else are denied when established.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist {
    peers: HashSet<PeerId>,
}

/// The allowlist file: `{"allowed_peers": ["12D3KooW...", ...]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowlistFile {
    allowed_peers: Vec<String>,
}

impl Allowlist {
    /// An allowlist of these peers.
    pub fn new(peers: impl IntoIterator<Item = PeerId>) -> Self {
        Self { peers: peers.into_iter().collect() }
    }

    /// Reads a JSON allowlist file.
    pub fn load(path: &Path) -> Result<Self, NetworkError> {
        let text =
            fs::read_to_string(path).map_err(|source| NetworkError::Io { path: path.into(), source })?;
        Self::parse(&text).map_err(|message| NetworkError::Config { path: path.into(), message })
    }

    /// Parses the JSON allowlist format.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: AllowlistFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let peers = file
            .allowed_peers
            .iter()
            .map(|id| id.parse::<PeerId>().map_err(|e| format!("`{id}` is not a peer id: {e}")))
            .collect::<Result<HashSet<_>, _>>()?;
        Ok(Self { peers })
    }

    /// Whether `peer` is allowed.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.peers.contains(peer)
    }

    /// The allowed peers.
    pub fn peers(&self) -> impl Iterator<Item = &PeerId> {
        self.peers.iter()
    }
}

/// Reads the node's Ed25519 identity (32 secret bytes, hex) from `path`, creating it if absent.
pub fn load_or_create_identity(path: &Path) -> Result<Keypair, NetworkError> {
    let io_err = |source| NetworkError::Io { path: path.into(), source };
    if path.exists() {
        let text = fs::read_to_string(path).map_err(io_err)?;
        let bytes = hex::decode(text.trim()).map_err(|e| NetworkError::Config {
            path: path.into(),
            message: format!("identity is not hex: {e}"),
        })?;
        return decode_identity(bytes).map_err(|message| NetworkError::Config { path: path.into(), message });
    }
    let keypair = Keypair::generate_ed25519();
    let secret = keypair
        .clone()
        .try_into_ed25519()
        .map_err(|e| NetworkError::Config { path: path.into(), message: e.to_string() })?
        .secret();
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err)?;
    }
    write_private(path, &hex::encode(secret.as_ref())).map_err(io_err)?;
    Ok(keypair)
}

fn decode_identity(mut bytes: Vec<u8>) -> Result<Keypair, String> {
    if bytes.len() != 32 {
        return Err(format!("identity has {} bytes, an Ed25519 secret has 32", bytes.len()));
    }
    Keypair::ed25519_from_bytes(&mut bytes).map_err(|e| e.to_string())
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    fs::write(path, text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn identity_persists_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/node.key");
        let first = load_or_create_identity(&path).unwrap();
        let again = load_or_create_identity(&path).unwrap();
        assert_eq!(first.public().to_peer_id(), again.public().to_peer_id());
    }

    #[test]
    fn bad_identity_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        fs::write(&path, "not hex").unwrap();
        assert!(load_or_create_identity(&path).unwrap_err().to_string().contains("not hex"));
        fs::write(&path, "abcd").unwrap();
        assert!(load_or_create_identity(&path).unwrap_err().to_string().contains("2 bytes"));
    }

    #[test]
    fn allowlist_parses_and_rejects_bad_ids() {
        let peer = Keypair::generate_ed25519().public().to_peer_id();
        let list = Allowlist::parse(&format!(r#"{{"allowed_peers": ["{peer}"]}}"#)).unwrap();
        assert!(list.contains(&peer));
        assert!(!list.contains(&Keypair::generate_ed25519().public().to_peer_id()));
        assert!(Allowlist::parse(r#"{"allowed_peers": ["nope"]}"#).unwrap_err().contains("`nope`"));
        assert!(Allowlist::parse(r#"{"peers": []}"#).is_err());
    }
}
