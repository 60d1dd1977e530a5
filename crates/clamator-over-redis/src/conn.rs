//! The connection layer: every Redis connection the transport opens, and the
//! one place that knows the `redis` crate's connection types.
//!
//! Two kinds of connection, because Redis answers one connection's commands
//! in order: while an `XREADGROUP ... BLOCK` is parked, every command queued
//! behind it on that socket waits for it.
//! - [`SharedConn`]: one multiplexed connection per server or client, shared by
//!   every task, for the commands that must never wait behind a blocked read
//!   (XADD, XACK, DEL, XPENDING, XCLAIM, XGROUP). It reconnects lazily after a
//!   failure and fails fast (with backoff) while Redis is unreachable.
//! - [`BlockingConn`]: a connection of its own for one blocking loop
//!   (`XREADGROUP ... BLOCK`, `XREAD ... BLOCK`), with redis-rs's response
//!   timeout disabled: its default of 500 ms would end a `BLOCK 1000` read
//!   early, and an entry Redis then hands to an abandoned `XREADGROUP` would
//!   sit in the pending list unseen until reclaimed. Its loop reconnects
//!   with [`Backoff`].
//!
//! Every command is bounded by our own timeout. Every command touches one
//! key, so on a Redis Cluster ([`Conn::Cluster`]) each is routed by its key;
//! the few that must reach a given node (`CLIENT ID`, `CLIENT UNBLOCK`) are
//! routed to the primary of a key explicitly ([`Conn::query_on_primary_of`]).
//!
//! Where a connection goes ([`Connector`]): one address (a URL, a caller's
//! client), or with Sentinel the primary the sentinels name *at this
//! connect*: nothing is cached, so every reconnect after a failover (of the
//! shared connection and of each blocking loop) finds the new primary. A
//! connection left on a node that is no longer the primary breaks on its
//! next command (`READONLY` for writes and `XREADGROUP`, `UNBLOCKED` for a
//! parked read, or the cut Sentinel makes when it reconfigures the node) and
//! is replaced like a dropped one.
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
use std::sync::atomic::Ordering;
use std::time::Duration;

use clamator_protocol::TransportError;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Client, Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, Value,
};
#[cfg(feature = "sentinel")]
use redis::{
    ConnectionAddr,
    sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType},
};
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::options::ConnectOptions;

/// How late a blocking read's answer may be, after its BLOCK time, before its
/// connection is taken for dead ([`BlockingConn::query`]).
pub(crate) const BLOCK_MARGIN: Duration = Duration::from_millis(500);
/// The longest the shared connection refuses commands after a failed connect.
const SHARED_RETRY_MAX: Duration = Duration::from_secs(1);
/// With Sentinel, the longest a blocking loop waits between two reconnects:
/// an attempt only asks the sentinels, and a failover completes seconds
/// after `down-after-milliseconds`, so loops resume promptly after it.
#[cfg(feature = "sentinel")]
const SENTINEL_RECONNECT_MAX: Duration = Duration::from_secs(1);

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
    /// No sentinel named a primary that answered as one.
    #[cfg_attr(not(feature = "sentinel"), allow(dead_code))]
    #[error(
        "no sentinel named a reachable primary {name:?} ({source}): a failover may be in \
         progress (retrying); if this lasts, check the sentinel addresses, the primary name \
         (`sentinel monitor <name> ...`) and the credentials"
    )]
    NoPrimary {
        /// The primary's name.
        name: String,
        /// What the last sentinel or candidate said.
        #[source]
        source: RedisError,
    },
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
    /// out, Redis is loading its data set or not yet able to serve, or the
    /// node is no longer the primary (a failover: `READONLY`, `UNBLOCKED`,
    /// `MASTERDOWN`), Redis is out of memory under `maxmemory` (`OOM`, until
    /// memory is freed) or lacks the replicas `min-replicas-to-write` asks
    /// for (`NOREPLICAS`), or no sentinel names a primary yet.
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
                        redis_code(e).as_deref(),
                        Some(
                            "LOADING"
                                | "MASTERDOWN"
                                | "TRYAGAIN"
                                | "CLUSTERDOWN"
                                | "BUSY"
                                | "OOM"
                                | "NOREPLICAS"
                        )
                    )
                    || is_wrong_node(e)
            }
            ConnError::NoPrimary { source, .. } => !is_refusal(source),
            ConnError::TimedOut(_) | ConnError::Unreachable { .. } => true,
            ConnError::Tls(e) => e.is_transient(),
        }
    }

    /// Whether the connection that produced this error must be replaced:
    /// it failed, or it is on a node that is no longer the primary (a new
    /// connection goes where Redis, or Sentinel, now says).
    fn breaks_connection(&self) -> bool {
        match self {
            ConnError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_unrecoverable_error()
                    || e.kind() == redis::ErrorKind::Parse
                    || is_wrong_node(e)
            }
            // No answer within the bound: the connection may be half-open.
            ConnError::TimedOut(_) | ConnError::Tls(_) => true,
            ConnError::NoPrimary { .. } | ConnError::Unreachable { .. } => false,
        }
    }

    /// Whether the command surely never ran, and a retry on a fresh
    /// connection is worth one attempt: the connection dropped, or the node
    /// refused it as a replica.
    fn is_dropped_connection(&self) -> bool {
        matches!(self, ConnError::Redis(e) if e.is_connection_dropped() || is_wrong_node(e))
    }
}

