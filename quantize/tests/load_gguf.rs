//! The GGUF importer: the real SmolLM2 Q4_1 file against its f32 slice (bit for bit),
//! the dequantizers on hand-built blocks, the q/k un-permutation and a synthetic model.

mod common;
mod gguf_writer;

use std::path::Path;

use gguf_writer::{tiny_llama, Rng};
use zkinfer_quantize::load::ggml::{dequantize, GgmlType};
use zkinfer_quantize::load::gguf::{GgufArray, GgufFile, GgufValue};
use zkinfer_quantize::load::gguf_model::{permute_qk, unpermute_qk, GgufModel};
use zkinfer_quantize::open::open_float;
use zkinfer_quantize::{LayerTensor, LlamaConfig, LoadError, TensorId, WeightSource};

fn deq(ty: GgmlType, bytes: &[u8], n: usize) -> Vec<f32> {
    dequantize(Path::new("t.gguf"), "t", ty, bytes, n).expect("dequantize")
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn smollm2_matches_the_f32_slice_bit_for_bit() {
    let Some(path) = common::smollm2_gguf() else {
        return;
    };
    let model = GgufModel::open(&path).expect("open");
    assert_eq!(
        model.config(),
        &LlamaConfig {
            hidden_size: 576,
            intermediate_size: 1536,
            num_hidden_layers: 30,
            num_attention_heads: 9,
            num_key_value_heads: 3,
            head_dim: 64,
            rms_norm_eps: 1e-5,
            rope_theta: 1e5,
            vocab_size: 49152,
            tie_word_embeddings: true,
        }
    );
    let bytes = std::fs::read(common::slice_dir().join("model.safetensors")).expect("read slice");
    let slice = safetensors::SafeTensors::deserialize(&bytes).expect("parse slice");
    let reference = |id: TensorId| {
        let t = slice.tensor(&id.hf_name()).expect("slice tensor");
        assert_eq!(t.dtype(), safetensors::Dtype::F32);
        let v: Vec<u32> =
            t.data().chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        (t.shape().to_vec(), v)
    };
    let mut ids = vec![TensorId::FinalNorm];
    for l in 0..2 {
        ids.extend(LayerTensor::ALL.iter().map(|&t| TensorId::Layer(l, t)));
    }
    for id in ids {
        let got = model.load(id).expect("load");
        let (shape, want) = reference(id);
        assert_eq!(got.shape, shape, "{id:?}");
        assert!(bits(&got.data) == want, "{id:?} differs from the slice");
    }
    let (shape, want) = reference(TensorId::Embedding);
    for id in [TensorId::Embedding, TensorId::LmHead] {
        let emb = model.load(id).expect("load embedding");
        assert_eq!(emb.shape, vec![49152, 576]);
        assert_eq!(shape, vec![8192, 576]);
        assert!(bits(&emb.data[..8192 * 576]) == want, "{id:?} rows differ from the slice");
    }
}

#[test]
fn smollm2_loads_every_tensor_and_its_tokenizer() {
    let Some(path) = common::smollm2_gguf() else {
        return;
    };
    let start = std::time::Instant::now();
    let model = GgufModel::open(&path).expect("open");
    let opened = start.elapsed();
    let mut n = 0usize;
    for id in model.tensor_ids() {
        let t = model.load(id).expect("load");
        assert!(t.data.iter().all(|x| x.is_finite()), "{id:?} has non-finite values");
        n += t.data.len();
    }
    eprintln!("opened in {opened:?}, loaded {n} parameters in {:?}", start.elapsed());
    assert_eq!(n, 134_515_008);
    let tok = model.tokenizer_data().expect("tokenizer");
    assert_eq!(tok.model, "gpt2");
    assert_eq!(tok.pre.as_deref(), Some("smollm"));
    assert_eq!(tok.tokens.len(), 49152);
    assert_eq!(tok.tokens.first().map(String::as_str), Some("<|endoftext|>"));
    assert_eq!(tok.merges.len(), 48900);
    assert_eq!(tok.merges.first().map(String::as_str), Some("Ġ t"));
    assert_eq!(tok.token_types.as_ref().map(Vec::len), Some(49152));
    assert_eq!((tok.bos, tok.eos), (Some(1), Some(2)));
    let f = model.file();
    assert_eq!((f.version(), f.tensors().len(), f.metadata().len()), (3, 272, 33));
}

#[test]
fn q4_0_block() {
    // d = 0.5; qs[j] = j | (15 - j) << 4.
    let mut b = half::f16::from_f32(0.5).to_le_bytes().to_vec();
    b.extend((0..16u8).map(|j| j | (15 - j) << 4));
    let want: Vec<f32> =
        (0..16).map(|j| (j - 8) as f32 * 0.5).chain((0..16).map(|j| (7 - j) as f32 * 0.5)).collect();
    assert_eq!(deq(GgmlType::Q4_0, &b, 32), want);
}

#[test]
fn q4_1_block() {
    // d = 0.25, m = -1.
    let mut b = half::f16::from_f32(0.25).to_le_bytes().to_vec();
    b.extend(half::f16::from_f32(-1.0).to_le_bytes());
    b.extend((0..16u8).map(|j| j | (15 - j) << 4));
    let want: Vec<f32> =
        (0..16).map(|j| j as f32 * 0.25 - 1.0).chain((0..16).map(|j| (15 - j) as f32 * 0.25 - 1.0)).collect();
    assert_eq!(deq(GgmlType::Q4_1, &b, 32), want);
    // A sum that must round: q·d = 15·(1 + 2^-10) is exact, adding m = 2^15 (f32 ulp 2^-8)
    // is not; the result is the correctly rounded exact value.
    let mut b = half::f16::from_bits(0x3C01).to_le_bytes().to_vec();
    b.extend(half::f16::from_f32(32768.0).to_le_bytes());
    b.extend([0xFFu8; 16]);
    let x = deq(GgmlType::Q4_1, &b, 32);
    let exact = 15.0 * (1.0 + 2f64.powi(-10)) + 32768.0;
    assert_ne!(f64::from(exact as f32), exact);
    assert!(x.iter().all(|&v| v == exact as f32));
}

#[test]
fn q8_0_block() {
    let mut b = half::f16::from_f32(-0.125).to_le_bytes().to_vec();
    let qs: Vec<i8> = (0..32).map(|j| (j * 8 - 128) as i8).collect();
    b.extend(qs.iter().map(|&q| q as u8));
    let want: Vec<f32> = qs.iter().map(|&q| q as f32 * -0.125).collect();
    assert_eq!(deq(GgmlType::Q8_0, &b, 32), want);
    assert_eq!(deq(GgmlType::Q8_0, &b, 32)[0], 16.0);
}

#[test]
fn f16_and_bf16_values() {
    let h: [u16; 6] = [0x3C00, 0xC000, 0x0001, 0x7BFF, 0x8000, 0x7C00];
    let b: Vec<u8> = h.iter().flat_map(|x| x.to_le_bytes()).collect();
    let x = deq(GgmlType::F16, &b, 6);
    assert_eq!(x, [1.0, -2.0, 2f32.powi(-24), 65504.0, -0.0, f32::INFINITY]);
    assert!(x[4].is_sign_negative());
    let bf: [u16; 4] = [0x3F80, 0xC040, 0x0001, 0x7F7F];
    let b: Vec<u8> = bf.iter().flat_map(|x| x.to_le_bytes()).collect();
    let x = deq(GgmlType::BF16, &b, 4);
    assert_eq!(bits(&x), [0x3F80_0000, 0xC040_0000, 0x0001_0000, 0x7F7F_0000]);
    let f: Vec<u8> = [1.5f32, -0.0, 3e38].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(bits(&deq(GgmlType::F32, &f, 3)), bits(&[1.5, -0.0, 3e38]));
}

#[test]
fn large_tensors_dequantize_like_small_ones() {
    // Above the parallel threshold the blocks are split across threads; the result must
    // equal block-by-block decoding.
    let mut rng = Rng(7);
    for ty in [gguf_writer::Q4_0, gguf_writer::Q4_1, gguf_writer::Q8_0, gguf_writer::F16] {
        let (bytes, want) = gguf_writer::random_row(&mut rng, ty, 1 << 17);
        let t = GgmlType::from_id(ty).expect("type");
        assert!(bits(&deq(t, &bytes, 1 << 17)) == bits(&want), "{t}");
    }
}

#[test]
fn dequantize_checks_type_and_size() {
    let p = Path::new("m.gguf");
    let e = dequantize(p, "w", GgmlType::Q5_K, &[0; 176], 256).expect_err("Q5_K");
    assert!(matches!(&e, LoadError::UnsupportedDtype { dtype, .. } if dtype == "Q5_K (type 13)"), "{e}");
    assert!(e.to_string().contains("m.gguf") && e.to_string().contains("`w`"), "{e}");
    let e = dequantize(p, "w", GgmlType::Q4_1, &[0; 19], 32).expect_err("short");
    assert!(matches!(e, LoadError::Tensor { .. }), "{e}");
    let e = dequantize(p, "w", GgmlType::Q8_0, &[0; 34], 31).expect_err("partial block");
    assert!(matches!(e, LoadError::Tensor { .. }), "{e}");
    assert_eq!(GgmlType::describe_id(4), "unknown (type 4)");
    assert_eq!(GgmlType::from_id(3).map(|t| t.to_string()).as_deref(), Some("Q4_1 (type 3)"));
}

#[test]
fn unpermute_inverts_the_llama_cpp_permutation() {
    // Two heads of head_dim 4, 3 columns; row r holds r in every column.
    let hf: Vec<f32> = (0..8).flat_map(|r| [r as f32; 3]).collect();
    let gguf = permute_qk(&hf, 3, 2).expect("permute");
    // Within a head, GGUF row 2i is HF row i and row 2i+1 is HF row i + head_dim/2.
    let rows: Vec<f32> = gguf.chunks(3).map(|r| r[0]).collect();
    assert_eq!(rows, [0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]);
    assert_eq!(unpermute_qk(&gguf, 3, 2), Some(hf.clone()));
    let mut rng = Rng(3);
    let x: Vec<f32> = (0..64 * 5).map(|_| rng.f16().to_f32()).collect();
    assert_eq!(unpermute_qk(&permute_qk(&x, 5, 4).expect("p"), 5, 4), Some(x));
    assert_eq!(unpermute_qk(&hf, 3, 3), None, "8 rows do not split into 3 heads");
    assert_eq!(unpermute_qk(&hf, 3, 8), None, "heads of one row cannot be halved");
    assert_eq!(unpermute_qk(&hf, 0, 2), None);
}

#[test]
fn synthetic_model_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    for tied in [true, false] {
        let tiny = tiny_llama(11, tied);
        let path = tiny.builder.write(&dir, "tiny.gguf");
        let model = GgufModel::open(&path).expect("open");
        let c = model.config();
        assert_eq!((c.hidden_size, c.intermediate_size, c.num_hidden_layers), (32, 64, 2));
        assert_eq!((c.num_attention_heads, c.num_key_value_heads, c.head_dim), (4, 2, 8));
        assert_eq!(
            (c.rms_norm_eps, c.rope_theta, c.vocab_size, c.tie_word_embeddings),
            (1e-5, 1e5, 16, tied)
        );
        assert_eq!(model.tensor_ids().len(), 20 + usize::from(!tied));
        for (id, want) in &tiny.expected {
            let got = model.load(*id).expect("load");
            assert_eq!(got.shape, want.shape, "{id:?}");
            assert!(bits(&got.data) == bits(&want.data), "{id:?} differs");
        }
        let f = model.file();
        assert_eq!(f.get("test.i8"), Some(&GgufValue::I8(-3)));
        assert_eq!(f.get("test.u64").and_then(GgufValue::as_u64), Some(1 << 40));
        assert_eq!(f.get("test.i64"), Some(&GgufValue::I64(-(1 << 40))));
        assert_eq!(f.get("test.f64").and_then(GgufValue::as_f64), Some(0.1));
        assert_eq!(f.get("test.bool").and_then(GgufValue::as_bool), Some(true));
        let nested = f.get("test.nested").and_then(GgufValue::as_array);
        assert!(
            matches!(nested, Some(GgufArray::Array(a)) if a.len() == 3 && a[0] == GgufArray::U16(vec![1, 2]))
        );
        for (k, v) in &tiny.builder.kvs {
            assert_eq!(f.get(k), Some(v), "{k}");
        }
        let tok = model.tokenizer_data().expect("tokenizer");
        assert_eq!((tok.tokens.len(), tok.merges.len(), tok.bos, tok.eos), (16, 2, Some(1), Some(2)));
        assert_eq!(tok.token_types, Some(vec![1; 16]));
    }
}

