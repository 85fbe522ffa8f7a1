//! Broken and unsupported GGUF files: each gives the right `LoadError` variant, naming the
//! file (and the tensor where one is involved), without panicking or allocating wildly.

mod gguf_writer;

use std::path::PathBuf;

use gguf_writer::{tiny_llama, GgufBuilder, TensorSpec};
use zkinfer_quantize::load::gguf::{GgufArray, GgufFile, GgufValue};
use zkinfer_quantize::load::gguf_model::GgufModel;
use zkinfer_quantize::{LoadError, TensorId, WeightSource};

struct Case {
    dir: tempfile::TempDir,
    n: std::cell::Cell<usize>,
}

impl Case {
    fn new() -> Self {
        Case { dir: tempfile::tempdir().expect("tempdir"), n: 0.into() }
    }

    fn write(&self, bytes: &[u8]) -> PathBuf {
        self.n.set(self.n.get() + 1);
        let p = self.dir.path().join(format!("case{}.gguf", self.n.get()));
        std::fs::write(&p, bytes).expect("write");
        p
    }

    /// Opens `bytes` as a model, expects an error and checks that it names the file.
    fn err(&self, bytes: &[u8]) -> LoadError {
        let p = self.write(bytes);
        let e = GgufModel::open(&p).expect_err("a broken file must not open");
        assert!(e.to_string().contains(&p.display().to_string()), "message lacks the path: {e}");
        e
    }
}

fn tiny() -> GgufBuilder {
    tiny_llama(1, true).builder
}

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Offset of the bytes right after `key` in the metadata.
fn after_key(bytes: &[u8], key: &str) -> usize {
    let k = key.as_bytes();
    bytes.windows(k.len()).position(|w| w == k).expect("key present") + k.len()
}

fn format_msg(e: &LoadError) -> &str {
    match e {
        LoadError::Format { msg, .. } => msg,
        other => panic!("expected LoadError::Format, got {other:?}"),
    }
}

fn tensor_err<'a>(e: &'a LoadError, name: &str) -> &'a str {
    match e {
        LoadError::Tensor { tensor, msg, .. } if tensor == name => msg,
        other => panic!("expected LoadError::Tensor for {name}, got {other:?}"),
    }
}

fn config_msg(e: &LoadError) -> &str {
    match e {
        LoadError::Config { msg, .. } => msg,
        other => panic!("expected LoadError::Config, got {other:?}"),
    }
}

#[test]
fn truncation_anywhere_is_an_error() {
    let c = Case::new();
    let b = tiny();
    let built = b.build();
    let (last, rest) = b.tensors.split_last().expect("tensors");
    let data_end = built.data_start
        + rest.iter().map(|t| t.data.len().next_multiple_of(32)).sum::<usize>()
        + last.data.len();
    // Every length through the counts and the first keys, then a sample of the rest.
    let lens = (0..built.kv_start + 64)
        .chain((built.kv_start + 64..built.data_start).step_by(7))
        .chain((built.data_start..data_end).step_by(61));
    for len in lens {
        let e = c.err(&built.bytes[..len]);
        match &e {
            LoadError::Format { msg, .. } => {
                assert!(len < built.data_start && msg.contains("truncated"), "{len}: {e}")
            }
            LoadError::Tensor { msg, .. } => {
                assert!(msg.contains("truncated") || msg.contains("past the end"), "{e}")
            }
            other => panic!("truncated at {len}: unexpected {other:?}"),
        }
    }
    // The padding after the last tensor is not needed.
    GgufModel::open(c.write(&built.bytes[..data_end])).expect("open without the padding");
}

#[test]
fn bad_magic_and_versions() {
    let c = Case::new();
    let mut bytes = tiny().build().bytes;
    bytes[3] = b'G';
    assert!(format_msg(&c.err(&bytes)).contains("not a GGUF file"));
    for (v, want) in [(1u32, "version 1"), (0x0300_0000, "big-endian"), (4, "version 4")] {
        let mut b = tiny();
        b.version = v;
        assert!(format_msg(&c.err(&b.build().bytes)).contains(want), "{v}");
    }
    assert!(format_msg(&c.err(b"")).contains("truncated"));
}

#[test]
fn lying_counts_fail_before_allocating() {
    let c = Case::new();
    let built = tiny().build();
    // tensor_count at 8, kv_count at 16.
    for (at, what) in [(8, "tensor_count"), (16, "kv_count")] {
        for v in [u64::MAX, 1 << 40, built.bytes.len() as u64] {
            let mut bytes = built.bytes.clone();
            put_u64(&mut bytes, at, v);
            assert!(format_msg(&c.err(&bytes)).contains(what), "{what} = {v}");
        }
    }
}

