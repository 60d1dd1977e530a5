//! Operator building blocks: what clamator's own tools (the `clamator` CLI,
//! the test support, the interop suites and the benchmarks) use to read and
//! write clamator's keys directly.
//!
//! **Stability**: for clamator's own tools; may change in minor versions.
//! An application needs none of this: it calls through a
//! [`RedisRpcClient`](crate::RedisRpcClient) and serves with a
//! [`RedisRpcServer`](crate::RedisRpcServer). The wire these pieces spell
//! (key names, entry fields) is stable and written down in docs/WIRE.md; the
//! Rust names for it here are not.
//!
//! - [`keys`]: every key, group, consumer and stream field name.
//! - [`Conn`]: an open connection to one Redis or a Redis Cluster, opened
//!   the way servers and clients open theirs ([`Conn::open`]).
//! - [`StreamId`]: stream entry ids, parsed and ordered.
//! - [`RawEntry`], [`parse_entries`]: stream entries from a raw
//!   `XRANGE` / `XREAD` reply, junk-tolerant.
//! - [`acl`]: the Redis ACL each role needs.
//! - [`dead_letter`]: the dead-letter format, written by servers, read and
//!   requeued by `clamator dead`.
//! - [`throwaway`]: a throwaway `redis-server` child process (the CLI's
//!   demo, the test support), with errors that say what to install.
//! - [`redact_url`]: a Redis URL with its password hidden, for messages.
//!
//! ```no_run
//! use clamator_over_redis::ConnectOptions;
//! use clamator_over_redis::ops::{Conn, keys};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let options = ConnectOptions::new("myapp", "redis://127.0.0.1:6379")?;
//! let mut conn = Conn::open(&options).await?;
//! let queued: u64 = clamator_over_redis::redis::cmd("XLEN")
//!     .arg(keys::command_stream(options.key_prefix(), "arith"))
//!     .query_async(&mut conn)
//!     .await?;
//! # let _ = queued; Ok(()) }
//! ```

pub mod dead_letter;
pub mod throwaway;

pub use crate::conn::Conn;
pub use crate::entry::{RawEntry, ShapeError, parse_entries};
pub use crate::options::redact_url;
pub use crate::stream_id::StreamId;

/// Every Redis key, group, consumer and stream field name the transport
/// uses (docs/WIRE.md §1 and §2), spelled here and nowhere else, and the
/// dead-letter stream and its fields. Every command the transport sends
/// touches exactly one of these keys, so a Redis Cluster connection routes
/// each by its key.
pub mod keys {
    pub use crate::keys::*;
}

/// The Redis ACL each role needs: exactly the commands it sends, on the keys
/// of its prefix (checked against `ACL LOG` by the crate's tests).
/// `clamator acl <role>` prints the `ACL SETUSER` line.
pub mod acl {
    pub use crate::acl::*;
}
