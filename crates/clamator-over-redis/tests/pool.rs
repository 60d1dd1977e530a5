//! Worker pools, crash recovery by reclaim, and poison entries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clamator_over_redis::ServerOptions;
use clamator_test_support::context::*;
use clamator_test_support::{TestArith, TestContext};
use serde_json::json;

/// Where `TestContext::on(crate::DEPLOYMENT)` puts this file's tests when it
/// is its own test binary: the binary's shared Redis. `cluster_suite.rs`
/// includes this file and names its own (a cluster).
#[allow(dead_code)] // unused where cluster_suite.rs includes this file
const DEPLOYMENT: Deployment = Deployment::OneRedis;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_the_load_each_call_once() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let (a, b) = (TestArith::new(), TestArith::new());
    let options = ServerOptions::default().max_concurrency(4);
    let server_a = ctx.server(options.clone(), &a).await;
    let server_b = ctx.server(options, &b).await;
    assert_ne!(server_a.instance_id(), server_b.instance_id());
    let client = ctx.client().await;

    let n = 120;
    let all = futures::future::join_all((0..n).map(|i| {
        client.call(
            "arith",
            "slowAdd",
            json!({"a": i, "b": 0, "sleepMs": 20}),
            None,
        )
    }));
    for (i, r) in within(all).await.into_iter().enumerate() {
        assert_eq!(r.unwrap(), json!({"sum": i as f64}));
    }
    let (ha, hb) = (a.handled(), b.handled());
    assert!(
        !ha.is_empty() && !hb.is_empty(),
        "a: {}, b: {}",
        ha.len(),
        hb.len()
    );
    assert_eq!(ha.len() + hb.len(), n, "every call handled exactly once");
    let union: HashSet<u64> = ha.iter().chain(&hb).map(|a| *a as u64).collect();
    assert_eq!(union, (0..n as u64).collect());
    client.close().await;
    server_a.stop().await;
    server_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaim_completes_a_call_a_dead_consumer_took() {
    // The real reclaim period: 1 s, as a claim idle of 500 ms gives.
    let ctx = TestContext::on(crate::DEPLOYMENT).with_real_timing();
    let stream = ctx.stream();
    let mut raw = ctx.raw().await;
    create_group(&mut raw, &stream).await;
    let client = ctx.client().await;
    let call = {
        let client = &client;
        async move {
            client
                .call(
                    "arith",
                    "add",
                    json!({"a": 20, "b": 22}),
                    Some(Duration::from_secs(8)),
                )
                .await
        }
    };
    // A consumer that reads the request and dies without acking.
    let dead = async {
        let mut dead_conn = raw.clone();
        let got: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("arith")
            .arg("arith:dead")
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(5_000)
            .arg("STREAMS")
            .arg(&stream)
            .arg(">")
            .query_async(&mut dead_conn)
            .await
            .unwrap();
        assert_ne!(got, redis::Value::Nil, "the dead consumer got the request");
        // Now a live server with a short claim idle takes over.
        let arith = TestArith::new();
        // One slot, which the idle consumer loop holds while parked in its
        // read: the reclaim loop must still get it.
        let options = ServerOptions::default()
            .consumer_claim_idle(Duration::from_millis(500))
            .max_concurrency(1);
        (ctx.server(options, &arith).await, arith)
    };
    let (result, (server, arith)) = within(futures::future::join(call, dead)).await;
    assert_eq!(result.unwrap(), json!({"sum": 42.0}));
    assert_eq!(arith.handled(), vec![20.0]);
    nothing_pending(&raw, &stream, "the reclaimed entry acked").await;
    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_dropped_mid_handler_is_taken_over() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let options = ServerOptions::default().consumer_claim_idle(Duration::from_millis(500));
    let doomed = TestArith::new();
    let server_a = ctx.server(options.clone(), &doomed).await;
    let client = ctx.client().await;
    let call = client.call(
        "arith",
        "slowAdd",
        json!({"a": 5, "b": 6, "sleepMs": 300}),
        Some(Duration::from_secs(8)),
    );
    let takeover = async {
        doomed.slow_started_at_least(1).await;
        // Crash: no stop, no ack.
        drop(server_a);
        let survivor = TestArith::new();
        (ctx.server(options.clone(), &survivor).await, survivor)
    };
    let (result, (server_b, survivor)) = within(futures::future::join(call, takeover)).await;
    assert_eq!(result.unwrap(), json!({"sum": 11.0}));
    assert_eq!(survivor.handled(), vec![5.0]);
    assert!(
        doomed.handled().is_empty(),
        "the dropped server's handler was aborted"
    );
    doomed
        .until("the dropped server's handler ended", |a| {
            a.slow_running() == 0
        })
        .await;
    client.close().await;
    server_b.stop().await;
}

