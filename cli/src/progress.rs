//! Progress bars that appear only for steps that take more than about two seconds; when
//! stderr is not a terminal (a log file, `nohup`), one plain line per unit of progress.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
    /// A bar for `len` units labelled `msg`; `quiet` keeps it hidden for good.
    pub fn new(msg: &str, len: usize, quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(msg.to_string());
        let plain = !std::io::stderr().is_terminal();
        Progress {
            bar,
            start: Instant::now(),
            shown: false,
            quiet,
            plain,
            msg: msg.to_string(),
            logged: None,
        }
    }

    /// Sets the position (and the length, which some steps learn late).
    pub fn set(&mut self, done: usize, len: usize) {
        if self.plain {
            if !self.quiet && self.logged != Some(done) && self.start.elapsed() > DELAY {
                eprintln!("{} {done}/{len} ({:.0} s)", self.msg.trim(), self.start.elapsed().as_secs_f64());
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
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
