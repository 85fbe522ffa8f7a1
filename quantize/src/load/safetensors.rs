//! A strict reader of safetensors files over a memory map.
//!
//! Layout: an 8-byte little-endian header length `n`, `n` bytes of UTF-8 JSON mapping each
//! tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (plus an optional
//! `__metadata__` string map), then the data section, which the tensors must cover exactly,
//! without holes or overlaps. Every rule is checked when the file is opened, so reading a
//! tensor later cannot go out of bounds.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::error::LoadError;
use crate::tensor::Tensor;

/// Largest header accepted, in bytes (the limit of the reference implementation).
const MAX_HEADER_LEN: u64 = 100_000_000;

/// Bytes of the header-length prefix.
const LEN_PREFIX: usize = 8;

/// Declares [`Dtype`] with each variant's header name (the variant's own name) and bit width,
/// so that the three stay in one list.
macro_rules! dtypes {
    ($($(#[$doc:meta])* $v:ident = $bits:literal,)*) => {
        /// An element type of the safetensors format.
        ///
        /// All the format's types are recognised (so that a file can be validated completely),
        /// but only [`Dtype::F32`], [`Dtype::F16`] and [`Dtype::BF16`] can be read as f32.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub enum Dtype {
            $($(#[$doc])* $v,)*
        }

        impl Dtype {
            const ALL: &'static [Dtype] = &[$(Dtype::$v),*];

            /// The name the format uses in headers.
            pub fn name(self) -> &'static str {
                match self {
                    $(Dtype::$v => stringify!($v),)*
                }
            }

            /// Width of one element in bits.
            pub fn bits(self) -> usize {
                match self {
                    $(Dtype::$v => $bits,)*
                }
            }
        }
    };
}

dtypes! {
    /// Boolean, one byte.
    BOOL = 8,
    /// MX 4-bit float.
    F4 = 4,
    /// MX 6-bit float, E2M3.
    F6_E2M3 = 6,
    /// MX 6-bit float, E3M2.
    F6_E3M2 = 6,
    /// Unsigned 8-bit integer.
    U8 = 8,
    /// Signed 8-bit integer.
    I8 = 8,
    /// 8-bit float, E5M2.
    F8_E5M2 = 8,
    /// 8-bit float, E4M3.
    F8_E4M3 = 8,
    /// 8-bit power-of-two scale, E8M0.
    F8_E8M0 = 8,
    /// 8-bit float, E4M3 FNUZ.
    F8_E4M3FNUZ = 8,
    /// 8-bit float, E5M2 FNUZ.
    F8_E5M2FNUZ = 8,
    /// Signed 16-bit integer.
    I16 = 16,
    /// Unsigned 16-bit integer.
    U16 = 16,
    /// IEEE half precision.
    F16 = 16,
    /// bfloat16.
    BF16 = 16,
    /// Signed 32-bit integer.
    I32 = 32,
    /// Unsigned 32-bit integer.
    U32 = 32,
    /// IEEE single precision.
    F32 = 32,
    /// Complex with f32 parts.
    C64 = 64,
    /// IEEE double precision.
    F64 = 64,
    /// Signed 64-bit integer.
    I64 = 64,
    /// Unsigned 64-bit integer.
    U64 = 64,
}

impl Dtype {
    /// The dtype a header spells `name` (case-sensitive), if the format has one.
    pub fn parse(name: &str) -> Option<Dtype> {
        Dtype::ALL.iter().copied().find(|d| d.name() == name)
    }

    /// Whether [`SafetensorsFile::read_f32`] reads this dtype (F32, F16, BF16).
    pub fn reads_as_f32(self) -> bool {
        matches!(self, Dtype::F32 | Dtype::F16 | Dtype::BF16)
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One tensor's entry in the header, validated against the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Position of the tensor's bytes in the file (absolute, not relative to the data section).
    pub bytes: Range<usize>,
}

/// A validated safetensors file, memory-mapped read-only; tensors are read one at a time.
#[derive(Debug)]
pub struct SafetensorsFile {
    path: PathBuf,
    mmap: Mmap,
    /// Tensors in the order of their data.
    tensors: Vec<(String, TensorInfo)>,
    index: HashMap<String, usize>,
}

impl SafetensorsFile {
    /// Maps the file at `path` and validates its header and the layout of its data section.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        let file = File::open(path).map_err(|e| LoadError::io(path, e))?;
        // SAFETY: the map is read-only. As with any file mapping, another process truncating or
        // rewriting the file while it is mapped would change the bytes under us; model files
        // are not written while zkinfer reads them, the assumption every mmap reader makes.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| LoadError::io(path, e))?;
        let tensors = parse(path, &mmap)?;
        let index = tensors.iter().enumerate().map(|(i, (name, _))| (name.clone(), i)).collect();
        Ok(SafetensorsFile { path: path.to_path_buf(), mmap, tensors, index })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tensor names, in the order of their data in the file.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.tensors.iter().map(|(name, _)| name.as_str())
    }

    /// A tensor's dtype, shape and byte range, if the file has it.
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.index.get(name).and_then(|&i| self.tensors.get(i)).map(|(_, info)| info)
    }

    /// Reads one tensor, converting F16 and BF16 to f32, then lets the kernel drop its pages
    /// so that resident memory stays about one tensor when tensors are read one by one.
    pub fn read_f32(&self, name: &str) -> Result<Tensor, LoadError> {
        let info = self
            .info(name)
            .ok_or_else(|| LoadError::MissingTensor { path: self.path.clone(), tensor: name.to_string() })?;
        let bytes = self
            .mmap
            .get(info.bytes.clone())
            .ok_or_else(|| LoadError::tensor(&self.path, name, "byte range outside the mapped file"))?;
        let data: Vec<f32> = match info.dtype {
            Dtype::F32 => bytes.as_chunks::<4>().0.iter().map(|c| f32::from_le_bytes(*c)).collect(),
            Dtype::F16 => {
                bytes.as_chunks::<2>().0.iter().map(|c| half::f16::from_le_bytes(*c).to_f32()).collect()
            }
            Dtype::BF16 => {
                bytes.as_chunks::<2>().0.iter().map(|c| half::bf16::from_le_bytes(*c).to_f32()).collect()
            }
            other => {
                return Err(LoadError::UnsupportedDtype {
                    path: self.path.clone(),
                    tensor: name.to_string(),
                    dtype: other.name().to_string(),
                })
            }
        };
        self.release(info.bytes.clone());
        Tensor::new(info.shape.clone(), data)
            .ok_or_else(|| LoadError::tensor(&self.path, name, "element count does not match the shape"))
    }

    /// Advises the kernel that the pages holding `range` are not needed for now.
    #[cfg(unix)]
    fn release(&self, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        // SAFETY: MADV_DONTNEED on a read-only, shared, file-backed map only evicts pages from
        // this process; the next access faults them back in from the page cache or the file,
        // with the same bytes. So any borrow of the map (another tensor on a neighbouring page,
        // another thread reading this one) keeps observing identical contents. memmap2 rounds
        // the start down to a page boundary; `range` lies inside the map (validated at open).
        let advised = unsafe {
            self.mmap.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, range.start, range.len())
        };
        // The advice is only a hint: if it fails the pages stay resident, nothing worse.
        let _ = advised;
    }

    /// Advice is not available off Unix; pages stay resident until the map is dropped.
    #[cfg(not(unix))]
    fn release(&self, _range: Range<usize>) {}
}

