//! Structured reference strings (KZG params over BN254): load a ceremony's file, build an
//! INSECURE dev SRS cached on disk, downsize to a smaller `k`.
//!
//! # File formats read
//!
//! A halo2 KZG params file is `k` (`u32`, little-endian), then the `2^k` powers
//! `[τ^i]G1`, then the same `2^k` points in the Lagrange basis, then `G2` and `[τ]G2`.
//! Points are stored either uncompressed with Montgomery coordinates (64 bytes per G1
//! point, 128 per G2 point: what halo2-axiom's `ParamsKZG::write` and Axiom's published
//! files use) or compressed (32 and 64 bytes: PSE halo2's older `Processed` files). The
//! format is told apart by the file's length, so a truncated or padded file is an error,
//! not a guess. Every point is checked to lie on the curve, `[τ^0]G1` and `G2` must be the
//! generators, and random linear combinations check that every G1 power uses the `τ` of
//! `[τ]G2` (one pairing equation) and that the Lagrange points are the powers' Lagrange
//! basis (one scalar FFT and two MSMs).
//!
//! Files this crate writes use the uncompressed format. Those [`SrsCache`] writes get a
//! `.sha256` file beside them once complete: a cache hit whose checksum matches is read
//! without the checks above (they ran when the points were computed), which at `k = 16`
//! takes a fraction of a second instead of about two.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use halo2_proofs::arithmetic::best_multiexp;
use halo2_proofs::halo2curves::bn256::{Bn256, Fq, Fr, G1Affine, G2Affine};
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::halo2curves::group::Curve;
use halo2_proofs::halo2curves::pairing::Engine;
use halo2_proofs::halo2curves::CurveAffine;
use halo2_proofs::poly::commitment::{Blind, Params, ParamsProver};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::poly::EvaluationDomain;
use halo2_proofs::SerdeFormat;
use rand::rngs::OsRng;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache_dir::{cache_root, write_atomic, CACHE_ENV};

/// The largest `k` BN254 supports: its scalar field has a `2^28`-th root of unity.
pub const MAX_K: u32 = 28;

/// The public seed of the INSECURE dev SRS. Anyone can recompute its secret `τ` from it,
/// so proofs under it show nothing; it exists for tests and development only.
pub const INSECURE_SEED: [u8; 32] = *b"zkinfer insecure dev srs seed v1";

/// Where an SRS came from; recorded in key caches, bundles and `verify` output so that an
/// INSECURE dev SRS is never mistaken for a ceremony's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SrsKind {
    /// The deterministic dev SRS drawn from [`INSECURE_SEED`]: its secret is public.
    Insecure,
    /// A params file, e.g. converted from a powers-of-tau ceremony.
    File {
        /// The path it was loaded from, as text (informational; the hash identifies it).
        path: String,
        /// SHA-256 of the whole file, lowercase hex.
        sha256: String,
    },
}

impl SrsKind {
    /// Whether proofs under this SRS are worthless outside development.
    pub fn is_insecure(&self) -> bool {
        matches!(self, SrsKind::Insecure)
    }

    /// A digest naming the underlying `τ`: equal for an SRS and any downsized copy of it,
    /// independent of where a file lies. Key caches use it.
    pub fn identity(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"zkinfer-srs-identity-v1\0");
        match self {
            SrsKind::Insecure => {
                hasher.update(b"insecure\0");
                hasher.update(INSECURE_SEED);
            }
            SrsKind::File { sha256, .. } => {
                hasher.update(b"file\0");
                hasher.update(sha256.as_bytes());
            }
        }
        hasher.finalize().into()
    }
}

impl fmt::Display for SrsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SrsKind::Insecure => write!(f, "INSECURE dev SRS (its secret is public; not for production)"),
            SrsKind::File { path, sha256 } => write!(f, "params file {path} (sha256 {sha256})"),
        }
    }
}

