//! Calls, errors, notifications, timeouts, ids, load and concurrency against a
//! real redis-server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clamator_over_redis::keys;
use clamator_protocol::{ClientTransport, Error, TransportError};
use clamator_test_support::{RedisServer, unique_prefix};
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_and_wire_entries() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let arith = Arith::new();
    let server = server(config(&redis.url(), &prefix).build().unwrap(), &arith).await;
    let client = client(config(&redis.url(), &prefix).build().unwrap()).await;

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
    let sum = within(transport.call_value("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 2.0}));

    // The request entry carries type, envelope and reply-to; nothing stays pending.
    let mut raw = raw(&redis.url()).await;
    let stream = keys::command_stream(&prefix, "arith");
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
        format!("{prefix}:replies:{}", client.instance_id())
    );
    nothing_pending(&raw, &stream, "all entries acked").await;
    client.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_row_of_the_mapping() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let arith = Arith::new();
    let server = server(config(&redis.url(), &prefix).build().unwrap(), &arith).await;
    let client = client(config(&redis.url(), &prefix).build().unwrap()).await;
    let rpc = |r: Result<serde_json::Value, Error>| match r {
        Err(Error::Rpc(e)) => e,
        other => panic!("expected an RPC error, got {other:?}"),
    };

    let e = rpc(within(client.call("arith", "nope", json!({}), None)).await);
    assert_eq!((e.code, e.message.as_str()), (-32601, "Method not found"));
    assert_eq!(e.data, serde_json::Value::Null);

    let e = rpc(within(client.call("arith", "add", json!({"a": 1}), None)).await);
    assert_eq!((e.code, e.message.as_str()), (-32602, "Invalid params"));
    let errors = e.data["errors"].as_array().unwrap();
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|p| p.get("loc").is_some() && p["msg"].is_string())
    );
    let e = rpc(within(client.call("arith", "add", json!({"a": 1, "b": 2, "c": 3}), None)).await);
    assert_eq!(e.code, -32602);

    let e = rpc(within(client.call("arith", "divide", json!({"a": 1, "b": 0}), None)).await);
    assert_eq!((e.code, e.message.as_str()), (-32000, "division by zero"));
    assert_eq!(e.data, json!({"a": 1.0}));

    let e = rpc(within(client.call("arith", "panic", json!({}), None)).await);
    assert_eq!((e.code, e.message.as_str()), (-32603, "Internal error"));
    assert_eq!(e.data["name"], "panic");
    assert!(e.data["message"].as_str().unwrap().contains("boom"));

    let e = rpc(within(client.call("arith", "badResult", json!({}), None)).await);
    assert_eq!(
        (e.code, e.message.as_str()),
        (-32603, "Result validation failed")
    );
    assert!(e.data["errors"].is_array());

    // The server keeps serving after a panic.
    let ok = within(client.call("arith", "add", json!({"a": 1, "b": 2}), None))
        .await
        .unwrap();
    assert_eq!(ok, json!({"sum": 3.0}));

    // A request for a service this server does not host, arriving on arith's
    // stream: "Method not found".
    let mut raw = raw(&redis.url()).await;
    let reply_to = format!("{prefix}:replies:raw");
    let envelope = json!({"jsonrpc": "2.0", "method": "geometry.area", "params": {}, "id": "g1"});
    xadd_raw(
        &mut raw,
        &keys::command_stream(&prefix, "arith"),
        &[
            ("type", b"rpc"),
            ("envelope", envelope.to_string().as_bytes()),
            ("reply-to", reply_to.as_bytes()),
        ],
    )
    .await;
    let (_, reply) = read_reply(&mut raw, &reply_to, "0-0").await;
    assert_eq!(reply["id"], "g1");
    assert_eq!(reply["error"]["code"], -32601);
    assert_eq!(reply["error"]["data"], serde_json::Value::Null);

    // Bad names never leave the client.
    assert!(matches!(
        client.call("Arith", "add", json!({}), None).await,
        Err(Error::Protocol(_))
    ));
    client.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integer_ids_come_back_as_integers() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let arith = Arith::new();
    let server = server(config(&redis.url(), &prefix).build().unwrap(), &arith).await;
    let mut raw = raw(&redis.url()).await;
    let reply_to = format!("{prefix}:replies:raw");
    xadd_raw(
        &mut raw,
        &keys::command_stream(&prefix, "arith"),
        &[
            ("type", b"rpc"),
            (
                "envelope",
                br#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":7}"#,
            ),
            ("reply-to", reply_to.as_bytes()),
            ("x-unknown-extension", b"ignored"),
        ],
    )
    .await;
    let (_, reply) = read_reply(&mut raw, &reply_to, "0-0").await;
    assert_eq!(reply["id"], json!(7));
    assert!(reply["id"].is_i64());
    assert_eq!(reply["result"], json!({"sum": 3.0}));
    assert_eq!(reply["jsonrpc"], "2.0");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_run_once_and_get_no_reply() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let arith = Arith::new();
    let server = server(config(&redis.url(), &prefix).build().unwrap(), &arith).await;
    let client = client(config(&redis.url(), &prefix).build().unwrap()).await;

    let pinged = arith.state.pinged.notified();
    within(client.notify("arith", "ping", json!({})))
        .await
        .unwrap();
    within(pinged).await;
    // A call after it: the reply stream then holds exactly that call's reply
    // (after the `open` entry the client adds when it connects).
    within(client.call("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .unwrap();
    let mut raw = raw(&redis.url()).await;
    assert_eq!(xlen(&mut raw, client.reply_stream()).await, 2);
    assert_eq!(arith.state.pings.load(Ordering::SeqCst), 1);
    // A notification with bad params gets no reply either (and is acked).
    within(client.notify("arith", "ping", json!({"extra": 1})))
        .await
        .unwrap();
    let stream = keys::command_stream(&prefix, "arith");
    nothing_pending(&raw, &stream, "notifications acked").await;
    assert_eq!(xlen(&mut raw, client.reply_stream()).await, 2);
    assert_eq!(arith.state.pings.load(Ordering::SeqCst), 1);
    client.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_drop_the_late_reply() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let arith = Arith::new();
    let server = server(config(&redis.url(), &prefix).build().unwrap(), &arith).await;
    let client = client(config(&redis.url(), &prefix).build().unwrap()).await;

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
    // The late reply lands in the reply stream and is dropped.
    let raw = raw(&redis.url()).await;
    let reply_stream = client.reply_stream().to_owned();
    eventually("the late reply arrived", || {
        let mut raw = raw.clone();
        let s = reply_stream.clone();
        async move { xlen(&mut raw, &s).await == 1 }
    })
    .await;
    let ok = within(client.call("arith", "add", json!({"a": 4, "b": 4}), None))
        .await
        .unwrap();
    assert_eq!(ok, json!({"sum": 8.0}));
    // The default timeout applies when the call gives none.
    let short = clamator_over_redis::RedisRpcClient::new(
        config(&redis.url(), &prefix)
            .default_timeout(Duration::from_millis(150))
            .build()
            .unwrap(),
    );
    within(short.start()).await.unwrap();
    let r = within(short.call(
        "arith",
        "slowAdd",
        json!({"a": 1, "b": 1, "sleepMs": 500}),
        None,
    ))
    .await;
    assert!(r.as_ref().is_err_and(Error::is_timeout), "{r:?}");
    short.stop().await;
    client.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_calls_in_flight_on_one_client() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let arith = Arith::new();
    let server = server(config(&redis.url(), &prefix).build().unwrap(), &arith).await;
    let client = client(config(&redis.url(), &prefix).build().unwrap()).await;
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
    client.stop().await;
    server.stop().await;
}

async fn run_slow_calls(max_concurrency: usize, calls: usize, sleep_ms: u64) -> Duration {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let arith = Arith::new();
    let server = server(
        config(&redis.url(), &prefix)
            .max_concurrency(max_concurrency)
            .build()
            .unwrap(),
        &arith,
    )
    .await;
    let client = client(config(&redis.url(), &prefix).build().unwrap()).await;
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
    client.stop().await;
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
async fn command_calls(conn: &mut redis::aio::MultiplexedConnection, command: &str) -> usize {
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
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let cfg = config(&redis.url(), &prefix).build().unwrap();
    let arith = Arith::new();
    let server = server(cfg.clone(), &arith).await;
    let client = client(cfg).await;
    let mut conn = raw(&redis.url()).await;
    let before = command_calls(&mut conn, "xack").await;

    let calls = (0..1000).map(|i| client.call("arith", "add", json!({"a": i, "b": 1}), None));
    let results = within(futures::future::join_all(calls)).await;
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap(), json!({"sum": i as f64 + 1.0}));
    }
    let acks = command_calls(&mut conn, "xack").await - before;
    assert!(
        acks < 1000,
        "1000 calls in flight took {acks} XACK commands: none were coalesced"
    );
    let stream = keys::command_stream(&prefix, "arith");
    assert_eq!(
        pending_count(&mut conn, &stream, "arith").await,
        0,
        "every entry was acked"
    );
    client.stop().await;
    server.stop().await;
}

