//! The in-memory transport end to end, with a hand-written `arith` service:
//! round trips, every error row of WIRE.md §4, lifecycle errors, timeouts,
//! concurrency and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clamator_over_memory::{MemoryBus, MemoryClient, MemoryServer};
use clamator_protocol::service::{notification, unary};
use clamator_protocol::{
    ClientTransport, ContractDescriptor, Dispatcher, Error, HandlerFuture, MethodDescriptor,
    RpcError, Service, TransportError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::{Instant, timeout};

/// Upper bound for every await that could hang if the transport were broken.
const BOUND: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- the service

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddParams {
    a: f64,
    b: f64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Sum {
    sum: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SlowAddParams {
    a: f64,
    b: f64,
    delay_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DivideParams {
    a: f64,
    b: f64,
}

#[derive(Debug, Serialize)]
struct Quotient {
    quotient: f64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Text {
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PingParams {
    n: u32,
}

/// A result that cannot be encoded: -32603 "Result validation failed".
#[derive(Debug)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this result cannot be encoded"))
    }
}

/// What the handlers report, so tests can await events instead of sleeping.
#[derive(Debug, Default)]
struct Probes {
    /// Sum of the `n` of the pings handled (`hold` counts as 1).
    pings: AtomicUsize,
    /// Signalled after every ping.
    pinged: Notify,
    /// Signalled when a `slowAdd` starts.
    slow_started: Notify,
    /// `slowAdd` calls that ran to the end.
    slow_finished: AtomicUsize,
    /// Released by the test to let a `hold` notification finish.
    gate: Notify,
}

struct Arith {
    descriptor: ContractDescriptor,
    probes: Arc<Probes>,
}

const METHODS: &[(&str, bool)] = &[
    ("add", false),
    ("slowAdd", false),
    ("divide", false),
    ("echoText", false),
    ("explode", false),
    ("badResult", false),
    ("ping", true),
    ("boom", true),
    ("hold", true),
];

impl Arith {
    fn service(service: &str, probes: &Arc<Probes>) -> Arc<dyn Service> {
        let methods = METHODS
            .iter()
            .map(|&(name, notification)| MethodDescriptor {
                name: name.to_owned(),
                rust_name: name.to_owned(),
                notification,
                params_schema: json!({}),
                result_schema: (!notification).then(|| json!({})),
            })
            .collect();
        Arc::new(Arith {
            descriptor: ContractDescriptor {
                service: service.to_owned(),
                methods,
            },
            probes: Arc::clone(probes),
        })
    }
}

async fn explode(_: Empty) -> Result<Sum, RpcError> {
    panic!("arith exploded")
}

fn ping(probes: Arc<Probes>) -> impl FnOnce(PingParams) -> std::future::Ready<()> {
    move |p| {
        probes.pings.fetch_add(p.n as usize, Ordering::SeqCst);
        probes.pinged.notify_one();
        std::future::ready(())
    }
}

impl Service for Arith {
    fn descriptor(&self) -> &ContractDescriptor {
        &self.descriptor
    }

    fn call(&self, method: &str, params: Value) -> Option<HandlerFuture> {
        let probes = Arc::clone(&self.probes);
        Some(match method {
            "add" => unary(params, |p: AddParams| async move {
                Ok::<_, RpcError>(Sum { sum: p.a + p.b })
            }),
            "slowAdd" => unary(params, move |p: SlowAddParams| async move {
                probes.slow_started.notify_one();
                tokio::time::sleep(Duration::from_millis(p.delay_ms)).await;
                probes.slow_finished.fetch_add(1, Ordering::SeqCst);
                Ok::<_, RpcError>(Sum { sum: p.a + p.b })
            }),
            "divide" => unary(params, |p: DivideParams| async move {
                if p.b == 0.0 {
                    return Err(RpcError::application(
                        -32000,
                        "division by zero",
                        json!({"a": p.a}),
                    ));
                }
                Ok(Quotient {
                    quotient: p.a / p.b,
                })
            }),
            "echoText" => unary(params, |p: Text| async move { Ok::<_, RpcError>(p) }),
            "explode" => unary(params, explode),
            "badResult" => unary(params, |_: Empty| async { Ok::<_, RpcError>(Unencodable) }),
            "ping" => notification(params, ping(probes)),
            "boom" => notification(params, |_: Empty| async {
                panic!("boom in a notification")
            }),
            "hold" => notification(params, move |_: Empty| async move {
                probes.gate.notified().await;
                ping(probes)(PingParams { n: 1 }).await;
            }),
            _ => return None,
        })
    }
}

// ---------------------------------------------------------------- fixtures

fn dispatcher(services: &[&str], probes: &Arc<Probes>) -> Dispatcher {
    services
        .iter()
        .fold(Dispatcher::builder(), |b, s| {
            b.register_service(Arith::service(s, probes)).unwrap()
        })
        .build()
}

struct Fixture {
    bus: MemoryBus,
    server: MemoryServer,
    client: Arc<MemoryClient>,
    probes: Arc<Probes>,
}

/// A started `arith` server and a started client on a fresh bus.
async fn started() -> Fixture {
    let bus = MemoryBus::new();
    let probes = Arc::new(Probes::default());
    let server = bus.server(dispatcher(&["arith"], &probes));
    server.start().await.unwrap();
    let client = Arc::new(bus.client());
    client.start().await.unwrap();
    Fixture {
        bus,
        server,
        client,
        probes,
    }
}

async fn bounded<F: Future>(f: F) -> F::Output {
    timeout(BOUND, f).await.expect("bounded await timed out")
}

fn rpc(result: Result<Value, Error>) -> RpcError {
    match result {
        Err(Error::Rpc(e)) => e,
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

fn transport(result: Result<impl std::fmt::Debug, Error>) -> TransportError {
    match result {
        Err(Error::Transport(e)) => e,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

/// Waits until a `slowAdd` handler has started.
async fn slow_started(probes: &Probes) {
    bounded(probes.slow_started.notified()).await;
}

// ---------------------------------------------------------------- round trips

#[tokio::test]
async fn round_trip() {
    let f = started().await;
    let sum = f
        .client
        .call("arith", "add", json!({"a": 1, "b": 2.5}), None)
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 3.5}));

    let text = "héllo 😀 \"quoted\" \u{1}\n";
    let echoed = f
        .client
        .call("arith", "echoText", json!({ "text": text }), None)
        .await
        .unwrap();
    assert_eq!(echoed, json!({ "text": text }));

    let q = f
        .client
        .call("arith", "divide", json!({"a": 1, "b": 4}), Some(BOUND))
        .await
        .unwrap();
    assert_eq!(q, json!({"quotient": 0.25}));
}

#[tokio::test]
async fn typed_calls_go_through_client_transport() {
    let f = started().await;
    let sum: Sum = clamator_protocol::client::call(
        f.client.as_ref(),
        "arith",
        "add",
        &AddParams { a: 2.0, b: 3.0 },
        None,
    )
    .await
    .unwrap();
    assert_eq!(sum, Sum { sum: 5.0 });

    // Through a trait object, as typed clients hold it.
    let dynamic: Arc<dyn ClientTransport> = f.client.clone();
    let v = dynamic
        .call_value("arith", "add", json!({"a": 1, "b": 1}), None)
        .await
        .unwrap();
    assert_eq!(v, json!({"sum": 2.0}));
    dynamic
        .notify_value("arith", "ping", json!({"n": 1}))
        .await
        .unwrap();
    bounded(f.probes.pinged.notified()).await;
    assert_eq!(f.probes.pings.load(Ordering::SeqCst), 1);

    // A result that does not match the typed result is a protocol error.
    let err = clamator_protocol::client::call::<_, _, Sum>(
        f.client.as_ref(),
        "arith",
        "echoText",
        &Text { text: "x".into() },
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
}

// ---------------------------------------------------------------- WIRE.md §4

#[tokio::test]
async fn unknown_method_is_method_not_found() {
    let f = started().await;
    let e = rpc(f.client.call("arith", "nope", json!({}), None).await);
    assert_eq!((e.code, e.message.as_str()), (-32601, "Method not found"));
    assert_eq!(e.data, Value::Null);
}

/// Over Redis an unknown service is a call nobody reads (a timeout); on the
/// bus there is no server to route to, which is reported at once.
#[tokio::test]
async fn unknown_service_is_no_server() {
    let f = started().await;
    let err = transport(f.client.call("geometry", "area", json!({}), None).await);
    assert!(
        matches!(&err, TransportError::NoServer { service } if service == "geometry"),
        "{err:?}"
    );
    let err = transport(f.client.notify("geometry", "area", json!({})).await);
    assert!(matches!(err, TransportError::NoServer { .. }), "{err:?}");
}

#[tokio::test]
async fn invalid_params_list_their_errors() {
    let f = started().await;
    let cases = [
        (json!({"a": 1, "b": "two"}), "invalid_type", json!(["b"])),
        (json!({"a": 1}), "missing", json!(["b"])),
        (
            json!({"a": 1, "b": 2, "c": 3}),
            "extra_forbidden",
            json!(["c"]),
        ),
        (json!([1, 2]), "model_type", json!([])),
    ];
    for (params, kind, loc) in cases {
        let e = rpc(f.client.call("arith", "add", params.clone(), None).await);
        assert_eq!((e.code, e.message.as_str()), (-32602, "Invalid params"));
        let errors = e.data["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{params}: data.errors is not a list: {}", e.data));
        assert!(!errors.is_empty(), "{params}");
        for issue in errors {
            assert!(issue["loc"].is_array(), "{issue}");
            assert!(issue["msg"].is_string(), "{issue}");
            assert!(issue["type"].is_string(), "{issue}");
        }
        assert_eq!(errors[0]["type"], kind, "{params}: {}", e.data);
        assert_eq!(errors[0]["loc"], loc, "{params}: {}", e.data);
    }
}

#[tokio::test]
async fn application_error_keeps_code_message_and_data() {
    let f = started().await;
    let e = rpc(f
        .client
        .call("arith", "divide", json!({"a": 7.5, "b": 0}), None)
        .await);
    assert_eq!(e.code, -32000);
    assert_eq!(e.message, "division by zero");
    assert_eq!(e.data, json!({"a": 7.5}));
    assert!(e.is_application());
}

#[tokio::test]
async fn handler_panic_is_internal_error_and_server_keeps_serving() {
    let f = started().await;
    let e = rpc(f.client.call("arith", "explode", json!({}), None).await);
    assert_eq!((e.code, e.message.as_str()), (-32603, "Internal error"));
    assert_eq!(e.data["name"], "panic");
    assert!(
        e.data["message"]
            .as_str()
            .is_some_and(|m| m.contains("arith exploded")),
        "{}",
        e.data
    );
    let sum = f
        .client
        .call("arith", "add", json!({"a": 1, "b": 1}), None)
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 2.0}));
}

#[tokio::test]
async fn unencodable_result_is_result_validation_failed() {
    let f = started().await;
    let e = rpc(f.client.call("arith", "badResult", json!({}), None).await);
    assert_eq!(
        (e.code, e.message.as_str()),
        (-32603, "Result validation failed")
    );
    let errors = e.data["errors"].as_array().unwrap();
    assert!(
        errors[0]["msg"]
            .as_str()
            .unwrap()
            .contains("cannot be encoded")
    );
}

#[tokio::test]
async fn failing_notifications_produce_nothing_and_server_keeps_serving() {
    let f = started().await;
    // Invalid params, a panicking handler, an unknown method, a method that
    // fails: all accepted, none answered, none counted as a ping.
    f.client
        .notify("arith", "ping", json!({"n": "x"}))
        .await
        .unwrap();
    f.client.notify("arith", "boom", json!({})).await.unwrap();
    f.client.notify("arith", "nope", json!({})).await.unwrap();
    f.client
        .notify("arith", "divide", json!({"a": 1, "b": 0}))
        .await
        .unwrap();
    f.client
        .notify("arith", "ping", json!({"n": 1}))
        .await
        .unwrap();
    bounded(f.probes.pinged.notified()).await;
    assert_eq!(f.probes.pings.load(Ordering::SeqCst), 1);
    let sum = f
        .client
        .call("arith", "add", json!({"a": 2, "b": 2}), None)
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 4.0}));
}

