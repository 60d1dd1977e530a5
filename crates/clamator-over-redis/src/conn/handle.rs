//! [`Conn`]: an open connection to one Redis or a Redis Cluster, the handle
//! tools run their own commands on.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, Value};

use super::Connector;
use crate::connect_error::ConnectError;
use crate::options::ConnectOptions;

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
    /// Opens one connection where `options` point, the way servers and
    /// clients open theirs: to the one Redis, to the primary the sentinels
    /// name now (`redis+sentinel://`), or to a Redis Cluster; over TLS for
    /// `rediss://` with the [`TlsOptions`](crate::TlsOptions) given.
    /// Opening is bounded by the options' `command_timeout` (a tool that
    /// wants to fail faster sets a shorter one). The connection has no
    /// response timeout of its own: bound each command you run on it.
    ///
    /// It sends no command of its own; run `PING` to learn whether what
    /// answered is a Redis.
    ///
    /// # Errors
    /// A [`ConnectError`]: [`Config`](ConnectError::Config) when
    /// `command_timeout` is zero, [`Unreachable`](ConnectError::Unreachable)
    /// when nothing answered in time, the connection was refused, or no
    /// sentinel named a primary, [`Tls`](ConnectError::Tls) when a TLS
    /// handshake failed (certificates, or a port of the other kind),
    /// [`Refused`](ConnectError::Refused) when Redis refused the credentials.
    ///
    /// ```no_run
    /// use clamator_over_redis::ConnectOptions;
    /// use clamator_over_redis::ops::Conn;
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let options = ConnectOptions::new("myapp", "redis://127.0.0.1:6379")?
    ///     .command_timeout(std::time::Duration::from_secs(3));
    /// let mut conn = Conn::open(&options).await?;
    /// let pong: String = clamator_over_redis::redis::cmd("PING")
    ///     .query_async(&mut conn)
    ///     .await?;
    /// # let _ = pong; Ok(()) }
    /// ```
    pub async fn open(options: &ConnectOptions) -> Result<Conn, ConnectError> {
        options.validate()?;
        let connector = Connector::new(options);
        let (conn, _node) = connector
            .open()
            .await
            .map_err(|e| e.into_connect("connecting to Redis", &connector.label()))?;
        Ok(conn)
    }

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
    pub(super) async fn query_on_primary_of<T: FromRedisValue>(
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
