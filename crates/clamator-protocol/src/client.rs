//! The client core: the transport trait typed clients call through, request
//! preparation, reply decoding, and the table of calls awaiting replies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::envelope::{Id, Response, try_build_request};
use crate::error::{Error, ProtocolError};
use crate::metadata::Metadata;
use crate::names::{check_method, check_service, wire_method};

/// The default per-call timeout (docs/WIRE.md §5): 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(30_000);

/// What typed clients call through. Implemented by every transport's client.
///
/// The protocol side does everything but the carrying, once, for every
/// transport: [`call`] checks the names, serializes the params into the
/// envelope ([`prepare_call`]), hands the [`OutgoingCall`] to
/// [`send_call`](Self::send_call), and decodes the [`Response`] it gets back
/// ([`decode_response`]). A transport only sends the text and returns the
/// response that carries the call's id.
pub trait ClientTransport: Send + Sync {
    /// Sends a prepared request and waits for the response to it, up to
    /// `timeout` (`None`: the transport's default timeout).
    fn send_call(
        &self,
        call: OutgoingCall,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<Response, Error>>;

    /// Sends a prepared notification; returns once the transport has accepted it.
    fn send_notification(
        &self,
        notification: OutgoingNotification,
    ) -> BoxFuture<'_, Result<(), Error>>;
}

macro_rules! forward_client_transport {
    ($($ty:ty),*) => {$(
        impl<T: ClientTransport + ?Sized> ClientTransport for $ty {
            fn send_call(
                &self,
                call: OutgoingCall,
                timeout: Option<Duration>,
            ) -> BoxFuture<'_, Result<Response, Error>> {
                (**self).send_call(call, timeout)
            }
            fn send_notification(
                &self,
                notification: OutgoingNotification,
            ) -> BoxFuture<'_, Result<(), Error>> {
                (**self).send_notification(notification)
            }
        }
    )*};
}
forward_client_transport!(&T, Arc<T>, Box<T>);

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
    P: Serialize + ?Sized,
    R: DeserializeOwned,
{
    // The prepared call is moved into the transport's (boxed) future before
    // the await, in a scope of its own, so this future does not keep a
    // slot for it while the call waits (what a waiting call costs).
    let (key, sending) = {
        let call = prepare_call(service, method, params)?;
        (call.key.clone(), transport.send_call(call, timeout))
    };
    let response = sending.await?;
    decode_response(service, method, &key, response)
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
    P: Serialize + ?Sized,
{
    let notification = prepare_notification(service, method, params)?;
    transport.send_notification(notification).await
}

/// A request ready to send.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OutgoingCall {
    /// The service it is for (names the transport's queue).
    pub service: String,
    /// The method called (without the service), for spans and logs.
    pub method: String,
    /// The id it carries.
    pub id: Id,
    /// The key its reply is matched by ([`Id::key`]); shared (not copied)
    /// by the table of pending calls and the caller.
    pub key: Arc<str>,
    /// The request envelope as JSON text.
    pub envelope: String,
    /// Metadata to send beside the envelope (empty unless a client
    /// middleware layer adds some; the transport adds its own defaults).
    pub metadata: Metadata,
}

/// A notification ready to send.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OutgoingNotification {
    /// The service it is for (names the transport's queue).
    pub service: String,
    /// The method notified (without the service), for spans and logs.
    pub method: String,
    /// The notification envelope as JSON text.
    pub envelope: String,
    /// Metadata to send beside the envelope (see [`OutgoingCall::metadata`]).
    pub metadata: Metadata,
}

/// The error a client returns for params whose constraint checks failed
/// (generated clients check before sending).
pub fn params_invalid(
    service: &str,
    method: &str,
    errors: Vec<crate::validation::ValidationIssue>,
) -> Error {
    Error::Protocol(ProtocolError::ParamsInvalid {
        method: wire_method(service, method),
        errors,
    })
}

fn params_encode(service: &str, method: &str, e: &serde_json::Error) -> Error {
    Error::Protocol(ProtocolError::ParamsEncode {
        method: wire_method(service, method),
        message: e.to_string(),
    })
}

/// Checks the names and builds a request with a fresh UUID v4 id, the params
/// serialized straight into the envelope.
pub fn prepare_call<P: Serialize + ?Sized>(
    service: &str,
    method: &str,
    params: &P,
) -> Result<OutgoingCall, Error> {
    check_service(service)?;
    check_method(method)?;
    let id = Id::new_uuid();
    let envelope = try_build_request(&wire_method(service, method), params, Some(&id))
        .map_err(|e| params_encode(service, method, &e))?;
    Ok(OutgoingCall {
        service: service.to_owned(),
        method: method.to_owned(),
        key: match &id {
            Id::Str(s) => Arc::from(s.as_str()),
            other => other.key().into(),
        },
        id,
        envelope,
        metadata: Metadata::new(),
    })
}

