//! Logs on stderr through `tracing`: the network's events, one line per proving phase when
//! no progress bar is drawn, and warnings. Stdout stays for results (`--json`).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

/// Set once by [`init`] when `-q` is given: progress bars stay hidden.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Whether `-q` was given.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// The filter for `-v` given `verbose` times, or `-q`: zkinfer's own crates at info by
/// default (debug with `-v`, trace with `-vv`), every other crate one level quieter; `-q`
/// keeps errors only.
pub fn default_filter(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,zkinfer=info",
        (false, 1) => "info,zkinfer=debug",
        (false, _) => "debug,zkinfer=trace",
    }
}

/// Installs the stderr subscriber: `RUST_LOG` when set (e.g. `RUST_LOG=zkinfer_network=debug`),
/// else [`default_filter`]. A `RUST_LOG` that does not parse falls back to the default, with a
/// warning that names it.
pub fn init(verbose: u8, quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
    let default = default_filter(verbose, quiet);
    let from_env = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let (filter, bad_env) = match from_env.as_deref().map(EnvFilter::try_new) {
        Some(Ok(f)) => (f, None),
        Some(Err(e)) => (EnvFilter::new(default), Some(e)),
        None => (EnvFilter::new(default), None),
    };
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(verbose > 0)
        .try_init()
        .is_ok();
    if let (true, Some(e)) = (installed, bad_env) {
        tracing::warn!("RUST_LOG is not a filter ({e}); using {default:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verbosity_parses_and_quiet_wins() {
        for v in 0..4 {
            for q in [false, true] {
                assert!(EnvFilter::try_new(default_filter(v, q)).is_ok(), "{v} {q}");
            }
            assert_eq!(default_filter(v, true), "error");
        }
    }
}
