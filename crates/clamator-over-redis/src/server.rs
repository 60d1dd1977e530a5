//! [`RedisRpcServer`]: hosts the services of a [`Dispatcher`] on their command
//! streams, as one worker of a pool that may mix Rust, Python and TypeScript
//! servers. Built with [`RedisRpcServer::builder`], it serves from
//! [`RedisServerBuilder::start`] until [`RedisRpcServer::stop`] (or
//! [`run_until`](RedisRpcServer::run_until)) consumes it.

use std::future::Future;
use std::sync::Arc;

use clamator_protocol::middleware::CallLayer;
use clamator_protocol::{Contract, Dispatcher, DispatcherBuilder, RegisterError, Service};
use futures::future::join_all;

use crate::backoff::Backoff;
use crate::conn::{BlockingConn, ConnError, Connector, SharedConn};
use crate::connect_error::ConnectError;
use crate::group;
use crate::health::{ServerLoop, ServiceHealth};
use crate::options::{ConfigError, ConnectOptions, ServerOptions};
use crate::runner::{ServiceParts, ServiceRunner};

/// Builds a server: where Redis is ([`ConnectOptions`]), how to serve
/// ([`ServerOptions`]), and what (the registered contracts).
#[derive(Debug)]
#[must_use = "a server builder does nothing until start() is awaited"]
pub struct RedisServerBuilder {
    /// Where Redis is, the key prefix.
    conn: ConnectOptions,
    /// How to serve.
    options: ServerOptions,
    /// The services registered so far.
    services: DispatcherBuilder,
    /// A dispatcher given whole, replacing `services`.
    dispatcher: Option<Dispatcher>,
}

impl RedisServerBuilder {
    /// How to serve (concurrency, grace, leases, ...). Default: [`ServerOptions::default`].
    pub fn options(mut self, options: ServerOptions) -> Self {
        self.options = options;
        self
    }

    /// Serves `contract` with `handler`. Fails if the service is already registered.
    pub fn register<C, H>(mut self, contract: C, handler: H) -> Result<Self, RegisterError>
    where
        C: Contract<H>,
    {
        self.services = self.services.register(contract, handler)?;
        Ok(self)
    }

    /// Serves a hand-written [`Service`]. Fails if the service is already registered.
    pub fn register_service(mut self, service: Arc<dyn Service>) -> Result<Self, RegisterError> {
        self.services = self.services.register_service(service)?;
        Ok(self)
    }

    /// Wraps every request's handling in a [`tower::Layer`]: auth, rate or
    /// concurrency limits, logging (see [`clamator_protocol::middleware`]).
    /// The last layer added sees a request first. Applies to the services
    /// registered on this builder (a [`dispatcher`](Self::dispatcher) given
    /// whole brings its own layers).
    pub fn layer(mut self, layer: impl CallLayer) -> Self {
        self.services = self.services.layer(layer);
        self
    }

    /// Serves the services of a dispatcher built elsewhere, instead of the
    /// ones registered on this builder.
    pub fn dispatcher(mut self, dispatcher: Dispatcher) -> Self {
        self.dispatcher = Some(dispatcher);
        self
    }

