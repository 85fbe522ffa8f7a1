//! A worker's quantized models, by the SHA-256 of their `.zkq` file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use zkinfer_network::ContentHash;
use zkinfer_quantize::qmodel::file::QuantizedModel;

use crate::error::JobsError;

/// Models fetched once, kept as `DIR/<sha256>.zkq` and opened once per process.
pub struct ModelStore {
    dir: PathBuf,
    open: Mutex<HashMap<ContentHash, Arc<QuantizedModel>>>,
}

impl ModelStore {
    /// A store in `dir` (created when the first model arrives).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), open: Mutex::new(HashMap::new()) }
    }

    /// Where the model with this hash is kept.
    pub fn path(&self, hash: &ContentHash) -> PathBuf {
        self.dir.join(format!("{}.zkq", hash.to_hex()))
    }

    /// The model with this hash: opened already, on disk (its hash checked), or from
    /// `fetch` (its hash checked, then written to disk).
    pub fn get(
        &self,
        hash: &ContentHash,
        fetch: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<Arc<QuantizedModel>, JobsError> {
        let err = |reason: String| JobsError::Model { hash: *hash, reason };
        if let Some(model) = self.lock().get(hash) {
            return Ok(model.clone());
        }
        let path = self.path(hash);
        let on_disk = std::fs::read(&path).ok().filter(|bytes| ContentHash::of(bytes) == *hash);
        if on_disk.is_none() {
            let bytes = fetch().map_err(err)?;
            let got = ContentHash::of(&bytes);
            if got != *hash {
                return Err(err(format!("the bytes received hash to {got}")));
            }
            write_atomic(&self.dir, &path, &bytes).map_err(err)?;
        }
        let model = Arc::new(QuantizedModel::open(&path).map_err(|e| err(e.to_string()))?);
        self.lock().insert(*hash, model.clone());
        Ok(model)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ContentHash, Arc<QuantizedModel>>> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("temporary file: {e}"))?;
    std::fs::write(tmp.path(), bytes).map_err(|e| format!("cannot write {}: {e}", tmp.path().display()))?;
    tmp.persist(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}
