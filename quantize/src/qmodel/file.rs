//! The quantized model file: `ZKINFERQ`, version, 64-byte-aligned blobs, the JSON
//! manifest, and a footer `(manifest offset u64, manifest length u64, ZKINFERQ)`.
//!
//! The writer streams blobs as they are made (one layer in memory at a time) and renames
//! the file into place only when complete. The reader memory-maps the file, checks the
//! model id against the manifest body, and checks every blob's hash and bounds when it is
//! read, so a layer is read lazily and a corrupt byte is caught where it is used.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use sha2::{Digest, Sha256};

use super::manifest::*;
use super::{QLayer, QLinear, QNorm, RopeTable, GROUP, MULT_BITS, NORM_WEIGHT_BITS};
use crate::error::LoadError;
use crate::fixed::tables::{
    LookupTable, Tables, EXP_OUT_FRAC, RECIP_MANT_BITS, RECIP_OUT_FRAC, RSQRT_OUT_FRAC, SILU_FRAC,
    SILU_IN_BITS,
};
use crate::fixed::Scale;

const FOOTER: u64 = 24;
const ALIGN: u64 = 64;
/// Manifests larger than this are refused (a 7B model's is well under 1 MB).
const MAX_MANIFEST: u64 = 256 << 20;

/// Writes a quantized model file blob by blob.
pub struct ModelWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    pos: u64,
}

