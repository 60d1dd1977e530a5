//! Errors: the wire error ([`RpcError`]), protocol errors, transport errors, and
//! the one [`Error`] a call can fail with.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::validation::ValidationIssue;

/// Reserved JSON-RPC error codes used by clamator (docs/WIRE.md §4).
pub mod codes {
    /// The request text is not JSON that the server can parse.
    pub const PARSE_ERROR: i64 = -32700;
    /// The request envelope is not a valid request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The service is not hosted here, or the method is unknown.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The params failed validation.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The handler failed unexpectedly, or its result failed validation.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Lowest code of the application range (-32099..=-32000).
    pub const APPLICATION_MIN: i64 = -32099;
    /// Highest code of the application range (-32099..=-32000).
    pub const APPLICATION_MAX: i64 = -32000;
}

/// A JSON-RPC error object as it travels on the wire: `code`, `message`, `data`.
///
/// Handlers return it to send an application error; clients receive it inside
/// [`Error::Rpc`]. `data` is `null` when there is nothing to add.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("the server answered with RPC error {code}: {message}")]
pub struct RpcError {
    /// The error code: reserved (-32768..=-32000) or application (-32099..=-32000).
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Anything the server adds; `null` when empty.
    #[serde(default)]
    pub data: Value,
}

impl RpcError {
    /// An error with this code and message and no data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: Value::Null,
        }
    }

    /// The same error with `data` attached.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// An application error; `code` should be in -32099..=-32000.
    pub fn application(code: i64, message: impl Into<String>, data: Value) -> Self {
        Self::new(code, message).with_data(data)
    }

    /// -32700 "Parse error" with `data.name` (the kind of failure) and
    /// `data.message`: the request text is not JSON the server can parse.
    pub fn parse_error(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(codes::PARSE_ERROR, "Parse error").with_data(serde_json::json!({
            "name": name.into(),
            "message": message.into(),
        }))
    }

    /// -32600 "Invalid Request" with `data.name` (the kind of failure) and
    /// `data.message`: the request is JSON but not a valid request.
    pub fn invalid_request(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_REQUEST, "Invalid Request").with_data(serde_json::json!({
            "name": name.into(),
            "message": message.into(),
        }))
    }

    /// -32601 "Method not found".
    pub fn method_not_found() -> Self {
        Self::new(codes::METHOD_NOT_FOUND, "Method not found")
    }

    /// -32602 "Invalid params" with `data.errors`, one object per problem.
    pub fn invalid_params(errors: Vec<ValidationIssue>) -> Self {
        Self::new(codes::INVALID_PARAMS, "Invalid params")
            .with_data(serde_json::json!({ "errors": errors }))
    }

    /// -32603 "Internal error" with `data.name` (the kind of failure) and `data.message`.
    pub fn internal(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(codes::INTERNAL_ERROR, "Internal error").with_data(serde_json::json!({
            "name": name.into(),
            "message": message.into(),
        }))
    }

    /// -32603 "Result validation failed" with `data.errors`.
    pub fn result_validation_failed(errors: Vec<ValidationIssue>) -> Self {
        Self::new(codes::INTERNAL_ERROR, "Result validation failed")
            .with_data(serde_json::json!({ "errors": errors }))
    }

    /// Whether the code is in the application range -32099..=-32000.
    pub fn is_application(&self) -> bool {
        (codes::APPLICATION_MIN..=codes::APPLICATION_MAX).contains(&self.code)
    }
}

/// Something on the wire, or on its way to it, broke the protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A message is not a valid JSON-RPC 2.0 envelope of the kind expected.
    #[error("invalid {kind} envelope: {reason}")]
    InvalidEnvelope {
        /// What was expected ("request", "response", ...).
        kind: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A success reply whose result does not decode into the contract's result type.
    #[error(
        "the result of {method} does not match the contract at `{path}`: {message}; \
         check that client and server use the same contract version"
    )]
    ResultDecode {
        /// The wire method called.
        method: String,
        /// Path of the offending field (`.` for the whole value).
        path: String,
        /// What the decoder said.
        message: String,
    },
    /// Params that could not be serialized; nothing was sent.
    #[error("the params of {method} could not be serialized, nothing was sent: {message}")]
    ParamsEncode {
        /// The wire method called.
        method: String,
        /// What the serializer said.
        message: String,
    },
    /// Params that break the contract's constraints (a string too short, a
    /// number out of range, ...); nothing was sent.
    #[error(
        "the params of {method} break the contract, nothing was sent: {}",
        crate::validation::summary(errors)
    )]
    ParamsInvalid {
        /// The wire method called.
        method: String,
        /// One entry per problem, as a server would report them (-32602 `data.errors`).
        errors: Vec<ValidationIssue>,
    },
    /// A service or method name that breaks the naming rules.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
}

