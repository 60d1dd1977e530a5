//! [`Worker`]: the handling of one entry of one service (docs/WIRE.md §7):
//! check `reply-to`, skip an expired request, parse once, dispatch, and hand
//! reply + ack to the finish loop. Its handler tasks run in the service's
//! [`HandlerPool`](crate::pool::HandlerPool).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use clamator_protocol::transport::{HandlerLimit, deadline, read_incoming};
use clamator_protocol::{Context, Dispatcher, Request};
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, Span};

use crate::cancel::Cancels;
use crate::conn::{ConnError, SharedConn};
use crate::dedupe::{Claim, Dedupe, Record};
use crate::entry::Entry;
use crate::finish::{Done, Reply, Settle};
use crate::keys;
use crate::metrics;
use crate::poison_log::PoisonLog;
use crate::pool::{InFlight, Slot};
use crate::service_keys::ServiceKeys;
use crate::trace;

/// This host's clock, ms since the epoch.
fn local_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What handling an entry needs: the service's names, the dispatcher, the
/// request rules (deadlines, handler timeout) and where finished entries go.
#[derive(Debug)]
pub(crate) struct Worker {
    /// The service's keys and names.
    keys: Arc<ServiceKeys>,
    /// Runs the handlers.
    dispatcher: Dispatcher,
    /// Its metrics (nothing without the `metrics` feature).
    metrics: Arc<metrics::ServiceMetrics>,
    /// Warnings about dropped entries, aggregated so a flood cannot flood
    /// the logs (flushed by the housekeeping loop).
    poison_log: Arc<PoisonLog>,
    /// Callers' cancels: requests to skip, running handlers to signal.
    cancels: Arc<Cancels>,
    /// Redis's clock minus ours, in ms (request deadlines are in Redis's
    /// clock: entry ids); measured at start with `TIME`.
    clock_offset_ms: AtomicI64,
    /// Whether requests whose caller gave up are skipped (config `skip_expired`).
    skip_expired: bool,
    /// How long a handler may run before it is cancelled (config `handler_timeout`).
    handler_timeout: Option<std::time::Duration>,
    /// The dedupe window (config `dedupe_window`), if on.
    dedupe: Option<Dedupe>,
    /// Handled entries go to the service's finish loop, which writes replies
    /// and acks in batches.
    done: mpsc::UnboundedSender<Done>,
}

/// How a worker treats requests (from `ServerOptions`).
#[derive(Debug)]
pub(crate) struct Rules {
    /// Whether requests whose caller gave up are skipped.
    pub(crate) skip_expired: bool,
    /// How long a handler may run before it is cancelled.
    pub(crate) handler_timeout: Option<std::time::Duration>,
    /// The dedupe window, if on.
    pub(crate) dedupe: Option<Dedupe>,
}

/// What [`Worker::run`] made of a request.
enum Ran {
    /// The reply to write, if any, and the dedupe record to write it to.
    Reply(Option<String>, Option<Record>),
    /// Leave the entry pending, unanswered (the server abandons its
    /// handlers while a copy waited for the call's first run).
    Leave,
}

/// What [`Worker::run`] needs of the entry it runs.
struct Run<'a> {
    /// The entry.
    entry: &'a Entry,
    /// The reply stream the entry names, if any.
    reply_to: Option<&'a str>,
    /// When its caller stops waiting, if it said.
    give_up_at: Option<tokio::time::Instant>,
    /// Its place among the handlers running here.
    in_flight: &'a InFlight,
}

pin_project_lite::pin_project! {
    /// Runs `handler`, firing `ctx`'s cancellation signal when the caller's
    /// deadline passes while it still runs (then goes on polling it: stopping
    /// is the handler's choice; `handler_timeout` is the server's). Written
    /// by hand: an `async fn` would hold the handler's future twice (its
    /// argument and its awaited copy) in every handler's task.
    struct CancelAtDeadline<F> {
        #[pin]
        handler: F,
        // Boxed, and only for a handler that takes a context and has a deadline.
        deadline: Option<(Context, std::pin::Pin<Box<tokio::time::Sleep>>)>,
    }
}

