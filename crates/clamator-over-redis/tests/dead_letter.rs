//! Dead letters: an entry no worker ever acknowledges ends in the dead-letter
//! stream after `max_deliveries` deliveries, and its caller gets an error
//! instead of a timeout; running handlers' entries are never dead-lettered.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use clamator_over_redis::ServerOptions;
use clamator_over_redis::ops::keys;
use clamator_test_support::context::*;
use clamator_test_support::{TestArith, TestContext};
use serde_json::{Value, json};

/// Where `TestContext::on(crate::DEPLOYMENT)` puts this file's tests when it
/// is its own test binary: the binary's shared Redis. `cluster_suite.rs`
/// includes this file and names its own (a cluster).
#[allow(dead_code)] // unused where cluster_suite.rs includes this file
const DEPLOYMENT: Deployment = Deployment::OneRedis;

/// The entries of a stream, oldest first: id and fields as text.
async fn entries(conn: &mut RawConn, key: &str) -> Vec<(String, HashMap<String, String>)> {
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .unwrap();
    reply
        .ids
        .into_iter()
        .map(|e| {
            let fields = e
                .map
                .iter()
                .map(|(k, v)| (k.clone(), redis::from_redis_value_ref::<String>(v).unwrap()))
                .collect();
            (e.id, fields)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_kills_every_worker_is_dead_lettered_and_its_caller_answered() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let stream = ctx.stream();
    let dead_stream = keys::dead_letter_stream(ctx.prefix(), "arith");
    let mut conn = ctx.raw().await;
    let options = ServerOptions::default()
        .consumer_claim_idle(Duration::from_millis(300))
        .max_deliveries(Some(2));
    let client = ctx.client().await;
    // The first worker, up before the request is sent (its group starts at `$`).
    let first = TestArith::new();
    let first_server = ctx.server(options.clone(), &first).await;

    // A handler that never ends, on workers that crash (are dropped) while
    // running it: as if the request killed each worker that took it.
    let call = client.call(
        "arith",
        "slowAdd",
        json!({"a": 1, "b": 2, "sleepMs": 60_000}),
        Some(Duration::from_secs(9)),
    );
    let crashes = async {
        first.slow_started_at_least(1).await;
        let original = entries(&mut conn.clone(), &stream).await;
        drop(first_server); // delivery 1: crash, no ack
        let second = TestArith::new();
        let second_server = ctx.server(options.clone(), &second).await;
        second.slow_started_at_least(1).await; // delivery 2, by the reclaim loop
        let last_consumer = keys::consumer("arith", second_server.instance_id());
        drop(second_server);
        // The third worker must not run it a third time.
        let survivor = TestArith::new();
        let survivor_server = ctx.server(options.clone(), &survivor).await;
        (original, last_consumer, survivor, survivor_server)
    };
    let (result, (original, last_consumer, survivor, survivor_server)) =
        within(futures::future::join(call, crashes)).await;

    let error = result.expect_err("the caller gets an error, not a result");
    let rpc = error
        .as_rpc()
        .unwrap_or_else(|| panic!("an RPC error, not a timeout: {error}"));
    assert_eq!(rpc.code, -32603);
    assert_eq!(rpc.message, "Internal error");
    assert_eq!(rpc.data["name"], "DeadLetter");
    assert_eq!(
        rpc.data["message"],
        format!("delivered 2 times without being acknowledged; moved to {dead_stream}")
    );

    eventually("the dead entry acked", || {
        let mut conn = conn.clone();
        let stream = stream.clone();
        async move { pending_count(&mut conn, &stream, "arith").await == 0 }
    })
    .await;
    let (original_id, original_fields) = original.into_iter().next().unwrap();
    let dead = entries(&mut conn, &dead_stream).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let fields = &dead[0].1;
    for name in ["type", "envelope", "reply-to"] {
        assert_eq!(
            fields[name], original_fields[name],
            "field {name} carried over"
        );
    }
    assert_eq!(fields["reply-to"], client.reply_stream());
    assert_eq!(fields[keys::FIELD_DEAD_ID], original_id);
    assert_eq!(fields[keys::FIELD_DEAD_DELIVERIES], "2");
    assert_eq!(fields[keys::FIELD_DEAD_CONSUMER], last_consumer);
    assert!(
        fields[keys::FIELD_DEAD_REASON].contains("max_deliveries 2"),
        "{fields:?}"
    );
    assert_eq!(survivor.slow_started(), 0);

    // The survivor goes on serving.
    let ok = within(client.call("arith", "add", json!({"a": 2, "b": 2}), None))
        .await
        .unwrap();
    assert_eq!(ok, json!({"sum": 4.0}));
    client.close().await;
    survivor_server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_keep_every_field_and_answer_with_the_id_as_sent() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let stream = ctx.stream();
    let dead_stream = keys::dead_letter_stream(ctx.prefix(), "arith");
    let reply_to = keys::reply_stream(ctx.prefix(), "raw-caller");
    let mut conn = ctx.raw().await;
    create_group(&mut conn, &stream).await;
    let request = r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":7}"#;
    let note = r#"{"jsonrpc":"2.0","method":"arith.ping","params":{}}"#;
    xadd_raw(
        &mut conn,
        &stream,
        &[
            ("type", b"rpc"),
            ("envelope", request.as_bytes()),
            ("reply-to", reply_to.as_bytes()),
            ("x-trace", b"abc"),
        ],
    )
    .await;
    xadd_raw(
        &mut conn,
        &stream,
        &[("type", b"rpc"), ("envelope", note.as_bytes())],
    )
    .await;
    // Two workers of another kind took both entries and died (XREADGROUP,
    // then a reclaim: two deliveries each).
    let read: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:crashed-1")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    let ids: Vec<String> = read.keys[0].ids.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), 2);
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(&stream)
        .arg("arith")
        .arg("arith:crashed-2")
        .arg(0)
        .arg(&ids)
        .query_async(&mut conn)
        .await
        .unwrap();

    // Two workers race to dead-letter them; only one acts on each entry.
    let options = ServerOptions::default()
        .consumer_claim_idle(Duration::from_millis(200))
        .max_deliveries(Some(2));
    let (a, b) = (TestArith::new(), TestArith::new());
    let (server_a, server_b) =
        futures::future::join(ctx.server(options.clone(), &a), ctx.server(options, &b)).await;

    let (_, reply) = read_reply(&mut conn, &reply_to, "0-0").await;
    assert_eq!(reply["id"], json!(7), "an integer id stays an integer");
    assert_eq!(reply["error"]["code"], -32603);
    assert_eq!(reply["error"]["data"]["name"], "DeadLetter");
    assert_eq!(
        reply["error"]["data"]["message"],
        format!("delivered 2 times without being acknowledged; moved to {dead_stream}")
    );
    eventually("both entries acked", || {
        let mut conn = conn.clone();
        let stream = stream.clone();
        async move { pending_count(&mut conn, &stream, "arith").await == 0 }
    })
    .await;

    let dead = entries(&mut conn, &dead_stream).await;
    assert_eq!(dead.len(), 2, "one dead letter per entry: {dead:?}");
    let by_id: HashMap<&str, &HashMap<String, String>> = dead
        .iter()
        .map(|(_, f)| (f[keys::FIELD_DEAD_ID].as_str(), f))
        .collect();
    let call = by_id[ids[0].as_str()];
    assert_eq!(call["type"], "rpc");
    assert_eq!(call["envelope"], request);
    assert_eq!(call["reply-to"], reply_to);
    assert_eq!(call["x-trace"], "abc", "unknown fields are carried over");
    assert_eq!(call[keys::FIELD_DEAD_DELIVERIES], "2");
    assert_eq!(call[keys::FIELD_DEAD_CONSUMER], "arith:crashed-2");
    let notification = by_id[ids[1].as_str()];
    assert_eq!(notification["envelope"], note);
    assert!(!notification.contains_key("reply-to"));
    assert_eq!(
        xlen(&mut conn, &reply_to).await,
        1,
        "a notification gets no reply"
    );
    for w in [&a, &b] {
        assert!(w.handled().is_empty(), "a dead entry is never run");
        assert_eq!(w.pings(), 0);
    }
    server_a.stop().await;
    server_b.stop().await;
}

/// One 1.2 s `slowAdd` on servers that dead-letter after one delivery; returns
/// the dead-stream length and the result.
async fn long_call_with_max_deliveries_1(renew_leases: bool, servers: usize) -> (usize, Value) {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let options = ServerOptions::default()
        .consumer_claim_idle(Duration::from_millis(300))
        .renew_leases(renew_leases)
        .max_deliveries(Some(1));
    let workers: Vec<_> = (0..servers).map(|_| TestArith::new()).collect();
    let mut running = Vec::new();
    for w in &workers {
        running.push(ctx.server(options.clone(), w).await);
    }
    let client = ctx.client().await;
    let result = within(client.call(
        "arith",
        "slowAdd",
        json!({"a": 1, "b": 2, "sleepMs": 1_200}),
        Some(Duration::from_secs(8)),
    ))
    .await
    .unwrap();
    let handled: usize = workers.iter().map(|w| w.handled().len()).sum();
    assert_eq!(handled, 1, "run exactly once");
    let mut conn = ctx.raw().await;
    let dead = xlen(&mut conn, &keys::dead_letter_stream(ctx.prefix(), "arith")).await;
    client.close().await;
    for s in running {
        s.stop().await;
    }
    (dead, result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_running_an_entry_never_dead_letters_it() {
    // Without lease renewal the entry looks idle (and at the limit) to the
    // reclaim loop of the very server running it: it must skip it.
    let (dead, result) = long_call_with_max_deliveries_1(false, 1).await;
    assert_eq!(result, json!({"sum": 3.0}));
    assert_eq!(dead, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_lease_keeps_other_workers_from_dead_lettering() {
    let (dead, result) = long_call_with_max_deliveries_1(true, 2).await;
    assert_eq!(result, json!({"sum": 3.0}));
    assert_eq!(dead, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_max_deliveries_entries_are_redelivered_forever() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let stream = ctx.stream();
    let reply_to = keys::reply_stream(ctx.prefix(), "raw-caller");
    let mut conn = ctx.raw().await;
    create_group(&mut conn, &stream).await;
    let request = r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":40,"b":2},"id":"r1"}"#;
    xadd_raw(
        &mut conn,
        &stream,
        &[
            ("envelope", request.as_bytes()),
            ("reply-to", reply_to.as_bytes()),
        ],
    )
    .await;
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:crashed")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    // Fifty crashed deliveries so far.
    let listed: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(&stream)
        .arg("arith")
        .arg("-")
        .arg("+")
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(&stream)
        .arg("arith")
        .arg("arith:crashed")
        .arg(0)
        .arg(&listed.ids[0].id)
        .arg("RETRYCOUNT")
        .arg(50)
        .query_async(&mut conn)
        .await
        .unwrap();

    let arith = TestArith::new();
    let options = ServerOptions::default()
        .consumer_claim_idle(Duration::from_millis(200))
        .max_deliveries(None);
    let server = ctx.server(options, &arith).await;
    let (_, reply) = read_reply(&mut conn, &reply_to, "0-0").await;
    assert_eq!(
        reply,
        json!({"jsonrpc": "2.0", "id": "r1", "result": {"sum": 42.0}})
    );
    assert_eq!(arith.handled(), vec![40.0]);
    let dead = keys::dead_letter_stream(ctx.prefix(), "arith");
    assert!(
        !exists(&mut conn, &dead).await,
        "no dead-letter stream without max_deliveries"
    );
    server.stop().await;
}

/// How often the entry `id` of `stream` has been delivered (XPENDING).
async fn deliveries(conn: &mut RawConn, stream: &str) -> usize {
    let reply: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(stream)
        .arg("arith")
        .arg("-")
        .arg("+")
        .arg(10)
        .query_async(conn)
        .await
        .unwrap();
    reply.ids.first().map_or(0, |p| p.times_delivered)
}

/// Redis full while an entry is due to be dead-lettered: nothing is
/// dead-lettered, answered or acked while Redis refuses the writes (the
/// entry stays pending, nothing lost), and once memory is freed the entry is
/// dead-lettered once and its caller answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_delays_a_dead_letter_and_loses_nothing() {
    let ctx = TestContext::own_server();
    let nodes = [ctx.url().to_owned()];
    let stream = ctx.stream();
    let dead_stream = keys::dead_letter_stream(ctx.prefix(), "arith");
    let reply_to = keys::reply_stream(ctx.prefix(), "raw-caller");
    let mut conn = ctx.raw().await;
    create_group(&mut conn, &stream).await;
    let request = r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":"d1"}"#;
    let id = xadd_raw(
        &mut conn,
        &stream,
        &[
            ("type", b"rpc"),
            ("envelope", request.as_bytes()),
            ("reply-to", reply_to.as_bytes()),
        ],
    )
    .await;
    // Delivered to a worker that died; with max_deliveries 1 it is due to be
    // dead-lettered once idle for the claim idle.
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:crashed")
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    // Long enough for the server to start and Redis to fill before the
    // entry is due (it is made idle 0 again then).
    let options = ServerOptions::default()
        .consumer_claim_idle(Duration::from_millis(1_000))
        .max_deliveries(Some(1));
    let arith = TestArith::new();
    let server = ctx.server(options, &arith).await;
    clamator_test_support::faults::set_maxmemory(&nodes, "1").await;
    // Idle from now on (XCLAIM is allowed in a full Redis): due only once
    // Redis is full.
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(&stream)
        .arg("arith")
        .arg("arith:crashed")
        .arg(0)
        .arg(&id)
        .arg("IDLE")
        .arg(0)
        .arg("JUSTID")
        .query_async(&mut conn)
        .await
        .unwrap();
    // Each reclaim pass claims the entry (a delivery) and tries to write its
    // dead letter: at 3 deliveries, one attempt was refused for sure.
    eventually("two reclaim passes tried to dead-letter the entry", || {
        let mut conn = conn.clone();
        let stream = stream.clone();
        async move { deliveries(&mut conn, &stream).await >= 3 }
    })
    .await;
    assert_eq!(xlen(&mut conn, &dead_stream).await, 0, "no dead letter yet");
    assert!(!exists(&mut conn, &reply_to).await, "no reply yet");
    assert_eq!(
        pending_count(&mut conn, &stream, "arith").await,
        1,
        "still pending"
    );
    clamator_test_support::faults::set_maxmemory(&nodes, "0").await;
    let (_, reply) = read_reply(&mut conn, &reply_to, "0-0").await;
    assert_eq!(reply["id"], "d1");
    assert_eq!(reply["error"]["data"]["name"], "DeadLetter");
    nothing_pending(&conn, &stream, "the dead letter is acked").await;
    assert_eq!(xlen(&mut conn, &dead_stream).await, 1, "one dead letter");
    assert_eq!(xlen(&mut conn, &reply_to).await, 1, "one reply");
    assert!(arith.handled().is_empty(), "a dead entry is never run");
    server.stop().await;
}