/// Parses and validates the header of `buf`, returning the tensors sorted by data offset.
fn parse(path: &Path, buf: &[u8]) -> Result<Vec<(String, TensorInfo)>, LoadError> {
    let format = |msg: String| LoadError::format(path, msg);
    let prefix: [u8; LEN_PREFIX] =
        buf.get(..LEN_PREFIX).and_then(|b| b.try_into().ok()).ok_or_else(|| {
            format(format!("file is {} bytes, shorter than the 8-byte header length", buf.len()))
        })?;
    let header_len = u64::from_le_bytes(prefix);
    if header_len > MAX_HEADER_LEN {
        return Err(format(format!("header length {header_len} exceeds the {MAX_HEADER_LEN}-byte limit")));
    }
    let header_end = usize::try_from(header_len)
        .ok()
        .and_then(|n| n.checked_add(LEN_PREFIX))
        .filter(|&end| end <= buf.len())
        .ok_or_else(|| {
            format(format!("header length {header_len} runs past the end of the {}-byte file", buf.len()))
        })?;
    let header = buf.get(LEN_PREFIX..header_end).ok_or_else(|| format("header out of bounds".into()))?;
    let header = std::str::from_utf8(header).map_err(|e| format(format!("header is not UTF-8: {e}")))?;
    let entries: Entries = serde_json::from_str(header).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => format(format!("header is not a JSON object: {e}")),
        _ => format(format!("header is not valid JSON: {e}")),
    })?;
    let data_len = buf.len() - header_end;

    let mut tensors: Vec<(String, TensorInfo)> = Vec::with_capacity(entries.0.len());
    let mut seen = HashSet::with_capacity(entries.0.len());
    let mut metadata_seen = false;
    for (name, value) in entries.0 {
        if name == "__metadata__" {
            if std::mem::replace(&mut metadata_seen, true) {
                return Err(format("`__metadata__` appears twice".into()));
            }
            check_metadata(path, &value)?;
            continue;
        }
        if !seen.insert(name.clone()) {
            return Err(LoadError::tensor(path, name, "appears twice in the header"));
        }
        let info = tensor_info(path, &name, &value, header_end, data_len)?;
        tensors.push((name, info));
    }

    // The data section must be covered exactly: no holes (polyglot files), no overlaps.
    tensors.sort_by_key(|(_, info)| (info.bytes.start, info.bytes.end));
    let mut expected = header_end;
    for (name, info) in &tensors {
        if info.bytes.start != expected {
            return Err(LoadError::tensor(
                path,
                name.as_str(),
                format!(
                    "data starts at offset {} but the previous tensor ends at {} (hole or overlap)",
                    info.bytes.start - header_end,
                    expected - header_end
                ),
            ));
        }
        expected = info.bytes.end;
    }
    if expected != buf.len() {
        return Err(format(format!(
            "{} bytes of the data section after the last tensor belong to no tensor",
            buf.len() - expected
        )));
    }
    Ok(tensors)
}

