//! A contract method that names the request's `Context` gets it: the
//! transport's (deadline, delivery, trace id, cancellation) when it gives
//! one, the request's names and id otherwise; methods that do not name it
//! are called as before.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::time::{Duration, Instant};

use clamator::protocol::{Envelope, Request, Response};
use clamator::{Context, Dispatcher, Id, RpcError};
use serde_json::{Value, json};

#[clamator::model]
#[derive(Debug)]
pub struct Wait {
    pub ms: u64,
}

#[clamator::model]
#[derive(Debug)]
pub struct Seen {
    pub service: String,
    pub method: String,
    pub id: Option<String>,
    pub remaining_ms: Option<u64>,
    pub delivery: Option<u64>,
    pub trace_id: Option<String>,
    pub cancelled: bool,
}

#[clamator::model]
#[derive(Debug, Default)]
pub struct Empty {}

#[clamator::contract(service = "ctx")]
pub trait Ctx {
    /// What the handler sees of its request.
    async fn look(&self, params: Empty, ctx: clamator::Context) -> Result<Seen, RpcError>;
    /// Waits `ms`, or stops early when the request is cancelled.
    async fn wait(&self, params: Wait, ctx: &Context) -> Result<Seen, RpcError>;
    /// Takes no context.
    async fn plain(&self, params: Empty) -> Result<Empty, RpcError>;
}

struct Handler;

fn seen(ctx: &Context) -> Seen {
    Seen {
        service: ctx.service().to_owned(),
        method: ctx.method().to_owned(),
        id: ctx.request_id().map(Id::key),
        remaining_ms: ctx.remaining().map(|d| d.as_millis() as u64),
        delivery: ctx.delivery(),
        trace_id: ctx.trace_id().map(str::to_owned),
        cancelled: ctx.is_cancelled(),
    }
}

impl Ctx for Handler {
    async fn look(&self, _: Empty, ctx: Context) -> Result<Seen, RpcError> {
        Ok(seen(&ctx))
    }

    async fn wait(&self, p: Wait, ctx: &Context) -> Result<Seen, RpcError> {
        tokio::select! {
            () = ctx.cancelled() => {}
            () = tokio::time::sleep(Duration::from_millis(p.ms)) => {}
        }
        Ok(seen(ctx))
    }

    async fn plain(&self, _: Empty) -> Result<Empty, RpcError> {
        Ok(Empty {})
    }
}

fn dispatcher() -> Dispatcher {
    Dispatcher::builder()
        .register(CtxContract, Handler)
        .unwrap()
        .build()
}

fn request(method: &str, params: Value) -> Request {
    match Envelope::parse(
        json!({"jsonrpc": "2.0", "id": "r-1", "method": format!("ctx.{method}"), "params": params})
            .to_string()
            .as_bytes(),
    )
    .unwrap()
    {
        Envelope::Request(r) => r,
        other => panic!("{other:?}"),
    }
}

async fn result(reply: Option<String>) -> Value {
    match Envelope::parse_response(reply.unwrap().as_bytes()).unwrap() {
        Response::Success { result, .. } => result,
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_methods_that_name_it_want_a_context() {
    let d = dispatcher();
    assert!(d.wants_context("ctx", "look"));
    assert!(d.wants_context("ctx", "wait"));
    assert!(!d.wants_context("ctx", "plain"));
    assert!(!d.wants_context("ctx", "nope"));
    assert!(!d.wants_context("other", "look"));
}

#[tokio::test]
async fn without_a_transport_context_a_handler_sees_its_names_and_id() {
    let d = dispatcher();
    let got = result(d.dispatch(request("look", json!({}))).await).await;
    assert_eq!(
        got,
        json!({"service": "ctx", "method": "look", "id": "r-1", "remaining_ms": null,
               "delivery": null, "trace_id": null, "cancelled": false})
    );
    // A method without a context is untouched.
    assert_eq!(
        result(d.dispatch(request("plain", json!({}))).await).await,
        json!({})
    );
}

#[tokio::test]
async fn a_transport_context_reaches_the_handler() {
    let d = dispatcher();
    let ctx = Context::new("ctx", "look", Some(Id::Str("r-1".into())))
        .with_deadline(Instant::now() + Duration::from_secs(30))
        .with_delivery(3)
        .with_trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
    let got = result(d.dispatch_with(request("look", json!({})), Some(ctx)).await).await;
    assert_eq!(got["delivery"], json!(3));
    assert_eq!(got["trace_id"], json!("4bf92f3577b34da6a3ce929d0e0e4736"));
    let remaining = got["remaining_ms"].as_u64().unwrap();
    assert!(remaining > 25_000 && remaining <= 30_000, "{remaining}");
}

#[tokio::test]
async fn a_cancelled_context_stops_a_handler_that_listens() {
    let d = dispatcher();
    let ctx = Context::new("ctx", "wait", Some(Id::Str("r-1".into())));
    let run = d.dispatch_with(request("wait", json!({"ms": 60_000})), Some(ctx.clone()));
    let started = Instant::now();
    let canceller = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        ctx.cancel();
    };
    let (reply, ()) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(run, canceller)
    })
    .await
    .expect("the handler stopped when its context was cancelled");
    assert_eq!(result(reply).await["cancelled"], json!(true));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_time_limit_cancels_a_handler_still_running_and_answers_handler_timeout() {
    use clamator::protocol::transport::HandlerLimit;
    let d = dispatcher();
    fn limit<T>(timer: T) -> Option<HandlerLimit<T>> {
        Some(HandlerLimit {
            limit: Duration::from_millis(250),
            timer,
        })
    }
    // The timer has fired: a handler still waiting is dropped and its caller told why.
    let reply = d
        .dispatch_limited_with(
            request("wait", json!({"ms": 60_000})),
            None,
            limit(futures::future::ready(())),
        )
        .await
        .unwrap();
    match Envelope::parse_response(reply.as_bytes()).unwrap() {
        Response::Error { id, error } => {
            assert_eq!(id, Some(Id::Str("r-1".into())));
            assert_eq!(error.code, -32603);
            assert_eq!(error.data["name"], "HandlerTimeout");
            let text = error.data["message"].as_str().unwrap_or_default();
            assert!(text.contains("handler_timeout (250 ms)"), "{}", error.data);
        }
        other => panic!("{other:?}"),
    }
    // A handler that is done first answers as usual, whatever the timer.
    let reply = d.dispatch_limited_with(
        request("plain", json!({})),
        None,
        limit(futures::future::ready(())),
    );
    assert_eq!(result(reply.await).await, json!({}));
    // A timer that never fires, and no limit at all: the handler's own answer.
    let reply = d.dispatch_limited_with(
        request("plain", json!({})),
        None,
        limit(futures::future::pending::<()>()),
    );
    assert_eq!(result(reply.await).await, json!({}));
    let reply = d.dispatch_limited_with(
        request("plain", json!({})),
        None,
        None::<HandlerLimit<futures::future::Ready<()>>>,
    );
    assert_eq!(result(reply.await).await, json!({}));
}
