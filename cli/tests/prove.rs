//! `zkinfer prove` and `zkinfer verify` end to end on the built-in tiny model with real
//! KZG proofs (INSECURE dev SRS), and what `verify` must reject.

use std::process::{Command, Output};

fn zkinfer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(args).output().expect("binary runs")
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "failed: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("stdout is one JSON object")
}

fn fails_with(o: &Output, needle: &str) {
    assert!(!o.status.success(), "should fail: {}", String::from_utf8_lossy(&o.stdout));
    let err = String::from_utf8_lossy(&o.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: ") && last.contains(needle), "stderr: {err}");
}

#[test]
fn prove_then_verify_the_builtin_model_and_reject_tampering() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("p.zkb");
    let b = bundle.to_str().expect("utf-8 path");
    let proved = json(&zkinfer(&["prove", "--tokens", "5,17,99,3", "-o", b, "--json"]));
    assert_eq!(proved["chunks"], 3, "2 blocks and 1 head slice: {proved}");
    assert_eq!(proved["srs"], serde_json::json!("insecure"));
    let run = json(&zkinfer(&["run", "--tokens", "5,17,99,3", "--json"]));
    assert_eq!(proved["next_token"], run["int"]["next_token"], "the proven token is the integer model's");

    let v = json(&zkinfer(&["verify", b, "--tokens", "5,17,99,3", "--json"]));
    assert_eq!(v["valid"], true);
    assert_eq!(v["insecure"], true);
    assert_eq!(v["model_id"], proved["model_id"]);
    assert_eq!(v["next_token"], proved["next_token"]);
    assert_eq!(v["tokens"], serde_json::json!([5, 17, 99, 3]));
    let text = zkinfer(&["verify", b]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("INSECURE"), "verify marks the dev SRS");

    // Other tokens than the ones proved.
    fails_with(&zkinfer(&["verify", b, "--tokens", "5,17,99,4"]), "does not start from the embeddings");

    // A flipped byte anywhere in the file.
    let bytes = std::fs::read(&bundle).expect("bundle");
    let keys = dir.path().join("p.zkb.keys.json");
    for pos in [10, bytes.len() / 2, bytes.len() - 40] {
        let mut bad = bytes.clone();
        bad[pos] ^= 1;
        let path = dir.path().join("bad.zkb");
        std::fs::write(&path, bad).expect("write");
        let out =
            zkinfer(&["verify", path.to_str().expect("utf-8"), "--keys", keys.to_str().expect("utf-8")]);
        assert!(!out.status.success(), "flipped byte {pos} accepted");
    }

    // A keys file that is not the model's (its chunk list cut short).
    let text = std::fs::read_to_string(&keys).expect("keys");
    let mut parsed: serde_json::Value = serde_json::from_str(&text).expect("json");
    parsed["chunks"].as_array_mut().expect("chunks").pop();
    let short = dir.path().join("short.keys.json");
    std::fs::write(&short, parsed.to_string()).expect("write");
    fails_with(&zkinfer(&["verify", b, "--keys", short.to_str().expect("utf-8")]), "chunk");
}