/// The error code Redis answered with (`OOM`, `READONLY`, ...), also when
/// the error is a pipeline's (redis-rs then gives no code of its own: the
/// first failed command's is taken).
pub(crate) fn redis_code(e: &RedisError) -> Option<std::borrow::Cow<'_, str>> {
    if let Some(code) = e.code() {
        return Some(std::borrow::Cow::Borrowed(code));
    }
    let errors = e.clone().into_server_errors()?;
    errors
        .first()
        .map(|(_, s)| std::borrow::Cow::Owned(s.code().to_owned()))
}

/// The node is no longer (or not) the primary: writes and `XREADGROUP` there
/// fail with `READONLY`, a read parked there when it was demoted ends with
/// `UNBLOCKED`, and a replica whose primary is unreachable answers
/// `MASTERDOWN`. Also `UNBLOCKED` when a parked read's stream was deleted;
/// a reconnect is harmless then.
fn is_wrong_node(e: &RedisError) -> bool {
    matches!(
        redis_code(e).as_deref(),
        Some("READONLY" | "UNBLOCKED" | "MASTERDOWN")
    )
}

/// Errors a retry cannot fix: bad credentials, a forbidden command, a
/// configuration redis-rs rejects.
fn is_refusal(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        redis::ErrorKind::AuthenticationFailed | redis::ErrorKind::InvalidClientConfig
    ) || matches!(
        redis_code(e).as_deref(),
        Some("WRONGPASS" | "NOAUTH" | "NOPERM")
    )
}

impl ConnError {
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
        match redis_code(e)?.as_ref() {
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

    /// What to check when Redis refuses a command for now (it may pass),
    /// by its error code; `None` for anything else.
    fn for_now_hint(&self) -> Option<&'static str> {
        let ConnError::Redis(e) = self else {
            return None;
        };
        match redis_code(e)?.as_ref() {
            "OOM" => Some(
                "Redis is full (used_memory above maxmemory, policy noeviction): free memory, \
                 raise maxmemory, or let the backlog drain; the request was not sent",
            ),
            "LOADING" => Some("Redis is loading its data set after a restart; try again shortly"),
            "BUSY" => Some("Redis is busy running a script or function; try again shortly"),
            "NOREPLICAS" => Some(
                "Redis has fewer replicas than min-replicas-to-write asks for; check its replicas",
            ),
            "MASTERDOWN" => {
                Some("this replica lost its primary (a failover in progress?); try again shortly")
            }
            "TRYAGAIN" | "CLUSTERDOWN" => {
                Some("the cluster is moving slots or failing over; try again shortly")
            }
            _ => None,
        }
    }

    /// As a transport error, saying what was being done: a refusal for now
    /// ([`TransportError::Unavailable`]: Redis is full, loading, ...), a
    /// refusal ([`TransportError::Refused`], with what to change) or a lost
    /// connection.
    pub(crate) fn into_transport(self, doing: &str) -> TransportError {
        if let Some(hint) = self.for_now_hint() {
            return TransportError::Unavailable {
                doing: doing.to_owned(),
                message: self.to_string(),
                hint,
                source: Some(Box::new(self)),
            };
        }
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

/// An open connection: to one Redis, or to a Redis Cluster (a redis-rs
/// cluster connection: one multiplexed connection per node, each command
/// routed by its key, `MOVED`/`ASK` and failovers followed). Both run any
/// [`redis::Cmd`] (it implements [`ConnectionLike`]), so tools that inspect
/// clamator's keys directly (the `clamator` CLI, tests) work on either.
#[derive(Clone)]
pub enum Conn {
    /// One Redis.
    Single(MultiplexedConnection),
    /// A Redis Cluster.
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Single(_) => "Conn::Single",
            #[cfg(feature = "cluster")]
            Conn::Cluster(_) => "Conn::Cluster",
        })
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// Whether this is a cluster connection.
    pub fn is_cluster(&self) -> bool {
        match self {
            Conn::Single(_) => false,
            #[cfg(feature = "cluster")]
            Conn::Cluster(_) => true,
        }
    }

    /// Runs `cmd` on the primary that owns `key`'s slot (a cluster), or on
    /// the one node. For commands that name no key but must reach a given
    /// node: `CLIENT ID`, `CLIENT UNBLOCK`.
    #[cfg_attr(not(feature = "cluster"), allow(unused_variables))]
    async fn query_on_primary_of<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        key: &str,
    ) -> Result<T, RedisError> {
        match self {
            Conn::Single(c) => cmd.query_async(c).await,
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => {
                use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                    Route::with_key(key, SlotAddr::Master),
                ));
                let value = c.route_command(cmd.clone(), route).await?;
                T::from_redis_value(value).map_err(RedisError::from)
            }
        }
    }
}

