//! [`MemoryServer`]: serves a [`Dispatcher`]'s services on a [`MemoryBus`].
//!
//! Every request runs on its own tokio task, so handlers run concurrently.
//! The tasks are tracked so that `stop()` can wait for the ones in flight.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clamator_protocol::middleware::CallLayer;
use clamator_protocol::transport::{HandlerLimit, Poison, read_incoming};
use clamator_protocol::{
    Context, Contract, Dispatcher, DispatcherBuilder, Error, Metadata, ProtocolError,
    RegisterError, Service, TransportError,
};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::MemoryBus;

/// How long [`MemoryServer::stop`] waits for handlers in flight by default: 5 s.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Starting a [`MemoryServer`] failed ([`MemoryServerBuilder::start`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// No service is registered on the builder.
    #[error("no service is registered: register at least one before starting the server")]
    NoServices,
    /// Another server on the bus hosts this service already (one server per
    /// service per bus; none of this server's services was registered).
    #[error(
        "service {service:?} is already served on this bus by another server: stop that \
         server first, or start this one on another MemoryBus"
    )]
    ServiceTaken {
        /// The service.
        service: String,
    },
}

/// Builds a [`MemoryServer`]: the bus, the services, the shutdown grace.
#[derive(Debug)]
#[must_use = "a server builder does nothing until start() is awaited"]
pub struct MemoryServerBuilder {
    /// The bus the services will be routed on.
    bus: MemoryBus,
    /// The services registered so far.
    services: DispatcherBuilder,
    /// A dispatcher given whole, replacing `services`.
    dispatcher: Option<Dispatcher>,
    /// How long `stop()` waits for handlers in flight.
    grace: Duration,
    /// How long one handler may run; `None`: no limit.
    handler_timeout: Option<Duration>,
}

impl MemoryServerBuilder {
    /// Serves `contract` with `handler`. Fails if the service is already registered.
    pub fn register<C, H>(mut self, contract: C, handler: H) -> Result<Self, RegisterError>
    where
        C: Contract<H>,
    {
        self.services = self.services.register(contract, handler)?;
        Ok(self)
    }

    /// Serves a hand-written [`Service`]. Fails if the service is already registered.
    pub fn register_service(mut self, service: Arc<dyn Service>) -> Result<Self, RegisterError> {
        self.services = self.services.register_service(service)?;
        Ok(self)
    }

    /// Wraps every request's handling in a [`tower::Layer`]: auth, rate or
    /// concurrency limits, logging (see [`clamator_protocol::middleware`]).
    /// The last layer added sees a request first. Applies to the services
    /// registered on this builder (a [`dispatcher`](Self::dispatcher) given
    /// whole brings its own layers).
    pub fn layer(mut self, layer: impl CallLayer) -> Self {
        self.services = self.services.layer(layer);
        self
    }

    /// Serves the services of a dispatcher built elsewhere, instead of the
    /// ones registered on this builder.
    pub fn dispatcher(mut self, dispatcher: Dispatcher) -> Self {
        self.dispatcher = Some(dispatcher);
        self
    }

    /// How long [`MemoryServer::stop`] waits for handlers in flight (default
    /// [`DEFAULT_SHUTDOWN_GRACE`], 5 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How long one handler may run. A handler still running then is
    /// cancelled and its caller answered -32603 `HandlerTimeout`, as on the
    /// Redis transport. Default `None`: no limit.
    pub fn handler_timeout(mut self, limit: Option<Duration>) -> Self {
        self.handler_timeout = limit;
        self
    }

    /// Makes the services reachable on the bus. Fails with
    /// [`StartError::ServiceTaken`] when another server on the bus hosts
    /// one of them (then none of them is registered), and with
    /// [`StartError::NoServices`] when no service is registered.
    pub async fn start(self) -> Result<MemoryServer, StartError> {
        let dispatcher = match self.dispatcher {
            Some(d) => d,
            None => self.services.build(),
        };
        if dispatcher.service_names().next().is_none() {
            return Err(StartError::NoServices);
        }
        let core = Arc::new(ServerCore {
            dispatcher,
            accepting: Mutex::new(true),
            tasks: TaskTracker::new(),
            cancel: CancellationToken::new(),
            handler_timeout: self.handler_timeout,
        });
        self.bus.register(&core)?;
        Ok(MemoryServer {
            bus: self.bus,
            core,
            grace: self.grace,
        })
    }
}

