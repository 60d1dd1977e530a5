//! The server dispatch core: a registry of services, built once and then
//! shared by every transport loop, that turns a request into its reply.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use crate::context::Context;
use crate::contract::{Contract, ContractDescriptor};
use crate::envelope::{Envelope, RejectKind, Rejected, Request, build_error, build_success};
use crate::error::{ProtocolError, RpcError};
use crate::middleware::{Call, CallLayer, CallService};
use crate::service::Service;

mod layered;

/// Registering a service failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// Another contract with this service name is already registered.
    #[error(
        "service {service:?} is registered twice on one server; register each service once \
         (run another server process to scale it out)"
    )]
    DuplicateService {
        /// The service name.
        service: String,
    },
    /// The contract's service name breaks the naming rules.
    #[error(transparent)]
    InvalidName(#[from] ProtocolError),
}

/// Collects services; [`DispatcherBuilder::build`] freezes them into a [`Dispatcher`].
///
/// Registration happens before any transport starts, so a service cannot be
/// added to a running server.
#[derive(Default)]
pub struct DispatcherBuilder {
    /// Services by name; a BTreeMap so listings are stable.
    services: BTreeMap<String, Arc<dyn Service>>,
    /// The middleware layers, innermost first; applied by `build`.
    layers: Vec<layered::ApplyLayer>,
}

impl std::fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl DispatcherBuilder {
    /// Wraps the handlers of every registered service in a [`tower::Layer`]
    /// (see [`crate::middleware`]): it sees every request as a [`Call`] and
    /// returns the result value or an error ([`RpcError`] to answer with it).
    /// Layers added later wrap those added earlier, so the last one added
    /// sees a request first.
    pub fn layer(mut self, layer: impl CallLayer) -> Self {
        self.layers.push(layered::ApplyLayer::new(layer));
        self
    }

    /// Registers `handler` under a typed contract.
    pub fn register<C, H>(self, contract: C, handler: H) -> Result<Self, RegisterError>
    where
        C: Contract<H>,
    {
        self.register_service(contract.into_service(handler))
    }

    /// Registers a type-erased service.
    pub fn register_service(mut self, service: Arc<dyn Service>) -> Result<Self, RegisterError> {
        let name = service.descriptor().service.clone();
        crate::names::check_service(&name)?;
        if self.services.contains_key(&name) {
            return Err(RegisterError::DuplicateService { service: name });
        }
        self.services.insert(name, service);
        Ok(self)
    }

    /// Freezes the registry.
    pub fn build(self) -> Dispatcher {
        let services = self
            .services
            .into_iter()
            .map(|(name, service)| {
                // Which methods' params can hold an integer: only those are
                // walked for integral floats (see `crate::integers`); the
                // walk costs every call of the others for nothing.
                let integer_params = if service.lenient_integers() {
                    service
                        .descriptor()
                        .methods
                        .iter()
                        .filter(|m| crate::integers::mentions_integer(&m.params_schema))
                        .map(|m| m.name.clone())
                        .collect()
                } else {
                    std::collections::HashSet::new()
                };
                let context_methods = service
                    .descriptor()
                    .methods
                    .iter()
                    .filter(|m| service.wants_context(&m.name))
                    .map(|m| m.name.clone())
                    .collect();
                (
                    name,
                    Registered {
                        service,
                        integer_params,
                        context_methods,
                    },
                )
            })
            .collect();
        let services = Arc::new(services);
        let stack = layered::build_stack(&services, self.layers);
        Dispatcher { services, stack }
    }
}

/// A frozen registry of services that answers requests. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    /// Services by name, shared by every clone.
    services: Arc<BTreeMap<String, Registered>>,
    /// The middleware around the handlers; `None` without layers (the
    /// direct path, which costs nothing for them).
    stack: Option<CallService>,
}

/// A service as the dispatcher holds it.
pub(crate) struct Registered {
    /// The service.
    service: Arc<dyn Service>,
    /// The methods whose params schema names an integer, when the service
    /// normalizes integral floats (empty when it does not).
    integer_params: std::collections::HashSet<String>,
    /// The methods that take the request's [`Context`].
    context_methods: std::collections::HashSet<String>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .field("layered", &self.stack.is_some())
            .finish()
    }
}

