//! The dispatcher's middleware stack: the handlers as the innermost
//! [`tower::Service`], the layers users add around them, and running one
//! request through the result.

use std::any::Any;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Value;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use super::Registered;
use crate::error::{BoxError, RpcError};
use crate::middleware::{Call, CallLayer, CallService, rpc_error_of};

/// A layer kept until the stack is built (the handlers exist only then).
pub(super) struct ApplyLayer(Box<dyn FnOnce(CallService) -> CallService + Send>);

impl ApplyLayer {
    /// Keeps `layer` for [`build_stack`].
    pub(super) fn new(layer: impl CallLayer) -> ApplyLayer {
        ApplyLayer(Box::new(move |inner: CallService| layer.wrap(inner)))
    }
}

/// The handlers wrapped in `layers` (the first innermost); `None` without
/// layers.
pub(super) fn build_stack(
    services: &Arc<BTreeMap<String, Registered>>,
    layers: Vec<ApplyLayer>,
) -> Option<CallService> {
    if layers.is_empty() {
        return None;
    }
    let handlers = BoxCloneSyncService::new(Handlers {
        services: Arc::clone(services),
    });
    Some(
        layers
            .into_iter()
            .fold(handlers, |inner, apply| (apply.0)(inner)),
    )
}

/// What a started request resolves to: the handler's outcome, or the panic
/// that ended it.
pub(super) type Started =
    BoxFuture<'static, Result<Result<Option<Value>, RpcError>, Box<dyn Any + Send>>>;

/// Runs `call` through `stack`: a layer's error becomes the [`RpcError`] the
/// caller gets, a panic anywhere in the stack is caught as a handler's is.
pub(super) fn run(stack: &CallService, call: Call) -> Started {
    let running = stack.clone().oneshot(call);
    AssertUnwindSafe(async move { running.await.map(Some).map_err(rpc_error_of) })
        .catch_unwind()
        .boxed()
}

/// The registered handlers as the innermost service of the stack.
#[derive(Clone)]
struct Handlers {
    /// Services by name, shared with the dispatcher.
    services: Arc<BTreeMap<String, Registered>>,
}

impl tower::Service<Call> for Handlers {
    type Response = Value;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Value, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let Call {
            service,
            method,
            params,
            context,
        } = call;
        let started = self.services.get(&service).and_then(|registered| {
            if registered.context_methods.contains(&method) {
                registered.service.call_with(&method, params, context)
            } else {
                registered.service.call(&method, params)
            }
        });
        match started {
            None => futures::future::ready(Err(RpcError::method_not_found().into())).boxed(),
            Some(handler) => async move {
                match handler.await {
                    Ok(result) => Ok(result.unwrap_or(Value::Null)),
                    Err(error) => Err(BoxError::from(error)),
                }
            }
            .boxed(),
        }
    }
}
