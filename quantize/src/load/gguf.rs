//! GGUF v3 container parsing: header, metadata, tensor infos.
//!
//! The parser is strict and bounded: every count and length read from the file is checked
//! against the bytes that remain before anything is allocated for it, all offset arithmetic
//! is overflow-checked, and every failure is a [`LoadError`] naming the file (and the
//! tensor or metadata key involved). Version 2 files, which share v3's layout, are read too;
//! v1 and big-endian files are refused.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::LoadError;
use crate::load::ggml::{self, GgmlType};

mod value;
pub use value::{GgufArray, GgufValue};

/// The four magic bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of the tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: usize = 32;
/// Most dimensions a ggml tensor has.
pub const MAX_DIMS: usize = 4;
/// Deepest nesting of metadata arrays accepted (real files nest at most once).
const MAX_ARRAY_DEPTH: usize = 4;
/// Pages are released in units of this many bytes, a multiple of every usual page size.
const RELEASE_GRANULE: usize = 64 * 1024;

/// The description of one tensor in the file; its data range lies within the file.
#[derive(Clone, Debug, PartialEq)]
pub struct GgufTensorInfo {
    name: String,
    dims: Vec<u64>,
    ggml_type: GgmlType,
    offset: u64,
    n_elements: usize,
    n_bytes: usize,
}

impl GgufTensorInfo {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The ggml dimensions `ne`, innermost (columns) first: the reverse of the HF shape.
    pub fn dims(&self) -> &[u64] {
        &self.dims
    }
    /// The shape outermost first (the HF convention), i.e. `dims` reversed.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
    /// The storage type.
    pub fn ggml_type(&self) -> GgmlType {
        self.ggml_type
    }
    /// Offset of the data from the start of the data section.
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// Number of values.
    pub fn n_elements(&self) -> usize {
        self.n_elements
    }
    /// Number of bytes of data.
    pub fn n_bytes(&self) -> usize {
        self.n_bytes
    }
}

/// A memory-mapped GGUF file with its metadata and tensor directory parsed and validated.
#[derive(Debug)]
pub struct GgufFile {
    path: PathBuf,
    mmap: Mmap,
    version: u32,
    metadata: Vec<(String, GgufValue)>,
    keys: HashMap<String, usize>,
    tensors: Vec<GgufTensorInfo>,
    by_name: HashMap<String, usize>,
    alignment: usize,
    data_start: usize,
}

impl GgufFile {
    /// Maps and parses the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| LoadError::io(&path, e))?;
        // SAFETY: the map is read-only and owned by this struct. Like every memory-mapped
        // reader, it relies on no other process truncating or rewriting the file while it is
        // open; a model file being read is not expected to change under us.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| LoadError::io(&path, e))?;
        let h = parse(&mmap, &path)?;
        Ok(GgufFile {
            path,
            mmap,
            version: h.version,
            metadata: h.metadata,
            keys: h.keys,
            tensors: h.tensors,
            by_name: h.by_name,
            alignment: h.alignment,
            data_start: h.data_start,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }
    /// All metadata in file order.
    pub fn metadata(&self) -> &[(String, GgufValue)] {
        &self.metadata
    }
    /// The metadata value under `key`.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.keys.get(key).and_then(|&i| self.metadata.get(i)).map(|(_, v)| v)
    }
    /// All tensor descriptions in file order.
    pub fn tensors(&self) -> &[GgufTensorInfo] {
        &self.tensors
    }
    /// The description of the tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&GgufTensorInfo> {
        self.by_name.get(name).and_then(|&i| self.tensors.get(i))
    }
    /// Alignment of the data section and of every tensor offset.
    pub fn alignment(&self) -> usize {
        self.alignment
    }
    /// Offset in the file where the data section starts.
    pub fn data_start(&self) -> usize {
        self.data_start
    }

    /// The raw bytes of a tensor of this file.
    pub fn tensor_data(&self, info: &GgufTensorInfo) -> Result<&[u8], LoadError> {
        self.data_range(info)
            .and_then(|r| self.mmap.get(r))
            .ok_or_else(|| LoadError::tensor(&self.path, &info.name, "data range lies outside the file"))
    }

    /// The tensor's values as f32 in storage order (see [`ggml::dequantize`]). Afterwards
    /// the pages that only this tensor occupies are handed back to the kernel, so reading a
    /// model tensor by tensor keeps the resident set near one tensor.
    pub fn dequantize(&self, info: &GgufTensorInfo) -> Result<Vec<f32>, LoadError> {
        let data = self.tensor_data(info)?;
        let values = ggml::dequantize(&self.path, &info.name, info.ggml_type, data, info.n_elements)?;
        self.release(info);
        Ok(values)
    }

    fn data_range(&self, info: &GgufTensorInfo) -> Option<std::ops::Range<usize>> {
        let start = self.data_start.checked_add(usize::try_from(info.offset).ok()?)?;
        Some(start..start.checked_add(info.n_bytes)?)
    }

    /// Advises the kernel to drop the mapped pages lying wholly inside the tensor's data.
    fn release(&self, info: &GgufTensorInfo) {
        #[cfg(unix)]
        if let Some(r) = self.data_range(info) {
            let start = r.start.div_ceil(RELEASE_GRANULE) * RELEASE_GRANULE;
            let end = r.end / RELEASE_GRANULE * RELEASE_GRANULE;
            if start < end && end <= self.mmap.len() {
                // SAFETY: the map is a read-only, file-backed shared mapping, so MADV_DONTNEED
                // only drops cached pages: a later access faults them in again from the file
                // with identical contents, and no Rust reference can observe a change. The
                // range is page-aligned (64 KiB granules) and inside the map. A failure only
                // means the pages stay resident, so it is ignored.
                let _ = unsafe {
                    self.mmap.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
                };
            }
        }
        #[cfg(not(unix))]
        let _ = (info, RELEASE_GRANULE);
    }
}

