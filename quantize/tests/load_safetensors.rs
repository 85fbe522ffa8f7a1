//! The safetensors parser and the HF folder importer: the real SmolLM2 slice, F16/BF16
//! conversion, sharded folders, and every kind of broken input.

mod common;
mod safetensors_fixtures;

use safetensors::{Dtype as StDtype, SafeTensors};
use safetensors_fixtures::*;
use zkinfer_quantize::load::hf::HfModel;
use zkinfer_quantize::load::safetensors::{Dtype, SafetensorsFile};
use zkinfer_quantize::{LoadError, TensorId, WeightSource};

#[test]
fn smollm2_slice_loads_with_listed_shapes_and_exact_values() {
    let dir = common::slice_dir();
    let model = HfModel::open(&dir).expect("open slice");
    let file = SafetensorsFile::open(&dir.join("model.safetensors")).expect("open file");
    let listing = std::fs::read_to_string(dir.join("tensors.txt")).expect("tensors.txt");
    let bytes = std::fs::read(dir.join("model.safetensors")).expect("read");
    let reference = SafeTensors::deserialize(&bytes).expect("reference reader");
    let mut listed = 0;
    for line in listing.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 3, "{line}");
        let shape: Vec<usize> =
            cols[2].trim_matches(['[', ']']).split(',').map(|d| d.trim().parse().expect("dim")).collect();
        let info = file.info(cols[0]).unwrap_or_else(|| panic!("{} not in file", cols[0]));
        assert_eq!(info.shape, shape, "{}", cols[0]);
        assert_eq!(info.dtype.name(), cols[1]);
        let t = file.read_f32(cols[0]).expect("read");
        assert_eq!(t.shape, shape);
        let want = reference.tensor(cols[0]).expect("reference tensor");
        assert_eq!(want.shape(), shape.as_slice());
        assert_eq!(f32_bytes(&t.data), want.data(), "{} differs from the reference reader", cols[0]);
        listed += 1;
    }
    assert_eq!(listed, file.names().count(), "tensors.txt lists every tensor");
    let cfg = model.config().clone();
    assert_eq!((cfg.hidden_size, cfg.vocab_size, cfg.num_hidden_layers), (576, 8192, 2));
    for id in HfModel::required_tensors(&cfg) {
        assert_eq!(model.load(id).expect("load").shape, id.expected_shape(&cfg), "{id:?}");
    }
    // Spot values through the WeightSource, bit for bit against the reference reader.
    let emb = model.load(TensorId::Embedding).expect("embedding");
    let raw = reference.tensor("model.embed_tokens.weight").expect("emb").data();
    for i in [0, 1, 575, 576, 4_718_591] {
        let want = f32::from_le_bytes(raw[4 * i..4 * i + 4].try_into().expect("4 bytes"));
        assert_eq!(emb.data[i].to_bits(), want.to_bits(), "embedding[{i}]");
    }
    assert_eq!(model.load(TensorId::LmHead).expect("tied lm_head"), emb);
}

#[test]
fn f16_and_bf16_read_as_their_half_conversions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bits: Vec<u16> = (0..4096u32).map(|i| (i * 16 + i % 16) as u16).collect();
    let raw: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
    let f32s: Vec<f32> = (0..24).map(|i| i as f32 * -0.375 + 1e-3).collect();
    let path = dir.path().join("halves.safetensors");
    write_st(
        &path,
        &[
            ("h".into(), StDtype::F16, vec![64, 64], raw.clone()),
            ("b".into(), StDtype::BF16, vec![4096], raw),
            ("f".into(), StDtype::F32, vec![2, 3, 4], f32_bytes(&f32s)),
        ],
    );
    let file = SafetensorsFile::open(&path).expect("open");
    assert_eq!(file.info("h").map(|i| i.dtype), Some(Dtype::F16));
    assert_eq!(file.info("b").map(|i| i.dtype), Some(Dtype::BF16));
    let h = file.read_f32("h").expect("f16");
    let b = file.read_f32("b").expect("bf16");
    assert_eq!((h.shape.as_slice(), b.shape.as_slice()), ([64, 64].as_slice(), [4096].as_slice()));
    for (i, &x) in bits.iter().enumerate() {
        assert_eq!(h.data[i].to_bits(), half::f16::from_bits(x).to_f32().to_bits(), "f16 {x:#06x}");
        assert_eq!(b.data[i].to_bits(), half::bf16::from_bits(x).to_f32().to_bits(), "bf16 {x:#06x}");
    }
    assert_eq!(file.read_f32("f").expect("f32").data, f32s);
}

