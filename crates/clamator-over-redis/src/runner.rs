//! One service served by one server: the runner owns every task of that
//! service (consumer, reclaim, housekeeping, lease and finish loops, each
//! under a supervisor that restarts it after a panic; the handlers live in
//! its [`HandlerPool`]) and stops them in order.
//!
//! Stopping, in order: the reading loops end (their parked read is unblocked,
//! again and again until it has ended); the handlers get the shutdown grace,
//! with their leases still renewed; those still running are abandoned and
//! their entries handed over to the other workers; the finish loop writes the
//! last replies and acks and ends. Dropping a runner at any point (a stop
//! whose future was dropped, a server dropped without stop) aborts every task
//! and abandons the handlers: no task outlives its runner.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::cancel::Cancels;
use crate::conn::{BlockingConn, Connector, SharedConn, Unblocker};
use crate::consumer::ConsumerLoop;
use crate::dead_letter::DeadLetters;
use crate::dedupe::Dedupe;
use crate::finish::{DoneQueue, FinishLoop};
use crate::health::{Monitor, ServerLoop, ServiceHealth};
use crate::housekeeping::HousekeepingLoop;
use crate::lease::{LeaseLoop, Leases};
use crate::metrics::ServiceMetrics;
use crate::options::ServerOptions;
use crate::periodic;
use crate::poison_log::PoisonLog;
use crate::pool::HandlerPool;
use crate::reclaim::ReclaimLoop;
use crate::service_keys::ServiceKeys;
use crate::supervise::Supervised;
use crate::worker::{Rules, Worker};

/// How long `stop()` waits for abandoned handlers to notice after the grace.
const ABANDON_WAIT: Duration = Duration::from_secs(1);
/// How often `stop()` repeats `CLIENT UNBLOCK` until the consumer loop ends.
const UNBLOCK_EVERY: Duration = Duration::from_millis(50);

/// What one service needs before its loops start, made by `start()`.
#[derive(Debug)]
pub(crate) struct ServiceParts {
    /// Its keys and names.
    pub(crate) keys: Arc<ServiceKeys>,
    /// Its handlers.
    pub(crate) pool: Arc<HandlerPool>,
    /// Its metrics.
    pub(crate) metrics: Arc<ServiceMetrics>,
    /// Its poison log (reported by handlers, flushed by housekeeping).
    pub(crate) poison_log: Arc<PoisonLog>,
    /// Its callers' cancels (read by housekeeping, applied by handlers).
    pub(crate) cancels: Arc<Cancels>,
    /// What the handlers hand to the finish loop.
    pub(crate) done: DoneQueue,
}

impl ServiceParts {
    /// The parts of `service` under `key_prefix`, served by `instance_id`.
    pub(crate) fn new(
        key_prefix: &str,
        service: &str,
        instance_id: &str,
        dispatcher: &clamator_protocol::Dispatcher,
        options: &ServerOptions,
        shared: &Arc<SharedConn>,
    ) -> ServiceParts {
        let keys = Arc::new(ServiceKeys::new(key_prefix, service, instance_id));
        let metrics = Arc::new(ServiceMetrics::new(service, dispatcher));
        let poison_log = Arc::new(PoisonLog::new(service));
        let cancels = Arc::new(Cancels::new(keys.cancel_stream.clone()));
        let (done, rx) = mpsc::unbounded_channel();
        let rules = Rules {
            skip_expired: options.skip_expired,
            handler_timeout: options.handler_timeout,
            dedupe: options.dedupe_window.map(|window| {
                Dedupe::new(
                    key_prefix,
                    service,
                    window,
                    options.consumer_claim_idle,
                    Arc::clone(shared),
                )
            }),
        };
        let worker = Worker::new(
            Arc::clone(&keys),
            dispatcher.clone(),
            Arc::clone(&metrics),
            Arc::clone(&poison_log),
            Arc::clone(&cancels),
            rules,
            done,
        );
        ServiceParts {
            keys,
            pool: Arc::new(HandlerPool::new(worker, options.max_concurrency)),
            metrics,
            poison_log,
            cancels,
            done: Arc::new(tokio::sync::Mutex::new(rx)),
        }
    }
}