/// A running server on a [`MemoryBus`]: runs each request for its services
/// on a tokio task, until [`stop`](Self::stop) or
/// [`run_until`](Self::run_until) consumes it.
///
/// Dropping it without `stop()` removes its services from the bus and
/// cancels its handlers in flight (their callers fail with
/// [`TransportError::Stopped`]).
#[derive(Debug)]
#[must_use = "dropping a running server stops it at once, cancelling its handlers; call stop()"]
pub struct MemoryServer {
    /// The bus its services are routed on.
    bus: MemoryBus,
    /// What the bus routes to: the dispatcher and the handler tasks.
    core: Arc<ServerCore>,
    /// How long `stop()` waits for handlers in flight before cancelling them.
    grace: Duration,
}

impl MemoryServer {
    /// A builder for a server on `bus`.
    pub fn builder(bus: &MemoryBus) -> MemoryServerBuilder {
        MemoryServerBuilder {
            bus: bus.clone(),
            services: Dispatcher::builder(),
            dispatcher: None,
            grace: DEFAULT_SHUTDOWN_GRACE,
            handler_timeout: None,
        }
    }

    /// Stops serving: removes the services from the bus (calls arriving from
    /// now on fail with [`TransportError::NoServer`]), then waits up to the
    /// shutdown grace for the handlers in flight, whose replies are still
    /// delivered. Handlers still running after the grace are cancelled (dropped
    /// at their next await) and their callers fail with [`TransportError::Stopped`].
    ///
    /// Cancel-safe: dropping this future cancels what still runs.
    pub async fn stop(self) {
        self.bus.unregister(&self.core);
        self.core.close();
        let in_flight = self.core.tasks.len();
        if tokio::time::timeout(self.grace, self.core.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                services = ?self.core.service_names().collect::<Vec<_>>(),
                in_flight = self.core.tasks.len(),
                grace_ms = self.grace.as_millis() as u64,
                "handlers still running after the shutdown grace are cancelled; \
                 raise the grace with shutdown_grace() if they need longer"
            );
            self.core.cancel.cancel();
            self.core.tasks.wait().await;
        } else if in_flight > 0 {
            tracing::debug!(in_flight, "in-flight handlers drained");
        }
    }

    /// Serves until `signal` completes, then stops as [`stop`](Self::stop) does.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        self.stop().await;
    }
}

impl Drop for MemoryServer {
    fn drop(&mut self) {
        // Idempotent after stop(); otherwise nothing of this server keeps running.
        self.bus.unregister(&self.core);
        self.core.close();
        self.core.cancel.cancel();
    }
}

/// The part of a server the bus routes requests to.
#[derive(Debug)]
pub(crate) struct ServerCore {
    /// Runs the requests.
    dispatcher: Dispatcher,
    /// Whether new requests are taken; cleared by `stop()`. A mutex rather than
    /// an atomic so that no task is spawned after `stop()` started waiting.
    accepting: Mutex<bool>,
    /// The handler tasks, so `stop()` can wait for them.
    tasks: TaskTracker,
    /// Cancels the handler tasks still running when the shutdown grace ends.
    cancel: CancellationToken,
    /// How long one handler may run; `None`: no limit.
    handler_timeout: Option<Duration>,
}

impl ServerCore {
    /// The services this server hosts.
    pub(crate) fn service_names(&self) -> impl Iterator<Item = &str> {
        self.dispatcher.service_names()
    }

    /// Stops taking requests.
    fn close(&self) {
        *self.accepting.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.tasks.close();
    }

