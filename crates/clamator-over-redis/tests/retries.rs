//! Client retries (`ClientOptions::retry`), on a real Redis: a request Redis
//! lost is sent again and answered; an `XADD` Redis refuses for now is sent
//! again once it takes it; every copy carries the same JSON-RPC id and
//! `reply-to`; a refusal a retry cannot fix fails at once; when the
//! attempts run out the call fails within its timeout; each copy is counted
//! in `clamator.client.retries` and on the call's span. Without retries
//! the same faults fail the call as before.
//!
//! The tests that fill Redis (`maxmemory`) run on a `redis-server` of their
//! own; the others share the binary's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use clamator_over_redis::{
    ClientOptions, ConnectOptions, RedisRpcClient, RetryPolicy, ServerOptions,
};
use clamator_protocol::{Error, TransportError};
use clamator_test_support::context::*;
use clamator_test_support::faults::set_maxmemory;
use clamator_test_support::spans::SpanRecorder;
use clamator_test_support::{TestArith, TestContext};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use redis::aio::ConnectionLike;
use serde_json::json;

/// Servers that keep every entry, so a test can read all copies of a request.
fn keeping_entries() -> ServerOptions {
    ServerOptions::default().trim_command_streams(false)
}

/// Test client options with `policy`.
fn retrying(policy: RetryPolicy) -> ClientOptions {
    TestContext::client_options().retry(Some(policy))
}

/// One request entry of the command stream: its id, `reply-to`,
/// `timeout-ms`, and the envelope's JSON-RPC id.
#[derive(Debug, Clone, PartialEq)]
struct Copy {
    entry: String,
    reply_to: String,
    timeout_ms: u64,
    envelope: String,
    rpc_id: serde_json::Value,
}

/// Every request entry of `stream`, oldest first.
async fn copies(conn: &mut impl ConnectionLike, stream: &str) -> Vec<Copy> {
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .unwrap();
    entries
        .ids
        .iter()
        .map(|e| {
            let envelope: String = e.get("envelope").expect("an envelope field");
            let parsed: serde_json::Value = serde_json::from_str(&envelope).unwrap();
            Copy {
                entry: e.id.clone(),
                reply_to: e.get("reply-to").expect("a reply-to field"),
                timeout_ms: e
                    .get::<String>("timeout-ms")
                    .expect("a timeout-ms field")
                    .parse()
                    .unwrap(),
                rpc_id: parsed["id"].clone(),
                envelope,
            }
        })
        .collect()
}

/// Waits until `stream` holds at least `n` entries.
async fn entries_at_least(ctx: &TestContext, stream: &str, n: usize) {
    let raw = ctx.raw().await;
    eventually(&format!("{n} entries on {stream}"), || {
        let mut raw = raw.clone();
        async move { xlen(&mut raw, stream).await >= n }
    })
    .await;
}

/// How many commands Redis refused with error `code` since it started
/// (`INFO errorstats`).
async fn refusals(conn: &mut impl ConnectionLike, code: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("errorstats")
        .query_async(conn)
        .await
        .unwrap();
    let prefix = format!("errorstat_{code}:count=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|rest| rest.split(',').next().unwrap().trim().parse().unwrap())
        .unwrap_or(0)
}

fn is_timeout(e: &Error) -> bool {
    matches!(e, Error::Transport(TransportError::Timeout { .. }))
}

/// 1. A request Redis lost before any worker read it (its entry deleted, as a
///    failover to a replica that never got it would): with retries it is
///    sent again after `resend_after`, with the same id, and answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_redis_lost_is_sent_again_and_answered() {
    let ctx = TestContext::new();
    let stream = ctx.stream();
    let arith = TestArith::new();
    let policy = RetryPolicy::new()
        .resend_after(Duration::from_millis(700))
        .max_attempts(10);
    let client = ctx.client_with(retrying(policy)).await;
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .call("arith", "add", json!({"a": 1, "b": 2}), None)
                .await
        }
    });
    // No worker runs: Redis loses the first copy before anyone reads it.
    entries_at_least(&ctx, &stream, 1).await;
    let mut raw = ctx.raw().await;
    let lost = copies(&mut raw, &stream).await.remove(0);
    let deleted: usize = redis::cmd("XDEL")
        .arg(&stream)
        .arg(&lost.entry)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let server = ctx.server(keeping_entries(), &arith).await;

    let sum = within(call)
        .await
        .unwrap()
        .expect("the copy sent again is answered");
    assert_eq!(sum, json!({"sum": 3.0}));
    let left = copies(&mut raw, &stream).await;
    assert!(!left.is_empty(), "a copy was sent again");
    for copy in &left {
        assert_eq!(
            copy.rpc_id, lost.rpc_id,
            "the copy carries the lost request's id"
        );
        assert_eq!(copy.envelope, lost.envelope);
        assert_eq!(copy.reply_to, lost.reply_to);
        assert!(copy.entry > lost.entry, "sent after the first");
    }
    within(client.close()).await;
    within(server.stop()).await;
}

