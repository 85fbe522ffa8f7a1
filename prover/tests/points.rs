//! The cost model's points (what an aggregation circuit's verifier reads for a chunk proof)
//! against snark-verifier's own count from the verifying key keygen makes.

use snark_verifier_sdk::snark_verifier::system::halo2::{compile, Config};
use zkinfer_prover::chain::{chunk_layout, chunk_vk, keyed_layout, plan_chunks};
use zkinfer_prover::SrsCache;
use zkinfer_quantize::qmodel::file::QuantizedModel;
use zkinfer_quantize::quant::{quantize_to_file, QuantOptions};
use zkinfer_quantize::synthetic::{tiny_config, SyntheticModel};

#[test]
fn points_match_snark_verifier_and_the_estimate_is_close() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tiny.zkq");
    let src = SyntheticModel::new(tiny_config(), 7);
    let prompts = vec![(0..40).map(|i| (i * 37 % 256) as u32).collect::<Vec<u32>>()];
    let opts = QuantOptions { max_seq: 16, ..QuantOptions::default() };
    quantize_to_file(&src, &prompts, &opts, &path, &mut |_, _, _| {}).expect("quantize");
    let model = QuantizedModel::open(&path).expect("open");
    let specs = plan_chunks(&model, 4, 17).expect("plan");
    let cache = SrsCache::from_env().expect("cache dir");
    let max_k = specs.iter().map(|s| s.kind.k()).max().expect("chunks");
    let srs = cache.insecure(max_k).expect("dev SRS");
    let (first_block, head) = (&specs[0], specs.last().expect("head"));
    for spec in [first_block, head] {
        let vk = chunk_vk(spec, &srs, &cache).expect("vk");
        let at_k = cache.downsized(&srs, spec.kind.k()).expect("downsized SRS");
        let protocol = compile(at_k.params(), &vk, Config::kzg().with_num_instance(vec![2]));
        let counted = protocol.preprocessed.len() + protocol.num_witness.iter().sum::<usize>();
        let exact = keyed_layout(&spec.kind, &vk);
        assert_eq!(exact.points(), counted, "{}: {exact:?}", spec.kind);
        assert_eq!(exact.key_points(), protocol.preprocessed.len(), "{}", spec.kind);
        let estimate = chunk_layout(spec).points();
        let error = (estimate as f64 - counted as f64) / counted as f64;
        eprintln!("{}: {counted} points, estimated {estimate} ({:+.1} %)", spec.kind, 100.0 * error);
        assert!(error.abs() < 0.15, "{}: estimate {estimate} against {counted}", spec.kind);
    }
}
