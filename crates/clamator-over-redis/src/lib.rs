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
//! # Layout
//! - [`config`]: [`RedisConfig`] and its builder; defaults equal the peer's.
//! - [`keys`]: every key, group, consumer and field name (WIRE.md §1, §2).
//! - `conn`: the connection layer: a shared multiplexed connection for
//!   replies, acks and sends; connections of their own for blocking reads;
//!   time bounds and reconnects. The one module that would change for Redis Cluster.
//! - `backoff`: exponential backoff with jitter for reconnects.
//! - `entry`: stream entries parsed from raw replies, junk-tolerant.
//! - [`server`]: [`RedisRpcServer`], its lifecycle and shutdown.
//! - `worker`: one service on one server: handler slots, in-flight entries,
//!   handling one entry (dispatch, reply, ack).
//! - `consumer`: the `XREADGROUP` loop of a service.
//! - `reclaim`: the `XAUTOCLAIM` loop of a service.
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
mod entry;
pub mod keys;
mod lease;
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