/// Errors from loading, generating, caching or downsizing an SRS.
#[derive(Debug, thiserror::Error)]
pub enum SrsError {
    /// The file could not be opened or read.
    #[error("cannot read SRS file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file could not be written.
    #[error("cannot write SRS file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file's `k` header is outside `1..=MAX_K`.
    #[error("SRS file {path} claims k = {k}; BN254 supports 1..={MAX_K}")]
    BadK {
        /// The file.
        path: PathBuf,
        /// The `k` it claims.
        k: u32,
    },
    /// The file's length fits neither known layout for its `k`.
    #[error(
        "SRS file {path} has {len} bytes, but a k = {k} params file has {raw} (uncompressed) \
         or {compressed} (compressed): truncated or not a halo2 KZG params file"
    )]
    BadLength {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The `k` its header claims.
        k: u32,
        /// The uncompressed layout's length.
        raw: u64,
        /// The compressed layout's length.
        compressed: u64,
    },
    /// A point failed to decode or lies off the curve, or the file is otherwise inconsistent.
    #[error("SRS file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A requested `k` is outside `1..=MAX_K`.
    #[error("k = {k} is outside 1..={MAX_K}")]
    KOutOfRange {
        /// The requested `k`.
        k: u32,
    },
    /// Downsizing can only shrink.
    #[error("cannot downsize an SRS of k = {have} to k = {want}; it only supports k <= {have}")]
    CannotGrow {
        /// The SRS's `k`.
        have: u32,
        /// The requested `k`.
        want: u32,
    },
    /// No cache directory is configured.
    #[error("no cache directory: set {CACHE_ENV} or HOME")]
    NoCacheDir,
}

/// KZG params together with where they came from.
#[derive(Clone, Debug)]
pub struct Srs {
    params: ParamsKZG<Bn256>,
    kind: SrsKind,
}

impl Srs {
    /// Loads a halo2 KZG params file (either layout, see the module docs), checking every
    /// point and the file's consistency; its kind records the path and the file's SHA-256.
    pub fn load(path: &Path) -> Result<Self, SrsError> {
        let (params, sha256) = read_params_file(path)?;
        Ok(Self {
            params,
            kind: SrsKind::File { path: path.display().to_string(), sha256: hex::encode(sha256) },
        })
    }

    /// Generates the INSECURE dev SRS for `k` without touching any cache. Its `τ` does not
    /// depend on `k`, so it equals the dev SRS of any larger `k` downsized.
    pub fn insecure(k: u32) -> Result<Self, SrsError> {
        check_k(k)?;
        Ok(Self { params: crate::dev_srs::setup(k, insecure_rng()), kind: SrsKind::Insecure })
    }

    /// The SRS's size: it supports circuits of up to `2^k` rows.
    pub fn k(&self) -> u32 {
        self.params.k()
    }

    /// Where it came from.
    pub fn kind(&self) -> &SrsKind {
        &self.kind
    }

    /// The halo2 params, for keygen and proving.
    pub fn params(&self) -> &ParamsKZG<Bn256> {
        &self.params
    }

    /// Shrinks to `k`, keeping the same `τ` (and so the same kind and identity).
    pub fn downsize(&mut self, k: u32) -> Result<(), SrsError> {
        check_k(k)?;
        if k > self.k() {
            return Err(SrsError::CannotGrow { have: self.k(), want: k });
        }
        if k < self.k() {
            self.params.downsize(k);
        }
        Ok(())
    }

    /// Writes the params atomically in the uncompressed layout.
    pub fn write(&self, path: &Path) -> Result<(), SrsError> {
        write_atomic(path, |w| self.params.write_custom(w, SerdeFormat::RawBytes))
            .map_err(|source| SrsError::Write { path: path.to_path_buf(), source })
    }
}

/// An on-disk cache of SRS files: the INSECURE dev SRS per `k`, and downsized copies of any
/// SRS, so each is computed once.
#[derive(Clone, Debug)]
pub struct SrsCache {
    dir: PathBuf,
}

