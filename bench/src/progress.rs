//! The progress bar: calls done out of calls planned, on stderr, hidden when
//! stderr is not a terminal.
//!
//! Benchmark tasks only bump an atomic counter (no lock, no clock read on the
//! measured path); a ticker task copies it into the bar ten times a second.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

/// How often the bar is redrawn from the counter.
const TICK: Duration = Duration::from_millis(100);

/// Calls done so far, and the bar that shows them.
#[derive(Debug)]
pub(crate) struct Progress {
    /// The bar (a hidden one when stderr is not a terminal).
    bar: ProgressBar,
    /// Calls done, bumped by the benchmark tasks.
    done: Arc<AtomicUsize>,
    /// Copies `done` into the bar; `None` for a hidden bar.
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    /// A bar for `total` calls on stderr, or a hidden one when stderr is not a terminal.
    pub(crate) fn new(total: usize) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::hidden(total);
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {elapsed_precise} {bar:20} {pos}/{len} calls {wide_msg}",
        ) {
            bar.set_style(style);
        }
        let done = Arc::new(AtomicUsize::new(0));
        let ticker = {
            let (bar, done) = (bar.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                loop {
                    bar.set_position(done.load(Ordering::Relaxed) as u64);
                    tokio::time::sleep(TICK).await;
                }
            })
        };
        Progress {
            bar,
            done,
            ticker: Some(ticker),
        }
    }

    /// A bar that never draws (not a terminal, tests).
    pub(crate) fn hidden(total: usize) -> Progress {
        Progress {
            bar: ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden()),
            done: Arc::new(AtomicUsize::new(0)),
            ticker: None,
        }
    }

    /// The counter benchmark tasks bump once per call.
    pub(crate) fn counter(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.done)
    }

    /// Calls done so far.
    #[cfg(test)]
    pub(crate) fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }

    /// Counts `n` calls made elsewhere (by a client process).
    pub(crate) fn add(&self, n: usize) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Names the step running now.
    pub(crate) fn step(&self, what: String) {
        self.bar.set_message(what);
    }

    /// Prints a line on stderr above the bar.
    pub(crate) fn note(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Removes the bar.
    pub(crate) fn finish(self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
    }
}
