//! Faults that used to lose requests, write where a request said, or run
//! calls twice (issue 9), each with the guarantee it now has:
//! - Redis restarted without persistence: every request XADDed after the
//!   restart is answered exactly once (the group is recreated at `0`, and the
//!   trim never removes what a group did not deliver);
//! - a backlog XADDed before any worker: answered once a worker starts;
//! - a `reply-to` that is not `<prefix>:replies:<id>`: nothing written, the
//!   entry acked without running, other callers unaffected;
//! - a graceful stop with handlers longer than the claim idle: each runs
//!   once; handlers abandoned at the end of the grace are handed over at once;
//! - a worker started while Redis is down: serves once Redis is up;
//! - reply streams of Rust clients expire, and late replies never re-create them.
//!
//! (Invalid request text answered at once by its id is the conformance suite.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clamator_over_redis::ops::keys;
use clamator_over_redis::{ConnectError, RedisRpcClient, RedisRpcServer, ServerOptions};
use clamator_test_support::context::*;
use clamator_test_support::{TestArith, TestContext};
use serde_json::{Value, json};

/// Where `TestContext::on(crate::DEPLOYMENT)` puts this file's tests when it
/// is its own test binary: the binary's shared Redis. `cluster_suite.rs`
/// includes this file and names its own (a cluster).
#[allow(dead_code)] // unused where cluster_suite.rs includes this file
const DEPLOYMENT: Deployment = Deployment::OneRedis;

/// A request entry as any family client writes it, with a string id `r<i>`;
/// returns its entry id.
async fn xadd_request(conn: &mut RawConn, stream: &str, reply_to: &str, i: usize) -> String {
    let envelope = json!({"jsonrpc": "2.0", "method": "arith.add",
        "params": {"a": i, "b": 0}, "id": format!("r{i}")});
    xadd_raw(
        conn,
        stream,
        &[
            ("type", b"rpc"),
            ("envelope", envelope.to_string().as_bytes()),
            ("reply-to", reply_to.as_bytes()),
        ],
    )
    .await
}

/// Reads `reply_to` until `want` replies came (bounded), then a little longer
/// to catch duplicates (one and a half housekeeping periods of `ctx`'s
/// servers, at least 500 ms: a group moved back is read again at once);
/// returns how often each id was answered.
async fn collect_replies(
    ctx: &TestContext,
    conn: &mut RawConn,
    reply_to: &str,
    want: usize,
) -> HashMap<String, usize> {
    let settle = (ctx.loop_period() * 3 / 2).max(Duration::from_millis(500));
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut last = "0-0".to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut settle_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if settle_until.is_some_and(|t| now >= t) || now >= deadline {
            break;
        }
        let reply: redis::streams::StreamReadReply = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(500)
            .arg("BLOCK")
            .arg(200)
            .arg("STREAMS")
            .arg(reply_to)
            .arg(&last)
            .query_async(conn)
            .await
            .unwrap();
        for key in reply.keys {
            for entry in key.ids {
                last.clone_from(&entry.id);
                let Some(text) = entry.get::<String>("envelope") else {
                    continue;
                };
                let v: Value = serde_json::from_str(&text).unwrap();
                let id = v["id"].as_str().unwrap_or_default().to_owned();
                *seen.entry(id).or_default() += 1;
            }
        }
        if seen.len() >= want && settle_until.is_none() {
            settle_until = Some(Instant::now() + settle);
        }
    }
    seen
}

/// Collects the replies on `reply_to` until one per id came (see
/// [`collect_replies`]) and asserts requests `r<i>`, `i` in `ids`, were each
/// answered once.
async fn assert_answered_once(
    ctx: &TestContext,
    conn: &mut RawConn,
    reply_to: &str,
    ids: std::ops::Range<usize>,
) {
    let seen = collect_replies(ctx, conn, reply_to, ids.len()).await;
    assert_each_once(&seen, ids);
}