/// Every task of one service on one server.
#[derive(Debug)]
pub(crate) struct ServiceRunner {
    /// The service's keys and names.
    keys: Arc<ServiceKeys>,
    /// The handlers.
    pool: Arc<HandlerPool>,
    /// Renews and hands over the handlers' leases.
    leases: Leases,
    /// Unblocks the consumer's read at stop.
    shared: Arc<SharedConn>,
    /// What `health()` reports.
    monitor: Arc<Monitor>,
    /// Fired first at stop: the consumer, reclaim and housekeeping loops end.
    shutdown: CancellationToken,
    /// Fired once no handler runs any more (or they were abandoned): the
    /// lease loop ends.
    leases_stop: CancellationToken,
    /// Fired last: the finish loop writes what is queued and ends.
    close: CancellationToken,
    /// The consumer, reclaim and housekeeping loops' supervisors.
    loops: Vec<AbortOnDropHandle<()>>,
    /// The lease loop's supervisor, unless leases are off.
    lease: Option<AbortOnDropHandle<()>>,
    /// The finish loop's supervisor (replies and acks).
    finish: AbortOnDropHandle<()>,
    /// Ends the current consumer loop's parked read (a restarted consumer
    /// loop has a connection, and so an unblocker, of its own).
    unblocker: Arc<Mutex<Unblocker>>,
    /// How long handlers get at stop.
    grace: Duration,
    /// The claim idle abandoned entries are marked with at stop.
    claim_idle: Duration,
    /// How long a loop may take to end before it is aborted.
    loop_wait: Duration,
}

impl ServiceRunner {
    /// Starts every loop of the service of `parts`, reading on `conn`
    /// (connected by `start()`; a restarted consumer loop opens a new one
    /// with `connector`).
    pub(crate) fn spawn(
        parts: ServiceParts,
        conn: BlockingConn,
        shared: Arc<SharedConn>,
        connector: Connector,
        options: &ServerOptions,
    ) -> ServiceRunner {
        let ServiceParts { keys, pool, .. } = &parts;
        let monitor = Arc::new(Monitor::new(options.renew_leases));
        let shutdown = CancellationToken::new();
        let leases_stop = CancellationToken::new();
        let close = CancellationToken::new();
        let supervised = |which, stop: &CancellationToken| Supervised {
            which,
            keys: Arc::clone(keys),
            monitor: Arc::clone(&monitor),
            stop: stop.clone(),
        };
        let unblocker = Arc::new(Mutex::new(conn.unblocker()));
        let leases = Leases {
            keys: Arc::clone(keys),
            shared: Arc::clone(&shared),
            pool: Arc::clone(pool),
        };
        let command_timeout = connector.command_timeout();
        let loops = vec![
            supervised(ServerLoop::Consumer, &shutdown).spawn(consumer_loop(
                &parts,
                conn,
                &shared,
                connector,
                (&shutdown, &monitor, &unblocker),
                options.timing.block,
            )),
            supervised(ServerLoop::Reclaim, &shutdown)
                .spawn(reclaim_loop(&parts, &shared, options, &monitor, &shutdown)),
            supervised(ServerLoop::Housekeeping, &shutdown).spawn(housekeeping_loop(
                &parts, &shared, options, &monitor, &shutdown,
            )),
        ];
        // Not stopped with the loops above: handlers that still run during
        // the shutdown grace keep their leases.
        let lease = options.renew_leases.then(|| {
            let (leases, monitor, stop) =
                (leases.clone(), Arc::clone(&monitor), leases_stop.clone());
            let period = options.lease_period();
            supervised(ServerLoop::Lease, &leases_stop).spawn(move || {
                let task = LeaseLoop {
                    leases: leases.clone(),
                    monitor: Arc::clone(&monitor),
                };
                periodic::run(task, period, stop.clone())
            })
        });
        let finish = supervised(ServerLoop::Finish, &close)
            .spawn(finish_loop(&parts, &shared, options, &monitor, &close));
        ServiceRunner {
            keys: parts.keys,
            pool: parts.pool,
            leases,
            shared,
            monitor,
            shutdown,
            leases_stop,
            close,
            loops,
            lease,
            finish,
            unblocker,
            grace: options.shutdown_grace,
            claim_idle: options.consumer_claim_idle,
            // A read that could not be unblocked ends by its BLOCK timeout.
            loop_wait: options.timing.block + command_timeout + Duration::from_secs(1),
        }
    }

