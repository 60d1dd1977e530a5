//! The server dispatch core: a registry of services, built once and then
//! shared by every transport loop, that turns a request into its reply.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use crate::contract::{Contract, ContractDescriptor};
use crate::envelope::{Envelope, Request, Response, build_error, build_success};
use crate::error::{ProtocolError, RpcError};
use crate::service::Service;

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
}

impl std::fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl DispatcherBuilder {
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
        Dispatcher {
            services: Arc::new(self.services),
        }
    }
}

/// A frozen registry of services that answers requests. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    /// Services by name, shared by every clone.
    services: Arc<BTreeMap<String, Arc<dyn Service>>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What dispatching an incoming entry produced.
#[derive(Debug)]
pub enum Incoming<F> {
    /// A request or notification: await the future for the reply text
    /// (`None` for notifications and for stray responses).
    Dispatch(F),
    /// The entry is not a valid envelope (poison): acknowledge and drop it.
    Poison(ProtocolError),
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
        self.services.values().map(|s| s.descriptor())
    }

    /// Parses raw envelope text and starts dispatching it.
    ///
    /// `only_service`, when given, is the service whose queue the text came
    /// from: a request for another service is answered "Method not found"
    /// rather than run by the wrong contract.
    pub fn incoming(
        &self,
        text: &[u8],
        only_service: Option<&str>,
    ) -> Incoming<impl Future<Output = Option<String>> + Send + 'static + use<>> {
        match Envelope::parse(text) {
            Err(e) => Incoming::Poison(e),
            Ok(Envelope::Response(r)) => {
                tracing::debug!(id = ?r.id(), "response envelope on a command queue ignored");
                Incoming::Dispatch(futures::future::Either::Left(futures::future::ready(None)))
            }
            Ok(Envelope::Request(req)) => {
                let req = match only_service {
                    Some(s) if s != req.service => Request {
                        service: String::new(),
                        ..req
                    },
                    _ => req,
                };
                Incoming::Dispatch(futures::future::Either::Right(self.dispatch(req)))
            }
        }
    }

    /// Runs one request and returns its reply text (`None` for a notification).
    ///
    /// Never fails: unknown methods, invalid params, handler errors and panics
    /// all become error replies (or, for notifications, log lines).
    pub fn dispatch(
        &self,
        req: Request,
    ) -> impl Future<Output = Option<String>> + Send + 'static + use<> {
        let Request {
            service,
            method,
            params,
            id,
        } = req;
        let started = self.services.get(&service).and_then(|svc| {
            let call = AssertUnwindSafe(|| svc.call(&method, params));
            match std::panic::catch_unwind(call) {
                Ok(fut) => fut.map(|f| AssertUnwindSafe(f).catch_unwind().boxed()),
                Err(panic) => Some(futures::future::ready(Err(panic)).boxed()),
            }
        });
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
                    tracing::warn!(%service, %method, code = error.code, message = %error.message,
                        data = %error.data, "notification failed; no reply is sent for notifications");
                    None
                }
                (Some(id), Ok(result)) => Some(build_success(
                    &id,
                    &result.unwrap_or(serde_json::Value::Null),
                )),
                (Some(id), Err(error)) => {
                    if error.code == crate::error::codes::INVALID_PARAMS {
                        tracing::warn!(%service, %method, data = %error.data, "invalid params");
                    }
                    Some(build_error(Some(&id), &error))
                }
            }
        }
    }

    /// Dispatches and parses the reply back: handy for in-process transports and tests.
    pub fn dispatch_to_response(
        &self,
        req: Request,
    ) -> impl Future<Output = Option<Response>> + Send + 'static + use<> {
        self.dispatch(req)
            .map(|text| text.and_then(|t| Envelope::parse_response(t.as_bytes()).ok()))
    }
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
