//! Key generation, the verifying-key hash a model manifest lists, and an on-disk key cache.
//!
//! # Verifying-key hash
//!
//! [`vk_hash`] is SHA-256 over a domain tag, the vk in halo2's compressed (`Processed`)
//! encoding (`k`, fixed and permutation commitments, selectors) and the vk's transcript
//! representative, a Blake2b digest halo2 takes over the whole pinned key, constraint
//! system (gates, lookups, column counts) included. The serialized vk alone would not
//! cover the gates, which halo2 rebuilds from the circuit type when it reads a vk.
//!
//! # Key cache
//!
//! Entries are keyed by SHA-256 of (format tag, `k`, the SRS identity, a [`ShapeId`]).
//! The shape id is cheap: the circuit type's name, its constraint system as built by
//! `configure` (no synthesis; halo2's pinned, deterministic view), and bytes the caller declares to determine everything
//! `synthesize` writes into fixed columns and copy constraints (for a chunk: its config and
//! the SHA-256 of its weights). Keying by the vk itself would need a synthesis and the
//! fixed-column commitments on every hit; the declared bytes avoid that, at the price that
//! the caller must declare honestly. A stale entry can only yield a key whose vk hash
//! differs from the model manifest's, which verification rejects.
//!
//! An entry file is: magic `ZKIPKEY\0`, format version (`u32` LE), the vk hash (32 bytes),
//! the proving key in halo2's uncompressed encoding, then the payload length (`u64` LE) and
//! the SHA-256 of the header and payload. It is written atomically and checked in full before
//! it is parsed; a damaged entry is rebuilt.

use std::any::type_name;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{
    keygen_pk2, keygen_vk_custom, Circuit, ConstraintSystem, ProvingKey, VerifyingKey,
};
use halo2_proofs::SerdeFormat;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use zkinfer_circuits::failure::{self, Failure};

use crate::cache_dir::{cache_root, write_atomic, CACHE_ENV};
use crate::rle;
use crate::srs::{Srs, MAX_K};

const MAGIC: &[u8; 8] = b"ZKIPKEY\0";
const FORMAT_VERSION: u32 = 1;
/// Changes whenever a cached key could stop matching what today's code synthesizes for the
/// same shape: our format, the halo2 fork's, or where a chunk circuit places its work (v3:
/// SwiGLU fills lane 0's reserved tail from its first row, which moves fixed-column content
/// of block shapes from before).
const CACHE_TAG: &[u8] = b"zkinfer-keycache-v3/halo2-axiom-0.5.3/selectors-compressed";
/// Magic of [`vk_to_bytes`]: version 1 is halo2's `Processed` vk, run-length encoded.
const VK_MAGIC: &[u8; 5] = b"ZKVK\x01";
/// The most bytes a verifying key may decode to (a compressed-selector key holds one bit
/// per row per selector: 12 MB for 96 selectors at `k = 20`).
const MAX_VK_BYTES: usize = 1 << 28;
const HEADER_LEN: u64 = 8 + 4 + 32;
const TRAILER_LEN: u64 = 8 + 32;

/// Errors from keygen and the key cache.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// halo2 keygen failed (e.g. the circuit needs more rows than `2^k`).
    #[error("keygen failed at k = {k}: {source}")]
    Keygen {
        /// The SRS's `k`.
        k: u32,
        /// halo2's error.
        source: halo2_proofs::plonk::Error,
    },
    /// A chip refused the circuit while keygen synthesized it (a shape or constant it
    /// cannot lay out).
    #[error("keygen failed at k = {k}: {failure}")]
    Refused {
        /// The SRS's `k`.
        k: u32,
        /// The chip's refusal.
        failure: Box<Failure>,
    },
    /// A cache entry could not be written.
    #[error("cannot write key cache entry {path}: {source}")]
    CacheWrite {
        /// The entry file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// No cache directory is configured.
    #[error("no cache directory: set {CACHE_ENV} or HOME")]
    NoCacheDir,
    /// Verifying-key bytes do not decode for this circuit.
    #[error("invalid verifying key: {0}")]
    BadVk(io::Error),
    /// A vk hash is not 64 hex digits.
    #[error("invalid vk hash {0:?}: expected 64 hex digits")]
    BadVkHash(String),
}

