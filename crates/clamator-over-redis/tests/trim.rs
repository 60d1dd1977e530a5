//! Command-stream trimming: entries every group delivered and acknowledged
//! go; pending and undelivered entries (of any group) stay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clamator_over_redis::ops::keys;
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

/// The service group's `lag` as `XINFO GROUPS` reports it, and its pending
/// count: `lag` is `None` when Redis reports it as nil (what KEDA's
/// `lagCount` trigger cannot scale on). `None` when there is no group yet.
async fn lag_and_pending(conn: &mut RawConn, stream: &str) -> Option<(Option<usize>, usize)> {
    let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(conn)
        .await
        .ok()?; // no stream yet
    let group = keys::group("arith");
    groups
        .groups
        .into_iter()
        .find(|g| g.name == group)
        .map(|g| (g.lag, g.pending))
}

/// XADDs `n` `arith.ping` notifications to `stream`, as a peer's client would.
async fn backlog(conn: &mut RawConn, stream: &str, n: usize) {
    let note = r#"{"jsonrpc":"2.0","method":"arith.ping","params":{}}"#;
    for _ in 0..n {
        xadd_raw(
            conn,
            stream,
            &[
                (keys::FIELD_TYPE, keys::TYPE_RPC.as_bytes()),
                (keys::FIELD_ENVELOPE, note.as_bytes()),
            ],
        )
        .await;
    }
}

