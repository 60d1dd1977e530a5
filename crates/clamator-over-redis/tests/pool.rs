//! Worker pools, crash recovery by reclaim, and poison entries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clamator_over_redis::keys;
use clamator_test_support::{RedisServer, unique_prefix};
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_the_load_each_call_once() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let (a, b) = (Arith::new(), Arith::new());
    let cfg = config(&redis.url(), &prefix)
        .max_concurrency(4)
        .build()
        .unwrap();
    let server_a = server(cfg.clone(), &a).await;
    let server_b = server(cfg.clone(), &b).await;
    assert_ne!(server_a.instance_id(), server_b.instance_id());
    let client = client(cfg).await;

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
    client.stop().await;
    server_a.stop().await;
    server_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaim_completes_a_call_a_dead_consumer_took() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let stream = keys::command_stream(&prefix, "arith");
    let mut raw = raw(&redis.url()).await;
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("arith")
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut raw)
        .await
        .unwrap();
    let client = client(config(&redis.url(), &prefix).build().unwrap()).await;
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
        let arith = Arith::new();
        // One slot, which the idle consumer loop holds while parked in its
        // read: the reclaim loop must still get it.
        let cfg = config(&redis.url(), &prefix)
            .consumer_claim_idle(Duration::from_millis(500))
            .max_concurrency(1)
            .build()
            .unwrap();
        (server(cfg, &arith).await, arith)
    };
    let (result, (server, arith)) = within(futures::future::join(call, dead)).await;
    assert_eq!(result.unwrap(), json!({"sum": 42.0}));
    assert_eq!(arith.handled(), vec![20.0]);
    nothing_pending(&raw, &stream, "the reclaimed entry acked").await;
    client.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_dropped_mid_handler_is_taken_over() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let cfg = config(&redis.url(), &prefix)
        .consumer_claim_idle(Duration::from_millis(500))
        .build()
        .unwrap();
    let doomed = Arith::new();
    let server_a = server(cfg.clone(), &doomed).await;
    let client = client(cfg.clone()).await;
    let call = client.call(
        "arith",
        "slowAdd",
        json!({"a": 5, "b": 6, "sleepMs": 300}),
        Some(Duration::from_secs(8)),
    );
    let takeover = async {
        let started = doomed.state.slow_started_notify.notified();
        tokio::pin!(started);
        started.as_mut().enable();
        if doomed.state.slow_started.load(Ordering::SeqCst) == 0 {
            started.await;
        }
        // Crash: no stop, no ack.
        drop(server_a);
        let survivor = Arith::new();
        (server(cfg.clone(), &survivor).await, survivor)
    };
    let (result, (server_b, survivor)) = within(futures::future::join(call, takeover)).await;
    assert_eq!(result.unwrap(), json!({"sum": 11.0}));
    assert_eq!(survivor.handled(), vec![5.0]);
    assert!(
        doomed.handled().is_empty(),
        "the dropped server's handler was aborted"
    );
    client.stop().await;
    server_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_entries_are_acked_and_answered_when_their_id_can_be_read() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let arith = Arith::new();
    let server = server(config(&redis.url(), &prefix).build().unwrap(), &arith).await;
    let client = client(config(&redis.url(), &prefix).build().unwrap()).await;
    let stream = keys::command_stream(&prefix, "arith");
    let reply_to = format!("{prefix}:replies:poison");
    let mut raw = raw(&redis.url()).await;
    let junk: Vec<Vec<(&str, &[u8])>> = vec![
        vec![("type", b"rpc")],
        vec![
            ("type", b"rpc"),
            ("envelope", b"{not json"),
            ("reply-to", reply_to.as_bytes()),
        ],
        vec![
            ("envelope", b"\xff\xfe\x00garbage"),
            ("reply-to", reply_to.as_bytes()),
        ],
        vec![
            (
                "envelope",
                br#"[{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":"b"}]"#,
            ),
            ("reply-to", reply_to.as_bytes()),
        ],
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
        vec![("envelope", br#"{"jsonrpc":"2.0","id":"e","result":1}"#)],
        vec![("envelope", b"42")],
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
    // Only the invalid requests whose id can be read are answered (-32600);
    // unparsable text without an id, the batch and the rest get no reply.
    let replies: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&reply_to)
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    let answered: Vec<(serde_json::Value, serde_json::Value)> = replies
        .ids
        .iter()
        .map(|e| {
            let env: serde_json::Value =
                serde_json::from_str(&e.get::<String>("envelope").unwrap()).unwrap();
            (env["id"].clone(), env["error"]["code"].clone())
        })
        .collect();
    assert_eq!(
        answered,
        vec![(json!("c"), json!(-32600)), (json!("d"), json!(-32600))],
        "poison with a readable id gets -32600, the rest no reply"
    );
    assert_eq!(arith.handled(), vec![1.0]);
    client.stop().await;
    server.stop().await;
}

/// Runs one 1.5 s slowAdd on a server whose claim idle is 600 ms while
/// another consumer (standing in for a peer's reclaim loop) polls
/// `XAUTOCLAIM ... 600 ...` every 50 ms; returns how many entries it took.
async fn entries_a_peer_reclaims_from_a_long_handler(renew_leases: bool) -> usize {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let cfg = config(&redis.url(), &prefix)
        .consumer_claim_idle(Duration::from_millis(600))
        .renew_leases(renew_leases)
        .build()
        .unwrap();
    let arith = Arith::new();
    let server = server(cfg.clone(), &arith).await;
    let client = client(cfg).await;
    let stream = keys::command_stream(&prefix, "arith");
    let mut conn = raw(&redis.url()).await;
    let call = client.call(
        "arith",
        "slowAdd",
        json!({"a": 1, "b": 2, "sleepMs": 1500}),
        Some(Duration::from_secs(8)),
    );
    let done = std::sync::atomic::AtomicBool::new(false);
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
    client.stop().await;
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