#[test]
fn lying_string_and_array_lengths() {
    let c = Case::new();
    let built = tiny().build();
    let huge = [u64::MAX, u64::MAX / 2, 1 << 33, built.bytes.len() as u64];
    let cases = [
        (built.kv_start, "metadata entry #0"),
        (after_key(&built.bytes, "general.architecture") + 4, "`general.architecture`"),
        (after_key(&built.bytes, "tokenizer.ggml.tokens") + 8, "`tokenizer.ggml.tokens`: array length"),
        (after_key(&built.bytes, "tokenizer.ggml.tokens") + 16, "`tokenizer.ggml.tokens`: string element"),
        (after_key(&built.bytes, "test.nested") + 20, "`test.nested`"),
        (built.infos_start, "tensor info #0: tensor name"),
    ];
    for (at, want) in cases {
        for v in huge {
            let mut bytes = built.bytes.clone();
            put_u64(&mut bytes, at, v);
            let e = c.err(&bytes);
            assert!(format_msg(&e).contains(want), "at {at} = {v}: {e}");
        }
    }
}

#[test]
fn tensor_offsets_and_sizes_are_checked() {
    let c = Case::new();
    let b = tiny();
    let built = b.build();
    let last = b.tensors.len() - 1;
    let name = &b.tensors[last].name;
    for (v, want) in [(1u64 << 20, "past the end"), (u64::MAX - 31, "past the end"), (33, "alignment")] {
        let mut bytes = built.bytes.clone();
        put_u64(&mut bytes, built.offset_fields[last], v);
        assert!(tensor_err(&c.err(&bytes), name).contains(want), "offset {v}");
    }
    // Dimensions whose product overflows, and too many dimensions.
    let mut o = tiny();
    o.tensors[0].dims = vec![1 << 32, 1 << 32, 1 << 32];
    assert!(tensor_err(&c.err(&o.build().bytes), "token_embd.weight").contains("overflow"));
    o.tensors[0].dims = vec![32, 1, 1, 1, 16];
    assert!(tensor_err(&c.err(&o.build().bytes), "token_embd.weight").contains("n_dims"));
    // A Q8_0 row that is not a whole number of blocks.
    let mut o = tiny();
    o.tensors[0].dims = vec![16, 32];
    assert!(tensor_err(&c.err(&o.build().bytes), "token_embd.weight").contains("multiple"));
    // Duplicate tensor names.
    let mut o = tiny();
    o.tensors[1].name = o.tensors[0].name.clone();
    assert!(tensor_err(&c.err(&o.build().bytes), "token_embd.weight").contains("duplicate"));
}

#[test]
fn unknown_and_unsupported_types() {
    let c = Case::new();
    let built = tiny().build();
    let mut bytes = built.bytes.clone();
    bytes[built.type_fields[0]..built.type_fields[0] + 4].copy_from_slice(&99u32.to_le_bytes());
    let e = c.err(&bytes);
    assert!(
        matches!(&e, LoadError::UnsupportedDtype { tensor, dtype, .. } if tensor == "token_embd.weight" && dtype == "unknown (type 99)"),
        "{e:?}"
    );
    // Q5_0 is a known type (the size checks pass) that zkinfer does not dequantize.
    let mut b = tiny();
    let norm = b.tensor("blk.0.attn_norm.weight").expect("norm");
    norm.ty = 6;
    norm.data.truncate(22);
    let e = c.err(&b.build().bytes);
    assert!(
        matches!(&e, LoadError::UnsupportedDtype { tensor, dtype, .. } if tensor == "blk.0.attn_norm.weight" && dtype == "Q5_0 (type 6)"),
        "{e:?}"
    );
    // An unused Q5_K tensor does not stop the model, but cannot be dequantized.
    let mut b = tiny();
    b.tensors.push(TensorSpec { name: "extra.weight".into(), dims: vec![256], ty: 13, data: vec![0; 176] });
    let p = c.write(&b.build().bytes);
    let model = GgufModel::open(&p).expect("open");
    let info = model.file().tensor("extra.weight").expect("extra");
    let e = model.file().dequantize(info).expect_err("Q5_K");
    assert!(matches!(&e, LoadError::UnsupportedDtype { dtype, .. } if dtype == "Q5_K (type 13)"), "{e:?}");
    assert!(e.to_string().contains(&p.display().to_string()) && e.to_string().contains("extra.weight"));
}