/// Checks the names and builds a notification envelope.
pub fn prepare_notification<P: Serialize + ?Sized>(
    service: &str,
    method: &str,
    params: &P,
) -> Result<OutgoingNotification, Error> {
    check_service(service)?;
    check_method(method)?;
    let envelope = try_build_request(&wire_method(service, method), params, None)
        .map_err(|e| params_encode(service, method, &e))?;
    Ok(OutgoingNotification {
        service: service.to_owned(),
        method: method.to_owned(),
        envelope,
        metadata: Metadata::new(),
    })
}

/// Turns the response to the call whose id key is `key` into its typed
/// result: an error response is [`Error::Rpc`]; a response to another id is a
/// protocol error (an error response without an id, from a server that could
/// not read the request's, still answers this call); a result that does not
/// decode is a [`ProtocolError::ResultDecode`] naming the field.
pub fn decode_response<R: DeserializeOwned>(
    service: &str,
    method: &str,
    key: &str,
    response: Response,
) -> Result<R, Error> {
    if let Some(id) = response.id()
        && id.key_str() != key
    {
        return Err(ProtocolError::InvalidEnvelope {
            kind: "response",
            reason: format!("the reply answers id {id}, not this call's id {key:?}"),
        }
        .into());
    }
    let result = response.into_result().map_err(Error::Rpc)?;
    crate::validation::decode::<R>(result).map_err(|issue| {
        Error::Protocol(ProtocolError::ResultDecode {
            method: wire_method(service, method),
            path: issue.path(),
            message: issue.msg,
        })
    })
}

/// Calls awaiting their replies, keyed by [`Id::key`].
///
/// A transport's reply loop hands every response to [`PendingCalls::complete`];
/// each caller awaits its [`PendingCall`], which unregisters itself when dropped
/// (on timeout or cancellation), so nothing leaks.
#[derive(Debug, Default, Clone)]
pub struct PendingCalls {
    /// Senders by id key; shared with every [`PendingCall`] guard.
    // Boxed responses: a waiting call's channel then holds a pointer, not a
    // 96-byte `Response` slot (what each call in flight costs).
    inner: Arc<Mutex<Waiters>>,
}

/// The senders of waiting calls, by id key.
type Waiters = HashMap<Arc<str>, oneshot::Sender<Box<Response>>>;

/// One registered call: await [`PendingCall::reply`]. Dropping it unregisters the call.
#[derive(Debug)]
pub struct PendingCall {
    key: Arc<str>,
    rx: Option<oneshot::Receiver<Box<Response>>>,
    table: PendingCalls,
}

impl PendingCall {
    /// The id key its reply is matched by.
    pub fn key(&self) -> &Arc<str> {
        &self.key
    }

    /// Waits for the reply; `None` when the table was closed ([`PendingCalls::fail_all`]).
    pub async fn reply(&mut self) -> Option<Response> {
        std::future::poll_fn(|cx| self.poll_reply(cx)).await
    }

    /// Polls for the reply, for transports with hand-written futures:
    /// `Ready(None)` when the table was closed ([`PendingCalls::fail_all`]).
    pub fn poll_reply(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Response>> {
        use std::future::Future;
        match self.rx.as_mut() {
            Some(rx) => std::pin::Pin::new(rx)
                .poll(cx)
                .map(|r| r.ok().map(|response| *response)),
            None => std::task::Poll::Ready(None),
        }
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        self.table.lock().remove(&*self.key);
    }
}

impl PendingCalls {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still sound.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a call awaiting the reply with this id key.
    pub fn register(&self, key: Arc<str>) -> PendingCall {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(Arc::clone(&key), tx);
        PendingCall {
            key,
            rx: Some(rx),
            table: self.clone(),
        }
    }

    /// Hands a response to the call waiting for it; `false` when none waits
    /// (an unknown or late reply, which the caller should drop).
    pub fn complete(&self, response: Response) -> bool {
        self.try_complete(response).is_ok()
    }

    /// [`PendingCalls::complete`] that gives the response back when no call
    /// waits for it (to log what was dropped without copying its id first).
    pub fn try_complete(&self, response: Response) -> Result<(), Box<Response>> {
        let waiter = match response.id() {
            Some(id) => self.lock().remove(&*id.key_str()),
            None => None,
        };
        match waiter {
            Some(tx) => tx.send(Box::new(response)),
            None => Err(Box::new(response)),
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
        assert_eq!(*c.key, *c.id.key());
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod decode_tests {
    use super::*;
    use crate::envelope::Envelope;
    use serde_json::{Value, json};

    /// Parses reply text and decodes it as the reply to the call keyed `key`.
    fn decode_reply(key: &str, text: &str) -> Result<Value, Error> {
        let response = Envelope::parse_response(text.as_bytes())?;
        decode_response("arith", "add", key, response)
    }

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
