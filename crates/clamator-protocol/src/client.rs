//! The client core: the transport trait typed clients call through, request
//! preparation, reply decoding, and the table of calls awaiting replies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::envelope::{Id, Response, build_request};
use crate::error::{Error, ProtocolError};
use crate::names::{check_method, check_service, wire_method};

/// The default per-call timeout (WIRE.md §6): 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(30_000);

/// What typed clients call through. Implemented by every transport's client.
///
/// `timeout: None` means the transport's default timeout.
pub trait ClientTransport: Send + Sync {
    /// Calls `service.method` with JSON params and waits for the JSON result.
    fn call_value<'a>(
        &'a self,
        service: &'a str,
        method: &'a str,
        params: Value,
        timeout: Option<Duration>,
    ) -> BoxFuture<'a, Result<Value, Error>>;

    /// Sends a notification; returns once the transport has accepted it.
    fn notify_value<'a>(
        &'a self,
        service: &'a str,
        method: &'a str,
        params: Value,
    ) -> BoxFuture<'a, Result<(), Error>>;
}

macro_rules! forward_client_transport {
    ($($ty:ty),*) => {$(
        impl<T: ClientTransport + ?Sized> ClientTransport for $ty {
            fn call_value<'a>(
                &'a self,
                service: &'a str,
                method: &'a str,
                params: Value,
                timeout: Option<Duration>,
            ) -> BoxFuture<'a, Result<Value, Error>> {
                (**self).call_value(service, method, params, timeout)
            }
            fn notify_value<'a>(
                &'a self,
                service: &'a str,
                method: &'a str,
                params: Value,
            ) -> BoxFuture<'a, Result<(), Error>> {
                (**self).notify_value(service, method, params)
            }
        }
    )*};
}
forward_client_transport!(&T, Arc<T>, Box<T>);

fn encode_params<P: Serialize>(service: &str, method: &str, params: &P) -> Result<Value, Error> {
    serde_json::to_value(params).map_err(|e| {
        Error::Protocol(ProtocolError::ParamsEncode {
            method: wire_method(service, method),
            message: e.to_string(),
        })
    })
}

/// Calls a method with typed params and decodes its typed result.
///
/// Params that cannot be serialized fail the call before anything is sent; a
/// result that does not decode is a [`ProtocolError::ResultDecode`] naming the field.
pub async fn call<T, P, R>(
    transport: &T,
    service: &str,
    method: &str,
    params: &P,
    timeout: Option<Duration>,
) -> Result<R, Error>
where
    T: ClientTransport + ?Sized,
    P: Serialize,
    R: DeserializeOwned,
{
    let params = encode_params(service, method, params)?;
    let result = transport
        .call_value(service, method, params, timeout)
        .await?;
    crate::validation::decode::<R>(result).map_err(|issue| {
        Error::Protocol(ProtocolError::ResultDecode {
            method: wire_method(service, method),
            path: issue.path(),
            message: issue.msg,
        })
    })
}

/// Sends a notification with typed params.
pub async fn notify<T, P>(
    transport: &T,
    service: &str,
    method: &str,
    params: &P,
) -> Result<(), Error>
where
    T: ClientTransport + ?Sized,
    P: Serialize,
{
    let params = encode_params(service, method, params)?;
    transport.notify_value(service, method, params).await
}

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    /// The id it carries.
    pub id: Id,
    /// The key its reply is matched by ([`Id::key`]).
    pub key: String,
    /// The request envelope as JSON text.
    pub envelope: String,
}

/// Checks the names and builds a request with a fresh UUID v4 id.
pub fn prepare_call(service: &str, method: &str, params: &Value) -> Result<OutgoingCall, Error> {
    check_service(service)?;
    check_method(method)?;
    let id = Id::new_uuid();
    let envelope = build_request(&wire_method(service, method), params, Some(&id));
    Ok(OutgoingCall {
        key: id.key(),
        id,
        envelope,
    })
}

/// Checks the names and builds a notification envelope.
pub fn prepare_notification(service: &str, method: &str, params: &Value) -> Result<String, Error> {
    check_service(service)?;
    check_method(method)?;
    Ok(build_request(&wire_method(service, method), params, None))
}

/// Calls awaiting their replies, keyed by [`Id::key`].
///
/// A transport's reply loop hands every response to [`PendingCalls::complete`];
/// each caller awaits its [`PendingCall`], which unregisters itself when dropped
/// (on timeout or cancellation), so nothing leaks.
#[derive(Debug, Default, Clone)]
pub struct PendingCalls {
    /// Senders by id key; shared with every [`PendingCall`] guard.
    inner: Arc<Mutex<HashMap<String, oneshot::Sender<Response>>>>,
}

/// One registered call: await [`PendingCall::reply`]. Dropping it unregisters the call.
#[derive(Debug)]
pub struct PendingCall {
    key: String,
    rx: Option<oneshot::Receiver<Response>>,
    table: PendingCalls,
}

impl PendingCall {
    /// Waits for the reply; `None` when the table was closed ([`PendingCalls::fail_all`]).
    pub async fn reply(&mut self) -> Option<Response> {
        match self.rx.as_mut() {
            Some(rx) => rx.await.ok(),
            None => None,
        }
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        self.table.lock().remove(&self.key);
    }
}

impl PendingCalls {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, oneshot::Sender<Response>>> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still sound.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a call awaiting the reply with this id key.
    pub fn register(&self, key: String) -> PendingCall {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(key.clone(), tx);
        PendingCall {
            key,
            rx: Some(rx),
            table: self.clone(),
        }
    }

    /// Hands a response to the call waiting for it; `false` when none waits
    /// (an unknown or late reply, which the caller should drop).
    pub fn complete(&self, response: Response) -> bool {
        let Some(key) = response.id().map(Id::key) else {
            return false;
        };
        match self.lock().remove(&key) {
            Some(tx) => tx.send(response).is_ok(),
            None => false,
        }
    }

    /// Fails every waiting call (their [`PendingCall::reply`] returns `None`).
    pub fn fail_all(&self) {
        self.lock().clear();
    }

    /// How many calls are waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no call is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prepare_checks_names() {
        assert!(prepare_call("Arith", "add", &json!({})).is_err());
        assert!(prepare_call("arith", "slow-add", &json!({})).is_err());
        assert!(prepare_notification("arith", "", &json!({})).is_err());
        let c = prepare_call("arith", "add", &json!({"a": 1})).unwrap();
        assert_eq!(c.key, c.id.key());
        assert!(c.envelope.contains("\"arith.add\""));
    }

    #[test]
    fn pending_routes_and_cleans_up() {
        futures::executor::block_on(async {
            let table = PendingCalls::new();
            let mut a = table.register("a".into());
            let b = table.register("7".into());
            assert_eq!(table.len(), 2);
            assert!(table.complete(Response::Success {
                id: Id::Str("a".into()),
                result: json!(1)
            }));
            assert_eq!(a.reply().await.unwrap().into_result().unwrap(), json!(1));
            assert!(!table.complete(Response::Success {
                id: Id::Str("zz".into()),
                result: json!(1)
            }));
            drop(b);
            assert!(table.is_empty(), "a dropped call unregisters itself");
            assert!(!table.complete(Response::Success {
                id: Id::Int(7),
                result: json!(1)
            }));
            let mut c = table.register("c".into());
            table.fail_all();
            assert!(c.reply().await.is_none());
        });
    }

    #[test]
    fn int_and_string_ids_share_a_key() {
        let table = PendingCalls::new();
        let _w = table.register("7".into());
        assert!(table.complete(Response::Success {
            id: Id::Int(7),
            result: json!(null)
        }));
    }
}
