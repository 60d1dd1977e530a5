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
//! # Delivery and what is guaranteed
//! At least once: an entry a crashed worker did not ack is reclaimed by
//! another after `consumer_claim_idle`, so handlers should be idempotent.
//! The fault tests in `tests/faults.rs` (real `redis-server`s) hold each of
//! these:
//! - **Answered exactly once**: every request Redis accepted while a worker
//!   of its service runs, or before any worker started (a backlog), including
//!   requests XADDed right after Redis restarted without persistence. Groups
//!   are created, and recreated after Redis lost them, at `0` (the peer uses
//!   `$`, which skips what was queued); the trim never removes an entry no
//!   group delivered (see "Groups and backlogs").
//! - **Run once across a graceful stop**: `stop()` keeps renewing the leases
//!   of handlers that run during the shutdown grace, so no other worker
//!   reclaims them; handlers still running at the end of the grace are
//!   abandoned and their entries handed over at once (`XCLAIM ... IDLE`), to
//!   run again on another worker.
//! - **Answered with an error**: a request whose envelope is invalid but
//!   whose id can be read gets -32700 / -32600 at once; a request that crashes
//!   every worker gets -32603 `DeadLetter`; a call made while Redis is down
//!   fails with a transport error within its timeout.
//! - **Nothing written elsewhere**: replies go only to
//!   `<prefix>:replies:<id>` keys (an id without `:` or control characters,
//!   at most 256 bytes, as every family client's UUID is). An entry whose
//!   `reply-to` names anything else is acked without running and nothing is
//!   written, so no request can write to, or trim, another key.
//!
//! Not guaranteed:
//! - a worker process frozen (or a Redis frozen) for longer than
//!   `consumer_claim_idle` cannot renew its leases: another worker may take
//!   over an entry whose handler then also finishes on the frozen one, so
//!   the call runs twice (its caller reads the first reply);
//! - what Redis itself loses: requests, replies and pending lists held by a
//!   Redis that restarts without persistence (their callers time out), and
//!   the replies of a client whose reply stream was deleted;
//! - a killed worker's entries run again on another worker (at least once).
//!
//! # Groups and backlogs
//! A Rust server creates its group with `XGROUP CREATE <stream> <service> 0
//! MKSTREAM`, and recreates it the same way when Redis lost it (`NOGROUP`):
//! entries already in the stream are delivered, and requests whose caller
//! gave up meanwhile are acked without running (`skip_expired`). A stream
//! that keeps a long history without a group (its group was deleted by
//! hand, trimming off) is delivered from its first entry.
//!
//! A Python or TypeScript worker creates the group at `$`: if it is the first
//! worker to start over a backlog, the group skips it. Redis then reports the
//! group's `entries-read` as nil (and its lag as 0) until it delivers a new
//! entry, and a Rust server of the pool (its trim loop, every second) moves
//! the group back to `0` (`XGROUP SETID`), so the backlog is delivered; while
//! the service's group reports no `entries-read`, nothing is trimmed. If a
//! new request arrives before a Rust server looks, Redis can no longer tell
//! skipped entries from delivered ones, and the skipped ones may be trimmed:
//! start a Rust worker first, or create the group yourself (`XGROUP CREATE
//! <stream> <service> 0 MKSTREAM`). To drop a backlog on purpose, delete
//! entries (`XTRIM`, `XDEL`), do not move the group with `XGROUP SETID`: a
//! Rust server moves it back (and entries at or below that position still in
//! the stream, handled or not, run again). Trimming needs Redis 7.0 or later
//! (older servers do not report `entries-read`).
//!
//! # Starting before Redis
//! `RedisRpcServer::start` retries with backoff while Redis is unreachable
//! (a warning per attempt) until it answers, or until
//! [`start_timeout`](RedisConfigBuilder::start_timeout); errors a retry
//! cannot fix (a refused command, a key of the wrong type) fail at once.
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
//! - [`reply_stream_ttl`](RedisConfigBuilder::reply_stream_ttl) (60 s): a
//!   Rust client's reply stream expires unless the client refreshes it, and
//!   Rust servers reply to Rust clients with `NOMKSTREAM`
//!   ([`keys::FIELD_REPLY_NOMKSTREAM`]), so a crashed client leaves nothing
//!   behind and a late reply never re-creates its stream.
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
//!   acknowledged, so command streams stay bounded (the peer never trims),
//!   and moves back a group that skipped a backlog.
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