/// What dispatching an incoming entry produced.
#[derive(Debug)]
pub enum Incoming<F> {
    /// A request or notification: await the future for the reply text
    /// (`None` for notifications and for stray responses).
    Dispatch(F),
    /// The entry is not a valid request or notification: acknowledge it, send
    /// [`Poison::reply`] if there is one and the entry has a reply-to, and
    /// drop it.
    Poison(Poison),
}

/// An entry that is not a valid request or notification.
///
/// When its id can still be read (a string or an integer), it is answered
/// like a request: -32700 "Parse error" for text that is not JSON this side
/// can parse, -32600 "Invalid Request" for JSON that is not a valid request,
/// with `data` `{"name": <kind>, "message": <reason>}`. Without a readable id
/// (none, null, or one that is not a string or an integer) there is nobody
/// to answer.
#[derive(Debug)]
pub struct Poison {
    /// Why it was rejected.
    error: ProtocolError,
    /// A short stable label of the kind of rejection.
    kind: &'static str,
    /// The error envelope answering it, when its id could be read.
    reply: Option<String>,
}

impl Poison {
    fn from_rejected(rejected: Rejected) -> Poison {
        let kind = rejected.kind.label();
        let reply = rejected.id.as_ref().map(|id| {
            let error = match rejected.kind {
                RejectKind::NotJson => RpcError::parse_error(kind, rejected.reason.as_str()),
                _ => RpcError::invalid_request(kind, rejected.reason.as_str()),
            };
            build_error(Some(id), &error)
        });
        Poison {
            error: rejected.into_error(),
            kind,
            reply,
        }
    }

    /// Why the entry was rejected, for logs.
    pub fn error(&self) -> &ProtocolError {
        &self.error
    }

    /// A short stable label of the kind of rejection, for log aggregation:
    /// `"not-json"` (text that does not parse), `"batch"` (a JSON array),
    /// `"not-object"` (other JSON that is not an object), `"bad-id"` (an id
    /// that is not a string, an integer or null), `"invalid-envelope"`
    /// (anything else that is not a valid request or response).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The error envelope (-32700 or -32600) to send when the entry has a
    /// reply-to; `None` when no id could be read.
    pub fn reply(&self) -> Option<&str> {
        self.reply.as_deref()
    }

    /// [`Poison::reply`], by value.
    pub fn into_reply(self) -> Option<String> {
        self.reply
    }

    /// [`Poison::error`], by value.
    pub fn into_error(self) -> ProtocolError {
        self.error
    }
}

impl std::fmt::Display for Poison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.error, self.kind)
    }
}

/// Reads an incoming entry's envelope text without running anything: the
/// request or notification to dispatch, `None` for a response (which has no
/// business on a command queue and is ignored), or the [`Poison`] it is.
///
/// [`Dispatcher::incoming`] is this followed by [`Dispatcher::dispatch`];
/// a transport that dispatches elsewhere (on a task of its own) calls the two
/// separately.
pub fn read_incoming(text: &[u8]) -> Result<Option<Request>, Poison> {
    match Envelope::read(text) {
        Ok(Envelope::Request(req)) => Ok(Some(req)),
        Ok(Envelope::Response(r)) => {
            tracing::debug!(id = ?r.id(), "response envelope on a command queue ignored");
            Ok(None)
        }
        Err(rejected) => Err(Poison::from_rejected(rejected)),
    }
}

/// A time limit on one handler: how long (for the message), and the timer
/// that fires when it is over.
#[derive(Debug)]
pub struct HandlerLimit<T> {
    /// The limit, as configured.
    pub limit: std::time::Duration,
    /// Completes when the limit is over.
    pub timer: T,
}

impl Dispatcher {
    /// A builder to register services with.
    pub fn builder() -> DispatcherBuilder {
        DispatcherBuilder::default()
    }

    /// The names of the registered services, sorted.
    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    /// The descriptors of the registered services.
    pub fn descriptors(&self) -> impl Iterator<Item = &ContractDescriptor> {
        self.services.values().map(|s| s.service.descriptor())
    }

