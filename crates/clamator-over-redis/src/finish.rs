//! Writing replies and acks, coalesced and in that order: an entry is
//! acknowledged only once its reply is written (or cannot ever be).
//!
//! Handlers hand their outcome to this loop with their slot, which it drops
//! once the reply is settled, so a handler's slot and its in-flight mark
//! (whose lease the lease loop renews) last until then. There is no timer on the happy path: the
//! loop writes whatever has finished when it gets to run, so a lone call is
//! written at once and batches grow only when handlers finish faster than
//! Redis answers.
//!
//! Settled entries (reply written, or none to write) are acked together:
//! their `XACK` rides on a round trip of replies once the oldest has waited
//! 2 ms (or 128 wait), and goes on its own when no round trip comes. So a
//! round trip is the `XADD` of every reply that finished since the last one,
//! sometimes with one `XACK`.
//! Under load this takes the server from two commands per call (reply, ack)
//! towards one (BENCHMARKS.md).
//!
//! A reply Redis refuses *for now* (out of memory under `maxmemory`, a
//! replica after a failover, loading, busy, a cluster slot moving, no answer)
//! is kept and written again with backoff; its entry stays pending, its
//! handler does not run again (its lease is still renewed), and it is acked
//! once the reply is written, or once its caller's deadline has passed
//! (logged, counted in `clamator_server_replies_abandoned_total`). Only a
//! permanent refusal (the key is not a stream, an ACL forbids it) is acked
//! unanswered, with a warning.

use std::sync::Arc;
use std::time::Duration;

use redis::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::commands;
use crate::conn::{Answer, SharedConn};
use crate::dedupe::Record;
use crate::health::{Monitor, ServerLoop};
use crate::pool::{InFlight, Slot};
use crate::service_keys::ServiceKeys;

/// The most replies one round trip writes.
const MAX_BATCH: usize = 128;
/// The first and the longest wait before writing refused replies again.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(1);
/// How long settled entries may wait to be acked: their acks are gathered
/// into one `XACK` that rides on a round trip made anyway, or goes on its
/// own once the oldest has waited this long (or [`ACK_BATCH`] are waiting).
/// An entry stays pending (and its lease renewed) that much longer; Redis
/// sees one `XACK` per 2 ms instead of one per batch of replies.
const ACK_LINGER: Duration = Duration::from_millis(2);
/// The most acks gathered before they go at once.
const ACK_BATCH: usize = 128;

/// A reply to write: where, what, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The reply stream, already checked by [`crate::keys::reply_target`].
    pub(crate) to: String,
    /// The response envelope text.
    pub(crate) text: String,
    /// Write with `NOMKSTREAM`: the caller keeps its stream alive itself, so a
    /// missing stream means the caller is gone.
    pub(crate) nomkstream: bool,
    /// The call's dedupe record, written with the reply (before the ack).
    pub(crate) record: Option<Record>,
}

/// The reply's `XADD` ([`commands::reply`]).
pub(crate) fn reply_command(reply: &Reply, maxlen: usize) -> redis::Cmd {
    commands::reply(&reply.to, &reply.text, reply.nomkstream, maxlen)
}

/// What became of one reply's `XADD`.
#[derive(Debug)]
pub(crate) enum ReplyOutcome {
    /// Redis stored it.
    Written,
    /// The reply stream is gone (`NOMKSTREAM`): its client stopped or expired.
    Gone,
    /// Refused for now, or no answer: write it again later.
    Again(String),
    /// Refused for good (`WRONGTYPE`, `NOPERM`, ...): it can never be written.
    Refused(String),
}

impl ReplyOutcome {
    /// Reads one `XADD`'s answer.
    pub(crate) fn of(answer: &Answer) -> ReplyOutcome {
        match answer {
            Ok(Value::Nil) => ReplyOutcome::Gone,
            Ok(_) => ReplyOutcome::Written,
            Err(e) if e.is_transient() => ReplyOutcome::Again(e.to_string()),
            Err(e) => ReplyOutcome::Refused(e.to_string()),
        }
    }
}

