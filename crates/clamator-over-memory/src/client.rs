//! [`MemoryClient`]: calls services served on a [`MemoryBus`].

use std::time::Duration;

use clamator_protocol::transport::{OutgoingCall, OutgoingNotification};
use clamator_protocol::{
    ClientTransport, DEFAULT_TIMEOUT, Envelope, Error, Metadata, Response, TransportError,
};
use serde_json::Value;
use tokio::sync::oneshot;

/// A boxed future, as [`ClientTransport`] returns them.
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
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
    /// Sent with every call and notification ([`MemoryClient::with_metadata`]).
    metadata: Metadata,
}

impl MemoryClient {
    /// A client on `bus`.
    pub fn new(bus: &MemoryBus) -> Self {
        Self {
            bus: bus.clone(),
            stopped: CancellationToken::new(),
            default_timeout: DEFAULT_TIMEOUT,
            metadata: Metadata::new(),
        }
    }

    /// Sets the timeout of calls made with `timeout: None` (default
    /// [`DEFAULT_TIMEOUT`], 30 s).
    #[must_use]
    pub fn with_default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// Sends `metadata` with every call and notification, as a Redis
    /// client's [`with_metadata`] does (what a call's own metadata sets wins).
    ///
    /// [`with_metadata`]: https://docs.rs/clamator-over-redis/latest/clamator_over_redis/struct.RedisRpcClient.html#method.with_metadata
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// What goes with a request: its own metadata, then the client's.
    fn metadata_for(&self, mut own: Metadata) -> Metadata {
        own.merge_missing(&self.metadata);
        own
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
    /// [`TransportError::Stopped`] when the client is closed meanwhile; with
    /// [`TransportError::NoServer`] when no started server on the bus hosts
    /// `service` (over Redis this would be a timeout); with
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
        clamator_protocol::transport::call(self, service, method, &params, timeout).await
    }

    /// Sends a notification to `service.method`; returns once the server has
    /// accepted it, without waiting for the handler. No reply ever comes, so
    /// a failing handler goes unnoticed here (the server logs it).
    ///
    /// Fails like [`call`](Self::call) before anything is sent: invalid name,
    /// or [`TransportError::NoServer`] (over Redis the notification would wait
    /// in the stream for a server).
    pub async fn notify(&self, service: &str, method: &str, params: Value) -> Result<(), Error> {
        clamator_protocol::transport::notify(self, service, method, &params).await
    }

    /// Hands the request text to its server and waits for the reply text.
    async fn send(&self, call: OutgoingCall, timeout: Option<Duration>) -> Result<Response, Error> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let metadata = self.metadata_for(call.metadata);
        self.bus
            .submit(&call.service, &call.envelope, metadata, Some(reply_tx))?;
        let timeout = timeout.unwrap_or(self.default_timeout);
        tokio::select! {
            biased;
            () = self.stopped.cancelled() => Err(TransportError::Stopped.into()),
            waited = tokio::time::timeout(timeout, reply_rx) => match waited {
                Err(_elapsed) => Err(TransportError::Timeout { timeout }.into()),
                // The server cancelled the handler at the end of its shutdown grace.
                Ok(Err(_dropped)) => Err(TransportError::Stopped.into()),
                Ok(Ok(text)) => Ok(Envelope::parse_response(text.as_bytes())?),
            },
        }
    }
}

impl ClientTransport for MemoryClient {
    fn send_call(
        &self,
        call: OutgoingCall,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<Response, Error>> {
        Box::pin(self.send(call, timeout))
    }

    fn send_notification(
        &self,
        notification: OutgoingNotification,
    ) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(std::future::ready(self.bus.submit(
            &notification.service,
            &notification.envelope,
            self.metadata_for(notification.metadata),
            None,
        )))
    }
}

impl Drop for MemoryClient {
    fn drop(&mut self) {
        self.stopped.cancel();
    }
}