    /// Parses raw envelope text and starts dispatching it.
    ///
    /// Text that is not a valid request or notification is
    /// [`Incoming::Poison`]; see [`Poison`] for which gets an answer.
    ///
    /// `only_service`, when given, is the service whose queue the text came
    /// from: a request for another service is answered "Method not found"
    /// rather than run by the wrong contract.
    pub fn incoming(
        &self,
        text: &[u8],
        only_service: Option<&str>,
    ) -> Incoming<impl Future<Output = Option<String>> + Send + 'static + use<>> {
        match read_incoming(text) {
            Err(poison) => Incoming::Poison(poison),
            Ok(None) => {
                Incoming::Dispatch(futures::future::Either::Left(futures::future::ready(None)))
            }
            Ok(Some(req)) => {
                let req = match only_service {
                    Some(queue) => req.from_queue(queue),
                    None => req,
                };
                Incoming::Dispatch(futures::future::Either::Right(self.dispatch(req)))
            }
        }
    }

    /// Whether `service.method` takes the request's [`Context`]: a
    /// transport builds one (with the caller's deadline, the delivery count,
    /// the trace id and a cancellation signal) only for these.
    ///
    /// With middleware layers every request wants one: the layers see it
    /// (with the caller's metadata) in each [`Call`].
    pub fn wants_context(&self, service: &str, method: &str) -> bool {
        self.stack.is_some()
            || self
                .services
                .get(service)
                .is_some_and(|r| r.context_methods.contains(method))
    }

    /// Runs one request and returns its reply text (`None` for a notification).
    ///
    /// Never fails: unknown methods, invalid params, handler errors and panics
    /// all become error replies (or, for notifications, log lines).
    pub fn dispatch(
        &self,
        req: Request,
    ) -> impl Future<Output = Option<String>> + Send + 'static + use<> {
        self.dispatch_with(req, None)
    }

    /// [`dispatch`](Self::dispatch) with the request's [`Context`] as the
    /// transport knows it, for a method that [wants one](Self::wants_context)
    /// (it is ignored for the others). A method that wants one and gets
    /// `None` gets a context with the request's names and id only.
    pub fn dispatch_with(
        &self,
        req: Request,
        ctx: Option<Context>,
    ) -> impl Future<Output = Option<String>> + Send + 'static + use<> {
        let Request {
            service,
            method,
            mut params,
            id,
        } = req;
        let registered = self.services.get(&service);
        if let Some(r) = registered
            && r.integer_params.contains(&method)
            && let Some(m) = r.service.descriptor().method(&method)
        {
            crate::integers::normalize(&m.params_schema, &mut params);
        }
        let started = match &self.stack {
            Some(stack) => {
                let context = ctx.unwrap_or_else(|| Context::new(&service, &method, id.clone()));
                let call = Call::new(service.clone(), method.clone(), params, context);
                Some(layered::run(stack, call))
            }
            None => registered.and_then(|registered| {
                let svc = &registered.service;
                let ctx = registered
                    .context_methods
                    .contains(&method)
                    .then(|| ctx.unwrap_or_else(|| Context::new(&service, &method, id.clone())));
                let call = AssertUnwindSafe(|| match ctx {
                    Some(ctx) => svc.call_with(&method, params, ctx),
                    None => svc.call(&method, params),
                });
                match std::panic::catch_unwind(call) {
                    Ok(fut) => fut.map(|f| AssertUnwindSafe(f).catch_unwind().boxed()),
                    Err(panic) => Some(futures::future::ready(Err(panic)).boxed()),
                }
            }),
        };
        async move {
            let outcome = match started {
                None => Err(RpcError::method_not_found()),
                Some(fut) => match fut.await {
                    Ok(res) => res,
                    Err(panic) => {
                        let message = panic_message(panic.as_ref());
                        tracing::error!(%service, %method, %message, "handler panicked");
                        Err(RpcError::internal("panic", message))
                    }
                },
            };
            match (id, outcome) {
                (None, Ok(_)) => None,
                (None, Err(error)) => {
                    crate::trace_context::record_rpc_error(&error);
                    tracing::warn!(%service, %method, code = error.code, message = %error.message,
                        data = %error.data, "notification failed; no reply is sent for notifications");
                    None
                }
                (Some(id), Ok(result)) => Some(build_success(
                    &id,
                    &result.unwrap_or(serde_json::Value::Null),
                )),
                (Some(id), Err(error)) => {
                    crate::trace_context::record_rpc_error(&error);
                    if error.code == crate::error::codes::INVALID_PARAMS {
                        tracing::warn!(%service, %method, data = %error.data, "invalid params");
                    }
                    Some(build_error(Some(&id), &error))
                }
            }
        }
    }

    /// Runs one request as [`dispatch`](Self::dispatch) does, but cancels a
    /// handler still running when `limit.timer` completes (its future is
    /// dropped at its next await) and answers its caller -32603 "Internal
    /// error" with `data.name` `"HandlerTimeout"`; a notification gets no
    /// reply either way. The id comes from the request already parsed. The
    /// transport supplies the timer (e.g. `tokio::time::sleep(limit)`), so
    /// this crate stays free of a runtime. `None`: no limit.
    pub fn dispatch_limited<T>(
        &self,
        req: Request,
        limit: Option<HandlerLimit<T>>,
    ) -> impl Future<Output = Option<String>> + Send + 'static + use<T>
    where
        T: Future<Output = ()> + Send + 'static,
    {
        self.dispatch_limited_with(req, None, limit)
    }

    /// [`dispatch_limited`](Self::dispatch_limited) with the request's
    /// [`Context`] (see [`dispatch_with`](Self::dispatch_with)).
    pub fn dispatch_limited_with<T>(
        &self,
        req: Request,
        ctx: Option<Context>,
        limit: Option<HandlerLimit<T>>,
    ) -> impl Future<Output = Option<String>> + Send + 'static + use<T>
    where
        T: Future<Output = ()> + Send + 'static,
    {
        let Some(HandlerLimit { limit, timer }) = limit else {
            return Limited::Unlimited {
                run: self.dispatch_with(req, ctx),
            };
        };
        // What the time-limit answer needs, copied only when there is a limit.
        let names = Box::new((req.service.clone(), req.method.clone(), req.id.clone()));
        Limited::Timed {
            run: self.dispatch_with(req, ctx),
            timer,
            limit,
            names: Some(names),
        }
    }
}