impl<F: std::future::Future> std::future::Future for CancelAtDeadline<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        if let std::task::Poll::Ready(out) = this.handler.poll(cx) {
            return std::task::Poll::Ready(out);
        }
        if let Some((ctx, sleep)) = this.deadline
            && sleep.as_mut().poll(cx).is_ready()
        {
            ctx.cancel();
            *this.deadline = None;
        }
        std::task::Poll::Pending
    }
}

/// `handler`, with `ctx`'s signal fired at its deadline (see
/// [`CancelAtDeadline`]); without a context or a deadline, just the handler.
fn cancel_at_deadline<F: std::future::Future>(
    handler: F,
    ctx: Option<Context>,
) -> CancelAtDeadline<F> {
    let deadline = ctx.and_then(|c| {
        let at = c.deadline()?;
        Some((c, Box::pin(tokio::time::sleep_until(at.into()))))
    });
    CancelAtDeadline { handler, deadline }
}

impl Worker {
    /// A worker for the service of `keys` that hands finished entries to `done`.
    pub(crate) fn new(
        keys: Arc<ServiceKeys>,
        dispatcher: Dispatcher,
        metrics: Arc<metrics::ServiceMetrics>,
        poison_log: Arc<PoisonLog>,
        cancels: Arc<Cancels>,
        rules: Rules,
        done: mpsc::UnboundedSender<Done>,
    ) -> Worker {
        Worker {
            keys,
            dispatcher,
            metrics,
            poison_log,
            cancels,
            clock_offset_ms: AtomicI64::new(0),
            skip_expired: rules.skip_expired,
            handler_timeout: rules.handler_timeout,
            dedupe: rules.dedupe,
            done,
        }
    }

    /// The dedupe window, if on.
    pub(crate) fn dedupe(&self) -> Option<&Dedupe> {
        self.dedupe.as_ref()
    }

    /// The service's keys and names.
    pub(crate) fn keys(&self) -> &ServiceKeys {
        &self.keys
    }

    /// The service's metrics.
    pub(crate) fn metrics(&self) -> &metrics::ServiceMetrics {
        &self.metrics
    }

    /// Handles one entry: poison is acked and dropped (answered with its
    /// -32700 / -32600 error reply when its id can be read); a request is
    /// dispatched, its reply written to `reply-to` (if any) and the entry acked,
    /// both in one round trip.
    ///
    /// Events go to the entry's server span `span`, which is entered for the
    /// dispatch and the write once the request's method is recorded.
    pub(crate) async fn handle(
        &self,
        mut entry: Entry,
        span: &Span,
        trace: &trace::ServerTrace,
        in_flight: InFlight,
        slot: Slot,
    ) {
        let Ok(reply_to) = self.reply_target(&mut entry, span, trace) else {
            return self.drop_unrun(in_flight, slot, span).await;
        };
        if self.caller_gave_up(&entry) {
            trace.event(span, || tracing::debug!(service = %self.keys.service, entry_id = %entry.id,
                "the caller's timeout passed before the request could start; acked without running it"));
            self.metrics.expired();
            return self.drop_unrun(in_flight, slot, span).await;
        }
        let give_up_at = self.caller_deadline(&entry);
        let Some(envelope) = entry.envelope.take() else {
            trace.event(span, || {
                self.poison_log.report(
                    &entry.id,
                    "no-envelope",
                    &"entry without an envelope field",
                );
            });
            return self.drop_unrun(in_flight, slot, span).await;
        };
        let run = Run {
            entry: &entry,
            reply_to: reply_to.as_deref(),
            give_up_at,
            in_flight: &in_flight,
        };
        let (reply, record) = match self.run(&envelope, run, span, trace).await {
            Ran::Reply(reply, record) => (reply, record),
            // Dropping its in-flight mark unacked: another worker reclaims it.
            Ran::Leave => return,
        };
        let claimed = record.is_some();
        let reply = match (reply_to, reply) {
            (Some(to), Some(text)) => Some(Reply {
                to,
                text,
                nomkstream: entry.nomkstream,
                record,
            }),
            _ => None,
        };
        // Only a claim to release waits for the write; the others' tasks
        // end here (their slots go with the reply, in the finish loop).
        self.finish(give_up_at, reply, in_flight, slot, claimed)
            .instrument(span.clone())
            .await;
        if claimed && let Some(dedupe) = &self.dedupe {
            dedupe.release(&entry.id);
        }
    }

