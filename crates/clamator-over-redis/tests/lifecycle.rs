//! Start, stop, drop and configuration.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clamator_over_redis::{RedisConfig, RedisRpcClient, RedisRpcServer, keys};
use clamator_protocol::{Error, TransportError};
use clamator_test_support::{RedisServer, unique_prefix};
use common::*;
use serde_json::json;

/// Waits until a `slowAdd` handler of `arith` has started.
async fn slow_started(arith: &Arith) {
    let notified = arith.state.slow_started_notify.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    if arith.state.slow_started.load(Ordering::SeqCst) == 0 {
        within(notified).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_stop_fails_pending_calls_and_deletes_the_reply_stream() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let arith = Arith::new();
    let server = server(
        config(&redis.url(), &prefix)
            .shutdown_grace(Duration::from_millis(50))
            .build()
            .unwrap(),
        &arith,
    )
    .await;
    let client = RedisRpcClient::new(config(&redis.url(), &prefix).build().unwrap());

    let r = client
        .call("arith", "add", json!({"a": 1, "b": 1}), None)
        .await;
    assert!(
        matches!(r, Err(Error::Transport(TransportError::NotStarted))),
        "{r:?}"
    );
    let r = client.notify("arith", "ping", json!({})).await;
    assert!(
        matches!(r, Err(Error::Transport(TransportError::NotStarted))),
        "{r:?}"
    );

    within(client.start()).await.unwrap();
    within(client.start()).await.unwrap(); // idempotent
    within(client.call("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .unwrap();
    let mut raw = raw(&redis.url()).await;
    let exists = |mut raw: redis::aio::MultiplexedConnection, key: String| async move {
        redis::cmd("EXISTS")
            .arg(key)
            .query_async::<i64>(&mut raw)
            .await
            .unwrap()
    };
    assert_eq!(
        exists(raw.clone(), client.reply_stream().to_owned()).await,
        1
    );

    let pending = client.call(
        "arith",
        "slowAdd",
        json!({"a": 1, "b": 1, "sleepMs": 3_000}),
        None,
    );
    let stopper = async {
        slow_started(&arith).await;
        let started = Instant::now();
        client.stop().await;
        started.elapsed()
    };
    let (r, stop_took) = within(futures::future::join(pending, stopper)).await;
    assert!(
        matches!(r, Err(Error::Transport(TransportError::Stopped))),
        "{r:?}"
    );
    assert!(
        stop_took < Duration::from_secs(1),
        "stop took {stop_took:?}"
    );
    assert_eq!(
        exists(raw.clone(), client.reply_stream().to_owned()).await,
        0
    );

    within(client.stop()).await; // idempotent
    let r = client
        .call("arith", "add", json!({"a": 1, "b": 1}), None)
        .await;
    assert!(
        matches!(r, Err(Error::Transport(TransportError::Stopped))),
        "{r:?}"
    );
    assert!(matches!(client.start().await, Err(TransportError::Stopped)));
    let _ = &mut raw;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stop_lets_in_flight_handlers_finish() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let arith = Arith::new();
    let server = server(
        config(&redis.url(), &prefix)
            .shutdown_grace(Duration::from_secs(5))
            .build()
            .unwrap(),
        &arith,
    )
    .await;
    within(server.start()).await.unwrap(); // idempotent
    let client = client(config(&redis.url(), &prefix).build().unwrap()).await;
    let call = client.call(
        "arith",
        "slowAdd",
        json!({"a": 2, "b": 3, "sleepMs": 400}),
        None,
    );
    let stopper = async {
        slow_started(&arith).await;
        let started = Instant::now();
        server.stop().await;
        started.elapsed()
    };
    let (r, stop_took) = within(futures::future::join(call, stopper)).await;
    assert_eq!(
        r.unwrap(),
        json!({"sum": 5.0}),
        "the in-flight call completed"
    );
    assert!(
        stop_took >= Duration::from_millis(200) && stop_took < Duration::from_secs(2),
        "stop waited for the handler: {stop_took:?}"
    );
    let mut raw = raw(&redis.url()).await;
    let stream = keys::command_stream(&prefix, "arith");
    assert_eq!(pending_count(&mut raw, &stream, "arith").await, 0);

    within(server.stop()).await; // idempotent
    assert!(matches!(server.start().await, Err(TransportError::Stopped)));
    // A stopped server reads nothing more.
    let r = client
        .call(
            "arith",
            "add",
            json!({"a": 1, "b": 1}),
            Some(Duration::from_millis(300)),
        )
        .await;
    assert!(r.as_ref().is_err_and(Error::is_timeout), "{r:?}");
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stop_leaves_unfinished_entries_pending() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let arith = Arith::new();
    let server = server(
        config(&redis.url(), &prefix)
            .shutdown_grace(Duration::from_millis(200))
            .build()
            .unwrap(),
        &arith,
    )
    .await;
    let client = client(config(&redis.url(), &prefix).build().unwrap()).await;
    let call = client.call(
        "arith",
        "slowAdd",
        json!({"a": 2, "b": 3, "sleepMs": 5_000}),
        Some(Duration::from_millis(1_500)),
    );
    let stopper = async {
        slow_started(&arith).await;
        let started = Instant::now();
        server.stop().await;
        started.elapsed()
    };
    let (r, stop_took) = within(futures::future::join(call, stopper)).await;
    assert!(r.as_ref().is_err_and(Error::is_timeout), "{r:?}");
    // The grace, not a BLOCK timeout: the parked read is unblocked at once.
    assert!(
        stop_took < Duration::from_millis(900),
        "stop took {stop_took:?}"
    );
    let mut raw = raw(&redis.url()).await;
    let stream = keys::command_stream(&prefix, "arith");
    assert_eq!(
        pending_count(&mut raw, &stream, "arith").await,
        1,
        "the unfinished entry stays pending for reclaim"
    );
    assert!(arith.handled().is_empty());
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_server_stops_promptly() {
    let redis = RedisServer::start();
    let arith = Arith::new();
    let server = server(
        config(&redis.url(), &unique_prefix()).build().unwrap(),
        &arith,
    )
    .await;
    // Let the consumer loop park in its blocking read.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    within(server.stop()).await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "stop took {:?}",
        started.elapsed()
    );
}

/// The number of connections Redis sees.
async fn connections(raw: &mut redis::aio::MultiplexedConnection) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(raw)
        .await
        .unwrap();
    list.lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_without_stop_releases_everything() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let mut raw = raw(&redis.url()).await;
    assert_eq!(connections(&mut raw).await, 1);
    let arith = Arith::new();
    let server = server(config(&redis.url(), &prefix).build().unwrap(), &arith).await;
    let client = client(config(&redis.url(), &prefix).build().unwrap()).await;
    within(client.call("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .unwrap();
    assert!(connections(&mut raw).await > 1);
    drop(client);
    drop(server);
    eventually("every connection closed", || {
        let mut raw = raw.clone();
        async move { connections(&mut raw).await == 1 }
    })
    .await;
    // Never started: dropping does nothing.
    drop(RedisRpcServer::new(
        config(&redis.url(), &prefix).build().unwrap(),
        arith.dispatcher(),
    ));
    drop(RedisRpcClient::new(
        config(&redis.url(), &prefix).build().unwrap(),
    ));
}

#[tokio::test]
async fn config_errors_say_what_to_do() {
    let msg = |r: Result<RedisConfig, TransportError>| match r {
        Err(TransportError::Config(m)) => m,
        other => panic!("expected a config error, got {other:?}"),
    };
    let url = "redis://127.0.0.1:1";
    assert!(
        msg(RedisConfig::builder("").redis_url(url).build()).contains("set a non-empty prefix")
    );
    assert!(msg(RedisConfig::builder(" \t").redis_url(url).build()).contains("key_prefix"));
    assert!(
        msg(RedisConfig::builder("app")
            .redis_url(url)
            .max_concurrency(0)
            .build())
        .contains("set at least 1")
    );
    assert!(
        msg(RedisConfig::builder("app").redis_url("not a url").build())
            .contains("not a valid Redis URL")
    );
    let c = RedisConfig::builder("app")
        .redis_url(url)
        .instance_id("worker-1")
        .consumer_claim_idle(Duration::from_millis(1_000))
        .reply_stream_maxlen(10)
        .default_timeout(Duration::from_secs(1))
        .shutdown_grace(Duration::ZERO)
        .max_concurrency(1)
        .build()
        .unwrap();
    let client = RedisRpcClient::new(c.clone());
    assert_eq!(client.instance_id(), "worker-1");
    assert_eq!(client.reply_stream(), "app:replies:worker-1");
    let r = client.call("arith", "add", json!({}), None).await;
    assert!(matches!(
        r,
        Err(Error::Transport(TransportError::NotStarted))
    ));
    let empty = RedisRpcServer::new(c, clamator_protocol::Dispatcher::builder().build());
    assert!(matches!(
        empty.start().await,
        Err(TransportError::Config(_))
    ));
}