    /// The service served.
    pub(crate) fn service(&self) -> &str {
        &self.keys.service
    }

    /// The service's health now.
    pub(crate) fn health(&self) -> ServiceHealth {
        self.monitor.snapshot(&self.keys.service)
    }

    /// Where the service's loops record their health (for `HealthProbe`).
    pub(crate) fn monitor(&self) -> &Arc<Monitor> {
        &self.monitor
    }

    /// Makes loop `which` panic at its next pass (fault injection).
    pub(crate) fn inject_panic(&self, which: ServerLoop) {
        self.monitor.inject_panic(which);
    }

    /// Stops every task of the service (see the module docs for the order).
    /// Cancel-safe: dropping this future drops the runner, which aborts what
    /// is left.
    pub(crate) async fn stop(mut self) {
        let service = Arc::clone(&self.keys);
        let service = service.service.as_str();
        self.shutdown.cancel();
        if !self.join_loops().await {
            tracing::warn!(%service, "a server loop did not stop in time; aborting it");
            self.loops.iter().for_each(|l| l.abort());
        }

        let pool = Arc::clone(&self.pool);
        pool.close_handlers();
        if tokio::time::timeout(self.grace, pool.wait()).await.is_err() {
            tracing::warn!(%service, unfinished = pool.running(),
                grace_ms = self.grace.as_millis() as u64,
                "handlers still running after the shutdown grace; abandoning them \
                 (their entries are handed over to the other workers)");
            // Stop renewing first, so no renewal undoes the hand-over.
            self.stop_leases().await;
            let abandoned = pool.in_flight_ids();
            pool.abandon();
            let _ = tokio::time::timeout(ABANDON_WAIT, pool.wait()).await;
            self.leases.hand_over(&abandoned, self.claim_idle).await;
        } else {
            self.stop_leases().await;
        }

        self.close.cancel();
        if tokio::time::timeout(self.loop_wait, &mut self.finish)
            .await
            .is_err()
        {
            tracing::warn!(%service,
                "the last replies and acks were not written in time; their entries stay \
                 pending and are reclaimed later");
        }
        pool.close();
    }

    /// Ends the lease loop.
    async fn stop_leases(&mut self) {
        self.leases_stop.cancel();
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
        let shared = Arc::clone(&self.shared);
        let unblocker = Arc::clone(&self.unblocker);
        let joined = join_all(self.loops.iter_mut());
        tokio::pin!(joined);
        let deadline = tokio::time::sleep(self.loop_wait);
        tokio::pin!(deadline);
        loop {
            let current = unblocker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            current.unblock(&shared).await;
            tokio::select! {
                _ = &mut joined => return true,
                () = &mut deadline => return false,
                () = tokio::time::sleep(UNBLOCK_EVERY) => {}
            }
        }
    }
}

/// The consumer loop's maker: the first run reads on `conn`, each restart
/// opens a connection of its own (and publishes its unblocker for `stop()`).
fn consumer_loop(
    parts: &ServiceParts,
    conn: BlockingConn,
    shared: &Arc<SharedConn>,
    connector: Connector,
    (shutdown, monitor, unblocker): (&CancellationToken, &Arc<Monitor>, &Arc<Mutex<Unblocker>>),
    block: Duration,
) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + 'static {
    let (keys, pool, shared) = (
        Arc::clone(&parts.keys),
        Arc::clone(&parts.pool),
        Arc::clone(shared),
    );
    let (shutdown, monitor, unblocker) =
        (shutdown.clone(), Arc::clone(monitor), Arc::clone(unblocker));
    let mut first = Some(conn);
    move || {
        let conn = first
            .take()
            .unwrap_or_else(|| BlockingConn::new(connector.clone(), &keys.stream));
        *unblocker.lock().unwrap_or_else(PoisonError::into_inner) = conn.unblocker();
        Box::pin(
            ConsumerLoop {
                keys: Arc::clone(&keys),
                pool: Arc::clone(&pool),
                shared: Arc::clone(&shared),
                conn,
                shutdown: shutdown.clone(),
                monitor: Arc::clone(&monitor),
                block,
            }
            .run(),
        )
    }
}

