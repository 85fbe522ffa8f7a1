//! Where on-disk caches live and how files get there atomically.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The environment variable that overrides the cache root.
pub(crate) const CACHE_ENV: &str = "ZKINFER_CACHE";

/// The cache root: `$ZKINFER_CACHE`, else `$XDG_CACHE_HOME/zkinfer`, else `$HOME/.cache/zkinfer`.
pub(crate) fn cache_root() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    non_empty(CACHE_ENV)
        .or_else(|| non_empty("XDG_CACHE_HOME").map(|p| p.join("zkinfer")))
        .or_else(|| non_empty("HOME").map(|p| p.join(".cache").join("zkinfer")))
}

/// Writes `path` atomically: the bytes go to a temporary file in the same directory, are
/// synced, and the file is renamed over `path`, so readers see the old file or the whole new
/// one, never a partial write. Creates the parent directory.
pub(crate) fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<&std::fs::File>) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".zkinfer-");
    // tempfile creates private (0600) files; ours are ordinary outputs, subject to the umask.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let tmp = builder.tempfile_in(dir)?;
    {
        let mut writer = io::BufWriter::new(tmp.as_file());
        write(&mut writer)?;
        writer.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
