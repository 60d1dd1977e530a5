//! The guarantees under faults that broke them once, each with what it
//! promises:
//! - Redis out of memory while handlers run: every reply Redis refused is
//!   kept and written once memory is freed; every call answered exactly
//!   once, no handler run twice, nothing left pending;
//! - a reply Redis refuses for now while the server stops: `stop()` waits
//!   for it within the grace; answered once, acked, nothing pending;
//! - a call made while Redis is full fails at once, saying Redis is full;
//! - a connection reset (RST both ways) or forgotten by a proxy (RST to
//!   Redis, silence to the worker): the worker notices within about a
//!   second and serves again (every call answered);
//! - a connection held by a proxy (bytes delayed, no RST): calls are
//!   answered by the other worker, nothing lost;
//! - a burst of 10,000 XADDs queued on one connection is no lost connection
//!   (`rpc.rs`, `ten_thousand_calls_in_flight_on_one_client`).
//!
//! (On a Redis Cluster: `cluster.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clamator_over_redis::{ConnectOptions, ServerOptions};
use clamator_test_support::context::*;
use clamator_test_support::faults;
use clamator_test_support::proxy::TcpProxy;
use clamator_test_support::{TestArith, TestContext};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_refused_while_redis_is_full_are_written_once_it_is_freed() {
    let ctx = TestContext::own_server();
    let nodes = [ctx.url().to_owned()];
    faults::out_of_memory_while_handlers_run(&ctx, &nodes, 100).await;
}

/// A handler's reply that Redis refuses for now still holds its slot after
/// the handler's task ended (the finish loop owns it): `stop()` waits for
/// it within the grace, so the reply is written once Redis is freed and the
/// entry acked; it is neither dropped nor left to a second run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_waits_within_its_grace_for_a_reply_redis_refuses_for_now() {
    let ctx = TestContext::own_server();
    let nodes = [ctx.url().to_owned()];
    let arith = TestArith::new();
    let server = ctx
        .server(
            ServerOptions::default().shutdown_grace(Duration::from_secs(20)),
            &arith,
        )
        .await;
    let client = ctx.client().await;
    let call = client.call(
        "arith",
        "slowAdd",
        json!({"a": 41, "b": 1, "sleepMs": 300}),
        Some(Duration::from_secs(30)),
    );
    let answer = async {
        let (answer, ()) = tokio::join!(call, async {
            arith.slow_started_at_least(1).await;
            faults::set_maxmemory(&nodes, "1").await;
            arith
                .until("the handler ended while Redis is full", |a| {
                    a.slow_running() == 0
                })
                .await;
            let stopping = tokio::spawn(server.stop());
            // Redis stays full for a while: stop() must not end meanwhile.
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert!(
                !stopping.is_finished(),
                "stop() ended while the reply was still refused"
            );
            faults::set_maxmemory(&nodes, "0").await;
            within(stopping).await.unwrap();
        });
        answer
    };
    assert_eq!(within(answer).await.unwrap(), json!({"sum": 42.0}));
    assert_eq!(arith.handled(), vec![41.0], "the handler ran once");
    let raw: RawConn = ctx.raw().await;
    nothing_pending(&raw, &ctx.stream(), "after stop").await;
    within(client.close()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_while_redis_is_full_fails_at_once_saying_so() {
    let ctx = TestContext::own_server();
    let nodes = [ctx.url().to_owned()];
    faults::a_call_while_redis_is_full_fails_at_once_saying_so(&ctx, &nodes).await;
}

/// The port of a `redis://127.0.0.1:<port>` URL.
fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("a URL with a port")
}

