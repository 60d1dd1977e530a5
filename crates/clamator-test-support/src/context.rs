//! [`TestContext`]: one test's place on Redis (a server URL and a key prefix
//! of its own), with servers and clients of the Redis transport configured
//! for tests, and the raw-Redis helpers tests use to look behind the
//! transport.

use std::future::Future;
use std::time::Duration;

use clamator_over_redis::{
    ClientOptions, ConnectOptions, RedisRpcClient, RedisRpcServer, ServerOptions, keys,
};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use serde_json::Value;

pub use crate::arith::WAIT;
use crate::{RedisServer, TestArith, shared_redis, unique_prefix};

/// Bound on one Redis command in tests (the default is 5 s).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Call timeout of test clients (the default is 30 s).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

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
}

impl Default for TestContext {
    fn default() -> Self {
        Self::new()
    }
}

impl TestContext {
    /// A fresh prefix on the shared server of this test binary; in a test
    /// binary whose name starts with `cluster_`, on its shared Redis Cluster
    /// instead (see [`is_cluster_binary`]).
    pub fn new() -> TestContext {
        if is_cluster_binary() {
            return Self::cluster();
        }
        init_tracing();
        TestContext {
            url: shared_redis().url(),
            prefix: unique_prefix(),
            own: None,
        }
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

    /// A started server hosting `arith` with `options`.
    pub async fn server(&self, options: ServerOptions, arith: &TestArith) -> RedisRpcServer {
        self.server_on(self.conn(), options, arith).await
    }

    /// A started server hosting `arith` with `options` on `conn`.
    pub async fn server_on(
        &self,
        conn: ConnectOptions,
        options: ServerOptions,
        arith: &TestArith,
    ) -> RedisRpcServer {
        within(
            RedisRpcServer::builder(conn)
                .options(options)
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

/// Whether this test binary runs its tests on a Redis Cluster: its name
/// starts with `cluster_`. Such a binary includes a test file written for one
/// Redis (`#[path = "pool.rs"] mod pool;`), and every
/// [`TestContext::new`] in it gives a context on the binary's shared
/// cluster: the same tests, asserting the same behaviour, on 3 primaries.
pub fn is_cluster_binary() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().starts_with("cluster_"))
        })
        .unwrap_or(false)
}

/// A raw test connection: to one server, or to a cluster (commands routed
/// by key, as the transport's are).
pub type RawConn = clamator_over_redis::Conn;

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
