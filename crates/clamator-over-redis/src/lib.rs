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
//! # Public surface
//! The crate root is what applications use: [`RedisRpcServer`] (built with
//! [`RedisServerBuilder`]), [`RedisRpcClient`], [`ConnectOptions`],
//! [`ServerOptions`], [`ClientOptions`] (and its [`RetryPolicy`]), [`ConfigError`], [`ConnectError`]
//! (what connecting and starting fail with, and its [`Refusal`]), the TLS types
//! ([`TlsOptions`] with the `tls` feature, [`TlsHandshakeError`],
//! [`TlsFailure`]), `SentinelOptions` (feature `sentinel`), and [`redis`]
//! for [`ConnectOptions::from_client`]. The guides [`behaviour`], [`tls`],
//! `sentinel`, `cluster` and [`metrics`] (the metric names) are modules of
//! their own. [`health`] has the liveness and readiness probes
//! ([`HealthProbe`], `GET /healthz` and `GET /readyz`). [`ops`] holds the
//! operator building blocks clamator's own tools use (keys, stream ids, raw
//! entries, [`ops::Conn`], the ACL); it may change in minor versions. The surface is snapshotted in
//! `api/clamator-over-redis.txt` (see CONTRIBUTING.md).
//!
//! # Layout
//! - `acl`: the Redis ACL each role needs (tested against `ACL LOG`), for
//!   tools as [`ops::acl`].
//! - `options`: [`ConnectOptions`] (shared by both roles), [`ServerOptions`],
//!   [`ClientOptions`], [`ConfigError`]; defaults equal the peer's where the
//!   peer has the setting.
//! - `keys`: every key, group, consumer and field name (docs/WIRE.md §1,
//!   §2), and the dead-letter stream and its fields; for tools as [`ops::keys`].
//! - `commands`: the entries of requests, notifications and replies, and
//!   the reply stream's `open` entry, built in one place (dead letters are
//!   built in [`ops::dead_letter`]).
//! - `conn`: the connection layer: a shared multiplexed connection for
//!   replies, acks and sends; connections of their own for blocking reads;
//!   time bounds and reconnects. The only module that knows the `redis`
//!   crate's connection types: one Redis, Sentinel's primary, or a Redis
//!   Cluster (`Conn::Cluster`, routed by key; see `cluster`).
//! - `connect_error`: [`ConnectError`] and [`Refusal`], what a connect, a
//!   server's start or [`ops::Conn::open`] fails with.
//! - `backoff`: exponential backoff with jitter for reconnects.
//! - `stream_id`: [`ops::StreamId`], entry ids parsed and ordered in one place.
//! - `entry`: stream entries parsed from raw replies, junk-tolerant
//!   ([`ops::RawEntry`] and [`ops::parse_entries`] for tools).
//! - `server`: [`RedisServerBuilder`] and the running [`RedisRpcServer`].
//! - `runner`: one service on one server: owns its loops and stops them in order.
//! - `service_keys`: the immutable names one service's loops share.
//! - `supervise`: runs each loop under a supervisor that restarts it, with
//!   backoff, after a panic; [`health`]: what `RedisRpcServer::health`
//!   reports, the liveness and readiness probes ([`HealthProbe`]) and, with
//!   the `health-http` feature, their HTTP server (`health::serve_http`).
//! - `periodic`: the skeleton every periodic loop shares.
//! - `pool`: a service's handlers: slots, in-flight entries, tasks.
//! - `worker`: handling one entry (dispatch, reply, ack).
//! - `poison_log`: rate-limited warnings about dropped (poison) entries: the
//!   first few per interval in full, then one summary line of counts by kind.
//! - `finish`: writes the replies and acks of entries that finished together
//!   in one pipeline (one multi-id `XACK`).
//! - `consumer`: the `XREADGROUP` loop of a service.
//! - `reclaim`: the reclaim loop of a service (`XPENDING IDLE`, `XCLAIM`):
//!   takes over entries other workers left pending too long.
//! - `dead_letter`: moves entries delivered `max_deliveries` times to the
//!   dead-letter stream and answers their callers.
//! - `housekeeping`: once a second per service: reads the groups (health,
//!   group gauges), flushes the poison log, heals, trims.
//! - `group`: creates the consumer group at `0`, recreates it, and moves
//!   back a group that skipped a backlog.
//! - `trim`: removes command-stream entries every group has delivered and
//!   acknowledged, so command streams stay bounded (the peer never trims).
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
//! - [`ops`]: the operator building blocks, re-exported for clamator's own
//!   tools (a stability note of its own).
//! - `client`: [`RedisRpcClient`], calls and notifications.
//! - `reply_loop`: the `XREAD` loop of a client's reply stream.
//! - `retry`: [`RetryPolicy`], when a client sends a request again
//!   ([`ClientOptions::retry`]).
//! - [`metrics`]: the metrics recorded with the `metrics` feature, and their names.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

#[doc = include_str!("../docs/behaviour.md")]
pub mod behaviour {}

mod acl;
mod backoff;
mod cancel;
mod client;
#[cfg(feature = "cluster")]
pub mod cluster;
mod commands;
mod conn;
mod connect_error;
mod consumer;
mod dead_letter;
mod dedupe;
mod entry;
mod finish;
mod group;
pub mod health;
mod housekeeping;
mod keys;
mod lease;
pub mod metrics;
pub mod ops;
mod options;
mod periodic;
mod poison_log;
mod pool;
mod reclaim;
mod reply_loop;
mod retry;
mod runner;
#[cfg(feature = "sentinel")]
pub mod sentinel;
mod server;
mod service_keys;
mod stream_id;
mod supervise;
pub mod tls;
mod trace;
mod trim;
mod worker;

pub use client::RedisRpcClient;
pub use connect_error::{ConnectError, Refusal};
pub use health::{HealthProbe, LoopHealth, ServerLoop, ServiceHealth};
pub use options::{ClientOptions, ConfigError, ConnectOptions, ServerOptions, is_sentinel_url};
pub use retry::RetryPolicy;
#[cfg(feature = "sentinel")]
pub use sentinel::SentinelOptions;
pub use server::{RedisRpcServer, RedisServerBuilder};
#[cfg(feature = "tls")]
pub use tls::TlsOptions;
pub use tls::{TlsFailure, TlsHandshakeError};

/// The `redis` crate this transport is built on: [`ConnectOptions::from_client`]
/// takes a `redis::Client` (and [`ConnectOptions::redis_client`] returns
/// one), so a caller that builds its own names the same version of it.
pub use redis;