/// How long after `break_it` a worker behind `proxy` (the only worker)
/// answers calls again: calls are made one after the other, each with a
/// short timeout, until one is answered.
async fn serves_again_after(ctx: &TestContext, break_it: impl FnOnce(&TcpProxy)) -> Duration {
    let proxy = TcpProxy::start(port_of(ctx.url()));
    let arith = TestArith::new();
    // The default command timeout (5 s): what bounds the stall now is the
    // blocking read's own bound (BLOCK + 500 ms), not the command timeout.
    let behind = ConnectOptions::new(ctx.prefix(), &proxy.url()).unwrap();
    let server = ctx
        .server_on(behind, ServerOptions::default(), &arith)
        .await;
    let client = ctx.client().await;
    within(client.call("arith", "add", json!({"a": 0, "b": 0}), None))
        .await
        .unwrap();
    // The worker is idle, its read parked on the connection through the proxy.
    let raw = ctx.raw().await;
    eventually("the worker's read is parked", || {
        let mut raw = raw.clone();
        async move {
            let list: String = redis::cmd("CLIENT")
                .arg("LIST")
                .query_async(&mut raw)
                .await
                .unwrap();
            list.lines()
                .any(|l| l.contains("cmd=xreadgroup") && l.contains("flags=b"))
        }
    })
    .await;
    break_it(&proxy);
    let broken = Instant::now();
    let mut i = 1;
    let answered = loop {
        let r = client
            .call(
                "arith",
                "add",
                json!({"a": i, "b": 0}),
                Some(Duration::from_millis(400)),
            )
            .await;
        if r.is_ok() {
            break broken.elapsed();
        }
        assert!(broken.elapsed() < WAIT, "the worker never served again");
        i += 1;
    };
    // Every request made meanwhile is handled or, its caller gone, skipped:
    // none is left stranded with a read parked on the dead connection.
    nothing_pending(&raw, &ctx.stream(), "after the break").await;
    println!("{i} call(s) until one was answered");
    within(client.close()).await;
    within(server.stop()).await;
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reset_by_a_proxy_is_noticed_at_once() {
    let ctx = TestContext::own_server();
    let took = serves_again_after(&ctx, TcpProxy::reset).await;
    println!("reset (RST both ways): served again after {took:?}");
    assert!(took < Duration::from_secs(3), "served again after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_a_proxy_forgot_is_noticed_within_about_a_second() {
    // The real 1 s BLOCK, whose bound notices the loss.
    let ctx = TestContext::own_server().with_real_timing();
    let took = serves_again_after(&ctx, TcpProxy::forget).await;
    // Was 6.2 s (BLOCK + the command timeout): the parked read never hears
    // of the reset; its bound (BLOCK 1 s + 500 ms) notices it now.
    println!("forgotten (RST to Redis, silence to the worker): served again after {took:?}");
    assert!(took < Duration::from_secs(3), "served again after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_held_by_a_proxy_loses_nothing() {
    let ctx = TestContext::new();
    let proxy = TcpProxy::start(port_of(ctx.url()));
    let arith = TestArith::new();
    let options = ServerOptions::default().consumer_claim_idle(Duration::from_millis(1_000));
    let behind = ConnectOptions::new(ctx.prefix(), &proxy.url())
        .unwrap()
        .command_timeout(COMMAND_TIMEOUT);
    let held = ctx.server_on(behind, options.clone(), &arith).await;
    let direct = ctx.server(options, &arith).await;
    let client = Arc::new(ctx.client().await);
    within(client.call("arith", "add", json!({"a": -1, "b": 0}), None))
        .await
        .unwrap();
    proxy.hold();
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let client = Arc::clone(&client);
            tokio::spawn(async move {
                client
                    .call("arith", "add", json!({"a": i, "b": 1}), None)
                    .await
            })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        let r = within(call).await.unwrap();
        assert_eq!(r.unwrap(), json!({"sum": i as f64 + 1.0}), "call {i}");
    }
    proxy.release();
    let raw = ctx.raw().await;
    nothing_pending(&raw, &ctx.stream(), "after the hold").await;
    let handled = arith.handled();
    let twice = (0..20)
        .filter(|i| handled.iter().filter(|a| **a == *i as f64).count() > 1)
        .count();
    // At-least-once: a request delivered to the held worker is reclaimed by
    // the other one; a second run is possible, not seen here so far.
    println!("held proxy: 20 of 20 answered, {twice} handled twice");
    match Arc::try_unwrap(client) {
        Ok(client) => within(client.close()).await,
        Err(_) => panic!("the client is still shared"),
    }
    within(direct.stop()).await;
    within(held.stop()).await;
}