#[tokio::test]
async fn notify_does_not_wait_for_the_handler() {
    let f = started().await;
    bounded(f.client.notify("arith", "hold", json!({})))
        .await
        .unwrap();
    assert_eq!(
        f.probes.pings.load(Ordering::SeqCst),
        0,
        "handler still held"
    );
    f.probes.gate.notify_one();
    bounded(f.probes.pinged.notified()).await;
    assert_eq!(f.probes.pings.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn invalid_names_fail_before_sending() {
    let f = started().await;
    for (service, method) in [("Arith", "add"), ("arith", "slow-add"), ("arith", "")] {
        let err = f
            .client
            .call(service, method, json!({}), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Protocol(_)),
            "{service}.{method}: {err:?}"
        );
        let err = f
            .client
            .notify(service, method, json!({}))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Protocol(_)),
            "{service}.{method}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------- lifecycle

#[tokio::test]
async fn client_lifecycle_errors_and_idempotent_stop() {
    let f = started().await;
    let client = f.bus.client();
    let err = transport(
        client
            .call("arith", "add", json!({"a": 1, "b": 2}), None)
            .await,
    );
    assert!(matches!(err, TransportError::NotStarted), "{err:?}");
    let err = transport(client.notify("arith", "ping", json!({"n": 1})).await);
    assert!(matches!(err, TransportError::NotStarted), "{err:?}");

    client.start().await.unwrap();
    client.start().await.unwrap();
    client
        .call("arith", "add", json!({"a": 1, "b": 2}), None)
        .await
        .unwrap();

    client.stop().await;
    client.stop().await;
    let err = transport(
        client
            .call("arith", "add", json!({"a": 1, "b": 2}), None)
            .await,
    );
    assert!(matches!(err, TransportError::Stopped), "{err:?}");
    let err = transport(client.notify("arith", "ping", json!({"n": 1})).await);
    assert!(matches!(err, TransportError::Stopped), "{err:?}");
    assert!(matches!(client.start().await, Err(TransportError::Stopped)));

    // Stopping a client that never started is fine too.
    let never = f.bus.client();
    never.stop().await;
    never.stop().await;
    assert!(matches!(never.start().await, Err(TransportError::Stopped)));
}

#[tokio::test]
async fn server_lifecycle_and_idempotent_stop() {
    let f = started().await;
    f.server.start().await.unwrap(); // again: nothing happens
    f.server.stop().await;
    f.server.stop().await;
    let err = transport(
        f.client
            .call("arith", "add", json!({"a": 1, "b": 2}), None)
            .await,
    );
    assert!(
        matches!(&err, TransportError::NoServer { service } if service == "arith"),
        "{err:?}"
    );
    let err = transport(f.client.notify("arith", "ping", json!({"n": 1})).await);
    assert!(matches!(err, TransportError::NoServer { .. }), "{err:?}");
    assert!(matches!(
        f.server.start().await,
        Err(TransportError::Stopped)
    ));

    // A fresh server takes the service over.
    let again = f.bus.server(dispatcher(&["arith"], &f.probes));
    again.start().await.unwrap();
    f.client
        .call("arith", "add", json!({"a": 1, "b": 2}), None)
        .await
        .unwrap();

    // A server that never started stops quietly.
    let never = f.bus.server(dispatcher(&["other"], &f.probes));
    never.stop().await;
    never.stop().await;
}

#[tokio::test]
async fn one_server_per_service_per_bus() {
    let f = started().await;
    // "arith" is taken: the second server registers none of its services.
    let second = f.bus.server(dispatcher(&["arith", "other"], &f.probes));
    let err = second.start().await.unwrap_err();
    assert!(
        matches!(&err, TransportError::ServiceTaken { service } if service == "arith"),
        "{err:?}"
    );
    let err = transport(
        f.client
            .call("other", "add", json!({"a": 1, "b": 2}), None)
            .await,
    );
    assert!(matches!(err, TransportError::NoServer { .. }), "{err:?}");

    // Another bus is another world.
    let elsewhere = MemoryBus::new().server(dispatcher(&["arith"], &f.probes));
    elsewhere.start().await.unwrap();

    // Once the first server stops, the second may start.
    f.server.stop().await;
    second.start().await.unwrap();
    for service in ["arith", "other"] {
        let sum = f
            .client
            .call(service, "add", json!({"a": 1, "b": 2}), None)
            .await
            .unwrap();
        assert_eq!(sum, json!({"sum": 3.0}));
    }
}

#[tokio::test]
async fn a_dropped_server_leaves_the_bus() {
    let f = started().await;
    drop(f.server);
    let err = transport(
        f.client
            .call("arith", "add", json!({"a": 1, "b": 2}), None)
            .await,
    );
    assert!(matches!(err, TransportError::NoServer { .. }), "{err:?}");
}

// ---------------------------------------------------------------- time

#[tokio::test(start_paused = true)]
async fn call_timeout() {
    let f = started().await;
    let started_at = Instant::now();
    let err = transport(
        f.client
            .call(
                "arith",
                "slowAdd",
                json!({"a": 1, "b": 2, "delayMs": 10_000}),
                Some(Duration::from_millis(50)),
            )
            .await,
    );
    assert!(
        matches!(err, TransportError::Timeout { timeout } if timeout == Duration::from_millis(50)),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("call timeout"), "{err}");
    assert!(started_at.elapsed() < Duration::from_secs(1));

    // The default timeout applies to calls without their own.
    let client = f
        .bus
        .client()
        .with_default_timeout(Duration::from_millis(80));
    client.start().await.unwrap();
    let err = transport(
        client
            .call(
                "arith",
                "slowAdd",
                json!({"a": 1, "b": 2, "delayMs": 10_000}),
                None,
            )
            .await,
    );
    assert!(
        matches!(err, TransportError::Timeout { timeout } if timeout == Duration::from_millis(80)),
        "{err:?}"
    );
}

#[tokio::test]
async fn client_stop_fails_pending_calls_at_once() {
    let f = started().await;
    let client = Arc::clone(&f.client);
    let pending = tokio::spawn(async move {
        client
            .call(
                "arith",
                "slowAdd",
                json!({"a": 1, "b": 2, "delayMs": 30_000}),
                None,
            )
            .await
    });
    slow_started(&f.probes).await;
    let stopped_at = std::time::Instant::now();
    f.client.stop().await;
    let err = transport(bounded(pending).await.unwrap());
    assert!(matches!(err, TransportError::Stopped), "{err:?}");
    assert!(
        stopped_at.elapsed() < Duration::from_secs(2),
        "stop waited for the handler"
    );
}

#[tokio::test(start_paused = true)]
async fn handlers_run_concurrently() {
    let f = started().await;
    let started_at = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..20 {
        let client = Arc::clone(&f.client);
        calls.spawn(async move {
            client
                .call(
                    "arith",
                    "slowAdd",
                    json!({"a": i, "b": 1, "delayMs": 200}),
                    None,
                )
                .await
                .map(|v| (i, v))
        });
    }
    let mut seen = 0;
    while let Some(joined) = bounded(calls.join_next()).await {
        let (i, v) = joined.unwrap().unwrap();
        assert_eq!(v, json!({"sum": f64::from(i) + 1.0}));
        seen += 1;
    }
    assert_eq!(seen, 20);
    let elapsed = started_at.elapsed();
    // Twenty 200 ms calls one after another would take 4 s.
    assert!(elapsed < Duration::from_millis(400), "took {elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn server_stop_drains_in_flight_handlers() {
    let f = started().await;
    let client = Arc::clone(&f.client);
    let in_flight = tokio::spawn(async move {
        client
            .call(
                "arith",
                "slowAdd",
                json!({"a": 1, "b": 2, "delayMs": 300}),
                None,
            )
            .await
    });
    slow_started(&f.probes).await;

    let stop = f.server.stop();
    tokio::pin!(stop);
    assert!(
        futures::poll!(&mut stop).is_pending(),
        "stop waits for the handler"
    );
    // Stopping unregistered the server: new calls find nobody.
    let err = transport(
        f.client
            .call("arith", "add", json!({"a": 1, "b": 2}), None)
            .await,
    );
    assert!(matches!(err, TransportError::NoServer { .. }), "{err:?}");

    bounded(stop).await;
    assert_eq!(f.probes.slow_finished.load(Ordering::SeqCst), 1);
    let sum = bounded(in_flight).await.unwrap().unwrap();
    assert_eq!(
        sum,
        json!({"sum": 3.0}),
        "the drained call still got its reply"
    );
}

#[tokio::test(start_paused = true)]
async fn handlers_past_the_grace_are_cancelled() {
    let bus = MemoryBus::new();
    let probes = Arc::new(Probes::default());
    let server = bus
        .server(dispatcher(&["arith"], &probes))
        .with_shutdown_grace(Duration::from_millis(100));
    server.start().await.unwrap();
    let client = Arc::new(bus.client());
    client.start().await.unwrap();

    let caller = Arc::clone(&client);
    let in_flight = tokio::spawn(async move {
        caller
            .call(
                "arith",
                "slowAdd",
                json!({"a": 1, "b": 2, "delayMs": 60_000}),
                None,
            )
            .await
    });
    slow_started(&probes).await;
    let stopping_at = Instant::now();
    bounded(server.stop()).await;
    let waited = stopping_at.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(1),
        "stop waited {waited:?}"
    );
    let err = transport(bounded(in_flight).await.unwrap());
    assert!(matches!(err, TransportError::Stopped), "{err:?}");
    assert_eq!(probes.slow_finished.load(Ordering::SeqCst), 0);
}
