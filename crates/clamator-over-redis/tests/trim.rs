//! Command-stream trimming: entries every group delivered and acknowledged
//! go; pending and undelivered entries (of any group) stay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clamator_over_redis::{RedisRpcClient, ServerOptions};
use clamator_test_support::context::*;
use clamator_test_support::{TestArith, TestContext};
use serde_json::json;

/// Where `TestContext::on(crate::DEPLOYMENT)` puts this file's tests when it
/// is its own test binary: the binary's shared Redis. `cluster_suite.rs`
/// includes this file and names its own (a cluster).
#[allow(dead_code)] // unused where cluster_suite.rs includes this file
const DEPLOYMENT: Deployment = Deployment::OneRedis;

/// Small stream nodes, so `XTRIM MINID ~` (which drops whole nodes) shows.
const NODE: usize = 8;

/// A test's context and raw connection on the shared server of this binary,
/// with small stream nodes: every test here wants them, and no other binary
/// shares this server.
async fn small_nodes() -> (TestContext, RawConn) {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let mut conn = ctx.raw().await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("stream-node-max-entries")
        .arg(NODE)
        .query_async(&mut conn)
        .await
        .unwrap();
    (ctx, conn)
}

async fn calls(client: &RedisRpcClient, n: usize) {
    let all = (0..n).map(|i| client.call("arith", "add", json!({"a": i, "b": 1}), None));
    for r in within(futures::future::join_all(all)).await {
        r.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_entries_go_pending_and_undelivered_stay() {
    let (ctx, mut conn) = small_nodes().await;
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;
    let stream = ctx.stream();

    calls(&client, 100).await;
    // A second group that joins late and lags: it holds one entry pending and
    // has not been delivered most of the rest.
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("audit")
        .arg("$")
        .query_async(&mut conn)
        .await
        .unwrap();
    calls(&client, 100).await;
    let read: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("audit")
        .arg("auditor")
        .arg("COUNT")
        .arg(20)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    // It acks all but the first: that one stays pending, older than the
    // group's last-delivered id by 19 entries (more than two stream nodes).
    let ids: Vec<String> = read.keys[0].ids.iter().map(|e| e.id.clone()).collect();
    let held = ids[0].clone();
    let mut ack = redis::cmd("XACK");
    ack.arg(&stream).arg("audit");
    for id in &ids[1..] {
        ack.arg(id);
    }
    let acked: usize = ack.query_async(&mut conn).await.unwrap();
    assert_eq!(acked, 19);

    eventually(
        "the 100 entries both groups are done with are trimmed",
        || {
            let mut conn = conn.clone();
            let stream = stream.clone();
            async move { xlen(&mut conn, &stream).await < 100 + NODE }
        },
    )
    .await;
    assert!(
        xlen(&mut conn, &stream).await >= 100,
        "entries the audit group has not acked stay"
    );
    let kept: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&stream)
        .arg(&held)
        .arg(&held)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        kept.ids.len(),
        1,
        "the entry pending in the audit group is kept"
    );

    // Once the lagging group is gone, everything delivered and acked goes.
    let _: () = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg(&stream)
        .arg("audit")
        .query_async(&mut conn)
        .await
        .map(|_: i64| ())
        .unwrap();
    eventually("the stream shrinks to under one node", || {
        let mut conn = conn.clone();
        let stream = stream.clone();
        async move { xlen(&mut conn, &stream).await < NODE }
    })
    .await;
    calls(&client, 3).await; // still serving
    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimming_can_be_turned_off() {
    let (ctx, mut conn) = small_nodes().await;
    let arith = TestArith::new();
    let server = ctx
        .server(ServerOptions::default().trim_command_streams(false), &arith)
        .await;
    let client = ctx.client().await;
    calls(&client, 50).await;
    // Absence of an event: after three housekeeping passes (two whole ones
    // since the calls were acked), nothing was trimmed.
    housekeeping_passes(&server, 3).await;
    assert_eq!(xlen(&mut conn, &ctx.stream()).await, 50);
    client.close().await;
    server.stop().await;
}
