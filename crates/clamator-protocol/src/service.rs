//! The type-erased server side of a contract, and the helpers generated code
//! uses to decode params, run a handler and encode its result.

use std::future::Future;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::Context;
use crate::contract::ContractDescriptor;
use crate::error::RpcError;
use crate::validation::{ValidationIssue, decode_object};

/// What a method's handler resolves to: `Some(result)` for a method, `None`
/// for a notification, or the error to answer with.
pub type HandlerFuture = BoxFuture<'static, Result<Option<Value>, RpcError>>;

/// A service as the dispatcher sees it: a descriptor and a way to start a call.
pub trait Service: Send + Sync + 'static {
    /// The contract this service implements.
    fn descriptor(&self) -> &ContractDescriptor;

    /// Starts `method` with `params`; `None` when the method is unknown.
    ///
    /// Decoding params happens here or in the future; either may report
    /// -32602 through the returned error.
    fn call(&self, method: &str, params: Value) -> Option<HandlerFuture>;

    /// Whether `method` takes the request's [`Context`] (a contract method
    /// that names one as its last argument). Transports build a context only
    /// for those; `false` unless overridden.
    fn wants_context(&self, method: &str) -> bool {
        let _ = method;
        false
    }

    /// [`Service::call`] with the request's [`Context`], for the methods
    /// that [want it](Service::wants_context). The default ignores it.
    fn call_with(&self, method: &str, params: Value, ctx: Context) -> Option<HandlerFuture> {
        let _ = ctx;
        self.call(method, params)
    }

    /// Whether the dispatcher turns integral floats (`10.0`) into integers
    /// where the params schema says integer, before [`Service::call`]
    /// (see [`crate::integers`]). `true` unless the contract was registered
    /// as [`crate::integers::StrictIntegers`].
    fn lenient_integers(&self) -> bool {
        true
    }
}

/// Decodes params strictly, then runs their constraint checks (see
/// [`crate::checks`]); either failing is -32602 with `data.errors`.
fn decode_checked<P: DeserializeOwned>(
    params: Value,
    check: impl FnOnce(&P) -> Result<(), Vec<ValidationIssue>>,
) -> Result<P, RpcError> {
    let p = decode_object::<P>(params).map_err(|issue| RpcError::invalid_params(vec![issue]))?;
    check(&p).map_err(RpcError::invalid_params)?;
    Ok(p)
}

/// Runs a request-response handler: decodes params strictly and checks
/// their constraints with `check` (-32602 on failure), awaits the handler,
/// encodes its result (-32603 "Result validation failed" when it cannot be
/// encoded).
pub fn unary<P, R, Fut>(
    params: Value,
    check: impl FnOnce(&P) -> Result<(), Vec<ValidationIssue>>,
    handler: impl FnOnce(P) -> Fut,
) -> HandlerFuture
where
    P: DeserializeOwned,
    R: Serialize,
    Fut: Future<Output = Result<R, RpcError>> + Send + 'static,
{
    match decode_checked::<P>(params, check) {
        Err(e) => futures::future::ready(Err(e)).boxed(),
        Ok(p) => {
            let fut = handler(p);
            async move {
                let result = fut.await?;
                serde_json::to_value(&result).map(Some).map_err(|e| {
                    RpcError::result_validation_failed(vec![ValidationIssue {
                        loc: Vec::new(),
                        msg: e.to_string(),
                        kind: "serialization_error".to_owned(),
                    }])
                })
            }
            .boxed()
        }
    }
}

/// Runs a notification handler: decodes params strictly, checks them with
/// `check`, awaits the handler.
pub fn notification<P, Fut>(
    params: Value,
    check: impl FnOnce(&P) -> Result<(), Vec<ValidationIssue>>,
    handler: impl FnOnce(P) -> Fut,
) -> HandlerFuture
where
    P: DeserializeOwned,
    Fut: Future<Output = ()> + Send + 'static,
{
    match decode_checked::<P>(params, check) {
        Err(e) => futures::future::ready(Err(e)).boxed(),
        Ok(p) => handler(p).map(|()| Ok(None)).boxed(),
    }
}
