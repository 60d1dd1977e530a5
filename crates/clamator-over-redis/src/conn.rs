//! The connection layer: every Redis connection the transport opens, and the
//! one place that knows the `redis` crate's connection types.
//!
//! Two kinds of connection (REDIS-NOTES "Blocking reads"):
//! - [`SharedConn`]: one multiplexed connection per server or client, shared by
//!   every task, for the commands that must never wait behind a blocked read
//!   (XADD, XACK, DEL, XPENDING, XCLAIM, XGROUP). It reconnects lazily after a
//!   failure and fails fast (with backoff) while Redis is unreachable.
//! - [`BlockingConn`]: a connection of its own for one blocking loop
//!   (`XREADGROUP ... BLOCK`, `XREAD ... BLOCK`), with redis-rs's response
//!   timeout disabled; its loop reconnects with [`Backoff`].
//!
//! Every command is bounded by our own timeout. Every command touches one
//! key, so a Redis Cluster connection can later replace the multiplexed one here.
//!
//! Why not redis-rs's `ConnectionManager`: it reconnects transparently, and
//! while Redis is down each command waits for its own reconnect attempt; we
//! need the opposite: fail fast (a call made while Redis is down fails within
//! its timeout, the shared connection refuses commands for a backoff delay
//! after a failed connect instead of piling up attempts), run a pipeline on
//! every new connection (a client re-creates its reply stream before the
//! first request on it), and know the connection's client id for `CLIENT
//! UNBLOCK`. So the crate's `connection-manager` feature is not enabled.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use clamator_protocol::TransportError;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, FromRedisValue, Pipeline, RedisError};
use tokio::time::Instant;

use crate::backoff::Backoff;

/// The longest the shared connection refuses commands after a failed connect.
const SHARED_RETRY_MAX: Duration = Duration::from_secs(1);

/// A Redis command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    /// Redis answered with an error, or the connection failed.
    #[error("{0}")]
    Redis(#[from] RedisError),
    /// No answer within our own bound.
    #[error("no answer from Redis within {} ms", .0.as_millis())]
    TimedOut(Duration),
    /// A TLS handshake failed (certificates, or a port of the other kind).
    #[error("{0}")]
    Tls(#[source] crate::tls::TlsHandshakeError),
    /// A recent connect failed; the shared connection waits before the next try.
    #[error("Redis is unreachable (last connect failed: {last_error}); retrying in {} ms", .retry_in.as_millis())]
    Unreachable {
        /// What the last connect attempt said.
        last_error: String,
        /// When the next attempt is allowed.
        retry_in: Duration,
    },
}

impl ConnError {
    /// The consumer group (or its stream) does not exist: Redis lost it.
    pub(crate) fn is_no_group(&self) -> bool {
        matches!(self, ConnError::Redis(e) if e.code() == Some("NOGROUP"))
    }

    /// The group exists already (a harmless answer to XGROUP CREATE).
    pub(crate) fn is_busy_group(&self) -> bool {
        matches!(self, ConnError::Redis(e) if e.code() == Some("BUSYGROUP"))
    }

    /// Whether trying again later may succeed: the connection failed or timed
    /// out, or Redis is loading its data set or not yet able to serve.
    /// Refusals (a wrong password, a forbidden command, a key of the wrong
    /// type) are not: retrying would only hide them.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            ConnError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || matches!(
                        e.code(),
                        Some("LOADING" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN" | "BUSY")
                    )
            }
            ConnError::TimedOut(_) | ConnError::Unreachable { .. } => true,
            ConnError::Tls(e) => e.is_transient(),
        }
    }

    /// Whether the connection that produced this error must be replaced.
    fn breaks_connection(&self) -> bool {
        match self {
            ConnError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_unrecoverable_error()
                    || e.kind() == redis::ErrorKind::Parse
            }
            // No answer within the bound: the connection may be half-open.
            ConnError::TimedOut(_) | ConnError::Tls(_) => true,
            ConnError::Unreachable { .. } => false,
        }
    }

    /// Whether the command surely or probably never ran, and a retry on a fresh
    /// connection is worth one attempt.
    fn is_dropped_connection(&self) -> bool {
        matches!(self, ConnError::Redis(e) if e.is_connection_dropped())
    }

    /// What to change when Redis refuses a command, by its error code;
    /// `None` for failures that are not refusals.
    fn refusal_hint(&self) -> Option<&'static str> {
        let ConnError::Redis(e) = self else {
            return None;
        };
        if e.kind() == redis::ErrorKind::AuthenticationFailed {
            return Some(
                "check the username and password (in the URL, redis://user:password@host); \
                 a wrong password is not retried",
            );
        }
        match e.code()? {
            "NOPERM" => Some(
                "grant the ACL user this command or key (README, \"Production Redis\": \
                 the minimal ACL per role)",
            ),
            "NOAUTH" | "WRONGPASS" => Some(
                "check the username and password (in the URL, redis://user:password@host); \
                 a wrong password is not retried",
            ),
            "WRONGTYPE" => Some(
                "the key holds another type: pick another key prefix, or remove the key if \
                 it is a leftover",
            ),
            "READONLY" => Some("this Redis is a replica: connect to the primary"),
            _ => None,
        }
    }

    /// As a transport error, saying what was being done: a refusal
    /// ([`TransportError::Refused`], with what to change) or a lost
    /// connection.
    pub(crate) fn into_transport(self, doing: &str) -> TransportError {
        match self.refusal_hint() {
            Some(hint) => TransportError::Refused {
                doing: doing.to_owned(),
                message: self.to_string(),
                hint,
                source: Some(Box::new(self)),
            },
            None => TransportError::connection_lost(format!("{doing} failed: {self}"), self),
        }
    }
}

