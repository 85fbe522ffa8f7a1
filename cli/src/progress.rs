//! Progress on stderr: bars that appear only for steps that take more than about two
//! seconds, and, when stderr is not a terminal (a log file, `nohup`), one `info` log line per
//! unit of progress instead. Both are off with `-q` or `--json`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use zkinfer_prover::chain::{kind_layout, ChainEvent, ChunkKind, ChunkPhase};

use crate::logging;

/// A bar hidden until its step has run for two seconds, then drawn on stderr.
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
    shown: bool,
    quiet: bool,
    /// Log lines instead of a bar: stderr is not a terminal.
    plain: bool,
    msg: String,
    logged: Option<usize>,
}

const DELAY: Duration = Duration::from_secs(2);

impl Progress {
    /// A bar for `len` units labelled `msg`; `quiet` (or `-q`) keeps it hidden for good.
    pub fn new(msg: &str, len: usize, quiet: bool) -> Self {
        Self::styled(msg, len, quiet, "{msg:>12} [{bar:30}] {pos}/{len} {elapsed}")
    }

    fn styled(msg: &str, len: usize, quiet: bool, template: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(msg.to_string());
        let plain = !std::io::stderr().is_terminal();
        Progress {
            bar,
            start: Instant::now(),
            shown: false,
            quiet: quiet || logging::quiet(),
            plain,
            msg: msg.to_string(),
            logged: None,
        }
    }

    /// Sets the position (and the length, which some steps learn late).
    pub fn set(&mut self, done: usize, len: usize) {
        if self.plain {
            if !self.quiet && self.logged != Some(done) && self.start.elapsed() > DELAY {
                tracing::info!(
                    "{} {done}/{len} ({:.0} s)",
                    self.msg.trim(),
                    self.start.elapsed().as_secs_f64()
                );
                self.logged = Some(done);
            }
            return;
        }
        if !self.shown && !self.quiet && self.start.elapsed() > DELAY {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_length(len as u64);
        self.bar.set_position(done as u64);
    }

    /// Changes the label.
    pub fn message(&mut self, msg: &str) {
        self.msg = msg.to_string();
        self.bar.set_message(msg.to_string());
    }

    /// A new phase: the label changes and, when no bar is drawn (no terminal, or a quiet
    /// bar), one `info` log line says so at once unless `-q` was given.
    fn phase(&mut self, done: usize, len: usize, msg: String) {
        if (self.plain || self.quiet) && !logging::quiet() {
            tracing::info!("{msg} ({:.0} s)", self.start.elapsed().as_secs_f64());
            // This line stands for the position too.
            self.logged = Some(done);
        }
        self.message(&msg);
        self.set(done, len);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// The time left of a chain's proof: the cost model's proving seconds of the chunks not yet
/// done, scaled by how the chunks done so far compared with it (keygen included).
#[derive(Debug, Default)]
pub struct Eta {
    /// Cost-model seconds of each chunk.
    predicted: Vec<f64>,
    /// Chunks done.
    done: usize,
    /// Measured seconds (keygen and proof) of the chunks done.
    measured: f64,
}

impl Eta {
    /// The estimate for chunks of `kinds`, from [`zkinfer_circuits::cost::Layout::prove_seconds`].
    pub fn of(kinds: &[ChunkKind]) -> Self {
        Self::from_predicted(kinds.iter().map(|k| kind_layout(k).prove_seconds()).collect())
    }

    fn from_predicted(predicted: Vec<f64>) -> Self {
        Eta { predicted, done: 0, measured: 0.0 }
    }

    /// One more chunk done in `seconds`.
    pub fn chunk_done(&mut self, seconds: f64) {
        self.done = (self.done + 1).min(self.predicted.len());
        self.measured += seconds;
    }

    /// Seconds left, `elapsed` seconds into the current chunk: the model's seconds of the
    /// chunks left times the measured-to-model ratio of the chunks done (1 before any).
    pub fn seconds_left(&self, elapsed: f64) -> f64 {
        let model_done: f64 = self.predicted[..self.done].iter().sum();
        let ratio = if self.done > 0 && model_done > 0.0 { self.measured / model_done } else { 1.0 };
        let left: f64 = self.predicted[self.done..].iter().sum();
        (left * ratio - elapsed).max(0.0)
    }
}

/// Progress of a chain's proof: a bar over its chunks, labelled with the chunk, its phase
/// (integer pass, keygen, prove) and the time left by the cost model ([`Eta`]). Where no
/// bar is drawn (`--json`, or stderr not a terminal) each phase is an `info` log line; `-q`
/// silences both.
pub struct ChainProgress {
    bar: Progress,
    eta: Eta,
    kinds: Vec<ChunkKind>,
    chunk_start: Instant,
}

impl ChainProgress {
    /// A bar for a chain's proof; `no_bar` (`--json`) keeps the bar off, `-q` the log lines too.
    pub fn new(no_bar: bool) -> Self {
        ChainProgress {
            bar: Progress::styled("prove", 0, no_bar, "[{bar:30}] {pos}/{len} chunks {elapsed} {msg}"),
            eta: Eta::default(),
            kinds: vec![],
            chunk_start: Instant::now(),
        }
    }

    /// Shows `event`.
    pub fn event(&mut self, event: &ChainEvent) {
        let n = self.kinds.len();
        match event {
            ChainEvent::Planned(kinds) => {
                self.kinds = kinds.clone();
                self.eta = Eta::of(kinds);
                let left = self.eta.seconds_left(0.0);
                let msg =
                    format!("integer pass for {} chunks; proving ≈ {left:.0} s (cost model)", kinds.len());
                self.bar.phase(0, kinds.len(), msg);
            }
            ChainEvent::Phase { index, phase } => {
                if *phase == ChunkPhase::Keygen {
                    self.chunk_start = Instant::now();
                }
                let kind = self.kinds.get(*index).map(ToString::to_string).unwrap_or_default();
                let left = self.eta.seconds_left(self.chunk_start.elapsed().as_secs_f64());
                let msg = format!("chunk {}/{n} {kind}: {phase}, ≈ {left:.0} s left", index + 1);
                self.bar.phase(*index, n, msg);
            }
            ChainEvent::Proved(r) => {
                self.eta.chunk_done(r.keygen_seconds + r.prove_seconds);
                let left = self.eta.seconds_left(0.0);
                let msg = format!(
                    "chunk {}/{n} {} proved in {:.1} s, ≈ {left:.0} s left",
                    r.index + 1,
                    r.kind,
                    r.keygen_seconds + r.prove_seconds
                );
                self.bar.phase(r.index + 1, n, msg);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_scales_the_model_by_the_chunks_done() {
        let mut eta = Eta::from_predicted(vec![10.0, 20.0, 30.0]);
        assert_eq!(eta.seconds_left(0.0), 60.0, "the cost model alone before any chunk");
        assert_eq!(eta.seconds_left(4.0), 56.0);
        eta.chunk_done(20.0);
        assert_eq!(eta.seconds_left(0.0), 100.0, "twice the model's time so far: twice for the rest");
        eta.chunk_done(40.0);
        eta.chunk_done(60.0);
        assert_eq!(eta.seconds_left(0.0), 0.0);
        eta.chunk_done(1.0);
        assert_eq!(eta.seconds_left(5.0), 0.0, "never negative, never past the end");
    }
}
