//! [`SharedConn`]: the one multiplexed connection all tasks of a server or
//! client share, for every command that must not wait behind a blocking
//! read; its time bound on Redis's silence, lazy reconnect and one retry
//! (the decisions themselves are in `slot`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::{Cmd, FromRedisValue, Pipeline, RedisError, Value};
use tokio::time::Instant;

use super::connector::bounded;
use super::slot::{Slot, replace_after_silence, retry_once};
use super::{Conn, ConnError, Connector};
use crate::backoff::Backoff;

/// The longest the shared connection refuses commands after a failed connect.
pub(super) const SHARED_RETRY_MAX: Duration = Duration::from_secs(1);

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
    slot: std::sync::Mutex<Slot<Conn>>,
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
            slot: std::sync::Mutex::new(Slot::new()),
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

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot<Conn>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current connection, if up; otherwise why not (`Ok(None)`: try
    /// to connect now).
    fn current(&self) -> Result<Option<(u64, Conn)>, ConnError> {
        self.slot().current(Instant::now)
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
                self.slot().opened(generation, conn.clone());
                Ok((generation, conn))
            }
            Err(e) => {
                let delay = self.backoff().next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64,
                    "cannot connect to Redis");
                self.slot().failed(Instant::now() + delay, &e);
                Err(e)
            }
        }
    }

    /// Drops connection `generation` after it failed (unless already replaced).
    fn invalidate(&self, generation: u64, error: &ConnError) {
        let mut slot = self.slot();
        if slot.invalidate(generation, error) {
            tracing::warn!(%error, "shared Redis connection failed; reconnecting on next use");
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
                    if replace_after_silence(silent, g, full_bound) {
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
            if retry_once(&error, retried, time_left) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::ConnectOptions;

    /// A local port nothing listens on.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn while_redis_is_unreachable_commands_fail_fast_with_the_reason() {
        let url = format!("redis://127.0.0.1:{}", closed_port());
        let options = ConnectOptions::new("t", &url)
            .unwrap()
            .command_timeout(Duration::from_secs(2));
        let shared = SharedConn::new(Connector::new(&options));
        let ping = redis::cmd("PING");
        let bound = Duration::from_secs(10);

        // The refused connect is retried once; the retry meets the wait the
        // failed connect set, so the caller learns why and when it retries.
        let first =
            tokio::time::timeout(bound, shared.query::<String>(&ping, Duration::from_secs(2)))
                .await
                .expect("a refused connect fails within its bound");
        match &first {
            Err(ConnError::Unreachable {
                last_error,
                retry_in,
            }) => {
                assert!(
                    last_error.to_lowercase().contains("refused"),
                    "{last_error}"
                );
                assert!(*retry_in <= SHARED_RETRY_MAX, "{retry_in:?}");
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
        // Until then, every command fails at once: no connect is attempted.
        let second = shared.query::<String>(&ping, Duration::from_secs(2)).await;
        assert!(
            matches!(second, Err(ConnError::Unreachable { .. })),
            "{second:?}"
        );
        assert_eq!(shared.generations.load(Ordering::Relaxed), 0);
        // A batch gets one answer per command, each the same failure.
        let answers = shared
            .each(vec![ping.clone(), ping.clone()], Duration::from_secs(2))
            .await;
        assert_eq!(answers.len(), 2);
        assert!(
            answers
                .iter()
                .all(|a| a.as_ref().is_err_and(|e| e.is_transient()))
        );
    }

    #[test]
    fn the_shared_connection_waits_at_most_a_second_between_connects() {
        let options = ConnectOptions::new("t", "redis://127.0.0.1:1").unwrap();
        let shared = SharedConn::new(Connector::new(&options));
        let mut backoff = shared.backoff();
        for _ in 0..20 {
            assert!(backoff.next_delay() <= SHARED_RETRY_MAX);
        }
    }
}