/// Where a [`Connector`] connects.
#[derive(Debug, Clone)]
enum Target {
    /// One address: a URL, or a client the caller made.
    Direct(Box<Client>),
    /// A Redis Cluster, through its seeds.
    #[cfg(feature = "cluster")]
    Cluster(Box<crate::cluster::ClusterTarget>),
    /// The primary the sentinels name at each connect.
    #[cfg(feature = "sentinel")]
    Sentinel(Arc<SentinelResolver>),
}

/// Asks the sentinels where the primary is, at every connect.
#[cfg(feature = "sentinel")]
struct SentinelResolver {
    /// The sentinels, the primary's name, the credentials.
    target: crate::sentinel::SentinelTarget,
    /// Built at the first connect; keeps its connections to the sentinels
    /// (never the primary's address). Locked while one loop resolves, so the
    /// loops of one server or client ask one at a time.
    client: tokio::sync::Mutex<Option<SentinelClient>>,
}

#[cfg(feature = "sentinel")]
impl std::fmt::Debug for SentinelResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelResolver")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "sentinel")]
impl SentinelResolver {
    fn build(&self) -> Result<SentinelClient, RedisError> {
        let t = &self.target;
        let addrs = t
            .addrs
            .iter()
            .map(|(host, port)| ConnectionAddr::Tcp(host.clone(), *port));
        let mut b =
            SentinelClientBuilder::new(addrs, t.primary_name(), SentinelServerType::Master)?;
        if let Some(user) = t.primary_username() {
            b = b.set_client_to_redis_username(user);
        }
        if let Some(password) = t.primary_password() {
            b = b.set_client_to_redis_password(password);
        }
        if t.db() != 0 {
            b = b.set_client_to_redis_db(t.db());
        }
        if let Some(user) = t.sentinel_username() {
            b = b.set_client_to_sentinel_username(user);
        }
        if let Some(password) = t.sentinel_password() {
            b = b.set_client_to_sentinel_password(password);
        }
        b.build()
    }

    /// A client of the current primary: asks the sentinels (`SENTINEL
    /// MASTERS`), skips a primary they flag down, and checks with `ROLE` that
    /// the node named is a primary. Cancel-safe (redis-rs caches only
    /// verified sentinel connections).
    async fn primary(&self) -> Result<Client, ConnError> {
        let no_primary = |source| ConnError::NoPrimary {
            name: self.target.primary_name().to_owned(),
            source,
        };
        let mut guard = self.client.lock().await;
        if guard.is_none() {
            *guard = Some(self.build().map_err(no_primary)?);
        }
        let Some(sentinels) = guard.as_mut() else {
            return Err(ConnError::Unreachable {
                last_error: "the Sentinel client was not built".to_owned(),
                retry_in: Duration::ZERO,
            });
        };
        let client = sentinels.async_get_client().await.map_err(no_primary)?;
        tracing::debug!(primary = ?client.get_connection_info().addr(),
            name = self.target.primary_name(), "Sentinel named the primary");
        Ok(client)
    }
}

/// Opens connections: to one address, or to the primary Sentinel names.
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    /// Where connections go.
    target: Target,
    /// Bound on opening a connection and on one non-blocking command.
    command_timeout: Duration,
}

impl Connector {
    /// A connector for `options` (a fresh Sentinel client per connector:
    /// one per server or client, shared by its loops).
    pub(crate) fn new(options: &ConnectOptions) -> Self {
        #[cfg(feature = "sentinel")]
        if let Some(target) = &options.sentinel {
            return Connector {
                target: Target::Sentinel(Arc::new(SentinelResolver {
                    target: target.clone(),
                    client: tokio::sync::Mutex::new(None),
                })),
                command_timeout: options.command_timeout,
            };
        }
        #[cfg(feature = "cluster")]
        if let Some(target) = &options.cluster {
            return Connector {
                target: Target::Cluster(Box::new(target.clone())),
                command_timeout: options.command_timeout,
            };
        }
        Connector {
            target: Target::Direct(Box::new(options.client.clone())),
            command_timeout: options.command_timeout,
        }
    }