/// SHA-256 identifying a verifying key, gates included (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VkHash(pub [u8; 32]);

impl fmt::Display for VkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for VkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VkHash({self})")
    }
}

impl FromStr for VkHash {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| KeyError::BadVkHash(s.to_string()))?;
        Ok(Self(out))
    }
}

impl Serialize for VkHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for VkHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The hash a model manifest lists for a chunk's verifying key.
pub fn vk_hash(vk: &VerifyingKey<G1Affine>) -> VkHash {
    let mut hasher = Sha256::new();
    hasher.update(b"zkinfer-vk-v1\0");
    hasher.update(vk.to_bytes(SerdeFormat::Processed));
    hasher.update(vk.transcript_repr().to_repr());
    VkHash(hasher.finalize().into())
}

/// How keygen lays out selectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selectors {
    /// halo2 folds selectors that are never on in the same row into shared fixed columns,
    /// within the constraint system's degree: fewer fixed columns (less keygen time, proving
    /// key memory and proof size; fewer commitments for an aggregating verifier), at the price
    /// of a verifying key that stores every selector's bits (run-length encoded by
    /// [`vk_to_bytes`]). The chunk circuits' setting.
    Compressed,
    /// One fixed column per selector.
    Separate,
}

/// The vk as `ZKVK\x01` then halo2's `Processed` encoding run-length encoded ([`crate::rle`]),
/// e.g. to ship in a keys file.
pub fn vk_to_bytes(vk: &VerifyingKey<G1Affine>) -> Vec<u8> {
    let mut out = VK_MAGIC.to_vec();
    out.extend(rle::pack(&vk.to_bytes(SerdeFormat::Processed)));
    out
}

/// Reads a vk written by [`vk_to_bytes`]; the gates come from the circuit type `C` and its
/// `params`, so the result must be checked against a trusted [`vk_hash`].
///
/// halo2's reader trusts the header: it allocates by the `k` it finds (for every selector,
/// `2^k` booleans when selectors are compressed) and asserts the circuit fits the field's
/// FFT domain. The header is checked first (version 2, `k` in `1..=MAX_K`, a compression flag
/// of 0 or 1, and, with compressed selectors, enough bytes to hold them: a short file cannot
/// claim a huge `k`) and any remaining panic inside halo2 is caught and returned as an error.
///
/// The key must be of `2^k` rows, the circuit's size by its shape: the run-length data may
/// decode to no more than a key of that size can hold ([`vk_bytes_bound`]), so a small file
/// cannot make the reader allocate more than a legitimate key takes.
pub fn vk_from_bytes<C: Circuit<Fr>>(
    bytes: &[u8],
    params: C::Params,
    k: u32,
) -> Result<VerifyingKey<G1Affine>, KeyError>
where
    C::Params: Clone,
{
    let bad = |reason: String| KeyError::BadVk(io::Error::new(io::ErrorKind::InvalidData, reason));
    let packed = bytes
        .strip_prefix(VK_MAGIC.as_slice())
        .ok_or_else(|| bad("not a zkinfer verifying key (bad magic or version)".into()))?;
    if !(1..=MAX_K).contains(&k) {
        return Err(bad(format!("k = {k} is outside 1..={MAX_K}")));
    }
    let limit = vk_bytes_bound::<C>(params.clone(), k).min(MAX_VK_BYTES);
    let bytes = rle::unpack(packed, limit).map_err(|e| bad(e.to_string()))?;
    vk_from_halo2_bytes::<C>(&bytes, params, k)
}

