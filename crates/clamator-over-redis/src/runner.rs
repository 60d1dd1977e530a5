//! One service served by one server: the runner owns every task of that
//! service (consumer, reclaim, trim, lease and finish loops; the handlers live
//! in the worker's tracker) and stops them in order.
//!
//! Stopping, in order: the reading loops end (their parked read is unblocked,
//! again and again until it has ended); the handlers get the shutdown grace,
//! with their leases still renewed; those still running are abandoned and
//! their entries handed over to the other workers; the finish loop writes the
//! last replies and acks and ends. Dropping a runner at any point (a stop
//! whose future was dropped, a server dropped without stop) aborts every task
//! and abandons the handlers: no task outlives its runner.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::conn::{BlockingConn, Unblocker};
use crate::consumer::{self, ConsumerLoop};
use crate::finish::FinishLoop;
use crate::lease::LeaseLoop;
use crate::options::ServerOptions;
use crate::reclaim::ReclaimLoop;
use crate::trim::TrimLoop;
use crate::worker::ServiceWorker;

/// How long `stop()` waits for abandoned handlers to notice after the grace.
const ABANDON_WAIT: Duration = Duration::from_secs(1);
/// How often `stop()` repeats `CLIENT UNBLOCK` until the consumer loop ends.
const UNBLOCK_EVERY: Duration = Duration::from_millis(50);

/// Every task of one service on one server.
#[derive(Debug)]
pub(crate) struct ServiceRunner {
    /// The state the loops and handlers share.
    worker: Arc<ServiceWorker>,
    /// Fired first at stop: the consumer, reclaim and trim loops end.
    shutdown: CancellationToken,
    /// Fired once no handler runs any more (or they were abandoned): the
    /// lease loop ends.
    leases: CancellationToken,
    /// Fired last: the finish loop writes what is queued and ends.
    close: CancellationToken,
    /// The consumer, reclaim and trim loops.
    loops: Vec<AbortOnDropHandle<()>>,
    /// The lease loop, unless leases are off.
    lease: Option<AbortOnDropHandle<()>>,
    /// The finish loop (replies and acks).
    finish: AbortOnDropHandle<()>,
    /// Ends the consumer loop's parked read.
    unblocker: Unblocker,
    /// How long handlers get at stop.
    grace: Duration,
    /// The claim idle abandoned entries are marked with at stop.
    claim_idle: Duration,
    /// How long a loop may take to end before it is aborted.
    loop_wait: Duration,
}

impl ServiceRunner {
    /// Starts every loop of `worker`'s service.
    pub(crate) fn spawn(
        worker: Arc<ServiceWorker>,
        conn: BlockingConn,
        finish: FinishLoop,
        options: &ServerOptions,
        command_timeout: Duration,
    ) -> ServiceRunner {
        let shutdown = CancellationToken::new();
        let leases = CancellationToken::new();
        let close = CancellationToken::new();
        let unblocker = conn.unblocker();
        let loops = vec![
            spawn(
                ConsumerLoop {
                    worker: Arc::clone(&worker),
                    conn,
                    shutdown: shutdown.clone(),
                }
                .run(),
            ),
            spawn(
                ReclaimLoop {
                    worker: Arc::clone(&worker),
                    period: options.reclaim_period(),
                    claim_idle: options.consumer_claim_idle,
                    max_deliveries: options.max_deliveries,
                    shutdown: shutdown.clone(),
                }
                .run(),
            ),
            spawn(
                TrimLoop {
                    worker: Arc::clone(&worker),
                    trim: options.trim_command_streams,
                    shutdown: shutdown.clone(),
                }
                .run(),
            ),
        ];
        // Not stopped with the loops above: handlers that still run during
        // the shutdown grace keep their leases.
        let lease = options.renew_leases.then(|| {
            spawn(
                LeaseLoop {
                    worker: Arc::clone(&worker),
                    period: options.lease_period(),
                    shutdown: leases.clone(),
                }
                .run(),
            )
        });
        let finish = spawn(finish.run(close.clone()));
        ServiceRunner {
            worker,
            shutdown,
            leases,
            close,
            loops,
            lease,
            finish,
            unblocker,
            grace: options.shutdown_grace,
            claim_idle: options.consumer_claim_idle,
            // A read that could not be unblocked ends by its BLOCK timeout.
            loop_wait: consumer::BLOCK + command_timeout + Duration::from_secs(1),
        }
    }

