//! [`RedisRpcServer`]: hosts the services of a [`Dispatcher`] on their command
//! streams, as one worker of a pool that may mix Rust, Python and TypeScript
//! servers.

use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::{Dispatcher, TransportError};
use futures::future::join_all;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::config::RedisConfig;
use crate::conn::{BlockingConn, ConnError, Connector, SharedConn, Unblocker};
use crate::consumer::{self, ConsumerLoop};
use crate::finish::FinishLoop;
use crate::lease::LeaseLoop;
use crate::reclaim::ReclaimLoop;
use crate::trim::TrimLoop;
use crate::worker::ServiceWorker;

/// How long `stop()` waits for abandoned handlers to notice after the grace.
const ABANDON_WAIT: Duration = Duration::from_secs(1);
/// How often `stop()` repeats `CLIENT UNBLOCK` until the consumer loops end.
const UNBLOCK_EVERY: Duration = Duration::from_millis(50);

/// Serves every service of a [`Dispatcher`] over Redis Streams.
///
/// Per service it runs a consumer loop (`XREADGROUP` on a connection of its
/// own) and a reclaim loop (claims entries another worker left pending longer
/// than `consumer_claim_idle`, and dead-letters those delivered
/// `max_deliveries` times); handlers run concurrently up to `max_concurrency`. Replies and acks share one multiplexed connection.
/// Dropping a running server aborts its tasks; their entries stay pending for
/// another worker.
#[derive(Debug)]
pub struct RedisRpcServer {
    /// Settings (key prefix, claim idle, grace, concurrency, ...).
    config: RedisConfig,
    /// The services served.
    dispatcher: Dispatcher,
    /// Names this server's consumers.
    instance_id: String,
    /// Opens the loops' own connections.
    connector: Connector,
    /// Replies, acks, group creation, reclaims and unblocks.
    shared: Arc<SharedConn>,
    /// The lifecycle; an async lock so a second `stop()` waits for the first.
    state: tokio::sync::Mutex<State>,
}

/// Where a server is in its life.
#[derive(Debug)]
enum State {
    /// Built, not started.
    Idle,
    /// Serving.
    Running(Running),
    /// Stopped for good.
    Stopped,
}

/// What a running server owns.
#[derive(Debug)]
struct Running {
    /// Fired by `stop()`: loops stop reading.
    shutdown: CancellationToken,
    /// Fired by `stop()` once no handler runs any more: lease loops stop.
    leases: CancellationToken,
    /// The consumer, reclaim and trim loop tasks.
    loops: Vec<JoinHandle<()>>,
    /// The lease loop tasks.
    lease_loops: Vec<JoinHandle<()>>,
    /// The per-service workers (handler tasks live in their trackers).
    workers: Vec<Arc<ServiceWorker>>,
    /// Ends the consumer loops' parked reads at stop.
    unblockers: Vec<Unblocker>,
}

impl RedisRpcServer {
    /// A server for the services of `dispatcher`; nothing happens before [`start`](Self::start).
    pub fn new(config: RedisConfig, dispatcher: Dispatcher) -> RedisRpcServer {
        let connector = Connector::new(config.redis_client().clone(), config.command_timeout());
        RedisRpcServer {
            instance_id: config.new_instance_id(),
            shared: Arc::new(SharedConn::new(connector.clone())),
            connector,
            config,
            dispatcher,
            state: tokio::sync::Mutex::new(State::Idle),
        }
    }