    /// Parses the request text, as a network server would, and runs it on a
    /// task of its own; the reply text, if the dispatch produced one, goes to `reply`.
    ///
    /// Text that is not a valid request but whose id can be read is answered
    /// on `reply` at once with the -32700 / -32600 error a Redis server would
    /// send ([`Poison::reply`]); other invalid text, and any invalid text
    /// without a `reply`, fails here with the protocol error.
    pub(crate) fn accept(
        &self,
        service: &str,
        envelope: &str,
        metadata: Metadata,
        reply: Option<oneshot::Sender<String>>,
    ) -> Result<(), Error> {
        let request = match read_incoming(envelope.as_bytes()) {
            Ok(Some(request)) => request,
            Ok(None) => {
                return Err(ProtocolError::InvalidEnvelope {
                    kind: "request",
                    reason: "expected a request, got a response".to_owned(),
                }
                .into());
            }
            Err(poison) => return self.answer_poison(service, poison, reply),
        };
        let accepting = self.accepting.lock().unwrap_or_else(|p| p.into_inner());
        if !*accepting {
            return Err(TransportError::NoServer {
                service: service.to_owned(),
            }
            .into());
        }
        let dispatcher = self.dispatcher.clone();
        let cancel = self.cancel.clone();
        let handler_timeout = self.handler_timeout;
        self.tasks.spawn(async move {
            // Dispatching happens on the task, as on a network server, so the
            // caller never runs the service's synchronous part (param decoding).
            let limit = handler_timeout.map(|limit| HandlerLimit {
                limit,
                timer: tokio::time::sleep(limit),
            });
            // Only for methods that take one (or with middleware): the
            // others pay nothing for it.
            let ctx = dispatcher
                .wants_context(&request.service, &request.method)
                .then(|| {
                    Context::new(&request.service, &request.method, request.id.clone())
                        .with_metadata(metadata)
                        .with_cancel(cancel.child_token())
                });
            let dispatched = dispatcher.dispatch_limited_with(request, ctx, limit);
            tokio::select! {
                text = dispatched => {
                    if let (Some(text), Some(reply)) = (text, reply) {
                        // The caller may have timed out or stopped: the late reply is dropped.
                        let _ = reply.send(text);
                    }
                }
                () = cancel.cancelled() => {}
            }
        });
        drop(accepting);
        Ok(())
    }

    /// Sends the error reply of invalid request text, when it has one and the
    /// caller waits for a reply; otherwise fails with the protocol error.
    fn answer_poison(
        &self,
        service: &str,
        poison: Poison,
        reply: Option<oneshot::Sender<String>>,
    ) -> Result<(), Error> {
        let (Some(reply), Some(_)) = (reply, poison.reply()) else {
            return Err(poison.into_error().into());
        };
        if !*self.accepting.lock().unwrap_or_else(|p| p.into_inner()) {
            return Err(TransportError::NoServer {
                service: service.to_owned(),
            }
            .into());
        }
        tracing::warn!(service, kind = poison.kind(), error = %poison.error(),
            "invalid request answered with an error reply");
        if let Some(text) = poison.into_reply() {
            // The caller may have given up already: the reply is dropped.
            let _ = reply.send(text);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use clamator_test_support::TestArith;
    use clamator_test_support::conformance::{self, Exchange};

    use super::*;

    /// Request text in, reply text out, through the bus as a client's
    /// request travels.
    struct BusExchange(MemoryBus);

    impl Exchange for BusExchange {
        async fn exchange(&mut self, request: &str) -> Option<String> {
            let (tx, rx) = oneshot::channel();
            // Text the server cannot answer fails the submit: no reply.
            self.0
                .submit("arith", request, Metadata::new(), Some(tx))
                .ok()?;
            // A request that gets no reply drops the sender.
            tokio::time::timeout(Duration::from_secs(5), rx)
                .await
                .expect("bounded")
                .ok()
        }
    }

    /// The docs/WIRE.md §4 conformance suite over the bus.
    #[tokio::test]
    async fn every_case_of_the_error_mapping() {
        let bus = MemoryBus::new();
        let arith = TestArith::new();
        let server = bus
            .server()
            .dispatcher(arith.dispatcher())
            .start()
            .await
            .unwrap();
        let mut transport = BusExchange(bus.clone());
        conformance::run(&mut transport).await;
        assert_eq!(arith.pings(), 1, "the one valid notification ran once");
        server.stop().await;

        // A stopped server answers nothing: the bus has no route any more.
        let (tx, _rx) = oneshot::channel();
        let err = bus
            .submit(
                "arith",
                conformance::CASES[0].request,
                Metadata::new(),
                Some(tx),
            )
            .unwrap_err();
        assert!(
            matches!(err, Error::Transport(TransportError::NoServer { .. })),
            "{err:?}"
        );
    }

    /// Invalid text submitted as a notification (nobody waits) fails the
    /// submit, even when a caller waiting would have been answered.
    #[tokio::test]
    async fn invalid_notifications_fail_the_submit() {
        let bus = MemoryBus::new();
        let server = bus
            .server()
            .dispatcher(TestArith::new().dispatcher())
            .start()
            .await
            .unwrap();
        for text in [
            r#"{"jsonrpc":"1.0","method":"arith.add","params":{},"id":7}"#,
            r#"{"jsonrpc":"2.0","method":"arith.add","params":{"x":1e400}}"#,
            "not json",
        ] {
            let err = bus
                .submit("arith", text, Metadata::new(), None)
                .unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "{text}: {err:?}");
        }
        server.stop().await;
    }
}
