//! SRS loading, the dev-SRS cache, downsizing and verifier params.

mod common;

use std::fs;

use common::{path_in, temp_dir};
use sha2::{Digest, Sha256};
use zkinfer_prover::halo2_proofs::poly::commitment::Params;
use zkinfer_prover::halo2_proofs::SerdeFormat;
use zkinfer_prover::srs::INSECURE_SEED;
use zkinfer_prover::{Srs, SrsCache, SrsError, SrsKind, VerifierParams, VerifierParamsError};

fn raw_bytes(srs: &Srs) -> Vec<u8> {
    let mut out = Vec::new();
    srs.params().write_custom(&mut out, SerdeFormat::RawBytes).expect("writing to a Vec");
    out
}

#[test]
fn cache_miss_writes_and_hit_returns_identical_params() {
    let dir = temp_dir();
    let cache = SrsCache::new(dir.path());
    let first = cache.insecure(8).expect("generate k = 8");
    assert!(cache.insecure_path(8).exists(), "the cache file is written");
    assert_eq!(first.kind(), &SrsKind::Insecure);
    assert!(first.kind().is_insecure());
    let second = cache.insecure(8).expect("read k = 8 from the cache");
    assert_eq!(second.kind(), &SrsKind::Insecure);
    assert_eq!(raw_bytes(&first), raw_bytes(&second));
    assert_eq!(raw_bytes(&first), raw_bytes(&Srs::insecure(8).expect("uncached k = 8")));
}

#[test]
fn damaged_cache_file_is_regenerated() {
    let dir = temp_dir();
    let cache = SrsCache::new(dir.path());
    let good = raw_bytes(&cache.insecure(6).expect("generate"));
    let path = cache.insecure_path(6);
    let sidecar = path.with_extension("params.sha256");
    assert!(sidecar.exists(), "the checksum is written beside the file");
    fs::write(&sidecar, "00").expect("damage the checksum");
    assert_eq!(raw_bytes(&cache.insecure(6).expect("fully checked load")), good);
    assert_eq!(fs::read_to_string(&sidecar).expect("repaired checksum").len(), 64);
    let mut bytes = fs::read(&path).expect("read the cache file");
    bytes[100] ^= 0x40;
    fs::write(&path, &bytes).expect("damage the cache file");
    assert_eq!(raw_bytes(&cache.insecure(6).expect("regenerate")), good);
    fs::write(&path, &bytes[..bytes.len() - 1]).expect("truncate the cache file");
    assert_eq!(raw_bytes(&cache.insecure(6).expect("regenerate")), good);
    assert_eq!(fs::read(&path).expect("re-read"), good, "the repaired file is written back");
}

#[test]
fn downsizing_equals_generating_the_smaller_srs() {
    let mut srs = Srs::insecure(10).expect("k = 10");
    srs.downsize(8).expect("downsize to 8");
    assert_eq!(srs.k(), 8);
    assert_eq!(srs.params().n(), 256);
    assert_eq!(raw_bytes(&srs), raw_bytes(&Srs::insecure(8).expect("k = 8")));
    assert!(matches!(srs.downsize(9), Err(SrsError::CannotGrow { have: 8, want: 9 })));
    assert!(matches!(srs.downsize(0), Err(SrsError::KOutOfRange { k: 0 })));
    srs.downsize(8).expect("downsizing to the same k is a no-op");
    assert!(matches!(Srs::insecure(29), Err(SrsError::KOutOfRange { k: 29 })));
}

