//! The in-process transport of clamator: servers and clients that meet on a
//! [`MemoryBus`] inside one process, for single-process use and for tests.
//!
//! Requests travel as JSON text, exactly as on the network transports: the
//! client builds the envelope with [`clamator_protocol::transport::prepare_call`],
//! the server side reads it with [`clamator_protocol::transport::read_incoming`]
//! and runs it on its [`clamator_protocol::Dispatcher`], and the reply text is
//! parsed back with [`clamator_protocol::Envelope::parse_response`]. So a
//! contract that works here exercises the same envelope, validation and error
//! code paths it will meet over Redis.
//!
//! ```
//! # use clamator_over_memory::MemoryBus;
//! # use clamator_protocol::Dispatcher;
//! # async fn demo(dispatcher: Dispatcher) -> Result<(), Box<dyn std::error::Error>> {
//! let bus = MemoryBus::new();
//! let server = bus.server().dispatcher(dispatcher).start().await?;
//! let client = bus.client();
//! let sum = client.call("arith", "add", serde_json::json!({"a": 1, "b": 2}), None).await?;
//! client.close().await;
//! server.stop().await;
//! # let _ = sum; Ok(()) }
//! ```
//!
//! # Differences from the Redis transport
//! - A call or notification for a service that no started server hosts on the
//!   bus fails at once with [`TransportError::NoServer`]; over Redis the request
//!   would wait in the command stream and the call would end in a timeout.
//! - One server per service per bus: starting a second server for a service
//!   fails with [`StartError::ServiceTaken`] (over Redis, servers of one
//!   service share the work).
//! - Delivery is exactly once; nothing survives the process.
//!
//! # Layout
//! - [`bus`]: [`MemoryBus`], the routing table from service names to started servers.
//! - [`server`]: [`MemoryServer`], which runs each request on its own tokio task.
//! - [`client`]: [`MemoryClient`], which sends calls and notifications and
//!   implements [`clamator_protocol::ClientTransport`].
//!
//! [`TransportError::NoServer`]: clamator_protocol::TransportError::NoServer
#![deny(missing_docs)]

pub mod bus;
pub mod client;
pub mod server;

pub use bus::MemoryBus;
pub use client::MemoryClient;
pub use server::{DEFAULT_SHUTDOWN_GRACE, MemoryServer, MemoryServerBuilder, StartError};
