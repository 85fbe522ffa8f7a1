//! `zkinfer prove` and `zkinfer verify` end to end on the built-in tiny model with real
//! KZG proofs (INSECURE dev SRS), and every tampering `verify` must reject: a flipped proof
//! byte, a changed public input, swapped chunks, another chunk's proof, another model's
//! bundle, other tokens, and keys that are not the model's.

mod common;

use common::{json, rejected, s, zkinfer};
use zkinfer_prover::{Bundle, Fr};

const TOKENS: &str = "5,17,99,3";

#[test]
fn prove_then_verify_the_builtin_model_and_reject_tampering() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let bundle_path = d.join("p.zkb");
    let b = s(&bundle_path);
    let out = zkinfer(&["prove", "--tokens", TOKENS, "-o", b, "--json"]);
    let proved = json(&out);
    assert_eq!(proved["chunks"], 3, "2 blocks and 1 head slice: {proved}");
    // With stdout for the JSON, each phase of each chunk is a log line on stderr, with the
    // time left by the cost model.
    let log = String::from_utf8_lossy(&out.stderr);
    for phase in
        ["chunk 1/3 block 0 (Both): keygen, ≈", "chunk 2/3 block 1 (Both): prove, ≈", "chunk 3/3 head"]
    {
        assert!(log.contains(phase), "{phase:?} in {log}");
    }
    assert!(log.contains("integer pass for 3 chunks; proving ≈") && log.contains("s left"), "{log}");
    assert_eq!(proved["srs"]["kind"], "insecure");
    let run = json(&zkinfer(&["run", "--tokens", TOKENS, "--json"]));
    assert_eq!(proved["next_token"], run["int"]["next_token"], "the proven token is the integer model's");

    let v = json(&zkinfer(&["verify", b, "--tokens", TOKENS, "--json"]));
    assert_eq!(v["valid"], true);
    assert_eq!(v["insecure"], true);
    assert_eq!(v["model_id"], proved["model_id"]);
    assert_eq!(v["next_token"], proved["next_token"]);
    assert_eq!(v["tokens"], serde_json::json!([5, 17, 99, 3]));
    // `setup` makes the same keys as the proof's run: the bundle verifies with them.
    let setup_keys = d.join("setup.keys.json");
    let set = json(&zkinfer(&["setup", "--tokens", "4", "-o", s(&setup_keys), "--json"]));
    assert_eq!(
        (set["model_id"].clone(), set["tokens"].clone()),
        (proved["model_id"].clone(), 4.into()),
        "{set}"
    );
    assert_eq!(set["chunks"].as_array().map(Vec::len), Some(3), "{set}");
    assert!(set["chunks"][0]["vk_hash"].as_str().is_some_and(|h| h.len() == 64), "{set}");
    let v = json(&zkinfer(&["verify", b, "--keys", s(&setup_keys), "--json"]));
    assert_eq!((v["valid"].clone(), v["keys_beside_bundle"].clone()), (true.into(), false.into()));
    let text = zkinfer(&["verify", b]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("INSECURE"), "verify marks the dev SRS");

    // Other tokens than the ones proved.
    let o = zkinfer(&["verify", b, "--tokens", "5,17,99,4"]);
    assert!(
        !o.status.success()
            && String::from_utf8_lossy(&o.stderr).contains("does not start from the embeddings")
    );

    let keys = d.join("p.zkb.keys.json");
    let honest = Bundle::read(&bundle_path).expect("read bundle");

    // A flipped byte in the file (caught by the checksum) and in a proof (re-checksummed).
    let bytes = std::fs::read(&bundle_path).expect("bundle");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 1;
    std::fs::write(d.join("flipped.zkb"), flipped).expect("write");
    let o = zkinfer(&["verify", s(&d.join("flipped.zkb")), "--keys", s(&keys)]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("checksum"));
    for chunk in 0..3 {
        let mut t = honest.clone();
        let n = t.chunks[chunk].proof.len();
        t.chunks[chunk].proof[n / 3] ^= 0x10;
        rejected(d, &keys, &t, "byte.zkb", &format!("chunk {chunk}"));
    }

    // A changed public input: a block's output commitment, the next token.
    let mut t = honest.clone();
    t.chunks[0].instances[0][1] += Fr::one();
    rejected(d, &keys, &t, "output.zkb", "chunk 0");
    let mut t = honest.clone();
    t.chunks[2].instances[0][1] += Fr::one();
    rejected(d, &keys, &t, "token.zkb", "chunk 2");

    // Swapped chunk order.
    let mut t = honest.clone();
    t.chunks.swap(0, 1);
    for (i, c) in t.chunks.iter_mut().enumerate() {
        c.index = i as u32;
    }
    rejected(d, &keys, &t, "swapped.zkb", "vk");

    // Chunk 0's valid proof in chunk 1's place, under its own key and under chunk 1's.
    let mut t = honest.clone();
    t.chunks[1].proof = honest.chunks[0].proof.clone();
    t.chunks[1].instances = honest.chunks[0].instances.clone();
    rejected(d, &keys, &t, "other-proof.zkb", "chunk 1");
    t.chunks[1].vk_hash = honest.chunks[0].vk_hash;
    rejected(d, &keys, &t, "other-key.zkb", "vk");

    // Another model's bundle.
    let mut t = honest.clone();
    t.model_id = "0".repeat(64);
    rejected(d, &keys, &t, "model.zkb", "model");

    // A keys file that is not the model's: its head cut off, or a key swapped.
    let text = std::fs::read_to_string(&keys).expect("keys");
    let mut parsed: serde_json::Value = serde_json::from_str(&text).expect("json");
    parsed["chunks"].as_array_mut().expect("chunks").pop();
    std::fs::write(d.join("short.json"), parsed.to_string()).expect("write");
    let o = zkinfer(&["verify", b, "--keys", s(&d.join("short.json"))]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("head"));
    let mut parsed: serde_json::Value = serde_json::from_str(&text).expect("json");
    let vk0 = parsed["chunks"][0]["vk"].clone();
    parsed["chunks"][1]["vk"] = vk0;
    std::fs::write(d.join("swapped.json"), parsed.to_string()).expect("write");
    let o = zkinfer(&["verify", b, "--keys", s(&d.join("swapped.json"))]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("hashes to"));

    // Keys rebuilt from the model: the honest file is the model's; a file with two chunks'
    // entries swapped, or only their keys swapped, is refused before any proof is checked.
    let v = json(&zkinfer(&["verify", b, "--rebuild-keys", "--json"]));
    assert_eq!((v["valid"].clone(), v["keys_rebuilt"].clone()), (true.into(), true.into()));
    let mut parsed: serde_json::Value = serde_json::from_str(&text).expect("json");
    let chunks = parsed["chunks"].as_array_mut().expect("chunks");
    chunks.swap(0, 1);
    for (i, c) in chunks.iter_mut().enumerate() {
        c["index"] = i.into();
    }
    std::fs::write(d.join("order.json"), parsed.to_string()).expect("write");
    let o = zkinfer(&["verify", b, "--keys", s(&d.join("order.json")), "--rebuild-keys"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("the model's plan has block 0"), "{err}");
    let mut parsed: serde_json::Value = serde_json::from_str(&text).expect("json");
    for field in ["vk", "vk_hash"] {
        let first = parsed["chunks"][0][field].clone();
        parsed["chunks"][0][field] = parsed["chunks"][1][field].clone();
        parsed["chunks"][1][field] = first;
    }
    std::fs::write(d.join("keys-swapped.json"), parsed.to_string()).expect("write");
    let o = zkinfer(&["verify", b, "--keys", s(&d.join("keys-swapped.json")), "--rebuild-keys"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("chunk 0 (block 0 (Both)): the listed verifying key"),
        "{err}"
    );
    // Aggregation: the estimate reads every chunk's commitments; a run that would not fit
    // the memory allowed is refused before anything is built, and no file is left behind.
    let e = json(&zkinfer(&["aggregate", b, "--estimate", "--json"]));
    assert_eq!(e["chunks"], 3, "{e}");
    let commitments = e["bottom_level"]["commitments"].as_u64().expect("commitments");
    assert!(commitments > 3 * 100, "every chunk has its key's and proof's commitments: {e}");
    assert_eq!(e["bottom_level"]["cells"].as_u64(), Some(commitments * 104_000));
    let agg = d.join("p.agg");
    let o = zkinfer(&["aggregate", b, "--max-memory", "1", "-o", s(&agg)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("refusing rather than being killed halfway"), "{err}");
    assert!(!agg.exists(), "nothing written");
    let small = zkinfer_prover::SrsCache::from_env().expect("cache").insecure_path(17);
    let o = zkinfer(&["aggregate", b, "--srs", s(&small), "--k", "20", "--estimate"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("has k = 17, the aggregation circuits need k = 20"), "{err}");
    let o = zkinfer(&["aggregate", s(&d.join("flipped.zkb")), "--keys", s(&keys), "--estimate"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("checksum"));
    let mut t = honest.clone();
    t.chunks[1].proof[40] ^= 1;
    t.write(&d.join("bad-proof.zkb")).expect("write");
    let o = zkinfer(&["aggregate", s(&d.join("bad-proof.zkb")), "--keys", s(&keys), "--estimate"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("the bundle does not verify; nothing to aggregate"), "{err}");

    // An aggregated-proof file that is cut short is named as such by verify and export.
    std::fs::write(&agg, b"ZKIAGG\0\x02\x10\0\0\0{").expect("write");
    for args in [vec!["verify", s(&agg)], vec!["export-verifier", s(&agg), "--solidity", s(&d.join("v.sol"))]]
    {
        let o = zkinfer(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("is not a valid aggregated proof"), "{args:?}: {err}");
        assert!(err.contains("truncated"), "{args:?}: {err}");
    }
}

/// `zkinfer bench --chunks 2` proves the built-in model's head slice alone and writes one
/// JSON row and one Markdown row for it, with the measured and the cost model's time.
#[test]
fn bench_writes_a_json_and_a_markdown_row_per_chunk() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (j, md) = (tmp.path().join("b.json"), tmp.path().join("b.md"));
    let args =
        ["bench", "--tokens", "79,110", "--chunks", "2", "--json-out", s(&j), "--md-out", s(&md), "--json"];
    let v = json(&zkinfer(&args));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&j).expect("json")).expect("parses");
    assert_eq!(v, written, "--json prints what --json-out holds");
    let rows = v["chunks"].as_array().expect("chunks");
    assert_eq!(rows.len(), 1, "{v}");
    let r = &rows[0];
    assert_eq!(r["what"].as_str(), Some("head, vocabulary 0..256"), "{r}");
    let k = r["k"].as_u64().expect("k");
    assert_eq!(r["rows"].as_u64(), Some(1 << k));
    for f in ["advice_columns", "fixed_columns", "lookups", "equality_columns", "macs", "proof_bytes"] {
        assert!(r[f].as_u64().is_some_and(|n| n > 0), "{f}: {r}");
    }
    for f in ["keygen_s", "prove_s", "predicted_prove_s", "core_s_per_mac"] {
        assert!(r[f].as_f64().is_some_and(|x| x > 0.0), "{f}: {r}");
    }
    assert!(
        v["verify_ms"].as_f64().is_some_and(|x| x > 0.0) && v["peak_rss_bytes"].as_u64() > Some(0),
        "{v}"
    );
    let table = std::fs::read_to_string(&md).expect("markdown");
    assert_eq!(table.lines().filter(|l| l.starts_with("| built-in tiny")).count(), 1, "{table}");
    assert!(table.contains("prove s (model)") && table.contains("peak RSS"), "{table}");
    let bad = zkinfer(&["bench", "--tokens", "79", "--chunks", "9", "--json-out", s(&j), "--md-out", s(&md)]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("chunk 9 does not exist"));
}