#[test]
fn cached_downsizing_keeps_the_kind_and_reuses_the_file() {
    let dir = temp_dir();
    let cache = SrsCache::new(path_in(&dir, "cache"));
    let file = path_in(&dir, "ceremony.params");
    Srs::insecure(8).expect("k = 8").write(&file).expect("write");
    let big = Srs::load(&file).expect("load");
    let small = cache.downsized(&big, 6).expect("downsize");
    assert_eq!(small.kind(), big.kind());
    assert_eq!(raw_bytes(&small), raw_bytes(&Srs::insecure(6).expect("k = 6")));
    let mut cached: Vec<_> =
        fs::read_dir(cache.dir()).expect("cache dir").map(|e| e.expect("dir entry").path()).collect();
    cached.sort();
    assert_eq!(cached.len(), 2, "one downsized file and its checksum: {cached:?}");
    assert!(cached[1].to_string_lossy().ends_with(".params.sha256"), "{cached:?}");
    let cached = cached.swap_remove(0);
    let written = fs::metadata(&cached).and_then(|m| m.modified()).expect("mtime");
    let again = cache.downsized(&big, 6).expect("from the cache");
    assert_eq!(raw_bytes(&again), raw_bytes(&small));
    assert_eq!(again.kind(), big.kind());
    assert_eq!(fs::metadata(&cached).and_then(|m| m.modified()).expect("mtime"), written, "not rewritten");
    assert_eq!(raw_bytes(&cache.downsized(&big, 8).expect("same k")), raw_bytes(&big));
    assert!(matches!(cache.downsized(&big, 9), Err(SrsError::CannotGrow { have: 8, want: 9 })));
}

#[test]
fn a_written_file_loads_with_its_hash_in_both_layouts() {
    let dir = temp_dir();
    let srs = Srs::insecure(7).expect("k = 7");
    let raw = path_in(&dir, "raw.params");
    srs.write(&raw).expect("write");
    let loaded = Srs::load(&raw).expect("load the uncompressed layout");
    let sha = hex::encode(Sha256::digest(fs::read(&raw).expect("read back")));
    assert_eq!(loaded.kind(), &SrsKind::File { path: raw.display().to_string(), sha256: sha.clone() });
    assert!(!loaded.kind().is_insecure());
    assert!(loaded.kind().to_string().contains(&sha));
    assert_eq!(raw_bytes(&loaded), raw_bytes(&srs));

    let compressed = path_in(&dir, "compressed.params");
    let mut bytes = Vec::new();
    srs.params().write_custom(&mut bytes, SerdeFormat::Processed).expect("compress");
    fs::write(&compressed, &bytes).expect("write compressed");
    let loaded = Srs::load(&compressed).expect("load the compressed layout");
    assert_eq!(raw_bytes(&loaded), raw_bytes(&srs));
    assert_ne!(loaded.kind().identity(), SrsKind::Insecure.identity());
}