/// The boxed source of a transport failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The transport could not carry a call: what a call or a notification
/// fails with on any transport. Starting a server or connecting a client
/// fails with the transport's own error instead (`clamator::redis::ConnectError`,
/// `clamator::memory::StartError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No reply arrived within the call's timeout. The server may still run it.
    #[error(
        "call timeout: no reply within {} ms; the server may be down, overloaded, or \
         still running the call (raise the timeout for slow methods)",
        .timeout.as_millis()
    )]
    Timeout {
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The client was closed or dropped while the call waited for its reply.
    #[error("transport stopped: the client was closed while the call waited; connect a new one")]
    Stopped,
    /// The connection to the broker failed or was lost.
    #[error("connection lost: {message}; check that the broker is reachable")]
    ConnectionLost {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The broker refused a command: an ACL user without the permission, a
    /// wrong password, a key of the wrong type. Retrying does not help; the
    /// message names the command and what to change.
    #[error("{doing} was refused: {message}; {hint}")]
    Refused {
        /// What was being done (names the command).
        doing: String,
        /// What the broker said.
        message: String,
        /// What to change.
        hint: &'static str,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The broker is reachable but refuses the command for now: out of
    /// memory (Redis at `maxmemory` with `noeviction`), loading its data,
    /// busy, or lacking replicas. Nothing was sent; trying again later may
    /// succeed. The message names the command and what to check.
    #[error("{doing} was refused for now: {message}; {hint}")]
    Unavailable {
        /// What was being done (names the command).
        doing: String,
        /// What the broker said.
        message: String,
        /// What to check.
        hint: &'static str,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The transport knows that no server hosts the service, and sent
    /// nothing. Only a transport that sees its servers can tell (the
    /// in-memory transport answers so at once); over Redis a request waits
    /// in its stream for a server, and the call ends with
    /// [`Timeout`](TransportError::Timeout) instead.
    #[error("no server for service {service:?} on this transport: register and start one first")]
    NoServer {
        /// The service asked for.
        service: String,
    },
}

impl TransportError {
    /// A [`TransportError::ConnectionLost`] with a source.
    pub fn connection_lost(
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> TransportError {
        TransportError::ConnectionLost {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Whether this is a call timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, TransportError::Timeout { .. })
    }
}

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The request or the reply broke the protocol.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The transport could not carry the call.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A client middleware layer failed the call (tower's `Timeout` elapsed,
    /// `LoadShed` shed it, a layer of yours refused it); the source is the
    /// layer's own error, to downcast to. See `clamator::middleware`.
    #[error("client middleware failed the call: {0}")]
    Middleware(BoxError),
}

impl Error {
    /// The RPC error, if the server answered with one.
    pub fn as_rpc(&self) -> Option<&RpcError> {
        match self {
            Error::Rpc(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the call timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Transport(t) if t.is_timeout())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_use_reserved_codes() {
        assert_eq!(RpcError::method_not_found().code, -32601);
        assert_eq!(RpcError::method_not_found().data, Value::Null);
        let e = RpcError::internal("panic", "boom");
        assert_eq!(e.code, -32603);
        assert_eq!(e.message, "Internal error");
        assert_eq!(e.data["name"], "panic");
        assert_eq!(e.data["message"], "boom");
        let e = RpcError::parse_error("not-json", "EOF");
        assert_eq!((e.code, e.message.as_str()), (-32700, "Parse error"));
        assert_eq!(
            e.data,
            serde_json::json!({"name": "not-json", "message": "EOF"})
        );
        let e = RpcError::invalid_request("invalid-envelope", "jsonrpc");
        assert_eq!((e.code, e.message.as_str()), (-32600, "Invalid Request"));
        assert_eq!(
            e.data,
            serde_json::json!({"name": "invalid-envelope", "message": "jsonrpc"})
        );
        let e = RpcError::invalid_params(vec![]);
        assert_eq!(e.code, -32602);
        assert!(e.data["errors"].is_array());
        assert_eq!(
            RpcError::result_validation_failed(vec![]).message,
            "Result validation failed"
        );
        assert!(RpcError::new(-32000, "x").is_application());
        assert!(!RpcError::new(-32603, "x").is_application());
    }

    #[test]
    fn messages_say_what_to_do() {
        let t = TransportError::Timeout {
            timeout: Duration::from_millis(250),
        };
        assert!(t.to_string().starts_with("call timeout"));
        assert!(t.to_string().contains("250 ms"));
        assert!(
            TransportError::Stopped
                .to_string()
                .starts_with("transport stopped")
        );
    }
}
