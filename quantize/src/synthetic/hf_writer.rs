//! Streaming writer of HF folders (`config.json` + one `model.safetensors`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::model_tensor_ids;
use crate::config::LlamaConfig;
use crate::error::LoadError;
use crate::load::{check_shape, WeightSource};
use crate::names::TensorId;

/// The element type of a written safetensors file. Narrower types round to nearest, ties
/// to even.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynthDtype {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16.
    BF16,
}

impl SynthDtype {
    /// The name of the type in a safetensors header (`F32`, `F16`, `BF16`).
    pub fn safetensors_name(self) -> &'static str {
        match self {
            SynthDtype::F32 => "F32",
            SynthDtype::F16 => "F16",
            SynthDtype::BF16 => "BF16",
        }
    }

    /// The name of the type in an HF `config.json` (`torch_dtype`).
    pub fn torch_name(self) -> &'static str {
        match self {
            SynthDtype::F32 => "float32",
            SynthDtype::F16 => "float16",
            SynthDtype::BF16 => "bfloat16",
        }
    }

    /// Bytes per element.
    pub fn size_bytes(self) -> usize {
        match self {
            SynthDtype::F32 => 4,
            SynthDtype::F16 | SynthDtype::BF16 => 2,
        }
    }

    /// Appends the little-endian encoding of `values` to `out`; `halves` is scratch space.
    fn encode(self, values: &[f32], halves: &mut Vec<half::f16>, out: &mut Vec<u8>) {
        use half::slice::HalfFloatSliceExt;
        match self {
            SynthDtype::F32 => values.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            SynthDtype::F16 => {
                // The slice conversion uses F16C/NEON where the CPU has it: same bits, faster.
                halves.resize(values.len(), half::f16::ZERO);
                halves.convert_from_f32_slice(values);
                halves.iter().for_each(|h| out.extend_from_slice(&h.to_le_bytes()));
            }
            SynthDtype::BF16 => {
                values.iter().for_each(|&v| out.extend_from_slice(&half::bf16::from_f32(v).to_le_bytes()))
            }
        }
    }
}

impl std::str::FromStr for SynthDtype {
    type Err = String;

    /// Parses `f32`/`float32`, `f16`/`float16` or `bf16`/`bfloat16`, in any case.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(SynthDtype::F32),
            "f16" | "float16" => Ok(SynthDtype::F16),
            "bf16" | "bfloat16" => Ok(SynthDtype::BF16),
            _ => Err(format!("unknown dtype `{s}`; expected f32, f16 or bf16")),
        }
    }
}

/// Writes `src` as an HF folder in `dir` (created if missing): `config.json` and a single
/// `model.safetensors` of `dtype`, tensors sorted by name, `lm_head.weight` only when
/// untied.
///
/// Streams: the header is computed from the config, then the tensors are loaded and
/// written one at a time, so memory peaks at about one tensor. The file is written under
/// a temporary name and renamed when complete. Returns the bytes written (both files).
pub fn write_hf_folder(src: &dyn WeightSource, dir: &Path, dtype: SynthDtype) -> Result<u64, LoadError> {
    let cfg = src.config();
    cfg.validate(src.path())?;
    std::fs::create_dir_all(dir).map_err(|e| LoadError::io(dir, e))?;
    let config_bytes = write_config_json(cfg, &dir.join("config.json"), dtype)?;
    let path = dir.join("model.safetensors");
    let tmp = dir.join("model.safetensors.partial");
    let model_bytes = match write_safetensors(src, &tmp, &path, dtype) {
        Ok(n) => n,
        Err(e) => {
            // Best effort: the partial file is useless, and the error at hand matters more.
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &path).map_err(|e| LoadError::io(&path, e))?;
    Ok(config_bytes + model_bytes)
}

fn write_config_json(cfg: &LlamaConfig, path: &Path, dtype: SynthDtype) -> Result<u64, LoadError> {
    let json = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_act": "silu",
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": cfg.head_dim,
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_scaling": null,
        "vocab_size": cfg.vocab_size,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "attention_bias": false,
        "mlp_bias": false,
        "torch_dtype": dtype.torch_name(),
    });
    let mut text = serde_json::to_string_pretty(&json)
        .map_err(|e| LoadError::format(path, format!("cannot encode config.json: {e}")))?;
    text.push('\n');
    std::fs::write(path, &text).map_err(|e| LoadError::io(path, e))?;
    Ok(text.len() as u64)
}

