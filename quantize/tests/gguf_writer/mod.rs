//! A minimal GGUF writer and a tiny synthetic llama model for the GGUF tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use half::{bf16, f16};
use zkinfer_quantize::load::gguf::{GgufArray, GgufValue};
use zkinfer_quantize::load::gguf_model::permute_qk;
use zkinfer_quantize::{LayerTensor, Tensor, TensorId};

/// One tensor to write: ggml dims (innermost first), raw ggml type id and data bytes.
#[derive(Clone, Debug)]
pub struct TensorSpec {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: u32,
    pub data: Vec<u8>,
}

/// The content of a GGUF file; `build` lays it out as llama.cpp does.
#[derive(Clone, Debug)]
pub struct GgufBuilder {
    pub version: u32,
    pub kvs: Vec<(String, GgufValue)>,
    pub tensors: Vec<TensorSpec>,
    pub alignment: usize,
}

/// A written file and where its fields lie.
pub struct Built {
    pub bytes: Vec<u8>,
    /// Offsets of every u64 field: counts, string and array lengths, dims, data offsets.
    pub u64_fields: Vec<usize>,
    /// Offset of each tensor's data offset field, by tensor index.
    pub offset_fields: Vec<usize>,
    /// Offset of each tensor's type field, by tensor index.
    pub type_fields: Vec<usize>,
    /// Where the metadata starts (after magic, version and the two counts).
    pub kv_start: usize,
    /// Where the tensor infos start.
    pub infos_start: usize,
    /// Where the tensor data starts.
    pub data_start: usize,
}

struct W {
    b: Vec<u8>,
    u64s: Vec<usize>,
}

impl W {
    fn u32(&mut self, v: u32) {
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.u64s.push(self.b.len());
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.b.extend_from_slice(s.as_bytes());
    }
    fn value(&mut self, v: &GgufValue) {
        match v {
            GgufValue::U8(x) => self.b.push(*x),
            GgufValue::I8(x) => self.b.extend_from_slice(&x.to_le_bytes()),
            GgufValue::U16(x) => self.b.extend_from_slice(&x.to_le_bytes()),
            GgufValue::I16(x) => self.b.extend_from_slice(&x.to_le_bytes()),
            GgufValue::U32(x) => self.u32(*x),
            GgufValue::I32(x) => self.b.extend_from_slice(&x.to_le_bytes()),
            GgufValue::F32(x) => self.b.extend_from_slice(&x.to_le_bytes()),
            GgufValue::Bool(x) => self.b.push(u8::from(*x)),
            GgufValue::String(s) => self.str(s),
            GgufValue::Array(a) => self.array(a),
            GgufValue::U64(x) => self.u64(*x),
            GgufValue::I64(x) => self.b.extend_from_slice(&x.to_le_bytes()),
            GgufValue::F64(x) => self.b.extend_from_slice(&x.to_le_bytes()),
        }
    }
    fn array(&mut self, a: &GgufArray) {
        macro_rules! items {
            ($ty:expr, $v:expr, $wrap:expr) => {{
                self.u32($ty);
                self.u64($v.len() as u64);
                for x in $v {
                    self.value(&$wrap(x.clone()));
                }
            }};
        }
        match a {
            GgufArray::U8(v) => items!(0, v, GgufValue::U8),
            GgufArray::I8(v) => items!(1, v, GgufValue::I8),
            GgufArray::U16(v) => items!(2, v, GgufValue::U16),
            GgufArray::I16(v) => items!(3, v, GgufValue::I16),
            GgufArray::U32(v) => items!(4, v, GgufValue::U32),
            GgufArray::I32(v) => items!(5, v, GgufValue::I32),
            GgufArray::F32(v) => items!(6, v, GgufValue::F32),
            GgufArray::Bool(v) => items!(7, v, GgufValue::Bool),
            GgufArray::String(v) => items!(8, v, GgufValue::String),
            GgufArray::Array(v) => items!(9, v, GgufValue::Array),
            GgufArray::U64(v) => items!(10, v, GgufValue::U64),
            GgufArray::I64(v) => items!(11, v, GgufValue::I64),
            GgufArray::F64(v) => items!(12, v, GgufValue::F64),
        }
    }
}

