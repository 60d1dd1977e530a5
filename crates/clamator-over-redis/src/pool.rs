//! [`HandlerPool`]: the handlers of one service on one server, owned by its
//! runner: the slots that bound them (`max_concurrency`), the ids of the
//! entries they run (so the reclaim loop never starts one twice and the
//! lease loop renews them), and their tasks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::Span;

use crate::entry::Entry;
use crate::trace;
use crate::worker::Worker;

/// The handlers of one service on one server.
#[derive(Debug)]
pub(crate) struct HandlerPool {
    /// Handles one entry (what each handler task runs).
    worker: Worker,
    /// One permit per handler allowed to run; loops take permits before
    /// reading, so they never fetch entries they cannot start.
    slots: Arc<Semaphore>,
    /// Entry ids whose handler runs here now: the reclaim loop must not start
    /// them a second time when it claims them back from ourselves. With the
    /// server span of each, so lease events land in it.
    in_flight: Mutex<HashMap<Arc<str>, Span>>,
    /// The handler tasks, so `stop()` can wait for them.
    handlers: TaskTracker,
    /// Fired when handlers must be abandoned (grace over, or dropped):
    /// their entries stay pending for another worker to reclaim.
    abandon: CancellationToken,
}

/// Removes an entry id from the in-flight set when dropped: by the finish
/// loop once the entry is acked (or left pending at stop), so the reclaim
/// loop never starts it again here and its lease is renewed until then.
#[derive(Debug)]
pub(crate) struct InFlight {
    /// The pool the entry's handler ran in.
    pool: Arc<HandlerPool>,
    /// The entry id (shared with the in-flight set).
    pub(crate) id: Arc<str>,
}

/// A handler slot, held from the entry's start until its reply is settled
/// (the finish loop drops it then): a semaphore permit (`max_concurrency`)
/// and a token of the pool's task tracker, so `stop()` waits for replies
/// still being written as for handlers still running.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    _token: TaskTrackerToken,
}

impl InFlight {
    /// A signal fired when the pool abandons its handlers (the grace at
    /// stop ended, or the server was dropped).
    pub(crate) fn abandoned(&self) -> tokio_util::sync::CancellationToken {
        self.pool.abandon.child_token()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.pool.in_flight().remove(&self.id);
        self.pool.worker.metrics().handler_ended();
    }
}

impl HandlerPool {
    /// A pool of `max_concurrency` slots whose handlers run `worker`.
    pub(crate) fn new(worker: Worker, max_concurrency: usize) -> HandlerPool {
        HandlerPool {
            worker,
            slots: Arc::new(Semaphore::new(max_concurrency)),
            in_flight: Mutex::new(HashMap::new()),
            handlers: TaskTracker::new(),
            abandon: CancellationToken::new(),
        }
    }

    /// What the handlers run.
    pub(crate) fn worker(&self) -> &Worker {
        &self.worker
    }

    fn in_flight(&self) -> MutexGuard<'_, HashMap<Arc<str>, Span>> {
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
        self.in_flight().keys().map(|id| id.to_string()).collect()
    }

    /// Runs `f` (an event) in the server span of in-flight entry `id`.
    pub(crate) fn in_span(&self, id: &str, f: impl FnOnce()) {
        let span = self.in_flight().get(id).cloned();
        match span {
            Some(span) => span.in_scope(f),
            None => f(),
        }
    }

    /// Waits for a free handler slot; `None` once `shutdown` fired or the
    /// pool closed (the server is going away).
    pub(crate) async fn take_slot(
        &self,
        shutdown: &CancellationToken,
    ) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            () = shutdown.cancelled() => None,
            permit = self.slots.clone().acquire_owned() => permit.ok(),
        }
    }

    /// Waits for a free handler slot, whatever the shutdown; `None` once the
    /// pool closed.
    pub(crate) async fn wait_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().acquire_owned().await.ok()
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

    /// Starts handling `entry` on a task holding `permit`; skips an entry whose
    /// handler already runs here (claimed back from ourselves). Returns
    /// whether a handler was started.
    pub(crate) fn spawn(self: &Arc<Self>, entry: Entry, permit: OwnedSemaphorePermit) -> bool {
        let keys = self.worker.keys();
        let (span, trace, id) = {
            let mut in_flight = self.in_flight();
            if in_flight.contains_key(entry.id.as_str()) {
                tracing::debug!(service = %keys.service, entry_id = %entry.id,
                    "entry already being handled here; not starting it twice");
                return false;
            }
            let (span, trace) = trace::server_span(
                &keys.service,
                &keys.stream,
                &keys.group,
                &keys.consumer,
                &entry,
            );
            // One copy of the id, shared by the set, the mark and the task.
            let id: Arc<str> = Arc::from(entry.id.as_str());
            in_flight.insert(Arc::clone(&id), span.clone());
            (span, trace, id)
        };
        self.worker.metrics().handler_started();
        let guard_id = Arc::clone(&id);
        let guard = InFlight {
            pool: Arc::clone(self),
            id,
        };
        let pool = Arc::clone(self);
        let slot = Slot {
            _permit: permit,
            _token: self.handlers.token(),
        };
        // Not instrumented here: `handle` enters the span once the envelope
        // told its name (entering starts an OpenTelemetry span).
        self.handlers.spawn(async move {
            tokio::select! {
                () = pool.abandon.cancelled() => {
                    trace.event(&span, || tracing::debug!(service = %pool.worker.keys().service,
                        entry_id = %guard_id,
                        "handler abandoned at shutdown; the entry stays pending for reclaim"));
                }
                // Boxed: the task (which tokio copies as it spawns and
                // ends it) stays small; the handling is moved once.
                () = Box::pin(pool.worker.handle(entry, &span, &trace, guard, slot)) => {}
            }
        });
        true
    }

    /// Stops handing out slots: loops waiting for one end.
    pub(crate) fn close(&self) {
        self.slots.close();
    }

    /// No new handlers after this; [`wait`](Self::wait) can end.
    pub(crate) fn close_handlers(&self) {
        self.handlers.close();
    }

    /// Waits until every handler has ended (after [`close_handlers`](Self::close_handlers)).
    pub(crate) async fn wait(&self) {
        self.handlers.wait().await;
    }

    /// How many handlers still run.
    pub(crate) fn running(&self) -> usize {
        self.handlers.len()
    }

    /// Ends the handlers still running at their next await: their entries
    /// stay pending.
    pub(crate) fn abandon(&self) {
        self.abandon.cancel();
    }
}