    /// The bound on one non-blocking command.
    pub(crate) fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// Whether connections go to a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        match &self.target {
            #[cfg(feature = "cluster")]
            Target::Cluster(_) => true,
            _ => false,
        }
    }

    /// Names where connections go: the address, or the Sentinel deployment.
    pub(crate) fn label(&self) -> String {
        match &self.target {
            Target::Direct(client) => client.get_connection_info().addr().to_string(),
            #[cfg(feature = "sentinel")]
            Target::Sentinel(resolver) => resolver.target.label(),
            #[cfg(feature = "cluster")]
            Target::Cluster(target) => format!("Redis Cluster {}", target.seeds.join(",")),
        }
    }

    /// Whether `CLIENT UNBLOCK` must go to the blocking read's own node
    /// rather than over the shared connection: with Sentinel the two may be
    /// on different nodes for a moment after a failover.
    fn unblock_on_own_node(&self) -> bool {
        match &self.target {
            Target::Direct(_) => false,
            // Routed by the read's stream key instead.
            #[cfg(feature = "cluster")]
            Target::Cluster(_) => false,
            #[cfg(feature = "sentinel")]
            Target::Sentinel(_) => true,
        }
    }

    /// The backoff of a blocking loop's reconnects.
    fn reconnect_backoff(&self) -> Backoff {
        match &self.target {
            Target::Direct(_) => Backoff::default(),
            #[cfg(feature = "cluster")]
            Target::Cluster(_) => Backoff::default(),
            #[cfg(feature = "sentinel")]
            Target::Sentinel(_) => Backoff::new(crate::backoff::INITIAL, SENTINEL_RECONNECT_MAX),
        }
    }

    /// The options of every connection: redis-rs's own response timeout
    /// disabled, since we bound every command ourselves with a budget that
    /// fits it (a blocking read needs more than 500 ms).
    fn config(&self) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.command_timeout))
            .set_response_timeout(None)
    }

    /// Opens a connection (with Sentinel, to the primary named now; on a
    /// cluster, a cluster connection); returns it and, for one node, a
    /// client of the node it is on.
    async fn open(&self) -> Result<(Conn, Option<Client>), ConnError> {
        let config = self.config();
        let opening = async {
            let client = match &self.target {
                Target::Direct(client) => (**client).clone(),
                #[cfg(feature = "sentinel")]
                // Boxed: redis-rs's lookup is a deep future type, and
                // callers' futures would otherwise carry it inline.
                Target::Sentinel(resolver) => Box::pin(resolver.primary()).await?,
                #[cfg(feature = "cluster")]
                Target::Cluster(target) => {
                    // No response timeout (the cluster client's default):
                    // we bound every command ourselves.
                    let config = redis::cluster::ClusterConfig::new()
                        .set_connection_timeout(self.command_timeout);
                    let conn =
                        Box::pin(target.client.get_async_connection_with_config(config)).await?;
                    return Ok::<_, ConnError>((Conn::Cluster(conn), None));
                }
            };
            let conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            Ok::<_, ConnError>((Conn::Single(conn), Some(client)))
        };
        // Opening has been seen to hang: bound it here too.
        let opened = match tokio::time::timeout(self.command_timeout, opening).await {
            Ok(result) => result,
            Err(_) => Err(ConnError::TimedOut(self.command_timeout)),
        };
        match (opened, &self.target) {
            (Ok(opened), _) => Ok(opened),
            // Says so when TLS (or the lack of it) is why.
            (Err(e), Target::Direct(client)) => {
                Err(crate::tls::explain_connect_failure(client, e, self.command_timeout).await)
            }
            #[cfg(feature = "sentinel")]
            (Err(e), Target::Sentinel(_)) => Err(e),
            // Says so when TLS is why (judged on the first seed's address).
            #[cfg(feature = "cluster")]
            (Err(e), Target::Cluster(t)) => {
                Err(crate::tls::explain_connect_failure(&t.first, e, self.command_timeout).await)
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
    Up { generation: u64, conn: Conn },
    /// Not connected; the next connect is allowed at `retry_at`.
    Down {
        retry_at: Option<Instant>,
        last_error: String,
    },
}

/// One multiplexed connection shared by all tasks of a server or client, for
/// every command that must not wait behind a blocking read.
///
/// A command takes the current connection under a short `std` lock (no
/// await, no connect on that path); only when there is none does it open
/// one, one task at a time.
///
/// A command's time limit measures Redis's silence, not the local queue:
/// a command queued behind a burst on the multiplexed connection (10,000
/// XADDs sent at once) waits as long as answers keep coming, and fails with
/// [`ConnError::TimedOut`] only when nothing at all was answered on the
/// connection for the whole limit (a dead or half-open connection, a frozen
/// Redis). A caller's own deadline ([`SharedConn::query_until`]) still ends
/// the wait.
#[derive(Debug)]
pub(crate) struct SharedConn {
    /// Opens the connection, again after each failure.
    connector: Connector,
    /// The connection or the reason there is none.
    slot: std::sync::Mutex<Slot>,
    /// Held while a connection is being opened, so one task connects while
    /// the others wait for it.
    connecting: tokio::sync::Mutex<()>,
    /// Spaces connect attempts while Redis is unreachable.
    backoff: std::sync::Mutex<Backoff>,
    /// Counts connections opened, to tag [`Slot::Up`].
    generations: std::sync::atomic::AtomicU64,
    /// When Redis last answered a command on this connection, in µs since
    /// `epoch` (0: never).
    last_answer_us: std::sync::atomic::AtomicU64,
    /// The origin of `last_answer_us`.
    epoch: Instant,
    /// Commands sent on this connection and not answered yet: a command
    /// queued behind many others is allowed that much more silence (a
    /// cluster client routes a burst one command at a time before the
    /// first answer comes).
    outstanding: std::sync::atomic::AtomicUsize,
    /// Run on every new connection before any other command (a client
    /// re-creates its reply stream there: Redis may have restarted empty).
    on_connect: Option<Pipeline>,
}

impl SharedConn {
    /// A shared connection, opened on first use.
    pub(crate) fn new(connector: Connector) -> Self {
        SharedConn {
            connector,
            slot: std::sync::Mutex::new(Slot::Down {
                retry_at: None,
                last_error: String::new(),
            }),
            connecting: tokio::sync::Mutex::new(()),
            backoff: std::sync::Mutex::new(Backoff::new(crate::backoff::INITIAL, SHARED_RETRY_MAX)),
            generations: std::sync::atomic::AtomicU64::new(0),
            last_answer_us: std::sync::atomic::AtomicU64::new(0),
            epoch: Instant::now(),
            outstanding: std::sync::atomic::AtomicUsize::new(0),
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

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current connection, if up; otherwise why not (`Ok(None)`: try
    /// to connect now).
    fn current(&self) -> Result<Option<(u64, Conn)>, ConnError> {
        match &*self.slot() {
            Slot::Up { generation, conn } => Ok(Some((*generation, conn.clone()))),
            Slot::Down {
                retry_at: Some(at),
                last_error,
            } => {
                let now = Instant::now();
                if *at > now {
                    Err(ConnError::Unreachable {
                        last_error: last_error.clone(),
                        retry_in: *at - now,
                    })
                } else {
                    Ok(None)
                }
            }
            Slot::Down { retry_at: None, .. } => Ok(None),
        }
    }

    /// The current connection, opening one if needed.
    async fn get(&self) -> Result<(u64, Conn), ConnError> {
        if let Some(up) = self.current()? {
            return Ok(up);
        }
        // Boxed: the connect path (TLS, Sentinel, cluster) is a large
        // future, and every command's future would otherwise carry it.
        Box::pin(self.connect()).await
    }

    /// Opens a connection unless another task just did.
    async fn connect(&self) -> Result<(u64, Conn), ConnError> {
        let _connecting = self.connecting.lock().await;
        if let Some(up) = self.current()? {
            return Ok(up);
        }
        let opened = match self.connector.open().await {
            Ok((mut conn, _)) => match &self.on_connect {
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
                if generation > 1 {
                    crate::metrics::reconnect("shared");
                }
                *self.slot() = Slot::Up {
                    generation,
                    conn: conn.clone(),
                };
                Ok((generation, conn))
            }
            Err(e) => {
                let delay = self.backoff().next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64,
                    "cannot connect to Redis");
                *self.slot() = Slot::Down {
                    retry_at: Some(Instant::now() + delay),
                    last_error: e.to_string(),
                };
                Err(e)
            }
        }
    }

    /// Drops connection `generation` after it failed (unless already replaced).
    fn invalidate(&self, generation: u64, error: &ConnError) {
        let mut slot = self.slot();
        if matches!(&*slot, Slot::Up { generation: g, .. } if *g == generation) {
            tracing::warn!(%error, "shared Redis connection failed; reconnecting on next use");
            *slot = Slot::Down {
                retry_at: None,
                last_error: error.to_string(),
            };
        }
    }

    /// Notes that Redis answered a command now.
    fn answered(&self) {
        let us = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_answer_us.fetch_max(us.max(1), Ordering::Relaxed);
    }

    /// When Redis last answered on this connection, or `since` if later.
    fn silent_since(&self, since: Instant) -> Instant {
        match self.last_answer_us.load(Ordering::Relaxed) {
            0 => since,
            us => (self.epoch + Duration::from_micros(us)).max(since),
        }
    }

    /// Runs `run` on the connection until it is answered, Redis has been
    /// silent for `limit`, or `deadline` passes; on a dropped connection,
    /// once more on a fresh one if time is left.
    async fn with_conn<T, F, Fut>(
        &self,
        limit: Duration,
        deadline: Option<Instant>,
        run: F,
    ) -> Result<T, ConnError>
    where
        F: Fn(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let started = Instant::now();
        let queued = Outstanding::count(&self.outstanding);
        let full_bound = limit >= self.command_timeout();
        let mut retried = false;
        loop {
            // The generation the attempt runs on (0: none yet), for the timeout case.
            let used = std::sync::atomic::AtomicU64::new(0);
            let attempt = async {
                let (generation, conn) = self.get().await.map_err(|e| (None, e))?;
                used.store(generation, Ordering::Relaxed);
                let result = run(conn).await;
                match &result {
                    Ok(_) => self.answered(),
                    Err(e) if e.kind() != redis::ErrorKind::Io && !e.is_timeout() => {
                        self.answered();
                    }
                    Err(_) => {}
                }
                result.map_err(|e| (Some(generation), ConnError::from(e)))
            };
            let (generation, error) = match self
                .until_silent(attempt, started, limit, queued.ahead, deadline)
                .await
            {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(failure)) => failure,
                Err(silent) => {
                    let error = ConnError::TimedOut(limit);
                    // Silence for a whole command timeout suggests a half-open
                    // connection: replace it. A caller's deadline running out
                    // says nothing about the connection.
                    // Nor does a caller's shorter limit (an unblock's 1 s).
                    let g = used.load(Ordering::Relaxed);
                    if silent && g != 0 && full_bound {
                        self.invalidate(g, &error);
                    }
                    return Err(error);
                }
            };
            if let Some(g) = generation
                && error.breaks_connection()
            {
                self.invalidate(g, &error);
            }
            let time_left =
                deadline.is_none_or(|d| Instant::now() < d) && Instant::now() < started + limit;
            if !retried && error.is_dropped_connection() && time_left {
                retried = true;
                continue;
            }
            return Err(error);
        }
    }

    /// Awaits `attempt` until Redis has been silent on this connection for
    /// `limit` since `started` (`Err(true)`), or `deadline` passes
    /// (`Err(false)`). A command queued behind others (`ahead` when it
    /// started, or as many as are outstanding now) is allowed
    /// [`QUEUE_ALLOWANCE`] more for each: answers are noted when their
    /// callers run, which a burst of thousands delays.
    async fn until_silent<T>(
        &self,
        attempt: impl std::future::Future<Output = T>,
        started: Instant,
        limit: Duration,
        ahead: usize,
        deadline: Option<Instant>,
    ) -> Result<T, bool> {
        let mut attempt = std::pin::pin!(attempt);
        let mut check_at = started + limit;
        loop {
            let wake = deadline.map_or(check_at, |d| d.min(check_at));
            match tokio::time::timeout_at(wake, &mut attempt).await {
                Ok(v) => return Ok(v),
                Err(_) => {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        return Err(false);
                    }
                    let queued = ahead.max(self.outstanding.load(Ordering::Relaxed));
                    let allowed = limit.saturating_add(
                        QUEUE_ALLOWANCE.saturating_mul(u32::try_from(queued).unwrap_or(u32::MAX)),
                    );
                    let quiet_from = self.silent_since(started);
                    if now >= quiet_from + allowed {
                        return Err(true);
                    }
                    check_at = quiet_from + allowed;
                }
            }
        }
    }

    /// Runs one command; fails when Redis is silent for `limit`.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        limit: Duration,
    ) -> Result<T, ConnError> {
        self.query_until(cmd, limit, None).await
    }

    /// Runs one command; fails when Redis is silent for `limit` or when
    /// `deadline` (the caller's) passes, whichever comes first.
    pub(crate) async fn query_until<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        limit: Duration,
        deadline: Option<Instant>,
    ) -> Result<T, ConnError> {
        self.with_conn(limit, deadline, |mut conn| async move {
            cmd.query_async(&mut conn).await
        })
        .await
    }

    /// Runs a pipeline in one round trip within `limit`. (Its commands may
    /// touch keys in different cluster slots; a cluster connection routes each.)
    pub(crate) async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipe: &Pipeline,
        limit: Duration,
    ) -> Result<T, ConnError> {
        self.with_conn(limit, None, |mut conn| async move {
            pipe.query_async(&mut conn).await
        })
        .await
    }

    /// Runs `cmd` on the primary of `key`'s slot within `limit` (on one node,
    /// there); for `CLIENT UNBLOCK`.
    pub(crate) async fn query_on_primary_of<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        key: &str,
        limit: Duration,
    ) -> Result<T, ConnError> {
        self.with_conn(limit, None, |mut conn| async move {
            conn.query_on_primary_of(cmd, key).await
        })
        .await
    }

    /// Runs every command of `cmds` within `limit`, each answered on its
    /// own: one answer per command, in order. Nothing is ordered between
    /// them (callers send together only what may land in any order).
    ///
    /// When every command lives in one slot (always, on one node), one
    /// pipeline; a failure of the whole round trip (no answer, a lost
    /// connection) is every command's answer. On a cluster, where a pipeline
    /// may not cross slots, the commands go as commands of their own,
    /// concurrently, each routed by its key.
    pub(crate) async fn each(&self, cmds: Vec<Cmd>, limit: Duration) -> Vec<Answer> {
        if cmds.is_empty() {
            return Vec::new();
        }
        if !self.connector.is_cluster() || one_slot(cmds.iter()) {
            let n = cmds.len();
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for cmd in cmds {
                pipe.add_command(cmd);
            }
            return match self
                .query_pipeline::<Vec<redis::RedisResult<Value>>>(&pipe, limit)
                .await
            {
                Ok(results) => results
                    .into_iter()
                    .map(|r| r.map_err(|e| Arc::new(ConnError::Redis(e))))
                    .collect(),
                Err(e) => {
                    let e = Arc::new(e);
                    (0..n).map(|_| Err(Arc::clone(&e))).collect()
                }
            };
        }
        futures::future::join_all(
            cmds.iter()
                .map(|c| async { self.query::<Value>(c, limit).await.map_err(Arc::new) }),
        )
        .await
    }
}

