//! Fuzzing the safetensors parser: arbitrary bytes and mutations of a valid file must give
//! `Ok` or `Err` from `open` and from `read_f32` of every tensor, never a panic.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use zkinfer_quantize::load::safetensors::SafetensorsFile;

/// A small valid file with each readable dtype, an unreadable one and metadata.
fn valid_file() -> Vec<u8> {
    let f32s: Vec<u8> = (0..6).flat_map(|i| (i as f32 * 0.5 - 1.0).to_le_bytes()).collect();
    let halves: Vec<u8> = (0..8u16).flat_map(|i| (i * 0x1234).to_le_bytes()).collect();
    let ints: Vec<u8> = (0..2i64).flat_map(|i| i.to_le_bytes()).collect();
    let views = vec![
        ("a.weight", TensorView::new(Dtype::F32, vec![2, 3], &f32s).expect("f32")),
        ("b.weight", TensorView::new(Dtype::F16, vec![4], &halves[..8]).expect("f16")),
        ("c.weight", TensorView::new(Dtype::BF16, vec![2, 2], &halves[8..]).expect("bf16")),
        ("d.ids", TensorView::new(Dtype::I64, vec![2], &ints).expect("i64")),
    ];
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(views, Some(meta)).expect("serialize")
}

/// Writes `bytes` as a new file in `dir`, opens it and reads every tensor; returns whether it
/// opened and how many tensors read as f32.
fn exercise(dir: &Path, bytes: &[u8]) -> (bool, usize) {
    // A fresh name per case: ext4 flushes a file that is truncated and rewritten, which would
    // make each case cost milliseconds.
    static CASE: AtomicUsize = AtomicUsize::new(0);
    let path = dir.join(format!("case{}.safetensors", CASE.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, bytes).expect("write case");
    let outcome = read_all(&path, bytes.len());
    std::fs::remove_file(&path).expect("remove case");
    outcome
}

fn read_all(path: &Path, file_len: usize) -> (bool, usize) {
    let Ok(file) = SafetensorsFile::open(path) else {
        return (false, 0);
    };
    let names: Vec<String> = file.names().map(str::to_string).collect();
    let mut read = 0;
    for name in &names {
        let info = file.info(name).expect("listed names have infos");
        assert!(info.bytes.start <= info.bytes.end && info.bytes.end <= file_len);
        if let Ok(t) = file.read_f32(name) {
            assert_eq!(t.data.len(), t.shape.iter().product::<usize>());
            read += 1;
        }
    }
    (true, read)
}

/// One edit of a file.
#[derive(Clone, Debug)]
enum Mutation {
    /// XOR one byte (position taken modulo the length).
    Flip(usize, u8),
    /// Keep only this many bytes (modulo length + 1).
    Truncate(usize),
    /// Overwrite the header-length prefix.
    HeaderLen(u64),
    /// Replace `len` bytes of the JSON header at `at` by a token; `fix` rewrites the
    /// header length so that the edited JSON is what gets parsed.
    Json { at: usize, len: usize, token: &'static str, fix: bool },
}

const TOKENS: &[&str] = &[
    "0",
    "1",
    "-1",
    "4",
    "1e3",
    "0.5",
    "18446744073709551615",
    "99999999999999999999999",
    "\"F16\"",
    "\"BF16\"",
    "\"I64\"",
    "\"F4\"",
    "\"F17\"",
    "\"\"",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "null",
    "true",
    "[1,2,3]",
    "[]",
    "{}",
    "\"__metadata__\"",
    "\"dtype\"",
    "\"shape\"",
    "\"data_offsets\"",
    " ",
    "\"\\ud800\"",
    "[4294967296,4294967296]",
];

/// Mostly header edits that keep the length consistent, so that parsing gets past the prefix.
fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => prop_oneof![0u64..400, any::<u64>()].prop_map(Mutation::HeaderLen),
        5 => (any::<usize>(), 0usize..6, prop::sample::select(TOKENS), prop::bool::weighted(0.9))
            .prop_map(|(at, len, token, fix)| Mutation::Json { at, len, token, fix }),
    ]
}

