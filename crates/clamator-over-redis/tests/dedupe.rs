//! The dedupe window (`ServerOptions::dedupe_window`), each test stating
//! what it guarantees:
//! - the same request XADDed twice (a client's retry; entries written raw,
//!   as a Python or TypeScript caller writes them): the handler runs once,
//!   both copies are answered with the same reply;
//! - two copies at once, on two workers: the handler runs once, the copy
//!   that waited is answered with the first's reply;
//! - another caller's request with the same id is a call of its own;
//! - without a window a copy runs again (the control that shows the tests
//!   above can fail);
//! - a worker killed after its handler finished and its reply was written,
//!   before its ack: the entry is reclaimed and answered from the record,
//!   the handler does not run again.
//!
//! (On a Redis Cluster too: `cluster_suite.rs` includes this file.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use clamator_over_redis::{ConnectOptions, ServerOptions};
use clamator_test_support::context::*;
use clamator_test_support::{TestArith, TestContext};
use serde_json::{Value, json};

/// Where `TestContext::on(crate::DEPLOYMENT)` puts this file's tests when it
/// is its own test binary: the binary's shared Redis. `cluster_suite.rs`
/// includes this file and names its own (a cluster).
#[allow(dead_code)] // unused where cluster_suite.rs includes this file
const DEPLOYMENT: Deployment = Deployment::OneRedis;

/// A server option set with a 60 s dedupe window.
fn deduping() -> ServerOptions {
    ServerOptions::default().dedupe_window(Some(Duration::from_secs(60)))
}

/// The raw fields of a request entry from caller `instance` (no Rust
/// extensions: what the Python and TypeScript peers write).
fn request(ctx: &TestContext, instance: &str, envelope: &Value) -> (String, String) {
    (
        format!("{}:replies:{instance}", ctx.prefix()),
        envelope.to_string(),
    )
}

/// XADDs the request `envelope` from caller `instance` to the arith stream.
async fn send(ctx: &TestContext, raw: &mut RawConn, instance: &str, envelope: &Value) -> String {
    let (reply_to, text) = request(ctx, instance, envelope);
    xadd_raw(
        raw,
        &ctx.stream(),
        &[
            ("type", b"rpc"),
            ("envelope", text.as_bytes()),
            ("reply-to", reply_to.as_bytes()),
        ],
    )
    .await
}

