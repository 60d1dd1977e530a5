//! The clamator protocol without I/O.
//!
//! clamator is typed JSON-RPC 2.0 between services; this crate holds everything
//! about it that does not touch a socket, so every transport shares one
//! implementation of the rules in the wire contract.
//!
//! # Layout
//! - [`names`]: service and method names and the `<service>.<method>` wire form.
//! - `envelope`: parsing and building JSON-RPC envelopes: [`Envelope`],
//!   [`Request`], [`Response`], [`Id`].
//! - [`error`]: [`RpcError`] (the wire error), [`ProtocolError`], [`TransportError`], [`Error`].
//! - [`validation`]: strict decoding with `{loc, msg, type}` problem reports.
//! - [`checks`]: field constraints (garde) as `{loc, msg, type}` problems, and the checks garde lacks.
//! - [`integers`]: integral floats (`10.0`) accepted where a schema says integer.
//! - [`literal`]: boolean literal types and required-nullable fields for generated contracts.
//! - [`contract`]: [`ContractDescriptor`] and the [`Contract`] trait typed contracts implement.
//! - [`service`]: the type-erased [`Service`] the dispatcher runs, and handler helpers.
//! - [`context`]: [`Context`], what a handler that asks may know of its request
//!   (deadline, delivery count, trace id, cancellation).
//! - [`metadata`]: [`Metadata`], the `name: value` pairs a caller sends
//!   beside the envelope (an auth token).
//! - [`middleware`]: tower layers around the dispatch of one request
//!   ([`Call`]) and around a client's calls ([`LayeredClient`]).
//! - `dispatch`: [`Dispatcher`], the server core every transport feeds, and
//!   what it makes of text that is not a valid request.
//! - `client`: [`ClientTransport`], what typed clients call through, request
//!   preparation and the table of calls awaiting replies.
//! - `deadline`: when a request's caller has given up.
//! - `trace_context`: W3C `traceparent` / `tracestate` values and the
//!   span fields transports record errors in.
//! - [`transport`]: the pieces of `dispatch`, `client`, `envelope`,
//!   `deadline` and `trace_context` that only transport implementations
//!   (and generated code) use, in one module: [`transport::Poison`],
//!   [`transport::PendingCalls`], [`transport::HandlerLimit`], ...
//!
//! # Public surface
//! The crate root holds what applications and generated contracts name; the
//! [`transport`] module what a transport implementation needs besides. The
//! surface is snapshotted in `api/clamator-protocol.txt` (see CONTRIBUTING.md).
#![deny(missing_docs)]

pub mod checks;
mod client;
pub mod context;
pub mod contract;
mod deadline;
mod dispatch;
mod envelope;
pub mod error;
pub mod integers;
pub mod literal;
pub mod metadata;
pub mod middleware;
pub mod names;
pub mod service;
mod trace_context;
pub mod transport;
pub mod validation;

pub use client::{ClientTransport, DEFAULT_TIMEOUT};
pub use context::Context;
pub use contract::{Contract, ContractDescriptor, MethodDescriptor};
pub use dispatch::{Dispatcher, DispatcherBuilder, RegisterError};
pub use envelope::{BigIntId, Envelope, Id, Request, Response};
pub use error::{BoxError, Error, ProtocolError, RpcError, TransportError, codes};
pub use integers::StrictIntegers;
pub use metadata::{Metadata, MetadataError};
pub use middleware::{Call, CallRequest, LayeredClient};
pub use service::{HandlerFuture, Service};
pub use validation::ValidationIssue;