/// 1'. The same loss without retries: nothing is sent again, the call times out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_a_request_redis_lost_times_out() {
    let ctx = TestContext::new();
    let stream = ctx.stream();
    let arith = TestArith::new();
    let client = ctx.client().await;
    let timeout = Duration::from_millis(1_500);
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .call("arith", "add", json!({"a": 1, "b": 2}), Some(timeout))
                .await
        }
    });
    entries_at_least(&ctx, &stream, 1).await;
    let mut raw = ctx.raw().await;
    let lost = copies(&mut raw, &stream).await.remove(0);
    let _: usize = redis::cmd("XDEL")
        .arg(&stream)
        .arg(&lost.entry)
        .query_async(&mut raw)
        .await
        .unwrap();
    let server = ctx.server(keeping_entries(), &arith).await;

    let error = within(call)
        .await
        .unwrap()
        .expect_err("nobody got the request");
    assert!(is_timeout(&error), "{error:?}");
    assert_eq!(xlen(&mut raw, &stream).await, 0, "nothing was sent again");
    within(client.close()).await;
    within(server.stop()).await;
}

/// 2. Redis refuses the `XADD` for now (full: `maxmemory`, `noeviction`):
///    with retries the request is sent again with backoff and answered once
///    Redis has room; without, the call fails at once saying Redis is full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_redis_refused_for_now_is_sent_again_once_it_has_room() {
    let ctx = TestContext::own_server();
    let nodes = [ctx.url().to_owned()];
    let arith = TestArith::new();
    let server = ctx.server(keeping_entries(), &arith).await;
    let plain = ctx.client().await;
    let policy = RetryPolicy::new()
        .backoff_first(Duration::from_millis(20))
        .backoff_max(Duration::from_millis(100))
        .max_attempts(1_000);
    let client = ctx.client_with(retrying(policy)).await;
    let mut raw = ctx.raw().await;

    set_maxmemory(&nodes, "1").await;
    // Without retries: fails at once with today's error.
    let started = Instant::now();
    let error = within(plain.call("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .expect_err("Redis refuses the request");
    assert!(
        matches!(error, Error::Transport(TransportError::Unavailable { .. })),
        "{error:?}"
    );
    assert!(error.to_string().contains("Redis is full"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // With retries: refused, sent again, and answered once Redis has room.
    let refused_before = refusals(&mut raw, "OOM").await;
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .call("arith", "add", json!({"a": 2, "b": 2}), None)
                .await
        }
    });
    eventually("the request was refused twice", || {
        let mut raw = raw.clone();
        async move { refusals(&mut raw, "OOM").await >= refused_before + 2 }
    })
    .await;
    assert!(!call.is_finished(), "the call waits while Redis is full");
    set_maxmemory(&nodes, "0").await;
    let sum = within(call)
        .await
        .unwrap()
        .expect("answered once Redis has room");
    assert_eq!(sum, json!({"sum": 4.0}));
    let taken = copies(&mut raw, &ctx.stream()).await;
    assert_eq!(taken.len(), 1, "only the copy Redis took is in the stream");

    within(plain.close()).await;
    within(client.close()).await;
    within(server.stop()).await;
}

