//! tower middleware: server layers around the dispatch of every request
//! (they see the caller's metadata, refuse with an `RpcError`, and tower's own
//! errors reach the caller as -32603 "MiddlewareError"), and a client layer
//! around a typed client's calls (tower's Timeout, a Retry that keeps the
//! request id). Over the in-process transport; the Redis carrier of the
//! metadata is tested in clamator-over-redis's `rpc` tests.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use clamator::memory::{MemoryBus, MemoryServer};
use clamator::middleware::{Call, CallRequest, LayeredClient};
use clamator::{BoxError, Context, Error, Metadata, RpcError};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

#[clamator::model]
#[derive(Debug)]
pub struct Wait {
    pub ms: u64,
}

#[clamator::model]
#[derive(Debug)]
pub struct Seen {
    pub tenant: Option<String>,
    pub method: String,
}

#[clamator::model]
#[derive(Debug, Default)]
pub struct Empty {}

#[clamator::contract(service = "mw")]
pub trait Mw {
    /// What the handler sees of its request's metadata.
    async fn look(&self, params: Empty, ctx: &Context) -> Result<Seen, RpcError>;
    /// Waits `ms`.
    async fn wait(&self, params: Wait) -> Result<Empty, RpcError>;
    /// Panics.
    async fn boom(&self, params: Empty) -> Result<Empty, RpcError>;
    /// A notification.
    #[clamator(notification)]
    async fn note(&self, params: Empty);
}

struct Handler;

impl Mw for Handler {
    async fn look(&self, _: Empty, ctx: &Context) -> Result<Seen, RpcError> {
        Ok(Seen {
            tenant: ctx.metadata().get("tenant").map(str::to_owned),
            method: ctx.method().to_owned(),
        })
    }

    async fn wait(&self, p: Wait) -> Result<Empty, RpcError> {
        tokio::time::sleep(Duration::from_millis(p.ms)).await;
        Ok(Empty {})
    }

    async fn boom(&self, _: Empty) -> Result<Empty, RpcError> {
        panic!("boom in the handler")
    }

    async fn note(&self, _: Empty) {}
}

type BoxFut = Pin<Box<dyn Future<Output = Result<Value, BoxError>> + Send>>;

/// Refuses requests without `authorization: secret` with -32001, and
/// records what it saw (`service.method`, whether it had an id).
#[derive(Clone)]
struct Auth<S> {
    inner: S,
    seen: Arc<Mutex<Vec<(String, bool)>>>,
}

impl<S> Service<Call> for Auth<S>
where
    S: Service<Call, Response = Value, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Value;
    type Error = BoxError;
    type Future = BoxFut;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: Call) -> BoxFut {
        self.seen.lock().unwrap().push((
            format!("{}.{}", call.service(), call.method()),
            call.id().is_some(),
        ));
        if call.metadata().get("authorization") != Some("secret") {
            let refused =
                RpcError::application(-32001, "unauthorized", json!({"method": call.method()}));
            return Box::pin(async move { Err(refused.into()) });
        }
        Box::pin(self.inner.call(call))
    }
}

#[derive(Clone, Default)]
struct AuthLayer {
    seen: Arc<Mutex<Vec<(String, bool)>>>,
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            seen: Arc::clone(&self.seen),
        }
    }
}

async fn serve(
    bus: &MemoryBus,
    builder: impl FnOnce(clamator::memory::MemoryServerBuilder) -> clamator::memory::MemoryServerBuilder,
) -> MemoryServer {
    builder(bus.server().register(MwContract, Handler).unwrap())
        .start()
        .await
        .unwrap()
}