    /// Checks the options, creates the consumer groups (`XGROUP CREATE
    /// <stream> <service> 0 MKSTREAM`), opens the loops' connections and
    /// starts consuming; returns the running server once every service is
    /// being consumed.
    ///
    /// While Redis is unreachable it retries with backoff (a warning per
    /// attempt), until Redis answers or
    /// [`start_timeout`](ServerOptions::start_timeout) runs out: then it fails
    /// with [`ConnectError::Unreachable`] (or [`ConnectError::Unavailable`]
    /// when Redis kept refusing for now: loading, out of memory, ...). An
    /// error no retry can fix fails at once: [`ConnectError::Refused`] (Redis
    /// refused a command, e.g. the ACL user may not create the group, or the
    /// command stream key is not a stream), [`ConnectError::Tls`] (a failed
    /// TLS handshake). Unusable options, or no service registered, fail with
    /// [`ConnectError::Config`] holding a [`ConfigError`].
    pub async fn start(self) -> Result<RedisRpcServer, ConnectError> {
        self.conn.validate()?;
        self.options.validate()?;
        let dispatcher = match self.dispatcher {
            Some(d) => d,
            None => self.services.build(),
        };
        let services: Vec<String> = dispatcher.service_names().map(str::to_owned).collect();
        if services.is_empty() {
            return Err(ConfigError::NoServices.into());
        }
        let connector = Connector::new(&self.conn);
        let addr = connector.label();
        let starting = Starting {
            instance_id: self.options.new_instance_id(),
            shared: Arc::new(SharedConn::new(connector.clone())),
            connector,
            conn: self.conn,
            options: self.options,
            dispatcher,
        };
        let started = tokio::time::Instant::now();
        let mut backoff = Backoff::default();
        let prepared = loop {
            let (doing, error) = match starting.prepare(&services).await {
                Ok(prepared) => break prepared,
                Err(failure) => failure,
            };
            if !error.is_transient() {
                return Err(error.into_connect(&doing, &addr));
            }
            let delay = backoff.next_delay();
            if let Some(limit) = starting.options.start_timeout
                && started.elapsed() + delay > limit
            {
                let doing = format!(
                    "{doing} (gave up after start_timeout, {} ms)",
                    limit.as_millis()
                );
                return Err(error.into_connect(&doing, &addr));
            }
            tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64,
                "starting the Redis RPC server: {doing} failed; retrying (workers may start \
                 before Redis; set start_timeout to give up)");
            tokio::time::sleep(delay).await;
        };
        let runners = prepared
            .into_iter()
            .map(|(parts, conn)| {
                ServiceRunner::spawn(
                    parts,
                    conn,
                    Arc::clone(&starting.shared),
                    starting.connector.clone(),
                    &starting.options,
                )
            })
            .collect();
        tracing::info!(instance_id = %starting.instance_id, ?services, "Redis RPC server started");
        Ok(RedisRpcServer {
            instance_id: starting.instance_id,
            runners,
        })
    }
}

/// What `start()` holds while it prepares the services.
struct Starting {
    /// The server's instance id.
    instance_id: String,
    /// Replies, acks, group creation, reclaims and unblocks.
    shared: Arc<SharedConn>,
    /// Opens the consumer loops' own connections.
    connector: Connector,
    /// Where Redis is.
    conn: ConnectOptions,
    /// How to serve.
    options: ServerOptions,
    /// The services.
    dispatcher: Dispatcher,
}

/// What `start()` prepares for one service before any loop runs.
type Prepared = (ServiceParts, BlockingConn);

impl Starting {
    /// One attempt at what `start()` needs from Redis, per service: the
    /// group, the clock offset and the consumer connection. On failure, says
    /// what was being done.
    async fn prepare(&self, services: &[String]) -> Result<Vec<Prepared>, (String, ConnError)> {
        let mut prepared = Vec::with_capacity(services.len());
        for service in services {
            let parts = ServiceParts::new(
                &self.conn.key_prefix,
                service,
                &self.instance_id,
                &self.dispatcher,
                &self.options,
                &self.shared,
            );
            let keys = &parts.keys;
            group::ensure(keys, &self.shared).await.map_err(|e| {
                let doing = "creating the consumer group of";
                (format!("{doing} {} (XGROUP CREATE)", keys.stream), e)
            })?;
            group::heal_at_start(keys, &self.shared)
                .await
                .map_err(|e| {
                    let doing = "checking the consumer group of";
                    (
                        format!(
                            "{doing} {} for a skipped backlog (XINFO GROUPS)",
                            keys.stream
                        ),
                        e,
                    )
                })?;
            parts
                .pool
                .worker()
                .sync_clock(&self.shared)
                .await
                .map_err(|e| {
                    (
                        "reading Redis's clock (TIME) to compare call deadlines".to_owned(),
                        e,
                    )
                })?;
            if let Some(dedupe) = parts.pool.worker().dedupe() {
                dedupe.check().await.map_err(|e| {
                    let doing = "writing a dedupe record under";
                    (
                        format!("{doing} {}:dedupe:{service} (SET)", self.conn.key_prefix),
                        e,
                    )
                })?;
            }
            let mut conn = BlockingConn::new(self.connector.clone(), &keys.stream);
            conn.connect()
                .await
                .map_err(|e| (format!("opening the consumer connection of {service}"), e))?;
            prepared.push((parts, conn));
        }
        Ok(prepared)
    }
}

