//! Calls, errors as the client surfaces them, notifications, timeouts, load
//! and concurrency. (What the server answers to each kind of request is the
//! conformance suite, `conformance.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use clamator_over_redis::ServerOptions;
use clamator_over_redis::ops::keys;
use clamator_protocol::{ClientTransport, Error, TransportError};
use clamator_test_support::context::*;
use clamator_test_support::{TestArith, TestContext};
use serde_json::{Value, json};

/// Where `TestContext::on(crate::DEPLOYMENT)` puts this file's tests when it
/// is its own test binary: the binary's shared Redis. `cluster_suite.rs`
/// includes this file and names its own (a cluster).
#[allow(dead_code)] // unused where cluster_suite.rs includes this file
const DEPLOYMENT: Deployment = Deployment::OneRedis;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_and_wire_entries() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;

    let sum = within(client.call("arith", "add", json!({"a": 2, "b": 3.5}), None))
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 5.5}));
    let echo = within(client.call("arith", "echoText", json!({"text": "héllo ✓"}), None))
        .await
        .unwrap();
    assert_eq!(echo, json!({"text": "héllo ✓"}));
    // Through the ClientTransport trait too.
    let transport: &dyn ClientTransport = &client;
    let sum: Value = within(clamator_protocol::transport::call(
        transport,
        "arith",
        "add",
        &json!({"a": 1, "b": 1}),
        None,
    ))
    .await
    .unwrap();
    assert_eq!(sum, json!({"sum": 2.0}));

    // The request entry carries type, envelope and reply-to; nothing stays pending.
    let mut raw = ctx.raw().await;
    let stream = ctx.stream();
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&stream)
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    let first = &entries.ids[0];
    assert_eq!(first.get::<String>("type").as_deref(), Some("rpc"));
    assert_eq!(
        first.get::<String>("reply-to").as_deref(),
        Some(client.reply_stream())
    );
    let env: serde_json::Value =
        serde_json::from_str(&first.get::<String>("envelope").unwrap()).unwrap();
    assert_eq!(env["jsonrpc"], "2.0");
    assert_eq!(env["method"], "arith.add");
    assert!(env["id"].is_string());
    assert_eq!(
        client.reply_stream(),
        format!("{}:replies:{}", ctx.prefix(), client.instance_id())
    );
    nothing_pending(&raw, &stream, "all entries acked").await;
    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_replies_surface_as_rpc_errors_and_bad_names_never_leave() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;
    let err = within(client.call("arith", "divide", json!({"a": 1, "b": 0}), None))
        .await
        .unwrap_err();
    let rpc = err.as_rpc().expect("an RPC error");
    assert_eq!(
        (rpc.code, rpc.message.as_str(), &rpc.data),
        (-32000, "division by zero", &json!({"a": 1.0}))
    );
    assert!(matches!(
        client.call("Arith", "add", json!({}), None).await,
        Err(Error::Protocol(_))
    ));
    assert!(matches!(
        client.notify("arith", "slow-add", json!({})).await,
        Err(Error::Protocol(_))
    ));
    let mut raw = ctx.raw().await;
    assert_eq!(
        xlen(&mut raw, &ctx.stream()).await,
        1,
        "only the divide was sent"
    );
    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_run_once_and_get_no_reply() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;

    within(client.notify("arith", "ping", json!({})))
        .await
        .unwrap();
    arith.pinged_at_least(1).await;
    // A call after it: the reply stream then holds exactly that call's reply
    // (after the `open` entry the client adds when it connects).
    within(client.call("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .unwrap();
    let mut raw = ctx.raw().await;
    assert_eq!(xlen(&mut raw, client.reply_stream()).await, 2);
    assert_eq!(arith.pings(), 1);
    // A notification with bad params gets no reply either (and is acked).
    within(client.notify("arith", "ping", json!({"extra": 1})))
        .await
        .unwrap();
    nothing_pending(&raw, &ctx.stream(), "notifications acked").await;
    assert_eq!(xlen(&mut raw, client.reply_stream()).await, 2);
    assert_eq!(arith.pings(), 1);
    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_drop_the_late_reply() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;

    let started = Instant::now();
    let r = within(client.call(
        "arith",
        "slowAdd",
        json!({"a": 1, "b": 1, "sleepMs": 600}),
        Some(Duration::from_millis(200)),
    ))
    .await;
    let elapsed = started.elapsed();
    match r {
        Err(Error::Transport(TransportError::Timeout { timeout })) => {
            assert_eq!(timeout, Duration::from_millis(200));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(elapsed >= Duration::from_millis(200) && elapsed < Duration::from_millis(1_000));
    // The late reply lands in the reply stream (after the `open` entry) and is dropped.
    let raw = ctx.raw().await;
    let reply_stream = client.reply_stream().to_owned();
    eventually("the late reply arrived", || {
        let mut raw = raw.clone();
        let s = reply_stream.clone();
        async move { xlen(&mut raw, &s).await == 2 }
    })
    .await;
    let ok = within(client.call("arith", "add", json!({"a": 4, "b": 4}), None))
        .await
        .unwrap();
    assert_eq!(ok, json!({"sum": 8.0}));
    // The default timeout applies when the call gives none.
    let short = ctx
        .client_with(TestContext::client_options().default_timeout(Duration::from_millis(150)))
        .await;
    let r = within(short.call(
        "arith",
        "slowAdd",
        json!({"a": 1, "b": 1, "sleepMs": 500}),
        None,
    ))
    .await;
    assert!(r.as_ref().is_err_and(Error::is_timeout), "{r:?}");
    short.close().await;
    client.close().await;
    server.stop().await;
}

/// 10,000 calls sent at once queue their XADDs on one connection; a debug
/// build drains them in more than a command timeout (this failed with "no
/// answer from Redis within 2000 ms" on a fresh machine). A command's limit
/// measures how long Redis was silent, not how long it queued: with a
/// 500 ms command timeout every call is still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_calls_in_flight_on_one_client() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = within(clamator_over_redis::RedisRpcClient::connect_with(
        ctx.conn().command_timeout(Duration::from_millis(500)),
        TestContext::client_options(),
    ))
    .await
    .unwrap();
    let started = Instant::now();
    let calls = (0..10_000).map(|i| {
        let client = &client;
        async move {
            client
                .call(
                    "arith",
                    "add",
                    json!({"a": i, "b": 1}),
                    Some(Duration::from_secs(60)),
                )
                .await
        }
    });
    let results = tokio::time::timeout(Duration::from_secs(90), futures::future::join_all(calls))
        .await
        .expect("10,000 calls did not finish");
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap(), json!({"sum": i as f64 + 1.0}));
    }
    eprintln!("10,000 calls took {:?}", started.elapsed());
    assert_eq!(arith.handled().len(), 10_000);
    client.close().await;
    server.stop().await;
}