impl SrsCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The default cache: `$ZKINFER_CACHE/srs`, else `$XDG_CACHE_HOME/zkinfer/srs`, else
    /// `~/.cache/zkinfer/srs`.
    pub fn from_env() -> Result<Self, SrsError> {
        cache_root().map(|root| Self::new(root.join("srs"))).ok_or(SrsError::NoCacheDir)
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file the dev SRS for `k` is cached in.
    pub fn insecure_path(&self, k: u32) -> PathBuf {
        self.dir.join(format!("insecure-bn254-k{k}.params"))
    }

    /// The INSECURE dev SRS for `k`: read from the cache when a valid copy is there,
    /// otherwise generated and written atomically. A cached file that fails its checks (or
    /// was not drawn from [`INSECURE_SEED`]) is regenerated.
    pub fn insecure(&self, k: u32) -> Result<Srs, SrsError> {
        check_k(k)?;
        let path = self.insecure_path(k);
        if let Some(params) = read_cached(&path) {
            if params.k() == k && is_insecure_tau(&params) {
                return Ok(Srs { params, kind: SrsKind::Insecure });
            }
        }
        let srs = Srs::insecure(k)?;
        write_cached(&srs, &path)?;
        Ok(srs)
    }
}

impl SrsCache {
    /// `srs` downsized to `k`, cached: halo2 recomputes the Lagrange basis when it
    /// downsizes, which costs about as much as generating a dev SRS, so each `(τ, k)` is
    /// computed once. A cached copy is used only if it passes every load check and has the
    /// same `τ` as `srs`; the result keeps `srs`'s kind.
    pub fn downsized(&self, srs: &Srs, k: u32) -> Result<Srs, SrsError> {
        check_k(k)?;
        if k > srs.k() {
            return Err(SrsError::CannotGrow { have: srs.k(), want: k });
        }
        if k == srs.k() {
            return Ok(srs.clone());
        }
        let path = self.dir.join(format!("{}-k{k}.params", hex::encode(&srs.kind().identity()[..16])));
        if let Some(params) = read_cached(&path) {
            if params.k() == k && same_tau(&params, srs.params()) {
                return Ok(Srs { params, kind: srs.kind.clone() });
            }
        }
        // The dev SRS of any size is computed directly, faster than a downsize's Lagrange basis.
        let small = if *srs.kind() == SrsKind::Insecure && is_insecure_tau(srs.params()) {
            Srs::insecure(k)?
        } else {
            let mut small = srs.clone();
            small.downsize(k)?;
            small
        };
        write_cached(&small, &path)?;
        Ok(small)
    }
}

/// The checksum file beside a cached params file.
fn checksum_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Writes a cache file and then, once it is complete, its checksum file.
fn write_cached(srs: &Srs, path: &Path) -> Result<(), SrsError> {
    srs.write(path)?;
    let read_err = |source| SrsError::Read { path: path.to_path_buf(), source };
    let mut hasher =
        HashingReader { inner: BufReader::new(File::open(path).map_err(read_err)?), hasher: Sha256::new() };
    io::copy(&mut hasher, &mut io::sink()).map_err(read_err)?;
    let checksum = hex::encode(hasher.hasher.finalize());
    let sidecar = checksum_path(path);
    write_atomic(&sidecar, |w| io::Write::write_all(w, checksum.as_bytes()))
        .map_err(|source| SrsError::Write { path: sidecar, source })
}

/// Reads a cache file. When its checksum file matches, the points were checked when they
/// were computed, so the fast unchecked reader is used (the length is checked first, so it
/// cannot run out of bytes); otherwise every load check runs, and a file that passes gets
/// its checksum file back. `None` if neither succeeds.
fn read_cached(path: &Path) -> Option<ParamsKZG<Bn256>> {
    if let Some(params) = read_with_checksum(path) {
        return Some(params);
    }
    let (params, sha256) = read_params_file(path).ok()?;
    // Best effort: without the checksum file the next load is only slower.
    let _ = write_atomic(&checksum_path(path), |w| io::Write::write_all(w, hex::encode(sha256).as_bytes()));
    Some(params)
}