/// The GGUF type id of a value.
pub fn value_type(v: &GgufValue) -> u32 {
    match v {
        GgufValue::U8(_) => 0,
        GgufValue::I8(_) => 1,
        GgufValue::U16(_) => 2,
        GgufValue::I16(_) => 3,
        GgufValue::U32(_) => 4,
        GgufValue::I32(_) => 5,
        GgufValue::F32(_) => 6,
        GgufValue::Bool(_) => 7,
        GgufValue::String(_) => 8,
        GgufValue::Array(_) => 9,
        GgufValue::U64(_) => 10,
        GgufValue::I64(_) => 11,
        GgufValue::F64(_) => 12,
    }
}

impl GgufBuilder {
    pub fn new() -> Self {
        GgufBuilder { version: 3, kvs: Vec::new(), tensors: Vec::new(), alignment: 32 }
    }

    pub fn kv(&mut self, key: &str, v: GgufValue) -> &mut Self {
        self.kvs.retain(|(k, _)| k != key);
        self.kvs.push((key.to_string(), v));
        self
    }

    pub fn remove_kv(&mut self, key: &str) -> &mut Self {
        self.kvs.retain(|(k, _)| k != key);
        self
    }

    pub fn tensor(&mut self, name: &str) -> Option<&mut TensorSpec> {
        self.tensors.iter_mut().find(|t| t.name == name)
    }

    pub fn build(&self) -> Built {
        let mut w = W { b: b"GGUF".to_vec(), u64s: Vec::new() };
        w.u32(self.version);
        w.u64(self.tensors.len() as u64);
        w.u64(self.kvs.len() as u64);
        let kv_start = w.b.len();
        for (k, v) in &self.kvs {
            w.str(k);
            w.u32(value_type(v));
            w.value(v);
        }
        let infos_start = w.b.len();
        let (mut offset_fields, mut type_fields) = (Vec::new(), Vec::new());
        let mut offset = 0usize;
        for t in &self.tensors {
            w.str(&t.name);
            w.u32(t.dims.len() as u32);
            for &d in &t.dims {
                w.u64(d);
            }
            type_fields.push(w.b.len());
            w.u32(t.ty);
            offset_fields.push(w.b.len());
            w.u64(offset as u64);
            offset = (offset + t.data.len()).next_multiple_of(self.alignment);
        }
        w.b.resize(w.b.len().next_multiple_of(self.alignment), 0);
        let data_start = w.b.len();
        for t in &self.tensors {
            w.b.extend_from_slice(&t.data);
            w.b.resize(w.b.len().next_multiple_of(self.alignment), 0);
        }
        Built {
            bytes: w.b,
            u64_fields: w.u64s,
            offset_fields,
            type_fields,
            kv_start,
            infos_start,
            data_start,
        }
    }

    /// Writes the file into `dir` as `name` and returns its path.
    pub fn write(&self, dir: &tempfile::TempDir, name: &str) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, self.build().bytes).expect("write gguf");
        p
    }
}

/// splitmix64: a seeded generator for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A random f16 of modest magnitude (about 2^-10 to 2^2, either sign).
    pub fn f16(&mut self) -> f16 {
        let r = self.next();
        let exp = 5 + (r % 12) as u16; // biased exponent 5..16
        let bits = (((r >> 8) & 1) as u16) << 15 | exp << 10 | ((r >> 16) & 0x3FF) as u16;
        f16::from_bits(bits)
    }
}

/// ggml type ids used by the tests.
pub const F32: u32 = 0;
pub const F16: u32 = 1;
pub const Q4_0: u32 = 2;
pub const Q4_1: u32 = 3;
pub const Q8_0: u32 = 8;
pub const BF16: u32 = 30;

