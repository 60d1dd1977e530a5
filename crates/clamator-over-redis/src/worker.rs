//! One service hosted by one server: the state its consumer and reclaim loops
//! share, and the handling of one entry (docs/WIRE.md §7).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use clamator_protocol::deadline;
use clamator_protocol::dispatch::read_incoming;
use clamator_protocol::{Dispatcher, HandlerLimit};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Span};

use crate::conn::{ConnError, SharedConn};
use crate::entry::Entry;
use crate::finish::{Done, FinishLoop, Reply};
use crate::keys;
use crate::metrics;
use crate::poison_log::PoisonLog;
use crate::trace;

/// This host's clock, ms since the epoch.
fn local_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The most entry ids one `XCLAIM` names.
const MAX_CLAIM_IDS: usize = 256;

/// How long a loop waits after failing to recreate a missing group.
const RECREATE_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// A service's worker on one server.
#[derive(Debug)]
pub(crate) struct ServiceWorker {
    /// The service name.
    pub(crate) service: String,
    /// Its command stream key.
    pub(crate) stream: String,
    /// The key prefix: replies go only to `<prefix>:replies:<id>`.
    key_prefix: String,
    /// The consumer group (the service name).
    pub(crate) group: String,
    /// This server's consumer in the group.
    pub(crate) consumer: String,
    /// Where entries no worker acknowledged go (`<prefix>:dead:<service>`).
    pub(crate) dead_stream: String,
    /// Runs the handlers.
    dispatcher: Dispatcher,
    /// Its metrics (nothing without the `metrics` feature).
    pub(crate) metrics: metrics::ServiceMetrics,
    /// Replies, acks, group creation and reclaims: never behind a blocked read.
    pub(crate) shared: Arc<SharedConn>,
    /// One permit per handler allowed to run; loops take permits before
    /// reading, so they never fetch entries they cannot start.
    pub(crate) slots: Arc<Semaphore>,
    /// `MAXLEN ~` of the reply streams written to.
    pub(crate) reply_maxlen: usize,
    /// Entry ids whose handler runs here now: the reclaim loop must not start
    /// them a second time when it claims them back from ourselves. With the
    /// server span of each, so lease events land in it.
    in_flight: Mutex<HashMap<String, Span>>,
    /// The handler tasks, so `stop()` can wait for them.
    pub(crate) handlers: TaskTracker,
    /// Fired when handlers must be abandoned (grace over, or dropped):
    /// their entries stay pending for another worker to reclaim.
    pub(crate) abandon: CancellationToken,
    /// Redis's clock minus ours, in ms (request deadlines are in Redis's
    /// clock: entry ids); measured at start with `TIME`.
    clock_offset_ms: AtomicI64,
    /// Whether requests whose caller gave up are skipped (config `skip_expired`).
    skip_expired: bool,
    /// How long a handler may run before it is cancelled (config `handler_timeout`).
    handler_timeout: Option<std::time::Duration>,
    /// Warnings about dropped entries, aggregated so a flood cannot flood the logs.
    pub(crate) poison_log: PoisonLog,
    /// Handled entries go to the service's finish loop, which writes replies
    /// and acks in batches.
    done: mpsc::UnboundedSender<Done>,
}

/// Removes an entry id from the in-flight set when dropped: by the finish
/// loop once the entry is acked (or left pending at stop), so the reclaim
/// loop never starts it again here and its lease is renewed until then.
#[derive(Debug)]
pub(crate) struct InFlight {
    worker: Arc<ServiceWorker>,
    /// The entry id.
    pub(crate) id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.worker.in_flight().remove(&self.id);
        self.worker.metrics.handler_ended();
    }
}

impl ServiceWorker {
    /// A worker for `service`.
    pub(crate) fn new(
        key_prefix: &str,
        service: &str,
        instance_id: &str,
        dispatcher: Dispatcher,
        shared: Arc<SharedConn>,
        max_concurrency: usize,
        reply_maxlen: usize,
    ) -> (Self, FinishLoop) {
        let (done, rx) = mpsc::unbounded_channel();
        let finish = FinishLoop {
            rx,
            service: service.to_owned(),
            stream: keys::command_stream(key_prefix, service),
            group: keys::group(service),
            reply_maxlen,
            shared: Arc::clone(&shared),
        };
        let worker = ServiceWorker {
            service: service.to_owned(),
            stream: keys::command_stream(key_prefix, service),
            key_prefix: key_prefix.to_owned(),
            group: keys::group(service),
            consumer: keys::consumer(service, instance_id),
            dead_stream: keys::dead_letter_stream(key_prefix, service),
            metrics: metrics::ServiceMetrics::new(service, &dispatcher),
            dispatcher,
            shared,
            slots: Arc::new(Semaphore::new(max_concurrency)),
            reply_maxlen,
            in_flight: Mutex::new(HashMap::new()),
            handlers: TaskTracker::new(),
            abandon: CancellationToken::new(),
            clock_offset_ms: AtomicI64::new(0),
            skip_expired: true,
            handler_timeout: None,
            poison_log: PoisonLog::new(service),
            done,
        };
        (worker, finish)
    }