/// The service, method and id a time-limit answer names.
type Names = (String, String, Option<crate::envelope::Id>);

pin_project_lite::pin_project! {
    /// What [`Dispatcher::dispatch_limited_with`] returns: the request's run,
    /// raced against its timer when it has a time limit. Written by hand: an
    /// `async` block would hold the run's future twice (its capture and its
    /// awaited copy), and every request's task holds this one.
    #[project = LimitedProj]
    enum Limited<F, T> {
        Unlimited { #[pin] run: F },
        Timed {
            #[pin]
            run: F,
            #[pin]
            timer: T,
            limit: std::time::Duration,
            // Taken when the timer fires; boxed so the common case stays small.
            names: Option<Box<Names>>,
        },
    }
}

impl<F, T> Future for Limited<F, T>
where
    F: Future<Output = Option<String>>,
    T: Future<Output = ()>,
{
    type Output = Option<String>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<String>> {
        use std::task::Poll;
        match self.project() {
            LimitedProj::Unlimited { run } => run.poll(cx),
            LimitedProj::Timed {
                run,
                timer,
                limit,
                names,
            } => {
                if let Poll::Ready(reply) = run.poll(cx) {
                    return Poll::Ready(reply);
                }
                if timer.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let Some(names) = names.take() else {
                    // Polled again after it answered: it has nothing more to say.
                    return Poll::Ready(None);
                };
                let (service, method, id) = *names;
                Poll::Ready(timed_out(&service, &method, id, *limit))
            }
        }
    }
}

/// The answer for a handler cancelled at its time limit (`None` for a
/// notification), logged and recorded on the span.
fn timed_out(
    service: &str,
    method: &str,
    id: Option<crate::envelope::Id>,
    limit: std::time::Duration,
) -> Option<String> {
    tracing::warn!(%service, %method, limit_ms = limit.as_millis() as u64,
        "handler ran longer than its time limit; cancelled it");
    let error = RpcError::internal(
        "HandlerTimeout",
        format!(
            "the handler ran longer than the server's handler_timeout ({} ms) and was cancelled",
            limit.as_millis()
        ),
    );
    crate::trace_context::record_rpc_error(&error);
    id.map(|id| build_error(Some(&id), &error))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "handler panicked with a non-string payload".to_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests;