/// The most bytes halo2's `Processed` encoding of a verifying key of circuit `C` at `2^k`
/// rows takes: the header, a 64-byte point per fixed, selector and permutation column (an
/// upper bound on the commitments after selector compression) and, for compressed
/// selectors, one bit per selector and row.
pub fn vk_bytes_bound<C: Circuit<Fr>>(params: C::Params, k: u32) -> usize {
    let mut cs = ConstraintSystem::<Fr>::default();
    let _config = C::configure_with_params(&mut cs, params);
    let selectors = cs.num_selectors();
    let points = cs.num_fixed_columns() + selectors + cs.permutation().get_columns().len();
    let rows = 1usize << k.min(MAX_K);
    64 + 64 * points + selectors * rows.div_ceil(8)
}

/// Reads a vk in halo2's plain `Processed` encoding (what [`vk_to_bytes`] wraps; keys files
/// of format v1 hold it), with the checks of [`vk_from_bytes`]: `expected_k` is the circuit's
/// size by its shape.
pub fn vk_from_halo2_bytes<C: Circuit<Fr>>(
    bytes: &[u8],
    params: C::Params,
    expected_k: u32,
) -> Result<VerifyingKey<G1Affine>, KeyError>
where
    C::Params: Clone,
{
    let bad = |reason: String| KeyError::BadVk(io::Error::new(io::ErrorKind::InvalidData, reason));
    let [version, k0, k1, k2, k3, compress, ..] = *bytes else {
        return Err(bad(format!("{} bytes is too short for a verifying key", bytes.len())));
    };
    if version != 2 {
        return Err(bad(format!("unsupported verifying key version {version}")));
    }
    let k = u32::from_le_bytes([k0, k1, k2, k3]);
    if !(1..=MAX_K).contains(&k) {
        return Err(bad(format!("k = {k} is outside 1..={MAX_K}")));
    }
    if k != expected_k {
        return Err(bad(format!("the key is of 2^{k} rows, its circuit of 2^{expected_k}")));
    }
    match compress {
        0 => {}
        1 => {
            let mut cs = ConstraintSystem::<Fr>::default();
            let _config = C::configure_with_params(&mut cs, params.clone());
            let selector_bytes = (cs.num_selectors() as u64) * (1u64 << k).div_ceil(8);
            if (bytes.len() as u64) < selector_bytes {
                return Err(bad(format!(
                    "{} bytes cannot hold {} selectors of 2^{k} rows",
                    bytes.len(),
                    cs.num_selectors()
                )));
            }
        }
        flag => return Err(bad(format!("selector compression flag {flag} is not 0 or 1"))),
    }
    let mut reader = bytes;
    let read = panic::catch_unwind(AssertUnwindSafe(|| {
        VerifyingKey::read::<_, C>(&mut reader, SerdeFormat::Processed, params)
    }));
    let vk = match read {
        Ok(result) => result.map_err(KeyError::BadVk)?,
        Err(_) => return Err(bad(format!("halo2 cannot build this circuit's domain at k = {k}"))),
    };
    if !reader.is_empty() {
        return Err(bad(format!("{} trailing bytes after the verifying key", reader.len())));
    }
    Ok(vk)
}

/// Generates the verifying and proving keys for `circuit` with `2^srs.k()` rows (downsize
/// the SRS to the circuit's `k` first); one synthesis. The proving key holds the verifying
/// key: `pk.get_vk()`. Selectors are compressed (halo2 keeps every gate within the
/// constraint system's degree).
pub fn keygen<C: Circuit<Fr>>(srs: &Srs, circuit: &C) -> Result<ProvingKey<G1Affine>, KeyError> {
    keygen_with(srs, circuit, Selectors::Compressed)
}

/// [`keygen`] with the selector layout chosen.
pub fn keygen_with<C: Circuit<Fr>>(
    srs: &Srs,
    circuit: &C,
    selectors: Selectors,
) -> Result<ProvingKey<G1Affine>, KeyError> {
    failure::clear();
    keygen_pk2(srs.params(), circuit, selectors == Selectors::Compressed)
        .map_err(|e| KeyError::from_halo2(srs.k(), e))
}

