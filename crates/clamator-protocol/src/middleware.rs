//! Middleware with [tower]: layers around the dispatch of one request on a
//! server, and around the client's calls.
//!
//! # Server
//! [`DispatcherBuilder::layer`](crate::DispatcherBuilder::layer) (and the
//! transports' server builders' `layer`) wraps the handlers in a
//! [`tower::Layer`]. The layered service takes a [`Call`] (names, params,
//! the [`Context`] with the caller's [`Metadata`]) and returns the result
//! value or an error:
//! - an [`RpcError`] (boxed) is sent to the caller as it is: a layer refuses
//!   a call with e.g. `Err(RpcError::application(-32001, "unauthorized", ..).into())`;
//! - any other error (tower's `Elapsed`, `Overloaded`, ...) is sent as -32603
//!   "Internal error" with `data.name` `"MiddlewareError"` and the error's
//!   text as `data.message`; map it to an [`RpcError`] of your choice with
//!   `tower::util::MapErrLayer` to pick the code.
//!
//! Every request of every service goes through the stack, notifications
//! included (their result is dropped), and calls to unknown services or
//! methods too (they fail inside with -32601), so an auth layer sees them
//! before the caller learns what exists. The stack is cloned per request (as
//! axum does): state shared by all requests (a rate limiter's bucket) lives
//! behind an `Arc` in the layer, or behind tower's `Buffer`. Layers run inside
//! the server's handler time limit, and a panic in a layer is answered like a
//! panic in a handler. Without layers a request costs what it did.
//!
//! # Client
//! [`LayeredClient::new`] puts a layer around any transport's client; the
//! result is a [`ClientTransport`] again, so typed clients call through it.
//! The layered service takes a [`CallRequest`] (the prepared call and its
//! timeout) and returns the [`Response`]. tower's `Timeout`, `RateLimit`,
//! `ConcurrencyLimit`, `LoadShed` and `Retry` apply as they are; an error of
//! a layer reaches the caller as [`Error::Middleware`]. A retried call keeps
//! its request id. Notifications bypass the stack.
//!
//! [tower]: https://docs.rs/tower

use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Value;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::client::{ClientTransport, OutgoingCall, OutgoingNotification};
use crate::context::Context;
use crate::envelope::{Id, Response};
use crate::error::{BoxError, Error, RpcError};
use crate::metadata::Metadata;

/// One request as server middleware sees it.
#[derive(Debug)]
pub struct Call {
    /// The service addressed.
    pub(crate) service: String,
    /// The method (without the service).
    pub(crate) method: String,
    /// The params, as received (integral floats already normalized).
    pub(crate) params: Value,
    /// What the transport knows of the request.
    pub(crate) context: Context,
}

impl Call {
    /// A call as a transport (or a test of a layer) hands it to the stack.
    pub fn new(
        service: impl Into<String>,
        method: impl Into<String>,
        params: Value,
        context: Context,
    ) -> Call {
        Call {
            service: service.into(),
            method: method.into(),
            params,
            context,
        }
    }

    /// The service addressed.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The method called (without the service).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The params, not yet validated against the contract.
    pub fn params(&self) -> &Value {
        &self.params
    }

    /// The params, for a layer that rewrites them (the handler still
    /// validates what it gets).
    pub fn params_mut(&mut self) -> &mut Value {
        &mut self.params
    }

    /// The request id; `None` for a notification.
    pub fn id(&self) -> Option<&Id> {
        self.context.request_id()
    }

    /// The caller's metadata (an auth token, a tenant).
    pub fn metadata(&self) -> &Metadata {
        self.context.metadata()
    }

    /// Everything the transport knows: deadline, delivery count, trace id,
    /// the cancellation signal. Handlers that take a context get this one.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// [`Call::context`], to replace (a layer may attach a new deadline or
    /// cancellation token).
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.context
    }
}

/// The service server layers wrap: the handlers, or the layers inside.
pub type CallService = BoxCloneSyncService<Call, Value, BoxError>;

/// A [`tower::Layer`] a server can put around its handlers: any layer over
/// [`CallService`] whose service takes a [`Call`], returns the result value,
/// fails with an error convertible to [`BoxError`], and is `Clone + Send +
/// Sync` (it is cloned per request). Implemented for every such layer; the
/// server builders' `layer` takes one.
pub trait CallLayer: Send + 'static {
    /// Wraps `inner` (the handlers, or the layers added before) and boxes
    /// the result.
    fn wrap(self, inner: CallService) -> CallService;
}

