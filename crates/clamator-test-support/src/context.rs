//! [`TestContext`]: one test's place on Redis (a server URL and a key prefix
//! of its own), with servers and clients of the Redis transport configured
//! for tests, and the raw-Redis helpers tests use to look behind the
//! transport.

use std::future::Future;
use std::time::Duration;

use clamator_over_redis::ops::keys;
use clamator_over_redis::{
    ClientOptions, ConnectOptions, RedisRpcClient, RedisRpcServer, ServerOptions,
};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use serde_json::Value;

pub use crate::arith::WAIT;
use crate::{RedisServer, TestArith, shared_redis, unique_prefix};

/// Bound on one Redis command in tests (the default is 5 s).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Call timeout of test clients (the default is 30 s).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The loop tick of test servers (`ServerOptions::__loop_tick`, hidden and
/// for tests only): housekeeping passes, the reclaim loop's shortest period
/// and each `XREADGROUP`'s block, instead of 1 s each, so a test waits for a
/// pass, not for a second. Servers a [`TestContext`] starts run with it
/// unless the context keeps the [real timing](TestContext::with_real_timing).
pub const LOOP_TICK: Duration = Duration::from_millis(100);

/// Where [`TestContext::on`] puts a test: what a test file that runs on
/// more than one deployment names once, in its crate root (the test
/// binary's own file), as `const DEPLOYMENT: Deployment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    /// The test binary's shared `redis-server` ([`TestContext::new`]).
    OneRedis,
    /// The test binary's shared Redis Cluster ([`TestContext::cluster`]).
    Cluster,
}

/// One test's Redis: the test binary's shared server (or one of its own) and
/// a key prefix no other test uses.
#[derive(Debug)]
pub struct TestContext {
    /// `redis://127.0.0.1:<port>`.
    url: String,
    /// This test's key prefix.
    prefix: String,
    /// The server, when this test owns it.
    own: Option<RedisServer>,
    /// The loop tick of the servers this context starts; `None`: the real
    /// timing (1 s).
    tick: Option<Duration>,
}

impl Default for TestContext {
    fn default() -> Self {
        Self::new()
    }
}

impl TestContext {
    /// A fresh prefix on the shared server of this test binary.
    pub fn new() -> TestContext {
        init_tracing();
        TestContext {
            url: shared_redis().url(),
            prefix: unique_prefix(),
            own: None,
            tick: Some(LOOP_TICK),
        }
    }

    /// A fresh prefix on `deployment`: the shared server ([`new`](Self::new))
    /// or the shared cluster ([`cluster`](Self::cluster)). A test file that
    /// `cluster_suite.rs` includes (`#[path = "pool.rs"] mod pool;`) calls
    /// `TestContext::on(crate::DEPLOYMENT)`: the binary's root file says
    /// where its tests run, so the same tests assert the same behaviour on
    /// one Redis and on 3 primaries.
    pub fn on(deployment: Deployment) -> TestContext {
        match deployment {
            Deployment::OneRedis => Self::new(),
            Deployment::Cluster => Self::cluster(),
        }
    }

    /// This context with servers that run the real loop timing (each loop
    /// every second), not [`LOOP_TICK`]: for the tests that keep the
    /// defaults tested.
    #[must_use]
    pub fn with_real_timing(mut self) -> TestContext {
        self.tick = None;
        self
    }

