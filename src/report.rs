//! Progress and messages: the only place in the library that writes to the
//! terminal. Everything goes to stderr; stdout is reserved for results
//! (the digest, `--json` documents), which the CLI prints.
//!
//! On a terminal, long work shows indicatif progress bars; otherwise each
//! step is one plain line (CI logs). `-q` keeps only warnings and errors;
//! `-v` adds detail lines.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How chatty to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Warnings and errors only.
    Quiet,
    /// Steps and progress.
    Normal,
    /// Steps, progress and details.
    Verbose,
}

/// A progress and message sink.
pub struct Reporter {
    verbosity: Verbosity,
    tty: bool,
    lines: Mutex<()>,
}

impl Reporter {
    /// A reporter writing to stderr; bars only when stderr is a terminal.
    pub fn new(verbosity: Verbosity) -> Self {
        Reporter { verbosity, tty: std::io::stderr().is_terminal(), lines: Mutex::new(()) }
    }

    /// A reporter that prints nothing (library use, tests).
    pub fn silent() -> Self {
        Reporter { verbosity: Verbosity::Quiet, tty: false, lines: Mutex::new(()) }
    }

    fn line(&self, s: &str) {
        let _g = self.lines.lock();
        eprintln!("{s}");
    }

    /// A pipeline step, e.g. `resolving packages for amd64`.
    pub fn step(&self, msg: &str) {
        if self.verbosity >= Verbosity::Normal {
            self.line(&format!("distill: {msg}"));
        }
    }

    /// Detail shown with `-v`.
    pub fn detail(&self, msg: &str) {
        if self.verbosity >= Verbosity::Verbose {
            self.line(&format!("  {msg}"));
        }
    }

    /// A warning, always shown.
    pub fn warn(&self, msg: &str) {
        self.line(&format!("warning: {msg}"));
    }

    /// A progress bar over `total` units (`bytes` formats as sizes). Hidden
    /// when quiet or not on a terminal.
    pub fn bar(&self, label: &str, total: u64, bytes: bool) -> Progress {
        if !self.tty || self.verbosity == Verbosity::Quiet {
            return Progress(ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden()));
        }
        let tmpl = if bytes {
            "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}"
        } else {
            "{prefix:>12} [{bar:30}] {pos}/{len} {msg}"
        };
        let pb = ProgressBar::new(total);
        pb.set_style(ProgressStyle::with_template(tmpl).expect("valid template").progress_chars("=> "));
        pb.set_prefix(label.to_string());
        Progress(pb)
    }
}

/// A progress handle; finishing clears the bar.
pub struct Progress(ProgressBar);

impl Progress {
    /// Advance by `n` units.
    pub fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    /// Set the trailing message.
    pub fn message(&self, m: &str) {
        self.0.set_message(m.to_string());
    }
    /// Remove the bar.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}