/// One tensor's place in the safetensors file.
struct Entry {
    id: TensorId,
    name: String,
    shape: Vec<usize>,
    /// Data offsets relative to the end of the header.
    start: u64,
    end: u64,
}

/// The tensors of `cfg` sorted by name with their data offsets, and the padded header.
fn layout(cfg: &LlamaConfig, dtype: SynthDtype, path: &Path) -> Result<(Vec<Entry>, String), LoadError> {
    let mut entries: Vec<Entry> = model_tensor_ids(cfg)
        .into_iter()
        .map(|id| Entry { id, name: id.hf_name(), shape: id.expected_shape(cfg), start: 0, end: 0 })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut header = String::from("{\"__metadata__\":{\"format\":\"pt\"}");
    let mut offset = 0u64;
    for e in &mut entries {
        let end = e
            .shape
            .iter()
            .try_fold(dtype.size_bytes() as u64, |a, &d| a.checked_mul(d as u64))
            .and_then(|bytes| offset.checked_add(bytes));
        let Some(end) = end else {
            return Err(LoadError::tensor(path, &e.name, "byte size overflows u64"));
        };
        (e.start, e.end) = (offset, end);
        offset = end;
        let dims: Vec<String> = e.shape.iter().map(|d| d.to_string()).collect();
        // HF names are ASCII letters, digits, `.` and `_`: nothing to escape.
        header.push_str(&format!(
            ",\"{}\":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            e.name,
            dtype.safetensors_name(),
            dims.join(","),
            e.start,
            e.end
        ));
    }
    header.push('}');
    // The data must start 8-byte aligned; the format pads the header with spaces.
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    Ok((entries, header))
}

/// Elements converted and handed to the writer at a time.
const CHUNK: usize = 1 << 16;

/// Writes the safetensors file to `tmp`; `path` is the final name, for messages.
fn write_safetensors(
    src: &dyn WeightSource,
    tmp: &Path,
    path: &Path,
    dtype: SynthDtype,
) -> Result<u64, LoadError> {
    let cfg = src.config();
    let (entries, header) = layout(cfg, dtype, path)?;
    let io = |e| LoadError::io(tmp, e);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(tmp).map_err(io)?);
    w.write_all(&(header.len() as u64).to_le_bytes()).map_err(io)?;
    w.write_all(header.as_bytes()).map_err(io)?;
    let mut written = 8 + header.len() as u64;
    let mut buf = Vec::with_capacity(CHUNK * dtype.size_bytes());
    let mut halves = Vec::new();
    for e in &entries {
        let t = src.load(e.id)?;
        check_shape(src.path(), &e.name, e.id, cfg, &t.shape)?;
        if (t.data.len() * dtype.size_bytes()) as u64 != e.end - e.start {
            return Err(LoadError::tensor(src.path(), &e.name, "data length differs from the shape"));
        }
        for chunk in t.data.chunks(CHUNK) {
            buf.clear();
            dtype.encode(chunk, &mut halves, &mut buf);
            w.write_all(&buf).map_err(io)?;
        }
        written += e.end - e.start;
    }
    // Flushed, not synced: a synthetic model is cheap to write again after a crash.
    w.flush().map_err(io)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::tiny_config;

    #[test]
    fn dtype_names_parse() {
        for d in [SynthDtype::F32, SynthDtype::F16, SynthDtype::BF16] {
            assert_eq!(d.safetensors_name().parse::<SynthDtype>(), Ok(d));
            assert_eq!(d.torch_name().parse::<SynthDtype>(), Ok(d));
        }
        assert!("int8".parse::<SynthDtype>().is_err());
    }

    #[test]
    fn header_is_sorted_aligned_and_contiguous() {
        let mut cfg = tiny_config();
        cfg.num_hidden_layers = 11; // "model.layers.10" sorts before "model.layers.2"
        cfg.tie_word_embeddings = false;
        let (entries, header) = layout(&cfg, SynthDtype::BF16, Path::new("x")).expect("layout");
        assert_eq!(header.len() % 8, 0);
        assert!(header.starts_with("{\"__metadata__\":{\"format\":\"pt\"},\"lm_head.weight\":"));
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(entries.len(), 2 + 9 * 11 + 1);
        assert_eq!(entries[0].start, 0);
        for w in entries.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        let json: serde_json::Value = serde_json::from_str(header.trim_end()).expect("json header");
        assert_eq!(json["model.norm.weight"]["shape"], serde_json::json!([64]));
        assert_eq!(json["model.norm.weight"]["dtype"], "BF16");
    }
}
