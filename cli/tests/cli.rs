//! The `zkinfer` binary: JSON outputs, and one-line errors with a non-zero exit code.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{assert_one_line_error, json, s, slice_dir, zkinfer};
use serde_json::json;

#[test]
fn run_builtin_default_prints_the_documented_json() {
    let v = json(&zkinfer(&["run", "--json", "--prompt", "Once upon a time"]));
    assert_eq!(v["tokens"].as_array().map(Vec::len), Some(16));
    for side in ["float", "int"] {
        assert!(v[side]["next_token"].is_u64());
        assert_eq!(v[side]["top5"].as_array().map(Vec::len), Some(5));
        assert_eq!(v[side]["top1"].as_array().map(Vec::len), Some(16));
    }
    let agree = v["top1_agreement"].as_f64().expect("number");
    assert!((0.0..=1.0).contains(&agree));
    assert_eq!(v["float"]["next_token"], v["int"]["next_token"]);
}

#[test]
fn quantize_then_run_the_quantized_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("tiny.zkq");
    let q = json(&zkinfer(&["quantize", "-o", out.to_str().expect("utf8"), "--json"]));
    let id = q["model_id"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 64);
    assert!(q["accuracy"]["top1_agreement"].as_f64().expect("number") > 0.9);
    assert!(q["peak_rss_bytes"].as_u64().expect("rss") > 0);
    let r = json(&zkinfer(&["run", out.to_str().expect("utf8"), "--tokens", "5,6,7", "--json"]));
    assert_eq!(r["model_id"].as_str(), Some(id.as_str()));
    assert_eq!(r["tokens"], json!([5, 6, 7]));
    assert_eq!(r["float_source"], "dequantized");

    // The plan of a quantized file is the chain `prove` makes, with the real layouts.
    let p =
        json(&zkinfer(&["plan", out.to_str().expect("utf8"), "--tokens", "4", "--max-k", "17", "--json"]));
    assert_eq!((p["layout"].as_str(), p["model_id"].as_str()), (Some("real"), Some(id.as_str())));
    let chunks = p["chunks"].as_array().expect("chunks");
    let whats: Vec<&str> = chunks.iter().filter_map(|c| c["what"].as_str()).collect();
    assert_eq!(whats, ["block 0 (Both)", "block 1 (Both)", "head, vocabulary 0..256"], "{p}");
    for c in chunks {
        assert!(c["k"].as_u64().is_some_and(|k| (15..=17).contains(&k)), "{c}");
        assert!(
            c["advice_columns"].as_u64().is_some_and(|a| a > 10) && c["lookups"].as_u64() > Some(0),
            "{c}"
        );
        assert!(c["prove_seconds"].as_f64().is_some_and(|s| s > 1.0), "{c}");
    }
    assert_eq!((p["chunk_count"].as_u64(), p["block_chunks_repeat"].as_u64()), (Some(3), Some(1)), "{p}");
    // `--analytic` is honoured for a quantized file too: the per-operation estimate.
    let a = json(&zkinfer(&["plan", out.to_str().expect("utf8"), "--tokens", "4", "--analytic", "--json"]));
    assert!(a["layout"].is_null() && a["macs"].as_u64() > Some(0), "{a}");
}

#[test]
fn run_on_the_real_slice_agrees_with_the_float_pass() {
    let dir = slice_dir();
    let v = json(&zkinfer(&["run", dir.to_str().expect("utf8"), "--prompt", "Once upon a time", "--json"]));
    assert_eq!(v["tokens"], serde_json::json!([6403, 1980, 253, 655]));
    assert_eq!(v["float"]["next_token"], v["int"]["next_token"]);
    assert_eq!(v["top1_agreement"].as_f64(), Some(1.0));
}

/// A text prompt for a model without a tokenizer is refused by every command that proves or
/// runs it, with a pointer to `--tokens`; no pseudo-random ids stand in for it.
#[test]
fn a_model_without_a_tokenizer_refuses_text_prompts() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hf = tmp.path().join("no-tokenizer");
    std::fs::create_dir(&hf).expect("mkdir");
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(slice_dir().join(file), hf.join(file)).expect("copy");
    }
    let model = tmp.path().join("no-tokenizer.zkq");
    // Calibration still runs: its texts become pseudo-random ids, as `quantize --help` says.
    json(&zkinfer(&["quantize", s(&hf), "-o", s(&model), "--json"]));
    let bundle = tmp.path().join("never.zkb");
    for args in [
        vec!["prove", s(&model), "--prompt", "Once upon a time", "-o", s(&bundle)],
        vec!["setup", s(&model), "--prompt", "Once upon a time"],
        vec!["run", s(&model), "--prompt", "Once upon a time"],
    ] {
        let o = zkinfer(&args);
        assert_one_line_error(&o, "the model has no tokenizer");
        assert_one_line_error(&o, "--tokens");
    }
    assert!(!bundle.exists());
}