    /// This server's instance id (its consumers are `<service>:<instance_id>`).
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Creates the consumer groups (`XGROUP CREATE <stream> <service> 0 MKSTREAM`),
    /// opens the loops' connections and starts consuming; returns once every
    /// service is being consumed. Calling it again while running does nothing.
    ///
    /// While Redis is unreachable it retries with backoff (a warning per
    /// attempt), until Redis answers or
    /// [`start_timeout`](crate::RedisConfigBuilder::start_timeout) runs out:
    /// then it fails with [`TransportError::ConnectionLost`] and the server
    /// stays startable. An error no retry can fix (Redis refused a command,
    /// the command stream key is not a stream) fails at once. It fails with
    /// [`TransportError::Stopped`] after `stop()`, and with
    /// [`TransportError::Config`] when no service is registered.
    pub async fn start(&self) -> Result<(), TransportError> {
        let mut state = self.state.lock().await;
        match &*state {
            State::Running(_) => return Ok(()),
            State::Stopped => return Err(TransportError::Stopped),
            State::Idle => {}
        }
        let services: Vec<String> = self.dispatcher.service_names().map(str::to_owned).collect();
        if services.is_empty() {
            return Err(TransportError::Config(
                "the dispatcher has no services: register at least one before starting the server"
                    .to_owned(),
            ));
        }
        let started = tokio::time::Instant::now();
        let mut backoff = Backoff::default();
        let prepared = loop {
            let (doing, error) = match self.prepare(&services).await {
                Ok(prepared) => break prepared,
                Err(failure) => failure,
            };
            if !error.is_transient() {
                return Err(error.into_transport(&doing));
            }
            let delay = backoff.next_delay();
            if let Some(limit) = self.config.start_timeout()
                && started.elapsed() + delay > limit
            {
                return Err(error.into_transport(&format!(
                    "{doing} (gave up after start_timeout, {} ms)",
                    limit.as_millis()
                )));
            }
            tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64,
                "starting the Redis RPC server: {doing} failed; retrying (workers may start \
                 before Redis; set start_timeout to give up)");
            tokio::time::sleep(delay).await;
        };
        let shutdown = CancellationToken::new();
        let leases = CancellationToken::new();
        let mut running = Running {
            shutdown: shutdown.clone(),
            leases: leases.clone(),
            loops: Vec::new(),
            lease_loops: Vec::new(),
            workers: Vec::new(),
            unblockers: Vec::new(),
        };
        for (worker, conn, finish) in prepared {
            // Ends by itself once the worker (its only sender) is dropped,
            // after the last handler's reply and ack are written.
            tokio::spawn(finish.run());
            running.unblockers.push(conn.unblocker());
            running.loops.push(tokio::spawn(
                ConsumerLoop {
                    worker: Arc::clone(&worker),
                    conn,
                    shutdown: shutdown.clone(),
                }
                .run(),
            ));
            running.loops.push(tokio::spawn(
                ReclaimLoop {
                    worker: Arc::clone(&worker),
                    period: self.config.reclaim_period(),
                    claim_idle: self.config.consumer_claim_idle(),
                    max_deliveries: self.config.max_deliveries(),
                    shutdown: shutdown.clone(),
                }
                .run(),
            ));
            if self.config.renew_leases() {
                // Not stopped with the other loops: handlers that still run
                // during the shutdown grace keep their leases.
                running.lease_loops.push(tokio::spawn(
                    LeaseLoop {
                        worker: Arc::clone(&worker),
                        period: self.config.lease_period(),
                        shutdown: leases.clone(),
                    }
                    .run(),
                ));
            }
            running.loops.push(tokio::spawn(
                TrimLoop {
                    worker: Arc::clone(&worker),
                    trim: self.config.trim_command_streams(),
                    shutdown: shutdown.clone(),
                }
                .run(),
            ));
            running.workers.push(worker);
        }
        tracing::info!(instance_id = %self.instance_id, ?services, "Redis RPC server started");
        *state = State::Running(running);
        Ok(())
    }

    /// One attempt at what `start()` needs from Redis, per service: the
    /// group, the clock offset and the consumer connection. On failure, says
    /// what was being done.
    async fn prepare(&self, services: &[String]) -> Result<Vec<Prepared>, (String, ConnError)> {
        let mut prepared = Vec::with_capacity(services.len());
        for service in services {
            let (mut worker, finish) = ServiceWorker::new(
                self.config.key_prefix(),
                service,
                &self.instance_id,
                self.dispatcher.clone(),
                Arc::clone(&self.shared),
                self.config.max_concurrency(),
                self.config.reply_stream_maxlen(),
            );
            worker.set_skip_expired(self.config.skip_expired());
            worker.set_handler_timeout(self.config.handler_timeout());
            let worker = Arc::new(worker);
            worker.ensure_group().await.map_err(|e| {
                (
                    format!("creating the consumer group of {}", worker.stream),
                    e,
                )
            })?;
            worker.sync_clock().await.map_err(|e| {
                (
                    "reading Redis's clock (TIME) to compare call deadlines".to_owned(),
                    e,
                )
            })?;
            let mut conn = BlockingConn::new(self.connector.clone());
            conn.connect()
                .await
                .map_err(|e| (format!("opening the consumer connection of {service}"), e))?;
            prepared.push((worker, conn, finish));
        }
        Ok(prepared)
    }

    /// Stops reading, lets in-flight handlers finish within `shutdown_grace`
    /// (their replies are written and entries acked; their leases are renewed
    /// meanwhile, so no other worker runs them a second time), and abandons
    /// the rest: those entries stay pending, marked idle for
    /// `consumer_claim_idle` (`XCLAIM ... IDLE`), so another worker's next
    /// reclaim pass takes them over at once. Waits for every loop; calling it
    /// again (or before `start`) does nothing more.
    pub async fn stop(&self) {
        let mut state = self.state.lock().await;
        let running = match std::mem::replace(&mut *state, State::Stopped) {
            State::Running(r) => r,
            State::Idle | State::Stopped => return,
        };
        let Running {
            shutdown,
            leases,
            loops,
            lease_loops,
            workers,
            unblockers,
        } = running;
        shutdown.cancel();

        // A read that could not be unblocked ends by its BLOCK timeout.
        let loop_wait = consumer::BLOCK + self.config.command_timeout() + Duration::from_secs(1);
        let aborts: Vec<_> = loops.iter().map(JoinHandle::abort_handle).collect();
        if !self.join_unblocking(&unblockers, loops, loop_wait).await {
            tracing::warn!("a server loop did not stop in time; aborting it");
            aborts.iter().for_each(|a| a.abort());
        }

        for w in &workers {
            w.handlers.close();
        }
        let all_done = || join_all(workers.iter().map(|w| w.handlers.wait()));
        if tokio::time::timeout(self.config.shutdown_grace(), all_done())
            .await
            .is_err()
        {
            let unfinished: usize = workers.iter().map(|w| w.handlers.len()).sum();
            tracing::warn!(
                unfinished,
                grace_ms = self.config.shutdown_grace().as_millis() as u64,
                "handlers still running after the shutdown grace; abandoning them \
                 (their entries are handed over to the other workers)"
            );
            // Stop renewing first, so no renewal undoes the hand-over.
            leases.cancel();
            let _ = tokio::time::timeout(loop_wait, join_all(lease_loops)).await;
            let claim_idle = self.config.consumer_claim_idle();
            let abandoned: Vec<Vec<String>> = workers.iter().map(|w| w.in_flight_ids()).collect();
            for w in &workers {
                w.abandon.cancel();
            }
            let _ = tokio::time::timeout(ABANDON_WAIT, all_done()).await;
            join_all(
                workers
                    .iter()
                    .zip(&abandoned)
                    .map(|(w, ids)| w.hand_over(ids, claim_idle)),
            )
            .await;
        } else {
            leases.cancel();
            let _ = tokio::time::timeout(loop_wait, join_all(lease_loops)).await;
        }
        for w in &workers {
            w.slots.close();
        }
        tracing::info!(instance_id = %self.instance_id, "Redis RPC server stopped");
    }
}