fn read_with_checksum(path: &Path) -> Option<ParamsKZG<Bn256>> {
    let expected = std::fs::read_to_string(checksum_path(path)).ok()?;
    let file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut reader = HashingReader { inner: BufReader::with_capacity(1 << 20, file), hasher: Sha256::new() };
    let mut k_bytes = [0u8; 4];
    reader.read_exact(&mut k_bytes).ok()?;
    let k = u32::from_le_bytes(k_bytes);
    if !(1..=MAX_K).contains(&k) || len != file_len(k, RAW_G1, RAW_G2) {
        return None;
    }
    let params = ParamsKZG::<Bn256>::read_custom(
        &mut io::Cursor::new(k_bytes).chain(&mut reader),
        SerdeFormat::RawBytesUnchecked,
    )
    .ok()?;
    (hex::encode(reader.hasher.finalize()) == expected.trim()).then_some(params)
}

fn same_tau(a: &ParamsKZG<Bn256>, b: &ParamsKZG<Bn256>) -> bool {
    a.get_g().get(1) == b.get_g().get(1) && a.s_g2() == b.s_g2()
}

fn check_k(k: u32) -> Result<(), SrsError> {
    if (1..=MAX_K).contains(&k) {
        Ok(())
    } else {
        Err(SrsError::KOutOfRange { k })
    }
}

fn insecure_rng() -> ChaCha20Rng {
    ChaCha20Rng::from_seed(INSECURE_SEED)
}

/// `ParamsKZG::setup` draws `τ` as the first field element from its rng.
fn insecure_tau() -> Fr {
    Fr::random(insecure_rng())
}

fn is_insecure_tau(params: &ParamsKZG<Bn256>) -> bool {
    let tau = insecure_tau();
    let g = params.get_g();
    g.len() >= 2
        && g[1] == (G1Affine::generator() * tau).into()
        && params.s_g2() == (G2Affine::generator() * tau).into()
}

/// Bytes of one G1 and one G2 point in each layout.
const RAW_G1: u64 = 64;
const RAW_G2: u64 = 128;
const COMPRESSED_G1: u64 = 32;
const COMPRESSED_G2: u64 = 64;

fn file_len(k: u32, g1: u64, g2: u64) -> u64 {
    4 + 2 * (1u64 << k) * g1 + 2 * g2
}

/// Reads and checks a params file, returning the params and the file's SHA-256.
fn read_params_file(path: &Path) -> Result<(ParamsKZG<Bn256>, [u8; 32]), SrsError> {
    let read_err = |source| SrsError::Read { path: path.to_path_buf(), source };
    let corrupt = |reason: String| SrsError::Corrupt { path: path.to_path_buf(), reason };
    let file = File::open(path).map_err(read_err)?;
    let len = file.metadata().map_err(read_err)?.len();
    let mut reader = HashingReader { inner: BufReader::with_capacity(1 << 20, file), hasher: Sha256::new() };
    let mut k_bytes = [0u8; 4];
    reader.read_exact(&mut k_bytes).map_err(read_err)?;
    let k = u32::from_le_bytes(k_bytes);
    if !(1..=MAX_K).contains(&k) {
        return Err(SrsError::BadK { path: path.to_path_buf(), k });
    }
    let (raw, compressed) = (file_len(k, RAW_G1, RAW_G2), file_len(k, COMPRESSED_G1, COMPRESSED_G2));
    let format = if len == raw {
        SerdeFormat::RawBytes
    } else if len == compressed {
        check_compressed_g2_tail(path, len)?;
        SerdeFormat::Processed
    } else {
        return Err(SrsError::BadLength { path: path.to_path_buf(), len, k, raw, compressed });
    };
    let params = ParamsKZG::<Bn256>::read_custom(&mut io::Cursor::new(k_bytes).chain(&mut reader), format)
        .map_err(|e| corrupt(format!("{e}")))?;
    let sha256 = reader.hasher.finalize().into();
    check_consistency(&params).map_err(corrupt)?;
    Ok((params, sha256))
}

