//! Property tests: no byte sequence makes the GGUF importer panic. Arbitrary bytes and
//! mutations of a valid tiny model (bit flips, overwritten bytes, truncation, u64 fields
//! set to extreme values) either open and load, or give an error.

mod gguf_writer;

use std::sync::OnceLock;

use proptest::prelude::*;
use zkinfer_quantize::load::gguf::GgufFile;
use zkinfer_quantize::load::gguf_model::GgufModel;
use zkinfer_quantize::WeightSource;

/// A valid tiny model and the offsets of its u64 fields.
fn valid() -> &'static gguf_writer::Built {
    static BUILT: OnceLock<gguf_writer::Built> = OnceLock::new();
    BUILT.get_or_init(|| gguf_writer::tiny_llama(2, false).builder.build())
}

#[derive(Clone, Debug)]
enum Mutation {
    /// Flip bit `bit` of the byte at (position mod length).
    Flip(usize, u8),
    /// Overwrite the byte at (position mod length).
    Set(usize, u8),
    /// Keep only the first (n mod length) bytes.
    Truncate(usize),
    /// Set the (i mod count)-th u64 field to a value.
    U64(usize, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let header = valid().data_start;
    let extreme = prop_oneof![
        Just(u64::MAX),
        Just(u64::MAX - 31),
        Just(1u64 << 63),
        Just(1u64 << 32),
        Just(valid().bytes.len() as u64),
        Just(0u64),
        any::<u64>(),
        0u64..64,
    ];
    prop_oneof![
        (0..header, 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (0..header, any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), extreme).prop_map(|(i, v)| Mutation::U64(i, v)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let fields = &valid().u64_fields;
    match *m {
        _ if bytes.is_empty() => {}
        Mutation::Flip(i, b) => {
            let n = bytes.len();
            bytes[i % n] ^= 1 << b;
        }
        Mutation::Set(i, v) => {
            let n = bytes.len();
            bytes[i % n] = v;
        }
        Mutation::Truncate(n) => bytes.truncate(n % bytes.len()),
        Mutation::U64(i, v) => {
            let at = fields[i % fields.len()];
            if let Some(s) = bytes.get_mut(at..at + 8) {
                s.copy_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// Opens `bytes` as a file and as a model and reads everything it offers; any outcome but
/// a panic is fine.
fn exercise(dir: &tempfile::TempDir, bytes: &[u8]) {
    let path = dir.path().join("fuzz.gguf");
    std::fs::write(&path, bytes).expect("write");
    if let Ok(f) = GgufFile::open(&path) {
        for info in f.tensors() {
            let _ = f.dequantize(info);
        }
    }
    if let Ok(m) = GgufModel::open(&path) {
        for id in m.tensor_ids() {
            let t = m.load(id).expect("a model that opened loads every tensor it lists");
            assert_eq!(t.shape, id.expected_shape(m.config()));
        }
        let _ = m.tokenizer_data();
    }
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_models_never_panic(ms in proptest::collection::vec(mutation(), 1..5)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = valid().bytes.clone();
        for m in &ms {
            apply(&mut bytes, m);
        }
        exercise(&dir, &bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in any::<bool>(),
        version in prop_oneof![Just(2u32), Just(3u32), any::<u32>()],
        body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = Vec::new();
        if prefix {
            bytes.extend_from_slice(b"GGUF");
            bytes.extend_from_slice(&version.to_le_bytes());
        }
        bytes.extend_from_slice(&body);
        exercise(&dir, &bytes);
    }
}

#[test]
fn the_unmutated_model_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    exercise(&dir, &valid().bytes);
    let path = dir.path().join("fuzz.gguf");
    assert_eq!(GgufModel::open(path).expect("open").tensor_ids().len(), 21);
}