#[test]
fn sharded_folder_loads_the_same_tensors_as_one_file() {
    for tied in [true, false] {
        let tensors = tiny_tensors(tied);
        let (one, two) = (tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp"));
        single_folder(one.path(), &tensors, tied);
        sharded_folder(two.path(), &tensors, tied);
        let (a, b) =
            (HfModel::open(one.path()).expect("single"), HfModel::open(two.path()).expect("sharded"));
        assert_eq!(a.config(), &tiny_config(tied));
        assert_eq!(a.path(), one.path());
        let mut ids = HfModel::required_tensors(&tiny_config(tied));
        ids.push(TensorId::LmHead);
        for id in ids {
            let (x, y) = (a.load(id).expect("single load"), b.load(id).expect("sharded load"));
            assert_eq!(x, y, "{id:?}");
            let stored = if tied && id == TensorId::LmHead { TensorId::Embedding } else { id };
            let (_, _, shape, bytes) = tensors.iter().find(|t| t.0 == stored.hf_name()).expect("fixture");
            assert_eq!((&x.shape, f32_bytes(&x.data)), (shape, bytes.clone()), "{id:?}");
        }
        if !tied {
            assert_ne!(a.load(TensorId::LmHead).expect("lm_head"), a.load(TensorId::Embedding).expect("emb"));
        }
    }
}

#[test]
fn truncated_files_are_refused_naming_file_and_tensor() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = dir.path().join("good.safetensors");
    write_st(&good, &tiny_tensors(true)[..3]);
    let bytes = std::fs::read(&good).expect("read");
    let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().expect("8")) as usize;
    for cut in [0, 3, 7, 8, 12, header_end - 1, header_end, header_end + 5, bytes.len() - 1] {
        let (path, r) = open_bytes(dir.path(), &format!("cut{cut}.safetensors"), &bytes[..cut]);
        let err = r.expect_err("truncated file opened");
        if cut < header_end {
            assert!(matches!(err, LoadError::Format { .. }), "cut {cut}: {err}");
            assert_names(&err, &path, None);
        } else {
            let LoadError::Tensor { tensor, msg, .. } = &err else { panic!("cut {cut}: {err}") };
            assert!(msg.contains("past the end"), "{msg}");
            assert_names(&err, &path, Some(tensor));
        }
    }
}

