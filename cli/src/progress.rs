//! Progress bars that appear only for steps that take more than about two seconds.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar hidden until its step has run for two seconds, then drawn on stderr.
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
    shown: bool,
    quiet: bool,
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
        Progress { bar, start: Instant::now(), shown: false, quiet }
    }

    /// Sets the position (and the length, which some steps learn late).
    pub fn set(&mut self, done: usize, len: usize) {
        if !self.shown && !self.quiet && self.start.elapsed() > DELAY {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_length(len as u64);
        self.bar.set_position(done as u64);
    }

    /// Changes the label.
    pub fn message(&self, msg: &str) {
        self.bar.set_message(msg.to_string());
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
