//! `zkinfer`: quantize Llama-family models and run their float and integer reference passes.

mod aggregated;
mod cmd_aggregate;
mod cmd_bench;
mod cmd_coordinate;
mod cmd_export;
mod cmd_plan;
mod cmd_prove;
mod cmd_quantize;
mod cmd_run;
mod cmd_setup;
mod cmd_verify;
mod cmd_verify_agg;
mod cmd_worker;
mod logging;
mod model;
mod net_setup;
mod progress;
mod proving;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use zkinfer_network::Multiaddr;

#[derive(Parser)]
#[command(name = "zkinfer", version, about = "Zero-knowledge proofs of transformer inference")]
struct Cli {
    /// More log lines on stderr: `-v` debug, `-vv` trace (`RUST_LOG` overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Errors only on stderr: no progress, no log lines (`RUST_LOG` overrides the logs).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Quantize a model (HF folder, .gguf, or a built-in synthetic `tiny` / `tiny-d128`;
    /// default: the built-in tiny model) and report
    /// the integer pass's accuracy against the float pass.
    Quantize(QuantizeArgs),
    /// Run the float and integer passes over a prompt and print the next-token top-5.
    Run(RunArgs),
    /// Split a model into chunk circuits under a row budget and estimate their cost,
    /// without proving.
    Plan(PlanArgs),
    /// Generate every chunk's proving and verifying keys and write the keys file.
    Setup(SetupArgs),
    /// Prove the model's blocks on a prompt and write a proof bundle.
    Prove(ProveArgs),
    /// Verify a proof bundle against the model's keys file, or an aggregated proof.
    Verify(VerifyArgs),
    /// Fold a bundle's chunk proofs into one EVM-verifiable aggregated proof.
    Aggregate(AggregateArgs),
    /// Write the Solidity verifier of an aggregated proof, its bytecode and calldata.
    ExportVerifier(ExportVerifierArgs),
    /// Prove a model chunk by chunk and write each chunk's costs as JSON and Markdown.
    Bench(BenchArgs),
    /// Join a proving network and prove the chunks a coordinator (`prove --distributed`) offers.
    Worker(WorkerArgs),
    /// Print the peer id of a noise identity file (created if absent), for allowlists.
    Identity(IdentityArgs),
}