#[test]
fn broken_headers_are_format_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let valid = raw_file(r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, &[0; 8]);
    let mut past_end = valid.clone();
    past_end[..8].copy_from_slice(&(valid.len() as u64 - 7).to_le_bytes());
    let mut huge = valid.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut not_utf8 = raw_file("{\"w\":1}", &[]);
    not_utf8[10] = 0xff;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("past_end", past_end, "past the end"),
        ("huge", huge, "limit"),
        ("not_json", raw_file("{not json", &[]), "not valid JSON"),
        ("array", raw_file("[1, 2]", &[]), "not a JSON object"),
        ("not_utf8", not_utf8, "UTF-8"),
        (
            "trailing",
            raw_file(r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, &[0; 8]),
            "no tensor",
        ),
        ("bad_meta", raw_file(r#"{"__metadata__":{"a":1}}"#, &[]), "__metadata__"),
    ];
    for (name, bytes, needle) in cases {
        let (path, r) = open_bytes(dir.path(), &format!("{name}.safetensors"), &bytes);
        let err = r.expect_err(name);
        assert!(matches!(err, LoadError::Format { .. }), "{name}: {err}");
        assert!(err.to_string().contains(needle), "{name}: {err}");
        assert_names(&err, &path, None);
    }
    let (_, ok) =
        open_bytes(dir.path(), "meta_ok.safetensors", &raw_file(r#"{"__metadata__":{"a":"b"}}"#, &[]));
    assert_eq!(ok.expect("metadata only").names().count(), 0);
}

#[test]
fn inconsistent_tensor_entries_are_tensor_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let entry =
        |body: &str| format!(r#"{{"ok":{{"dtype":"F32","shape":[1],"data_offsets":[0,4]}},"bad":{body}}}"#);
    let cases = [
        ("offsets_past_end", r#"{"dtype":"F32","shape":[3],"data_offsets":[4,16]}"#, "past the end"),
        ("size_mismatch", r#"{"dtype":"F32","shape":[3],"data_offsets":[4,12]}"#, "needs 12 bytes"),
        ("bf16_mismatch", r#"{"dtype":"BF16","shape":[3],"data_offsets":[4,12]}"#, "needs 6 bytes"),
        ("overflow", r#"{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[4,12]}"#, "overflow"),
        ("begin_after_end", r#"{"dtype":"F32","shape":[2],"data_offsets":[12,4]}"#, "begin 12 > end 4"),
        ("no_dtype", r#"{"shape":[2],"data_offsets":[4,12]}"#, "missing `dtype`"),
        ("no_shape", r#"{"dtype":"F32","data_offsets":[4,12]}"#, "missing `shape`"),
        ("no_offsets", r#"{"dtype":"F32","shape":[2]}"#, "missing `data_offsets`"),
        ("neg_dim", r#"{"dtype":"F32","shape":[-2],"data_offsets":[4,12]}"#, "not a list of sizes"),
        ("three_offsets", r#"{"dtype":"F32","shape":[2],"data_offsets":[4,8,12]}"#, "not 2"),
        ("float_offset", r#"{"dtype":"F32","shape":[2],"data_offsets":[4.0,12]}"#, "byte offsets"),
        ("extra_field", r#"{"dtype":"F32","shape":[2],"data_offsets":[4,12],"x":1}"#, "unknown field"),
        ("not_object", r#"[1]"#, "not an object"),
        ("hole", r#"{"dtype":"F32","shape":[1],"data_offsets":[8,12]}"#, "hole or overlap"),
        ("overlap", r#"{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#, "hole or overlap"),
    ];
    for (name, body, needle) in cases {
        let (path, r) =
            open_bytes(dir.path(), &format!("{name}.safetensors"), &raw_file(&entry(body), &[0; 12]));
        let err = r.expect_err(name);
        let LoadError::Tensor { tensor, .. } = &err else { panic!("{name}: {err}") };
        assert!(err.to_string().contains(needle), "{name}: {err}");
        assert_eq!(tensor, "bad", "{name}: {err}");
        assert_names(&err, &path, Some(tensor));
    }
    let dup = r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    let (path, r) = open_bytes(dir.path(), "dup.safetensors", &raw_file(dup, &[0; 8]));
    let err = r.expect_err("duplicate");
    assert!(matches!(err, LoadError::Tensor { .. }) && err.to_string().contains("twice"), "{err}");
    assert_names(&err, &path, Some("w"));
}

#[test]
fn unknown_and_unsupported_dtypes_are_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let (path, r) = open_bytes(
        dir.path(),
        "f17.safetensors",
        &raw_file(r#"{"w":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}"#, &[0; 4]),
    );
    let err = r.expect_err("unknown dtype");
    assert!(
        matches!(&err, LoadError::UnsupportedDtype { dtype, tensor, .. } if dtype == "F17" && tensor == "w")
    );
    assert_names(&err, &path, Some("w"));
    // A huge header value is cut short in the message.
    let long = format!(r#"{{"w":{{"dtype":"{}","shape":[],"data_offsets":[0,0]}}}}"#, "X".repeat(5000));
    let (_, r) = open_bytes(dir.path(), "long.safetensors", &raw_file(&long, &[]));
    let msg = r.expect_err("unknown dtype").to_string();
    assert!(msg.contains("XXXX…") && msg.len() < 400, "{msg}");
    for (dtype, size) in [("I64", 8), ("F64", 8), ("U8", 1)] {
        let header = format!(r#"{{"x":{{"dtype":"{dtype}","shape":[2],"data_offsets":[0,{}]}}}}"#, 2 * size);
        let (path, r) =
            open_bytes(dir.path(), &format!("{dtype}.safetensors"), &raw_file(&header, &vec![0; 2 * size]));
        let file = r.expect("a valid file of an unsupported dtype opens");
        let err = file.read_f32("x").expect_err("unsupported dtype read");
        assert!(matches!(&err, LoadError::UnsupportedDtype { dtype: d, .. } if d == dtype), "{err}");
        assert!(err.to_string().contains("unsupported"), "{err}");
        assert_names(&err, &path, Some("x"));
        let missing = file.read_f32("nope").expect_err("missing");
        assert!(matches!(missing, LoadError::MissingTensor { .. }));
        assert_names(&missing, &path, Some("nope"));
    }
}

#[test]
fn folders_missing_or_misshaping_a_tensor_fail_at_open() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = "model.layers.0.mlp.up_proj.weight";
    let tensors: Vec<Fixture> = tiny_tensors(true).into_iter().filter(|t| t.0 != missing).collect();
    single_folder(dir.path(), &tensors, true);
    let err = HfModel::open(dir.path()).expect_err("missing tensor");
    assert!(matches!(&err, LoadError::MissingTensor { tensor, .. } if tensor == missing), "{err}");
    assert_names(&err, &dir.path().join("model.safetensors"), Some(missing));

    let untied = tempfile::tempdir().expect("tmp");
    single_folder(untied.path(), &tiny_tensors(true), false);
    let err = HfModel::open(untied.path()).expect_err("untied without lm_head");
    assert!(matches!(&err, LoadError::MissingTensor { tensor, .. } if tensor == "lm_head.weight"), "{err}");

    let q = "model.layers.0.self_attn.q_proj.weight";
    let mut tensors = tiny_tensors(true);
    for t in tensors.iter_mut().filter(|t| t.0 == q) {
        t.2 = vec![4, 16];
    }
    let shaped = tempfile::tempdir().expect("tmp");
    single_folder(shaped.path(), &tensors, true);
    let err = HfModel::open(shaped.path()).expect_err("wrong shape");
    let LoadError::ShapeMismatch { tensor, expected, got, .. } = &err else { panic!("{err}") };
    assert_eq!(
        (tensor.as_str(), expected.as_slice(), got.as_slice()),
        (q, [8, 8].as_slice(), [4, 16].as_slice())
    );
    assert_names(&err, &shaped.path().join("model.safetensors"), Some(q));

    let empty = tempfile::tempdir().expect("tmp");
    std::fs::write(empty.path().join("config.json"), tiny_config_json(true)).expect("config");
    let err = HfModel::open(empty.path()).expect_err("no weights");
    assert!(matches!(err, LoadError::Format { .. }), "{err}");
    assert_names(&err, empty.path(), None);
}

#[test]
fn broken_shard_sets_name_the_index_or_shard() {
    let tensors = tiny_tensors(true);
    let shard2 = "model-00002-of-00002.safetensors";
    let make = || {
        let d = tempfile::tempdir().expect("tmp");
        sharded_folder(d.path(), &tensors, true);
        d
    };
    let gone = make();
    std::fs::remove_file(gone.path().join(shard2)).expect("rm");
    let err = HfModel::open(gone.path()).expect_err("shard missing");
    assert!(matches!(err, LoadError::Io { .. }), "{err}");
    assert_names(&err, &gone.path().join(shard2), None);

    let index_name = "model.safetensors.index.json";
    for (what, text) in [
        ("truncated", r#"{"weight_map": {"model.norm.weight": "#),
        ("no weight_map", r#"{"metadata": {}}"#),
        ("non-string shard", r#"{"weight_map": {"model.norm.weight": 3}}"#),
        ("not an object", "[]"),
    ] {
        let d = make();
        std::fs::write(d.path().join(index_name), text).expect("write");
        let err = HfModel::open(d.path()).expect_err(what);
        assert!(matches!(err, LoadError::Format { .. }), "{what}: {err}");
        assert_names(&err, &d.path().join(index_name), None);
    }

    let d = make();
    std::fs::write(d.path().join(index_name), r#"{"weight_map": {"model.norm.weight": "../x.safetensors"}}"#)
        .expect("write");
    let err = HfModel::open(d.path()).expect_err("escaping shard path");
    assert!(matches!(err, LoadError::Format { .. }) && err.to_string().contains("plain file name"), "{err}");

    let d = make();
    let lie = serde_json::json!({"weight_map": {"model.norm.weight": "model-00001-of-00002.safetensors"}});
    std::fs::write(d.path().join(index_name), lie.to_string()).expect("write");
    let err = HfModel::open(d.path()).expect_err("tensor not in its shard");
    assert!(matches!(err, LoadError::Tensor { .. }), "{err}");
    assert_names(&err, &d.path().join("model-00001-of-00002.safetensors"), Some("model.norm.weight"));
}

/// Reading tensors one at a time hands their pages back: file-backed resident memory stays far
/// below the 47 MB file (it would grow by all of it without the advice).
#[cfg(target_os = "linux")]
#[test]
fn read_tensors_release_their_pages() {
    let rss_file_kb = || -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let line = status.lines().find_map(|l| l.strip_prefix("RssFile:")).expect("RssFile");
        line.trim().trim_end_matches("kB").trim().parse().expect("kB")
    };
    let file = SafetensorsFile::open(&common::slice_dir().join("model.safetensors")).expect("open");
    let before = rss_file_kb();
    let mut grown = 0;
    for name in file.names() {
        drop(file.read_f32(name).expect("read"));
        grown = grown.max(rss_file_kb().saturating_sub(before));
    }
    // Another test reading the slice concurrently may hold one tensor (≤ 19 MB) mapped.
    assert!(grown < 24_000, "file-backed RSS grew by {grown} kB");
}
