//! The skeleton every periodic loop shares: a first tick one period after
//! start, missed ticks delayed (never bunched), the shutdown checked between
//! ticks, and a failed tick logged and retried at the next one.
//!
//! The lease, reclaim and housekeeping loops of a server and the reply
//! stream keep-alive of a client implement [`Periodic`] and run through
//! [`run`]; each says only what one tick does and how its failure reads.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::conn::ConnError;

/// How loud a failed tick is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Loudness {
    /// `debug`: the next tick retries, and nothing is lost meanwhile.
    Quiet,
    /// `warn`: an operator should hear of it if it lasts.
    Loud,
}

/// What a periodic loop works for, as its log lines name it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject<'a> {
    /// A service of a server (`service = ...`).
    Service(&'a str),
    /// A client's reply stream (`reply_stream = ...`).
    ReplyStream(&'a str),
}

/// Whether the loop goes on after a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Wait for the next tick.
    Continue,
    /// End the loop (the server is going away).
    Stop,
}

/// One periodic loop: what a tick does and how a failed one is logged.
pub(crate) trait Periodic: Send {
    /// The loop's name in logs ("lease", "reclaim", ...).
    const NAME: &'static str;
    /// How loud a failed tick is.
    const LOUDNESS: Loudness;
    /// What a failed tick's log line says (the error is attached).
    const FAILED: &'static str;

    /// What the loop works for, in its log lines.
    fn subject(&self) -> Subject<'_>;

    /// One tick. May wait on `shutdown` itself (and then return
    /// [`Flow::Stop`]); an error is logged and the next tick retries.
    fn tick(
        &mut self,
        shutdown: &CancellationToken,
    ) -> impl Future<Output = Result<Flow, ConnError>> + Send;

    /// Runs once after the last tick.
    fn stopped(&mut self) {}
}

/// Runs `task` every `period` until `shutdown` fires (or a tick says stop).
pub(crate) async fn run<P: Periodic>(mut task: P, period: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        match task.tick(&shutdown).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Stop) => break,
            Err(error) => failed::<P>(task.subject(), &error),
        }
    }
    task.stopped();
    match task.subject() {
        Subject::Service(service) => tracing::debug!(%service, "{} loop stopped", P::NAME),
        Subject::ReplyStream(reply_stream) => {
            tracing::debug!(%reply_stream, "{} loop stopped", P::NAME);
        }
    }
}

/// Logs a failed tick of `P`.
fn failed<P: Periodic>(subject: Subject<'_>, error: &ConnError) {
    let message = P::FAILED;
    match (P::LOUDNESS, subject) {
        (Loudness::Quiet, Subject::Service(service)) => {
            tracing::debug!(%service, %error, "{message}");
        }
        (Loudness::Quiet, Subject::ReplyStream(reply_stream)) => {
            tracing::debug!(%reply_stream, %error, "{message}");
        }
        (Loudness::Loud, Subject::Service(service)) => {
            tracing::warn!(%service, %error, "{message}");
        }
        (Loudness::Loud, Subject::ReplyStream(reply_stream)) => {
            tracing::warn!(%reply_stream, %error, "{message}");
        }
    }
}