/// How much more silence a command is allowed per command queued ahead of
/// it on the shared connection (10,000 queued: one more second).
const QUEUE_ALLOWANCE: Duration = Duration::from_micros(100);

/// Counts a command as outstanding on a shared connection until dropped.
struct Outstanding<'a> {
    /// The connection's count.
    count: &'a std::sync::atomic::AtomicUsize,
    /// Commands outstanding when this one started.
    ahead: usize,
}

impl<'a> Outstanding<'a> {
    fn count(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        let ahead = count.fetch_add(1, Ordering::Relaxed);
        Outstanding { count, ahead }
    }
}

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One command's answer from [`SharedConn::each`].
pub(crate) type Answer = Result<Value, Arc<ConnError>>;

/// Whether every command hashes to one cluster slot: each command's key is
/// its first argument (`XADD <key> ...`, `XACK <key> ...`).
#[cfg(feature = "cluster")]
fn one_slot<'a>(cmds: impl Iterator<Item = &'a Cmd>) -> bool {
    use redis::cluster_routing::Slot;
    let mut slots = cmds.map(|cmd| match cmd.args_iter().nth(1) {
        Some(redis::Arg::Simple(key)) => Some(Slot::for_key(key)),
        _ => None,
    });
    match slots.next() {
        None => true,
        Some(first) => slots.all(|s| s == first),
    }
}

