//! Typed JSON-RPC between services, over Redis Streams or in process: the Rust
//! member of the clamator family, wire-compatible with the Python and
//! TypeScript peers (clamator 0.1.9).
//!
//! A contract is a Rust trait marked [`contract`]; it gives the server a
//! trait to implement and the caller a typed client, with validation at every
//! edge: params are decoded strictly on the server (-32602 with a list of
//! `{loc, msg, type}` problems), results are checked on both sides, handler
//! failures and panics become -32603 and the server keeps serving.
//!
//! ```
//! use clamator::{RpcError, memory::MemoryBus};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, clamator::schemars::JsonSchema)]
//! #[schemars(crate = "clamator::schemars")]
//! #[serde(deny_unknown_fields)]
//! pub struct AddParams { pub a: f64, pub b: f64 }
//!
//! #[derive(Serialize, Deserialize, clamator::schemars::JsonSchema)]
//! #[schemars(crate = "clamator::schemars")]
//! pub struct AddResult { pub sum: f64 }
//!
//! #[clamator::contract(service = "arith")]
//! pub trait Arith {
//!     async fn add(&self, params: AddParams) -> Result<AddResult, RpcError>;
//! }
//!
//! struct MyArith;
//! impl Arith for MyArith {
//!     async fn add(&self, p: AddParams) -> Result<AddResult, RpcError> {
//!         Ok(AddResult { sum: p.a + p.b })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bus = MemoryBus::new();
//! let server = bus.server().register(ArithContract, MyArith)?.start().await?;
//! let client = bus.client();
//!
//! let arith = ArithClient::new(&client);
//! assert_eq!(arith.add(AddParams { a: 2.0, b: 3.0 }).await?.sum, 5.0);
//!
//! client.close().await;
//! server.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - [`contract`]: the attribute that turns a trait into a contract
//!   (`XContract`, `XClient<T>`).
//! - The protocol types, re-exported from `clamator-protocol`: [`RpcError`],
//!   [`Error`], [`Dispatcher`], [`ClientTransport`], [`ContractDescriptor`]...
//! - [`middleware`]: tower layers around a server's handling of a request
//!   and around a client's calls; [`Metadata`] carries what they read (an
//!   auth token).
//! - [`redis`]: the Redis Streams transport.
//! - [`memory`]: the in-process transport.
//!
//! # Feature flags
//! - `redis` (default): [`redis::RedisRpcServer`] and [`redis::RedisRpcClient`].
//! - `memory` (default): [`memory::MemoryBus`], the in-process transport.
//! - `tls` (default): `rediss://` URLs and [`redis::TlsOptions`] (a CA bundle,
//!   client certificates), rustls with the system's root certificates.
//! - `sentinel` (default, with `redis`): Redis Sentinel, `redis+sentinel://`
//!   URLs and `redis::ConnectOptions::sentinel` (`clamator::redis::sentinel`).
//! - `cluster` (default, with `redis`): Redis Cluster,
//!   `redis::ConnectOptions::cluster` and comma-separated seed URLs in
//!   `$REDIS_URL` (`clamator::redis::cluster`).
//! - `metrics` (off by default): the Redis transport records metrics through
//!   the `metrics` facade; the application installs the exporter. Names and
//!   labels: `clamator::redis::metrics`.
//! - `health-http` (off by default): `clamator::redis::health::serve_http`,
//!   an HTTP server (hyper) answering the liveness and readiness probes
//!   (`GET /healthz`, `GET /readyz`); without it,
//!   [`redis::HealthProbe::respond`] gives each probe's status and JSON body
//!   for an HTTP server of your own.
#![deny(missing_docs)]

pub use clamator_macros::contract;
/// The Rust of a contract file, generated at compile time (see `docs/CONTRACTS.md`).
pub use clamator_macros::include_contract;
/// Makes a struct or enum a contract params / result type (serde + schemars derives).
pub use clamator_macros::model;
pub use clamator_protocol as protocol;
pub use clamator_protocol::checks;
/// Middleware with tower: [`middleware::Call`] (what a server layer sees),
/// [`middleware::LayeredClient`] (a layer around a client's calls).
pub use clamator_protocol::middleware;
pub use clamator_protocol::{
    BoxError, ClientTransport, Context, Contract, ContractDescriptor, DEFAULT_TIMEOUT, Dispatcher,
    DispatcherBuilder, Error, Id, Metadata, MetadataError, MethodDescriptor, ProtocolError,
    RegisterError, RpcError, Service, StrictIntegers, TransportError, ValidationIssue, codes,
};
/// The validation crate contract types derive `garde::Validate` from (the
/// derive itself needs `garde` in your own `Cargo.toml`; see docs/CONTRACTS.md).
pub use garde;
pub use schemars;
pub use serde;
pub use serde_json;
/// The tower version clamator's middleware is built on (`Layer`, `Service`,
/// `ServiceBuilder` and its layers need their own `tower` features).
pub use tower;

/// The Redis Streams transport: [`redis::RedisRpcServer`], [`redis::RedisRpcClient`],
/// [`redis::ConnectOptions`] and the per-role options; wire-compatible with
/// clamator-over-redis 0.1.9.
///
/// Re-exported by name from `clamator-over-redis`: its operator building
/// blocks (`clamator_over_redis::ops`: keys, stream ids, raw entries, a raw
/// connection) are for clamator's own tools and are not part of this facade.
#[cfg(feature = "redis")]
pub mod redis {
    #[cfg(feature = "tls")]
    pub use clamator_over_redis::TlsOptions;
    #[cfg(feature = "cluster")]
    pub use clamator_over_redis::cluster;
    /// The `redis` crate the transport is built on, for
    /// [`ConnectOptions::from_client`], which takes a `redis::Client`.
    pub use clamator_over_redis::redis;
    pub use clamator_over_redis::{
        ClientOptions, ConfigError, ConnectError, ConnectOptions, HealthProbe, LoopHealth,
        RedisRpcClient, RedisRpcServer, RedisServerBuilder, Refusal, RetryPolicy, ServerLoop,
        ServerOptions, ServiceHealth, TlsFailure, TlsHandshakeError, behaviour, health,
        is_sentinel_url, metrics, tls,
    };
    #[cfg(feature = "sentinel")]
    pub use clamator_over_redis::{SentinelOptions, sentinel};
}

/// The in-process transport: [`memory::MemoryBus`], its servers and clients.
#[cfg(feature = "memory")]
pub mod memory {
    pub use clamator_over_memory::{
        DEFAULT_SHUTDOWN_GRACE, MemoryBus, MemoryClient, MemoryServer, MemoryServerBuilder,
        StartError,
    };
}

/// What generated code refers to. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use clamator_protocol::checks::{CheckByGarde, CheckNothing, Checker};
    pub use clamator_protocol::contract::{schema_from_text, schema_of};
    pub use clamator_protocol::service::{notification, unary};
    pub use clamator_protocol::transport::{call, notify, params_invalid};
    pub use clamator_protocol::{
        ClientTransport, Context, Contract, ContractDescriptor, Error, HandlerFuture,
        MethodDescriptor, RpcError, Service,
    };
    pub use serde_json::Value;
    pub use std::sync::Arc;
}

/// The README's examples, compiled as doctests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