/// Opens connections from a [`Client`].
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    /// Where Redis is; only opens connections.
    client: Client,
    /// Bound on opening a connection and on one non-blocking command.
    command_timeout: Duration,
}

impl Connector {
    /// A connector for `client`.
    pub(crate) fn new(client: Client, command_timeout: Duration) -> Self {
        Connector {
            client,
            command_timeout,
        }
    }

    /// The bound on one non-blocking command.
    pub(crate) fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// Opens a multiplexed connection with redis-rs's own response timeout
    /// disabled: we bound every command ourselves, with a budget that fits it
    /// (a blocking read needs more than 500 ms).
    async fn open(&self) -> Result<MultiplexedConnection, ConnError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.command_timeout))
            .set_response_timeout(None);
        // Opening has been seen to hang: bound it here too.
        let opened = match tokio::time::timeout(
            self.command_timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Ok(result) => result.map_err(ConnError::from),
            Err(_) => Err(ConnError::TimedOut(self.command_timeout)),
        };
        match opened {
            Ok(conn) => Ok(conn),
            // Says so when TLS (or the lack of it) is why.
            Err(e) => {
                Err(
                    crate::tls::explain_connect_failure(&self.client, e, self.command_timeout)
                        .await,
                )
            }
        }
    }
}

/// Runs a command under a time bound.
async fn bounded<T, F>(limit: Duration, fut: F) -> Result<T, ConnError>
where
    F: std::future::Future<Output = Result<T, RedisError>>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ConnError::TimedOut(limit)),
    }
}

/// What the shared connection holds.
#[derive(Debug)]
enum Slot {
    /// Connected; the generation tells a stale failure report from a fresh one.
    Up {
        generation: u64,
        conn: MultiplexedConnection,
    },
    /// Not connected; the next connect is allowed at `retry_at`.
    Down {
        retry_at: Option<Instant>,
        last_error: String,
    },
}

/// One multiplexed connection shared by all tasks of a server or client, for
/// every command that must not wait behind a blocking read.
#[derive(Debug)]
pub(crate) struct SharedConn {
    /// Opens the connection, again after each failure.
    connector: Connector,
    /// The connection or the reason there is none; a lock so one task connects
    /// while the others wait for it.
    slot: tokio::sync::Mutex<Slot>,
    /// Spaces connect attempts while Redis is unreachable.
    backoff: std::sync::Mutex<Backoff>,
    /// Counts connections opened, to tag [`Slot::Up`].
    generations: std::sync::atomic::AtomicU64,
    /// Run on every new connection before any other command (a client
    /// re-creates its reply stream there: Redis may have restarted empty).
    on_connect: Option<Pipeline>,
}

impl SharedConn {
    /// A shared connection, opened on first use.
    pub(crate) fn new(connector: Connector) -> Self {
        SharedConn {
            connector,
            slot: tokio::sync::Mutex::new(Slot::Down {
                retry_at: None,
                last_error: String::new(),
            }),
            backoff: std::sync::Mutex::new(Backoff::new(crate::backoff::INITIAL, SHARED_RETRY_MAX)),
            generations: std::sync::atomic::AtomicU64::new(0),
            on_connect: None,
        }
    }

    /// A shared connection that runs `pipeline` on every connection it opens,
    /// before anything else; a failure there counts as a failed connect.
    pub(crate) fn with_on_connect(connector: Connector, pipeline: Pipeline) -> Self {
        SharedConn {
            on_connect: Some(pipeline),
            ..SharedConn::new(connector)
        }
    }

    /// The bound on one command.
    pub(crate) fn command_timeout(&self) -> Duration {
        self.connector.command_timeout()
    }