    /// Where the entry's reply goes: `Ok(None)` without a `reply-to`,
    /// `Err(())` (reported as poison) when it names anything but a reply
    /// stream of this prefix. A command stream, a dead-letter stream or a key
    /// of another application would let one request write to, and trim,
    /// that key: such an entry is not run at all.
    /// The entry's `reply-to` is taken out of it (not copied).
    fn reply_target(
        &self,
        entry: &mut Entry,
        span: &Span,
        trace: &trace::ServerTrace,
    ) -> Result<Option<String>, ()> {
        let Some(raw) = entry.reply_to.take() else {
            return Ok(None);
        };
        let raw = match String::from_utf8(raw) {
            Ok(to) if keys::reply_target(&self.keys.key_prefix, to.as_bytes()).is_some() => {
                return Ok(Some(to));
            }
            Ok(text) => text.into_bytes(),
            Err(not_utf8) => not_utf8.into_bytes(),
        };
        let shown: String = String::from_utf8_lossy(&raw).chars().take(200).collect();
        trace.event(span, || {
            self.poison_log.report(
                &entry.id,
                "bad-reply-to",
                &format_args!(
                    "reply-to {shown:?} is not a reply stream of this prefix \
                     (<prefix>:replies:<id>); not run, nothing written"
                ),
            );
        });
        Err(())
    }

