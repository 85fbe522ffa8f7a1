//! Hostile files given to `zkinfer verify`: verifying keys that lie about their size, keys
//! files whose chunk shapes claim huge circuits, bundles with huge length prefixes. Each must
//! be refused with a one-line error that names the problem, and the process's peak resident
//! memory (its own `ru_maxrss`, from `wait4`) must stay under a stated bound.
//!
//! The bounds (BENCHMARKS.md, "Hostile inputs"): an honest `zkinfer verify` of the built-in
//! tiny model's bundle peaks at 113 MB. A file refused before any key is expanded must stay
//! under [`REFUSED_EARLY`], 100 MB (measured: 6 to 9 MB). The worst key `verify` still reads
//! by default, one of the largest size a head chunk of 2^17 rows (`--max-k`'s default) may
//! have, must stay under [`LARGEST_READ`], 256 MB (measured: 191 MB, what reading an honest
//! key of that size costs). Before these bounds, an 11-byte key made `verify` peak at
//! 268 MB, and a 300-byte keys file naming a head shape of 2^25 rows at 19 GB.

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use common::s;
use serde_json::json;
use zkinfer_prover::chain::{BlockShape, ChunkKind, HeadShape, Part};
use zkinfer_prover::{Bundle, SrsCache, VerifierParams};

/// The most a hostile input refused before any key is expanded may make `zkinfer verify`
/// hold resident, in bytes.
const REFUSED_EARLY: u64 = 100 << 20;
/// The most the largest key of a chunk `verify` accepts by default may take, in bytes.
const LARGEST_READ: u64 = 256 << 20;

/// What a measured run of the binary gave.
struct Measured {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    /// Peak resident set size of the child alone, in bytes.
    peak_rss: u64,
}

/// Runs `zkinfer args` and reaps it with `wait4`, which reports that child's own peak RSS
/// (unlike `RUSAGE_CHILDREN`, which is the largest of every child reaped so far).
#[allow(clippy::zombie_processes)] // reaped by `wait4`, which std's `Child` does not see
fn measured(args: &[&str]) -> Measured {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkinfer"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let (mut out, mut err) = (child.stdout.take().expect("stdout"), child.stderr.take().expect("stderr"));
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        err.read_to_string(&mut text).map(|_| text)
    });
    let mut stdout = String::new();
    out.read_to_string(&mut stdout).expect("stdout readable");
    let stderr = reader.join().expect("stderr thread").expect("stderr readable");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unreaped child; `status` and `usage` are valid for writes.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    // Linux reports ru_maxrss in kilobytes.
    let peak_rss = u64::try_from(usage.ru_maxrss).expect("non-negative") * 1024;
    Measured { status: ExitStatus::from_raw(status), stdout, stderr, peak_rss }
}

/// `zkinfer verify args` fails with one `error:` line containing every one of `needles`,
/// without a panic, and peaks under `bound` bytes.
fn refused(case: &str, args: &[&str], needles: &[&str], bound: u64) -> u64 {
    let m = measured(args);
    eprintln!("{case}: peak RSS {:.1} MB: {}", m.peak_rss as f64 / 1e6, m.stderr.trim());
    assert_eq!(m.status.code(), Some(1), "{case}: exit status {:?}, stderr {}", m.status, m.stderr);
    assert!(m.stdout.is_empty(), "{case}: stdout {}", m.stdout);
    let lines: Vec<&str> = m.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{case}: one line of stderr: {}", m.stderr);
    assert!(lines[0].starts_with("error: ") && !lines[0].contains("panicked"), "{case}: {}", m.stderr);
    for needle in needles {
        assert!(lines[0].contains(needle), "{case}: expected {needle:?} in {}", m.stderr);
    }
    assert!(m.peak_rss < bound, "{case}: peak RSS {} MB ≥ the bound {} MB", m.peak_rss >> 20, bound >> 20);
    m.peak_rss
}