#[test]
fn version_2_files_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tiny = tiny_llama(5, true);
    tiny.builder.version = 2;
    let f = GgufFile::open(tiny.builder.write(&dir, "v2.gguf")).expect("open v2");
    assert_eq!(f.version(), 2);
}

#[test]
fn metadata_defaults_apply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tiny = tiny_llama(5, true);
    for k in [
        "general.alignment",
        "llama.attention.head_count_kv",
        "llama.rope.dimension_count",
        "llama.rope.freq_base",
        "llama.vocab_size",
    ] {
        tiny.builder.remove_kv(k);
    }
    // Without head_count_kv the model has as many KV heads as query heads: K and V must
    // then have 32 rows, which they do not, so the shape check names the tensor.
    let err = GgufModel::open(tiny.builder.write(&dir, "a.gguf")).expect_err("K has 16 rows");
    assert!(
        matches!(&err, LoadError::ShapeMismatch { tensor, .. } if tensor == "blk.0.attn_k.weight"),
        "{err}"
    );
    tiny.builder.kv("llama.attention.head_count_kv", GgufValue::U32(2));
    let m = GgufModel::open(tiny.builder.write(&dir, "b.gguf")).expect("open");
    let c = m.config();
    assert_eq!((c.head_dim, c.rope_theta, c.vocab_size, m.file().alignment()), (8, 10_000.0, 16, 32));
    // Without llama.vocab_size and tokens, the embedding's rows give the vocabulary.
    tiny.builder.remove_kv("tokenizer.ggml.tokens");
    let m = GgufModel::open(tiny.builder.write(&dir, "c.gguf")).expect("open");
    assert_eq!(m.config().vocab_size, 16);
    assert!(m.tokenizer_data().is_none());
}

#[test]
fn a_tokenizer_that_cannot_be_built_leaves_the_model_without_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tiny = tiny_llama(5, true);
    tiny.builder.kv("tokenizer.ggml.model", GgufValue::String("bert".into()));
    let fm = open_float(&tiny.builder.write(&dir, "bert.gguf")).expect("the model opens");
    assert!(fm.tokenizer.is_none());
    let err = fm.tokenizer_error.expect("why there is no tokenizer");
    assert!(err.to_string().contains("tokenizer.ggml.model `bert` is not supported"), "{err}");

    tiny.builder.kv("tokenizer.ggml.model", GgufValue::String("gpt2".into()));
    tiny.builder.kv("tokenizer.ggml.pre", GgufValue::String("qwen2".into()));
    let fm = open_float(&tiny.builder.write(&dir, "qwen2.gguf")).expect("the model opens");
    let err = fm.tokenizer_error.expect("why there is no tokenizer");
    assert!(err.to_string().contains("tokenizer.ggml.pre `qwen2` is not supported"), "{err}");
}