    /// Parses the envelope once and runs a request; returns the reply text,
    /// if any, and its dedupe record when the window is on.
    async fn run(
        &self,
        envelope: &[u8],
        Run {
            entry,
            reply_to,
            give_up_at,
            in_flight,
        }: Run<'_>,
        span: &Span,
        trace: &trace::ServerTrace,
    ) -> Ran {
        let request = match read_incoming(envelope) {
            Err(poison) => {
                let answered = poison.reply().is_some() && reply_to.is_some();
                let _entered = span.enter();
                trace.own(span);
                self.poison_log.report(
                    &entry.id,
                    poison.kind(),
                    &format_args!(
                        "{}{}",
                        poison.error(),
                        if answered {
                            "; its caller is answered with the error"
                        } else {
                            ""
                        }
                    ),
                );
                // -32700 / -32600 to its id, when the id could be read.
                return Ran::Reply(poison.into_reply(), None);
            }
            // A response on a command stream: nothing to run, nobody to answer.
            Ok(None) => return Ran::Reply(None, None),
            Ok(Some(request)) => request,
        };
        trace::record_request(
            span,
            &self.keys.service,
            &request.method,
            request.id.as_ref(),
        );
        let context = trace.own(span);
        if let Some(from) = &entry.reclaimed_from {
            span.in_scope(|| {
                tracing::info!(service = %self.keys.service, entry_id = %entry.id,
                deliveries = entry.deliveries.unwrap_or(0), %from,
                "reclaimed an entry left pending too long; handling it")
            });
        }
        // The caller cancelled it before it could start (see `cancel`).
        let call = reply_to.zip(request.id.as_ref());
        if let Some((to, id)) = call
            && self.cancels.take_cancelled(to, id)
        {
            span.in_scope(|| {
                tracing::debug!(service = %self.keys.service, entry_id = %entry.id,
                "the caller cancelled the call before it started; acked without running it")
            });
            metrics::cancelled(&self.keys.service, "before_start", 1);
            return Ran::Reply(None, None);
        }
        // Within the dedupe window a call runs once (see `dedupe`).
        let record = match (&self.dedupe, call) {
            (Some(dedupe), Some((to, id))) => {
                let key = dedupe.key(to, id);
                // Boxed: its polling loop would otherwise enlarge every
                // handler's task, window or not.
                let claim =
                    Box::pin(dedupe.claim(key, &entry.id, give_up_at, || in_flight.abandoned()));
                match claim.instrument(span.clone()).await {
                    Claim::Run(record) => Some(record),
                    Claim::Unrecorded => None,
                    Claim::Answered(reply) => {
                        span.in_scope(|| {
                            tracing::debug!(service = %self.keys.service, entry_id = %entry.id,
                            "the call was answered within the dedupe window; answered with \
                             its stored reply, handler not run")
                        });
                        return Ran::Reply(Some(reply), None);
                    }
                    Claim::GaveUp => {
                        span.in_scope(|| {
                            tracing::debug!(service = %self.keys.service, entry_id = %entry.id,
                            "a copy of a call running elsewhere waited until its caller \
                             gave up; acked without running it")
                        });
                        return Ran::Reply(None, None);
                    }
                    Claim::Leave => return Ran::Leave,
                }
            }
            _ => None,
        };
        let handled = self.metrics.request(&request);
        let limit = self.handler_timeout.map(|limit| HandlerLimit {
            limit,
            timer: tokio::time::sleep(limit),
        });
        // Only for methods that take one: the others pay nothing for it.
        let ctx = self
            .dispatcher
            .wants_context(&self.keys.service, &request.method)
            .then(|| self.context(&request, entry, give_up_at, in_flight));
        // A cancel of this call fires the context's signal while it runs.
        let _registered = ctx
            .as_ref()
            .zip(call)
            .map(|(ctx, (to, id))| self.cancels.register(to, id, ctx));
        let signal = ctx.clone();
        let run = self.dispatcher.dispatch_limited_with(
            request.from_queue(&self.keys.service),
            ctx,
            limit,
        );
        let run = cancel_at_deadline(run, signal);
        let reply = trace::handling(context, handled.wrap(run))
            .instrument(span.clone())
            .await;
        Ran::Reply(reply, record)
    }

    /// The handler's view of its request: the caller's deadline, the
    /// delivery count, the caller's trace id and metadata, and a signal fired when the
    /// deadline passes (see [`cancel_at_deadline`]) or the server abandons
    /// its handlers (the grace at stop ended).
    fn context(
        &self,
        request: &Request,
        entry: &Entry,
        give_up_at: Option<tokio::time::Instant>,
        in_flight: &InFlight,
    ) -> Context {
        let mut ctx = Context::new(&request.service, &request.method, request.id.clone())
            .with_delivery(entry.deliveries.map_or(1, |n| n as u64))
            .with_cancel(in_flight.abandoned());
        if let Some(at) = give_up_at {
            ctx = ctx.with_deadline(at.into_std());
        }
        if let Some(incoming) = &entry.trace {
            ctx = ctx.with_trace_id(incoming.parent.trace_id_hex());
        }
        if !entry.metadata.is_empty() {
            ctx = ctx.with_metadata(entry.metadata.clone());
        }
        ctx
    }

    /// Acks an entry that is not run, with nothing to answer.
    async fn drop_unrun(&self, in_flight: InFlight, slot: Slot, span: &Span) {
        self.finish(None, None, in_flight, slot, false)
            .instrument(span.clone())
            .await;
    }

