//! The `#[clamator::contract]` attribute end to end through the dispatcher and
//! a loopback transport: descriptors, server-side validation and error
//! mapping (docs/WIRE.md §4), client-side validation.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clamator::protocol::transport::{OutgoingCall, OutgoingNotification};
use clamator::protocol::{Envelope, Request, Response};
use clamator::{ClientTransport, Dispatcher, Error, ProtocolError, RpcError};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[clamator::model]
#[derive(Debug)]
pub struct AddParams {
    pub a: f64,
    pub b: f64,
}

#[clamator::model]
#[derive(Debug)]
#[serde(rename_all = "camelCase")]
pub struct SlowParams {
    pub sleep_ms: u64,
}

#[clamator::model(allow_unknown_fields)]
#[derive(Debug, PartialEq)]
pub struct Sum {
    pub sum: f64,
}

/// A params type that cannot be serialized (a map with non-string keys).
///
/// Derived by hand rather than with `#[clamator::model]`: both work.
#[derive(Debug, Serialize, Deserialize, clamator::schemars::JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct Unsendable {
    pub map: std::collections::BTreeMap<(u8, u8), u8>,
}

#[clamator::model]
#[derive(Debug, Default)]
pub struct Empty {}

#[clamator::contract(service = "calc")]
pub trait Calc {
    /// Adds.
    async fn add(&self, params: AddParams) -> Result<Sum, RpcError>;
    async fn slow_add(&self, params: SlowParams) -> Result<Sum, RpcError>;
    #[clamator(name = "div")]
    async fn divide(&self, params: AddParams) -> Result<Sum, RpcError>;
    async fn boom(&self, params: Empty) -> Result<Sum, RpcError>;
    async fn bad(&self, params: Empty) -> Result<Unsendable, RpcError>;
    async fn send_odd(&self, params: Unsendable) -> Result<Sum, RpcError>;
    #[clamator(notification)]
    async fn ping(&self, params: Empty);
    #[clamator(notification)]
    async fn ping_panics(&self, params: Empty);
}

#[derive(Default)]
struct Impl {
    pings: AtomicUsize,
}

impl Calc for Impl {
    async fn add(&self, p: AddParams) -> Result<Sum, RpcError> {
        Ok(Sum { sum: p.a + p.b })
    }
    async fn slow_add(&self, p: SlowParams) -> Result<Sum, RpcError> {
        tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
        Ok(Sum { sum: 0.0 })
    }
    async fn divide(&self, p: AddParams) -> Result<Sum, RpcError> {
        if p.b == 0.0 {
            return Err(RpcError::application(
                -32000,
                "division by zero",
                json!({"a": p.a}),
            ));
        }
        Ok(Sum { sum: p.a / p.b })
    }
    async fn boom(&self, _: Empty) -> Result<Sum, RpcError> {
        panic!("kaboom")
    }
    async fn bad(&self, _: Empty) -> Result<Unsendable, RpcError> {
        let mut map = std::collections::BTreeMap::new();
        map.insert((1, 2), 3);
        Ok(Unsendable { map })
    }
    async fn send_odd(&self, _: Unsendable) -> Result<Sum, RpcError> {
        Ok(Sum { sum: 0.0 })
    }
    async fn ping(&self, _: Empty) {
        self.pings.fetch_add(1, Ordering::SeqCst);
    }
    async fn ping_panics(&self, _: Empty) {
        panic!("notification panic")
    }
}

fn dispatcher() -> (Dispatcher, Arc<Impl>) {
    let handler = Arc::new(Impl::default());
    let d = Dispatcher::builder()
        .register(CalcContract, Arc::clone(&handler))
        .unwrap()
        .build();
    (d, handler)
}

impl<T: Calc> Calc for Arc<T> {
    async fn add(&self, p: AddParams) -> Result<Sum, RpcError> {
        (**self).add(p).await
    }
    async fn slow_add(&self, p: SlowParams) -> Result<Sum, RpcError> {
        (**self).slow_add(p).await
    }
    async fn divide(&self, p: AddParams) -> Result<Sum, RpcError> {
        (**self).divide(p).await
    }
    async fn boom(&self, p: Empty) -> Result<Sum, RpcError> {
        (**self).boom(p).await
    }
    async fn bad(&self, p: Empty) -> Result<Unsendable, RpcError> {
        (**self).bad(p).await
    }
    async fn send_odd(&self, p: Unsendable) -> Result<Sum, RpcError> {
        (**self).send_odd(p).await
    }
    async fn ping(&self, p: Empty) {
        (**self).ping(p).await
    }
    async fn ping_panics(&self, p: Empty) {
        (**self).ping_panics(p).await
    }
}

