//! Hostile chunk jobs, as a worker receives them from the network: each is refused by
//! [`ChunkJob::from_bytes`] with an error that names the field, and decoding a payload of
//! 14 MB (over two hundred times the network's 64 KiB request limit) takes this process's
//! peak resident memory less than [`PEAK_GROWTH_BOUND`] above its resident memory before
//! (BENCHMARKS.md, "Hostile inputs"). One test in its own binary, so no other test moves
//! the peak.

use serde_json::{json, Value};
use zkinfer_jobs::ChunkJob;
use zkinfer_network::ContentHash;
use zkinfer_prover::chain::{BlockShape, ChunkInput, ChunkKind, Part};
use zkinfer_prover::VkHash;
use zkinfer_quantize::rss::{current_rss_bytes, peak_rss_bytes};

/// The most decoding a hostile 14 MB payload may take the peak resident memory above the
/// resident memory before, in bytes: its two decoded vectors of 8 MB and their growth.
const PEAK_GROWTH_BOUND: u64 = 64 << 20;

/// A job of a block chunk for `t` tokens of width `d`, its output `short` values short.
fn job(t: usize, d: usize, short: usize) -> ChunkJob {
    let shape = BlockShape { k: 17, t, attention: true, mlp: true, ..BlockShape::default() };
    let values: Vec<i64> = (0..(t * d) as i64).collect();
    let output = values[..values.len() - short].to_vec();
    ChunkJob {
        model_id: "m".repeat(64),
        model_hash: ContentHash::of(b"model"),
        model_len: 10,
        tokens: t,
        index: 0,
        kind: ChunkKind::Block { layer: 0, part: Part::Both, shape },
        vk_hash: VkHash([3; 32]),
        srs_verifier_digest: [9; 32],
        input: ChunkInput::Block { input: values, output },
    }
}

/// An honest job of a block chunk for `t` tokens, as JSON.
fn honest(t: usize) -> Value {
    let job = job(t, 2, 0);
    let bytes = job.to_bytes();
    assert_eq!(ChunkJob::from_bytes(&bytes).expect("the honest job decodes"), job);
    serde_json::from_slice(&bytes).expect("json")
}

/// `job`, changed by `edit`, is refused with an error containing `needle`.
fn refused(case: &str, edit: impl FnOnce(&mut Value), needle: &str) {
    let mut job = honest(2);
    edit(&mut job);
    let err = ChunkJob::from_bytes(job.to_string().as_bytes()).expect_err(case).to_string();
    assert!(err.contains(needle), "{case}: expected {needle:?} in {err}");
}

fn shape(job: &mut Value) -> &mut Value {
    &mut job["kind"]["Block"]["shape"]
}

#[test]
fn hostile_chunk_jobs_are_refused_within_bounded_memory() {
    let huge = 1u64 << 62;
    refused(
        "2^62 tokens, the shape's too",
        |j| {
            j["tokens"] = huge.into();
            shape(j)["t"] = huge.into();
        },
        "block shape with 4611686018427387904 tokens (at most 4096)",
    );
    refused(
        "tokens whose product with any width overflows, the shape's too",
        |j| {
            j["tokens"] = json!(usize::MAX);
            shape(j)["t"] = json!(usize::MAX);
        },
        "(at most 4096)",
    );
    refused("2^62 tokens for a shape of 2", |j| j["tokens"] = huge.into(), "4611686018427387904 tokens, but");
    refused(
        "an input that is not whole rows",
        |j| j["input"]["Block"] = json!({"input": [1, 2, 3], "output": [1, 2, 3]}),
        "an input of 3 values is not rows of 2 tokens",
    );
    refused(
        "tokens other than the shape's",
        |j| j["tokens"] = 3.into(),
        "3 tokens, but the chunk's shape is for 2",
    );
    refused(
        "no tokens",
        |j| {
            j["tokens"] = 0.into();
            shape(j)["t"] = 0.into();
        },
        "0 tokens",
    );
    refused("a k below any chunk circuit's", |j| shape(j)["k"] = 3.into(), "k = 3 is below the smallest");
    refused("a k beyond BN254's", |j| shape(j)["k"] = 40.into(), "k = 40 (at most 26)");
    refused("a k that does not fit", |j| shape(j)["k"] = json!(u64::MAX), "expected u32");
    refused(
        "an output longer than the input",
        |j| j["input"]["Block"]["output"] = json!([0, 0, 0, 0, 0, 0]),
        "a block input of 4 values but an output of 6",
    );
    refused("an empty input", |j| j["input"]["Block"] = json!({"input": [], "output": []}), "an input of 0");

    // A payload of 14 MB: 4096 tokens of width 256 whose output is one value short.
    let bytes = job(4096, 256, 1).to_bytes();
    assert!(bytes.len() > 13 << 20, "{} bytes", bytes.len());
    let Some(before) = current_rss_bytes() else {
        eprintln!("no /proc/self/status: the memory bound is not measured here");
        return;
    };
    let err = ChunkJob::from_bytes(&bytes).expect_err("one value short").to_string();
    assert!(err.contains("a block input of 1048576 values but an output of 1048575"), "{err}");
    // The peak may predate the decoding (building the payload): then this overstates it.
    let growth = peak_rss_bytes().unwrap_or(0).saturating_sub(before);
    eprintln!(
        "decoding {} bytes: peak RSS {:.1} MB above the resident before",
        bytes.len(),
        growth as f64 / 1e6
    );
    assert!(growth < PEAK_GROWTH_BOUND, "peak RSS {} MB above the resident before", growth >> 20);
}