    /// Whether the entry carries its caller's timeout (`timeout-ms`, sent by
    /// Rust clients) and the caller has given up
    /// ([`clamator_protocol::transport::deadline::caller_gave_up`]): it would drop the reply.
    fn caller_gave_up(&self, entry: &Entry) -> bool {
        let (Some(sent), Some(timeout)) = (entry.added_ms(), entry.timeout_ms) else {
            return false;
        };
        let redis_now =
            local_now_ms().saturating_add_signed(self.clock_offset_ms.load(Ordering::Relaxed));
        self.skip_expired && deadline::caller_gave_up(sent, timeout, redis_now)
    }

    /// When the entry's caller stops waiting, on this host's clock: its
    /// `timeout-ms` (Rust callers) after the entry was added (Redis's clock).
    fn caller_deadline(&self, entry: &Entry) -> Option<tokio::time::Instant> {
        let (Some(sent), Some(timeout)) = (entry.added_ms(), entry.timeout_ms) else {
            return None;
        };
        let redis_now =
            local_now_ms().saturating_add_signed(self.clock_offset_ms.load(Ordering::Relaxed));
        let left = sent.saturating_add(timeout).saturating_sub(redis_now);
        Some(tokio::time::Instant::now() + std::time::Duration::from_millis(left))
    }

    /// Measures Redis's clock against ours (`TIME`), so deadlines written in
    /// entry ids compare right even when the two hosts' clocks differ.
    pub(crate) async fn sync_clock(&self, shared: &SharedConn) -> Result<(), ConnError> {
        let before = local_now_ms();
        let (secs, micros): (u64, u64) = shared
            .query(&redis::cmd("TIME"), shared.command_timeout())
            .await?;
        let after = local_now_ms();
        let redis_ms = secs.saturating_mul(1000).saturating_add(micros / 1000);
        let ours = before / 2 + after / 2;
        let offset =
            i64::try_from(redis_ms).unwrap_or(i64::MAX) - i64::try_from(ours).unwrap_or(i64::MAX);
        self.clock_offset_ms.store(offset, Ordering::Relaxed);
        Ok(())
    }

    /// Hands the reply (if any) and the ack to the service's finish loop,
    /// which writes them with those of other entries that finished together
    /// and releases `slot` once the reply is settled. With `wait`, waits
    /// until then (or until it failed: then the entry stays pending and is
    /// reclaimed later).
    async fn finish(
        &self,
        give_up_at: Option<tokio::time::Instant>,
        reply: Option<Reply>,
        in_flight: InFlight,
        slot: Slot,
        wait: bool,
    ) {
        let (written, done) = if wait {
            let (written, done) = oneshot::channel();
            (Some(written), Some(done))
        } else {
            (None, None)
        };
        let queued = self.done.send(Done {
            give_up_at,
            refused: false,
            reply,
            in_flight,
            settle: Settle {
                _slot: slot,
                written,
            },
        });
        if queued.is_ok()
            && let Some(done) = done
        {
            let _ = done.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `f` returns (a future here), without calling it.
    fn returned_size<'a, F, R>(_: F) -> usize
    where
        F: FnOnce(&'a Worker, Entry, &'a Span, &'a trace::ServerTrace, InFlight, Slot) -> R,
    {
        std::mem::size_of::<R>()
    }

    /// Every request's handling is one of these futures, moved onto the heap
    /// once per request: wrappers written as `async fn` around another
    /// future hold it twice, and once made the handler task 5.7 KB, copied
    /// several times per call (callgrind counted two thirds of the server's
    /// instructions in those copies). A guard rail, as the bench's are: a
    /// new field or await point is fine, a doubling is not.
    #[test]
    fn the_handling_of_a_request_stays_small() {
        let size = returned_size(Worker::handle);
        assert!(
            size <= 2048,
            "Worker::handle's future is {size} bytes (at most 2048; 1,488 when last measured): an async \
             fn wrapping a future holds it twice; write such wrappers as futures by hand (see \
             CancelAtDeadline) or box the rarely taken branch"
        );
    }
}
