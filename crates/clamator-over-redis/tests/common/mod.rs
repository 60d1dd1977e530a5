//! Shared by the integration tests: a hand-written `arith` service, config and
//! raw-Redis helpers.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clamator_over_redis::{RedisConfig, RedisConfigBuilder, RedisRpcClient, RedisRpcServer};
use clamator_protocol::service::{notification, unary};
use clamator_protocol::{
    ContractDescriptor, Dispatcher, HandlerFuture, MethodDescriptor, RpcError, Service,
};
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// Bound on any single await that could hang in a test.
pub const WAIT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddParams {
    a: f64,
    b: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SlowAddParams {
    a: f64,
    b: f64,
    sleep_ms: u64,
}

#[derive(Serialize)]
struct Sum {
    sum: f64,
}

#[derive(Serialize)]
struct Quotient {
    q: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextParams {
    text: String,
}

#[derive(Serialize)]
struct TextResult {
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// What the handlers of one `arith` instance observed.
#[derive(Debug, Default)]
pub struct ArithState {
    /// `ping` notifications handled.
    pub pings: AtomicUsize,
    /// Woken by each `ping`.
    pub pinged: Notify,
    /// `slowAdd` handlers started.
    pub slow_started: AtomicUsize,
    /// Woken when a `slowAdd` handler starts.
    pub slow_started_notify: Notify,
    /// The `a` of every `add`/`slowAdd` handled, in order.
    pub handled: Mutex<Vec<f64>>,
}

/// The `arith` test service, implemented by hand on [`Service`].
pub struct Arith {
    pub state: Arc<ArithState>,
    descriptor: ContractDescriptor,
}

fn method(name: &str, notification: bool) -> MethodDescriptor {
    MethodDescriptor {
        name: name.to_owned(),
        rust_name: name.to_owned(),
        notification,
        params_schema: json!({}),
        result_schema: (!notification).then(|| json!({})),
    }
}

impl Arith {
    pub fn new() -> Arc<Arith> {
        Arc::new(Arith {
            state: Arc::new(ArithState::default()),
            descriptor: ContractDescriptor {
                service: "arith".to_owned(),
                methods: vec![
                    method("add", false),
                    method("slowAdd", false),
                    method("divide", false),
                    method("echoText", false),
                    method("ping", true),
                    method("panic", false),
                    method("badResult", false),
                ],
            },
        })
    }

    pub fn dispatcher(self: &Arc<Self>) -> Dispatcher {
        let service: Arc<dyn Service> = self.clone();
        Dispatcher::builder()
            .register_service(service)
            .unwrap()
            .build()
    }

    pub fn handled(&self) -> Vec<f64> {
        self.state.handled.lock().unwrap().clone()
    }
}

impl Service for Arith {
    fn descriptor(&self) -> &ContractDescriptor {
        &self.descriptor
    }

    fn call(&self, method: &str, params: Value) -> Option<HandlerFuture> {
        let state = Arc::clone(&self.state);
        Some(match method {
            "add" => unary(params, move |p: AddParams| async move {
                state.handled.lock().unwrap().push(p.a);
                Ok(Sum { sum: p.a + p.b })
            }),
            "slowAdd" => unary(params, move |p: SlowAddParams| async move {
                state.slow_started.fetch_add(1, Ordering::SeqCst);
                state.slow_started_notify.notify_waiters();
                tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
                state.handled.lock().unwrap().push(p.a);
                Ok(Sum { sum: p.a + p.b })
            }),
            "divide" => unary(params, |p: AddParams| async move {
                if p.b == 0.0 {
                    Err(RpcError::application(
                        -32000,
                        "division by zero",
                        json!({ "a": p.a }),
                    ))
                } else {
                    Ok(Quotient { q: p.a / p.b })
                }
            }),
            "echoText" => unary(params, |p: TextParams| async move {
                Ok(TextResult { text: p.text })
            }),
            "ping" => notification(params, move |_: Empty| async move {
                state.pings.fetch_add(1, Ordering::SeqCst);
                state.pinged.notify_waiters();
            }),
            "panic" => unary(params, |_: Empty| async move {
                if true {
                    panic!("boom");
                }
                Ok(Sum { sum: 0.0 })
            }),
            // A map with non-string keys cannot become JSON: "Result validation failed".
            "badResult" => unary(params, |_: Empty| async move {
                let mut m: HashMap<(i32, i32), i32> = HashMap::new();
                m.insert((1, 2), 3);
                Ok(m)
            }),
            _ => return None,
        })
    }
}

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

/// A config builder for `url` and `prefix` with test-friendly timeouts.
pub fn config(url: &str, prefix: &str) -> RedisConfigBuilder {
    init_tracing();
    RedisConfig::builder(prefix)
        .redis_url(url)
        .default_timeout(Duration::from_secs(10))
        .command_timeout(Duration::from_secs(2))
}

/// A started server hosting `arith`.
pub async fn server(config: RedisConfig, arith: &Arc<Arith>) -> RedisRpcServer {
    let server = RedisRpcServer::new(config, arith.dispatcher());
    within(server.start()).await.unwrap();
    server
}

/// A started client.
pub async fn client(config: RedisConfig) -> RedisRpcClient {
    let client = RedisRpcClient::new(config);
    within(client.start()).await.unwrap();
    client
}

/// Awaits `fut` for at most [`WAIT`].
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("timed out waiting in a test")
}

/// Polls `check` until it is true, for at most [`WAIT`].
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

/// A raw connection with no response timeout (it may block).
pub async fn raw(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    let cfg = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    within(client.get_multiplexed_async_connection_with_config(&cfg))
        .await
        .unwrap()
}

/// Number of entries pending in `group` of `stream`.
pub async fn pending_count(conn: &mut MultiplexedConnection, stream: &str, group: &str) -> usize {
    let reply: redis::Value = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .query_async(conn)
        .await
        .unwrap();
    match reply {
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::Int(n)) => *n as usize,
            other => panic!("unexpected XPENDING reply {other:?}"),
        },
        other => panic!("unexpected XPENDING reply {other:?}"),
    }
}

/// Waits until group `arith` of `stream` has nothing pending.
pub async fn nothing_pending(raw: &MultiplexedConnection, stream: &str, what: &str) {
    eventually(what, || {
        let mut raw = raw.clone();
        async move { pending_count(&mut raw, stream, "arith").await == 0 }
    })
    .await;
}

/// `XLEN key`.
pub async fn xlen(conn: &mut MultiplexedConnection, key: &str) -> usize {
    redis::cmd("XLEN").arg(key).query_async(conn).await.unwrap()
}

/// XADDs raw fields to `stream`; returns the entry id.
pub async fn xadd_raw(
    conn: &mut MultiplexedConnection,
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

/// Blocks until `stream` has an entry after `after`, and returns the JSON of
/// its `envelope` field and its id.
pub async fn read_reply(
    conn: &mut MultiplexedConnection,
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