impl ModelWriter {
    /// Starts `path` (written as `path.partial` until [`ModelWriter::finish`]).
    pub fn create(path: &Path) -> Result<Self, LoadError> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".partial");
        let tmp = PathBuf::from(tmp);
        let f = File::create(&tmp).map_err(|e| LoadError::io(&tmp, e))?;
        let mut w = ModelWriter { path: path.to_path_buf(), tmp, out: BufWriter::new(f), pos: 0 };
        let mut head = MAGIC.to_vec();
        head.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        head.extend_from_slice(&[0u8; 4]);
        w.put(&head)?;
        Ok(w)
    }

    fn put(&mut self, b: &[u8]) -> Result<(), LoadError> {
        self.out.write_all(b).map_err(|e| LoadError::io(&self.tmp, e))?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn blob(&mut self, dtype: BlobDtype, len: usize, bytes: &[u8]) -> Result<BlobRef, LoadError> {
        let pad = (ALIGN - self.pos % ALIGN) % ALIGN;
        self.put(&vec![0u8; pad as usize])?;
        let offset = self.pos;
        self.put(bytes)?;
        Ok(BlobRef { dtype, len: len as u64, offset, sha256: hex::encode(Sha256::digest(bytes)) })
    }

    /// Appends an `i8` blob.
    pub fn i8s(&mut self, v: &[i8]) -> Result<BlobRef, LoadError> {
        let bytes: Vec<u8> = v.iter().map(|&x| x as u8).collect();
        self.blob(BlobDtype::I8, v.len(), &bytes)
    }

    /// Appends a `u16` blob.
    pub fn u16s(&mut self, v: &[u16]) -> Result<BlobRef, LoadError> {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.blob(BlobDtype::U16, v.len(), &bytes)
    }

    /// Appends an `i32` blob; values must fit.
    pub fn i32s(&mut self, v: &[i64]) -> Result<BlobRef, LoadError> {
        let mut bytes = Vec::with_capacity(v.len() * 4);
        for &x in v {
            let x = i32::try_from(x)
                .map_err(|_| LoadError::format(&self.tmp, format!("value {x} does not fit i32")))?;
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        self.blob(BlobDtype::I32, v.len(), &bytes)
    }

    /// Appends an `i64` blob.
    pub fn i64s(&mut self, v: &[i64]) -> Result<BlobRef, LoadError> {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.blob(BlobDtype::I64, v.len(), &bytes)
    }

    /// Appends a matrix; its weights and group codes are given when they were already
    /// written (the tied head).
    pub fn linear(
        &mut self,
        l: &QLinear,
        weight: Option<(BlobRef, BlobRef)>,
    ) -> Result<LinearEntry, LoadError> {
        let (weight, group_scale) = match weight {
            Some(w) => w,
            None => (self.i8s(&l.weight)?, self.u16s(&l.group_scale)?),
        };
        Ok(LinearEntry {
            rows: l.rows as u64,
            cols: l.cols as u64,
            weight,
            group: GROUP as u64,
            group_scale,
            mult: self.i64s(&l.mult)?,
            shift: l.shift,
            out: l.out,
        })
    }

    /// Appends a norm weight.
    pub fn norm(&mut self, n: &QNorm) -> Result<NormEntry, LoadError> {
        Ok(NormEntry { weight: self.i32s(&n.weight)?, frac: n.frac, out: n.out, eps: n.eps })
    }

    /// Appends a block and returns its manifest entry with its content hash.
    pub fn layer(&mut self, l: &QLayer) -> Result<LayerEntry, LoadError> {
        let content = LayerContent {
            attn_norm: self.norm(&l.attn_norm)?,
            q: self.linear(&l.q, None)?,
            k: self.linear(&l.k, None)?,
            v: self.linear(&l.v, None)?,
            o: self.linear(&l.o, None)?,
            ffn_norm: self.norm(&l.ffn_norm)?,
            gate: self.linear(&l.gate, None)?,
            up: self.linear(&l.up, None)?,
            down: self.linear(&l.down, None)?,
            score_mult: l.score_mult,
            score_shift: l.score_shift,
            mid: l.mid,
        };
        Ok(LayerEntry { sha256: content.hash(), content })
    }

    /// Appends the lookup tables.
    pub fn tables(&mut self, t: &Tables) -> Result<Vec<TableEntry>, LoadError> {
        t.all()
            .iter()
            .map(|tab| {
                Ok(TableEntry { name: tab.name.clone(), start: tab.start, values: self.i32s(&tab.values)? })
            })
            .collect()
    }

    /// Appends the RoPE table.
    pub fn rope(&mut self, r: &RopeTable) -> Result<RopeEntry, LoadError> {
        Ok(RopeEntry {
            max_seq: r.max_seq as u64,
            half: r.half as u64,
            cos: self.i32s(&r.cos)?,
            sin: self.i32s(&r.sin)?,
        })
    }

    /// Writes the manifest and footer and moves the file into place.
    pub fn finish(mut self, manifest: &Manifest) -> Result<(), LoadError> {
        let json = serde_json::to_vec_pretty(manifest)
            .map_err(|e| LoadError::format(&self.tmp, format!("cannot encode manifest: {e}")))?;
        let offset = self.pos;
        self.put(&json)?;
        let mut foot = offset.to_le_bytes().to_vec();
        foot.extend_from_slice(&(json.len() as u64).to_le_bytes());
        foot.extend_from_slice(MAGIC);
        self.put(&foot)?;
        self.out.flush().map_err(|e| LoadError::io(&self.tmp, e))?;
        let f = self.out.get_mut();
        f.sync_all().map_err(|e| LoadError::io(&self.tmp, e))?;
        f.stream_position().map_err(|e| LoadError::io(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| LoadError::io(&self.path, e))
    }
}

/// The range a stored table's outputs must lie in.
fn table_range(name: &str) -> (i64, i64) {
    match name {
        "rsqrt" => (0, 1 << RSQRT_OUT_FRAC),
        "exp" => (0, 1 << EXP_OUT_FRAC),
        "recip" => (1 << (RECIP_OUT_FRAC - RECIP_MANT_BITS), 1 << (RECIP_OUT_FRAC + 1 - RECIP_MANT_BITS)),
        _ => (-(1 << (SILU_IN_BITS - 1)), 1 << (SILU_IN_BITS - 1)),
    }
}

/// A quantized model file opened for reading; layers are read on demand.
pub struct QuantizedModel {
    path: PathBuf,
    map: Mmap,
    data_end: u64,
    /// The manifest (its model id already checked against its body).
    pub manifest: Manifest,
}

impl QuantizedModel {
    /// Opens and checks the framing, the manifest and the model id.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        let f = File::open(path).map_err(|e| LoadError::io(path, e))?;
        // SAFETY: the file is opened read-only; zkinfer never writes a file it has mapped,
        // and every read is bounds-checked against the mapping's length.
        let map = unsafe { Mmap::map(&f) }.map_err(|e| LoadError::io(path, e))?;
        let bad = |m: String| LoadError::format(path, m);
        let n = map.len() as u64;
        if n < 16 + FOOTER || &map[..8] != MAGIC {
            return Err(bad("not a zkinfer quantized model (bad magic or too short)".into()));
        }
        let version = u32::from_le_bytes([map[8], map[9], map[10], map[11]]);
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {version}; this zkinfer reads version {FORMAT_VERSION}"
            )));
        }
        let foot = &map[(n - FOOTER) as usize..];
        if &foot[16..24] != MAGIC {
            return Err(bad("truncated (no footer)".into()));
        }
        let u64_at = |b: &[u8]| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let (off, len) = (u64_at(&foot[0..8]), u64_at(&foot[8..16]));
        if off < 16 || len > MAX_MANIFEST || off.checked_add(len) != Some(n - FOOTER) {
            return Err(bad(format!("manifest range {off}+{len} does not fit the file ({n} bytes)")));
        }
        let manifest: Manifest = serde_json::from_slice(&map[off as usize..(off + len) as usize])
            .map_err(|e| bad(format!("malformed manifest: {e}")))?;
        if manifest.version != FORMAT_VERSION {
            return Err(bad(format!("manifest version {} != {FORMAT_VERSION}", manifest.version)));
        }
        let id = manifest.body.model_id();
        if id != manifest.model_id {
            return Err(bad(format!(
                "model id mismatch: manifest says {}, its content hashes to {id}",
                manifest.model_id
            )));
        }
        manifest.body.config.validate(path)?;
        let b = &manifest.body;
        if b.layers.len() != b.config.num_hidden_layers || b.params.layers.len() != b.config.num_hidden_layers
        {
            return Err(bad("manifest layer count differs from the config".into()));
        }
        Ok(QuantizedModel { path: path.to_path_buf(), map, data_end: off, manifest })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model id (hex SHA-256).
    pub fn model_id(&self) -> &str {
        &self.manifest.model_id
    }

    /// The architecture.
    pub fn config(&self) -> &crate::config::LlamaConfig {
        &self.manifest.body.config
    }

    fn bytes(&self, what: &str, b: &BlobRef, dtype: BlobDtype, len: u64) -> Result<&[u8], LoadError> {
        let err = |m: String| LoadError::tensor(&self.path, what, m);
        if b.dtype != dtype || b.len != len {
            return Err(err(format!("blob is {:?}×{}, expected {:?}×{len}", b.dtype, b.len, dtype)));
        }
        let size = len.checked_mul(dtype.size()).ok_or_else(|| err("size overflows".into()))?;
        let end = b.offset.checked_add(size).ok_or_else(|| err("offset overflows".into()))?;
        if b.offset < 16 || end > self.data_end {
            return Err(err(format!("bytes {}..{end} lie outside the data section", b.offset)));
        }
        let bytes = &self.map[b.offset as usize..end as usize];
        if hex::encode(Sha256::digest(bytes)) != b.sha256 {
            return Err(err("content hash mismatch (file corrupt)".into()));
        }
        Ok(bytes)
    }

    fn i8s(&self, what: &str, b: &BlobRef, len: u64) -> Result<Vec<i8>, LoadError> {
        let v: Vec<i8> = self.bytes(what, b, BlobDtype::I8, len)?.iter().map(|&x| x as i8).collect();
        if v.contains(&i8::MIN) {
            return Err(LoadError::tensor(&self.path, what, "weight -128 outside [-127, 127]"));
        }
        Ok(v)
    }

    fn i32s(&self, what: &str, b: &BlobRef, len: u64) -> Result<Vec<i64>, LoadError> {
        Ok(self
            .bytes(what, b, BlobDtype::I32, len)?
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect())
    }

    fn i64s(&self, what: &str, b: &BlobRef, len: u64) -> Result<Vec<i64>, LoadError> {
        Ok(self
            .bytes(what, b, BlobDtype::I64, len)?
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }

    fn check_scale(&self, what: &str, s: Scale) -> Result<(), LoadError> {
        if !(2..=32).contains(&s.bits) || s.frac > 40 {
            return Err(LoadError::tensor(&self.path, what, format!("implausible scale {s:?}")));
        }
        Ok(())
    }

    fn linear(&self, what: &str, e: &LinearEntry, rows: usize, cols: usize) -> Result<QLinear, LoadError> {
        if e.rows != rows as u64 || e.cols != cols as u64 {
            return Err(LoadError::ShapeMismatch {
                path: self.path.clone(),
                tensor: what.into(),
                expected: vec![rows, cols],
                got: vec![e.rows as usize, e.cols as usize],
            });
        }
        self.check_scale(what, e.out)?;
        let mult = self.i64s(what, &e.mult, e.rows)?;
        if mult.iter().any(|&m| !(0..1 << MULT_BITS).contains(&m)) || !(1..=96).contains(&e.shift) {
            return Err(LoadError::tensor(&self.path, what, "multiplier or shift out of range"));
        }
        if e.group != GROUP as u64 {
            return Err(LoadError::tensor(
                &self.path,
                what,
                format!("group size {} (this zkinfer uses {GROUP})", e.group),
            ));
        }
        let groups = cols.div_ceil(GROUP) as u64;
        let group_scale = self
            .bytes(what, &e.group_scale, BlobDtype::U16, e.rows * groups)?
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Ok(QLinear {
            rows,
            cols,
            group_scale,
            weight: self.i8s(what, &e.weight, e.rows * e.cols)?,
            mult,
            shift: e.shift,
            out: e.out,
        })
    }

    fn norm(&self, what: &str, e: &NormEntry) -> Result<QNorm, LoadError> {
        let d = self.config().hidden_size as u64;
        self.check_scale(what, e.out)?;
        let weight = self.i32s(what, &e.weight, d)?;
        let lim = 1i64 << (NORM_WEIGHT_BITS - 1);
        if weight.iter().any(|w| !(-lim..lim).contains(w)) || e.frac > 30 || e.eps < 1 {
            return Err(LoadError::tensor(&self.path, what, "norm weight, frac or eps out of range"));
        }
        if 23 + e.frac < e.out.frac {
            return Err(LoadError::tensor(&self.path, what, "norm output scale finer than its inputs"));
        }
        Ok(QNorm { weight, frac: e.frac, out: e.out, eps: e.eps })
    }

    /// Reads block `l`, checking every blob hash and the block's content hash.
    pub fn layer(&self, l: usize) -> Result<QLayer, LoadError> {
        let c = self.config();
        let entry = self.manifest.body.layers.get(l).ok_or_else(|| LoadError::MissingTensor {
            path: self.path.clone(),
            tensor: format!("layer {l}"),
        })?;
        let name = |t: &str| format!("layers.{l}.{t}");
        if entry.content.hash() != entry.sha256 {
            return Err(LoadError::tensor(&self.path, format!("layers.{l}"), "layer hash mismatch"));
        }
        let e = &entry.content;
        let (d, f) = (c.hidden_size, c.intermediate_size);
        if !(1..=127).contains(&e.score_shift) || !(0..1 << MULT_BITS).contains(&e.score_mult) {
            return Err(LoadError::tensor(
                &self.path,
                name("score"),
                "score multiplier or shift out of range",
            ));
        }
        self.check_scale(&name("mid"), e.mid)?;
        if e.mid.frac > SILU_FRAC + e.up.out.frac {
            return Err(LoadError::tensor(&self.path, name("mid"), "scale finer than silu(gate)·up"));
        }
        Ok(QLayer {
            attn_norm: self.norm(&name("attn_norm"), &e.attn_norm)?,
            q: self.linear(&name("q"), &e.q, c.q_dim(), d)?,
            k: self.linear(&name("k"), &e.k, c.kv_dim(), d)?,
            v: self.linear(&name("v"), &e.v, c.kv_dim(), d)?,
            o: self.linear(&name("o"), &e.o, d, c.q_dim())?,
            ffn_norm: self.norm(&name("ffn_norm"), &e.ffn_norm)?,
            gate: self.linear(&name("gate"), &e.gate, f, d)?,
            up: self.linear(&name("up"), &e.up, f, d)?,
            down: self.linear(&name("down"), &e.down, d, f)?,
            score_mult: e.score_mult,
            score_shift: e.score_shift,
            mid: e.mid,
        })
    }

    /// The embedding (rows = vocabulary).
    pub fn embedding(&self) -> Result<QLinear, LoadError> {
        let c = self.config();
        self.linear("embedding", &self.manifest.body.embedding, c.vocab_size, c.hidden_size)
    }

    /// The output projection.
    pub fn lm_head(&self) -> Result<QLinear, LoadError> {
        let c = self.config();
        self.linear("lm_head", &self.manifest.body.lm_head, c.vocab_size, c.hidden_size)
    }

    /// The final norm.
    pub fn final_norm(&self) -> Result<QNorm, LoadError> {
        self.norm("final_norm", &self.manifest.body.final_norm)
    }

    /// The lookup tables, checked against the domains the integer model assumes.
    pub fn tables(&self) -> Result<Tables, LoadError> {
        let spec = Tables::generate();
        let entries = &self.manifest.body.tables;
        let read = |want: &LookupTable| -> Result<LookupTable, LoadError> {
            let e = entries.iter().find(|e| e.name == want.name).ok_or_else(|| LoadError::MissingTensor {
                path: self.path.clone(),
                tensor: format!("table {}", want.name),
            })?;
            if e.start != want.start {
                return Err(LoadError::tensor(
                    &self.path,
                    &e.name,
                    "table domain differs from this zkinfer's",
                ));
            }
            let values = self.i32s(&e.name, &e.values, want.values.len() as u64)?;
            let (lo, hi) = table_range(&want.name);
            if values.iter().any(|v| !(lo..=hi).contains(v)) {
                return Err(LoadError::tensor(
                    &self.path,
                    &e.name,
                    format!("table values outside [{lo}, {hi}]"),
                ));
            }
            Ok(LookupTable { name: e.name.clone(), start: e.start, values })
        };
        Ok(Tables {
            rsqrt: read(&spec.rsqrt)?,
            exp: read(&spec.exp)?,
            recip: read(&spec.recip)?,
            silu: read(&spec.silu)?,
        })
    }

    /// The tokenizer stored with the model, if any.
    pub fn tokenizer(&self) -> Result<Option<crate::tokenizer::Tokenizer>, crate::error::Error> {
        match &self.manifest.tokenizer {
            Some(spec) => Ok(Some(crate::tokenizer::Tokenizer::from_spec(spec)?)),
            None => Ok(None),
        }
    }

    /// The RoPE constants.
    pub fn rope(&self) -> Result<RopeTable, LoadError> {
        let r = &self.manifest.body.rope;
        let half = self.config().head_dim / 2;
        if r.half != half as u64 || r.max_seq == 0 || r.max_seq > 1 << 20 {
            return Err(LoadError::tensor(&self.path, "rope", "table shape differs from the config"));
        }
        let n = r.max_seq * r.half;
        Ok(RopeTable {
            max_seq: r.max_seq as usize,
            half,
            cos: self.i32s("rope.cos", &r.cos, n)?,
            sin: self.i32s("rope.sin", &r.sin, n)?,
        })
    }
}
