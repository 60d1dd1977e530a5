//! `clamator top`: a live view of every service under the prefix, sampled
//! every `--interval-ms`: requests per second, pending entries, lag, the
//! consumers and how long each has been idle, dead letters, and the reply
//! streams (how many, how many idle).
//!
//! On a terminal it draws a screen (raw mode, alternate screen, redrawn after
//! each sample) and reads keys: `q` / Ctrl-C quit, `s` cycles the sort
//! column, `p` pauses. Otherwise (stdout not a terminal, or `--json`) it
//! prints one JSON object per sample. Each sample is what `clamator services`
//! and `clamator replies` compute ([`services::collect`], [`replies::list`]);
//! calls/s is the growth of the command stream's `entries-added` between two
//! samples over the time between them. A failed sample (Redis down, a
//! command without an answer in time) is shown as an error line and the next
//! one reconnects: top never exits because Redis went away.
//!
//! Layout: [`sample`] reads Redis and computes the rates, [`view`] decides
//! what the screen shows (a ratatui widget, tested by rendering it into a
//! buffer), [`terminal`] takes the terminal over and gives it back; this
//! file runs the loops that tie them together.

mod sample;
mod terminal;
mod view;

use std::io::IsTerminal;
use std::time::Duration;

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use serde::Serialize;

use self::sample::{Sample, Sampler, now_utc};
use self::terminal::{Screen, screen_error};
use self::view::{Action, Failure, View};
use crate::clock;
use crate::conn::redact;
use crate::error::CliError;
use crate::global::Global;
use crate::output;

/// Options of `clamator top`.
#[derive(clap::Args, Debug)]
pub(crate) struct TopArgs {
    /// Milliseconds between two samples.
    #[arg(long, value_name = "MS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(50..=3_600_000))]
    interval_ms: u64,

    /// Stop after this many samples (a failed sample counts too); without it,
    /// run until `q`, Ctrl-C or a closed stdout.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Reply streams nothing was written to for longer than this count as idle
    /// (what `clamator gc --older-than` would delete): `30s`, `10m`, `1h`.
    #[arg(long, value_name = "DURATION", default_value = "1m",
          value_parser = clock::parse_duration)]
    idle_after: Duration,
}

/// A sample that failed, in JSON mode.
#[derive(Debug, Serialize)]
struct ErrorLine<'a> {
    /// When it failed (this machine's clock, UTC).
    timestamp: &'a str,
    /// What failed; the next sample reconnects.
    error: &'a str,
}

/// Shows the live view, or prints JSON lines when stdout is not a terminal or with `--json`.
pub(crate) async fn run(global: &Global, args: TopArgs) -> Result<(), CliError> {
    let prefix = global.prefix("top")?;
    let sampler = Sampler::new(global.target()?, prefix, args.idle_after);
    let interval = Duration::from_millis(args.interval_ms);
    if global.json || !std::io::stdout().is_terminal() {
        return run_json(sampler, interval, args.count).await;
    }
    let view = View::new(prefix, &redact(&global.redis_url), interval);
    run_screen(sampler, view, interval, args.count).await
}

/// A ticker that skips ticks missed while a sample took longer than the interval.
fn ticker(interval: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

/// One JSON object per sample (`{"timestamp", "error"}` for a failed one)
/// until `count` samples, Ctrl-C, or a closed stdout. When the last sample
/// of `--count` failed, so does the command (exit 3).
async fn run_json(
    mut sampler: Sampler,
    interval: Duration,
    count: Option<u64>,
) -> Result<(), CliError> {
    let mut ticker = ticker(interval);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut taken: u64 = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut ctrl_c => return Ok(()),
        }
        let result = tokio::select! {
            result = sampler.sample() => result,
            _ = &mut ctrl_c => return Ok(()),
        };
        taken += 1;
        let last = count.is_some_and(|c| taken >= c);
        match result {
            Ok(sample) => output::json(&sample)?,
            Err(e) => {
                output::json(&ErrorLine {
                    timestamp: &now_utc(),
                    error: &e.to_string(),
                })?;
                if last {
                    return Err(e);
                }
            }
        }
        if last {
            return Ok(());
        }
    }
}

/// Resolves when the process is asked to stop (SIGTERM, SIGHUP), so the
/// terminal is restored then too; never elsewhere.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            tokio::select! {
                _ = term.recv() => return,
                _ = hup.recv() => return,
            }
        }
    }
    std::future::pending::<()>().await;
}

/// Aborts the sampling task when the screen loop ends, however it ends.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The live screen: a task samples every interval, this loop draws each
/// sample and reacts to keys at once (also while a sample is being taken).
/// The terminal is given back however the loop ends (`screen` is dropped).
async fn run_screen(
    mut sampler: Sampler,
    mut view: View,
    interval: Duration,
    count: Option<u64>,
) -> Result<(), CliError> {
    let mut screen = Screen::enter()?;
    let mut keys = EventStream::new();
    let (tx, mut samples) = tokio::sync::mpsc::channel::<Result<Sample, Failure>>(1);
    let _sampling = AbortOnDrop(tokio::spawn(async move {
        let mut ticker = ticker(interval);
        loop {
            ticker.tick().await;
            let result = sampler.sample().await.map_err(|e| Failure {
                at: now_utc(),
                message: e.to_string(),
            });
            if tx.send(result).await.is_err() {
                return;
            }
        }
    }));
    let terminated = terminated();
    tokio::pin!(terminated);
    let mut received: u64 = 0;
    screen.draw(&view)?;
    loop {
        tokio::select! {
            sample = samples.recv() => {
                // The task sends until this loop ends, unless it panicked.
                let Some(sample) = sample else {
                    return Err(CliError::Internal(
                        "sampling stopped unexpectedly (a bug: please report it); \
                         `clamator top --json` prints the samples without the screen".to_owned(),
                    ));
                };
                view.update(sample);
                received += 1;
                screen.draw(&view)?;
                if count.is_some_and(|c| received >= c) {
                    return Ok(());
                }
            }
            event = keys.next() => match event {
                Some(Ok(Event::Key(key))) => match view.on_key(key) {
                    Action::Quit => return Ok(()),
                    Action::Redraw => screen.draw(&view)?,
                    Action::Nothing => {}
                },
                Some(Ok(Event::Resize(..))) => screen.draw(&view)?,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(screen_error(e)),
                None => return Ok(()),
            },
            () = &mut terminated => return Ok(()),
        }
    }
}