fn assert_each_once(seen: &HashMap<String, usize>, ids: impl IntoIterator<Item = usize>) {
    for i in ids {
        let n = seen.get(&format!("r{i}")).copied().unwrap_or(0);
        assert_eq!(n, 1, "request r{i} was answered {n} times");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_added_right_after_a_restart_without_persistence_are_answered_once() {
    let mut ctx = TestContext::own_server();
    let arith = TestArith::new();
    let conn = ctx.conn().command_timeout(Duration::from_millis(500));
    let server = ctx
        .server_on(
            conn.clone(),
            ServerOptions::default().consumer_claim_idle(Duration::from_millis(1_000)),
            &arith,
        )
        .await;
    let client = within(RedisRpcClient::connect_with(
        conn,
        TestContext::client_options(),
    ))
    .await
    .unwrap();
    within(client.call("arith", "add", json!({"a": -1, "b": 1}), None))
        .await
        .unwrap();
    let stream = ctx.stream();
    let reply_to = keys::reply_stream(ctx.prefix(), "wire-client");

    for round in 0..2 {
        tokio::task::block_in_place(|| ctx.redis().restart());
        // At once, before any worker has noticed the restart: these land in
        // a stream without a group (the worker recreates it later).
        let mut conn = ctx.raw().await;
        let base = round * 1_000;
        for i in base..base + 200 {
            xadd_request(&mut conn, &stream, &reply_to, i).await;
        }
        assert_answered_once(&ctx, &mut conn, &reply_to, base..base + 200).await;
        // And the Rust client works again without being restarted.
        let deadline = Instant::now() + WAIT;
        loop {
            let r = client
                .call(
                    "arith",
                    "add",
                    json!({"a": -5, "b": 5}),
                    Some(Duration::from_millis(800)),
                )
                .await;
            match r {
                Ok(v) => break assert_eq!(v, json!({"sum": 0.0})),
                Err(e) => assert!(Instant::now() < deadline, "client never recovered: {e}"),
            }
        }
        let _: i64 = redis::cmd("DEL")
            .arg(&reply_to)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let handled = arith.handled();
    for i in (0..200).chain(1_000..1_200) {
        let runs = handled.iter().filter(|a| **a == i as f64).count();
        assert_eq!(runs, 1, "request {i} ran {runs} times");
    }
    within(client.close()).await;
    within(server.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_queued_before_any_worker_is_answered_once_one_starts() {
    // The real housekeeping period (1 s): the trim below runs at it.
    let ctx = TestContext::on(crate::DEPLOYMENT).with_real_timing();
    let stream = ctx.stream();
    let reply_to = keys::reply_stream(ctx.prefix(), "wire-client");
    let mut conn = ctx.raw().await;
    for i in 0..100 {
        xadd_request(&mut conn, &stream, &reply_to, i).await;
    }
    // A Rust caller waiting before any worker exists is answered too.
    let client = Arc::new(ctx.client().await);
    let early = {
        let client = Arc::clone(&client);
        tokio::spawn(async move {
            client
                .call("arith", "add", json!({"a": 500, "b": 1}), None)
                .await
        })
    };
    eventually("the early call is queued", || {
        let mut conn = conn.clone();
        let stream = stream.clone();
        async move { xlen(&mut conn, &stream).await == 101 }
    })
    .await;
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    assert_answered_once(&ctx, &mut conn, &reply_to, 0..100).await;
    assert_eq!(within(early).await.unwrap().unwrap(), json!({"sum": 501.0}));
    assert_eq!(arith.handled().len(), 101, "each request ran once");
    // Handled and acked, the backlog is trimmed away.
    eventually("the handled backlog is trimmed", || {
        let mut conn = conn.clone();
        let stream = stream.clone();
        async move { xlen(&mut conn, &stream).await < 101 }
    })
    .await;
    let client = Arc::into_inner(client).expect("the early call ended");
    within(client.close()).await;
    within(server.stop()).await;
}

/// A peer worker (Python, TypeScript) creates its group at `$`: entries queued
/// before it are skipped by the group. A Rust server moves the group back so
/// they are delivered, and never trims them away undelivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_skipped_by_a_group_created_at_dollar_is_healed() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let stream = ctx.stream();
    let reply_to = keys::reply_stream(ctx.prefix(), "wire-client");
    let mut conn = ctx.raw().await;
    for i in 0..30 {
        xadd_request(&mut conn, &stream, &reply_to, i).await;
    }
    // What the peer's server does at start.
    create_group(&mut conn, &stream).await;
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    assert_answered_once(&ctx, &mut conn, &reply_to, 0..30).await;
    within(server.stop()).await;
}

/// The service's group as `XINFO GROUPS` tells it: (last-delivered id, entries-read).
async fn group_state(conn: &mut RawConn, stream: &str) -> (String, Option<usize>) {
    let info: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(conn)
        .await
        .unwrap();
    let own = info.groups.iter().find(|g| g.name == "arith").unwrap();
    (own.last_delivered_id.clone(), own.entries_read)
}

/// Redis 7.0 replicates a delivery as `XCLAIM ... LASTID`, which moves a
/// replica's group without counting: a replica promoted by a failover
/// (Sentinel, Cluster) holds a group that delivered and acked everything with
/// `entries-read` nil, lag 0 and nothing pending, the very state of a group a
/// peer created at `$` over a backlog. (`XGROUP SETID` to the group's own
/// position makes that state on one Redis.) A server that read those entries
/// itself knows they were delivered: it does not move the group back, and
/// nothing runs twice. (It did: every entry the stream held ran again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_delivered_everything_is_not_moved_back_when_redis_stops_counting() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let stream = ctx.stream();
    let reply_to = keys::reply_stream(ctx.prefix(), "wire-client");
    let mut conn = ctx.raw().await;
    let arith = TestArith::new();
    // Not trimmed: the acked entries stay in the stream, as they do where
    // trimming is off or another group on the stream holds them.
    let options = ServerOptions::default().trim_command_streams(false);
    let server = ctx.server(options, &arith).await;
    for i in 0..20 {
        xadd_request(&mut conn, &stream, &reply_to, i).await;
    }
    assert_answered_once(&ctx, &mut conn, &reply_to, 0..20).await;
    nothing_pending(&conn, &stream, "the 20 entries are acked").await;
    assert_eq!(xlen(&mut conn, &stream).await, 20);

    let (position, _) = group_state(&mut conn, &stream).await;
    let _: () = redis::cmd("XGROUP")
        .arg("SETID")
        .arg(&stream)
        .arg("arith")
        .arg(&position)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        group_state(&mut conn, &stream).await,
        (position.clone(), None),
        "the state of a promoted replica's group"
    );
    housekeeping_passes(&server, 3).await;
    assert_eq!(
        group_state(&mut conn, &stream).await.0,
        position,
        "not moved back"
    );

    // The next request is answered, and nothing before it ran again.
    xadd_request(&mut conn, &stream, &reply_to, 20).await;
    assert_answered_once(&ctx, &mut conn, &reply_to, 0..21).await;
    assert_eq!(arith.handled().len(), 21, "no entry ran twice");
    within(server.stop()).await;
}

/// The heal still works while a server runs and has read entries: Redis lost
/// the stream (restarted without persistence), requests were queued again
/// and a peer worker recreated the group at `$` over them before this
/// server's next read. The queued entries lie above what this server had
/// delivered: the group is moved back to there, and each is answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_skipped_after_the_stream_was_lost_is_healed_while_serving() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let stream = ctx.stream();
    let reply_to = keys::reply_stream(ctx.prefix(), "wire-client");
    let mut conn = ctx.raw().await;
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    for i in 0..10 {
        xadd_request(&mut conn, &stream, &reply_to, i).await;
    }
    assert_answered_once(&ctx, &mut conn, &reply_to, 0..10).await;

    // At once, as a restarted Redis and a fast peer would leave it.
    let mut lost = redis::pipe();
    lost.atomic().cmd("DEL").arg(&stream).ignore();
    for i in 10..30 {
        let envelope = json!({"jsonrpc": "2.0", "method": "arith.add",
            "params": {"a": i, "b": 0}, "id": format!("r{i}")});
        lost.cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("type")
            .arg("rpc")
            .arg("envelope")
            .arg(envelope.to_string())
            .arg("reply-to")
            .arg(&reply_to)
            .ignore();
    }
    lost.cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("arith")
        .arg("$")
        .ignore();
    let () = lost.query_async(&mut conn).await.unwrap();

    assert_answered_once(&ctx, &mut conn, &reply_to, 0..30).await;
    assert_eq!(arith.handled().len(), 30, "each once");
    within(server.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_that_is_not_a_reply_stream_of_the_prefix_is_never_written() {
    // Changes a server-wide setting: a server of its own.
    let ctx = TestContext::own_server();
    let prefix = ctx.prefix();
    let mut conn = ctx.raw().await;
    // Small stream nodes, so an approximate MAXLEN would visibly trim.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("stream-node-max-entries")
        .arg(4)
        .query_async(&mut conn)
        .await
        .unwrap();
    let arith = TestArith::new();
    let options = ServerOptions::default()
        .reply_stream_maxlen(2)
        .trim_command_streams(false);
    let own = keys::command_stream(prefix, "arith");
    let other_service = keys::command_stream(prefix, "other");
    let dead = keys::dead_letter_stream(prefix, "arith");
    let other_app = "someone-else:replies:x".to_owned();
    let nested = format!("{prefix}:replies:x:cmds:arith");
    for key in [&other_service, &dead, &other_app, &nested] {
        for i in 0..40 {
            xadd_raw(&mut conn, key, &[("n", i.to_string().as_bytes())]).await;
        }
    }
    let server = ctx.server(options, &arith).await;
    let targets = [
        own.clone(),
        other_service.clone(),
        dead.clone(),
        other_app.clone(),
        nested.clone(),
        String::new(),
        format!("{prefix}:replies:"),
        format!("{prefix}:replies:a\nb"),
    ];
    for (i, target) in targets.iter().enumerate() {
        xadd_request(&mut conn, &own, target, 9_000 + i).await;
    }
    // A valid call after them is answered as usual.
    let client = ctx.client().await;
    assert_eq!(
        within(client.call("arith", "add", json!({"a": 1, "b": 2}), None))
            .await
            .unwrap(),
        json!({"sum": 3.0})
    );
    nothing_pending(&conn, &own, "every abusive entry is acked").await;
    for key in [&other_service, &dead, &other_app, &nested] {
        assert_eq!(xlen(&mut conn, key).await, 40, "{key} changed");
        let last: Vec<(String, HashMap<String, String>)> = redis::cmd("XREVRANGE")
            .arg(key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(last[0].1.get("n").map(String::as_str), Some("39"), "{key}");
    }
    let exists: i64 = redis::cmd("EXISTS")
        .arg("")
        .arg(format!("{prefix}:replies:"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0, "no key with an empty id was created");
    // Own command stream: the abusive requests and the call, no reply entries.
    assert_eq!(xlen(&mut conn, &own).await, targets.len() + 1);
    assert_eq!(arith.handled(), vec![1.0], "the abusive requests never ran");
    within(client.close()).await;
    within(server.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_redis_refuses_does_not_hold_back_the_acks_of_its_batch() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let mut conn = ctx.raw().await;
    let own = ctx.stream();
    let string_key = keys::reply_stream(ctx.prefix(), "not-a-stream");
    let _: () = redis::cmd("SET")
        .arg(&string_key)
        .arg("x")
        .query_async(&mut conn)
        .await
        .unwrap();
    let good = keys::reply_stream(ctx.prefix(), "wire-client");
    for i in 0..20 {
        let to = if i % 2 == 0 { &string_key } else { &good };
        xadd_request(&mut conn, &own, to, i).await;
    }
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let seen = collect_replies(&ctx, &mut conn, &good, 10).await;
    assert_each_once(&seen, (0..20).filter(|i| i % 2 == 1));
    nothing_pending(&conn, &own, "every entry is acked, WRONGTYPE replies too").await;
    let kind: String = redis::cmd("TYPE")
        .arg(&string_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(kind, "string");
    within(server.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_never_runs_a_long_handler_twice() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let (a, b) = (TestArith::new(), TestArith::new());
    let options = ServerOptions::default()
        .consumer_claim_idle(Duration::from_millis(400))
        .shutdown_grace(Duration::from_secs(5));
    let server_a = ctx.server(options.clone(), &a).await;
    let client = ctx.client().await;
    let calls = futures::future::join_all((0..5).map(|i| {
        client.call(
            "arith",
            "slowAdd",
            json!({"a": i, "b": 0, "sleepMs": 1_500}),
            None,
        )
    }));
    let stopper = async {
        a.slow_started_at_least(5).await;
        // A second worker whose reclaim loop would take entries idle 400 ms.
        let server_b = ctx.server(options.clone(), &b).await;
        server_a.stop().await;
        server_b
    };
    let (results, server_b) = within(futures::future::join(calls, stopper)).await;
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap(), json!({"sum": i as f64}));
    }
    // Absence of an event: an entry a left pending would be idle for the
    // claim idle (400 ms) by now, and b's reclaim passes every 100 ms (its
    // loop tick): a claim idle and three periods more, nothing to take over.
    tokio::time::sleep(Duration::from_millis(400) + 3 * LOOP_TICK).await;
    assert_eq!(a.handled().len(), 5);
    assert!(
        b.handled().is_empty(),
        "b ran {:?} a second time",
        b.handled()
    );
    within(client.close()).await;
    within(server_b.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_abandoned_at_the_end_of_the_grace_are_handed_over_at_once() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let (a, b) = (TestArith::new(), TestArith::new());
    // Claim idle 8 s: reclaim passes every 2 s. Without the hand-over, b
    // could take the entry only 8 s after a's last renewal.
    let options = ServerOptions::default()
        .consumer_claim_idle(Duration::from_secs(8))
        .shutdown_grace(Duration::from_millis(300));
    let server_a = ctx.server(options.clone(), &a).await;
    let client = ctx.client().await;
    let call = client.call(
        "arith",
        "slowAdd",
        json!({"a": 7, "b": 1, "sleepMs": 1_000}),
        Some(Duration::from_secs(15)),
    );
    let stopper = async {
        a.slow_started_at_least(1).await;
        let server_b = ctx.server(options.clone(), &b).await;
        server_a.stop().await;
        (Instant::now(), server_b)
    };
    let (r, (stopped_at, server_b)) = tokio::time::timeout(
        Duration::from_secs(20),
        futures::future::join(call, stopper),
    )
    .await
    .unwrap();
    let took = stopped_at.elapsed();
    assert_eq!(r.unwrap(), json!({"sum": 8.0}));
    assert_eq!(b.handled(), vec![7.0], "b finished the abandoned call");
    assert!(a.handled().is_empty());
    assert!(
        took < Duration::from_secs(5),
        "answered {took:?} after the stop (a claim idle is 8 s)"
    );
    within(client.close()).await;
    within(server_b.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_while_redis_is_down_serves_once_it_is_up() {
    let mut ctx = TestContext::own_server();
    tokio::task::block_in_place(|| ctx.redis().kill());
    let arith = TestArith::new();
    let start = |options: ServerOptions| {
        RedisRpcServer::builder(ctx.conn())
            .options(options)
            .dispatcher(arith.dispatcher())
            .start()
    };

    // With a start timeout, start gives up with a transport error.
    let started = Instant::now();
    let r = within(start(
        ServerOptions::default().start_timeout(Some(Duration::from_millis(300))),
    ))
    .await;
    assert!(matches!(r, Err(ConnectError::Unreachable { .. })), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // Without one, it retries until Redis is up.
    let starting = tokio::spawn(start(ServerOptions::default()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !starting.is_finished(),
        "start returned while Redis was down"
    );
    tokio::task::block_in_place(|| ctx.redis().restart());
    let server = within(starting).await.unwrap().unwrap();
    let client = ctx.client().await;
    assert_eq!(
        within(client.call("arith", "add", json!({"a": 2, "b": 2}), None))
            .await
            .unwrap(),
        json!({"sum": 4.0})
    );
    within(client.close()).await;
    within(server.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_streams_of_rust_clients_expire_and_late_replies_do_not_recreate_them() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let mut conn = ctx.raw().await;
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;
    let reply_stream = client.reply_stream().to_owned();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&reply_stream)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "reply stream TTL {ttl} ms");

    // A call that times out, then the client goes away before the reply.
    let r = client
        .call(
            "arith",
            "slowAdd",
            json!({"a": 1, "b": 1, "sleepMs": 600}),
            Some(Duration::from_millis(100)),
        )
        .await;
    assert!(r.is_err());
    within(client.close()).await;
    let stream = ctx.stream();
    nothing_pending(
        &conn,
        &stream,
        "the late reply was written (or dropped) and acked",
    )
    .await;
    assert_eq!(arith.handled(), vec![1.0]);
    assert!(
        !exists(&mut conn, &reply_stream).await,
        "the late reply re-created the reply stream"
    );

    // A peer's request (no reply-nomkstream) still gets its stream created.
    let peer_stream = keys::reply_stream(ctx.prefix(), "peer-client");
    xadd_request(&mut conn, &stream, &peer_stream, 3).await;
    let seen = collect_replies(&ctx, &mut conn, &peer_stream, 1).await;
    assert_each_once(&seen, [3]);
    within(server.stop()).await;
}

/// An entry deleted at the tail of the stream (`XDEL`, as an operator may do
/// to drop a queued request) leaves Redis unable to count the group's reads
/// (`entries-read` nil) without the group having skipped anything: the group
/// must not be moved back, or the backlog would run again every second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_deleted_at_the_tail_never_makes_handled_requests_run_again() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let stream = ctx.stream();
    let reply_to = keys::reply_stream(ctx.prefix(), "wire-client");
    let mut conn = ctx.raw().await;
    let mut last = String::new();
    for i in 0..20 {
        last = xadd_request(&mut conn, &stream, &reply_to, i).await;
    }
    let _: i64 = redis::cmd("XDEL")
        .arg(&stream)
        .arg(&last)
        .query_async(&mut conn)
        .await
        .unwrap();
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    assert_answered_once(&ctx, &mut conn, &reply_to, 0..19).await;
    // Three more passes of the housekeeping loop (which would move the group
    // back): still once each.
    housekeeping_passes(&server, 3).await;
    assert_eq!(arith.handled().len(), 19, "{:?}", arith.handled());
    within(server.stop()).await;
}