/// 3. Every copy is the same request: the same envelope (so the same
///    JSON-RPC id) and `reply-to`; only `timeout-ms` says what is left. The
///    reply of the first copy answers the call, the replies of the others
///    are dropped (a server without a dedupe window runs every copy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_copy_carries_the_same_id_and_reply_to() {
    let ctx = TestContext::new();
    let stream = ctx.stream();
    let arith = TestArith::new();
    let policy = RetryPolicy::new()
        .resend_after(Duration::from_millis(150))
        .max_attempts(3);
    let client = ctx.client_with(retrying(policy)).await;
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .call(
                    "arith",
                    "add",
                    json!({"a": 7, "b": 1}),
                    Some(Duration::from_secs(8)),
                )
                .await
        }
    });
    entries_at_least(&ctx, &stream, 3).await;
    let mut raw = ctx.raw().await;
    let sent = copies(&mut raw, &stream).await;
    assert_eq!(sent.len(), 3, "max_attempts copies: {sent:?}");
    for copy in &sent[1..] {
        assert_eq!(copy.envelope, sent[0].envelope, "the same envelope");
        assert_eq!(copy.rpc_id, sent[0].rpc_id, "the same JSON-RPC id");
        assert_eq!(copy.reply_to, client.reply_stream(), "the same reply-to");
        assert!(copy.timeout_ms <= sent[0].timeout_ms, "{sent:?}");
    }
    assert_eq!(
        sent[0].timeout_ms, 8_000,
        "the first copy: the call's timeout"
    );
    assert!(sent[0].rpc_id.is_string(), "{sent:?}");

    let server = ctx.server(keeping_entries(), &arith).await;
    let sum = within(call).await.unwrap().expect("answered");
    assert_eq!(sum, json!({"sum": 8.0}));
    // No dedupe window: each copy runs, and its reply reaches the client.
    arith
        .until("every copy ran", |a| {
            a.handled().iter().filter(|x| **x == 7.0).count() == 3
        })
        .await;
    let reply_stream = client.reply_stream().to_owned();
    eventually("the three replies are in the reply stream", || {
        let mut raw = raw.clone();
        let reply_stream = reply_stream.clone();
        // The `open` entry and three replies.
        async move { xlen(&mut raw, &reply_stream).await >= 4 }
    })
    .await;
    // The late replies were dropped; the client goes on.
    let sum = within(client.call("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 2.0}));
    assert_eq!(
        copies(&mut raw, &stream).await.len(),
        4,
        "no copy after the reply"
    );
    within(client.close()).await;
    within(server.stop()).await;
}

/// 4. A refusal a retry cannot fix fails at once, sent once, retries or
///    not: the command stream is a string (`WRONGTYPE`), or an ACL user may
///    not write it (`NOPERM`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_a_retry_cannot_fix_fails_at_once() {
    let ctx = TestContext::new();
    let stream = ctx.stream();
    let mut raw = ctx.raw().await;
    let policy = RetryPolicy::new()
        .backoff_first(Duration::from_millis(20))
        .max_attempts(1_000);

    // WRONGTYPE: the command stream's key holds a string.
    let _: () = redis::cmd("SET")
        .arg(&stream)
        .arg("not a stream")
        .query_async(&mut raw)
        .await
        .unwrap();
    let client = ctx.client_with(retrying(policy.clone())).await;
    let before = refusals(&mut raw, "WRONGTYPE").await;
    let started = Instant::now();
    let error = within(client.call("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .expect_err("a string is no stream");
    assert!(
        matches!(error, Error::Transport(TransportError::Refused { .. })),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        refusals(&mut raw, "WRONGTYPE").await,
        before + 1,
        "sent once"
    );
    within(client.close()).await;
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut raw)
        .await
        .unwrap();

    // NOPERM: a user that may read the command stream but not write it.
    let user = format!("{}-reader", ctx.prefix());
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("reset")
        .arg("on")
        .arg(">secret")
        .arg(format!("~{}:replies:*", ctx.prefix()))
        .arg(format!("%R~{}:cmds:*", ctx.prefix()))
        .arg("+@all")
        .query_async(&mut raw)
        .await
        .unwrap();
    let url = ctx
        .url()
        .replacen("redis://", &format!("redis://{user}:secret@"), 1);
    let conn = ConnectOptions::new(ctx.prefix(), &url)
        .unwrap()
        .command_timeout(COMMAND_TIMEOUT);
    let client = within(RedisRpcClient::connect_with(conn, retrying(policy)))
        .await
        .expect("the user may use its reply stream");
    let before = refusals(&mut raw, "NOPERM").await;
    let started = Instant::now();
    let error = within(client.call("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .expect_err("the user may not write the command stream");
    assert!(
        matches!(error, Error::Transport(TransportError::Refused { .. })),
        "{error:?}"
    );
    assert!(error.to_string().contains("ACL"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(refusals(&mut raw, "NOPERM").await, before + 1, "sent once");
    assert_eq!(xlen(&mut raw, &stream).await, 0);
    within(client.close()).await;
    let _: i64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query_async(&mut raw)
        .await
        .unwrap();
}

/// 5. The attempts run out while nobody answers: `max_attempts` copies are
///    sent, then the call waits for a reply until its timeout and fails
///    with `Timeout`, not later. Counted: `clamator.client.retries`
///    (`no_reply`) and `clamator.retries` on the call's span.
///
/// Current-thread runtime, this thread's recorder and subscriber: the
/// client's tasks record into them and nothing else in the binary does.
#[tokio::test(flavor = "current_thread")]
async fn attempts_run_out_and_the_call_fails_at_its_timeout() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    let spans = SpanRecorder::default();
    let _tracing = {
        use tracing_subscriber::layer::SubscriberExt;
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()))
    };

    let ctx = TestContext::new();
    let policy = RetryPolicy::new()
        .resend_after(Duration::from_millis(100))
        .max_attempts(3);
    let client = ctx.client_with(retrying(policy)).await;
    let timeout = Duration::from_millis(1_200);
    let started = Instant::now();
    let error = within(client.call("arith", "add", json!({"a": 1, "b": 1}), Some(timeout)))
        .await
        .expect_err("nobody serves arith");
    let took = started.elapsed();
    assert!(is_timeout(&error), "{error:?}");
    assert!(took >= timeout, "{took:?}");
    assert!(took < timeout + Duration::from_millis(500), "{took:?}");
    let mut raw = ctx.raw().await;
    assert_eq!(
        xlen(&mut raw, &ctx.stream()).await,
        3,
        "max_attempts copies"
    );
    within(client.close()).await;

    let calls = spans.named("clamator.call");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].get("clamator.retries"), Some("2"), "{calls:?}");
    let retries = counter(
        &snapshotter,
        "clamator.client.retries",
        &[
            ("rpc.service", "arith"),
            ("rpc.method", "add"),
            ("reason", "no_reply"),
        ],
    );
    assert_eq!(retries, 2);
}