/// Validates one header entry; `header_end` is where the data section starts in the file and
/// `data_len` its length.
fn tensor_info(
    path: &Path,
    name: &str,
    value: &Value,
    header_end: usize,
    data_len: usize,
) -> Result<TensorInfo, LoadError> {
    let err = |msg: String| LoadError::tensor(path, name, msg);
    let obj = value.as_object().ok_or_else(|| err(format!("entry is {}, not an object", clip(value))))?;
    if let Some(key) = obj.keys().find(|k| !matches!(k.as_str(), "dtype" | "shape" | "data_offsets")) {
        return Err(err(format!("unknown field `{}`", clip(key))));
    }
    let dtype_name = match obj.get("dtype") {
        None => return Err(err("missing `dtype`".into())),
        Some(Value::String(s)) => s,
        Some(v) => return Err(err(format!("`dtype` is {}, not a string", clip(v)))),
    };
    let dtype = Dtype::parse(dtype_name).ok_or_else(|| LoadError::UnsupportedDtype {
        path: path.to_path_buf(),
        tensor: name.to_string(),
        dtype: clip(dtype_name),
    })?;
    let shape = match obj.get("shape") {
        None => return Err(err("missing `shape`".into())),
        Some(v @ Value::Array(dims)) => dims
            .iter()
            .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| err(format!("`shape` {} is not a list of sizes", clip(v))))?,
        Some(v) => return Err(err(format!("`shape` is {}, not a list", clip(v)))),
    };
    let offsets = match obj.get("data_offsets") {
        None => return Err(err("missing `data_offsets`".into())),
        Some(Value::Array(o)) => o,
        Some(v) => return Err(err(format!("`data_offsets` is {}, not a list", clip(v)))),
    };
    let (begin, end) = match offsets.as_slice() {
        [b, e] => match (b.as_u64(), e.as_u64()) {
            (Some(b), Some(e)) => (b, e),
            _ => {
                return Err(err(format!(
                    "`data_offsets` [{}, {}] are not two byte offsets",
                    clip(b),
                    clip(e)
                )))
            }
        },
        _ => return Err(err(format!("`data_offsets` has {} entries, not 2", offsets.len()))),
    };
    if begin > end {
        return Err(err(format!("data_offsets begin {begin} > end {end}")));
    }
    let (begin, end) = match (usize::try_from(begin), usize::try_from(end)) {
        (Ok(b), Ok(e)) if e <= data_len => (b, e),
        _ => {
            return Err(err(format!(
                "data_offsets [{begin}, {end}] run past the end of the {data_len}-byte data section"
            )))
        }
    };
    let bits = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(dtype.bits()))
        .ok_or_else(|| err(format!("shape {shape:?} of {dtype} overflows the address space")))?;
    if bits % 8 != 0 {
        return Err(err(format!("shape {shape:?} of {dtype} is not a whole number of bytes")));
    }
    if bits / 8 != end - begin {
        return Err(err(format!(
            "shape {shape:?} of {dtype} needs {} bytes but data_offsets [{begin}, {end}] hold {}",
            bits / 8,
            end - begin
        )));
    }
    Ok(TensorInfo { dtype, shape, bytes: header_end + begin..header_end + end })
}

/// Checks that `__metadata__` is a map of strings, as the format requires.
fn check_metadata(path: &Path, value: &Value) -> Result<(), LoadError> {
    let ok = value.as_object().is_some_and(|m| m.values().all(Value::is_string));
    if ok {
        Ok(())
    } else {
        Err(LoadError::format(path, format!("`__metadata__` is {}, not a map of strings", clip(value))))
    }
}

/// `v` as text, cut to a length fit for a one-line message (headers may hold huge values).
fn clip(v: &impl fmt::Display) -> String {
    const MAX: usize = 64;
    let text = v.to_string();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The header's top-level entries in file order, duplicates kept (so that they can be refused).
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(EntriesVisitor)
    }
}
