//! Accepted results on disk: one file per job, written atomically as each result is accepted.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::NetworkError;
use crate::job::JobId;

/// A directory of `<job id>.result` files.
pub struct ResultStore {
    dir: PathBuf,
}

impl ResultStore {
    /// Opens (creating if needed) the directory.
    pub fn open(dir: &Path) -> Result<Self, NetworkError> {
        fs::create_dir_all(dir).map_err(|source| NetworkError::Io { path: dir.into(), source })?;
        Ok(Self { dir: dir.into() })
    }

    /// Where a job's result lives.
    pub fn path(&self, job: &JobId) -> PathBuf {
        self.dir.join(format!("{}.result", job.to_hex()))
    }

    /// The stored result of a job, if any.
    pub fn load(&self, job: &JobId) -> Result<Option<Vec<u8>>, NetworkError> {
        let path = self.path(job);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(NetworkError::Io { path, source }),
        }
    }

    /// Writes a result durably: a temporary file, fsync, then rename over the final name.
    pub fn save(&self, job: &JobId, result: &[u8]) -> Result<(), NetworkError> {
        let path = self.path(job);
        let tmp = self.dir.join(format!(".{}.tmp", job.to_hex()));
        let io_err = |source| NetworkError::Io { path: tmp.clone(), source };
        let mut file = fs::File::create(&tmp).map_err(io_err)?;
        file.write_all(result).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        fs::rename(&tmp, &path).map_err(|source| NetworkError::Io { path: path.clone(), source })?;
        // Make the rename itself durable where the platform allows syncing a directory.
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Deletes a stored result that failed its re-check.
    pub fn remove(&self, job: &JobId) -> Result<(), NetworkError> {
        let path = self.path(job);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(NetworkError::Io { path, source }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::job::ContentHash;

    #[test]
    fn saves_loads_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let store = ResultStore::open(&dir.path().join("results")).unwrap();
        let job = ContentHash::of(b"job");
        assert_eq!(store.load(&job).unwrap(), None);
        store.save(&job, b"proof").unwrap();
        assert_eq!(store.load(&job).unwrap().as_deref(), Some(&b"proof"[..]));
        let reopened = ResultStore::open(&dir.path().join("results")).unwrap();
        assert_eq!(reopened.load(&job).unwrap().as_deref(), Some(&b"proof"[..]));
        store.remove(&job).unwrap();
        assert_eq!(store.load(&job).unwrap(), None);
        assert_eq!(fs::read_dir(dir.path().join("results")).unwrap().count(), 0, "no temporary files left");
    }
}