    /// The key prefix.
    pub(crate) fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, Span>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the handler of entry `id` runs here now.
    pub(crate) fn is_in_flight(&self, id: &str) -> bool {
        self.in_flight().contains_key(id)
    }

    /// How many handlers run here now.
    pub(crate) fn in_flight_len(&self) -> usize {
        self.in_flight().len()
    }

    /// The ids of the entries whose handlers run here now.
    pub(crate) fn in_flight_ids(&self) -> Vec<String> {
        self.in_flight().keys().cloned().collect()
    }

    /// Takes up to `max` free handler slots without waiting (maybe none).
    pub(crate) fn try_take_slots(&self, max: usize) -> Vec<OwnedSemaphorePermit> {
        let mut permits = Vec::new();
        while permits.len() < max {
            match self.slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        permits
    }

    /// `XGROUP CREATE <stream> <service> 0 MKSTREAM`; an existing group is fine.
    ///
    /// At `0`, not at `$` as the peer does: a new group is handed every entry
    /// already in the stream, so requests queued before any worker started
    /// (or XADDed after Redis restarted without persistence, before the group
    /// was recreated) are answered instead of skipped. Requests whose caller
    /// gave up meanwhile are acked without running (`skip_expired`).
    pub(crate) async fn ensure_group(&self) -> Result<(), ConnError> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE")
            .arg(&self.stream)
            .arg(&self.group)
            .arg("0")
            .arg("MKSTREAM");
        match self
            .shared
            .query::<redis::Value>(&cmd, self.shared.command_timeout())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_busy_group() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Recreates the group after Redis lost it (NOGROUP), logging the outcome;
    /// pauses after a failure so a loop that keeps hitting NOGROUP does not spin.
    pub(crate) async fn recreate_group(&self, shutdown: &CancellationToken) {
        match self.ensure_group().await {
            Ok(()) => tracing::warn!(service = %self.service, stream = %self.stream,
                "consumer group was missing (Redis restarted without persistence?); recreated it"),
            Err(e) => {
                tracing::warn!(service = %self.service, error = %e,
                    "consumer group is missing and recreating it failed; will retry");
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(RECREATE_PAUSE) => {}
                }
            }
        }
    }

    /// Starts handling `entry` on a task holding `permit`; skips an entry whose
    /// handler already runs here (claimed back from ourselves). Returns
    /// whether a handler was started.
    pub(crate) fn spawn(self: &Arc<Self>, entry: Entry, permit: OwnedSemaphorePermit) -> bool {
        let (span, trace) = {
            let mut in_flight = self.in_flight();
            if in_flight.contains_key(&entry.id) {
                tracing::debug!(service = %self.service, entry_id = %entry.id,
                    "entry already being handled here; not starting it twice");
                return false;
            }
            let (span, trace) = trace::server_span(
                &self.service,
                &self.stream,
                &self.group,
                &self.consumer,
                &entry,
            );
            in_flight.insert(entry.id.clone(), span.clone());
            (span, trace)
        };
        self.metrics.handler_started();
        let guard = InFlight {
            worker: Arc::clone(self),
            id: entry.id.clone(),
        };
        let worker = Arc::clone(self);
        let guard_id = entry.id.clone();
        // Not instrumented here: `handle` enters the span once the envelope
        // told its name (entering starts an OpenTelemetry span).
        self.handlers.spawn(async move {
            let _permit = permit;
            tokio::select! {
                () = worker.abandon.cancelled() => {
                    trace.event(&span, || tracing::debug!(service = %worker.service,
                        entry_id = %guard_id,
                        "handler abandoned at shutdown; the entry stays pending for reclaim"));
                }
                () = worker.handle(entry, &span, &trace, guard) => {}
            }
        });
        true
    }