/// Without cluster support every connection is to one node.
#[cfg(not(feature = "cluster"))]
fn one_slot<'a>(_cmds: impl Iterator<Item = &'a Cmd>) -> bool {
    true
}

/// Where a blocking read is parked: its connection's client id and node.
#[derive(Debug, Default)]
struct Parked {
    /// The connection's client id, or 0 while not connected.
    id: i64,
    /// Counts the blocking connection's connects: tells a cached unblock
    /// connection to an earlier node from one to the current node.
    generation: u64,
    /// The node the connection is on, when `CLIENT UNBLOCK` must go there
    /// directly (Sentinel); `None`: over the shared connection.
    node: Option<Client>,
    /// The read's stream: on a cluster `CLIENT UNBLOCK` goes to its primary.
    key: Option<String>,
}

/// The Redis client id of a blocking connection, for `CLIENT UNBLOCK`: lets
/// `stop()` end a parked read at once instead of waiting out its BLOCK.
///
/// Client ids are per node. With one address the shared connection is on
/// the read's node. With Sentinel, right after a failover one of the two may
/// have reconnected to the new primary while the other still sits on the
/// old node (alive, demoted): an unblock over the shared connection would
/// miss the read, or end a stranger's read with the same id. So with
/// Sentinel the unblock goes over a connection of its own to the node the
/// read's connection was opened to (opened at the first unblock, reused for
/// the repeats). If that fails, the read still ends by its BLOCK timeout (1
/// s), or at once when its node was killed or reconfigured.
///
/// On a cluster the read runs on the primary of its stream's slot: `CLIENT
/// ID` is asked there before each park (a redirect may have moved the read
/// to another node since), and the unblock is routed there over the shared
/// cluster connection. A slot moving between the two can still make the
/// unblock miss; the read then ends by its BLOCK timeout.
#[derive(Debug, Clone, Default)]
pub(crate) struct Unblocker {
    /// Where the read is parked.
    parked: Arc<std::sync::Mutex<Parked>>,
    /// With Sentinel: the connection to the read's node, by generation.
    own: Arc<tokio::sync::Mutex<Option<(u64, MultiplexedConnection)>>>,
}