#[test]
fn bad_input_gives_one_line_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let missing = tmp.path().join("nope.gguf");
    assert_one_line_error(&zkinfer(&["run", missing.to_str().expect("utf8")]), "nope.gguf");

    let junk = tmp.path().join("junk.bin");
    std::fs::write(&junk, b"definitely not a model").expect("write");
    assert_one_line_error(&zkinfer(&["run", junk.to_str().expect("utf8")]), "junk.bin");

    // A truncated GGUF header.
    let gguf = tmp.path().join("cut.gguf");
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&[1, 0, 0]);
    std::fs::write(&gguf, &b).expect("write");
    assert_one_line_error(&zkinfer(&["run", gguf.to_str().expect("utf8")]), "cut.gguf");

    // An HF folder whose safetensors file is truncated.
    let hf = tmp.path().join("hf");
    std::fs::create_dir(&hf).expect("mkdir");
    std::fs::copy(slice_dir().join("config.json"), hf.join("config.json")).expect("copy");
    let st = std::fs::read(slice_dir().join("model.safetensors")).expect("read");
    std::fs::write(hf.join("model.safetensors"), &st[..st.len() / 3]).expect("write");
    assert_one_line_error(
        &zkinfer(&["run", hf.to_str().expect("utf8"), "--tokens", "1"]),
        "model.safetensors",
    );

    // Token ids outside the vocabulary, and a quantized file with a flipped byte.
    assert_one_line_error(&zkinfer(&["run", "--tokens", "1,999"]), "token id 999");
    let q = tmp.path().join("t.zkq");
    json(&zkinfer(&["quantize", "-o", q.to_str().expect("utf8"), "--json"]));
    let mut bytes = std::fs::read(&q).expect("read");
    bytes[200] ^= 0xff;
    std::fs::write(&q, &bytes).expect("write");
    assert_one_line_error(&zkinfer(&["run", q.to_str().expect("utf8"), "--tokens", "1"]), "t.zkq");
}

/// `plan llama2-7b` lays out the real chunks of one random layer of the 7B shape (and the
/// 32,000-row head) and counts them for all 32 layers; a budget the layer's halves cannot
/// fit is one clear error that says how to go on.
#[test]
fn plan_lays_out_a_llama2_7b_layer_for_real() {
    let v = json(&zkinfer(&["plan", "llama2-7b", "--max-k", "21", "--json"]));
    assert_eq!(
        (v["layout"].as_str(), v["layers"].as_u64(), v["block_chunks_repeat"].as_u64()),
        (Some("real"), Some(32), Some(32)),
        "{v}"
    );
    let chunks = v["chunks"].as_array().expect("chunks");
    let whats: Vec<&str> = chunks.iter().filter_map(|c| c["what"].as_str()).collect();
    assert_eq!(whats.first(), Some(&"block 0 (Both)"), "{v}");
    assert!(whats[1..].iter().all(|w| w.starts_with("head")), "{v}");
    assert_eq!(v["chunk_count"].as_u64(), Some(32 + whats.len() as u64 - 1));
    let block = &chunks[0];
    assert_eq!(block["k"].as_u64(), Some(21), "{block}");
    // 202 M weights: far beyond this machine's 24 GB, which the estimate must say.
    assert!(block["memory_bytes"].as_u64().is_some_and(|m| m > 32 << 30), "{block}");
    assert_one_line_error(&zkinfer(&["plan", "llama2-7b", "--max-k", "18"]), "--analytic");
}

#[test]
fn plan_covers_every_layer_within_the_row_budget() {
    let v = json(&zkinfer(&["plan", "llama2-7b", "--max-k", "20", "--json", "--analytic"]));
    let chunks = v["chunks"].as_array().expect("chunks");
    assert!(chunks.iter().all(|c| c["estimate"]["k"].as_u64().is_some_and(|k| k <= 20)));
    let names: Vec<String> = chunks
        .iter()
        .flat_map(|c| c["ops"].as_array().cloned().unwrap_or_default())
        .map(|o| o.to_string())
        .collect();
    assert!(names.iter().any(|n| n.contains("layer 31 mlp")));
    assert!(names.iter().any(|n| n.contains("lm_head")));
    assert_one_line_error(&zkinfer(&["plan", "tiny", "--max-k", "40", "--analytic"]), "--max-k");
    assert_one_line_error(&zkinfer(&["plan", "tiny", "--max-k", "40"]), "--max-k");
}