/// A block chunk of the built-in tiny model's shape (2 tokens), at `2^k` rows.
fn block(k: u32) -> ChunkKind {
    let shape = BlockShape {
        t: 2,
        attention: true,
        mlp: true,
        k,
        stacked: true,
        pool_lanes: 1,
        matmul_lanes: 8,
        limb_bits: 13,
        ..BlockShape::default()
    };
    ChunkKind::Block { layer: 0, part: Part::Both, shape }
}

/// A head chunk of the built-in tiny model's shape (2 tokens), at `2^k` rows.
fn head(k: u32) -> ChunkKind {
    let shape = HeadShape { t: 2, logit_bits: 32, elem_lanes: 1, k, limb_bits: 8, compact_ranges: false };
    ChunkKind::Head { lo: 0, hi: 256, shape }
}

/// A keys file listing one chunk of `kind` whose verifying key is `vk`.
fn keys_file(dir: &Path, name: &str, kind: ChunkKind, vk: &[u8]) -> String {
    let path = dir.join(name);
    let file = json!({
        "format": "zkinfer-keys-v2", "model_id": "0".repeat(64), "tokens": 2,
        "srs_verifier_digest": "00".repeat(32),
        "chunks": [{ "index": 0, "kind": kind, "vk_hash": "00".repeat(32), "vk": hex::encode(vk) }],
    });
    std::fs::write(&path, file.to_string()).expect("write keys");
    s(&path).to_string()
}