impl RedisRpcServer {
    /// Waits up to `limit` for `loops` to end, sending `CLIENT UNBLOCK` for
    /// every parked read now and again every [`UNBLOCK_EVERY`] until they
    /// have: a consumer that checked the shutdown just before it fired parks
    /// its read *after* the first unblock, which then found nothing to end.
    /// Returns whether all loops ended in time.
    async fn join_unblocking(
        &self,
        unblockers: &[Unblocker],
        loops: Vec<JoinHandle<()>>,
        limit: Duration,
    ) -> bool {
        let unblock_all = || join_all(unblockers.iter().map(|u| u.unblock(&self.shared)));
        let joined = join_all(loops);
        tokio::pin!(joined);
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        loop {
            unblock_all().await;
            tokio::select! {
                _ = &mut joined => return true,
                () = &mut deadline => return false,
                () = tokio::time::sleep(UNBLOCK_EVERY) => {}
            }
        }
    }
}

/// What `start()` prepares for one service before any loop runs.
type Prepared = (Arc<ServiceWorker>, BlockingConn, FinishLoop);

impl Drop for RedisRpcServer {
    fn drop(&mut self) {
        if let State::Running(running) = self.state.get_mut() {
            running.shutdown.cancel();
            running.leases.cancel();
            for handle in running.loops.iter().chain(&running.lease_loops) {
                handle.abort();
            }
            for w in &running.workers {
                w.abandon.cancel();
                w.slots.close();
            }
        }
    }
}