/// Only the verifying key of `circuit` (what a verifier needs; the proving key's cosets are
/// not computed), with the same settings as [`keygen`].
pub fn keygen_vk<C: Circuit<Fr>>(srs: &Srs, circuit: &C) -> Result<VerifyingKey<G1Affine>, KeyError> {
    failure::clear();
    keygen_vk_custom(srs.params(), circuit, true).map_err(|e| KeyError::from_halo2(srs.k(), e))
}

impl KeyError {
    /// Keygen at `k` failed with halo2's `error`, or with the chip's refusal recorded
    /// behind it.
    fn from_halo2(k: u32, error: halo2_proofs::plonk::Error) -> Self {
        match failure::explain(&error) {
            Some(failure) => KeyError::Refused { k, failure: Box::new(failure) },
            None => KeyError::Keygen { k, source: error },
        }
    }
}

/// A cheap identity for a circuit's keys (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShapeId(pub [u8; 32]);

impl ShapeId {
    /// Hashes the circuit type's name, its constraint system and `declared`, which must
    /// determine everything `synthesize` puts into fixed columns and copy constraints.
    pub fn new<C: Circuit<Fr>>(circuit: &C, declared: &[u8]) -> Self {
        let mut cs = ConstraintSystem::<Fr>::default();
        let _config = C::configure_with_params(&mut cs, circuit.params());
        let mut hasher = Sha256::new();
        hasher.update(b"zkinfer-shape-v1\0");
        hasher.update(type_name::<C>().as_bytes());
        hasher.update([0]);
        // The pinned view: what halo2 hashes into the vk, without the HashMap of column
        // annotations whose order changes from run to run.
        hasher.update(format!("{:?}", cs.pinned()).as_bytes());
        hasher.update([0]);
        hasher.update((declared.len() as u64).to_le_bytes());
        hasher.update(declared);
        Self(hasher.finalize().into())
    }
}

impl fmt::Debug for ShapeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShapeId({})", hex::encode(self.0))
    }
}

/// How [`KeyCache::load_or_keygen`] got its keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// Read from a valid cache entry.
    Hit,
    /// Generated and stored; there was no entry.
    Miss,
    /// Generated and stored over an entry that failed its checks.
    Rebuilt {
        /// What was wrong with the old entry.
        reason: String,
    },
}

/// An on-disk cache of proving keys (each holding its verifying key).
#[derive(Clone, Debug)]
pub struct KeyCache {
    dir: PathBuf,
}

impl KeyCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The default cache: `$ZKINFER_CACHE/keys`, else `$XDG_CACHE_HOME/zkinfer/keys`, else
    /// `~/.cache/zkinfer/keys`.
    pub fn from_env() -> Result<Self, KeyError> {
        cache_root().map(|root| Self::new(root.join("keys"))).ok_or(KeyError::NoCacheDir)
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry file for `shape` on `srs`.
    pub fn entry_path(&self, srs: &Srs, shape: &ShapeId) -> PathBuf {
        let mut hasher = Sha256::new();
        hasher.update(CACHE_TAG);
        hasher.update(srs.k().to_le_bytes());
        hasher.update(srs.kind().identity());
        hasher.update(shape.0);
        let key: [u8; 32] = hasher.finalize().into();
        self.dir.join(format!("{}.pk", hex::encode(key)))
    }

    /// The keys for `circuit` from the cache, or generated by [`keygen`] and stored.
    pub fn load_or_keygen<C: Circuit<Fr>>(
        &self,
        srs: &Srs,
        circuit: &C,
        shape: &ShapeId,
    ) -> Result<(ProvingKey<G1Affine>, CacheStatus), KeyError> {
        let path = self.entry_path(srs, shape);
        let status = match read_entry::<C>(&path, circuit.params()) {
            Ok(Some(pk)) => return Ok((pk, CacheStatus::Hit)),
            Ok(None) => CacheStatus::Miss,
            Err(reason) => CacheStatus::Rebuilt { reason },
        };
        let pk = keygen(srs, circuit)?;
        write_entry(&path, &pk).map_err(|source| KeyError::CacheWrite { path: path.clone(), source })?;
        Ok((pk, status))
    }
}