/// Checks what halo2's reader does not: every point lies on the curve, `[τ^0]G1` and `G2`
/// are the generators, every G1 power uses the `τ` of `[τ]G2`, and the Lagrange points are
/// the powers' Lagrange basis (which also catches a Lagrange point off the curve). The last
/// two are random linear combinations (four MSMs and one scalar FFT of size `2^k`), so a
/// damaged file fails them except with negligible probability.
fn check_consistency(params: &ParamsKZG<Bn256>) -> Result<(), String> {
    let g = params.get_g();
    if let Some(i) = g.iter().position(|p| !bool::from(p.is_on_curve())) {
        return Err(format!("G1 power {i} is not on the curve"));
    }
    if g.first() != Some(&G1Affine::generator()) {
        return Err("its first G1 point is not the generator".into());
    }
    if params.g2() != G2Affine::generator() {
        return Err("its first G2 point is not the generator".into());
    }
    if !bool::from(params.s_g2().is_on_curve()) {
        return Err("[tau]G2 is not on the curve".into());
    }
    let n = g.len();
    let mut rng = OsRng;
    // Σ rᵢ·[τ^(i+1)]G1 = τ · Σ rᵢ·[τ^i]G1, checked against [τ]G2 with one pairing equation.
    let r: Vec<Fr> = (0..n - 1).map(|_| Fr::random(&mut rng)).collect();
    let shifted = best_multiexp(&r, &g[1..]).to_affine();
    let unshifted = best_multiexp(&r, &g[..n - 1]).to_affine();
    if Bn256::pairing(&shifted, &params.g2()) != Bn256::pairing(&unshifted, &params.s_g2()) {
        return Err("its G1 powers and [tau]G2 use different secrets (pairing check failed)".into());
    }
    // Committing random values through the Lagrange points must equal committing their
    // coefficients through the powers (halo2 keeps the Lagrange points private; its two
    // commit functions read them and the powers).
    let domain = EvaluationDomain::<Fr>::new(1, params.k());
    let values = domain.lagrange_from_vec((0..n).map(|_| Fr::random(&mut rng)).collect());
    let coeffs = domain.lagrange_to_coeff(values.clone());
    if params.commit_lagrange(&values, Blind::default()) != params.commit(&coeffs, Blind::default()) {
        return Err("its Lagrange points are not the Lagrange basis of its powers".into());
    }
    Ok(())
}

/// In the compressed layout, halo2curves panics on a G2 point whose coordinates are not
/// field elements; check the two G2 points at the end of the file before halo2 reads them.
fn check_compressed_g2_tail(path: &Path, len: u64) -> Result<(), SrsError> {
    let read_err = |source| SrsError::Read { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(read_err)?;
    file.seek(SeekFrom::Start(len - 2 * COMPRESSED_G2)).map_err(read_err)?;
    let mut tail = [0u8; 2 * COMPRESSED_G2 as usize];
    file.read_exact(&mut tail).map_err(read_err)?;
    for (point, name) in tail.chunks_exact(COMPRESSED_G2 as usize).zip(["G2", "[tau]G2"]) {
        let mut bytes = [0u8; COMPRESSED_G2 as usize];
        bytes.copy_from_slice(point);
        // The top two bits of the last byte are the infinity and sign flags.
        bytes[COMPRESSED_G2 as usize - 1] &= 0b0011_1111;
        let valid = bytes.chunks_exact(32).all(|half| {
            let mut repr = [0u8; 32];
            repr.copy_from_slice(half);
            bool::from(Fq::from_bytes(&repr).is_some())
        });
        if !valid {
            return Err(SrsError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("its {name} point has a coordinate outside the field"),
            });
        }
    }
    Ok(())
}

/// Hashes everything read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