/// Encodes one row of `cols` random values of type `ty`; returns the bytes and the exact
/// f32 values they decode to, computed independently of the library (in f64, where every
/// intermediate is exact, then rounded once to f32).
pub fn random_row(rng: &mut Rng, ty: u32, cols: usize) -> (Vec<u8>, Vec<f32>) {
    let (mut bytes, mut vals) = (Vec::new(), Vec::new());
    match ty {
        F32 | F16 | BF16 => {
            for _ in 0..cols {
                let h = rng.f16();
                let x = h.to_f32();
                match ty {
                    F32 => bytes.extend_from_slice(&x.to_le_bytes()),
                    F16 => bytes.extend_from_slice(&h.to_le_bytes()),
                    _ => bytes.extend_from_slice(&bf16::from_f32(x).to_le_bytes()),
                }
                vals.push(if ty == BF16 { bf16::from_f32(x).to_f32() } else { x });
            }
        }
        _ => {
            for _ in 0..cols / 32 {
                let d = rng.f16();
                bytes.extend_from_slice(&d.to_le_bytes());
                let d = f64::from(d.to_f32());
                let m = if ty == Q4_1 {
                    let m = rng.f16();
                    bytes.extend_from_slice(&m.to_le_bytes());
                    f64::from(m.to_f32())
                } else {
                    0.0
                };
                let qs: Vec<u8> = (0..if ty == Q8_0 { 32 } else { 16 }).map(|_| rng.next() as u8).collect();
                bytes.extend_from_slice(&qs);
                let q: Vec<f64> = match ty {
                    Q8_0 => qs.iter().map(|&b| f64::from(b as i8)).collect(),
                    Q4_0 => qs
                        .iter()
                        .map(|&b| f64::from(b & 15) - 8.0)
                        .chain(qs.iter().map(|&b| f64::from(b >> 4) - 8.0))
                        .collect(),
                    _ => qs
                        .iter()
                        .map(|&b| f64::from(b & 15))
                        .chain(qs.iter().map(|&b| f64::from(b >> 4)))
                        .collect(),
                };
                // No `+ 0.0` for the scale-only types: ggml yields -0.0 for q = 0, d < 0.
                vals.extend(q.iter().map(|&q| if ty == Q4_1 { (q * d + m) as f32 } else { (q * d) as f32 }));
            }
        }
    }
    (bytes, vals)
}

/// Shape and types of the synthetic model: d 32, ffn 64, 2 layers, 4 heads of 8, 2 KV heads,
/// vocab 16; every supported ggml type appears.
pub struct Tiny {
    pub builder: GgufBuilder,
    /// The tensors in the HF layout that a correct importer returns.
    pub expected: HashMap<TensorId, Tensor>,
}

