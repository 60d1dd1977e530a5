//! What a handler may know about the request it runs: its id, its caller's
//! deadline, how often it was delivered, its trace, and a signal fired when
//! running it further is pointless.
//!
//! A contract method takes a [`Context`] by naming it as its last argument:
//!
//! ```ignore
//! #[clamator::contract(service = "arith")]
//! trait Arith {
//!     async fn slow_add(&self, params: SlowAddParams, ctx: clamator::Context) -> Result<Sum, RpcError>;
//! }
//! ```
//!
//! Methods that do not name it cost nothing for it: the transport builds a
//! context only for methods that take one ([`crate::Service::wants_context`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::envelope::Id;
use crate::metadata::Metadata;

/// The request a handler runs, as far as the transport knows it.
///
/// Cheap to clone (one `Arc`). Transports build it with [`Context::new`] and
/// the `with_*` methods; handlers read it.
#[derive(Debug, Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    service: String,
    method: String,
    id: Option<Id>,
    deadline: Option<Instant>,
    delivery: Option<u64>,
    trace_id: Option<String>,
    metadata: Metadata,
    cancel: CancellationToken,
}

impl Context {
    /// A context for `service.method` with request id `id` (`None`: a
    /// notification), no deadline and a signal that fires only when
    /// [`Context::cancel`] (or a token given by [`Context::with_cancel`]) fires.
    pub fn new(service: impl Into<String>, method: impl Into<String>, id: Option<Id>) -> Context {
        Context {
            inner: Arc::new(Inner {
                service: service.into(),
                method: method.into(),
                id,
                deadline: None,
                delivery: None,
                trace_id: None,
                metadata: Metadata::new(),
                cancel: CancellationToken::new(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Context {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => f(inner),
            None => {
                let old = &self.inner;
                let mut inner = Inner {
                    service: old.service.clone(),
                    method: old.method.clone(),
                    id: old.id.clone(),
                    deadline: old.deadline,
                    delivery: old.delivery,
                    trace_id: old.trace_id.clone(),
                    metadata: old.metadata.clone(),
                    cancel: old.cancel.clone(),
                };
                f(&mut inner);
                self.inner = Arc::new(inner);
            }
        }
        self
    }

    /// The moment the caller stops waiting for the reply (from the `timeout-ms`
    /// a Rust caller sends, measured on the broker's clock). The transport
    /// fires [`Context::cancelled`] when it passes.
    #[must_use]
    pub fn with_deadline(self, deadline: Instant) -> Context {
        self.edit(|i| i.deadline = Some(deadline))
    }

    /// How many times the request has been delivered, this delivery
    /// included (1 for the first; more after a worker died holding it).
    #[must_use]
    pub fn with_delivery(self, delivery: u64) -> Context {
        self.edit(|i| i.delivery = Some(delivery))
    }

    /// The W3C trace id (32 hex digits) the caller's `traceparent` carried.
    #[must_use]
    pub fn with_trace_id(self, trace_id: impl Into<String>) -> Context {
        let trace_id = trace_id.into();
        self.edit(|i| i.trace_id = Some(trace_id))
    }

    /// The caller's request [`Metadata`] (an auth token, a tenant, ...).
    #[must_use]
    pub fn with_metadata(self, metadata: Metadata) -> Context {
        self.edit(|i| i.metadata = metadata)
    }

    /// Fires [`Context::cancelled`] when `token` is cancelled (the transport
    /// keeps the token: a server stopping, a caller that gave up).
    #[must_use]
    pub fn with_cancel(self, token: CancellationToken) -> Context {
        self.edit(|i| i.cancel = token)
    }

    /// The service the request is addressed to.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The method called (without the service).
    pub fn method(&self) -> &str {
        &self.inner.method
    }

    /// The request's id; `None` for a notification.
    pub fn request_id(&self) -> Option<&Id> {
        self.inner.id.as_ref()
    }

    /// When the caller stops waiting, if it said (Rust callers send
    /// `timeout-ms`; the Python and TypeScript peers do not).
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline
    }

    /// How long until [`Context::deadline`]; zero once it passed, `None`
    /// without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.inner
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// How many times the request has been delivered (1: the first time), if
    /// the transport knows.
    pub fn delivery(&self) -> Option<u64> {
        self.inner.delivery
    }

    /// The caller's W3C trace id, if it sent a `traceparent`.
    pub fn trace_id(&self) -> Option<&str> {
        self.inner.trace_id.as_deref()
    }

    /// The metadata the caller sent with the request (empty when it sent
    /// none; the Python and TypeScript peers send none).
    pub fn metadata(&self) -> &Metadata {
        &self.inner.metadata
    }

    /// Whether running this request further is pointless: its caller's
    /// deadline passed, the server's grace period at stop ended, or the
    /// caller cancelled the call.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Completes when [`Context::is_cancelled`] turns true; a handler that
    /// can stop early selects on it. Pending forever when nothing fires it.
    pub async fn cancelled(&self) {
        self.inner.cancel.cancelled().await;
    }

    /// Fires the signal (for transports, and for tests of handlers).
    pub fn cancel(&self) {
        self.inner.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_set_what_handlers_read() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let ctx = Context::new("arith", "add", Some(Id::Int(7)))
            .with_deadline(deadline)
            .with_delivery(2)
            .with_trace_id("0af7651916cd43dd8448eb211c80319c");
        assert_eq!((ctx.service(), ctx.method()), ("arith", "add"));
        assert_eq!(ctx.request_id(), Some(&Id::Int(7)));
        assert_eq!(ctx.deadline(), Some(deadline));
        assert!(ctx.remaining().is_some_and(|r| r <= Duration::from_secs(5)));
        assert_eq!(ctx.delivery(), Some(2));
        assert_eq!(ctx.trace_id(), Some("0af7651916cd43dd8448eb211c80319c"));
        assert!(!ctx.is_cancelled());
    }

    #[test]
    fn the_signal_reaches_every_clone_and_a_given_token_drives_it() {
        let token = CancellationToken::new();
        let ctx = Context::new("arith", "slowAdd", None).with_cancel(token.clone());
        let clone = ctx.clone();
        // A builder on a shared context copies it and keeps the signal.
        let later = clone.clone().with_delivery(1);
        token.cancel();
        assert!(ctx.is_cancelled() && clone.is_cancelled() && later.is_cancelled());
        futures::executor::block_on(later.cancelled());
    }

    #[test]
    fn a_past_deadline_leaves_nothing_remaining() {
        let ctx = Context::new("a", "b", None).with_deadline(Instant::now());
        assert_eq!(ctx.remaining(), Some(Duration::ZERO));
        assert_eq!(Context::new("a", "b", None).remaining(), None);
    }
}
