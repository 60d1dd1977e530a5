//! [`BlockingConn`]: a connection of its own for one blocking loop
//! (`XREADGROUP ... BLOCK`, `XREAD ... BLOCK`), reconnected with backoff by
//! its loop, and the [`Unblocker`] that `stop()` uses to end its parked read
//! at once (`CLIENT UNBLOCK`).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, FromRedisValue, RedisError, Value};

use super::connector::bounded;
use super::{Conn, ConnError, Connector, SharedConn};
use crate::backoff::Backoff;

/// How late a blocking read's answer may be, after its BLOCK time, before its
/// connection is taken for dead ([`BlockingConn::query`]).
pub(crate) const BLOCK_MARGIN: Duration = Duration::from_millis(500);

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
        let reply = self.read(cmd, block).await?;
        // What redis-rs's `query_async` does after the round trip: an error
        // anywhere in the reply fails the command.
        Ok(redis::from_redis_value(reply.extract_error()?).map_err(RedisError::from)?)
    }

    /// [`BlockingConn::query`] for a stream read (`XREAD`, `XREADGROUP`)
    /// whose reply is taken apart by [`crate::entry`]: an error reply fails
    /// it, but the entries are not walked for nested errors first (a read's
    /// entries cannot hold any; the walk rebuilt every list of every entry,
    /// a tenth of what a reader spent per entry).
    pub(crate) async fn read(&mut self, cmd: &Cmd, block: Duration) -> Result<Value, ConnError> {
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
        let result = match bounded(limit, conn.req_packed_command(cmd)).await {
            Ok(Value::ServerError(e)) => Err(ConnError::from(RedisError::from(e))),
            other => other,
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::ConnectOptions;

    fn connector() -> Connector {
        Connector::new(&ConnectOptions::new("t", "redis://127.0.0.1:1").unwrap())
    }

    #[tokio::test]
    async fn a_query_before_connecting_fails_without_touching_the_network() {
        let mut conn = BlockingConn::new(connector(), "t:cmds:arith");
        assert!(!conn.is_connected());
        let result = conn
            .query::<redis::Value>(&redis::cmd("PING"), Duration::from_secs(1))
            .await;
        let Err(ConnError::Unreachable { last_error, .. }) = &result else {
            panic!("expected Unreachable, got {result:?}");
        };
        assert_eq!(last_error, "not connected");
    }

    #[tokio::test]
    async fn a_reconnect_loop_ends_when_shutdown_fires() {
        let mut conn = BlockingConn::never_unblocked(connector());
        let shutdown = tokio_util::sync::CancellationToken::new();
        shutdown.cancel();
        let reconnected =
            tokio::time::timeout(Duration::from_secs(5), conn.reconnect("test", &shutdown))
                .await
                .expect("a cancelled reconnect returns at once");
        assert!(!reconnected);
        assert!(!conn.is_connected());
    }

    #[tokio::test]
    async fn nothing_to_unblock_before_the_first_connect() {
        let connector = connector();
        let shared = SharedConn::new(connector.clone());
        let conn = BlockingConn::new(connector, "t:cmds:arith");
        // No client id yet: returns without sending CLIENT UNBLOCK (the
        // address is unreachable, so a send would fail or wait).
        tokio::time::timeout(Duration::from_secs(1), conn.unblocker().unblock(&shared))
            .await
            .expect("nothing is sent");
    }
}
