//! The docs/WIRE.md §4 conformance suite over Redis: each case's text is XADDed
//! to the command stream as any family client writes a request (plus a field
//! the server must ignore), and the reply read from the reply stream.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use clamator_over_redis::ServerOptions;
use clamator_over_redis::ops::keys;
use clamator_test_support::conformance::{self, Exchange};
use clamator_test_support::context::*;
use clamator_test_support::{TestArith, TestContext};

/// Where `TestContext::on(crate::DEPLOYMENT)` puts this file's tests when it
/// is its own test binary: the binary's shared Redis. `cluster_suite.rs`
/// includes this file and names its own (a cluster).
#[allow(dead_code)] // unused where cluster_suite.rs includes this file
const DEPLOYMENT: Deployment = Deployment::OneRedis;

/// How long a server may take to answer a request, even an invalid one.
const AT_ONCE: Duration = Duration::from_secs(1);

/// Request text in, reply text out, through the streams.
struct RedisExchange {
    conn: RawConn,
    /// `<prefix>:cmds:arith`.
    stream: String,
    /// Where replies go.
    reply_to: String,
    /// The last reply entry read.
    last: String,
}

/// An entry id as numbers, to compare.
fn entry_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').expect("an entry id");
    (ms.parse().unwrap(), seq.parse().unwrap())
}

impl RedisExchange {
    /// The next reply entry's envelope, waiting up to `block_ms` (none: no wait).
    async fn next_reply(&mut self, block_ms: Option<u64>) -> Option<String> {
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT").arg(1);
        if let Some(ms) = block_ms {
            read.arg("BLOCK").arg(ms);
        }
        read.arg("STREAMS").arg(&self.reply_to).arg(&self.last);
        let reply: redis::streams::StreamReadReply =
            within(read.query_async(&mut self.conn)).await.unwrap();
        let entry = reply.keys.into_iter().next()?.ids.into_iter().next()?;
        self.last.clone_from(&entry.id);
        Some(entry.get("envelope").expect("an envelope field"))
    }

    /// Whether group `arith` has delivered and acknowledged entry `id`.
    async fn handled(&mut self, id: &str) -> bool {
        let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&self.stream)
            .query_async(&mut self.conn)
            .await
            .unwrap();
        let group = groups.groups.iter().find(|g| g.name == "arith").unwrap();
        entry_id(&group.last_delivered_id) >= entry_id(id) && group.pending == 0
    }
}

impl Exchange for RedisExchange {
    async fn exchange(&mut self, request: &str) -> Option<String> {
        let id = xadd_raw(
            &mut self.conn,
            &self.stream,
            &[
                ("type", b"rpc"),
                ("envelope", request.as_bytes()),
                ("reply-to", self.reply_to.as_bytes()),
                ("x-unknown-extension", b"ignored"),
            ],
        )
        .await;
        let sent = Instant::now();
        loop {
            // A short block: a reply ends it at once, and a notification
            // (never answered) is seen handled by the next check.
            if let Some(reply) = self.next_reply(Some(10)).await {
                assert!(
                    sent.elapsed() < AT_ONCE,
                    "answered after {:?}",
                    sent.elapsed()
                );
                return Some(reply);
            }
            // Replies are written before (or with) the ack: once the entry
            // is acked, a reply it got is in the stream.
            if self.handled(&id).await {
                return self.next_reply(None).await;
            }
            assert!(
                sent.elapsed() < AT_ONCE,
                "not handled after {:?}",
                sent.elapsed()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_of_the_error_mapping() {
    let ctx = TestContext::on(crate::DEPLOYMENT);
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let mut transport = RedisExchange {
        conn: ctx.raw().await,
        stream: ctx.stream(),
        reply_to: keys::reply_stream(ctx.prefix(), "conformance"),
        last: "0-0".to_owned(),
    };
    conformance::run(&mut transport).await;
    assert_eq!(arith.pings(), 1, "the one valid notification ran once");
    server.stop().await;
}