impl Unblocker {
    fn parked(&self) -> std::sync::MutexGuard<'_, Parked> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks Redis to end the blocked read, if any, as if it timed out.
    /// Best effort: a failure only means the read ends by its own BLOCK timeout.
    pub(crate) async fn unblock(&self, shared: &SharedConn) {
        let (id, generation, node, key) = {
            let p = self.parked();
            (p.id, p.generation, p.node.clone(), p.key.clone())
        };
        if id == 0 {
            return;
        }
        let mut cmd = redis::cmd("CLIENT");
        cmd.arg("UNBLOCK").arg(id);
        let limit = shared.command_timeout().min(Duration::from_secs(1));
        let result = match (node, key) {
            (Some(node), _) => self.unblock_on(&node, generation, &cmd, limit).await,
            (None, Some(key)) => {
                shared
                    .query_on_primary_of::<redis::Value>(&cmd, &key, limit)
                    .await
            }
            (None, None) => shared.query::<redis::Value>(&cmd, limit).await,
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "CLIENT UNBLOCK failed; the read ends at its BLOCK timeout");
        }
    }

    /// Sends `cmd` to `node` over the cached connection of `generation`.
    async fn unblock_on(
        &self,
        node: &Client,
        generation: u64,
        cmd: &Cmd,
        limit: Duration,
    ) -> Result<redis::Value, ConnError> {
        let mut own = self.own.lock().await;
        let mut conn = match own.as_ref() {
            Some((g, conn)) if *g == generation => conn.clone(),
            _ => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(limit))
                    .set_response_timeout(None);
                let conn = bounded(
                    limit,
                    node.get_multiplexed_async_connection_with_config(&config),
                )
                .await?;
                *own = Some((generation, conn.clone()));
                conn
            }
        };
        let result = bounded(limit, cmd.query_async(&mut conn)).await;
        if result.is_err() {
            *own = None;
        }
        result
    }
}

