//! Builders of safetensors files and tiny HF folders for the importer tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::Dtype as StDtype;
use zkinfer_quantize::load::hf::HfModel;
use zkinfer_quantize::load::safetensors::SafetensorsFile;
use zkinfer_quantize::{LlamaConfig, LoadError};

/// The tiny model every synthetic fixture describes.
pub fn tiny_config_json(tied: bool) -> String {
    format!(
        r#"{{"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "intermediate_size": 16,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "vocab_size": 32, "tie_word_embeddings": {tied}}}"#
    )
}

/// [`tiny_config_json`] as the importer reads it.
pub fn tiny_config(tied: bool) -> LlamaConfig {
    LlamaConfig {
        hidden_size: 8,
        intermediate_size: 16,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        head_dim: 4,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        vocab_size: 32,
        tie_word_embeddings: tied,
    }
}

/// One fixture tensor: name, dtype, shape, little-endian bytes.
pub type Fixture = (String, StDtype, Vec<usize>, Vec<u8>);

/// Little-endian bytes of f32 values.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Every tensor of the tiny model, f32, with distinct deterministic values.
pub fn tiny_tensors(tied: bool) -> Vec<Fixture> {
    let cfg = tiny_config(tied);
    HfModel::required_tensors(&cfg)
        .into_iter()
        .enumerate()
        .map(|(k, id)| {
            let shape = id.expected_shape(&cfg);
            let n: usize = shape.iter().product();
            let vals: Vec<f32> =
                (0..n).map(|i| ((i * 7919 + k * 104_729) % 1000) as f32 / 997.0 - 0.5).collect();
            (id.hf_name(), StDtype::F32, shape, f32_bytes(&vals))
        })
        .collect()
}

/// Writes `tensors` as a safetensors file with the reference writer.
pub fn write_st(path: &Path, tensors: &[Fixture]) {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).expect("view"))
        })
        .collect();
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(views, Some(meta), path).expect("write fixture");
}

/// A tiny-model folder: config.json and one `model.safetensors`.
pub fn single_folder(dir: &Path, tensors: &[Fixture], tied: bool) {
    std::fs::write(dir.join("config.json"), tiny_config_json(tied)).expect("config");
    write_st(&dir.join("model.safetensors"), tensors);
}

/// A tiny-model folder split across two shards with an index.
pub fn sharded_folder(dir: &Path, tensors: &[Fixture], tied: bool) {
    std::fs::write(dir.join("config.json"), tiny_config_json(tied)).expect("config");
    let names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
    let (a, b) = tensors.split_at(tensors.len() / 2);
    let mut map = serde_json::Map::new();
    for (shard, part) in names.iter().zip([a, b]) {
        write_st(&dir.join(shard), part);
        for (n, ..) in part {
            map.insert(n.clone(), serde_json::Value::String(shard.to_string()));
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).expect("index");
}

/// A safetensors file from a raw header and data section.
pub fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Writes `bytes` to `dir/name` and opens it.
pub fn open_bytes(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, Result<SafetensorsFile, LoadError>) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    let r = SafetensorsFile::open(&path);
    (path, r)
}

/// Asserts that the message names `file` and, where given, `tensor`.
pub fn assert_names(err: &LoadError, file: &Path, tensor: Option<&str>) {
    let msg = err.to_string();
    assert!(msg.contains(&file.display().to_string()), "`{msg}` does not name {}", file.display());
    if let Some(t) = tensor {
        assert!(msg.contains(t), "`{msg}` does not name tensor {t}");
    }
}
