//! The Redis Streams transport of clamator: servers that form worker pools on
//! per-service command streams, and clients that read replies from a stream of
//! their own, wire-compatible with the Python and TypeScript peers
//! (clamator-over-redis 0.1.9).
//!
//! ```no_run
//! use clamator_over_redis::{RedisConfig, RedisRpcClient, RedisRpcServer};
//! # async fn run(dispatcher: clamator_protocol::Dispatcher) -> Result<(), Box<dyn std::error::Error>> {
//! let config = RedisConfig::builder("myapp").redis_url("redis://127.0.0.1:6379").build()?;
//! let server = RedisRpcServer::new(config.clone(), dispatcher);
//! server.start().await?;
//! let client = RedisRpcClient::new(config);
//! client.start().await?;
//! let sum = client
//!     .call("arith", "add", serde_json::json!({"a": 2, "b": 3}), None)
//!     .await?;
//! client.stop().await;
//! server.stop().await;
//! # let _ = sum; Ok(()) }
//! ```
//!
//! # Delivery
//! At least once: an entry a crashed worker did not ack is reclaimed by
//! another after `consumer_claim_idle`, so handlers should be idempotent.
//!
//! # Beyond the peer, with the same wire
//! Each is a [`RedisConfigBuilder`] setting, on by default:
//! - [`max_concurrency`](RedisConfigBuilder::max_concurrency) (64): handlers
//!   of one service run concurrently; the peer runs one at a time.
//! - [`renew_leases`](RedisConfigBuilder::renew_leases): a handler running
//!   longer than `consumer_claim_idle` keeps its entry (`XCLAIM ... JUSTID`
//!   every claim idle / 3), so no other worker runs it a second time.
//! - [`trim_command_streams`](RedisConfigBuilder::trim_command_streams):
//!   command streams are trimmed below what every group has delivered and
//!   acknowledged; the peer never trims.
//! - [`skip_expired`](RedisConfigBuilder::skip_expired): Rust clients send
//!   their timeout (`timeout-ms`, [`keys::FIELD_TIMEOUT_MS`]); a request whose
//!   caller gave up is acked without running.
//! - [`max_deliveries`](RedisConfigBuilder::max_deliveries) (10): dead letters,
//!   below.
//!
//! And one that is off by default:
//! [`handler_timeout`](RedisConfigBuilder::handler_timeout) cancels a handler
//! that runs too long and answers its caller -32603 `HandlerTimeout`.
//!
//! Replies and acks of entries that finish together are written in one
//! pipeline with one multi-id `XACK` (2.2 instead of 3.2 Redis commands per
//! call under load; `BENCHMARKS.md`).
//!
//! # Dead letters
//! The peer redelivers an entry that no worker ever acknowledges forever: a
//! request whose handler crashes (or hangs until it is killed) every worker
//! process is reclaimed by the next worker, which dies too, and so on. A Rust
//! server stops that after
//! [`max_deliveries`](RedisConfigBuilder::max_deliveries) deliveries (default
//! 10; `None` redelivers forever like the peer). When its reclaim loop finds
//! an entry that has been delivered that often and is idle again for
//! `consumer_claim_idle`, it does not run it again; it:
//! - claims it (`XCLAIM`), so of several workers only one acts on it;
//! - appends it to the dead-letter stream `<prefix>:dead:<service>`
//!   ([`keys::dead_letter_stream`], `MAXLEN ~ 10000`): every original field
//!   (`type`, `envelope`, `reply-to`, ...) plus `dead-id` (its id on the
//!   command stream), `dead-deliveries`, `dead-consumer` (its last owner) and
//!   `dead-reason` ([`keys::DEAD_LETTER_FIELDS`]);
//! - answers a caller waiting for a reply with -32603 "Internal error", data
//!   `{"name": "DeadLetter", "message": "delivered N times without being
//!   acknowledged; moved to <dead stream>"}`, instead of leaving it to time out;
//! - acknowledges it, and logs a warning with its id.
//!
//! An entry whose handler still runs on a Rust server is never dead-lettered:
//! its lease is renewed, so it never looks idle, and the server running it
//! skips it. (So a handler that hangs in a live Rust server holds its entry,
//! and a handler slot, until the server stops, unless
//! [`handler_timeout`](RedisConfigBuilder::handler_timeout) is set; only a
//! killed worker's entries come back.) The delivery count is Redis's own (`XREADGROUP` and every claim
//! count one; lease renewal does not), so deliveries by Python workers count
//! too; but a Python worker's reclaim loop does not look at it, so in a mixed
//! pool an entry may be delivered more often before a Rust worker catches it.
//! The peer does not renew leases: an entry whose Python handler runs longer
//! than `consumer_claim_idle` looks abandoned, and is reclaimed (as it is
//! without dead letters) or, at the limit, dead-lettered.
//! Nothing on the wire changes: the peer ignores the dead-letter stream.
//! `clamator dead <service>` lists dead letters and requeues them.
//!
//! # Layout
//! - [`config`]: [`RedisConfig`] and its builder; defaults equal the peer's
//!   where the peer has the setting.
//! - [`keys`]: every key, group, consumer and field name (WIRE.md §1, §2),
//!   and the dead-letter stream and its fields.
//! - `conn`: the connection layer: a shared multiplexed connection for
//!   replies, acks and sends; connections of their own for blocking reads;
//!   time bounds and reconnects. The one module that would change for Redis Cluster.
//! - `backoff`: exponential backoff with jitter for reconnects.
//! - `entry`: stream entries parsed from raw replies, junk-tolerant.
//! - [`server`]: [`RedisRpcServer`], its lifecycle and shutdown.
//! - `worker`: one service on one server: handler slots, in-flight entries,
//!   handling one entry (dispatch, reply, ack).
//! - `poison_log`: rate-limited warnings about dropped (poison) entries: the
//!   first few per interval in full, then one summary line of counts by kind.
//! - `finish`: writes the replies and acks of entries that finished together
//!   in one pipeline (one multi-id `XACK`).
//! - `consumer`: the `XREADGROUP` loop of a service.
//! - `reclaim`: the reclaim loop of a service (`XPENDING IDLE`, `XCLAIM`):
//!   takes over entries other workers left pending too long.
//! - `dead_letter`: moves entries delivered `max_deliveries` times to the
//!   dead-letter stream and answers their callers.
//! - `trim`: removes command-stream entries every group has delivered and
//!   acknowledged, so command streams stay bounded (the peer never trims).
//! - `lease`: renews the idle time of entries whose handlers still run here,
//!   so long handlers are not reclaimed and run twice.
//! - [`client`]: [`RedisRpcClient`], calls and notifications.
//! - `reply_loop`: the `XREAD` loop of a client's reply stream.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod backoff;
pub mod client;
pub mod config;
mod conn;
mod consumer;
mod dead_letter;
mod entry;
mod finish;
pub mod keys;
mod lease;
mod poison_log;
mod reclaim;
mod reply_loop;
pub mod server;
mod trim;
mod worker;

pub use client::RedisRpcClient;
pub use config::{RedisConfig, RedisConfigBuilder};
pub use server::RedisRpcServer;

/// The `redis` crate this transport is built on, for [`RedisConfigBuilder::redis_client`].
pub use redis;