fn rpc(e: Error) -> RpcError {
    match e {
        Error::Rpc(e) => e,
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_auth_layer_sees_every_request_and_the_callers_metadata() {
    let bus = MemoryBus::new();
    let auth = AuthLayer::default();
    let server = serve(&bus, |b| b.layer(auth.clone())).await;

    let anonymous = bus.client();
    let e = rpc(MwClient::new(&anonymous).look(Empty {}).await.unwrap_err());
    assert_eq!((e.code, e.message.as_str()), (-32001, "unauthorized"));
    assert_eq!(e.data["method"], "look");
    // An unknown method is refused the same way: the layer runs first.
    let e = rpc(anonymous
        .call("mw", "nope", json!({}), None)
        .await
        .unwrap_err());
    assert_eq!(e.code, -32001);

    let metadata = Metadata::new()
        .with("authorization", "secret")
        .unwrap()
        .with("tenant", "acme")
        .unwrap();
    let trusted = bus.client().with_metadata(metadata);
    let mw = MwClient::new(&trusted);
    let seen = mw.look(Empty {}).await.unwrap();
    assert_eq!(seen.tenant.as_deref(), Some("acme"));
    assert_eq!(seen.method, "look");
    // Past the layer, an unknown method is what it always was.
    let e = rpc(trusted
        .call("mw", "nope", json!({}), None)
        .await
        .unwrap_err());
    assert_eq!(e.code, clamator::codes::METHOD_NOT_FOUND);
    // A panic inside is still a handler panic.
    let e = rpc(mw.boom(Empty {}).await.unwrap_err());
    assert_eq!(e.code, clamator::codes::INTERNAL_ERROR);
    assert_eq!(e.data["name"], "panic");
    // Notifications go through the layer too (without an id).
    mw.note(Empty {}).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !auth
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|(m, _)| m == "mw.note")
        {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the notification reached the layer");
    let seen = auth.seen.lock().unwrap().clone();
    assert!(seen.contains(&("mw.note".to_owned(), false)), "{seen:?}");
    assert!(seen.contains(&("mw.nope".to_owned(), true)), "{seen:?}");
    server.stop().await;
}

#[tokio::test]
async fn towers_own_layers_fail_calls_as_middleware_errors_and_the_last_layer_runs_first() {
    let bus = MemoryBus::new();
    let auth = AuthLayer::default();
    // The timeout is added last, so it sees the request first: an
    // unauthorized call is refused by the auth layer inside it.
    let server = serve(&bus, |b| {
        b.layer(auth.clone())
            .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(
                100,
            )))
    })
    .await;
    let client = bus
        .client()
        .with_metadata(Metadata::new().with("authorization", "secret").unwrap());
    let mw = MwClient::new(&client);
    mw.wait(Wait { ms: 1 }).await.unwrap();
    let e = rpc(mw.wait(Wait { ms: 1_000 }).await.unwrap_err());
    assert_eq!(e.code, clamator::codes::INTERNAL_ERROR);
    assert_eq!(e.data["name"], "MiddlewareError");
    assert!(
        e.data["message"].as_str().unwrap().contains("timed out"),
        "{e:?}"
    );
    let e = rpc(MwClient::new(&bus.client())
        .wait(Wait { ms: 1 })
        .await
        .unwrap_err());
    assert_eq!(e.code, -32001);
    server.stop().await;
}

/// A per-method rate limit: `per_window` calls of each method per window,
/// then -32029 until the window ends. State is shared by every clone of the
/// stack (it lives behind the layer's `Arc`).
#[derive(Clone)]
struct PerMethodLimit {
    per_window: u32,
    window: Duration,
    counts: Arc<Mutex<HashMap<String, (tokio::time::Instant, u32)>>>,
}

impl PerMethodLimit {
    /// Whether one more call of `method` fits in its window.
    fn admit(&self, method: &str) -> bool {
        let now = tokio::time::Instant::now();
        let mut counts = self.counts.lock().unwrap();
        let (started, count) = counts.entry(method.to_owned()).or_insert((now, 0));
        if now.duration_since(*started) >= self.window {
            (*started, *count) = (now, 0);
        }
        *count += 1;
        *count <= self.per_window
    }
}

