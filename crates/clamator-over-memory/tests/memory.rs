//! The in-memory transport end to end, with the `arith` interop contract
//! ([`TestArith`]): round trips, typed calls, routing, timeouts, concurrency
//! and shutdown. What the server answers to each kind of request
//! (docs/WIRE.md §4) is the conformance suite, run in `src/server.rs`.
//!
//! Starting twice, stopping twice and calling on a closed client are not
//! tested: `start()` returns the running server, and `stop(self)` /
//! `close(self)` make the rest compile errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use clamator_over_memory::{MemoryBus, MemoryClient, MemoryServer, StartError};
use clamator_protocol::{
    ClientTransport, ContractDescriptor, Dispatcher, Error, HandlerFuture, Service, TransportError,
};
use clamator_test_support::TestArith;
use clamator_test_support::clamator_arith::{AddParams, SumResult, Text};
use serde_json::{Value, json};
use tokio::time::{Instant, timeout};

/// Upper bound for every await that could hang if the transport were broken.
const BOUND: Duration = Duration::from_secs(5);

struct Fixture {
    bus: MemoryBus,
    server: MemoryServer,
    client: Arc<MemoryClient>,
    arith: TestArith,
}

/// A started `arith` server and a client on a fresh bus.
async fn started() -> Fixture {
    let bus = MemoryBus::new();
    let arith = TestArith::new();
    let server = bus
        .server()
        .dispatcher(arith.dispatcher())
        .start()
        .await
        .unwrap();
    Fixture {
        client: Arc::new(bus.client()),
        bus,
        server,
        arith,
    }
}

async fn bounded<F: Future>(f: F) -> F::Output {
    timeout(BOUND, f).await.expect("bounded await timed out")
}