/// Samples the group's lag until it is 0 with nothing pending (within
/// [`WAIT`] times three), and returns every lag sampled. Panics at a nil lag.
async fn lags_until_drained(conn: &mut RawConn, stream: &str) -> Vec<usize> {
    let deadline = tokio::time::Instant::now() + WAIT * 3;
    let mut lags = Vec::new();
    loop {
        match lag_and_pending(conn, stream).await {
            None => {} // the server creates the group as it starts
            Some((None, pending)) => panic!(
                "lag is nil after {} samples ({pending} pending); sampled so far: {lags:?}",
                lags.len()
            ),
            Some((Some(lag), pending)) => {
                lags.push(lag);
                if lag == 0 && pending == 0 {
                    return lags;
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backlog did not drain; last lags: {:?}",
            &lags[lags.len().saturating_sub(10)..]
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// KEDA's `lagCount` (the trigger that scales from zero) reads `XINFO GROUPS`
/// `lag`. Redis reports it as nil only when entries after the group's
/// last-delivered id were deleted (`XDEL`), or when the group's read counter
/// is unknown and cannot be derived. Trimming removes only entries below
/// every group's last-delivered id (`XTRIM MINID`, not `XDEL`), so the lag
/// stays a number: here with a backlog queued before any worker, and again
/// after the workers scaled to zero and a new backlog queued over a trimmed
/// stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_stays_a_number_while_a_backlog_drains() {
    const BACKLOG: usize = 1_000;
    let (ctx, mut conn) = small_nodes().await;
    let stream = ctx.stream();
    backlog(&mut conn, &stream, BACKLOG).await;
    assert_eq!(
        lag_and_pending(&mut conn, &stream).await,
        None,
        "no group yet"
    );

    // The first worker starts (trimming on): it creates the group at 0.
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let lags = lags_until_drained(&mut conn, &stream).await;
    eprintln!(
        "backlog before any worker: {} lag samples, first {:?}, max {:?}, last {:?}",
        lags.len(),
        lags.first(),
        lags.iter().max(),
        lags.last()
    );
    assert!(lags[0] <= BACKLOG, "{lags:?}");
    assert!(
        lags.windows(2).all(|w| w[1] <= w[0]),
        "lag only falls: {lags:?}"
    );
    arith.pinged_at_least(BACKLOG).await;
    eventually("the drained backlog is trimmed", || {
        let mut conn = conn.clone();
        let stream = stream.clone();
        async move { xlen(&mut conn, &stream).await < NODE }
    })
    .await;

    // Scaled to zero: no worker, a new backlog over the trimmed stream. This
    // is what KEDA wakes the workers on: the lag counts every entry.
    server.stop().await;
    backlog(&mut conn, &stream, BACKLOG).await;
    assert_eq!(
        lag_and_pending(&mut conn, &stream).await,
        Some((Some(BACKLOG), 0)),
        "at zero workers the lag counts the whole backlog"
    );
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let lags = lags_until_drained(&mut conn, &stream).await;
    eprintln!(
        "backlog after scaling to zero: {} lag samples, first {:?}, last {:?}",
        lags.len(),
        lags.first(),
        lags.last()
    );
    assert!(
        lags.windows(2).all(|w| w[1] <= w[0]),
        "lag only falls: {lags:?}"
    );
    arith.pinged_at_least(BACKLOG).await;
    server.stop().await;
}

/// Under load, with housekeeping trimming at the test tick, every sample of
/// the group's `lag` is a number, while trims are seen between samples.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_stays_a_number_under_load_with_trimming() {
    let (ctx, conn) = small_nodes().await;
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;
    let stream = ctx.stream();

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (mut conn, stream, stop) = (conn.clone(), stream.clone(), stop.clone());
        async move {
            // (samples, nil lags, trims seen: the length fell between samples, max lag)
            let (mut samples, mut nil, mut trims, mut max_lag) = (0usize, 0usize, 0usize, 0usize);
            let mut last_len = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Some((lag, _)) = lag_and_pending(&mut conn, &stream).await {
                    samples += 1;
                    match lag {
                        Some(lag) => max_lag = max_lag.max(lag),
                        None => nil += 1,
                    }
                    let len = xlen(&mut conn, &stream).await;
                    if len < last_len {
                        trims += 1;
                    }
                    last_len = len;
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            (samples, nil, trims, max_lag)
        }
    });

    // At least 2,000 calls, in waves, until several trims fell among them.
    let mut made = 0;
    let deadline = tokio::time::Instant::now() + WAIT * 3;
    while made < 2_000 || server_trims_seen(&mut conn.clone(), &stream).await < 2 * NODE {
        calls(&client, 250).await;
        made += 250;
        assert!(tokio::time::Instant::now() < deadline, "{made} calls");
    }
    stop.store(true, Ordering::Relaxed);
    let (samples, nil, trims, max_lag) = within(sampler).await.unwrap();
    let len = xlen(&mut conn.clone(), &stream).await;
    eprintln!(
        "under load: {made} calls, {samples} lag samples, {nil} nil, {trims} trims seen \
         between samples, max lag {max_lag}, stream length at the end {len}"
    );
    assert_eq!(nil, 0, "lag was nil in {nil} of {samples} samples");
    assert!(samples >= 20, "{samples} samples");
    assert!(trims >= 1, "no trim happened while sampling");
    client.close().await;
    server.stop().await;
}

/// How many entries trimming has removed from `stream`: `entries-added` of
/// `XINFO STREAM` minus its length.
async fn server_trims_seen(conn: &mut RawConn, stream: &str) -> usize {
    let info: redis::Value = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(stream)
        .query_async(conn)
        .await
        .unwrap();
    let added = match info {
        redis::Value::Map(pairs) => pairs.into_iter().find_map(|(k, v)| {
            (redis::from_redis_value_ref::<String>(&k).ok()? == "entries-added")
                .then(|| redis::from_redis_value_ref::<usize>(&v).ok())
                .flatten()
        }),
        redis::Value::Array(items) => items.chunks(2).find_map(|kv| {
            (redis::from_redis_value_ref::<String>(&kv[0]).ok()? == "entries-added")
                .then(|| redis::from_redis_value_ref::<usize>(&kv[1]).ok())
                .flatten()
        }),
        _ => None,
    }
    .unwrap_or(0);
    added.saturating_sub(xlen(conn, stream).await)
}