impl<S> Layer<S> for PerMethodLimit
where
    S: Service<Call, Response = Value, Error = BoxError> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    type Service = tower::util::BoxCloneSyncService<Call, Value, BoxError>;

    fn layer(&self, inner: S) -> Self::Service {
        let limit = self.clone();
        let svc = tower::service_fn(move |call: Call| {
            let admitted = limit.admit(call.method());
            let inner = inner.clone();
            async move {
                if !admitted {
                    let refused = RpcError::application(-32029, "rate limited", json!({}));
                    return Err(refused.into());
                }
                inner.oneshot(call).await
            }
        });
        tower::util::BoxCloneSyncService::new(svc)
    }
}

#[tokio::test]
async fn a_per_method_rate_limit_counts_each_method_on_its_own() {
    let bus = MemoryBus::new();
    let limit = PerMethodLimit {
        per_window: 3,
        window: Duration::from_secs(3600),
        counts: Arc::default(),
    };
    let server = serve(&bus, |b| b.layer(limit)).await;
    let client = bus.client();
    let mw = MwClient::new(&client);
    for _ in 0..3 {
        mw.wait(Wait { ms: 0 }).await.unwrap();
    }
    let e = rpc(mw.wait(Wait { ms: 0 }).await.unwrap_err());
    assert_eq!((e.code, e.message.as_str()), (-32029, "rate limited"));
    // Another method has its own budget.
    mw.look(Empty {}).await.unwrap();
    server.stop().await;
}

/// Fails the first attempt of every request id with -32050, and records
/// the ids it saw.
#[derive(Clone, Default)]
struct FlakyOnce {
    ids: Arc<Mutex<Vec<String>>>,
}

impl<S> Layer<S> for FlakyOnce
where
    S: Service<Call, Response = Value, Error = BoxError> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    type Service = tower::util::BoxCloneSyncService<Call, Value, BoxError>;

    fn layer(&self, inner: S) -> Self::Service {
        let ids = Arc::clone(&self.ids);
        tower::util::BoxCloneSyncService::new(tower::service_fn(move |call: Call| {
            let id = call.id().map(clamator::Id::key).unwrap_or_default();
            let first = {
                let mut ids = ids.lock().unwrap();
                let first = !ids.contains(&id);
                ids.push(id);
                first
            };
            let inner = inner.clone();
            async move {
                if first {
                    return Err(RpcError::application(-32050, "try again", json!({})).into());
                }
                inner.oneshot(call).await
            }
        }))
    }
}

/// Retries a call once when the server answered -32050.
#[derive(Clone)]
struct RetryOnce(usize);

impl tower::retry::Policy<CallRequest, clamator::protocol::Response, BoxError> for RetryOnce {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _req: &mut CallRequest,
        result: &mut Result<clamator::protocol::Response, BoxError>,
    ) -> Option<Self::Future> {
        let again = matches!(result, Ok(r) if r.error().is_some_and(|e| e.code == -32050));
        (again && self.0 > 0).then(|| {
            self.0 -= 1;
            std::future::ready(())
        })
    }

    fn clone_request(&mut self, req: &CallRequest) -> Option<CallRequest> {
        Some(req.clone())
    }
}

#[tokio::test]
async fn a_client_stack_retries_with_the_same_request_id_and_times_out_as_a_middleware_error() {
    let bus = MemoryBus::new();
    let flaky = FlakyOnce::default();
    let server = serve(&bus, |b| b.layer(flaky.clone())).await;
    let client = Arc::new(bus.client());
    let stack = ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(RetryOnce(1)))
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(
            200,
        )));
    let layered = LayeredClient::new(Arc::clone(&client), stack);
    let mw = MwClient::new(&layered);
    mw.wait(Wait { ms: 0 }).await.unwrap();
    let ids = flaky.ids.lock().unwrap().clone();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], ids[1], "a retry keeps the request id");

    // tower's Timeout fires before the 30 s call timeout.
    let e = mw.wait(Wait { ms: 1_000 }).await.unwrap_err();
    match &e {
        Error::Middleware(inner) => {
            assert!(inner.is::<tower::timeout::error::Elapsed>(), "{inner:?}")
        }
        other => panic!("expected a middleware error, got {other:?}"),
    }
    // Notifications bypass the stack.
    mw.note(Empty {}).await.unwrap();
    server.stop().await;
}