/// A handled entry: its reply, if any, then its ack.
#[derive(Debug)]
pub(crate) struct Done {
    /// The entry's in-flight mark (its id): dropped once the entry is acked,
    /// so its lease is renewed and it is not started again here until then.
    pub(crate) in_flight: InFlight,
    /// The reply, when there is one.
    pub(crate) reply: Option<Reply>,
    /// When the caller stops waiting (its `timeout-ms`), if it said: a reply
    /// Redis keeps refusing is given up then.
    pub(crate) give_up_at: Option<Instant>,
    /// Whether Redis refused it before (only such a reply is given up: the
    /// first attempt is made whatever the time, as it costs one `XADD`).
    pub(crate) refused: bool,
    /// Released once the reply is settled (written, or never to be), or
    /// dropped when the loop ends first (the entry then stays pending).
    pub(crate) settle: Settle,
}

/// What a handled entry holds until its reply is settled: its handler slot
/// (so replies Redis refuses for now keep theirs, and `stop()` waits for
/// them) and, for a handler that waits for the write, its signal.
#[derive(Debug)]
pub(crate) struct Settle {
    /// The handler slot, released when this is dropped.
    pub(crate) _slot: Slot,
    /// Signalled once settled, for a handler that waits (a dedupe claim to
    /// release after the record is written); `None` for the others, whose
    /// tasks have ended already.
    pub(crate) written: Option<oneshot::Sender<()>>,
}

impl Settle {
    /// The reply is settled: releases the slot and tells a waiting handler.
    fn settled(self) {
        if let Some(written) = self.written {
            let _ = written.send(());
        }
    }
}

/// Where handlers queue their finished entries for the finish loop. The
/// receiver outlives a finish loop that panicked: the restarted loop takes
/// it over (locked once per run of the loop, never per entry).
pub(crate) type DoneQueue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Done>>>;

/// The writer loop of one service on one server, owned by its runner.
#[derive(Debug)]
pub(crate) struct FinishLoop {
    /// Handled entries, in the order they finished.
    pub(crate) rx: DoneQueue,
    /// The service's command stream and group (and its name, for logs).
    pub(crate) keys: Arc<ServiceKeys>,
    /// `MAXLEN ~` of reply streams.
    pub(crate) reply_maxlen: usize,
    /// Replies and acks go over the shared connection.
    pub(crate) shared: Arc<SharedConn>,
    /// The fault-injection hook.
    pub(crate) monitor: Arc<Monitor>,
}

/// What the loop holds between round trips.
#[derive(Debug, Default)]
struct State {
    /// Entries whose replies are settled, to acknowledge in the next round trip.
    acks: Vec<InFlight>,
    /// Replies Redis refused for now, to write again at `retry_at`.
    retry: Vec<Done>,
    /// When to write `retry` (and unsent `acks`) again.
    retry_at: Option<Instant>,
    /// When the oldest of `acks` has waited long enough: they go with the
    /// next round trip, or on their own then.
    ack_at: Option<Instant>,
}