/// A running server: serves every registered service over Redis Streams
/// until [`stop`](Self::stop) or [`run_until`](Self::run_until) consumes it.
///
/// Per service a runner owns a consumer loop (`XREADGROUP` on a connection of
/// its own), a reclaim loop (claims entries another worker left pending
/// longer than `consumer_claim_idle`, dead-letters those delivered
/// `max_deliveries` times), a lease loop, a housekeeping loop (group
/// checks and metrics, the poison-log summary, trimming) and a finish loop
/// (replies and acks, batched on one shared multiplexed connection);
/// handlers run concurrently up to `max_concurrency`. A loop that panics is
/// logged, counted and restarted with backoff; [`health`](Self::health)
/// tells.
///
/// Dropping it without `stop()` aborts every task at once; the entries of
/// running handlers stay pending and another worker reclaims them after
/// `consumer_claim_idle`.
#[derive(Debug)]
#[must_use = "dropping a running server stops it at once, abandoning its handlers; call stop()"]
pub struct RedisRpcServer {
    /// Names this server's consumers.
    instance_id: String,
    /// One per service; each owns its tasks (`health_probe` in `health`).
    pub(crate) runners: Vec<ServiceRunner>,
}

impl RedisRpcServer {
    /// A builder for a server on the Redis and key prefix of `conn`.
    pub fn builder(conn: ConnectOptions) -> RedisServerBuilder {
        RedisServerBuilder {
            conn,
            options: ServerOptions::default(),
            services: Dispatcher::builder(),
            dispatcher: None,
        }
    }

    /// This server's instance id (its consumers are `<service>:<instance_id>`).
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The services served.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.runners.iter().map(ServiceRunner::service)
    }

    /// The health of each service served, in the order of
    /// [`services`](Self::services): whether each of its loops runs, how
    /// often they were restarted after a panic, whether Redis answered the
    /// last check (once a second) and when it last did, and whether the
    /// service's consumer group exists. Cheap: reads a few atomics per
    /// service; sends nothing to Redis.
    pub fn health(&self) -> Vec<ServiceHealth> {
        self.runners.iter().map(ServiceRunner::health).collect()
    }

    /// Fault injection for tests: makes loop `which` (`consumer`,
    /// `reclaim`, `lease`, `housekeeping`, `finish`: [`ServerLoop::name`]) of
    /// `service` panic at its next pass (the consumer's next read, the
    /// finish loop's next round, a periodic loop's next tick), as a bug
    /// would. Returns whether the service is served here and runs that loop.
    /// Not part of the stable API.
    #[doc(hidden)]
    pub fn __inject_panic(&self, service: &str, which: &str) -> bool {
        let which = ServerLoop::ALL.into_iter().find(|l| l.name() == which);
        let runner = self.runners.iter().find(|r| r.service() == service);
        match (runner, which) {
            (Some(runner), Some(which)) => {
                runner.inject_panic(which);
                true
            }
            _ => false,
        }
    }

    /// Stops reading, lets in-flight handlers finish within `shutdown_grace`
    /// (their replies are written and entries acked; their leases are renewed
    /// meanwhile, so no other worker runs them a second time), and abandons
    /// the rest: those entries stay pending, marked idle for
    /// `consumer_claim_idle` (`XCLAIM ... IDLE`), so another worker's next
    /// reclaim pass takes them over at once. Returns when every task has
    /// ended.
    ///
    /// Cancel-safe: if this future is dropped (a `timeout` around it fired),
    /// what is left is aborted as if the server were dropped; nothing keeps
    /// running.
    pub async fn stop(self) {
        let instance_id = self.instance_id;
        join_all(self.runners.into_iter().map(ServiceRunner::stop)).await;
        tracing::info!(%instance_id, "Redis RPC server stopped");
    }

    /// Serves until `signal` completes, then stops as [`stop`](Self::stop)
    /// does. For example `server.run_until(tokio::signal::ctrl_c().map(|_| ()))`.
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        self.stop().await;
    }
}