    fn backoff(&self) -> std::sync::MutexGuard<'_, Backoff> {
        self.backoff.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current connection, opening one if needed.
    async fn get(&self) -> Result<(u64, MultiplexedConnection), ConnError> {
        let mut slot = self.slot.lock().await;
        if let Slot::Up { generation, conn } = &*slot {
            return Ok((*generation, conn.clone()));
        }
        if let Slot::Down {
            retry_at: Some(at),
            last_error,
        } = &*slot
        {
            let now = Instant::now();
            if *at > now {
                return Err(ConnError::Unreachable {
                    last_error: last_error.clone(),
                    retry_in: *at - now,
                });
            }
        }
        let opened = match self.connector.open().await {
            Ok(mut conn) => match &self.on_connect {
                None => Ok(conn),
                Some(pipe) => bounded(self.command_timeout(), pipe.query_async::<()>(&mut conn))
                    .await
                    .map(|()| conn),
            },
            Err(e) => Err(e),
        };
        match opened {
            Ok(conn) => {
                let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
                self.backoff().reset();
                tracing::debug!(generation, "shared Redis connection opened");
                *slot = Slot::Up {
                    generation,
                    conn: conn.clone(),
                };
                Ok((generation, conn))
            }
            Err(e) => {
                let delay = self.backoff().next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64,
                    "cannot connect to Redis");
                *slot = Slot::Down {
                    retry_at: Some(Instant::now() + delay),
                    last_error: e.to_string(),
                };
                Err(e)
            }
        }
    }

    /// Drops connection `generation` after it failed (unless already replaced).
    async fn invalidate(&self, generation: u64, error: &ConnError) {
        let mut slot = self.slot.lock().await;
        if matches!(&*slot, Slot::Up { generation: g, .. } if *g == generation) {
            tracing::warn!(%error, "shared Redis connection failed; reconnecting on next use");
            *slot = Slot::Down {
                retry_at: None,
                last_error: error.to_string(),
            };
        }
    }

    /// Runs `run` on the connection within `limit` overall; on a dropped
    /// connection, once more on a fresh one if time is left.
    async fn with_conn<T, F, Fut>(&self, limit: Duration, run: F) -> Result<T, ConnError>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let deadline = Instant::now() + limit;
        let mut retried = false;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            // The generation the attempt runs on (0: none yet), for the timeout case.
            let used = std::sync::atomic::AtomicU64::new(0);
            let attempt = async {
                let (generation, conn) = self.get().await.map_err(|e| (None, e))?;
                used.store(generation, Ordering::Relaxed);
                run(conn)
                    .await
                    .map_err(|e| (Some(generation), ConnError::from(e)))
            };
            let (generation, error) = match tokio::time::timeout(remaining, attempt).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(failure)) => failure,
                Err(_) => {
                    let error = ConnError::TimedOut(limit);
                    // Silence for a whole command timeout suggests a half-open
                    // connection: replace it. A caller's shorter budget running
                    // out says nothing about the connection (the multiplexer
                    // discards the late reply), and replacing it then would
                    // churn connections under load.
                    let g = used.load(Ordering::Relaxed);
                    if g != 0 && limit >= self.command_timeout() {
                        self.invalidate(g, &error).await;
                    }
                    return Err(error);
                }
            };
            if let Some(g) = generation
                && error.breaks_connection()
            {
                self.invalidate(g, &error).await;
            }
            if !retried && error.is_dropped_connection() && Instant::now() < deadline {
                retried = true;
                continue;
            }
            return Err(error);
        }
    }

    /// Runs one command within `limit`.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        limit: Duration,
    ) -> Result<T, ConnError> {
        self.with_conn(
            limit,
            |mut conn| async move { cmd.query_async(&mut conn).await },
        )
        .await
    }

    /// Runs a pipeline in one round trip within `limit`. (Its commands may
    /// touch keys in different cluster slots; a cluster connection routes each.)
    pub(crate) async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipe: &Pipeline,
        limit: Duration,
    ) -> Result<T, ConnError> {
        self.with_conn(limit, |mut conn| async move {
            pipe.query_async(&mut conn).await
        })
        .await
    }
}

/// The Redis client id of a blocking connection, for `CLIENT UNBLOCK`: lets
/// `stop()` end a parked read at once instead of waiting out its BLOCK.
/// (On a cluster, the unblock must go to the node holding the read's stream.)
#[derive(Debug, Clone, Default)]
pub(crate) struct Unblocker {
    /// The id, or 0 while not connected.
    client_id: Arc<AtomicI64>,
}