/// The parsed header of a GGUF file.
struct Header {
    version: u32,
    metadata: Vec<(String, GgufValue)>,
    keys: HashMap<String, usize>,
    tensors: Vec<GgufTensorInfo>,
    by_name: HashMap<String, usize>,
    alignment: usize,
    data_start: usize,
}

/// A bounds-checked little-endian reader over the file's bytes; errors are plain messages
/// the caller attaches the file (and tensor) to.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end.and_then(|e| self.buf.get(self.pos..e).map(|s| (e, s))) {
            Some((e, s)) => {
                self.pos = e;
                Ok(s)
            }
            None => Err(format!(
                "truncated: {what} needs {n} bytes at offset {}, the file has {}",
                self.pos,
                self.buf.len()
            )),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let s = self.take(N, what)?;
        s.try_into().map_err(|_| format!("internal: short read of {what}"))
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A count or length of items each taking at least `min_bytes`, checked against the
    /// bytes left so that a lying count fails here instead of allocating.
    fn count(&mut self, min_bytes: usize, what: &str) -> Result<usize, String> {
        let at = self.pos;
        let n = self.u64(what)?;
        let fits = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(min_bytes).map(|b| (n, b)))
            .filter(|&(_, b)| b <= self.remaining());
        fits.map(|(n, _)| n).ok_or_else(|| {
            format!(
                "{what} {n} at offset {at} needs at least {} bytes, {} are left (truncated or corrupt file)",
                u128::from(n) * min_bytes as u128,
                self.remaining()
            )
        })
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let at = self.pos;
        let len = self.u64(what)?;
        let bytes = usize::try_from(len)
            .ok()
            .filter(|&n| n <= self.remaining())
            .and_then(|n| self.take(n, what).ok())
            .ok_or_else(|| {
                format!(
                    "{what} length {len} at offset {at} exceeds the {} bytes left (truncated or corrupt file)",
                    self.remaining()
                )
            })?;
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("{what} at offset {at} is not UTF-8: {e}"))
    }
}