    /// The service served.
    pub(crate) fn service(&self) -> &str {
        &self.worker.service
    }

    /// Stops every task of the service (see the module docs for the order).
    /// Cancel-safe: dropping this future drops the runner, which aborts what
    /// is left.
    pub(crate) async fn stop(mut self) {
        let w = Arc::clone(&self.worker);
        self.shutdown.cancel();
        if !self.join_loops().await {
            tracing::warn!(service = %w.service, "a server loop did not stop in time; aborting it");
            self.loops.iter().for_each(|l| l.abort());
        }

        w.handlers.close();
        if tokio::time::timeout(self.grace, w.handlers.wait())
            .await
            .is_err()
        {
            tracing::warn!(service = %w.service, unfinished = w.handlers.len(),
                grace_ms = self.grace.as_millis() as u64,
                "handlers still running after the shutdown grace; abandoning them \
                 (their entries are handed over to the other workers)");
            // Stop renewing first, so no renewal undoes the hand-over.
            self.stop_leases().await;
            let abandoned = w.in_flight_ids();
            w.abandon.cancel();
            let _ = tokio::time::timeout(ABANDON_WAIT, w.handlers.wait()).await;
            w.hand_over(&abandoned, self.claim_idle).await;
        } else {
            self.stop_leases().await;
        }

        self.close.cancel();
        if tokio::time::timeout(self.loop_wait, &mut self.finish)
            .await
            .is_err()
        {
            tracing::warn!(service = %w.service,
                "the last replies and acks were not written in time; their entries stay \
                 pending and are reclaimed later");
        }
        w.slots.close();
    }

    /// Ends the lease loop.
    async fn stop_leases(&mut self) {
        self.leases.cancel();
        if let Some(lease) = &mut self.lease {
            let _ = tokio::time::timeout(self.loop_wait, lease).await;
        }
    }

    /// Waits up to `loop_wait` for the reading loops to end, sending `CLIENT
    /// UNBLOCK` for the parked read now and again every [`UNBLOCK_EVERY`]
    /// until they have: a consumer that checked the shutdown just before it
    /// fired parks its read *after* the first unblock, which then found
    /// nothing to end. Returns whether all ended in time.
    async fn join_loops(&mut self) -> bool {
        let shared = Arc::clone(&self.worker.shared);
        let joined = join_all(self.loops.iter_mut());
        tokio::pin!(joined);
        let deadline = tokio::time::sleep(self.loop_wait);
        tokio::pin!(deadline);
        loop {
            self.unblocker.unblock(&shared).await;
            tokio::select! {
                _ = &mut joined => return true,
                () = &mut deadline => return false,
                () = tokio::time::sleep(UNBLOCK_EVERY) => {}
            }
        }
    }
}

/// Spawns a task that is aborted when its handle is dropped.
fn spawn(task: impl std::future::Future<Output = ()> + Send + 'static) -> AbortOnDropHandle<()> {
    AbortOnDropHandle::new(tokio::spawn(task))
}

impl Drop for ServiceRunner {
    fn drop(&mut self) {
        // Idempotent after a completed stop(); after a dropped one, or
        // without one, this ends everything: the loops' handles abort on
        // drop, abandoned handlers end at their next await and their entries
        // stay pending for another worker.
        self.shutdown.cancel();
        self.leases.cancel();
        self.close.cancel();
        self.worker.abandon.cancel();
        self.worker.slots.close();
    }
}