/// Queues a request whose caller gives up after 100 ms and one that waits,
/// then starts a server once the first is well past its deadline; returns the
/// `a` of every request the server ran.
async fn requests_run_after_a_backlog(skip_expired: bool) -> Vec<f64> {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let cfg = config(&redis.url(), &prefix)
        .skip_expired(skip_expired)
        .build()
        .unwrap();
    // The group exists (a server ran before), but no server runs now.
    let mut conn = raw(&redis.url()).await;
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(keys::command_stream(&prefix, "arith"))
        .arg("arith")
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await
        .unwrap();
    let client = client(cfg.clone()).await;
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
    let late_server = async {
        // The event awaited is the clock passing the first caller's deadline
        // plus the server's 500 ms slack.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let arith = Arith::new();
        (server(cfg.clone(), &arith).await, arith)
    };
    let (result, (server, arith)) = within(futures::future::join(waits, late_server)).await;
    assert_eq!(result.unwrap(), json!({"sum": 4.0}));
    nothing_pending(
        &conn,
        &keys::command_stream(&prefix, "arith"),
        "both requests acked",
    )
    .await;
    client.stop().await;
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
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let cfg = config(&redis.url(), &prefix)
        .handler_timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let arith = Arith::new();
    let server = server(cfg.clone(), &arith).await;
    let client = client(cfg).await;
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
    let raw = raw(&redis.url()).await;
    nothing_pending(
        &raw,
        &keys::command_stream(&prefix, "arith"),
        "the cancelled call acked",
    )
    .await;
    let ok = within(client.call("arith", "add", json!({"a": 1, "b": 1}), None)).await;
    assert_eq!(ok.unwrap(), json!({"sum": 2.0}), "the server keeps serving");
    assert!(
        clamator_over_redis::RedisConfig::builder("p")
            .redis_url(redis.url())
            .handler_timeout(Some(Duration::ZERO))
            .build()
            .is_err()
    );
    client.stop().await;
    server.stop().await;
}