async fn raw(d: &Dispatcher, method: &str, params: Value, id: Option<i64>) -> Option<Value> {
    let mut env = json!({"jsonrpc": "2.0", "method": method, "params": params});
    if let Some(id) = id {
        env["id"] = json!(id);
    }
    let text = serde_json::to_vec(&env).unwrap();
    let req = Envelope::parse_request(&text).unwrap();
    d.dispatch(req)
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
}

#[test]
fn descriptor_lists_wire_names_and_schemas() {
    let d = CalcContract::descriptor();
    assert_eq!(d.service, "calc");
    assert_eq!(CalcContract::SERVICE, "calc");
    let names: Vec<_> = d.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "add",
            "slowAdd",
            "div",
            "boom",
            "bad",
            "sendOdd",
            "ping",
            "pingPanics"
        ]
    );
    let add = d.method("add").unwrap();
    assert!(!add.notification);
    assert_eq!(add.rust_name, "add");
    assert_eq!(add.params_schema["properties"]["a"]["type"], "number");
    assert_eq!(
        add.result_schema.as_ref().unwrap()["properties"]["sum"]["type"],
        "number"
    );
    let slow = d.method("slowAdd").unwrap();
    assert!(
        slow.params_schema["properties"].get("sleepMs").is_some(),
        "serde renames reach the schema"
    );
    let ping = d.method("ping").unwrap();
    assert!(ping.notification);
    assert!(ping.result_schema.is_none());
    let exported = d.to_json();
    assert_eq!(exported["methods"][0]["paramsSchema"], add.params_schema);
}

#[tokio::test]
async fn server_side_mapping_of_every_wire_row() {
    let (d, handler) = dispatcher();
    let ok = raw(&d, "calc.add", json!({"a": 2, "b": 3.5}), Some(1))
        .await
        .unwrap();
    assert_eq!(
        ok,
        json!({"jsonrpc": "2.0", "id": 1, "result": {"sum": 5.5}})
    );

    let e = raw(&d, "calc.nope", json!({}), Some(2)).await.unwrap();
    assert_eq!(
        e["error"],
        json!({"code": -32601, "message": "Method not found", "data": null})
    );
    let e = raw(&d, "other.add", json!({}), Some(3)).await.unwrap();
    assert_eq!(e["error"]["code"], -32601, "a service not hosted");

    for (params, kind, loc) in [
        (json!({"a": 1}), "missing", json!(["b"])),
        (json!({"a": 1, "b": "x"}), "invalid_type", json!(["b"])),
        (
            json!({"a": 1, "b": 2, "c": 3}),
            "extra_forbidden",
            json!(["c"]),
        ),
        (json!([1, 2]), "model_type", json!([])),
    ] {
        let e = raw(&d, "calc.add", params.clone(), Some(4)).await.unwrap();
        assert_eq!(e["error"]["code"], -32602, "{params}");
        assert_eq!(e["error"]["message"], "Invalid params");
        let errors = e["error"]["data"]["errors"].as_array().unwrap();
        assert_eq!(errors[0]["type"], kind, "{params}");
        assert_eq!(errors[0]["loc"], loc, "{params}");
        assert!(errors[0]["msg"].as_str().unwrap().len() > 3);
    }

    let e = raw(&d, "calc.div", json!({"a": 4, "b": 0}), Some(5))
        .await
        .unwrap();
    assert_eq!(
        e["error"],
        json!({"code": -32000, "message": "division by zero", "data": {"a": 4.0}})
    );

    let e = raw(&d, "calc.boom", json!({}), Some(6)).await.unwrap();
    assert_eq!(e["error"]["code"], -32603);
    assert_eq!(e["error"]["message"], "Internal error");
    assert_eq!(e["error"]["data"]["name"], "panic");
    assert_eq!(e["error"]["data"]["message"], "kaboom");

    let e = raw(&d, "calc.bad", json!({}), Some(7)).await.unwrap();
    assert_eq!(e["error"]["code"], -32603);
    assert_eq!(e["error"]["message"], "Result validation failed");
    assert!(
        e["error"]["data"]["errors"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );

    assert!(raw(&d, "calc.ping", json!({}), None).await.is_none());
    assert_eq!(handler.pings.load(Ordering::SeqCst), 1);
    assert!(
        raw(&d, "calc.ping", json!({"x": 1}), None).await.is_none(),
        "invalid params: still no reply"
    );
    assert_eq!(
        handler.pings.load(Ordering::SeqCst),
        1,
        "a notification with an unknown field does not run"
    );
    assert!(
        raw(&d, "calc.pingPanics", json!({}), None).await.is_none(),
        "a panic: still no reply"
    );
    assert!(
        raw(&d, "calc.nope", json!({}), None).await.is_none(),
        "unknown: still no reply"
    );

    let ok = raw(&d, "calc.add", json!({"a": 1, "b": 1}), Some(8))
        .await
        .unwrap();
    assert_eq!(
        ok["result"]["sum"], 2.0,
        "the server keeps serving after panics"
    );
}

#[test]
fn registering_a_service_twice_is_an_error() {
    let err = Dispatcher::builder()
        .register(CalcContract, Impl::default())
        .unwrap()
        .register(CalcContract, Impl::default())
        .unwrap_err();
    assert!(
        err.to_string().contains("\"calc\" is registered twice"),
        "{err}"
    );
}

/// A transport that hands requests straight to a dispatcher, counting sends.
struct Loopback {
    dispatcher: Dispatcher,
    sent: AtomicUsize,
    /// When set, replies with this result instead of dispatching.
    canned: Option<Value>,
}

impl ClientTransport for Loopback {
    fn send_call(
        &self,
        call: OutgoingCall,
        _timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<Response, Error>> {
        Box::pin(async move {
            self.sent.fetch_add(1, Ordering::SeqCst);
            if let Some(v) = &self.canned {
                return Ok(Response::Success {
                    id: call.id,
                    result: v.clone(),
                });
            }
            let req: Request = Envelope::parse_request(call.envelope.as_bytes())?;
            let reply = self.dispatcher.dispatch(req).await.unwrap();
            Ok(Envelope::parse_response(reply.as_bytes())?)
        })
    }
    fn send_notification(
        &self,
        notification: OutgoingNotification,
    ) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.sent.fetch_add(1, Ordering::SeqCst);
            let req = Envelope::parse_request(notification.envelope.as_bytes())?;
            assert!(self.dispatcher.dispatch(req).await.is_none());
            Ok(())
        })
    }
}

