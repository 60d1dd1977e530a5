//! [`MemoryServer`]: serves a [`Dispatcher`]'s services on a [`MemoryBus`].
//!
//! Every request runs on its own tokio task, so handlers run concurrently.
//! The tasks are tracked so that `stop()` can wait for the ones in flight.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clamator_protocol::{Dispatcher, Envelope, Error, TransportError};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::MemoryBus;
use crate::lifecycle::{self, Lifecycle};

/// How long [`MemoryServer::stop`] waits for handlers in flight by default: 5 s.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A server on a [`MemoryBus`]: runs each request for its services on a tokio task.
///
/// Build it with [`MemoryBus::server`], then [`start`](Self::start) it;
/// [`stop`](Self::stop) it when done. Dropping a server without stopping it
/// removes its services from the bus but lets its handlers in flight finish.
#[derive(Debug)]
pub struct MemoryServer {
    /// The bus its services are routed on.
    bus: MemoryBus,
    /// What the bus routes to: the dispatcher and the handler tasks.
    core: Arc<ServerCore>,
    /// Created, running or stopped; guards against starting twice or after stop.
    state: Mutex<Lifecycle>,
    /// How long `stop()` waits for handlers in flight before cancelling them.
    grace: Duration,
}

impl MemoryServer {
    pub(crate) fn new(bus: MemoryBus, dispatcher: Dispatcher) -> Self {
        Self {
            bus,
            core: Arc::new(ServerCore {
                dispatcher,
                accepting: Mutex::new(true),
                tasks: TaskTracker::new(),
                cancel: CancellationToken::new(),
            }),
            state: Mutex::new(Lifecycle::Created),
            grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }

    /// Sets how long [`stop`](Self::stop) waits for handlers in flight
    /// (default [`DEFAULT_SHUTDOWN_GRACE`], 5 s).
    #[must_use]
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Makes this server's services reachable on the bus.
    ///
    /// Starting a running server again does nothing. Fails with
    /// [`TransportError::ServiceTaken`] when another started server on the bus
    /// hosts one of the services (then none of them is registered), and with
    /// [`TransportError::Stopped`] after [`stop`](Self::stop).
    pub async fn start(&self) -> Result<(), TransportError> {
        let mut state = lifecycle::lock(&self.state);
        match *state {
            Lifecycle::Running => Ok(()),
            Lifecycle::Stopped => Err(TransportError::Stopped),
            Lifecycle::Created => {
                self.bus.register(&self.core)?;
                *state = Lifecycle::Running;
                Ok(())
            }
        }
    }

    /// Stops serving: removes the services from the bus (calls arriving from
    /// now on fail with [`TransportError::NoServer`]), then waits up to the
    /// shutdown grace for the handlers in flight, whose replies are still
    /// delivered. Handlers still running after the grace are cancelled (dropped
    /// at their next await) and their callers fail with [`TransportError::Stopped`].
    ///
    /// Idempotent; a stopped server cannot be started again.
    pub async fn stop(&self) {
        {
            let mut state = lifecycle::lock(&self.state);
            if *state == Lifecycle::Running {
                self.bus.unregister(&self.core);
            }
            *state = Lifecycle::Stopped;
        }
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
                 raise the grace with with_shutdown_grace() if they need longer"
            );
            self.core.cancel.cancel();
            self.core.tasks.wait().await;
        } else if in_flight > 0 {
            tracing::debug!(in_flight, "in-flight handlers drained");
        }
    }
}

impl Drop for MemoryServer {
    fn drop(&mut self) {
        // A dropped server must not stay reachable; its tasks run to the end detached.
        self.bus.unregister(&self.core);
        self.core.close();
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
    pub(crate) fn accept(
        &self,
        service: &str,
        envelope: &str,
        reply: Option<oneshot::Sender<String>>,
    ) -> Result<(), Error> {
        let request = Envelope::parse_request(envelope.as_bytes())?;
        let accepting = self.accepting.lock().unwrap_or_else(|p| p.into_inner());
        if !*accepting {
            return Err(TransportError::NoServer {
                service: service.to_owned(),
            }
            .into());
        }
        let dispatcher = self.dispatcher.clone();
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            // Dispatching happens on the task, as on a network server, so the
            // caller never runs the service's synchronous part (param decoding).
            let dispatched = dispatcher.dispatch(request);
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
}