#[test]
fn broken_files_give_clear_errors() {
    let dir = temp_dir();
    let good = path_in(&dir, "good.params");
    Srs::insecure(5).expect("k = 5").write(&good).expect("write");
    let bytes = fs::read(&good).expect("read");
    let write = |name: &str, content: &[u8]| {
        let path = path_in(&dir, name);
        fs::write(&path, content).expect("write test file");
        path
    };

    let err = Srs::load(&path_in(&dir, "missing.params")).expect_err("missing file");
    assert!(matches!(err, SrsError::Read { .. }), "{err}");

    let err = Srs::load(&write("short.params", &bytes[..2])).expect_err("no k");
    assert!(matches!(err, SrsError::Read { .. }), "{err}");

    let err = Srs::load(&write("truncated.params", &bytes[..bytes.len() - 10])).expect_err("truncated");
    assert!(matches!(err, SrsError::BadLength { k: 5, .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");

    let mut huge_k = bytes.clone();
    huge_k[..4].copy_from_slice(&99u32.to_le_bytes());
    let err = Srs::load(&write("huge_k.params", &huge_k)).expect_err("k = 99");
    assert!(matches!(err, SrsError::BadK { k: 99, .. }), "{err}");

    let mut off_curve = bytes.clone();
    off_curve[4 + 64 * 3 + 5] ^= 1;
    let err = Srs::load(&write("off_curve.params", &off_curve)).expect_err("point off the curve");
    assert!(err.to_string().contains("G1 power 3 is not on the curve"), "{err}");

    let mut bad_lagrange = bytes.clone();
    bad_lagrange[4 + 64 * (32 + 2) + 7] ^= 1;
    let err = Srs::load(&write("bad_lagrange.params", &bad_lagrange)).expect_err("damaged Lagrange point");
    assert!(err.to_string().contains("Lagrange"), "{err}");

    let mut compressed = Vec::new();
    Srs::insecure(5)
        .expect("k = 5")
        .params()
        .write_custom(&mut compressed, SerdeFormat::Processed)
        .expect("compress");
    let tail = compressed.len() - 64;
    compressed[tail..].fill(0xff);
    let err = Srs::load(&write("bad_g2.params", &compressed)).expect_err("G2 outside the field");
    assert!(err.to_string().contains("[tau]G2"), "{err}");

    // G1 powers of one secret, [τ]G2 of another.
    let other = path_in(&dir, "other.params");
    let mut srs = Srs::insecure(6).expect("k = 6");
    srs.downsize(5).expect("same size, same secret");
    srs.write(&other).expect("write");
    assert_eq!(fs::read(&other).expect("read"), bytes, "same seed, same file");
    let foreign = foreign_srs(5);
    let mut mixed = bytes.clone();
    let tail = mixed.len() - 128;
    mixed[tail..].copy_from_slice(&foreign[foreign.len() - 128..]);
    let err = Srs::load(&write("mixed.params", &mixed)).expect_err("mixed secrets");
    assert!(err.to_string().contains("pairing"), "{err}");
}

/// A params file drawn from another seed.
fn foreign_srs(k: u32) -> Vec<u8> {
    use rand::SeedableRng;
    let mut seed = INSECURE_SEED;
    seed[0] ^= 1;
    let params =
        zkinfer_prover::halo2_proofs::poly::kzg::commitment::ParamsKZG::<zkinfer_prover::Bn256>::setup(
            k,
            rand_chacha::ChaCha20Rng::from_seed(seed),
        );
    let mut out = Vec::new();
    params.write_custom(&mut out, SerdeFormat::RawBytes).expect("writing to a Vec");
    out
}

#[test]
fn verifier_params_round_trip_and_ignore_k() {
    let mut srs = Srs::insecure(9).expect("k = 9");
    let big = VerifierParams::from_srs(&srs);
    srs.downsize(6).expect("downsize");
    let small = VerifierParams::from_srs(&srs);
    assert_eq!(big.digest(), small.digest(), "the verifier's points do not depend on k");
    assert_eq!(big.to_bytes(), small.to_bytes());
    let back = VerifierParams::from_bytes(&big.to_bytes()).expect("decode");
    assert_eq!(back.to_bytes(), big.to_bytes());
    assert_eq!(back.kind(), &SrsKind::Insecure);
    assert!(back.to_string().contains("INSECURE"));
    let dir = temp_dir();
    let file = path_in(&dir, "verifier.params");
    big.write(&file).expect("write");
    assert_eq!(VerifierParams::read(&file).expect("read").to_bytes(), big.to_bytes());
    let err = VerifierParams::read(&path_in(&dir, "missing")).expect_err("missing file");
    assert!(matches!(err, VerifierParamsError::Io { .. }), "{err}");

    let bytes = big.to_bytes();
    assert!(matches!(
        VerifierParams::from_bytes(&bytes[..100]),
        Err(VerifierParamsError::Truncated { len: 100 })
    ));
    let mut bad_magic = bytes.clone();
    bad_magic[0] = b'X';
    assert!(matches!(VerifierParams::from_bytes(&bad_magic), Err(VerifierParamsError::BadMagic)));
    let mut bad_point = bytes.clone();
    bad_point[8 + 64..8 + 192].fill(0xff);
    assert!(matches!(VerifierParams::from_bytes(&bad_point), Err(VerifierParamsError::BadPoint { .. })));
    let mut off_curve = bytes.clone();
    off_curve[8 + 64 + 128 + 1] ^= 1;
    assert!(matches!(VerifierParams::from_bytes(&off_curve), Err(VerifierParamsError::BadPoint { .. })));
    let mut bad_kind = bytes;
    bad_kind.truncate(8 + 320);
    bad_kind.extend_from_slice(b"{\"kind\":\"nonsense\"}");
    assert!(matches!(VerifierParams::from_bytes(&bad_kind), Err(VerifierParamsError::BadKind(_))));
}