#[tokio::test]
async fn typed_client_validates_both_ways() {
    let (d, handler) = dispatcher();
    let client = CalcClient::new(Loopback {
        dispatcher: d.clone(),
        sent: AtomicUsize::new(0),
        canned: None,
    });
    assert_eq!(
        client.add(AddParams { a: 1.0, b: 2.0 }).await.unwrap(),
        Sum { sum: 3.0 }
    );
    let err = client
        .divide(AddParams { a: 1.0, b: 0.0 })
        .await
        .unwrap_err();
    assert_eq!(err.as_rpc().unwrap().code, -32000);
    client.ping(Empty {}).await.unwrap();
    assert_eq!(handler.pings.load(Ordering::SeqCst), 1);

    let mut map = std::collections::BTreeMap::new();
    map.insert((1, 2), 3);
    let before = client.transport().sent.load(Ordering::SeqCst);
    let err = client.send_odd(Unsendable { map }).await.unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::ParamsEncode { .. })),
        "{err}"
    );
    assert_eq!(
        client.transport().sent.load(Ordering::SeqCst),
        before,
        "nothing was sent"
    );

    let wrong = CalcClient::new(Loopback {
        dispatcher: d,
        sent: AtomicUsize::new(0),
        canned: Some(json!({"sum": "three"})),
    })
    .with_timeout(Duration::from_secs(1));
    let err = wrong.add(AddParams { a: 1.0, b: 2.0 }).await.unwrap_err();
    match err {
        Error::Protocol(ProtocolError::ResultDecode { method, path, .. }) => {
            assert_eq!(method, "calc.add");
            assert_eq!(path, "sum");
        }
        other => panic!("expected ResultDecode, got {other}"),
    }
}

#[tokio::test]
async fn handlers_run_concurrently() {
    let (d, _) = dispatcher();
    let started = std::time::Instant::now();
    let calls = (0..20).map(|i| raw(&d, "calc.slowAdd", json!({"sleepMs": 200}), Some(i)));
    let replies = futures::future::join_all(calls).await;
    assert!(
        replies
            .iter()
            .all(|r| r.as_ref().unwrap().get("result").is_some())
    );
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "20 x 200 ms took {:?}",
        started.elapsed()
    );
}
