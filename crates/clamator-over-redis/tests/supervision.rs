//! Supervision and health: a server loop that panics is noticed, counted
//! and restarted, and the server keeps answering; `health()` tells which
//! loops run, how often they were restarted, and whether Redis answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use clamator_over_redis::{RedisRpcServer, ServerOptions};
use clamator_test_support::context::*;
use clamator_test_support::{TestArith, TestContext};
use serde_json::json;

/// A claim idle short enough for the reclaim (every 250 ms) and lease
/// (every 333 ms) loops to tick often, long enough that nothing is
/// reclaimed in these tests.
const CLAIM_IDLE: Duration = Duration::from_secs(1);

/// `(running, restarts)` of loop `name` of the `arith` service.
fn loop_of(server: &RedisRpcServer, name: &str) -> (bool, u64) {
    let health = server.health();
    let arith = health.iter().find(|h| h.service == "arith").unwrap();
    let l = arith
        .loops
        .iter()
        .find(|l| l.which.name() == name)
        .unwrap_or_else(|| panic!("no {name} loop in {arith:?}"));
    (l.running, l.restarts)
}

/// Calls `arith.add` and checks the sum.
async fn add_works(client: &clamator_over_redis::RedisRpcClient, a: i64) {
    let sum = within(client.call("arith", "add", json!({"a": a, "b": 1}), None))
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": (a + 1) as f64}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_that_panics_is_restarted_and_the_server_keeps_answering() {
    let ctx = TestContext::new();
    let arith = TestArith::new();
    let options = ServerOptions::default().consumer_claim_idle(CLAIM_IDLE);
    let server = ctx.server(options, &arith).await;
    let client = ctx.client().await;
    let names = ["consumer", "reclaim", "lease", "housekeeping", "finish"];
    eventually("every loop runs", || async {
        names.iter().all(|n| loop_of(&server, n) == (true, 0))
    })
    .await;
    add_works(&client, 1).await;

    for (i, name) in names.into_iter().enumerate() {
        assert!(server.__inject_panic("arith", name), "{name}");
        if name == "finish" {
            // The finish loop trips between rounds: a call wakes it (and is
            // answered first).
            add_works(&client, 10).await;
        }
        eventually(&format!("the {name} loop is restarted"), || async {
            loop_of(&server, name) == (true, 1)
        })
        .await;
        // Still answering, through the restarted loop.
        add_works(&client, i as i64 * 100).await;
    }

    let health = server.health();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].restarts, 5, "{health:?}");
    assert!(health[0].is_healthy(), "{health:?}");
    assert_eq!(health[0].group_exists, Some(true));
    assert!(!server.__inject_panic("arith", "no-such-loop"));
    assert!(!server.__inject_panic("other", "consumer"));
    within(client.close()).await;
    within(server.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_waits_for_a_consumer_restarted_after_a_panic() {
    // The restarted consumer reads on a connection of its own: stop()
    // must unblock that one, promptly (the real 1 s BLOCK: waiting it out
    // would show).
    let ctx = TestContext::new().with_real_timing();
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;
    assert!(server.__inject_panic("arith", "consumer"));
    eventually("the consumer loop is restarted", || async {
        loop_of(&server, "consumer") == (true, 1)
    })
    .await;
    add_works(&client, 3).await;
    let started = Instant::now();
    within(server.stop()).await;
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "stop took {:?}: the restarted consumer's read was not unblocked",
        started.elapsed()
    );
    within(client.close()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_redis_unreachable_within_seconds_and_back_after_a_restart() {
    let mut ctx = TestContext::own_server();
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    eventually("the first check saw the group", || async {
        let h = &server.health()[0];
        h.redis_answering && h.group_exists == Some(true)
    })
    .await;
    assert!(server.health()[0].is_healthy());

    tokio::task::block_in_place(|| ctx.redis().kill());
    let killed = Instant::now();
    eventually("health says Redis does not answer", || async {
        !server.health()[0].redis_answering
    })
    .await;
    let noticed = killed.elapsed();
    assert!(
        noticed < Duration::from_secs(5),
        "noticed after {noticed:?}"
    );
    let h = &server.health()[0];
    assert!(h.last_redis_answer <= killed, "{h:?}");
    assert!(!h.is_healthy());
    assert!(
        h.loops.iter().all(|l| l.running && l.restarts == 0),
        "{h:?}"
    );

    // Back (empty: the group is recreated) and answering.
    tokio::task::block_in_place(|| ctx.redis().restart());
    eventually("health says Redis answers and the group exists", || async {
        let h = &server.health()[0];
        h.redis_answering && h.group_exists == Some(true) && h.last_redis_answer > killed
    })
    .await;
    let client = ctx.client().await;
    add_works(&client, 5).await;
    within(client.close()).await;
    within(server.stop()).await;
}