#[test]
fn network_commands_need_an_allowlist_and_name_bad_ones() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let key = tmp.path().join("worker.key");
    let key = key.to_str().expect("utf8");
    let listen = "/ip4/127.0.0.1/tcp/0";
    assert_one_line_error(&zkinfer(&["worker", "--listen", listen, "--key", key]), "no peer is allowed");
    assert!(tmp.path().join("worker.key").exists(), "the identity is created on first use");
    let id = zkinfer(&["identity", "--key", key]);
    assert!(id.status.success());
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    assert!(id.starts_with("12D3KooW") && id.len() > 40, "a peer id: {id}");
    let again = zkinfer(&["identity", "--key", key]);
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), id, "the same identity each time");
    let allow = tmp.path().join("allow.json");
    std::fs::write(&allow, r#"{"allowed_peers": ["nope"]}"#).expect("write");
    let allow = allow.to_str().expect("utf8");
    assert_one_line_error(
        &zkinfer(&["worker", "--listen", listen, "--key", key, "--allow", allow]),
        "`nope`",
    );
    let o = zkinfer(&["prove", "--distributed", "--tokens", "1,2", "--identity", key, "--allow", allow]);
    assert_one_line_error(&o, "--distributed needs workers");
    let o = zkinfer(&["prove", "--bootstrap", "/ip4/127.0.0.1/tcp/1"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--distributed"), "network flags need --distributed");
}

/// `identity --json` and `worker --json`: the one JSON object (the worker's first JSON Lines
/// event) on stdout; `-vv` makes the network's `tracing` events appear on stderr, `RUST_LOG`
/// overrides the flags, and `-q` leaves stderr empty.
#[test]
fn json_on_stdout_and_logs_on_stderr() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (worker_key, peer_key) = (tmp.path().join("w.key"), tmp.path().join("p.key"));
    let id = json(&zkinfer(&["identity", "--key", s(&worker_key), "--json"]));
    let peer = json(&zkinfer(&["identity", "--key", s(&peer_key), "--json"]));
    assert!(id["peer_id"].as_str().is_some_and(|p| p.starts_with("12D3KooW")), "{id}");
    assert_eq!(id["key"].as_str(), Some(s(&worker_key)));
    let allow = tmp.path().join("allow.json");
    std::fs::write(&allow, json!({ "allowed_peers": [peer["peer_id"]] }).to_string()).expect("write");

    let worker = |env: Option<&str>, verbosity: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zkinfer"));
        cmd.args([verbosity, "worker", "--listen", "/ip4/127.0.0.1/tcp/0", "--key", s(&worker_key)])
            .args(["--allow", s(&allow), "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match env {
            Some(filter) => cmd.env("RUST_LOG", filter),
            None => cmd.env_remove("RUST_LOG"),
        };
        let mut child = cmd.spawn().expect("worker starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("a line");
        // Give the event loop a moment to log, then stop it and read what it wrote.
        std::thread::sleep(std::time::Duration::from_millis(500));
        child.kill().expect("kill");
        let out = child.wait_with_output().expect("wait");
        let event: serde_json::Value = serde_json::from_str(&first).expect("the first line is JSON");
        (event, String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (event, stderr) = worker(None, "-vv");
    assert_eq!(
        (event["event"].as_str(), event["peer_id"].as_str()),
        (Some("listening"), id["peer_id"].as_str())
    );
    assert!(event["listen"][0].as_str().is_some_and(|a| a.starts_with("/ip4/127.0.0.1/tcp/")), "{event}");
    assert!(stderr.contains("DEBUG") || stderr.contains("TRACE"), "-vv shows the network's events: {stderr}");
    let (_, stderr) = worker(Some("off"), "-vv");
    assert!(!stderr.contains("DEBUG") && !stderr.contains("TRACE"), "RUST_LOG=off wins: {stderr}");

    let o = zkinfer(&["-q", "run", "--tokens", "5,6", "--json"]);
    let v = json(&o);
    assert_eq!(v["tokens"], json!([5, 6]));
    assert!(o.stderr.is_empty(), "-q: {}", String::from_utf8_lossy(&o.stderr));
    assert!(!zkinfer(&["-q", "-v", "run"]).status.success(), "-q and -v conflict");
}
