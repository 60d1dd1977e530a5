//! Fault scenarios run on more than one deployment (one Redis, a cluster):
//! each drives the transport through the fault and asserts what is
//! guaranteed.

use std::sync::Arc;
use std::time::Duration;

use clamator_over_redis::{RedisRpcClient, ServerOptions};
use serde_json::json;

use crate::context::{RawConn, nothing_pending, raw, within};
use crate::{TestArith, TestContext};

/// How long each `slowAdd` of [`out_of_memory_while_handlers_run`] sleeps.
const HANDLER_MS: u64 = 1_500;

/// Sets `maxmemory` (with the `noeviction` policy a queue runs with) on
/// every node of `nodes` (Redis URLs).
pub async fn set_maxmemory(nodes: &[String], bytes: &str) {
    for url in nodes {
        let mut conn = raw(url).await;
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg("noeviction")
            .query_async(&mut conn)
            .await
            .unwrap();
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory")
            .arg(bytes)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

/// Redis fills up (`maxmemory` below what it uses) while two workers run
/// `calls` handlers of 1.5 s, and is freed 2 s after the last one ended:
/// every call is answered exactly once, no handler runs twice, and nothing
/// is left pending. (Before: every reply Redis refused was acked unanswered,
/// 0 of 100 answered.) `nodes` are the Redis URLs to fill (every primary of
/// a cluster).
pub async fn out_of_memory_while_handlers_run(ctx: &TestContext, nodes: &[String], calls: usize) {
    let arith = TestArith::new();
    let options = ServerOptions::default().consumer_claim_idle(Duration::from_secs(2));
    let one = ctx.server(options.clone(), &arith).await;
    let two = ctx.server(options, &arith).await;
    let client = Arc::new(ctx.client().await);
    let waiting: Vec<_> = (0..calls)
        .map(|i| {
            let client = Arc::clone(&client);
            tokio::spawn(async move {
                client
                    .call(
                        "arith",
                        "slowAdd",
                        json!({"a": i, "b": 1, "sleepMs": HANDLER_MS}),
                        Some(Duration::from_secs(60)),
                    )
                    .await
            })
        })
        .collect();
    arith.slow_started_at_least(calls).await;
    set_maxmemory(nodes, "1").await;
    arith
        .until("every handler ended while Redis is full", |a| {
            a.slow_running() == 0
        })
        .await;
    // Redis stays full for a while: the replies are refused and retried.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let answered_while_full = waiting.iter().filter(|w| w.is_finished()).count();
    assert_eq!(
        answered_while_full, 0,
        "no reply can be written while Redis refuses them"
    );
    set_maxmemory(nodes, "0").await;
    for (i, call) in waiting.into_iter().enumerate() {
        let answer = within(call).await.unwrap();
        assert_eq!(
            answer.unwrap_or_else(|e| panic!("call {i} failed: {e}")),
            json!({"sum": i as f64 + 1.0})
        );
    }
    let handled = arith.handled();
    for i in 0..calls {
        let runs = handled.iter().filter(|a| **a == i as f64).count();
        assert_eq!(runs, 1, "the handler of call {i} ran {runs} times");
    }
    let raw: RawConn = ctx.raw().await;
    nothing_pending(&raw, &ctx.stream(), "after Redis was freed").await;
    match Arc::try_unwrap(client) {
        Ok(client) => within(client.close()).await,
        Err(_) => panic!("the client is still shared"),
    }
    within(one.stop()).await;
    within(two.stop()).await;
}

/// While Redis is full, a call fails at once with
/// [`TransportError::Unavailable`](clamator_protocol::TransportError::Unavailable)
/// saying so (not "cannot reach Redis", not a timeout), and a new client
/// cannot open its reply stream
/// ([`ConnectError::Unavailable`](clamator_over_redis::ConnectError::Unavailable));
/// once freed, both work.
pub async fn a_call_while_redis_is_full_fails_at_once_saying_so(
    ctx: &TestContext,
    nodes: &[String],
) {
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;
    within(client.call("arith", "add", json!({"a": 1, "b": 1}), None))
        .await
        .unwrap();
    set_maxmemory(nodes, "1").await;
    let started = std::time::Instant::now();
    let error = within(client.call("arith", "add", json!({"a": 2, "b": 2}), None))
        .await
        .expect_err("Redis refuses the request");
    let took = started.elapsed();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            clamator_protocol::Error::Transport(
                clamator_protocol::TransportError::Unavailable { .. }
            )
        ),
        "{error:?}"
    );
    assert!(message.contains("Redis is full"), "{message}");
    assert!(message.contains("maxmemory"), "{message}");
    assert!(took < Duration::from_secs(1), "failed after {took:?}");
    match RedisRpcClient::connect_with(ctx.conn(), TestContext::client_options()).await {
        Ok(_) => panic!("a new client opened its reply stream in a full Redis"),
        Err(error) => {
            let message = error.to_string();
            assert!(
                matches!(error, clamator_over_redis::ConnectError::Unavailable { .. }),
                "{error:?}"
            );
            assert!(message.contains("Redis is full"), "{message}");
        }
    }
    set_maxmemory(nodes, "0").await;
    within(client.call("arith", "add", json!({"a": 3, "b": 3}), None))
        .await
        .unwrap();
    within(client.close()).await;
    within(server.stop()).await;
}