/// `Ok(None)` when there is no entry; `Err(reason)` when there is a bad one.
fn read_entry<C: Circuit<Fr>>(
    path: &Path,
    params: C::Params,
) -> Result<Option<ProvingKey<G1Affine>>, String> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open: {e}")),
    };
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len < HEADER_LEN + TRAILER_LEN {
        return Err(format!("{len} bytes is too short"));
    }
    // First pass: the checksum over everything before the trailer.
    let body_len = len - TRAILER_LEN;
    let mut hasher = Sha256::new();
    io::copy(&mut BufReader::new((&mut file).take(body_len)), &mut HashWriter(&mut hasher))
        .map_err(|e| e.to_string())?;
    let mut trailer = [0u8; TRAILER_LEN as usize];
    file.read_exact(&mut trailer).map_err(|e| e.to_string())?;
    let (payload_len, checksum) = trailer.split_at(8);
    let payload_len = u64::from_le_bytes(payload_len.try_into().map_err(|_| "bad trailer")?);
    if payload_len != body_len - HEADER_LEN {
        return Err("payload length does not match the file".into());
    }
    if hasher.finalize().as_slice() != checksum {
        return Err("checksum mismatch".into());
    }
    // Second pass: parse.
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let mut reader = BufReader::with_capacity(1 << 20, file.take(body_len));
    let mut header = [0u8; HEADER_LEN as usize];
    reader.read_exact(&mut header).map_err(|e| e.to_string())?;
    if &header[..8] != MAGIC || header[8..12] != FORMAT_VERSION.to_le_bytes() {
        return Err("not a version-1 key cache entry".into());
    }
    // The checksum matched, so these bytes are what `write_entry` wrote; halo2's reader
    // unwraps internally, so a key from another build of the circuit code is caught here.
    let pk = panic::catch_unwind(AssertUnwindSafe(|| {
        ProvingKey::<G1Affine>::read::<_, C>(&mut reader, SerdeFormat::RawBytesUnchecked, params)
    }))
    .map_err(|_| "halo2 panicked parsing the proving key".to_string())?
    .map_err(|e| format!("cannot parse the proving key: {e}"))?;
    if vk_hash(pk.get_vk()).0 != header[12..44] {
        return Err("the stored vk hash does not match the stored key".into());
    }
    Ok(Some(pk))
}

fn write_entry(path: &Path, pk: &ProvingKey<G1Affine>) -> io::Result<()> {
    write_atomic(path, |w| {
        let mut out = LatchingHashWriter { inner: w, hasher: Sha256::new(), written: 0, error: None };
        out.write_all(MAGIC)?;
        out.write_all(&FORMAT_VERSION.to_le_bytes())?;
        out.write_all(&vk_hash(pk.get_vk()).0)?;
        // halo2 unwraps some write errors inside `ProvingKey::write`; the latching writer
        // never reports one to it and hands the first one back here instead.
        pk.write(&mut out, SerdeFormat::RawBytes)?;
        if let Some(e) = out.error.take() {
            return Err(e);
        }
        let payload_len = out.written - HEADER_LEN;
        let checksum = out.hasher.finalize();
        out.inner.write_all(&payload_len.to_le_bytes())?;
        out.inner.write_all(&checksum)
    })
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes and counts what it writes; after the first I/O error it drops further writes and
/// keeps the error for the caller, so code that unwraps write results cannot panic.
struct LatchingHashWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
    error: Option<io::Error>,
}

impl<W: Write> Write for LatchingHashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.error.is_none() {
            match self.inner.write_all(buf) {
                Ok(()) => {
                    self.hasher.update(buf);
                    self.written += buf.len() as u64;
                }
                Err(e) => self.error = Some(e),
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
