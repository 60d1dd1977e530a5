//! The Redis Streams transport of clamator: servers that form worker pools on
//! per-service command streams, and clients that read replies from a stream of
//! their own, wire-compatible with the Python and TypeScript peers
//! (clamator-over-redis 0.1.9).
//!
//! ```no_run
//! use clamator_over_redis::{ConnectOptions, RedisRpcClient, RedisRpcServer};
//! # async fn run(dispatcher: clamator_protocol::Dispatcher) -> Result<(), Box<dyn std::error::Error>> {
//! let redis = ConnectOptions::new("myapp", "redis://127.0.0.1:6379")?;
//! let server = RedisRpcServer::builder(redis.clone()).dispatcher(dispatcher).start().await?;
//! let client = RedisRpcClient::connect(redis).await?;
//! let sum = client
//!     .call("arith", "add", serde_json::json!({"a": 2, "b": 3}), None)
//!     .await?;
//! client.close().await;
//! server.stop().await;
//! # let _ = sum; Ok(()) }
//! ```
//!
//! [`behaviour`] says what is guaranteed (and what is not), how groups are
//! created, and what a Rust server does beyond the peer.
//!
//! # Layout
//! - [`acl`]: the Redis ACL each role needs (tested against `ACL LOG`).
//! - [`options`]: [`ConnectOptions`] (shared by both roles), [`ServerOptions`],
//!   [`ClientOptions`], [`ConfigError`]; defaults equal the peer's where the
//!   peer has the setting.
//! - [`keys`]: every key, group, consumer and field name (docs/WIRE.md §1,
//!   §2), and the dead-letter stream and its fields.
//! - [`commands`]: the entries of requests, notifications and replies, and
//!   the reply stream's `open` entry, built in one place (dead letters are
//!   built in `dead_letter`).
//! - `conn`: the connection layer: a shared multiplexed connection for
//!   replies, acks and sends; connections of their own for blocking reads;
//!   time bounds and reconnects. The only module that knows the `redis`
//!   crate's connection types: one Redis, Sentinel's primary, or a Redis
//!   Cluster (`Conn::Cluster`, routed by key; see `cluster`).
//! - `backoff`: exponential backoff with jitter for reconnects.
//! - [`stream_id`]: [`StreamId`], entry ids parsed and ordered in one place.
//! - [`entry`]: stream entries parsed from raw replies, junk-tolerant
//!   ([`entry::RawEntry`] and [`entry::parse_entries`] for tools).
//! - [`server`]: [`RedisServerBuilder`] and the running [`RedisRpcServer`].
//! - `runner`: one service on one server: owns its loops and stops them in order.
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
//! - `trace`: the client and server spans (`clamator.call`, `clamator.notify`,
//!   `clamator.handle`) and the W3C trace context on stream entries
//!   (`traceparent`, `tracestate`); with the `opentelemetry` feature, the
//!   bridge to OpenTelemetry (docs/OBSERVABILITY.md in the repository).
//! - `lease`: renews the idle time of entries whose handlers still run here,
//!   so long handlers are not reclaimed and run twice.
//! - [`tls`]: `rediss://` settings (`TlsOptions`, `ConnectOptions::tls`, with
//!   the `tls` feature) and [`TlsHandshakeError`], what a failed handshake says.
//! - `sentinel` (feature `sentinel`): `SentinelOptions` and `redis+sentinel://`
//!   URLs; the connection layer asks the sentinels for the primary at every connect.
//! - `cluster` (feature `cluster`): Redis Cluster, `ConnectOptions::cluster`
//!   and comma-separated seed URLs; what changes on a cluster.
//! - [`Conn`]: an open connection to one Redis or a cluster, for tools that
//!   read clamator's keys directly.
//! - [`client`]: [`RedisRpcClient`], calls and notifications.
//! - `reply_loop`: the `XREAD` loop of a client's reply stream.
//! - [`metrics`]: the metrics recorded with the `metrics` feature, and their names.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

#[doc = include_str!("../docs/behaviour.md")]
pub mod behaviour {}

pub mod acl;
mod backoff;
pub mod client;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod commands;
mod conn;
mod consumer;
mod dead_letter;
pub mod entry;
mod finish;
pub mod keys;
mod lease;
pub mod metrics;
pub mod options;
mod poison_log;
mod reclaim;
mod reply_loop;
mod runner;
#[cfg(feature = "sentinel")]
pub mod sentinel;
pub mod server;
pub mod stream_id;
pub mod tls;
mod trace;
mod trim;
mod worker;

pub use client::RedisRpcClient;
pub use conn::Conn;
pub use options::{ClientOptions, ConfigError, ConnectOptions, ServerOptions};
pub use server::{RedisRpcServer, RedisServerBuilder};
pub use stream_id::StreamId;
#[cfg(feature = "tls")]
pub use tls::TlsOptions;
pub use tls::{TlsFailure, TlsHandshakeError};

/// The `redis` crate this transport is built on, for [`ConnectOptions::from_client`].
pub use redis;