impl Unblocker {
    /// Asks Redis to end the blocked read, if any, as if it timed out.
    /// Best effort: a failure only means the read ends by its own BLOCK timeout.
    pub(crate) async fn unblock(&self, shared: &SharedConn) {
        let id = self.client_id.load(Ordering::SeqCst);
        if id == 0 {
            return;
        }
        let mut cmd = redis::cmd("CLIENT");
        cmd.arg("UNBLOCK").arg(id);
        let limit = shared.command_timeout().min(Duration::from_secs(1));
        if let Err(e) = shared.query::<redis::Value>(&cmd, limit).await {
            tracing::debug!(error = %e, "CLIENT UNBLOCK failed; the read ends at its BLOCK timeout");
        }
    }
}

/// A connection of its own for one blocking loop.
#[derive(Debug)]
pub(crate) struct BlockingConn {
    /// Opens the connection, again after each failure.
    connector: Connector,
    /// The connection; `None` until connected and after a failure.
    conn: Option<MultiplexedConnection>,
    /// Shares the client id with `stop()`.
    unblocker: Unblocker,
    /// Spaces reconnect attempts.
    backoff: Backoff,
    /// Whether to learn the client id for `CLIENT UNBLOCK` (servers' reads;
    /// a client's reply loop is aborted, never unblocked).
    learn_id: bool,
}

impl BlockingConn {
    /// A blocking connection, opened by [`BlockingConn::connect`].
    pub(crate) fn new(connector: Connector) -> Self {
        BlockingConn {
            connector,
            conn: None,
            unblocker: Unblocker::default(),
            backoff: Backoff::default(),
            learn_id: true,
        }
    }

    /// A blocking connection that is never unblocked: it does not ask for
    /// its client id (one command fewer to grant the client's ACL user).
    pub(crate) fn never_unblocked(connector: Connector) -> Self {
        BlockingConn {
            learn_id: false,
            ..Self::new(connector)
        }
    }

    /// The handle `stop()` uses to end a parked read.
    pub(crate) fn unblocker(&self) -> Unblocker {
        self.unblocker.clone()
    }

    /// Whether a connection is open.
    pub(crate) fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Opens the connection and learns its client id.
    pub(crate) async fn connect(&mut self) -> Result<(), ConnError> {
        let mut conn = self.connector.open().await?;
        if !self.learn_id {
            self.conn = Some(conn);
            return Ok(());
        }
        let id = bounded(
            self.connector.command_timeout(),
            redis::cmd("CLIENT").arg("ID").query_async::<i64>(&mut conn),
        )
        .await;
        let id = match id {
            Ok(id) => id,
            Err(e) if e.breaks_connection() => return Err(e),
            // CLIENT may be disabled (managed Redis) or not granted to the
            // ACL user: stop() then waits out the read's BLOCK (1 s). Said
            // once per process at info level, then at debug level.
            Err(e) => {
                static TOLD: std::sync::Once = std::sync::Once::new();
                let mut first = false;
                TOLD.call_once(|| first = true);
                if first {
                    tracing::info!(error = %e,
                        "CLIENT ID is refused (an ACL without client|id and client|unblock, \
                         or a managed Redis): a stop waits up to 1 s for parked reads \
                         instead of ending them at once");
                } else {
                    tracing::debug!(error = %e, "CLIENT ID refused");
                }
                0
            }
        };
        self.unblocker.client_id.store(id, Ordering::SeqCst);
        self.conn = Some(conn);
        Ok(())
    }

    /// Reconnects after a failure, waiting a backoff delay before each attempt;
    /// returns `false` when `shutdown` fired first.
    pub(crate) async fn reconnect(
        &mut self,
        what: &str,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> bool {
        loop {
            let delay = self.backoff.next_delay();
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(delay) => {}
            }
            match self.connect().await {
                Ok(()) => {
                    tracing::info!(loop_name = what, "reconnected to Redis");
                    return true;
                }
                Err(e) => {
                    tracing::warn!(loop_name = what, error = %e, "reconnecting to Redis failed; retrying");
                }
            }
        }
    }

    /// Runs a blocking command that blocks up to `block`; bounded by `block`
    /// plus the command timeout. A failure that breaks the connection drops it
    /// (check [`BlockingConn::is_connected`]); a success resets the backoff.
    pub(crate) async fn query<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        block: Duration,
    ) -> Result<T, ConnError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(ConnError::Unreachable {
                last_error: "not connected".to_owned(),
                retry_in: Duration::ZERO,
            });
        };
        let limit = block + self.connector.command_timeout();
        let result = bounded(limit, cmd.query_async(conn)).await;
        match &result {
            Ok(_) => self.backoff.reset(),
            Err(e) if e.breaks_connection() => {
                self.conn = None;
                self.unblocker.client_id.store(0, Ordering::SeqCst);
            }
            Err(_) => {}
        }
        result
    }
}