#[derive(Args)]
pub struct IdentityArgs {
    /// The identity file (Ed25519 secret, hex), as given to `worker --key` or `prove --identity`.
    #[arg(long, alias = "identity")]
    pub key: PathBuf,
    /// Print {"peer_id": …, "key": …} instead of the bare peer id.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct WorkerArgs {
    /// Where to listen, e.g. /ip4/0.0.0.0/tcp/4100.
    #[arg(long)]
    pub listen: Multiaddr,
    /// Peers to dial on start (repeatable); a `/p2p/<peer id>` suffix also allowlists the peer.
    #[arg(long)]
    pub bootstrap: Vec<Multiaddr>,
    /// JSON allowlist, {"allowed_peers": ["12D3KooW…"]}: the coordinators and workers to talk to.
    #[arg(long)]
    pub allow: Option<PathBuf>,
    /// This worker's noise identity (Ed25519 secret, hex; created if absent;
    /// default ~/.cache/zkinfer/identity/worker.key).
    #[arg(long, alias = "identity")]
    pub key: Option<PathBuf>,
    /// A KZG params file (default: the INSECURE dev SRS); must be the coordinator's.
    #[arg(long)]
    pub srs: Option<PathBuf>,
    /// Largest circuit this worker takes: 2^max_k rows.
    #[arg(long, default_value_t = 17)]
    pub max_k: u32,
    /// Keep proving keys in this folder between jobs (several GB per chunk).
    #[arg(long)]
    pub key_cache: Option<PathBuf>,
    /// Where models fetched from coordinators are kept (default ~/.cache/zkinfer/models/by-hash).
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Jobs proved at once.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// JSON Lines on stdout: one object when the worker listens, then one per job started
    /// and ended (`"event"`: `"listening"`, `"proving"`, `"proved"`, `"failed"`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct BenchArgs {
    /// A quantized model (`.zkq`); the built-in tiny model when omitted.
    pub model: Option<PathBuf>,
    #[arg(long, conflicts_with = "tokens")]
    pub prompt: Option<String>,
    #[arg(long, value_delimiter = ',')]
    pub tokens: Option<Vec<u32>>,
    #[arg(long, default_value_t = 17)]
    pub max_k: u32,
    #[arg(long)]
    pub srs: Option<PathBuf>,
    /// Bench only these chunks of the plan (e.g. `--chunks 0` for the first block): each
    /// gets its verifying key, proof and check on its own; no bundle.
    #[arg(long, value_delimiter = ',')]
    pub chunks: Option<Vec<usize>>,
    /// Where to write the JSON rows.
    #[arg(long, default_value = "bench.json")]
    pub json_out: PathBuf,
    /// Where to write the Markdown table.
    #[arg(long, default_value = "bench.md")]
    pub md_out: PathBuf,
    /// Print the JSON (as written to --json-out) instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct SetupArgs {
    /// A quantized model (`.zkq`); the built-in tiny model when omitted.
    pub model: Option<PathBuf>,
    /// Tokens per proof.
    #[arg(long = "tokens", conflicts_with = "prompt")]
    pub tokens_count: Option<usize>,
    /// Count the tokens of this prompt (default: "Once upon a time"), tokenized exactly as
    /// `prove` does.
    #[arg(long)]
    pub prompt: Option<String>,
    /// Largest chunk: 2^max_k rows.
    #[arg(long, default_value_t = 17)]
    pub max_k: u32,
    /// A KZG params file from a powers-of-tau ceremony (default: the INSECURE dev SRS).
    #[arg(long)]
    pub srs: Option<PathBuf>,
    /// Where to write the keys file.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ProveArgs {
    /// A quantized model (`.zkq`); the built-in tiny model when omitted.
    pub model: Option<PathBuf>,
    /// Prompt text (default: "Once upon a time"), tokenized exactly: refused, never cut or
    /// guessed, when the model has no tokenizer or a token is outside its vocabulary.
    #[arg(long, conflicts_with = "tokens")]
    pub prompt: Option<String>,
    /// The prompt as comma-separated token ids.
    #[arg(long, value_delimiter = ',')]
    pub tokens: Option<Vec<u32>>,
    /// The bundle to write.
    #[arg(short, long, default_value = "zkinfer-proof.zkb")]
    pub output: PathBuf,
    /// Keys from `zkinfer setup` (default: make or load them, and write BUNDLE.keys.json).
    #[arg(long)]
    pub keys: Option<PathBuf>,
    #[arg(long, default_value_t = 17)]
    pub max_k: u32,
    #[arg(long)]
    pub srs: Option<PathBuf>,
    /// Keep proving keys in this folder between runs (several GB per chunk).
    #[arg(long)]
    pub key_cache: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Prove on the workers of a network (`zkinfer worker`) instead of on this machine:
    /// every returned proof is verified before it is accepted.
    #[arg(long)]
    pub distributed: bool,
    /// Workers to dial (repeatable); a `/p2p/<peer id>` suffix also allowlists the worker.
    #[arg(long, requires = "distributed")]
    pub bootstrap: Vec<Multiaddr>,
    /// Also listen for workers that dial in, e.g. /ip4/0.0.0.0/tcp/4000.
    #[arg(long, requires = "distributed")]
    pub listen: Option<Multiaddr>,
    /// JSON allowlist of the workers, {"allowed_peers": ["12D3KooW…"]}.
    #[arg(long, requires = "distributed")]
    pub allow: Option<PathBuf>,
    /// The coordinator's noise identity (created if absent; default
    /// ~/.cache/zkinfer/identity/coordinator.key); workers allowlist its peer id.
    #[arg(long, requires = "distributed")]
    pub identity: Option<PathBuf>,
    /// Where accepted chunk results are kept; a rerun resumes from them (default BUNDLE.results).
    #[arg(long, requires = "distributed")]
    pub results: Option<PathBuf>,
    /// Seconds a worker has for one chunk before it is given to another.
    #[arg(long, default_value_t = 3600, requires = "distributed")]
    pub job_timeout: u64,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The proof bundle (`zkinfer prove`) or aggregated proof (`zkinfer aggregate`).
    pub bundle: PathBuf,
    /// An aggregated proof's key hash to require (printed by `zkinfer aggregate`).
    #[arg(long)]
    pub expect_vk: Option<String>,
    /// The model's keys file (default: BUNDLE.keys.json).
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// The SRS the keys were made with (default: the INSECURE dev SRS).
    #[arg(long)]
    pub srs: Option<PathBuf>,
    /// The quantized model, to check the tokens or rebuild the keys (default: the built-in
    /// tiny model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Rebuild every verifying key from the model (minutes) and refuse a keys file that is
    /// not exactly the model's: without it the keys file is trusted as given.
    #[arg(long)]
    pub rebuild_keys: bool,
    /// The prompt to check the proof's input against, tokenized exactly as `prove` does.
    #[arg(long, conflicts_with = "tokens")]
    pub prompt: Option<String>,
    /// The prompt to check, as comma-separated token ids.
    #[arg(long, value_delimiter = ',')]
    pub tokens: Option<Vec<u32>>,
    /// Largest chunk circuit accepted, 2^max_k rows (`prove`'s and `setup`'s default): a keys
    /// file listing a larger one is refused before its key is read, since reading a key takes
    /// memory in proportion to its rows.
    #[arg(long, default_value_t = 17)]
    pub max_k: u32,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `zkinfer aggregate`.
#[derive(Args)]
pub struct AggregateArgs {
    /// The proof bundle (from `zkinfer prove`).
    pub bundle: PathBuf,
    /// The model's keys file (default: BUNDLE.keys.json).
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// The aggregated proof to write.
    #[arg(short, long, default_value = "zkinfer-proof.agg")]
    pub output: PathBuf,
    /// The SRS the chunk proofs were made with, of at least 2^K powers (default: the
    /// INSECURE dev SRS).
    #[arg(long)]
    pub srs: Option<PathBuf>,
    /// Every aggregation circuit has 2^K rows.
    #[arg(long, default_value_t = 21)]
    pub k: u32,
    /// The most proofs one aggregation circuit verifies; more chunks make a tree.
    #[arg(long, default_value_t = 2)]
    pub arity: usize,
    /// Only print the cost estimate (JSON) and stop.
    #[arg(long)]
    pub estimate: bool,
    /// The memory aggregation may use, in GB (default: what the machine has available).
    #[arg(long)]
    pub max_memory: Option<f64>,
    /// Run even when the estimate exceeds that memory.
    #[arg(long)]
    pub force: bool,
    /// Largest chunk circuit accepted in the keys file, 2^max_k rows (as for `verify`).
    #[arg(long, default_value_t = 17)]
    pub max_k: u32,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `zkinfer export-verifier`.
#[derive(Args)]
pub struct ExportVerifierArgs {
    /// The aggregated proof (from `zkinfer aggregate`).
    pub agg: PathBuf,
    /// Where to write the Solidity source.
    #[arg(long)]
    pub solidity: PathBuf,
    /// Where to write the deployment bytecode (hex).
    #[arg(long)]
    pub bytecode: Option<PathBuf>,
    /// Where to write the calldata of a verifier call carrying this proof (hex).
    #[arg(long)]
    pub calldata: Option<PathBuf>,
    /// The SRS (params file or verifier params) the proof was made with (default: the
    /// INSECURE dev SRS, when the proof says so).
    #[arg(long)]
    pub srs: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `zkinfer plan`.
#[derive(Args)]
pub struct PlanArgs {
    /// HF folder, .gguf, quantized file, or a built-in shape: `tiny`, `llama2-7b`;
    /// omitted: the built-in tiny model.
    pub model: Option<String>,
    /// Largest circuit size: chunks have at most 2^K rows.
    #[arg(long, default_value_t = 18)]
    pub max_k: u32,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 4)]
    pub tokens: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The analytic per-operation estimate (no quantization, matrices split by rows)
    /// instead of the real chunk layouts of a model that is not quantized yet.
    #[arg(long)]
    pub analytic: bool,
}

/// Arguments of `zkinfer quantize`.
#[derive(Args)]
pub struct QuantizeArgs {
    /// HF model folder, .gguf file, or `tiny` / `tiny-d128` (built-in synthetic models with
    /// random weights); omitted: the built-in tiny model.
    pub model: Option<PathBuf>,
    /// Output quantized model file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Calibration prompt (repeatable); default: built-in English, dialogue and code texts.
    /// Unlike a prompt to run or prove, a calibration or evaluation text is taken leniently:
    /// token ids outside a cut vocabulary are dropped, and a model without a tokenizer gets
    /// a deterministic pseudo-random token sequence for each text.
    #[arg(long = "calib-prompt")]
    pub calib_prompts: Vec<String>,
    /// Evaluation prompt for the accuracy report (repeatable); default: a held-out text.
    /// Tokenized like --calib-prompt.
    #[arg(long = "eval-prompt")]
    pub eval_prompts: Vec<String>,
    /// Longest prompt the quantized model accepts.
    #[arg(long, default_value_t = 1024)]
    pub max_seq: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `zkinfer run`.
#[derive(Args)]
pub struct RunArgs {
    /// HF model folder, .gguf file or quantized file; omitted: the built-in tiny model.
    pub model: Option<PathBuf>,
    /// Prompt text, tokenized exactly as `prove` does.
    #[arg(long, conflicts_with = "tokens")]
    pub prompt: Option<String>,
    /// Prompt as comma-separated token ids.
    #[arg(long, value_delimiter = ',')]
    pub tokens: Option<Vec<u32>>,
    /// Float model to compare a quantized file against (default: its recorded source if
    /// present, else its own weights dequantized).
    #[arg(long)]
    pub float_model: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose, cli.quiet);
    let res = match cli.cmd {
        Cmd::Quantize(a) => cmd_quantize::run(a),
        Cmd::Run(a) => cmd_run::run(a),
        Cmd::Plan(a) => cmd_plan::run(a),
        Cmd::Setup(a) => cmd_setup::run(a),
        Cmd::Prove(a) => cmd_prove::run(a),
        Cmd::Verify(a) => cmd_verify::run(a),
        Cmd::Aggregate(a) => cmd_aggregate::run(a),
        Cmd::ExportVerifier(a) => cmd_export::run(a),
        Cmd::Bench(a) => cmd_bench::run(a),
        Cmd::Worker(a) => cmd_worker::run(a),
        Cmd::Identity(a) => net_setup::print_peer_id(&a.key, a.json),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
