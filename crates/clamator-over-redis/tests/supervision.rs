//! Supervision and health: a server loop that panics is noticed, counted
//! and restarted, and the server keeps answering; `health()` tells which
//! loops run, how often they were restarted, and whether Redis answers; the
//! probes' HTTP server (`/healthz`, `/readyz`) follows Redis away and back.

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

/// `GET <path>` on the probes' HTTP server over a new connection: the status
/// and the JSON body.
async fn probe(addr: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut response = String::new();
    within(conn.read_to_string(&mut response)).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|h| h.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_503_while_redis_is_away_and_200_once_it_is_back() {
    // The housekeeping loop's real period (1 s): what "within a few seconds" means.
    let mut ctx = TestContext::own_server().with_real_timing();
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let probes = clamator_over_redis::health::serve_http(server.health_probe(), "127.0.0.1:0")
        .await
        .unwrap();
    let addr = probes.local_addr();
    // Ready from the start (start() created the group); the first check
    // tells that the group exists.
    eventually("/readyz answers 200 with the group seen", || async {
        let (status, body) = probe(addr, "/readyz").await;
        status == 200 && body["services"][0]["group"] == true
    })
    .await;
    let (status, body) = probe(addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["probe"], "readiness", "{body}");
    assert_eq!(body["services"][0]["service"], "arith", "{body}");
    assert_eq!(body["services"][0]["group"], true, "{body}");
    assert_eq!(
        body["services"][0]["loops"]["consumer"]["running"], true,
        "{body}"
    );
    let (status, body) = probe(addr, "/healthz").await;
    assert_eq!((status, &body["status"]), (200, &json!("ok")), "{body}");

    tokio::task::block_in_place(|| ctx.redis().kill());
    let killed = Instant::now();
    eventually("/readyz answers 503", || async {
        probe(addr, "/readyz").await.0 == 503
    })
    .await;
    let noticed = killed.elapsed();
    assert!(
        noticed < Duration::from_secs(5),
        "noticed after {noticed:?}"
    );
    let (status, body) = probe(addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["services"][0]["redis_answering"], false, "{body}");
    assert!(!body["problems"].as_array().unwrap().is_empty(), "{body}");
    // The process and its loops are fine: not a reason to restart it.
    let (status, body) = probe(addr, "/healthz").await;
    assert_eq!((status, &body["status"]), (200, &json!("ok")), "{body}");
    assert!(server.health_probe().is_live());

    // Back (empty: the group is recreated), without a restart of the server.
    tokio::task::block_in_place(|| ctx.redis().restart());
    let restarted = Instant::now();
    eventually("/readyz answers 200 again", || async {
        probe(addr, "/readyz").await.0 == 200
    })
    .await;
    let back = restarted.elapsed();
    assert!(back < Duration::from_secs(10), "ready again after {back:?}");
    let (status, body) = probe(addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let client = ctx.client().await;
    add_works(&client, 7).await;
    within(client.close()).await;

    // Stopping the server: not ready any more (its loops are gone).
    let probe_handle = server.health_probe();
    within(server.stop()).await;
    assert!(!probe_handle.is_ready());
    within(probes.shutdown()).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