/// How many times the handler ran `add`/`slowAdd` with this `a`.
fn runs(arith: &TestArith, a: f64) -> usize {
    arith.handled().iter().filter(|&&x| x == a).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_added_twice_runs_once_and_both_copies_are_answered() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx.server(deduping(), &arith).await;
    let mut raw = ctx.raw().await;
    let call = json!({"jsonrpc": "2.0", "id": "call-1", "method": "arith.add",
        "params": {"a": 41, "b": 1}});
    let replies = format!("{}:replies:peer-1", ctx.prefix());
    send(&ctx, &mut raw, "peer-1", &call).await;
    let (first_id, first) = read_reply(&mut raw, &replies, "0").await;
    assert_eq!(first["result"]["sum"], json!(42.0), "{first}");
    // The retry: the same call again, after the first was answered.
    send(&ctx, &mut raw, "peer-1", &call).await;
    let (_, second) = read_reply(&mut raw, &replies, &first_id).await;
    assert_eq!(second, first, "the copy is answered with the stored reply");
    // An integer id is deduped the same way, apart from the string "7".
    let int_call = json!({"jsonrpc": "2.0", "id": 7, "method": "arith.add",
        "params": {"a": 6, "b": 1}});
    for _ in 0..2 {
        send(&ctx, &mut raw, "peer-1", &int_call).await;
    }
    nothing_pending(&raw, &ctx.stream(), "every copy acked").await;
    assert_eq!(
        runs(&arith, 41.0),
        1,
        "the handler ran once: {:?}",
        arith.handled()
    );
    assert_eq!(
        runs(&arith, 6.0),
        1,
        "the handler ran once: {:?}",
        arith.handled()
    );
    assert_eq!(
        xlen(&mut raw, &replies).await,
        4,
        "every copy answered (2 + 2 replies)"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_copies_at_once_on_two_workers_run_once() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let one = ctx.server(deduping(), &arith).await;
    let two = ctx.server(deduping(), &arith).await;
    let mut raw = ctx.raw().await;
    let replies = format!("{}:replies:peer-2", ctx.prefix());
    for n in 0..5 {
        let a = 100.0 + f64::from(n);
        let call = json!({"jsonrpc": "2.0", "id": format!("slow-{n}"),
            "method": "arith.slowAdd", "params": {"a": a, "b": 1, "sleepMs": 300}});
        // Both copies are queued before either can finish.
        send(&ctx, &mut raw, "peer-2", &call).await;
        send(&ctx, &mut raw, "peer-2", &call).await;
    }
    let mut last = "0".to_owned();
    let mut answers = Vec::new();
    for _ in 0..10 {
        let (id, reply) = read_reply(&mut raw, &replies, &last).await;
        last = id;
        answers.push(reply);
    }
    for n in 0..5 {
        let a = 100.0 + f64::from(n);
        assert_eq!(
            runs(&arith, a),
            1,
            "slow-{n} ran once: {:?}",
            arith.handled()
        );
        let copies: Vec<&Value> = answers
            .iter()
            .filter(|r| r["id"] == json!(format!("slow-{n}")))
            .collect();
        assert_eq!(copies.len(), 2, "both copies answered: {answers:?}");
        assert_eq!(copies[0], copies[1]);
        assert_eq!(copies[0]["result"]["sum"], json!(a + 1.0));
    }
    nothing_pending(&raw, &ctx.stream(), "every copy acked").await;
    one.stop().await;
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_callers_request_with_the_same_id_is_its_own_call() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx.server(deduping(), &arith).await;
    let mut raw = ctx.raw().await;
    for (caller, b) in [("peer-a", 1), ("peer-b", 2)] {
        let call = json!({"jsonrpc": "2.0", "id": "same", "method": "arith.add",
            "params": {"a": 5, "b": b}});
        send(&ctx, &mut raw, caller, &call).await;
        let replies = format!("{}:replies:{caller}", ctx.prefix());
        let (_, reply) = read_reply(&mut raw, &replies, "0").await;
        assert_eq!(reply["result"]["sum"], json!(5.0 + f64::from(b)), "{reply}");
    }
    assert_eq!(runs(&arith, 5.0), 2, "{:?}", arith.handled());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_window_a_copy_runs_again() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let mut raw = ctx.raw().await;
    let call = json!({"jsonrpc": "2.0", "id": "again", "method": "arith.add",
        "params": {"a": 9, "b": 1}});
    let replies = format!("{}:replies:peer-3", ctx.prefix());
    send(&ctx, &mut raw, "peer-3", &call).await;
    let (first, _) = read_reply(&mut raw, &replies, "0").await;
    send(&ctx, &mut raw, "peer-3", &call).await;
    read_reply(&mut raw, &replies, &first).await;
    assert_eq!(runs(&arith, 9.0), 2, "at-least-once: {:?}", arith.handled());
    server.stop().await;
}

/// A worker "killed" (dropped, no stop) after its handler finished and its
/// reply and record were written, before its ack (its ACL user may not
/// `XACK`): another worker reclaims the entry and answers it from the
/// record; the handler ran once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_before_its_ack_leaves_a_call_answered_from_the_record() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    if ctx.is_cluster() {
        // ACL users are per node on a cluster (cluster.rs covers ACLs).
        return;
    }
    let mut raw = ctx.raw().await;
    let user = format!("noack-{}", ctx.prefix());
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("on")
        .arg(">pw")
        .arg("~*")
        .arg("&*")
        .arg("+@all")
        .arg("-xack")
        .query_async(&mut raw)
        .await
        .unwrap();
    let url = ctx
        .url()
        .replacen("redis://", &format!("redis://{user}:pw@"), 1);
    let conn = ConnectOptions::new(ctx.prefix(), &url)
        .unwrap()
        .command_timeout(COMMAND_TIMEOUT);
    let claim_idle = Duration::from_millis(600);
    let options = deduping().consumer_claim_idle(claim_idle);
    let arith = TestArith::new();
    let doomed = ctx.server_on(conn, options.clone(), &arith).await;
    let client = ctx.client().await;
    let sum = within(client.call("arith", "add", json!({"a": 77, "b": 1}), None))
        .await
        .unwrap();
    assert_eq!(sum["sum"], json!(78.0));
    assert_eq!(
        pending_count(&mut raw, &ctx.stream(), "arith").await,
        1,
        "the refused ack leaves the entry pending"
    );
    drop(doomed);
    let heir = ctx.server(options, &arith).await;
    nothing_pending(&raw, &ctx.stream(), "reclaimed and acked by the heir").await;
    assert_eq!(
        runs(&arith, 77.0),
        1,
        "not run again: {:?}",
        arith.handled()
    );
    let replies = client.reply_stream().to_owned();
    let answered: Vec<redis::streams::StreamId> = redis::cmd("XRANGE")
        .arg(&replies)
        .arg("-")
        .arg("+")
        .query_async::<redis::streams::StreamRangeReply>(&mut raw)
        .await
        .unwrap()
        .ids
        .into_iter()
        .filter(|e| e.map.contains_key("envelope"))
        .collect();
    assert_eq!(
        answered.len(),
        2,
        "the heir answered again from the record (the client drops the copy)"
    );
    heir.stop().await;
    client.close().await;
    let _: () = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query_async(&mut raw)
        .await
        .unwrap();
}
