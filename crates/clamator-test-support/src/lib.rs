//! Test support shared by every crate's tests.
//!
//! Nothing here talks to the Redis at 127.0.0.1:6379 that a machine may run:
//! every server is a child process with its own port and directory.
//!
//! # Layout
//! - [`server`]: [`RedisServer`], a throwaway `redis-server` a test owns
//!   (kill, restart, freeze), and [`StartError`].
//! - [`shared`]: [`shared_redis`], the one `redis-server` all tests of a test
//!   binary share (each under its own [`unique_prefix`]); it dies with the
//!   process.
//! - `arith` (feature `arith`): `TestArith`, the `arith` interop contract
//!   served by the reference handler plus probes tests await.
//! - `context` (feature `redis`): `TestContext`, servers and clients of the
//!   Redis transport on the shared server (or an own one, or the shared
//!   cluster: `Deployment`), their loops every `LOOP_TICK` unless a test
//!   keeps the real timing, and raw-Redis helpers.
//! - [`cluster`]: a throwaway Redis Cluster (one shared per test binary, or
//!   one a test owns to kill nodes and move slots).
//! - [`tls`]: throwaway TLS `redis-server`s with certificates made at run
//!   time (a CA, server, client and expired certificates).
//! - `faults` (feature `redis`): fault scenarios run on one Redis and on a
//!   cluster (Redis out of memory while handlers run).
//! - `proxy` (feature `redis`): `TcpProxy`, a loopback TCP proxy that resets,
//!   forgets or holds the connections through it.
//! - `conformance` (feature `conformance`): the docs/WIRE.md §4 table, run
//!   against any transport that can carry request text.
#![deny(missing_docs)]
#![allow(clippy::expect_used, clippy::unwrap_used)] // test support fails loudly by design

#[cfg(feature = "arith")]
pub mod arith;
pub mod cluster;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "redis")]
pub mod context;
#[cfg(feature = "redis")]
pub mod faults;
#[cfg(feature = "redis")]
pub mod proxy;
pub mod sentinel;
pub mod server;
pub mod shared;
#[cfg(feature = "redis")]
pub mod spans;
pub mod tls;

#[cfg(feature = "arith")]
pub use arith::TestArith;
/// The `arith` contract crate, for tests of crates that must not depend on it
/// directly (a dev-dependency cycle through the facade confuses `cargo publish
/// --workspace`'s packaging order).
#[cfg(feature = "arith")]
pub use clamator_arith;
#[cfg(feature = "redis")]
pub use context::TestContext;
pub use server::{ClosedPort, RedisServer, StartError, free_port};
pub use shared::{SharedRedis, shared_redis};

/// A key prefix no other test uses (`t-<uuid>`), so tests sharing a server stay apart.
pub fn unique_prefix() -> String {
    format!("t-{}", uuid::Uuid::new_v4().simple())
}