    /// `XCLAIM <stream> <group> <own consumer> 0 <ids...> [IDLE <ms>] JUSTID`,
    /// up to [`MAX_CLAIM_IDS`] ids per command: keeps entries pending with
    /// this consumer and sets their idle time (0 without `idle`). Neither a
    /// delivery nor a read. Stops at the first failure and returns it.
    pub(crate) async fn reset_idle(
        &self,
        ids: &[String],
        idle: Option<std::time::Duration>,
    ) -> Result<(), ConnError> {
        for chunk in ids.chunks(MAX_CLAIM_IDS) {
            let mut cmd = redis::cmd("XCLAIM");
            cmd.arg(&self.stream)
                .arg(&self.group)
                .arg(&self.consumer)
                .arg(0);
            for id in chunk {
                cmd.arg(id);
            }
            if let Some(idle) = idle {
                cmd.arg("IDLE").arg(idle.as_millis() as u64);
            }
            cmd.arg("JUSTID");
            self.shared
                .query::<redis::Value>(&cmd, self.shared.command_timeout())
                .await?;
        }
        Ok(())
    }

    /// Which of `ids` are still pending with this worker's consumer: an entry
    /// another worker reclaimed (this process was frozen past the claim idle)
    /// is no longer ours, and renewing or handing it over would take it back.
    /// One `XPENDING <stream> <group> <id> <id> 1 <consumer>` per id, in one
    /// pipeline. (Between this check and the `XCLAIM` that follows, another
    /// worker could still take an entry; that needs the entry idle for the
    /// whole claim idle, which the renewals prevent.)
    pub(crate) async fn still_owned(&self, ids: &[String]) -> Result<Vec<String>, ConnError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("XPENDING")
                .arg(&self.stream)
                .arg(&self.group)
                .arg(id)
                .arg(id)
                .arg(1)
                .arg(&self.consumer);
        }
        let replies: Vec<redis::Value> = self
            .shared
            .query_pipeline(&pipe, self.shared.command_timeout())
            .await?;
        Ok(ids
            .iter()
            .zip(replies)
            .filter(|(_, reply)| matches!(reply, redis::Value::Array(rows) if !rows.is_empty()))
            .map(|(id, _)| id.clone())
            .collect())
    }

    /// Renews the leases of the running handlers' entries this worker still
    /// owns (idle time reset to 0); warns about those it lost.
    pub(crate) async fn renew_leases(&self) -> Result<usize, ConnError> {
        let ids = self.in_flight_ids();
        let owned = self.still_owned(&ids).await?;
        if owned.len() < ids.len() {
            let lost: Vec<&String> = ids.iter().filter(|id| !owned.contains(id)).collect();
            tracing::warn!(service = %self.service, ?lost,
                "entries whose handlers run here were taken over by another worker (this \
                 process or Redis was frozen past consumer_claim_idle): they may run twice; \
                 their leases are no longer renewed");
            for id in lost {
                self.in_span(id, || {
                    tracing::warn!(service = %self.service, entry_id = %id,
                    "lease lost: another worker took this entry over; it may run twice")
                });
            }
        }
        self.reset_idle(&owned, None).await?;
        for id in &owned {
            self.in_span(id, || {
                tracing::debug!(service = %self.service, entry_id = %id,
                "lease renewed")
            });
        }
        Ok(owned.len())
    }

    /// Runs `f` (an event) in the server span of in-flight entry `id`.
    fn in_span(&self, id: &str, f: impl FnOnce()) {
        let span = self.in_flight().get(id).cloned();
        match span {
            Some(span) => span.in_scope(f),
            None => f(),
        }
    }

    /// Hands entries whose handlers were abandoned at shutdown over to the
    /// other workers: marks them idle for the claim idle time, so the next
    /// reclaim pass of any worker (Rust or Python) takes them at once instead
    /// of a claim idle later. Best effort: on failure they are reclaimed after
    /// the claim idle as usual.
    pub(crate) async fn hand_over(&self, ids: &[String], claim_idle: std::time::Duration) {
        let owned = match self.still_owned(ids).await {
            Ok(owned) => owned,
            Err(error) => {
                tracing::warn!(service = %self.service, %error, entries = ids.len(),
                    "handing abandoned entries over failed; they are reclaimed after \
                     consumer_claim_idle instead");
                return;
            }
        };
        let ids = owned.as_slice();
        match self.reset_idle(ids, Some(claim_idle)).await {
            Ok(()) => tracing::info!(service = %self.service, entries = ids.len(),
                "abandoned entries handed over: other workers reclaim them at their next pass"),
            Err(error) => tracing::warn!(service = %self.service, %error, entries = ids.len(),
                "handing abandoned entries over failed; they are reclaimed after \
                 consumer_claim_idle instead"),
        }
    }

    /// Handles one entry: poison is acked and dropped (answered with its
    /// -32700 / -32600 error reply when its id can be read); a request is
    /// dispatched, its reply written to `reply-to` (if any) and the entry acked,
    /// both in one round trip.
    ///
    /// Events go to the entry's server span `span`, which is entered for the
    /// dispatch and the write once the request's method is recorded.
    async fn handle(
        &self,
        entry: Entry,
        span: &Span,
        trace: &trace::ServerTrace,
        in_flight: InFlight,
    ) {
        // Replies go only to this prefix's reply streams: a `reply-to` naming
        // anything else (a command stream, a dead-letter stream, a key of
        // another application) would let one request write to, and trim,
        // that key. Such an entry is not run at all.
        let reply_to = match &entry.reply_to {
            None => None,
            Some(raw) => match keys::reply_target(&self.key_prefix, raw) {
                Some(to) => Some(to.to_owned()),
                None => {
                    let shown: String = String::from_utf8_lossy(raw).chars().take(200).collect();
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
                    self.finish(None, None, in_flight)
                        .instrument(span.clone())
                        .await;
                    return;
                }
            },
        };
        if self.caller_gave_up(&entry) {
            trace.event(span, || tracing::debug!(service = %self.service, entry_id = %entry.id,
                "the caller's timeout passed before the request could start; acked without running it"));
            self.metrics.expired();
            self.finish(None, None, in_flight)
                .instrument(span.clone())
                .await;
            return;
        }
        let give_up_at = self.caller_deadline(&entry);
        let Some(envelope) = entry.envelope else {
            trace.event(span, || {
                self.poison_log.report(
                    &entry.id,
                    "no-envelope",
                    &"entry without an envelope field",
                );
            });
            self.finish(None, None, in_flight)
                .instrument(span.clone())
                .await;
            return;
        };
        let reply = match read_incoming(&envelope) {
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
                poison.into_reply()
            }
            // A response on a command stream: nothing to run, nobody to answer.
            Ok(None) => None,
            Ok(Some(request)) => {
                trace::record_request(span, &self.service, &request.method, request.id.as_ref());
                let context = trace.own(span);
                if let Some(from) = &entry.reclaimed_from {
                    span.in_scope(|| {
                        tracing::info!(service = %self.service, entry_id = %entry.id,
                        deliveries = entry.deliveries.unwrap_or(0), %from,
                        "reclaimed an entry left pending too long; handling it")
                    });
                }
                let handled = self.metrics.request(&request);
                let limit = self.handler_timeout.map(|limit| HandlerLimit {
                    limit,
                    timer: tokio::time::sleep(limit),
                });
                let run = self
                    .dispatcher
                    .dispatch_limited(request.from_queue(&self.service), limit);
                trace::handling(context, handled.wrap(run))
                    .instrument(span.clone())
                    .await
            }
        };
        let reply = match (reply_to, reply) {
            (Some(to), Some(text)) => Some(Reply {
                to,
                text,
                nomkstream: entry.nomkstream,
            }),
            _ => None,
        };
        self.finish(give_up_at, reply, in_flight)
            .instrument(span.clone())
            .await;
    }

    /// Whether the entry carries its caller's timeout (`timeout-ms`, sent by
    /// Rust clients) and the caller has given up
    /// ([`clamator_protocol::deadline::caller_gave_up`]): it would drop the reply.
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

    /// Sets whether requests whose caller gave up are skipped.
    pub(crate) fn set_skip_expired(&mut self, on: bool) {
        self.skip_expired = on;
    }

    /// Sets how long a handler may run before it is cancelled.
    pub(crate) fn set_handler_timeout(&mut self, limit: Option<std::time::Duration>) {
        self.handler_timeout = limit;
    }

    /// Measures Redis's clock against ours (`TIME`), so deadlines written in
    /// entry ids compare right even when the two hosts' clocks differ.
    pub(crate) async fn sync_clock(&self) -> Result<(), ConnError> {
        let before = local_now_ms();
        let (secs, micros): (u64, u64) = self
            .shared
            .query(&redis::cmd("TIME"), self.shared.command_timeout())
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
    /// which writes them with those of other entries that finished together,
    /// and waits until they are written (or failed: then the entry stays
    /// pending and is reclaimed later).
    async fn finish(
        &self,
        give_up_at: Option<tokio::time::Instant>,
        reply: Option<Reply>,
        in_flight: InFlight,
    ) {
        let (written, done) = oneshot::channel();
        let queued = self.done.send(Done {
            give_up_at,
            refused: false,
            reply,
            written,
            in_flight,
        });
        if queued.is_ok() {
            let _ = done.await;
        }
    }
}
