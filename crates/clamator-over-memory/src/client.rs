//! [`MemoryClient`]: calls services served on a [`MemoryBus`].

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use clamator_protocol::client::{prepare_call, prepare_notification};
use clamator_protocol::{
    ClientTransport, DEFAULT_TIMEOUT, Envelope, Error, ProtocolError, TransportError,
};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::bus::MemoryBus;

/// A client on a [`MemoryBus`], ready to call as soon as it is made.
///
/// Call through [`call`](Self::call) / [`notify`](Self::notify) or through a
/// typed client over its [`ClientTransport`] implementation;
/// [`close`](Self::close) it (or drop it) when done.
#[derive(Debug)]
pub struct MemoryClient {
    /// The bus calls are routed on.
    bus: MemoryBus,
    /// Cancelled by `close()` and on drop, which fails every call still waiting.
    stopped: CancellationToken,
    /// The timeout of calls made with `timeout: None`.
    default_timeout: Duration,
}

impl MemoryClient {
    /// A client on `bus`.
    pub fn new(bus: &MemoryBus) -> Self {
        Self {
            bus: bus.clone(),
            stopped: CancellationToken::new(),
            default_timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the timeout of calls made with `timeout: None` (default
    /// [`DEFAULT_TIMEOUT`], 30 s).
    #[must_use]
    pub fn with_default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// Closes the client: calls still waiting (on other tasks) fail at once
    /// with [`TransportError::Stopped`]; their handlers may still run on the
    /// server.
    pub async fn close(self) {
        self.stopped.cancel();
    }

    /// Calls `service.method` with JSON `params` and waits for the JSON result,
    /// at most `timeout` (`None`: the client's default timeout).
    ///
    /// Fails with [`Error::Rpc`] when the server answers with an error; with
    /// [`TransportError::NotStarted`] / [`TransportError::Stopped`] outside
    /// start..stop; with [`TransportError::NoServer`] when no started server on
    /// the bus hosts `service` (over Redis this would be a timeout); with
    /// [`TransportError::Timeout`] when no reply comes in time (the handler may
    /// still run); with [`Error::Protocol`] for an invalid name or a reply that
    /// is not a valid response envelope.
    pub async fn call(
        &self,
        service: &str,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        let outgoing = prepare_call(service, method, &params)?;
        let (reply_tx, reply_rx) = oneshot::channel();
        self.bus
            .submit(service, &outgoing.envelope, Some(reply_tx))?;
        let timeout = timeout.unwrap_or(self.default_timeout);
        tokio::select! {
            biased;
            () = self.stopped.cancelled() => Err(TransportError::Stopped.into()),
            waited = tokio::time::timeout(timeout, reply_rx) => match waited {
                Err(_elapsed) => Err(TransportError::Timeout { timeout }.into()),
                // The server cancelled the handler at the end of its shutdown grace.
                Ok(Err(_dropped)) => Err(TransportError::Stopped.into()),
                Ok(Ok(text)) => decode_reply(&outgoing.key, &text),
            },
        }
    }

    /// Sends a notification to `service.method`; returns once the server has
    /// accepted it, without waiting for the handler. No reply ever comes, so
    /// a failing handler goes unnoticed here (the server logs it).
    ///
    /// Fails like [`call`](Self::call) before anything is sent: invalid name, or [`TransportError::NoServer`] (over Redis the
    /// notification would wait in the stream for a server).
    pub async fn notify(&self, service: &str, method: &str, params: Value) -> Result<(), Error> {
        let envelope = prepare_notification(service, method, &params)?;
        self.bus.submit(service, &envelope, None)
    }
}

/// Reads the reply text of the call whose id key is `key`.
fn decode_reply(key: &str, text: &str) -> Result<Value, Error> {
    let response = Envelope::parse_response(text.as_bytes())?;
    if let Some(id) = response.id()
        && id.key() != key
    {
        return Err(ProtocolError::InvalidEnvelope {
            kind: "response",
            reason: format!("the reply answers id {id}, not this call's id {key:?}"),
        }
        .into());
    }
    response.into_result().map_err(Error::Rpc)
}

/// A boxed future, as [`ClientTransport`] returns them.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl ClientTransport for MemoryClient {
    fn call_value<'a>(
        &'a self,
        service: &'a str,
        method: &'a str,
        params: Value,
        timeout: Option<Duration>,
    ) -> BoxFuture<'a, Result<Value, Error>> {
        Box::pin(self.call(service, method, params, timeout))
    }

    fn notify_value<'a>(
        &'a self,
        service: &'a str,
        method: &'a str,
        params: Value,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.notify(service, method, params))
    }
}

impl Drop for MemoryClient {
    fn drop(&mut self) {
        self.stopped.cancel();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_reply_that_is_not_an_envelope_is_a_protocol_error() {
        for text in [
            "not json",
            "[]",
            r#"{"jsonrpc":"2.0","method":"arith.add","id":"k"}"#,
            r#"{"jsonrpc":"1.0","id":"k","result":1}"#,
            r#"{"jsonrpc":"2.0","id":"k","result":1,"error":{"code":1,"message":"m"}}"#,
        ] {
            let err = decode_reply("k", text).unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "{text}: {err:?}");
        }
    }

    #[test]
    fn a_reply_to_another_call_is_a_protocol_error() {
        let err = decode_reply("k", r#"{"jsonrpc":"2.0","id":"other","result":1}"#).unwrap_err();
        assert!(matches!(err, Error::Protocol(_)), "{err:?}");
        assert!(err.to_string().contains("other"), "{err}");
    }

    #[test]
    fn replies_decode_to_results_and_rpc_errors() {
        let ok = decode_reply("7", r#"{"jsonrpc":"2.0","id":7,"result":{"sum":3}}"#).unwrap();
        assert_eq!(ok, json!({"sum": 3}));
        let err = decode_reply(
            "k",
            r#"{"jsonrpc":"2.0","id":"k","error":{"code":-32000,"message":"m","data":{"a":1}}}"#,
        )
        .unwrap_err();
        let rpc = err.as_rpc().unwrap();
        assert_eq!((rpc.code, rpc.data.clone()), (-32000, json!({"a": 1})));
        // An error reply without an id (the server could not read it) still answers this call.
        let err = decode_reply(
            "k",
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"m","data":null}}"#,
        )
        .unwrap_err();
        assert_eq!(err.as_rpc().unwrap().code, -32600);
    }
}