    /// Whether this context is on a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.url.contains(',')
    }

    /// A fresh prefix on a server of this test's own, for tests that kill,
    /// restart or freeze Redis or look at server-wide state.
    pub fn own_server() -> TestContext {
        init_tracing();
        let server = RedisServer::start();
        TestContext {
            url: server.url(),
            prefix: unique_prefix(),
            own: Some(server),
            tick: Some(LOOP_TICK),
        }
    }

    /// A fresh prefix on the test binary's shared Redis Cluster
    /// ([`crate::cluster::shared_cluster`]); [`conn`](Self::conn) then gives
    /// cluster options (the URL lists every node).
    pub fn cluster() -> TestContext {
        Self::on_cluster(crate::cluster::shared_cluster())
    }

    /// A fresh prefix on `cluster`.
    pub fn on_cluster(cluster: &crate::cluster::ClusterSetup) -> TestContext {
        init_tracing();
        TestContext {
            url: cluster.url(),
            prefix: unique_prefix(),
            own: None,
            tick: Some(LOOP_TICK),
        }
    }

    /// A raw cluster connection (no response timeout) to the cluster of
    /// [`cluster`](Self::cluster).
    pub async fn raw_cluster(&self) -> redis::cluster_async::ClusterConnection {
        raw_cluster(&self.url).await
    }

    /// The test's own server. Panics on a shared one.
    pub fn redis(&mut self) -> &mut RedisServer {
        self.own
            .as_mut()
            .expect("the shared redis-server is not the test's to control: use own_server()")
    }

    /// The Redis URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// This test's key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>:cmds:arith`.
    pub fn stream(&self) -> String {
        keys::command_stream(&self.prefix, "arith")
    }

    /// Where Redis is and the prefix, with [`COMMAND_TIMEOUT`].
    pub fn conn(&self) -> ConnectOptions {
        ConnectOptions::new(self.prefix.clone(), &self.url)
            .expect("a valid test URL and prefix")
            .command_timeout(COMMAND_TIMEOUT)
    }

    /// Client options with [`CALL_TIMEOUT`].
    pub fn client_options() -> ClientOptions {
        ClientOptions::default().default_timeout(CALL_TIMEOUT)
    }

    /// The housekeeping period of the servers this context starts:
    /// [`LOOP_TICK`], or 1 s with [`with_real_timing`](Self::with_real_timing).
    pub fn loop_period(&self) -> Duration {
        self.tick.unwrap_or(Duration::from_secs(1))
    }

    /// `options` with this context's loop timing: [`LOOP_TICK`], unless
    /// [`with_real_timing`](Self::with_real_timing). For servers a test
    /// builds itself.
    pub fn timed(&self, options: ServerOptions) -> ServerOptions {
        match self.tick {
            Some(tick) => options.__loop_tick(tick),
            None => options,
        }
    }

    /// A started server hosting `arith` with `options` (and this context's
    /// loop timing, see [`timed`](Self::timed)).
    pub async fn server(&self, options: ServerOptions, arith: &TestArith) -> RedisRpcServer {
        self.server_on(self.conn(), options, arith).await
    }

    /// A started server hosting `arith` with `options` (and this context's
    /// loop timing) on `conn`.
    pub async fn server_on(
        &self,
        conn: ConnectOptions,
        options: ServerOptions,
        arith: &TestArith,
    ) -> RedisRpcServer {
        within(
            RedisRpcServer::builder(conn)
                .options(self.timed(options))
                .dispatcher(arith.dispatcher())
                .start(),
        )
        .await
        .expect("the test server starts")
    }

    /// A connected client with [`client_options`](Self::client_options).
    pub async fn client(&self) -> RedisRpcClient {
        self.client_with(Self::client_options()).await
    }

    /// A connected client with `options`.
    pub async fn client_with(&self, options: ClientOptions) -> RedisRpcClient {
        within(RedisRpcClient::connect_with(self.conn(), options))
            .await
            .expect("the test client connects")
    }

    /// A raw connection with no response timeout (it may block): to the
    /// server, or a cluster connection.
    pub async fn raw(&self) -> RawConn {
        if self.is_cluster() {
            RawConn::Cluster(raw_cluster(&self.url).await)
        } else {
            RawConn::Single(raw(&self.url).await)
        }
    }
}

/// Waits (at most [`WAIT`]) until the housekeeping loop of every service
/// of `server` has read its groups `passes` more times: an absence (nothing
/// trimmed, nothing run again) is then asserted after that many passes, not
/// after a guessed time. Reads `health()`'s `last_redis_answer`, which each
/// pass that Redis answers moves on (at most a pass per ms is told apart;
/// a pass is a [`LOOP_TICK`] or a second apart).
pub async fn housekeeping_passes(server: &RedisRpcServer, passes: usize) {
    let answers = |server: &RedisRpcServer| -> Vec<std::time::Instant> {
        server
            .health()
            .iter()
            .map(|h| h.last_redis_answer)
            .collect()
    };
    let mut last = answers(server);
    let mut seen = vec![0; last.len()];
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.iter().any(|&n| n < passes) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "fewer than {passes} housekeeping passes within {WAIT:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = answers(server);
        for ((seen, last), now) in seen.iter_mut().zip(&mut last).zip(now) {
            if now > *last {
                *seen += 1;
                *last = now;
            }
        }
    }
}