fn transport(result: Result<impl std::fmt::Debug, Error>) -> TransportError {
    match result {
        Err(Error::Transport(e)) => e,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

/// A service with no methods, to host beside `arith`.
struct Other(ContractDescriptor);

impl Service for Other {
    fn descriptor(&self) -> &ContractDescriptor {
        &self.0
    }

    fn call(&self, _: &str, _: Value) -> Option<HandlerFuture> {
        None
    }
}

fn arith_and_other(arith: &TestArith) -> Dispatcher {
    let other = Other(ContractDescriptor {
        service: "other".to_owned(),
        methods: Vec::new(),
    });
    Dispatcher::builder()
        .register(
            clamator_test_support::clamator_arith::ArithContract,
            arith.clone(),
        )
        .unwrap()
        .register_service(Arc::new(other))
        .unwrap()
        .build()
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
    assert_eq!(q, json!({"q": 0.25}));
    let e = f
        .client
        .call("arith", "divide", json!({"a": 1, "b": 0}), None)
        .await
        .unwrap_err();
    assert_eq!(e.as_rpc().map(|e| e.code), Some(-32000), "{e:?}");
}

#[tokio::test]
async fn typed_calls_go_through_client_transport() {
    let f = started().await;
    let sum: SumResult = clamator_protocol::transport::call(
        f.client.as_ref(),
        "arith",
        "add",
        &AddParams { a: 2.0, b: 3.0 },
        None,
    )
    .await
    .unwrap();
    assert_eq!(sum, SumResult { sum: 5.0 });

    // Through a trait object, as typed clients hold it.
    let dynamic: Arc<dyn ClientTransport> = f.client.clone();
    let v: Value = clamator_protocol::transport::call(
        dynamic.as_ref(),
        "arith",
        "add",
        &json!({"a": 1, "b": 1}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(v, json!({"sum": 2.0}));
    clamator_protocol::transport::notify(dynamic.as_ref(), "arith", "ping", &json!({}))
        .await
        .unwrap();
    f.arith.pinged_at_least(1).await;

    // A result that does not match the typed result is a protocol error.
    let err = clamator_protocol::transport::call::<_, _, SumResult>(
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
async fn notify_does_not_wait_for_the_handler() {
    let f = started().await;
    f.arith.hold_pings();
    bounded(f.client.notify("arith", "ping", json!({})))
        .await
        .unwrap();
    assert_eq!(f.arith.pings(), 0, "handler still held");
    f.arith.release_pings();
    f.arith.pinged_at_least(1).await;
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
async fn a_stopped_server_leaves_the_bus_and_a_fresh_one_takes_over() {
    let f = started().await;
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
    let err = transport(f.client.notify("arith", "ping", json!({})).await);
    assert!(matches!(err, TransportError::NoServer { .. }), "{err:?}");

    let again = f
        .bus
        .server()
        .dispatcher(f.arith.dispatcher())
        .start()
        .await
        .unwrap();
    f.client
        .call("arith", "add", json!({"a": 1, "b": 2}), None)
        .await
        .unwrap();
    again.stop().await;
}

#[tokio::test]
async fn a_server_with_no_service_does_not_start() {
    let err = MemoryBus::new().server().start().await.unwrap_err();
    assert!(matches!(err, StartError::NoServices), "{err:?}");
}

#[tokio::test]
async fn one_server_per_service_per_bus() {
    let f = started().await;
    // "arith" is taken: the second server registers none of its services.
    let err = f
        .bus
        .server()
        .dispatcher(arith_and_other(&f.arith))
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StartError::ServiceTaken { service } if service == "arith"),
        "{err:?}"
    );
    let err = transport(
        f.client
            .call("other", "add", json!({"a": 1, "b": 2}), None)
            .await,
    );
    assert!(matches!(err, TransportError::NoServer { .. }), "{err:?}");

    // Another bus is another world.
    let elsewhere = MemoryBus::new()
        .server()
        .dispatcher(f.arith.dispatcher())
        .start()
        .await
        .unwrap();

    // Once the first server stops, the second may start.
    f.server.stop().await;
    let second = f
        .bus
        .server()
        .dispatcher(arith_and_other(&f.arith))
        .start()
        .await
        .unwrap();
    let sum = f
        .client
        .call("arith", "add", json!({"a": 1, "b": 2}), None)
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 3.0}));
    let e = f
        .client
        .call("other", "add", json!({}), None)
        .await
        .unwrap_err();
    assert_eq!(e.as_rpc().map(|e| e.code), Some(-32601), "routed: {e:?}");
    second.stop().await;
    elsewhere.stop().await;
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
                json!({"a": 1, "b": 2, "sleepMs": 10_000}),
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
    let err = transport(
        client
            .call(
                "arith",
                "slowAdd",
                json!({"a": 1, "b": 2, "sleepMs": 10_000}),
                None,
            )
            .await,
    );
    assert!(
        matches!(err, TransportError::Timeout { timeout } if timeout == Duration::from_millis(80)),
        "{err:?}"
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
                    json!({"a": i, "b": 1, "sleepMs": 200}),
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

/// Calls `slowAdd` on a task of its own and waits until its handler runs.
async fn slow_call_in_flight(
    f: &Fixture,
    sleep_ms: u64,
) -> tokio::task::JoinHandle<Result<Value, Error>> {
    let client = Arc::clone(&f.client);
    let in_flight = tokio::spawn(async move {
        client
            .call(
                "arith",
                "slowAdd",
                json!({"a": 1, "b": 2, "sleepMs": sleep_ms}),
                None,
            )
            .await
    });
    f.arith.slow_started_at_least(1).await;
    in_flight
}

#[tokio::test(start_paused = true)]
async fn server_stop_drains_in_flight_handlers() {
    let f = started().await;
    let in_flight = slow_call_in_flight(&f, 300).await;

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
    assert_eq!(f.arith.handled(), vec![1.0]);
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
    let arith = TestArith::new();
    let server = bus
        .server()
        .dispatcher(arith.dispatcher())
        .shutdown_grace(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let f = Fixture {
        client: Arc::new(bus.client()),
        bus,
        server,
        arith,
    };
    let in_flight = slow_call_in_flight(&f, 60_000).await;
    let stopping_at = Instant::now();
    bounded(f.server.stop()).await;
    let waited = stopping_at.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(1),
        "stop waited {waited:?}"
    );
    let err = transport(bounded(in_flight).await.unwrap());
    assert!(matches!(err, TransportError::Stopped), "{err:?}");
    assert_eq!(f.arith.slow_cancelled(), 1);
    assert!(f.arith.handled().is_empty());
}

/// A `stop()` whose future is dropped cancels what still runs.
#[tokio::test(start_paused = true)]
async fn stop_is_cancel_safe() {
    let f = started().await;
    let in_flight = slow_call_in_flight(&f, 60_000).await;
    let stopped = timeout(Duration::from_millis(50), f.server.stop()).await;
    assert!(stopped.is_err(), "stop waits for the handler (grace 5 s)");
    f.arith
        .until("the handler was cancelled", |a| a.slow_running() == 0)
        .await;
    assert_eq!(f.arith.slow_cancelled(), 1);
    let err = transport(bounded(in_flight).await.unwrap());
    assert!(matches!(err, TransportError::Stopped), "{err:?}");
}