/// The reclaim loop's maker.
fn reclaim_loop(
    parts: &ServiceParts,
    shared: &Arc<SharedConn>,
    options: &ServerOptions,
    monitor: &Arc<Monitor>,
    shutdown: &CancellationToken,
) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + 'static {
    let dead_letters = options.max_deliveries.map(|max_deliveries| {
        Arc::new(DeadLetters {
            keys: Arc::clone(&parts.keys),
            shared: Arc::clone(shared),
            metrics: Arc::clone(&parts.metrics),
            reply_maxlen: options.reply_stream_maxlen,
            max_deliveries,
        })
    });
    let (keys, pool, shared) = (
        Arc::clone(&parts.keys),
        Arc::clone(&parts.pool),
        Arc::clone(shared),
    );
    let (monitor, shutdown) = (Arc::clone(monitor), shutdown.clone());
    let (period, claim_idle) = (options.reclaim_period(), options.consumer_claim_idle);
    move || {
        let task = ReclaimLoop {
            keys: Arc::clone(&keys),
            shared: Arc::clone(&shared),
            pool: Arc::clone(&pool),
            claim_idle,
            dead_letters: dead_letters.clone(),
            monitor: Arc::clone(&monitor),
        };
        Box::pin(periodic::run(task, period, shutdown.clone()))
    }
}

/// The housekeeping loop's maker.
fn housekeeping_loop(
    parts: &ServiceParts,
    shared: &Arc<SharedConn>,
    options: &ServerOptions,
    monitor: &Arc<Monitor>,
    shutdown: &CancellationToken,
) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + 'static {
    let (keys, metrics, poison_log, cancels) = (
        Arc::clone(&parts.keys),
        Arc::clone(&parts.metrics),
        Arc::clone(&parts.poison_log),
        Arc::clone(&parts.cancels),
    );
    let (shared, monitor, shutdown) = (Arc::clone(shared), Arc::clone(monitor), shutdown.clone());
    let (trim, period) = (options.trim_command_streams, options.timing.housekeeping);
    move || {
        let task = HousekeepingLoop {
            keys: Arc::clone(&keys),
            shared: Arc::clone(&shared),
            metrics: Arc::clone(&metrics),
            poison_log: Arc::clone(&poison_log),
            cancels: Arc::clone(&cancels),
            trim,
            monitor: Arc::clone(&monitor),
        };
        Box::pin(periodic::run(task, period, shutdown.clone()))
    }
}

/// The finish loop's maker: each run takes over the same queue.
fn finish_loop(
    parts: &ServiceParts,
    shared: &Arc<SharedConn>,
    options: &ServerOptions,
    monitor: &Arc<Monitor>,
    close: &CancellationToken,
) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + 'static {
    let (keys, rx, shared) = (
        Arc::clone(&parts.keys),
        Arc::clone(&parts.done),
        Arc::clone(shared),
    );
    let (monitor, close) = (Arc::clone(monitor), close.clone());
    let reply_maxlen = options.reply_stream_maxlen;
    move || {
        let task = FinishLoop {
            rx: Arc::clone(&rx),
            keys: Arc::clone(&keys),
            reply_maxlen,
            shared: Arc::clone(&shared),
            monitor: Arc::clone(&monitor),
        };
        Box::pin(task.run(close.clone()))
    }
}

impl Drop for ServiceRunner {
    fn drop(&mut self) {
        // Idempotent after a completed stop(); after a dropped one, or
        // without one, this ends everything: the loops' handles abort on
        // drop, abandoned handlers end at their next await and their entries
        // stay pending for another worker.
        self.shutdown.cancel();
        self.leases_stop.cancel();
        self.close.cancel();
        self.pool.abandon();
        self.pool.close();
    }
}
