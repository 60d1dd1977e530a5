//! Connect, close, start, stop, drop, and the configuration errors.
//!
//! Starting after a stop and stopping twice are not tested: `stop(self)`
//! makes them compile errors. A client's clones share it: calling through a
//! clone of a closed client is tested.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use clamator_over_redis::ops::keys;
use clamator_over_redis::{
    ClientOptions, ConfigError, ConnectError, ConnectOptions, RedisRpcClient, RedisRpcServer,
    ServerOptions,
};
use clamator_protocol::{Error, TransportError};
use clamator_test_support::context::*;
use clamator_test_support::{TestArith, TestContext};
use serde_json::json;

/// Where `TestContext::on(crate::DEPLOYMENT)` puts this file's tests when it
/// is its own test binary: the binary's shared Redis. `cluster_suite.rs`
/// includes this file and names its own (a cluster).
#[allow(dead_code)] // unused where cluster_suite.rs includes this file
const DEPLOYMENT: Deployment = Deployment::OneRedis;

/// The [`ConfigError`] inside a start or connect error.
fn config_error<T: std::fmt::Debug>(r: Result<T, ConnectError>) -> ConfigError {
    match r {
        Err(ConnectError::Config(e)) => e,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_deletes_the_reply_stream_promptly() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;
    within(client.call("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .unwrap();
    let mut raw = ctx.raw().await;
    let reply_stream = client.reply_stream().to_owned();
    assert!(exists(&mut raw, &reply_stream).await);
    let started = Instant::now();
    within(client.close()).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "close took {:?}",
        started.elapsed()
    );
    assert!(!exists(&mut raw, &reply_stream).await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_share_one_client_and_close_ends_it_for_all() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;
    let clone = client.clone();
    assert_eq!(
        clone.reply_stream(),
        client.reply_stream(),
        "one reply stream"
    );
    // Dropping a clone leaves the client working.
    drop(client.clone());
    let (a, b) = within(futures::future::join(
        client.call("arith", "add", json!({"a": 1, "b": 1}), None),
        clone.call("arith", "add", json!({"a": 2, "b": 2}), None),
    ))
    .await;
    assert_eq!(a.unwrap(), json!({"sum": 2.0}));
    assert_eq!(b.unwrap(), json!({"sum": 4.0}));
    let reply_stream = client.reply_stream().to_owned();
    within(client.close()).await;
    let mut raw = ctx.raw().await;
    assert!(!exists(&mut raw, &reply_stream).await, "close deleted it");
    // The clone fails at once, not after its timeout.
    let started = Instant::now();
    let r = within(clone.call("arith", "add", json!({"a": 1, "b": 1}), None)).await;
    assert!(
        matches!(r, Err(Error::Transport(TransportError::Stopped))),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(matches!(
        within(clone.notify("arith", "ping", json!({}))).await,
        Err(Error::Transport(TransportError::Stopped))
    ));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stop_lets_in_flight_handlers_finish() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx
        .server(
            ServerOptions::default().shutdown_grace(Duration::from_secs(5)),
            &arith,
        )
        .await;
    let client = ctx.client().await;
    let call = client.call(
        "arith",
        "slowAdd",
        json!({"a": 2, "b": 3, "sleepMs": 400}),
        None,
    );
    let stopper = async {
        arith.slow_started_at_least(1).await;
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
    let mut raw = ctx.raw().await;
    assert_eq!(pending_count(&mut raw, &ctx.stream(), "arith").await, 0);
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
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stop_leaves_unfinished_entries_pending() {
    // The real 1 s BLOCK: a stop that had to wait it out would show.
    let ctx = TestContext::on(crate::DEPLOYMENT).with_real_timing();
    let arith = TestArith::new();
    let server = ctx
        .server(
            ServerOptions::default().shutdown_grace(Duration::from_millis(200)),
            &arith,
        )
        .await;
    let client = ctx.client().await;
    let call = client.call(
        "arith",
        "slowAdd",
        json!({"a": 2, "b": 3, "sleepMs": 5_000}),
        Some(Duration::from_millis(1_500)),
    );
    let stopper = async {
        arith.slow_started_at_least(1).await;
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
    let mut raw = ctx.raw().await;
    assert_eq!(
        pending_count(&mut raw, &ctx.stream(), "arith").await,
        1,
        "the unfinished entry stays pending for reclaim"
    );
    assert!(arith.handled().is_empty());
    assert_eq!(arith.slow_running(), 0, "the abandoned handler ended");
    client.close().await;
}

/// A `stop()` whose future is dropped (a timeout around it fired while a
/// handler ran) leaves nothing running, and the entry pending for another
/// worker, which takes it over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_is_cancel_safe() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx
        .server(
            ServerOptions::default().shutdown_grace(Duration::from_secs(5)),
            &arith,
        )
        .await;
    let client = ctx.client().await;
    let call = client.call(
        "arith",
        "slowAdd",
        json!({"a": 4, "b": 5, "sleepMs": 1_500}),
        Some(Duration::from_secs(8)),
    );
    let other = TestArith::new();
    let scenario = async {
        arith.slow_started_at_least(1).await;
        let stopped = tokio::time::timeout(Duration::from_millis(200), server.stop()).await;
        assert!(stopped.is_err(), "stop waits for the handler (grace 5 s)");
        arith
            .until("the handler was cancelled", |a| a.slow_running() == 0)
            .await;
        assert_eq!(arith.slow_cancelled(), 1);
        let mut raw = ctx.raw().await;
        assert_eq!(
            pending_count(&mut raw, &ctx.stream(), "arith").await,
            1,
            "the entry stays pending"
        );
        // Another worker takes it over once it is idle for its claim idle.
        ctx.server(
            ServerOptions::default().consumer_claim_idle(Duration::from_millis(500)),
            &other,
        )
        .await
    };
    let (r, taker) = within(futures::future::join(call, scenario)).await;
    assert_eq!(r.unwrap(), json!({"sum": 9.0}));
    assert_eq!(other.handled(), vec![4.0]);
    assert!(arith.handled().is_empty());
    client.close().await;
    taker.stop().await;
}

/// Lease renewal renews only the entries this worker still owns: one a
/// foreign consumer claimed meanwhile stays with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_renewal_never_takes_back_an_entry_another_consumer_claimed() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    // Leases are renewed every 200 ms.
    let server = ctx
        .server(
            ServerOptions::default().consumer_claim_idle(Duration::from_millis(600)),
            &arith,
        )
        .await;
    let client = ctx.client().await;
    let call = client.call(
        "arith",
        "slowAdd",
        json!({"a": 1, "b": 1, "sleepMs": 1_500}),
        Some(Duration::from_secs(8)),
    );
    let stream = ctx.stream();
    let mut raw = ctx.raw().await;
    let ours = keys::consumer("arith", server.instance_id());
    let foreign = async {
        arith.slow_started_at_least(1).await;
        let owners = pending_owners(&mut raw, &stream).await;
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].1, ours);
        let _: redis::Value = redis::cmd("XCLAIM")
            .arg(&stream)
            .arg("arith")
            .arg("arith:foreign")
            .arg(0)
            .arg(&owners[0].0)
            .arg("JUSTID")
            .query_async(&mut raw)
            .await
            .unwrap();
        // Two lease periods and a half, still under the claim idle (so no
        // reclaim pass may take it either).
        tokio::time::sleep(Duration::from_millis(500)).await;
        pending_owners(&mut raw, &stream).await
    };
    let (r, owners) = within(futures::future::join(call, foreign)).await;
    assert_eq!(owners.len(), 1);
    assert_eq!(
        owners[0].1, "arith:foreign",
        "a renewal took the entry back from the consumer that claimed it"
    );
    assert_eq!(r.unwrap(), json!({"sum": 2.0}), "the handler still answers");
    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_server_stops_promptly() {
    // The real 1 s BLOCK: a stop that had to wait it out would show.
    let ctx = TestContext::on(crate::DEPLOYMENT).with_real_timing();
    let server = ctx
        .server(ServerOptions::default(), &TestArith::new())
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
async fn connections(raw: &mut RawConn) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(raw)
        .await
        .unwrap();
    list.lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_without_stop_releases_everything() {
    // Counts every connection of the server: a server of its own.
    let ctx = TestContext::own_server();
    let mut raw = ctx.raw().await;
    assert_eq!(connections(&mut raw).await, 1);
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_instance_id_is_used_by_one_client_at_a_time() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let fixed = || TestContext::client_options().instance_id("worker-1");
    let first = ctx.client_with(fixed()).await;
    assert_eq!(first.instance_id(), "worker-1");
    assert_eq!(
        first.reply_stream(),
        format!("{}:replies:worker-1", ctx.prefix())
    );
    // A second client of this process.
    let e = config_error(within(RedisRpcClient::connect_with(ctx.conn(), fixed())).await);
    assert!(
        matches!(&e, ConfigError::InstanceIdInUse { id, .. } if id == "worker-1"),
        "{e:?}"
    );
    first.close().await;
    let again = ctx.client_with(fixed()).await;
    again.close().await;

    // A live client in another process keeps its reply stream's TTL fresh.
    let mut raw = ctx.raw().await;
    let elsewhere = |id: &str| keys::reply_stream(ctx.prefix(), id);
    for (id, ttl_ms, in_use) in [("live", 60_000, true), ("stale", 5_000, false)] {
        xadd_raw(&mut raw, &elsewhere(id), &[("type", b"open")]).await;
        let _: i64 = redis::cmd("PEXPIRE")
            .arg(elsewhere(id))
            .arg(ttl_ms)
            .query_async(&mut raw)
            .await
            .unwrap();
        let options = TestContext::client_options().instance_id(id);
        let r = within(RedisRpcClient::connect_with(ctx.conn(), options)).await;
        if in_use {
            let e = config_error(r);
            assert!(
                matches!(&e, ConfigError::InstanceIdInUse { id: used, .. } if used == id),
                "{e:?}"
            );
        } else {
            r.expect("a stale reply stream is free").close().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_settings_are_typed_config_errors_before_any_connection() {
    // Nothing listens there: each error comes before a connection is tried.
    let nowhere = || ConnectOptions::new("app", "redis://127.0.0.1:1").unwrap();
    assert!(matches!(
        ConnectOptions::new("", "redis://127.0.0.1:1"),
        Err(ConfigError::EmptyKeyPrefix)
    ));
    assert!(matches!(
        ConnectOptions::new(" app", "redis://127.0.0.1:1"),
        Err(ConfigError::KeyPrefixWhitespace(_))
    ));
    let e = ConnectOptions::new("app", "not a url").unwrap_err();
    assert!(matches!(e, ConfigError::InvalidUrl { .. }), "{e:?}");
    assert!(e.to_string().contains("not a valid Redis URL"), "{e}");

    let arith = TestArith::new();
    let start = |conn: ConnectOptions, options: ServerOptions| {
        RedisRpcServer::builder(conn)
            .options(options)
            .dispatcher(arith.dispatcher())
            .start()
    };
    type Expected = fn(&ConfigError) -> bool;
    let cases: Vec<(ServerOptions, Expected)> = vec![
        (ServerOptions::default().max_concurrency(0), |e| {
            matches!(
                e,
                ConfigError::ZeroCount {
                    setting: "max_concurrency",
                    ..
                }
            )
        }),
        (ServerOptions::default().max_deliveries(Some(0)), |e| {
            matches!(
                e,
                ConfigError::ZeroCount {
                    setting: "max_deliveries",
                    ..
                }
            )
        }),
        (ServerOptions::default().reply_stream_maxlen(0), |e| {
            matches!(
                e,
                ConfigError::ZeroCount {
                    setting: "reply_stream_maxlen",
                    ..
                }
            )
        }),
        (
            ServerOptions::default().handler_timeout(Some(Duration::ZERO)),
            |e| matches!(e, ConfigError::ZeroDuration("handler_timeout")),
        ),
        (
            ServerOptions::default().consumer_claim_idle(Duration::ZERO),
            |e| matches!(e, ConfigError::ZeroDuration("consumer_claim_idle")),
        ),
        (ServerOptions::default().instance_id("a:b"), |e| {
            matches!(e, ConfigError::InvalidInstanceId(_))
        }),
    ];
    for (options, expected) in cases {
        let e = config_error(within(start(nowhere(), options.clone())).await);
        assert!(expected(&e), "{options:?}: {e:?}");
        assert!(
            e.to_string().contains("set") || e.to_string().contains("use"),
            "{e}"
        );
    }
    let e = config_error(
        within(start(
            nowhere().command_timeout(Duration::ZERO),
            ServerOptions::default(),
        ))
        .await,
    );
    assert!(
        matches!(e, ConfigError::ZeroDuration("command_timeout")),
        "{e:?}"
    );
    let e = config_error(within(RedisRpcServer::builder(nowhere()).start()).await);
    assert!(matches!(e, ConfigError::NoServices), "{e:?}");

    let connect = |options: ClientOptions| RedisRpcClient::connect_with(nowhere(), options);
    let e = config_error(
        within(connect(
            ClientOptions::default().default_timeout(Duration::ZERO),
        ))
        .await,
    );
    assert!(
        matches!(e, ConfigError::ZeroDuration("default_timeout")),
        "{e:?}"
    );
    let e = config_error(
        within(connect(
            ClientOptions::default().reply_stream_ttl(Some(Duration::from_millis(10))),
        ))
        .await,
    );
    assert!(matches!(e, ConfigError::ReplyStreamTtlTooShort(_)), "{e:?}");
    let e = config_error(within(connect(ClientOptions::default().instance_id(""))).await);
    assert!(matches!(e, ConfigError::InvalidInstanceId(_)), "{e:?}");
    let e = config_error(
        within(RedisRpcClient::connect(
            nowhere().command_timeout(Duration::ZERO),
        ))
        .await,
    );
    assert!(
        matches!(e, ConfigError::ZeroDuration("command_timeout")),
        "{e:?}"
    );
}