/// 5'. The attempts run out while Redis refuses every copy for now: the
///     call fails with the last refusal after `max_attempts` sends, well
///     before its timeout. Counted as `send_failed`.
#[tokio::test(flavor = "current_thread")]
async fn attempts_run_out_while_redis_refuses_and_the_call_fails_with_the_refusal() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = metrics::set_default_local_recorder(&recorder);

    let ctx = TestContext::own_server();
    let nodes = [ctx.url().to_owned()];
    let policy = RetryPolicy::new()
        .backoff_first(Duration::from_millis(20))
        .backoff_max(Duration::from_millis(50))
        .max_attempts(3);
    let client = ctx.client_with(retrying(policy)).await;
    let mut raw = ctx.raw().await;
    set_maxmemory(&nodes, "1").await;
    let before = refusals(&mut raw, "OOM").await;
    let started = Instant::now();
    let error = within(client.call("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .expect_err("Redis stays full");
    assert!(
        matches!(error, Error::Transport(TransportError::Unavailable { .. })),
        "{error:?}"
    );
    assert!(error.to_string().contains("attempt 3 of 3"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        refusals(&mut raw, "OOM").await,
        before + 3,
        "three attempts"
    );
    set_maxmemory(&nodes, "0").await;
    within(client.close()).await;
    let retries = counter(
        &snapshotter,
        "clamator.client.retries",
        &[
            ("rpc.service", "arith"),
            ("rpc.method", "add"),
            ("reason", "send_failed"),
        ],
    );
    assert_eq!(retries, 2);
}

/// The counter with this name and exactly these labels.
fn counter(
    snapshotter: &metrics_util::debugging::Snapshotter,
    name: &str,
    labels: &[(&str, &str)],
) -> u64 {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    want.sort();
    let all = snapshotter.snapshot().into_vec();
    let found = all.iter().find_map(|(key, _, _, value)| {
        let key = key.key();
        let mut have: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        have.sort();
        (key.name() == name && have == want).then_some(value)
    });
    match found {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name} {labels:?}: {other:?}"),
    }
}