/// Parses and validates the header of `buf`, the bytes of the file at `path`.
fn parse(buf: &[u8], path: &Path) -> Result<Header, LoadError> {
    let fmt = |m: String| LoadError::format(path, m);
    let mut r = Reader { buf, pos: 0 };
    let magic: [u8; 4] = r.array("magic").map_err(fmt)?;
    if magic != GGUF_MAGIC {
        return Err(fmt(format!("not a GGUF file: magic {magic:02x?}, expected \"GGUF\"")));
    }
    let version = r.u32("version").map_err(fmt)?;
    match version {
        2 | 3 => {}
        1 => return Err(fmt("GGUF version 1 is not supported (re-convert the model)".into())),
        v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
            return Err(fmt("big-endian GGUF files are not supported".into()))
        }
        v => return Err(fmt(format!("unsupported GGUF version {v}"))),
    }
    // Every tensor info takes at least 24 bytes (name length, n_dims, type, offset); the
    // lower bound on the key/value pairs is checked against what the tensors leave.
    let n_tensors = r.count(24, "tensor_count").map_err(fmt)?;
    let n_kv = r.count(13, "kv_count").map_err(fmt)?;
    if n_tensors.saturating_mul(24).saturating_add(n_kv.saturating_mul(13)) > r.remaining() {
        return Err(fmt(format!(
            "tensor_count {n_tensors} and kv_count {n_kv} need more than the {} bytes left (truncated or corrupt file)",
            r.remaining()
        )));
    }

    let mut metadata: Vec<(String, GgufValue)> = Vec::with_capacity(n_kv);
    let mut keys = HashMap::with_capacity(n_kv);
    for i in 0..n_kv {
        let key = r.string("metadata key").map_err(|m| fmt(format!("metadata entry #{i}: {m}")))?;
        let value = r
            .u32("value type")
            .and_then(|ty| r.value(ty, 0))
            .map_err(|m| fmt(format!("metadata `{key}`: {m}")))?;
        if keys.insert(key.clone(), i).is_some() {
            return Err(fmt(format!("duplicate metadata key `{key}`")));
        }
        metadata.push((key, value));
    }

    let alignment = match keys.get("general.alignment").and_then(|&i| metadata.get(i)) {
        None => DEFAULT_ALIGNMENT,
        Some((_, v)) => match v.as_u64() {
            Some(a) if a.is_power_of_two() && a <= 1 << 30 => a as usize,
            _ => {
                return Err(LoadError::config(
                    path,
                    format!("general.alignment {v:?} is not a power of two up to 2^30"),
                ))
            }
        },
    };

    let mut tensors: Vec<GgufTensorInfo> = Vec::with_capacity(n_tensors);
    let mut by_name = HashMap::with_capacity(n_tensors);
    let mut raw = Vec::with_capacity(n_tensors);
    for i in 0..n_tensors {
        let name = r.string("tensor name").map_err(|m| fmt(format!("tensor info #{i}: {m}")))?;
        let terr = |m: String| LoadError::tensor(path, &name, m);
        let n_dims = r.u32("n_dims").map_err(terr)?;
        if n_dims == 0 || n_dims as usize > MAX_DIMS {
            return Err(terr(format!("n_dims {n_dims} is not between 1 and {MAX_DIMS}")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(r.u64("dimension").map_err(terr)?);
        }
        let type_id = r.u32("ggml type").map_err(terr)?;
        let offset = r.u64("data offset").map_err(terr)?;
        if by_name.insert(name.clone(), i).is_some() {
            return Err(terr("duplicate tensor name".into()));
        }
        raw.push(RawInfo { name, dims, type_id, offset });
    }

    let data_start = r
        .pos
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| fmt("data section offset overflows".into()))?;
    for info in raw {
        tensors.push(tensor_info(path, buf.len(), data_start, alignment, info)?);
    }
    Ok(Header { version, metadata, keys, tensors, by_name, alignment, data_start })
}

/// A tensor description as read, before validation.
struct RawInfo {
    name: String,
    dims: Vec<u64>,
    type_id: u32,
    offset: u64,
}

/// Validates one tensor description: known type, whole blocks per row, size and data range
/// within the file of `file_len` bytes.
fn tensor_info(
    path: &Path,
    file_len: usize,
    data_start: usize,
    alignment: usize,
    raw: RawInfo,
) -> Result<GgufTensorInfo, LoadError> {
    let RawInfo { name, dims, type_id, offset } = raw;
    let Some(ty) = GgmlType::from_id(type_id) else {
        return Err(LoadError::UnsupportedDtype {
            path: path.to_path_buf(),
            tensor: name,
            dtype: GgmlType::describe_id(type_id),
        });
    };
    let terr = |m: String| LoadError::tensor(path, &name, m);
    let n_elements = dims
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| terr(format!("dimensions {dims:?} overflow")))?;
    let row = dims.first().copied().unwrap_or(1);
    if !row.is_multiple_of(ty.block_elems() as u64) {
        return Err(terr(format!(
            "row length {row} is not a multiple of the {ty} block size {}",
            ty.block_elems()
        )));
    }
    let n_bytes = ty
        .bytes_for(n_elements as u64)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| terr(format!("byte size of dimensions {dims:?} overflows")))?;
    if !offset.is_multiple_of(alignment as u64) {
        return Err(terr(format!("data offset {offset} is not a multiple of the alignment {alignment}")));
    }
    let end = usize::try_from(offset)
        .ok()
        .and_then(|o| data_start.checked_add(o))
        .and_then(|s| s.checked_add(n_bytes));
    match end {
        Some(end) if end <= file_len => {}
        _ => {
            return Err(terr(format!(
                "data ({n_bytes} bytes at offset {offset} after the data start {data_start}) runs past the end of the file ({file_len} bytes)"
            )))
        }
    }
    Ok(GgufTensorInfo { name, dims, ggml_type: ty, offset, n_elements, n_bytes })
}
