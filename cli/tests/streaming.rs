//! Quantizing a model with Llama-2-7B layer shapes (hidden 4096, FFN 11008, 32 heads; 4
//! layers, f16) keeps peak resident memory near one layer, not the whole model.

use std::process::Command;

use zkinfer_quantize::synthetic::{llama2_7b_layer_config, write_hf_folder, SynthDtype, SyntheticModel};

const LAYERS: usize = 4;

#[test]
fn quantizing_7b_shaped_layers_streams() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("llama2-7b-shaped");
    std::fs::create_dir(&dir).expect("mkdir");
    let cfg = llama2_7b_layer_config(LAYERS, 1024);
    let (d, f) = (cfg.hidden_size as u64, cfg.intermediate_size as u64);
    let layer_params = 4 * d * d + 3 * d * f;
    let layer_f32 = layer_params * 4;
    let model_f32 = LAYERS as u64 * layer_f32;
    let written = write_hf_folder(&SyntheticModel::new(cfg, 1), &dir, SynthDtype::F16).expect("write");
    assert!(written > LAYERS as u64 * layer_params * 2, "f16 model is {written} bytes");

    let out = tmp.path().join("q.zkq");
    let o = Command::new(env!("CARGO_BIN_EXE_zkinfer"))
        .args(["quantize", dir.to_str().expect("utf8"), "-o", out.to_str().expect("utf8"), "--json"])
        .args(["--calib-prompt", "calibration text of about eight tokens"])
        .args(["--eval-prompt", "held-out text, six tokens"])
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let peak = v["peak_rss_bytes"].as_u64().expect("peak RSS reported");
    eprintln!(
        "peak RSS {:.0} MB; one layer f32 {:.0} MB; model f32 {:.0} MB; f16 on disk {:.0} MB",
        peak as f64 / 1e6,
        layer_f32 as f64 / 1e6,
        model_f32 as f64 / 1e6,
        written as f64 / 1e6
    );
    assert!(peak < layer_f32 * 3 / 2, "peak {peak} is not near one layer ({layer_f32})");
    assert!(peak < model_f32 / 2, "peak {peak} grows with the model ({model_f32})");
    assert!(v["accuracy"]["hidden_rel_err"].as_array().map(Vec::len) == Some(LAYERS + 1));
}
