//! The clamator protocol without I/O.
//!
//! clamator is typed JSON-RPC 2.0 between services; this crate holds everything
//! about it that does not touch a socket, so every transport shares one
//! implementation of the rules in the wire contract.
//!
//! # Layout
//! - [`names`]: service and method names and the `<service>.<method>` wire form.
//! - [`envelope`]: parsing and building JSON-RPC envelopes; [`Id`].
//! - [`error`]: [`RpcError`] (the wire error), [`ProtocolError`], [`TransportError`], [`Error`].
//! - [`validation`]: strict decoding with `{loc, msg, type}` problem reports.
//! - [`checks`]: field constraints (garde) as `{loc, msg, type}` problems, and the checks garde lacks.
//! - [`integers`]: integral floats (`10.0`) accepted where a schema says integer.
//! - [`literal`]: boolean literal types and required-nullable fields for generated contracts.
//! - [`contract`]: [`ContractDescriptor`] and the [`Contract`] trait typed contracts implement.
//! - [`service`]: the type-erased [`Service`] the dispatcher runs, and handler helpers.
//! - [`dispatch`]: [`Dispatcher`], the server core every transport feeds, and
//!   [`Poison`], what it makes of text that is not a valid request.
//! - [`client`]: [`ClientTransport`], typed [`client::call`], and [`PendingCalls`].
//! - [`trace_context`]: W3C `traceparent` / `tracestate` values and the
//!   span fields transports record errors in.
#![deny(missing_docs)]

pub mod checks;
pub mod client;
pub mod contract;
pub mod deadline;
pub mod dispatch;
pub mod envelope;
pub mod error;
pub mod integers;
pub mod literal;
pub mod names;
pub mod service;
pub mod trace_context;
pub mod validation;

pub use client::{ClientTransport, DEFAULT_TIMEOUT, PendingCall, PendingCalls};
pub use contract::{Contract, ContractDescriptor, MethodDescriptor};
pub use dispatch::{Dispatcher, DispatcherBuilder, HandlerLimit, Incoming, Poison, RegisterError};
pub use envelope::{BigIntId, Envelope, Id, Request, Response};
pub use error::{BoxError, Error, ProtocolError, RpcError, TransportError, codes};
pub use integers::StrictIntegers;
pub use service::{HandlerFuture, Service};
pub use validation::ValidationIssue;