async fn run_slow_calls(max_concurrency: usize, calls: usize, sleep_ms: u64) -> Duration {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx
        .server(
            ServerOptions::default().max_concurrency(max_concurrency),
            &arith,
        )
        .await;
    let client = ctx.client().await;
    // Warm up the connections so the measurement is the handlers.
    within(client.call("arith", "add", json!({"a": 0, "b": 0}), None))
        .await
        .unwrap();
    let started = Instant::now();
    let all = futures::future::join_all((0..calls).map(|i| {
        client.call(
            "arith",
            "slowAdd",
            json!({"a": i, "b": 0, "sleepMs": sleep_ms}),
            None,
        )
    }));
    for r in within(all).await {
        r.unwrap();
    }
    let elapsed = started.elapsed();
    client.close().await;
    server.stop().await;
    elapsed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_run_concurrently_up_to_the_limit() {
    let elapsed = run_slow_calls(8, 8, 400).await;
    assert!(
        elapsed < Duration::from_millis(1_000),
        "8 calls of 400 ms on 8 slots took {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_one_serializes() {
    let elapsed = run_slow_calls(1, 4, 150).await;
    assert!(
        elapsed >= Duration::from_millis(600),
        "4 calls of 150 ms on 1 slot took only {elapsed:?}"
    );
}

/// `calls=` of one command in `INFO commandstats`.
async fn command_calls(conn: &mut RawConn, command: &str) -> usize {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_of_calls_that_finish_together_are_coalesced() {
    // Counts XACKs server-wide: a server of its own.
    let ctx = TestContext::own_server();
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;
    let mut conn = ctx.raw().await;
    let before = command_calls(&mut conn, "xack").await;

    let calls = (0..1000).map(|i| client.call("arith", "add", json!({"a": i, "b": 1}), None));
    let results = within(futures::future::join_all(calls)).await;
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap(), json!({"sum": i as f64 + 1.0}));
    }
    // The ack follows the reply (on a Cluster it goes to another node), so a
    // caller can hold its answer a moment before its entry is acked: wait.
    eventually("every entry acked", || {
        let mut conn = conn.clone();
        let stream = ctx.stream();
        async move { pending_count(&mut conn, &stream, "arith").await == 0 }
    })
    .await;
    let acks = command_calls(&mut conn, "xack").await - before;
    assert!(
        acks < 1000,
        "1000 calls in flight took {acks} XACK commands: none were coalesced"
    );
    client.close().await;
    server.stop().await;
}

/// Queues a request whose caller gives up after 100 ms and one that waits,
/// then starts a server once the first is well past its deadline; returns the
/// `a` of every request the server ran.
async fn requests_run_after_a_backlog(skip_expired: bool) -> Vec<f64> {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let options = ServerOptions::default().skip_expired(skip_expired);
    // The group exists (a server ran before), but no server runs now.
    let conn = ctx.raw().await;
    create_group(&mut conn.clone(), &ctx.stream()).await;
    let client = ctx.client().await;
    let gave_up = client
        .call(
            "arith",
            "add",
            json!({"a": 1, "b": 1}),
            Some(Duration::from_millis(100)),
        )
        .await;
    assert!(gave_up.unwrap_err().is_timeout());
    let waits = client.call(
        "arith",
        "add",
        json!({"a": 2, "b": 2}),
        Some(Duration::from_secs(8)),
    );
    let arith = TestArith::new();
    let late_server = async {
        // The event awaited is the clock passing the first caller's deadline
        // plus the server's 500 ms slack.
        tokio::time::sleep(Duration::from_millis(800)).await;
        ctx.server(options, &arith).await
    };
    let (result, server) = within(futures::future::join(waits, late_server)).await;
    assert_eq!(result.unwrap(), json!({"sum": 4.0}));
    nothing_pending(&conn, &ctx.stream(), "both requests acked").await;
    client.close().await;
    server.stop().await;
    let mut handled = arith.handled();
    handled.sort_by(f64::total_cmp);
    handled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_caller_gave_up_is_not_run() {
    assert_eq!(requests_run_after_a_backlog(true).await, vec![2.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_skip_expired_off_every_request_runs_like_the_peer() {
    assert_eq!(requests_run_after_a_backlog(false).await, vec![1.0, 2.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_past_handler_timeout_is_cancelled_and_answered() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx
        .server(
            ServerOptions::default().handler_timeout(Some(Duration::from_millis(300))),
            &arith,
        )
        .await;
    let client = ctx.client().await;
    let started = Instant::now();
    let err = within(client.call(
        "arith",
        "slowAdd",
        json!({"a": 1, "b": 2, "sleepMs": 5000}),
        Some(Duration::from_secs(8)),
    ))
    .await
    .unwrap_err();
    let rpc = err.as_rpc().expect("an RPC error, not a client timeout");
    assert_eq!(rpc.code, -32603);
    assert_eq!(rpc.data["name"], "HandlerTimeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(
        arith.slow_cancelled(),
        1,
        "the handler's future was dropped"
    );
    let raw = ctx.raw().await;
    nothing_pending(
        &raw,
        &keys::command_stream(ctx.prefix(), "arith"),
        "the cancelled call acked",
    )
    .await;
    let ok = within(client.call("arith", "add", json!({"a": 1, "b": 1}), None)).await;
    assert_eq!(ok.unwrap(), json!({"sum": 2.0}), "the server keeps serving");
    client.close().await;
    server.stop().await;
}

/// What a handler that takes the request's context saw of it.
#[derive(Debug)]
struct Seen {
    /// Time to the caller's deadline when the handler started.
    remaining: Option<Duration>,
    delivery: Option<u64>,
    /// How long after starting the handler its signal fired (`None`: it
    /// ran its whole 10 s).
    cancelled_after: Option<Duration>,
}

/// `watch.wait`: a method that takes the request's context and waits up to
/// 10 s for its cancellation signal, reporting what it saw.
struct Watch {
    descriptor: clamator_protocol::ContractDescriptor,
    seen: tokio::sync::mpsc::UnboundedSender<Seen>,
}

impl clamator_protocol::Service for Watch {
    fn descriptor(&self) -> &clamator_protocol::ContractDescriptor {
        &self.descriptor
    }

    fn call(&self, _: &str, _: Value) -> Option<clamator_protocol::HandlerFuture> {
        panic!("a method that takes a context is called with one");
    }

    fn wants_context(&self, method: &str) -> bool {
        method == "wait"
    }

    fn call_with(
        &self,
        method: &str,
        _: Value,
        ctx: clamator_protocol::Context,
    ) -> Option<clamator_protocol::HandlerFuture> {
        use futures::FutureExt;
        let seen = self.seen.clone();
        (method == "wait").then(|| {
            async move {
                let started = Instant::now();
                let remaining = ctx.remaining();
                let cancelled_after = tokio::select! {
                    () = ctx.cancelled() => Some(started.elapsed()),
                    () = tokio::time::sleep(Duration::from_secs(10)) => None,
                };
                // The server's deadline and the caller's timer fire about
                // together: answer well after, so the caller has timed out.
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = seen.send(Seen {
                    remaining,
                    delivery: ctx.delivery(),
                    cancelled_after,
                });
                Ok(Some(json!({})))
            }
            .boxed()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_takes_its_context_is_told_when_its_caller_gives_up() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = Watch {
        descriptor: clamator_protocol::ContractDescriptor {
            service: "watch".to_owned(),
            methods: vec![clamator_protocol::MethodDescriptor {
                name: "wait".to_owned(),
                rust_name: "wait".to_owned(),
                notification: false,
                params_schema: json!({"type": "object"}),
                result_schema: Some(json!({"type": "object"})),
                params_schema_text: None,
                result_schema_text: None,
            }],
        },
        seen: tx,
    };
    let dispatcher = clamator_protocol::Dispatcher::builder()
        .register_service(std::sync::Arc::new(watch))
        .unwrap()
        .build();
    let server = within(
        clamator_over_redis::RedisRpcServer::builder(ctx.conn())
            .dispatcher(dispatcher)
            .start(),
    )
    .await
    .unwrap();
    let client = ctx.client().await;
    // The caller waits 800 ms (its `timeout-ms`), then gives up.
    let r = within(client.call("watch", "wait", json!({}), Some(Duration::from_millis(800)))).await;
    assert!(
        matches!(r, Err(Error::Transport(TransportError::Timeout { .. }))),
        "{r:?}"
    );
    let seen = within(rx.recv()).await.unwrap();
    assert_eq!(seen.delivery, Some(1), "{seen:?}");
    let remaining = seen.remaining.expect("a Rust caller's deadline is known");
    assert!(remaining <= Duration::from_millis(800), "{seen:?}");
    // Fired at the deadline: the handler started with `remaining` to go
    // (clock offsets and scheduling make it approximate, not 10 s).
    let after = seen.cancelled_after.expect("the signal fired");
    assert!(after < Duration::from_secs(3), "{seen:?}");
    client.close().await;
    server.stop().await;
}

/// Request metadata travels as `meta-<name>` stream fields after the
/// others, and a server middleware layer (and a handler's context) reads
/// it. Fields that cannot be metadata (a bad name, a value that is not UTF-8
/// or too long) are left out, a repeated name keeps its first value, and the
/// request still runs: guaranteed answered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_travels_as_meta_fields_and_hostile_ones_are_left_out() {
    use std::sync::{Arc, Mutex};

    use clamator_protocol::Metadata;
    use clamator_protocol::middleware::Call;
    use tower::ServiceExt;

    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    type Pairs = Vec<(String, String)>;
    let seen: Arc<Mutex<Vec<Pairs>>> = Arc::default();
    let record = Arc::clone(&seen);
    let layer = tower::layer::layer_fn(move |inner: clamator_protocol::middleware::CallService| {
        let record = Arc::clone(&record);
        tower::service_fn(move |call: Call| {
            let pairs = call
                .metadata()
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()));
            record.lock().unwrap().push(pairs.collect());
            let inner = inner.clone();
            async move { inner.oneshot(call).await }
        })
    });
    let server = within(
        clamator_over_redis::RedisRpcServer::builder(ctx.conn())
            .options(ctx.timed(ServerOptions::default()))
            .dispatcher(arith.dispatcher_builder().layer(layer).build())
            .start(),
    )
    .await
    .unwrap();
    let metadata = Metadata::new()
        .with("authorization", "Bearer t0ken")
        .unwrap()
        .with("tenant", "acme")
        .unwrap();
    let client = ctx.client().await.with_metadata(metadata);
    let sum = within(client.call("arith", "add", json!({"a": 1, "b": 2}), None))
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 3.0}));
    let want = vec![
        ("authorization".to_owned(), "Bearer t0ken".to_owned()),
        ("tenant".to_owned(), "acme".to_owned()),
    ];
    assert_eq!(seen.lock().unwrap().as_slice(), [want]);

    // On the wire: after type, envelope, reply-to and the client's own fields.
    let mut raw = ctx.raw().await;
    let stream = ctx.stream();
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&stream)
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    let fields: Vec<String> = redis::cmd("XRANGE")
        .arg(&stream)
        .arg(&entries.ids[0].id)
        .arg(&entries.ids[0].id)
        .query_async::<Vec<(String, Vec<String>)>>(&mut raw)
        .await
        .unwrap()
        .remove(0)
        .1
        .into_iter()
        .step_by(2)
        .collect();
    assert_eq!(&fields[..3], ["type", "envelope", "reply-to"]);
    assert_eq!(
        &fields[fields.len() - 2..],
        ["meta-authorization", "meta-tenant"]
    );

    // A hostile entry: junk metadata is left out, the first tenant wins.
    let reply_to = format!("{}:replies:raw-meta", ctx.prefix());
    let big = vec![b'v'; 5_000];
    xadd_raw(
        &mut raw,
        &stream,
        &[
            ("type", b"rpc"),
            (
                "envelope",
                br#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":2,"b":2},"id":"m1"}"#,
            ),
            ("reply-to", reply_to.as_bytes()),
            ("meta-Bad", b"x"),
            ("meta-bin", b"\xff\xfe"),
            ("meta-big", &big),
            ("meta-tenant", b"first"),
            ("meta-tenant", b"second"),
            ("meta-", b"empty name"),
        ],
    )
    .await;
    let (_, reply) = read_reply(&mut raw, &reply_to, "0").await;
    assert_eq!(reply["result"], json!({"sum": 4.0}), "{reply}");
    assert_eq!(
        seen.lock().unwrap().last().unwrap(),
        &[("tenant".to_owned(), "first".to_owned())]
    );
    nothing_pending(&raw, &stream, "the hostile-metadata request").await;
    client.close().await;
    server.stop().await;
}

/// Waits (bounded) until `key` holds at least `n` entries.
async fn until_xlen(raw: &mut RawConn, key: &str, n: usize) {
    within(async {
        while xlen(raw, key).await < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A call whose future is dropped is cancelled on the servers: the handler
/// running it gets its context's signal (long before its deadline), and a
/// request still queued is skipped when it comes (acked, never run, no
/// reply). Guaranteed on Rust servers once a housekeeping pass read the
/// cancel; a handler without a context runs on (documented).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_call_signals_its_running_handler_and_a_queued_one_is_skipped() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx
        .server(ServerOptions::default().max_concurrency(1), &arith)
        .await;
    let client = ctx.client().await;
    let mut raw = ctx.raw().await;
    let stream = ctx.stream();
    let cancels = keys::cancel_stream(ctx.prefix(), "arith");

    let call = |sleep_ms: u64| {
        let client = client.clone();
        tokio::spawn(async move {
            let params = json!({"a": 1, "b": 1, "sleepMs": sleep_ms});
            client
                .call("arith", "slowAdd", params, Some(Duration::from_secs(30)))
                .await
        })
    };
    let running = call(2_000);
    arith.slow_started_at_least(1).await;
    let queued = call(10);
    until_xlen(&mut raw, &stream, 2).await;
    running.abort();
    queued.abort();
    until_xlen(&mut raw, &cancels, 2).await;
    // Both cancels read while the first handler still holds the only slot.
    housekeeping_passes(&server, 2).await;
    arith.slow_signalled_at_least(1).await;
    assert_eq!(
        arith.slow_started(),
        1,
        "the queued call has not been read yet"
    );

    // The first handler runs to its end (TestArith does not stop); then the
    // queued request is read and skipped.
    nothing_pending(&raw, &stream, "the cancelled calls").await;
    assert_eq!(
        arith.slow_started(),
        1,
        "the cancelled queued call never ran"
    );
    assert_eq!(arith.slow_signalled(), 1);
    client.close().await;
    server.stop().await;
}

/// A call that times out sends one cancel entry (`$cancelRequest` with the
/// call's id, and the caller's reply stream); a client built with
/// `cancel_abandoned_calls(false)` sends none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_call_sends_a_cancel_unless_told_not_to() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let mut raw = ctx.raw().await;
    let cancels = keys::cancel_stream(ctx.prefix(), "arith");
    let quiet = ctx
        .client_with(TestContext::client_options().cancel_abandoned_calls(false))
        .await;
    let params = json!({"a": 1, "b": 1, "sleepMs": 600});
    let e = within(quiet.call(
        "arith",
        "slowAdd",
        params.clone(),
        Some(Duration::from_millis(100)),
    ))
    .await
    .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");

    let client = ctx.client().await;
    let e = within(client.call("arith", "slowAdd", params, Some(Duration::from_millis(100))))
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    until_xlen(&mut raw, &cancels, 1).await;
    let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg(&cancels)
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1, "only the client that cancels sent one");
    let fields = &entries[0].1;
    assert_eq!(fields[..2], ["type", "cancel"]);
    assert_eq!(fields[2], "envelope");
    let envelope: Value = serde_json::from_str(&fields[3]).unwrap();
    assert_eq!(envelope["method"], "$cancelRequest");
    assert!(envelope["params"]["id"].is_string(), "{envelope}");
    assert_eq!(fields[4..], ["reply-to", client.reply_stream()]);
    quiet.close().await;
    client.close().await;
    server.stop().await;
}