impl FinishLoop {
    /// Runs until `close` fires (the runner's stop, once no handler runs
    /// any more) and what was queued is written, or until every sender is
    /// gone. Replies still refused then are dropped unacked: their entries
    /// stay pending and another worker (or a reclaim) runs them again.
    pub(crate) async fn run(self, close: CancellationToken) {
        let mut rx = self.rx.lock().await;
        let mut state = State::default();
        let mut backoff = Backoff::new(RETRY_FIRST, RETRY_MAX);
        let mut closing = false;
        loop {
            if state.acks.is_empty() && state.retry.is_empty() {
                // Between rounds, with nothing of its own held: where an
                // injected panic loses no entry.
                self.monitor.trip(ServerLoop::Finish);
            }
            let mut batch = Vec::new();
            if closing {
                match rx.recv().await {
                    Some(done) => batch.push(done),
                    None => break,
                }
            } else {
                let retry_at = state.retry_at;
                let ack_at = state.ack_at;
                tokio::select! {
                    next = rx.recv() => match next {
                        Some(done) => batch.push(done),
                        None => break,
                    },
                    () = sleep_until(retry_at) => {
                        state.retry_at = None;
                        batch.append(&mut state.retry);
                    }
                    () = sleep_until(ack_at) => {}
                    () = close.cancelled() => {
                        // No new sends; what is queued is still received.
                        rx.close();
                        closing = true;
                        continue;
                    }
                }
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(done) => batch.push(done),
                    Err(_) => break,
                }
            }
            self.round(&mut state, batch, false).await;
            if state.retry.is_empty() && state.retry_at.is_none() {
                backoff.reset();
            } else if !state.retry.is_empty() && state.retry_at.is_none() {
                state.retry_at = Some(Instant::now() + backoff.next_delay());
            }
        }
        // Closing: the acks of settled entries still go; refused replies stay
        // pending (their handlers were abandoned or ended).
        if !state.acks.is_empty() {
            self.round(&mut state, Vec::new(), true).await;
        }
        if !state.retry.is_empty() || !state.acks.is_empty() {
            tracing::warn!(service = %self.keys.service, replies = state.retry.len(),
                acks = state.acks.len(),
                "stopping with replies or acks Redis refused; their entries stay pending and \
                 are run again by another worker");
        }
    }

    /// One round trip: the `XACK` of `state.acks` when due (or `flush`),
    /// and an `XADD` per reply of `batch`; settles what it can and keeps the
    /// rest in `state`.
    async fn round(&self, state: &mut State, batch: Vec<Done>, flush: bool) {
        let now = Instant::now();
        let mut replies = Vec::with_capacity(batch.len());
        let mut settled = Vec::new();
        for done in batch {
            match &done.reply {
                None => settled.push(done),
                Some(_) if done.refused && done.give_up_at.is_some_and(|at| at <= now) => {
                    self.give_up(&done);
                    settled.push(done);
                }
                Some(_) => replies.push(done),
            }
        }
        // Entries without a reply are settled at once.
        let mut signals = Vec::with_capacity(settled.len() + replies.len());
        for done in settled {
            state.acks.push(done.in_flight);
            signals.push(done.settle);
        }
        let due =
            flush || state.acks.len() >= ACK_BATCH || state.ack_at.is_some_and(|at| at <= now);
        let mut acked: Vec<InFlight> = if due {
            state.ack_at = None;
            std::mem::take(&mut state.acks)
        } else {
            Vec::new()
        };
        let mut cmds = Vec::with_capacity(replies.len() + 1);
        if !acked.is_empty() {
            let mut ack = redis::cmd("XACK");
            ack.arg(&self.keys.stream).arg(&self.keys.group);
            for mark in &acked {
                ack.arg(&*mark.id);
            }
            cmds.push(ack);
        }
        for done in &replies {
            if let Some(reply) = &done.reply {
                // The record first: on one Redis a pipeline runs in order,
                // and the ack goes in a later round trip either way.
                if let Some(record) = &reply.record {
                    cmds.push(record.command(&reply.text));
                }
                cmds.push(reply_command(reply, self.reply_maxlen));
            }
        }
        let mut answers = self
            .shared
            .each(cmds, self.shared.command_timeout())
            .await
            .into_iter();
        if !acked.is_empty() {
            self.acked(state, &mut acked, answers.next(), now);
        }
        // Acked (or left pending for good): their in-flight marks go.
        drop(acked);
        self.written(state, replies, answers, &mut signals);
        if !state.acks.is_empty() && state.ack_at.is_none() {
            state.ack_at = Some(now + ACK_LINGER);
        }
        for settle in signals {
            settle.settled();
        }
    }

    /// Reads the answer to the round's `XACK` of `acked`: a failure for now
    /// puts them back into `state` to ack again soon.
    fn acked(
        &self,
        state: &mut State,
        acked: &mut Vec<InFlight>,
        answer: Option<Answer>,
        now: Instant,
    ) {
        match answer {
            Some(Ok(_)) | None => {}
            Some(Err(error)) if error.is_transient() => {
                tracing::warn!(service = %self.keys.service, entries = acked.len(), %error,
                    "acknowledging answered entries failed for now; retrying (their \
                     replies are written)");
                state.acks.append(acked);
                state.ack_at = Some(now + RETRY_FIRST);
            }
            Some(Err(error)) => tracing::warn!(service = %self.keys.service,
                entries = acked.len(), %error,
                "Redis refused to acknowledge answered entries; they stay pending and \
                 are reclaimed later"),
        }
    }

    /// Reads the answers to the round's replies: settled ones are queued to
    /// be acked (and their handlers signalled), those refused for now are
    /// kept in `state` to write again.
    fn written(
        &self,
        state: &mut State,
        replies: Vec<Done>,
        mut answers: impl Iterator<Item = Answer>,
        signals: &mut Vec<Settle>,
    ) {
        let mut again = 0;
        let mut first_reason = None;
        for done in replies {
            let to = done.reply.as_ref().map_or("", |r| r.to.as_str());
            let entry_id = &done.in_flight.id;
            let recorded = done
                .reply
                .as_ref()
                .and_then(|r| r.record.as_ref())
                .map(|record| (record, answers.next()));
            let Some(answer) = answers.next() else {
                break;
            };
            let outcome = match recorded {
                Some((record, Some(Err(error)))) if error.is_transient() => {
                    ReplyOutcome::Again(format!("{error} (dedupe record {})", record.key))
                }
                Some((record, Some(Err(error)))) => {
                    tracing::warn!(service = %self.keys.service, %entry_id, record = %record.key,
                        %error, "Redis refused the call's dedupe record for good; its reply is \
                        written, but a copy of the call would run again");
                    ReplyOutcome::of(&answer)
                }
                _ => ReplyOutcome::of(&answer),
            };
            match outcome {
                ReplyOutcome::Written => {}
                ReplyOutcome::Gone => tracing::debug!(service = %self.keys.service,
                    %entry_id, reply_to = %to,
                    "reply stream is gone (its client stopped or expired); reply dropped"),
                ReplyOutcome::Refused(error) => tracing::warn!(service = %self.keys.service,
                    %entry_id, reply_to = %to, %error,
                    "Redis refused the reply for good; its caller will time out (the entry \
                     is acked)"),
                ReplyOutcome::Again(reason) => {
                    again += 1;
                    first_reason.get_or_insert(reason);
                    let mut done = done;
                    done.refused = true;
                    state.retry.push(done);
                    continue;
                }
            }
            state.acks.push(done.in_flight);
            signals.push(done.settle);
        }
        if let Some(reason) = first_reason {
            crate::metrics::replies_retried(&self.keys.service, again);
            tracing::warn!(service = %self.keys.service, replies = again, error = %reason,
                "Redis refused replies for now; keeping them and writing them again with \
                 backoff (their entries stay pending, their handlers do not run again)");
        }
    }

    /// Logs and counts a reply given up: its caller's deadline passed while
    /// Redis kept refusing it.
    fn give_up(&self, done: &Done) {
        crate::metrics::reply_abandoned(&self.keys.service);
        tracing::warn!(service = %self.keys.service, entry_id = %done.in_flight.id,
            reply_to = %done.reply.as_ref().map_or("", |r| r.to.as_str()),
            "Redis refused the reply until its caller's deadline passed; the reply is \
             dropped and the entry acked (its caller has timed out)");
    }
}

/// Sleeps until `at`; forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