/// One tensor entry of a generated header: dtype, shape, and how far its offsets and its
/// share of the data section are off from the consistent values.
type Entry = (&'static str, Vec<usize>, i8, i8);

const DTYPES: &[&str] = &["F32", "F16", "BF16", "I64", "U8", "F4", "F6_E2M3", "F17", "f32"];

/// Builds a file from generated entries laid out back to back, then perturbed.
fn structured_file(entries: &[Entry], tail: i8) -> Vec<u8> {
    let bits = |d: &str| match d {
        "F32" => 32,
        "F16" | "BF16" => 16,
        "I64" => 64,
        "F4" => 4,
        "F6_E2M3" => 6,
        _ => 8,
    };
    let mut header = serde_json::Map::new();
    let mut at: i64 = 0;
    for (i, (dtype, shape, skew_begin, skew_end)) in entries.iter().enumerate() {
        let size = (shape.iter().product::<usize>() * bits(dtype)).div_ceil(8) as i64;
        let (begin, end) = (at + i64::from(*skew_begin), at + size + i64::from(*skew_end));
        header.insert(
            format!("t{i}"),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}),
        );
        at += size;
    }
    let header = serde_json::Value::Object(header).to_string();
    let data_len = (at + i64::from(tail)).max(0) as usize;
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend((0..data_len).map(|i| (i * 37 % 251) as u8));
    out
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    match *m {
        Mutation::Flip(i, x) if !bytes.is_empty() => {
            let n = bytes.len();
            bytes[i % n] ^= x;
        }
        Mutation::Flip(..) => {}
        Mutation::Truncate(n) => bytes.truncate(n % (bytes.len() + 1)),
        Mutation::HeaderLen(n) if bytes.len() >= 8 => bytes[..8].copy_from_slice(&n.to_le_bytes()),
        Mutation::HeaderLen(_) => {}
        Mutation::Json { at, len, token, fix } => {
            let Some(prefix) = bytes.get(..8) else { return };
            let header_len = u64::from_le_bytes(prefix.try_into().expect("8 bytes")) as usize;
            let end = header_len.saturating_add(8).min(bytes.len());
            if end <= 8 {
                return;
            }
            let start = 8 + at % (end - 8);
            let stop = (start + len).min(end);
            bytes.splice(start..stop, token.bytes());
            if fix {
                let new_len = (header_len + token.len()).saturating_sub(stop - start) as u64;
                bytes[..8].copy_from_slice(&new_len.to_le_bytes());
            }
        }
    }
}

fn runner(cases: u32) -> TestRunner {
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

#[test]
fn the_valid_fixture_reads() {
    let dir = tempfile::tempdir().expect("tmp");
    assert_eq!(exercise(dir.path(), &valid_file()), (true, 3));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        // A plausible length prefix, then random bytes, so the JSON parser gets exercised.
        (0u64..300, prop::collection::vec(any::<u8>(), 0..300)).prop_map(|(n, body)| {
            let mut v = n.to_le_bytes().to_vec();
            v.extend(body);
            v
        }),
    ];
    runner(1024)
        .run(&strategy, |bytes| {
            exercise(dir.path(), &bytes);
            Ok(())
        })
        .expect("no input makes the parser panic");
}

#[test]
fn generated_headers_never_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let skew = prop_oneof![6 => Just(0i8), 1 => -3i8..=3];
    let entry =
        (prop::sample::select(DTYPES), prop::collection::vec(0usize..5, 0..3), skew.clone(), skew.clone());
    let strategy = (prop::collection::vec(entry, 1..5), skew);
    let (opened, read) = (Cell::new(0), Cell::new(0));
    runner(1024)
        .run(&strategy, |(entries, tail)| {
            let bytes = structured_file(&entries, tail);
            let (ok, n) = exercise(dir.path(), &bytes);
            opened.set(opened.get() + usize::from(ok));
            read.set(read.get() + n);
            Ok(())
        })
        .expect("no generated header makes the parser panic");
    // The generator must reach the tensor reads, not only the header checks.
    let (opened, read) = (opened.get(), read.get());
    assert!(opened > 50 && read > 50, "opened {opened}, read {read}");
}

#[test]
fn mutated_valid_files_never_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let valid = valid_file();
    runner(4096)
        .run(&prop::collection::vec(mutation(), 1..4), |edits| {
            let mut bytes = valid.clone();
            for m in &edits {
                apply(&mut bytes, m);
            }
            exercise(dir.path(), &bytes);
            Ok(())
        })
        .expect("no mutation makes the parser panic");
}