impl<L> CallLayer for L
where
    L: tower::Layer<CallService> + Send + 'static,
    L::Service: tower::Service<Call, Response = Value> + Clone + Send + Sync + 'static,
    <L::Service as tower::Service<Call>>::Error: Into<BoxError>,
    <L::Service as tower::Service<Call>>::Future: Send + 'static,
{
    fn wrap(self, inner: CallService) -> CallService {
        let layered = self
            .layer(inner)
            .map_err(|e: <L::Service as tower::Service<Call>>::Error| e.into());
        BoxCloneSyncService::new(layered)
    }
}

/// What a server layer's error becomes on the wire.
pub(crate) fn rpc_error_of(error: BoxError) -> RpcError {
    match error.downcast::<RpcError>() {
        Ok(rpc) => *rpc,
        Err(other) => RpcError::internal("MiddlewareError", error_chain(other.as_ref())),
    }
}

/// An error and its sources, `: `-joined.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// One call as client middleware sees it: the prepared request and the
/// timeout its caller asked for.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// The request, ready to send.
    pub call: OutgoingCall,
    /// The caller's timeout (`None`: the transport's default).
    pub timeout: Option<Duration>,
}

impl CallRequest {
    /// The metadata sent with the call; a layer adds to it (e.g. a fresh
    /// auth token).
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.call.metadata
    }
}

/// A transport's client as a [`tower::Service`] of [`CallRequest`]s, the
/// innermost service of a client stack. Cheap to clone when the client is.
#[derive(Debug, Clone)]
pub struct TransportService<T>(pub T);

impl<T> tower::Service<CallRequest> for TransportService<T>
where
    T: ClientTransport + Clone + 'static,
{
    type Response = Response;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Response, Error>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: CallRequest) -> Self::Future {
        let transport = self.0.clone();
        async move { transport.send_call(request.call, request.timeout).await }.boxed()
    }
}

/// A client with a tower layer around its calls; a [`ClientTransport`], so
/// typed clients call through it. Cheap to clone.
///
/// ```ignore
/// let stack = tower::ServiceBuilder::new()
///     .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(2)))
///     .concurrency_limit(64);
/// let arith = ArithClient::new(LayeredClient::new(client.clone(), stack));
/// ```
#[derive(Clone)]
pub struct LayeredClient<T> {
    /// The layered calls.
    stack: BoxCloneSyncService<CallRequest, Response, BoxError>,
    /// The client itself, for notifications.
    transport: T,
}

impl<T> std::fmt::Debug for LayeredClient<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayeredClient").finish_non_exhaustive()
    }
}

impl<T> LayeredClient<T>
where
    T: ClientTransport + Clone + 'static,
{
    /// `layer` around `transport`'s calls.
    pub fn new<L>(transport: T, layer: L) -> LayeredClient<T>
    where
        L: tower::Layer<TransportService<T>>,
        L::Service:
            tower::Service<CallRequest, Response = Response> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<CallRequest>>::Error: Into<BoxError>,
        <L::Service as tower::Service<CallRequest>>::Future: Send + 'static,
    {
        let stack = layer
            .layer(TransportService(transport.clone()))
            .map_err(|e: <L::Service as tower::Service<CallRequest>>::Error| e.into());
        LayeredClient {
            stack: BoxCloneSyncService::new(stack),
            transport,
        }
    }

    /// The client underneath.
    pub fn inner(&self) -> &T {
        &self.transport
    }
}

/// What a client layer's error becomes for the caller.
fn client_error_of(error: BoxError) -> Error {
    match error.downcast::<Error>() {
        Ok(error) => *error,
        Err(other) => Error::Middleware(other),
    }
}

impl<T> ClientTransport for LayeredClient<T>
where
    T: ClientTransport + Clone + 'static,
{
    fn send_call(
        &self,
        call: OutgoingCall,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<Response, Error>> {
        let sending = self.stack.clone().oneshot(CallRequest { call, timeout });
        async move { sending.await.map_err(client_error_of) }.boxed()
    }

    fn send_notification(
        &self,
        notification: OutgoingNotification,
    ) -> BoxFuture<'_, Result<(), Error>> {
        self.transport.send_notification(notification)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests;
