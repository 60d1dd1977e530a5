//! The connection layer: every Redis connection the transport opens, and the
//! one place that knows the `redis` crate's connection types.
//!
//! Two kinds of connection, because Redis answers one connection's commands
//! in order: while an `XREADGROUP ... BLOCK` is parked, every command queued
//! behind it on that socket waits for it.
//! - [`SharedConn`]: one multiplexed connection per server or client, shared by
//!   every task, for the commands that must never wait behind a blocked read
//!   (XADD, XACK, DEL, XPENDING, XCLAIM, XGROUP). It reconnects lazily after a
//!   failure and fails fast (with backoff) while Redis is unreachable.
//! - [`BlockingConn`]: a connection of its own for one blocking loop
//!   (`XREADGROUP ... BLOCK`, `XREAD ... BLOCK`), with redis-rs's response
//!   timeout disabled: its default of 500 ms would end a `BLOCK 1000` read
//!   early, and an entry Redis then hands to an abandoned `XREADGROUP` would
//!   sit in the pending list unseen until reclaimed. Its loop reconnects
//!   with [`Backoff`].
//!
//! Every command is bounded by our own timeout. Every command touches one
//! key, so on a Redis Cluster ([`Conn::Cluster`]) each is routed by its key;
//! the few that must reach a given node (`CLIENT ID`, `CLIENT UNBLOCK`) are
//! routed to the primary of a key explicitly ([`Conn::query_on_primary_of`]).
//!
//! Where a connection goes ([`Connector`]): one address (a URL, a caller's
//! client), or with Sentinel the primary the sentinels name *at this
//! connect*: nothing is cached, so every reconnect after a failover (of the
//! shared connection and of each blocking loop) finds the new primary. A
//! connection left on a node that is no longer the primary breaks on its
//! next command (`READONLY` for writes and `XREADGROUP`, `UNBLOCKED` for a
//! parked read, or the cut Sentinel makes when it reconfigures the node) and
//! is replaced like a dropped one.
//!
//! Why not redis-rs's `ConnectionManager`: it reconnects transparently, and
//! while Redis is down each command waits for its own reconnect attempt; we
//! need the opposite: fail fast (a call made while Redis is down fails within
//! its timeout, the shared connection refuses commands for a backoff delay
//! after a failed connect instead of piling up attempts), run a pipeline on
//! every new connection (a client re-creates its reply stream before the
//! first request on it), and know the connection's client id for `CLIENT
//! UNBLOCK`. So the crate's `connection-manager` feature is not enabled.
//!
//! # Layout
//! - `error`: [`ConnError`], what a failed command or connect means (transient
//!   or not, whether the connection must be replaced) and what it becomes as a
//!   [`TransportError`](clamator_protocol::TransportError) (a call) or a
//!   [`ConnectError`](crate::ConnectError) (a connect, a server's start).
//! - `handle`: [`Conn`], the open connection (one Redis or a cluster), public
//!   for tools.
//! - `connector`: [`Connector`], where connections go and how one is opened
//!   (bounded, with TLS failures explained).
//! - `sentinel` (feature `sentinel`): asks the sentinels for the primary at
//!   each connect.
//! - `slot`: the shared connection's reconnect decisions (generations, the
//!   wait after a failed connect, retry once), free of I/O so they are unit
//!   tested.
//! - `shared`: [`SharedConn`], the multiplexed connection every task shares.
//! - `blocking`: [`BlockingConn`] for one blocking loop, and the
//!   [`Unblocker`] that ends its parked read.

mod blocking;
mod connector;
mod error;
mod handle;
#[cfg(feature = "sentinel")]
mod sentinel;
mod shared;
mod slot;

pub(crate) use blocking::{BlockingConn, Unblocker};
pub(crate) use connector::Connector;
pub(crate) use error::ConnError;
pub use handle::Conn;
pub(crate) use shared::{Answer, SharedConn};