pub fn tiny_llama(seed: u64, tied: bool) -> Tiny {
    let (d, ffn, layers, heads, kv_heads, vocab) = (32usize, 64usize, 2usize, 4usize, 2usize, 16usize);
    let mut rng = Rng(seed);
    let mut b = GgufBuilder::new();
    let u32v = |x: usize| GgufValue::U32(x as u32);
    b.kv("general.architecture", GgufValue::String("llama".into()))
        .kv("general.alignment", GgufValue::U32(32))
        .kv("llama.block_count", u32v(layers))
        .kv("llama.context_length", u32v(128))
        .kv("llama.embedding_length", u32v(d))
        .kv("llama.feed_forward_length", u32v(ffn))
        .kv("llama.attention.head_count", u32v(heads))
        .kv("llama.attention.head_count_kv", u32v(kv_heads))
        .kv("llama.rope.dimension_count", u32v(d / heads))
        .kv("llama.rope.freq_base", GgufValue::F32(100_000.0))
        .kv("llama.attention.layer_norm_rms_epsilon", GgufValue::F32(1e-5))
        .kv("llama.vocab_size", u32v(vocab))
        .kv("test.i8", GgufValue::I8(-3))
        .kv("test.u16", GgufValue::U16(65535))
        .kv("test.i16", GgufValue::I16(-300))
        .kv("test.i32", GgufValue::I32(-70000))
        .kv("test.u64", GgufValue::U64(1 << 40))
        .kv("test.i64", GgufValue::I64(-(1 << 40)))
        .kv("test.f64", GgufValue::F64(0.1))
        .kv("test.bool", GgufValue::Bool(true))
        .kv("test.u8", GgufValue::U8(200))
        .kv(
            "test.nested",
            GgufValue::Array(GgufArray::Array(vec![
                GgufArray::U16(vec![1, 2]),
                GgufArray::F64(vec![]),
                GgufArray::Bool(vec![true, false]),
            ])),
        )
        .kv("tokenizer.ggml.model", GgufValue::String("gpt2".into()))
        .kv("tokenizer.ggml.pre", GgufValue::String("smollm".into()))
        .kv(
            "tokenizer.ggml.tokens",
            GgufValue::Array(GgufArray::String((0..vocab).map(|i| format!("tok{i}")).collect())),
        )
        .kv("tokenizer.ggml.token_type", GgufValue::Array(GgufArray::I32(vec![1; vocab])))
        .kv("tokenizer.ggml.merges", GgufValue::Array(GgufArray::String(vec!["t o".into(), "to k".into()])))
        .kv("tokenizer.ggml.bos_token_id", GgufValue::U32(1))
        .kv("tokenizer.ggml.eos_token_id", GgufValue::U32(2));

    let mut expected = HashMap::new();
    let mut add =
        |b: &mut GgufBuilder, id: TensorId, ty: u32, rows: usize, cols: usize, heads: Option<usize>| {
            let (mut bytes, mut vals) = (Vec::new(), Vec::new());
            for _ in 0..rows {
                let (rb, rv) = random_row(&mut rng, ty, cols);
                bytes.push(rb);
                vals.extend(rv);
            }
            if let Some(h) = heads {
                // Permute whole rows as llama.cpp's converter does, via the row indices.
                let idx: Vec<f32> = (0..rows).map(|r| r as f32).collect();
                let perm = permute_qk(&idx, 1, h).expect("permute");
                bytes = perm.iter().map(|&r| bytes[r as usize].clone()).collect();
            }
            let dims = if rows == 1 { vec![cols as u64] } else { vec![cols as u64, rows as u64] };
            b.tensors.push(TensorSpec { name: id.gguf_name(), dims, ty, data: bytes.concat() });
            let shape = if rows == 1 { vec![cols] } else { vec![rows, cols] };
            expected.insert(id, Tensor::new(shape, vals).expect("tensor"));
        };
    add(&mut b, TensorId::Embedding, Q8_0, vocab, d, None);
    for l in 0..layers {
        let t = |x| TensorId::Layer(l, x);
        add(&mut b, t(LayerTensor::AttnNorm), F32, 1, d, None);
        add(&mut b, t(LayerTensor::Q), Q4_1, d, d, Some(heads));
        add(&mut b, t(LayerTensor::K), Q4_0, d / heads * kv_heads, d, Some(kv_heads));
        add(&mut b, t(LayerTensor::V), Q8_0, d / heads * kv_heads, d, None);
        add(&mut b, t(LayerTensor::O), F16, d, d, None);
        add(&mut b, t(LayerTensor::FfnNorm), BF16, 1, d, None);
        add(&mut b, t(LayerTensor::Gate), Q4_1, ffn, d, None);
        add(&mut b, t(LayerTensor::Up), F32, ffn, d, None);
        add(&mut b, t(LayerTensor::Down), Q4_0, d, ffn, None);
    }
    add(&mut b, TensorId::FinalNorm, F32, 1, d, None);
    if !tied {
        add(&mut b, TensorId::LmHead, F16, vocab, d, None);
    } else if let Some(e) = expected.get(&TensorId::Embedding).cloned() {
        expected.insert(TensorId::LmHead, e);
    }
    Tiny { builder: b, expected }
}