#[test]
fn missing_tensors_and_wrong_shapes() {
    let c = Case::new();
    for name in ["blk.1.ffn_up.weight", "output_norm.weight", "token_embd.weight"] {
        let mut b = tiny();
        b.tensors.retain(|t| t.name != name);
        let e = c.err(&b.build().bytes);
        assert!(matches!(&e, LoadError::MissingTensor { tensor, .. } if tensor == name), "{e:?}");
    }
    let mut b = tiny();
    let q = b.tensor("blk.0.attn_q.weight").expect("q");
    q.dims = vec![32, 16];
    q.data.truncate(q.data.len() / 2);
    let e = c.err(&b.build().bytes);
    assert!(
        matches!(&e, LoadError::ShapeMismatch { tensor, expected, got, .. }
            if tensor == "blk.0.attn_q.weight" && expected == &[32, 32] && got == &[16, 32]),
        "{e:?}"
    );
    // A lying block count fails at the first missing layer.
    let mut b = tiny();
    b.kv("llama.block_count", GgufValue::U32(1 << 24));
    let e = c.err(&b.build().bytes);
    assert!(
        matches!(&e, LoadError::MissingTensor { tensor, .. } if tensor == "blk.2.attn_norm.weight"),
        "{e:?}"
    );
    // A layer past the configured count is missing, not a panic.
    let p = c.write(&tiny().build().bytes);
    let m = GgufModel::open(&p).expect("open");
    let e = m.load(TensorId::Layer(7, zkinfer_quantize::LayerTensor::Q)).expect_err("no layer 7");
    assert!(matches!(&e, LoadError::MissingTensor { tensor, .. } if tensor == "blk.7.attn_q.weight"));
}

#[test]
fn unsupported_architectures_and_metadata() {
    let c = Case::new();
    let s = |x: &str| Some(GgufValue::String(x.into()));
    let u = |x: u32| Some(GgufValue::U32(x));
    let cases = [
        ("general.architecture", s("qwen2"), "unsupported architecture `qwen2`"),
        ("general.architecture", u(1), "expected string"),
        ("general.architecture", None, "lacks general.architecture"),
        ("llama.block_count", None, "lacks llama.block_count"),
        ("llama.embedding_length", s("32"), "llama.embedding_length has type string"),
        ("llama.attention.head_count", Some(GgufValue::I32(-4)), "head_count has type i32"),
        ("llama.attention.head_count", u(0), "must be positive"),
        ("llama.rope.scaling.type", s("linear"), "RoPE scaling"),
        ("llama.rope.scaling.factor", Some(GgufValue::F32(4.0)), "RoPE scaling"),
        ("llama.expert_count", u(8), "mixture-of-experts"),
        ("llama.attention.key_length", u(16), "differs from the head size"),
        ("llama.attention.layer_norm_rms_epsilon", Some(GgufValue::F32(-1.0)), "rms_norm_eps"),
        ("general.alignment", u(24), "general.alignment"),
    ];
    for (key, value, want) in cases {
        let mut b = tiny();
        match value {
            Some(v) => b.kv(key, v),
            None => b.remove_kv(key),
        };
        let e = c.err(&b.build().bytes);
        assert!(config_msg(&e).contains(want), "want {want:?}, got {e}");
    }
    for (name, want) in [("blk.0.attn_q.bias", "bias"), ("rope_freqs.weight", "rope_freqs")] {
        let mut b = tiny();
        b.tensors.push(TensorSpec { name: name.into(), dims: vec![32], ty: 0, data: vec![0; 128] });
        let e = c.err(&b.build().bytes);
        assert!(config_msg(&e).contains(want), "want {want:?}, got {e}");
    }
    // Scaling type "none" and factor 1 are plain RoPE.
    let mut b = tiny();
    b.kv("llama.rope.scaling.type", GgufValue::String("none".into()))
        .kv("llama.rope.scaling.factor", GgufValue::F32(1.0));
    GgufModel::open(c.write(&b.build().bytes)).expect("open");
}

#[test]
fn malformed_metadata_values() {
    let c = Case::new();
    let mut dup = tiny();
    dup.kvs.push(("llama.block_count".into(), GgufValue::U32(2)));
    assert!(format_msg(&c.err(&dup.build().bytes)).contains("duplicate metadata key"));
    let built = tiny().build();
    let at = after_key(&built.bytes, "test.bool");
    let mut bytes = built.bytes.clone();
    bytes[at + 4] = 2;
    assert!(format_msg(&c.err(&bytes)).contains("neither 0 nor 1"));
    let mut bytes = built.bytes.clone();
    bytes[at..at + 4].copy_from_slice(&13u32.to_le_bytes());
    assert!(format_msg(&c.err(&bytes)).contains("unknown value type 13"));
    let mut bytes = built.bytes.clone();
    let at = after_key(&bytes, "test.u8") - 1;
    bytes[at] = 0xFF;
    assert!(format_msg(&c.err(&bytes)).contains("not UTF-8"));
    let mut deep = GgufArray::U8(vec![1]);
    for _ in 0..5 {
        deep = GgufArray::Array(vec![deep]);
    }
    let mut b = tiny();
    b.kv("test.deep", GgufValue::Array(deep));
    assert!(format_msg(&c.err(&b.build().bytes)).contains("nested deeper"));
}

#[test]
fn a_missing_file_is_an_io_error() {
    let p = std::path::Path::new("/nonexistent/model.gguf");
    let e = GgufFile::open(p).expect_err("missing");
    assert!(matches!(e, LoadError::Io { .. }) && e.to_string().contains("/nonexistent/model.gguf"));
}