/// A connection of its own for one blocking loop.
#[derive(Debug)]
pub(crate) struct BlockingConn {
    /// Opens the connection, again after each failure.
    connector: Connector,
    /// The connection; `None` until connected and after a failure.
    conn: Option<Conn>,
    /// The stream the loop reads, when it is to be unblocked: on a cluster
    /// its client id is asked on that stream's primary.
    key: Option<String>,
    /// Shares the client id with `stop()`.
    unblocker: Unblocker,
    /// Spaces reconnect attempts.
    backoff: Backoff,
    /// Whether to learn the client id for `CLIENT UNBLOCK` (servers' reads;
    /// a client's reply loop is aborted, never unblocked).
    learn_id: bool,
    /// Counts connects, for the unblocker.
    generation: u64,
}

impl BlockingConn {
    /// A blocking connection for reads of `key`, opened by
    /// [`BlockingConn::connect`].
    pub(crate) fn new(connector: Connector, key: &str) -> Self {
        BlockingConn {
            backoff: connector.reconnect_backoff(),
            connector,
            conn: None,
            key: Some(key.to_owned()),
            unblocker: Unblocker::default(),
            learn_id: true,
            generation: 0,
        }
    }

    /// A blocking connection that is never unblocked: it does not ask for
    /// its client id (one command fewer to grant the client's ACL user).
    pub(crate) fn never_unblocked(connector: Connector) -> Self {
        BlockingConn {
            backoff: connector.reconnect_backoff(),
            connector,
            conn: None,
            key: None,
            unblocker: Unblocker::default(),
            learn_id: false,
            generation: 0,
        }
    }

    /// The bound on one non-blocking command.
    pub(crate) fn command_timeout(&self) -> Duration {
        self.connector.command_timeout()
    }

    /// The handle `stop()` uses to end a parked read.
    pub(crate) fn unblocker(&self) -> Unblocker {
        self.unblocker.clone()
    }

    /// Whether a connection is open.
    pub(crate) fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Opens the connection (with Sentinel, to the primary named now) and
    /// learns its client id.
    pub(crate) async fn connect(&mut self) -> Result<(), ConnError> {
        let (mut conn, node) = self.connector.open().await?;
        if !self.learn_id {
            self.conn = Some(conn);
            return Ok(());
        }
        let id = self.client_id(&mut conn).await;
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
        self.generation += 1;
        *self.unblocker.parked() = Parked {
            id,
            generation: self.generation,
            node: node.filter(|_| self.connector.unblock_on_own_node()),
            key: self.key.clone(),
        };
        self.conn = Some(conn);
        Ok(())
    }

    /// `CLIENT ID` of `conn`, asked on the node reads of `key` go to.
    async fn client_id(&self, conn: &mut Conn) -> Result<i64, ConnError> {
        let mut cmd = redis::cmd("CLIENT");
        cmd.arg("ID");
        let limit = self.connector.command_timeout();
        match &self.key {
            Some(key) => bounded(limit, conn.query_on_primary_of::<i64>(&cmd, key)).await,
            None => bounded(limit, cmd.query_async::<i64>(conn)).await,
        }
    }

    /// On a cluster, asks the client id again before a read parks (a
    /// redirect may have moved reads of the key to another node's
    /// connection). Best effort: a failure leaves the last id.
    async fn refresh_id(&mut self) {
        if !self.learn_id || !self.connector.is_cluster() || self.unblocker.parked().id == 0 {
            return;
        }
        let Some(mut conn) = self.conn.clone() else {
            return;
        };
        if let Ok(id) = self.client_id(&mut conn).await {
            self.unblocker.parked().id = id;
        }
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
                    crate::metrics::reconnect(what);
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
    /// plus [`BLOCK_MARGIN`] (or the command timeout, if shorter). A command
    /// that does not block passes the command timeout as `block`. A failure
    /// that breaks the connection drops it
    /// (check [`BlockingConn::is_connected`]); a success resets the backoff.
    pub(crate) async fn query<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        block: Duration,
    ) -> Result<T, ConnError> {
        self.refresh_id().await;
        let Some(conn) = self.conn.as_mut() else {
            return Err(ConnError::Unreachable {
                last_error: "not connected".to_owned(),
                retry_in: Duration::ZERO,
            });
        };
        // A blocking read is answered by its BLOCK timeout at the latest:
        // an answer late by more than the margin means the connection is
        // dead (reset by a proxy, a NAT that forgot it: nothing arrives,
        // not even an error), and it is replaced within about a second.
        let limit = block + BLOCK_MARGIN.min(self.connector.command_timeout());
        let result = bounded(limit, cmd.query_async(conn)).await;
        match &result {
            Ok(_) => self.backoff.reset(),
            Err(e) if e.breaks_connection() => {
                self.conn = None;
                self.unblocker.parked().id = 0;
            }
            Err(_) => {}
        }
        result
    }
}
