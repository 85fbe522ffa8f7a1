//! Helpers shared by the `zkinfer` binary's tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use zkinfer_prover::Bundle;

/// Runs the `zkinfer` binary.
pub fn zkinfer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(args).output().expect("binary runs")
}

/// The one JSON object a successful command printed.
pub fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "failed: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("stdout is one JSON object")
}

/// A failed command prints exactly one line, `error: ...`, containing `needle`.
pub fn assert_one_line_error(o: &Output, needle: &str) {
    assert!(!o.status.success(), "should fail: {}", String::from_utf8_lossy(&o.stdout));
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "stderr: {err}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains(needle), "expected {needle:?}: {err}");
}

/// A path as `&str`.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `ZKINFER_SLICE_DIR`, else `../shared/models/smollm2-slice` beside the repository, else
/// `/work/shared/models/smollm2-slice`.
pub fn slice_dir() -> PathBuf {
    if let Ok(p) = std::env::var("ZKINFER_SLICE_DIR") {
        return PathBuf::from(p);
    }
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/smollm2-slice");
    if beside.is_dir() {
        return beside;
    }
    PathBuf::from("/work/shared/models/smollm2-slice")
}

/// `zkinfer verify` of `bundle` (written as `name` in `dir`, with the honest `keys`) fails
/// with one line containing `needle`.
pub fn rejected(dir: &Path, keys: &Path, bundle: &Bundle, name: &str, needle: &str) {
    let path: PathBuf = dir.join(name);
    bundle.write(&path).expect("write bundle");
    assert_one_line_error(&zkinfer(&["verify", s(&path), "--keys", s(keys)]), needle);
}