/// A raw test connection: to one server, or to a cluster (commands routed
/// by key, as the transport's are).
pub type RawConn = clamator_over_redis::ops::Conn;

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
    });
}

/// Awaits `fut` for at most [`WAIT`].
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("timed out waiting in a test")
}

/// Polls `check` until it is true, for at most [`WAIT`] (for state only
/// Redis can tell; events of the handler are awaited on [`TestArith`]).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition never held: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A raw connection to `url` with no response timeout (it may block).
pub async fn raw(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    let cfg = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    within(client.get_multiplexed_async_connection_with_config(&cfg))
        .await
        .unwrap()
}

/// A raw cluster connection to the nodes in `urls` (comma-separated), with
/// no response timeout (it may block).
pub async fn raw_cluster(urls: &str) -> redis::cluster_async::ClusterConnection {
    let client = redis::cluster::ClusterClient::new(urls.split(',').collect::<Vec<_>>()).unwrap();
    within(client.get_async_connection()).await.unwrap()
}

/// `XGROUP CREATE <stream> arith $ MKSTREAM`: what a peer's server does at start.
pub async fn create_group(conn: &mut impl ConnectionLike, stream: &str) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg("arith")
        .arg("$")
        .arg("MKSTREAM")
        .query_async(conn)
        .await
        .unwrap();
}

/// Number of entries pending in `group` of `stream`.
pub async fn pending_count(conn: &mut impl ConnectionLike, stream: &str, group: &str) -> usize {
    let reply: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .query_async(conn)
        .await
        .unwrap();
    reply.count()
}

/// The consumer each pending entry of group `arith` of `stream` belongs to, by entry id.
pub async fn pending_owners(conn: &mut impl ConnectionLike, stream: &str) -> Vec<(String, String)> {
    let reply: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(stream)
        .arg("arith")
        .arg("-")
        .arg("+")
        .arg(100)
        .query_async(conn)
        .await
        .unwrap();
    reply.ids.into_iter().map(|p| (p.id, p.consumer)).collect()
}

/// Waits until group `arith` of `stream` has nothing pending.
pub async fn nothing_pending(raw: &(impl ConnectionLike + Clone + Send), stream: &str, what: &str) {
    eventually(what, || {
        let mut raw = raw.clone();
        async move { pending_count(&mut raw, stream, "arith").await == 0 }
    })
    .await;
}

/// `XLEN key`.
pub async fn xlen(conn: &mut impl ConnectionLike, key: &str) -> usize {
    redis::cmd("XLEN").arg(key).query_async(conn).await.unwrap()
}

/// `EXISTS key`.
pub async fn exists(conn: &mut impl ConnectionLike, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

/// XADDs raw fields to `stream`; returns the entry id.
pub async fn xadd_raw(
    conn: &mut impl ConnectionLike,
    stream: &str,
    fields: &[(&str, &[u8])],
) -> String {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream).arg("*");
    for (k, v) in fields {
        cmd.arg(*k).arg(*v);
    }
    cmd.query_async(conn).await.unwrap()
}

/// Blocks until `stream` has an entry after `after`, and returns its id and
/// the JSON of its `envelope` field.
pub async fn read_reply(
    conn: &mut impl ConnectionLike,
    stream: &str,
    after: &str,
) -> (String, Value) {
    let reply: redis::streams::StreamReadReply = within(
        redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(5_000)
            .arg("STREAMS")
            .arg(stream)
            .arg(after)
            .query_async(conn),
    )
    .await
    .unwrap();
    let entry = &reply.keys.first().expect("a reply within 5 s").ids[0];
    let text: String = entry.get("envelope").expect("an envelope field");
    (entry.id.clone(), serde_json::from_str(&text).unwrap())
}