/// LEB128, as the verifying key's run-length encoding writes lengths.
fn leb128(mut n: u64) -> Vec<u8> {
    let mut out = vec![];
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

/// A `ZKVK\x01` verifying key of run-length items: each `(tag, length, bytes)`.
fn vk(items: &[(u8, u64, &[u8])]) -> Vec<u8> {
    let mut out = b"ZKVK\x01".to_vec();
    for (tag, len, bytes) in items {
        out.push(*tag);
        out.extend(leb128(*len));
        out.extend_from_slice(bytes);
    }
    out
}

/// halo2's `Processed` verifying-key header: version 2, `k`, the selector compression flag.
fn halo2_header(k: u32, compressed: u8) -> Vec<u8> {
    let mut out = vec![2];
    out.extend(k.to_le_bytes());
    out.push(compressed);
    out
}

#[test]
fn hostile_keys_files_and_bundles_are_refused_within_bounded_memory() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    // An empty, well-formed bundle: `verify` reads the keys file next.
    let params = VerifierParams::from_srs(&SrsCache::from_env().expect("cache").insecure(4).expect("srs"));
    let bundle_path = d.join("empty.zkb");
    Bundle::new("0".repeat(64), &params, vec![]).write(&bundle_path).expect("write bundle");
    let bundle = s(&bundle_path);
    let verify_keys = |case: &str, keys: &str, needles: &[&str]| {
        refused(case, &["verify", bundle, "--keys", keys], needles, REFUSED_EARLY);
    };

    // The 11-byte key of the issue: one run of 2^40 zero bytes.
    let keys = keys_file(d, "run.json", block(15), &vk(&[(1, 1 << 40, &[0])]));
    verify_keys("a run of 2^40 bytes", &keys, &["chunk 0", "run-length data decodes to more than"]);

    // A literal item that claims 2^30 bytes and carries 3.
    let keys = keys_file(d, "literal.json", block(15), &vk(&[(0, 1 << 30, &[1, 2, 3])]));
    verify_keys("a literal claiming 2^30 bytes", &keys, &["chunk 0", "decodes to more than"]);

    // A key of 2^26 rows for a chunk of 2^15: refused before halo2 sizes anything by it.
    let header = halo2_header(26, 1);
    let keys = keys_file(d, "k.json", block(15), &vk(&[(0, header.len() as u64, &header)]));
    verify_keys("a key of another k", &keys, &["the key is of 2^26 rows, its circuit of 2^15"]);

    // Compressed selectors at the right k but too few bytes to hold them.
    let mut short = halo2_header(15, 1);
    short.extend([0; 64]);
    let keys = keys_file(d, "short.json", block(15), &vk(&[(0, short.len() as u64, &short)]));
    verify_keys("selectors cut short", &keys, &["cannot hold", "selectors of 2^15 rows"]);

    // A shape beyond the largest chunk circuit, and one that claims the largest, with a key
    // that fills the most bytes such a shape's key could hold.
    let keys = keys_file(d, "huge-shape.json", block(28), &vk(&[(1, 1 << 40, &[0])]));
    verify_keys("a shape of 2^28 rows", &keys, &["block shape with k = 28 (at most 26)"]);
    let keys = keys_file(d, "large-shape.json", block(26), &vk(&[(1, 1 << 40, &[0])]));
    verify_keys(
        "a shape of 2^26 rows",
        &keys,
        &["chunk 0 (block 0 (Both)) is a circuit of 2^26 rows, more than the 2^17 accepted", "--max-k 26"],
    );
    // A head shape at the largest accepted k, whose key decodes to as many bytes as a key of
    // that shape may have: a valid header, no fixed commitments, 64 copies of the generator
    // (more than the permutation's columns) and zero bytes up to the limit, so halo2 reads
    // every selector at 2^17 rows before it finds the bytes left over.
    let keys = keys_file(d, "probe.json", head(17), &vk(&[(1, 1 << 40, &[0])]));
    let limit = measured(&["verify", bundle, "--keys", &keys]).stderr;
    let limit: u64 = limit.trim().rsplit(' ').nth(1).and_then(|n| n.parse().ok()).expect("the limit");
    assert!(limit < 8 << 20, "a head key at 2^17 rows is at most {limit} bytes");
    let mut start = halo2_header(17, 1);
    start.extend(0u32.to_le_bytes());
    let mut generator = [0u8; 32];
    generator[0] = 1;
    (0..64).for_each(|_| start.extend(generator));
    let items = [(0, start.len() as u64, start.as_slice()), (1, limit - start.len() as u64, &[0])];
    let keys = keys_file(d, "full.json", head(17), &vk(&items));
    let args = ["verify", bundle, "--keys", &keys];
    refused("a head key as large as its shape allows", &args, &["chunk 0", "trailing bytes"], LARGEST_READ);

    // A head shape whose k is beyond BN254's.
    let keys = keys_file(d, "head-k.json", head(40), &vk(&[(1, 64, &[0])]));
    verify_keys("a head shape of 2^40 rows", &keys, &["head shape with k = 40 (at most 26)"]);

    // Bundles: a manifest length prefix of 2^62, and proofs that claim 2^62 bytes.
    let honest = std::fs::read(&bundle_path).expect("bundle");
    let mut prefix = honest.clone();
    prefix[12..20].copy_from_slice(&(1u64 << 62).to_le_bytes());
    let path = d.join("prefix.zkb");
    std::fs::write(&path, &prefix).expect("write");
    refused("a manifest length of 2^62", &["verify", s(&path)], &["truncated", "manifest"], REFUSED_EARLY);

    let manifest_len = u64::from_le_bytes(honest[12..20].try_into().expect("8 bytes")) as usize;
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&honest[20..20 + manifest_len]).expect("json");
    manifest["chunks"] = json!([{
        "index": 0, "k": 15, "vk_hash": "00".repeat(32), "instances": [],
        "proof_len": 1u64 << 62, "proof_sha256": "00".repeat(32),
    }]);
    let json = serde_json::to_vec(&manifest).expect("json");
    let mut lying = honest[..12].to_vec();
    lying.extend((json.len() as u64).to_le_bytes());
    lying.extend(&json);
    lying.extend([0; 32]);
    let path = d.join("proof-len.zkb");
    std::fs::write(&path, &lying).expect("write");
    refused("proofs of 2^62 bytes", &["verify", s(&path)], &["truncated", "proofs"], REFUSED_EARLY);
}
