//! Redis going away and coming back (empty: no persistence) under traffic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clamator_over_redis::{
    ClientOptions, ConnectError, ConnectOptions, RedisRpcClient, RedisRpcServer, ServerOptions,
};
use clamator_protocol::Error;
use clamator_test_support::context::*;
use clamator_test_support::{ClosedPort, TestArith, TestContext, unique_prefix};
use serde_json::json;

const CALL_TIMEOUT: Duration = Duration::from_millis(800);
/// How late past its timeout a failing call may return.
const SLACK: Duration = Duration::from_millis(700);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_a_redis_restart_mid_traffic() {
    let mut ctx = TestContext::own_server();
    let arith = TestArith::new();
    let conn = ctx.conn().command_timeout(Duration::from_millis(500));
    let server = ctx
        .server_on(conn.clone(), ServerOptions::default(), &arith)
        .await;
    let client = Arc::new(
        within(RedisRpcClient::connect_with(
            conn,
            TestContext::client_options(),
        ))
        .await
        .unwrap(),
    );
    within(client.call("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .unwrap();

    // Background traffic: every call must end within its timeout, success or not.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let traffic = {
        let (client, stop, ok, failed) = (client.clone(), stop.clone(), ok.clone(), failed.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let started = Instant::now();
                let r = client
                    .call("arith", "add", json!({"a": i, "b": 0}), Some(CALL_TIMEOUT))
                    .await;
                assert!(
                    started.elapsed() < CALL_TIMEOUT + SLACK,
                    "a call took {:?}",
                    started.elapsed()
                );
                match r {
                    Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                    Err(Error::Transport(_)) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        0
                    }
                    Err(other) => panic!("unexpected error kind: {other:?}"),
                };
            }
        })
    };
    eventually("traffic flows", || {
        let ok = ok.clone();
        async move { ok.load(Ordering::SeqCst) > 5 }
    })
    .await;

    tokio::task::block_in_place(|| ctx.redis().kill());
    // While Redis is down, calls fail with transport errors within their timeout.
    for _ in 0..3 {
        let started = Instant::now();
        let r = client
            .call("arith", "add", json!({"a": 1, "b": 1}), Some(CALL_TIMEOUT))
            .await;
        assert!(matches!(r, Err(Error::Transport(_))), "{r:?}");
        assert!(
            started.elapsed() < CALL_TIMEOUT + SLACK,
            "{:?}",
            started.elapsed()
        );
    }
    let failed_before = failed.load(Ordering::SeqCst);
    tokio::task::block_in_place(|| ctx.redis().restart());

    // Back: new calls succeed without restarting anything (the group is recreated).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match client
            .call("arith", "add", json!({"a": 2, "b": 2}), Some(CALL_TIMEOUT))
            .await
        {
            Ok(v) => {
                assert_eq!(v, json!({"sum": 4.0}));
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e}"),
        }
    }
    let ok_after = ok.load(Ordering::SeqCst);
    eventually("background traffic flows again", || {
        let ok = ok.clone();
        async move { ok.load(Ordering::SeqCst) > ok_after + 5 }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    within(traffic).await.unwrap();
    // The calls made while Redis was down failed (asserted above); the
    // background traffic may see no failure at all: a call whose XADD met
    // the dead connection is sent once more on a fresh one, and Redis
    // restarts within tens of milliseconds here.
    println!(
        "background calls failed: {failed_before} while Redis was down, {} in all",
        failed.load(Ordering::SeqCst)
    );

    let mut raw = ctx.raw().await;
    let groups: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(ctx.stream())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(groups.len(), 1, "the consumer group was recreated");
    let client = Arc::into_inner(client).expect("the traffic task ended");
    within(client.close()).await;
    within(server.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_fails_fast_when_redis_is_unreachable() {
    init_tracing();
    let closed = ClosedPort::reserve();
    let url = closed.url();
    let conn = ConnectOptions::new(unique_prefix(), &url).unwrap();
    let r = within(RedisRpcClient::connect_with(
        conn.clone(),
        ClientOptions::default(),
    ))
    .await;
    assert!(matches!(r, Err(ConnectError::Unreachable { .. })), "{r:?}");
    // A server retries until Redis answers, unless given a start timeout
    // (faults.rs shows one that waits for Redis).
    let r = within(
        RedisRpcServer::builder(conn)
            .options(ServerOptions::default().start_timeout(Some(Duration::from_millis(500))))
            .dispatcher(TestArith::new().dispatcher())
            .start(),
    )
    .await;
    assert!(matches!(r, Err(ConnectError::Unreachable { .. })), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_group_is_recreated() {
    let ctx = TestContext::new();
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;
    let mut raw = ctx.raw().await;
    let _: i64 = redis::cmd("DEL")
        .arg(ctx.stream())
        .query_async(&mut raw)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client
            .call(
                "arith",
                "add",
                json!({"a": 1, "b": 2}),
                Some(Duration::from_millis(700)),
            )
            .await
        {
            Ok(v) => {
                assert_eq!(v, json!({"sum": 3.0}));
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e}"),
        }
    }
    client.close().await;
    server.stop().await;
}

/// `INFO server`'s process id of the Redis behind `raw`.
async fn redis_pid(raw: &mut RawConn) -> String {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(raw)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .expect("process_id in INFO server")
        .trim()
        .to_owned()
}

fn signal(pid: &str, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_never_hangs_a_call() {
    let ctx = TestContext::own_server();
    let arith = TestArith::new();
    let conn = ctx.conn().command_timeout(Duration::from_millis(500));
    let server = ctx
        .server_on(conn.clone(), ServerOptions::default(), &arith)
        .await;
    let client = within(RedisRpcClient::connect_with(
        conn,
        TestContext::client_options(),
    ))
    .await
    .unwrap();
    within(client.call("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .unwrap();
    let mut raw = ctx.raw().await;
    let pid = redis_pid(&mut raw).await;

    // Frozen (SIGSTOP): connections stay open, nothing answers.
    signal(&pid, "-STOP");
    let frozen = async {
        for timeout in [Duration::from_millis(300), Duration::from_millis(900)] {
            let started = Instant::now();
            let r = client
                .call("arith", "add", json!({"a": 1, "b": 1}), Some(timeout))
                .await;
            assert!(matches!(r, Err(Error::Transport(_))), "{r:?}");
            assert!(
                started.elapsed() < timeout + SLACK,
                "{:?}",
                started.elapsed()
            );
        }
        let r = client.notify("arith", "ping", json!({})).await;
        assert!(matches!(r, Err(Error::Transport(_))), "{r:?}");
    };
    let outcome = tokio::time::timeout(Duration::from_secs(10), frozen).await;
    signal(&pid, "-CONT");
    outcome.expect("calls hung while Redis was frozen");

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match client
            .call("arith", "add", json!({"a": 2, "b": 5}), Some(CALL_TIMEOUT))
            .await
        {
            Ok(v) => {
                assert_eq!(v, json!({"sum": 7.0}));
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e}"),
        }
    }
    within(client.close()).await;
    within(server.stop()).await;
}
