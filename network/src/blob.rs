//! Content-addressed blobs a node holds and serves on `/zkinfer/blob/1`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use thiserror::Error;

use crate::job::ContentHash;

/// Received bytes do not hash to what was asked for.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("blob hashes to {got}, expected {expected}")]
pub struct HashMismatch {
    /// The requested hash.
    pub expected: ContentHash,
    /// The hash of the bytes received.
    pub got: ContentHash,
}

/// An in-memory, shareable map from SHA-256 to bytes; every entry's key is its content's hash.
#[derive(Clone, Default)]
pub struct BlobStore {
    blobs: Arc<RwLock<HashMap<ContentHash, Arc<Vec<u8>>>>>,
}

impl BlobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a blob and returns its hash.
    pub fn insert(&self, bytes: Vec<u8>) -> ContentHash {
        let hash = ContentHash::of(&bytes);
        self.write().insert(hash, Arc::new(bytes));
        hash
    }

    /// Adds a blob received for `expected`, refusing it if its hash differs.
    pub fn insert_checked(
        &self,
        expected: ContentHash,
        bytes: Vec<u8>,
    ) -> Result<Arc<Vec<u8>>, HashMismatch> {
        let got = ContentHash::of(&bytes);
        if got != expected {
            return Err(HashMismatch { expected, got });
        }
        let bytes = Arc::new(bytes);
        self.write().insert(got, bytes.clone());
        Ok(bytes)
    }

    /// The blob with this hash, if held.
    pub fn get(&self, hash: &ContentHash) -> Option<Arc<Vec<u8>>> {
        self.blobs.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(hash).cloned()
    }

    /// Hashes of every blob held.
    pub fn hashes(&self) -> Vec<ContentHash> {
        self.blobs.read().unwrap_or_else(|poisoned| poisoned.into_inner()).keys().copied().collect()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<ContentHash, Arc<Vec<u8>>>> {
        self.blobs.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stores_by_hash_and_refuses_mismatches() {
        let store = BlobStore::new();
        let hash = store.insert(b"model".to_vec());
        assert_eq!(store.get(&hash).as_deref(), Some(&b"model".to_vec()));
        let wanted = ContentHash::of(b"key");
        let err = store.insert_checked(wanted, b"forged".to_vec()).unwrap_err();
        assert_eq!(err, HashMismatch { expected: wanted, got: ContentHash::of(b"forged") });
        assert!(store.get(&wanted).is_none());
        assert!(store.insert_checked(wanted, b"key".to_vec()).is_ok());
        assert_eq!(store.hashes().len(), 2);
    }
}