/// Entries that are not requests at the level of stream fields; what the
/// server answers to request *text* is the conformance suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_entries_are_acked_and_answered_when_their_id_can_be_read() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;
    let stream = ctx.stream();
    let reply_to = format!("{}:replies:poison", ctx.prefix());
    let mut raw = ctx.raw().await;
    let junk: Vec<Vec<(&str, &[u8])>> = vec![
        // No envelope.
        vec![("type", b"rpc")],
        // An envelope that is not UTF-8.
        vec![
            ("envelope", b"\xff\xfe\x00garbage"),
            ("reply-to", reply_to.as_bytes()),
        ],
        // No type field: still read, and answered by its id.
        vec![
            (
                "envelope",
                br#"{"jsonrpc":"2.0","method":"arith.Bad-Name","params":{},"id":"c"}"#,
            ),
            ("reply-to", reply_to.as_bytes()),
        ],
        vec![
            (
                "envelope",
                br#"{"jsonrpc":"1.0","method":"arith.add","params":{},"id":"d"}"#,
            ),
            ("reply-to", reply_to.as_bytes()),
        ],
    ];
    for fields in &junk {
        xadd_raw(&mut raw, &stream, fields).await;
    }
    // A junk field name that is not UTF-8 must not wedge the loop either.
    let _: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg(&b"\xff\xfe"[..])
        .arg(&b"\xff"[..])
        .query_async(&mut raw)
        .await
        .unwrap();
    let ok = within(client.call("arith", "add", json!({"a": 1, "b": 2}), None))
        .await
        .unwrap();
    assert_eq!(ok, json!({"sum": 3.0}));
    nothing_pending(&raw, &stream, "poison entries acked").await;
    let replies: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&reply_to)
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    let mut answered: Vec<(serde_json::Value, serde_json::Value)> = replies
        .ids
        .iter()
        .map(|e| {
            let env: serde_json::Value =
                serde_json::from_str(&e.get::<String>("envelope").unwrap()).unwrap();
            (env["id"].clone(), env["error"]["code"].clone())
        })
        .collect();
    // Handlers run concurrently: the replies arrive in any order.
    answered.sort_by_key(|(id, _)| id.to_string());
    assert_eq!(
        answered,
        vec![(json!("c"), json!(-32600)), (json!("d"), json!(-32600))],
        "poison with a readable id gets -32600, the rest no reply"
    );
    assert_eq!(arith.handled(), vec![1.0]);
    client.close().await;
    server.stop().await;
}

/// Runs one 1.5 s slowAdd on a server whose claim idle is 600 ms while
/// another consumer (standing in for a peer's reclaim loop) polls
/// `XAUTOCLAIM ... 600 ...` every 50 ms; returns how many entries it took.
async fn entries_a_peer_reclaims_from_a_long_handler(renew_leases: bool) -> usize {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let options = ServerOptions::default()
        .consumer_claim_idle(Duration::from_millis(600))
        .renew_leases(renew_leases);
    let arith = TestArith::new();
    let server = ctx.server(options, &arith).await;
    let client = ctx.client().await;
    let stream = ctx.stream();
    let mut conn = ctx.raw().await;
    let call = client.call(
        "arith",
        "slowAdd",
        json!({"a": 1, "b": 2, "sleepMs": 1500}),
        Some(Duration::from_secs(8)),
    );
    let done = AtomicBool::new(false);
    let thief = async {
        let mut taken = 0;
        while !done.load(Ordering::SeqCst) {
            let reply: redis::Value = redis::cmd("XAUTOCLAIM")
                .arg(&stream)
                .arg("arith")
                .arg("arith:thief")
                .arg(600)
                .arg("0-0")
                .arg("COUNT")
                .arg(10)
                .arg("JUSTID")
                .query_async(&mut conn)
                .await
                .unwrap();
            if let redis::Value::Array(parts) = reply
                && let Some(redis::Value::Array(ids)) = parts.get(1)
            {
                taken += ids.len();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        taken
    };
    let call = async {
        let r = call.await;
        done.store(true, Ordering::SeqCst);
        r
    };
    let (result, taken) = within(futures::future::join(call, thief)).await;
    assert_eq!(result.unwrap(), json!({"sum": 3.0}));
    client.close().await;
    server.stop().await;
    taken
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_longer_than_the_claim_idle_keeps_its_entry() {
    assert_eq!(entries_a_peer_reclaims_from_a_long_handler(true).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_lease_renewal_a_peer_reclaims_a_long_handlers_entry() {
    // The control for the test above: the takeover (and the second run it
    // would cause on a peer) that lease renewal prevents.
    assert!(entries_a_peer_reclaims_from_a_long_handler(false).await >= 1);
}
