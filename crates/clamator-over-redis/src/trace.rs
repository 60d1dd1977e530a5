//! Tracing: the client span of each call, the server span of each handled
//! entry, and the W3C trace context carried between them as the stream-entry
//! fields `traceparent` / `tracestate` (the peers ignore unknown fields, so
//! the envelope and the wire contract do not change).
//!
//! Spans are `tracing` spans, always on (a subscriber decides what becomes of
//! them). Their names are fixed (`clamator.call`, `clamator.notify`,
//! `clamator.handle`); `otel.name` (`{service}/{method}`) and `otel.kind`
//! are what tracing-opentelemetry names and classifies them by.
//!
//! Without the `opentelemetry` feature, trace ids are our own: a client
//! sends a fresh trace (or, inside a handler, the handler's trace) and
//! records it as `trace_id`; the server span records the same `trace_id`
//! and the caller's span id as `parent_span_id`. With the feature, the
//! current OpenTelemetry context is injected and the server span's parent is
//! set from the extracted one (`otel` below). A redelivered entry (delivery
//! count above 1: reclaimed after its first worker died or hung) starts a
//! new trace linked to the caller's context rather than a second child of it.

use clamator_protocol::transport::trace_context::{
    TraceParent, parse_tracestate, record_rpc_error_code_on,
};
use clamator_protocol::{Error, Response, TransportError};
use tracing::Span;
use tracing::field::Empty;

use crate::entry::Entry;

tokio::task_local! {
    /// The trace context of the server span whose handler runs on this
    /// task, so calls the handler makes continue its trace (without
    /// OpenTelemetry; with it, the span context does that).
    static HANDLING: TraceParent;
}

/// `messaging.system` of every span: Redis Streams has no registered value.
pub(crate) const MESSAGING_SYSTEM: &str = "redis";

/// What a client writes beside the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outgoing {
    /// The `traceparent` value.
    pub(crate) traceparent: String,
    /// The `tracestate` value, when there is one.
    pub(crate) tracestate: Option<String>,
}

impl Outgoing {
    /// The fields to XADD.
    pub(crate) fn fields(&self) -> crate::commands::TraceFields<'_> {
        crate::commands::TraceFields {
            traceparent: &self.traceparent,
            tracestate: self.tracestate.as_deref(),
        }
    }
}

/// The client span of a call (`request_id` given) or a notification.
pub(crate) fn client_span(
    service: &str,
    method: &str,
    stream: &str,
    request_id: Option<&str>,
) -> Span {
    let span = match request_id {
        Some(_) => tracing::info_span!("clamator.call",
            otel.name = Empty, otel.kind = "client", otel.status_code = Empty,
            rpc.system = "jsonrpc", rpc.service = %service, rpc.method = %method,
            rpc.jsonrpc.version = "2.0", rpc.jsonrpc.request_id = Empty,
            rpc.jsonrpc.error_code = Empty, error.type = Empty,
            messaging.system = MESSAGING_SYSTEM, messaging.destination.name = %stream,
            messaging.message.id = Empty, trace_id = Empty, span_id = Empty,
            clamator.retries = Empty),
        None => tracing::info_span!("clamator.notify",
            otel.name = Empty, otel.kind = "client", otel.status_code = Empty,
            rpc.system = "jsonrpc", rpc.service = %service, rpc.method = %method,
            rpc.jsonrpc.version = "2.0", error.type = Empty,
            messaging.system = MESSAGING_SYSTEM, messaging.destination.name = %stream,
            messaging.message.id = Empty, trace_id = Empty, span_id = Empty),
    };
    // Formatted only for a span something records: the call path of a
    // process without a subscriber allocates nothing for tracing.
    if !span.is_disabled() {
        span.record("otel.name", format!("{service}/{method}"));
        if let Some(id) = request_id {
            span.record("rpc.jsonrpc.request_id", id);
        }
    }
    span
}

/// The trace context to send with a request made in `span`: the span's
/// OpenTelemetry context when it has a valid one (feature `opentelemetry`),
/// otherwise a new span id in the trace of the handler this runs in, or a
/// new trace when `span` is recorded. Records `trace_id` and `span_id` on
/// `span`. `None` (no `traceparent` sent) when there is no trace at all:
/// no handler's trace to continue and nothing records the client span (no
/// subscriber, or its level filtered out), so no trace id would ever be
/// seen on this side.
pub(crate) fn outgoing(span: &Span) -> Option<Outgoing> {
    #[cfg(feature = "opentelemetry")]
    if let Some((out, parent)) = otel::inject(span) {
        record_ids(span, &parent);
        return Some(out);
    }
    let parent = match HANDLING.try_with(TraceParent::new_child) {
        Ok(parent) => parent,
        Err(_) if span.is_disabled() => return None,
        Err(_) => TraceParent::new_root(),
    };
    record_ids(span, &parent);
    Some(Outgoing {
        traceparent: parent.to_string(),
        tracestate: None,
    })
}

fn record_ids(span: &Span, tp: &TraceParent) {
    if span.is_disabled() {
        return;
    }
    span.record("trace_id", tp.trace_id_hex());
    span.record("span_id", tp.span_id_hex());
}

/// Records the entry id an `XADD` returned as `messaging.message.id`.
pub(crate) fn record_message_id(span: &Span, reply: &redis::Value) {
    let id = match reply {
        redis::Value::BulkString(id) => std::str::from_utf8(id).ok(),
        redis::Value::SimpleString(id) | redis::Value::VerbatimString { text: id, .. } => {
            Some(id.as_str())
        }
        _ => None,
    };
    if let Some(id) = id {
        span.record("messaging.message.id", id);
    }
}

/// Records on a call's span how many times its request was sent again
/// (`clamator.retries`; absent when it was sent once).
pub(crate) fn record_retries(span: &Span, resends: u32) {
    span.record("clamator.retries", resends);
}

/// Records how a call ended: an error response's code, or a failure.
pub(crate) fn record_call_outcome(span: &Span, outcome: &Result<Response, Error>) {
    match outcome {
        Ok(Response::Error { error, .. }) => record_rpc_error_code_on(span, error.code),
        Ok(_) => {}
        Err(error) => record_error(span, error),
    }
}

/// Records a failed call or notification: the RPC error code, or what kind
/// of failure it was as `error.type` (`timeout`, `connection_lost`, ...).
pub(crate) fn record_error(span: &Span, error: &Error) {
    let kind = match error {
        Error::Rpc(rpc) => return record_rpc_error_code_on(span, rpc.code),
        Error::Protocol(_) => "protocol",
        Error::Transport(TransportError::Timeout { .. }) => "timeout",
        Error::Transport(TransportError::Stopped) => "stopped",
        Error::Transport(TransportError::ConnectionLost { .. }) => "connection_lost",
        Error::Transport(TransportError::Refused { .. }) => "refused",
        Error::Transport(TransportError::Unavailable { .. }) => "unavailable",
        Error::Transport(TransportError::NoServer { .. }) => "no_server",
        _ => "other",
    };
    span.record("error.type", kind);
    span.record("otel.status_code", "ERROR");
}

/// The trace context an entry carries, read junk-tolerantly: an invalid
/// `traceparent` is no context (and its `tracestate` is dropped with it).
pub(crate) fn incoming(traceparent: Option<&[u8]>, tracestate: Option<&[u8]>) -> Option<Incoming> {
    let parent = TraceParent::parse(traceparent?)?;
    Some(Incoming {
        parent,
        tracestate: tracestate.and_then(parse_tracestate),
    })
}

/// The trace context of a request entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Incoming {
    /// The caller's `traceparent`.
    pub(crate) parent: TraceParent,
    /// The caller's `tracestate`.
    pub(crate) tracestate: Option<String>,
}

/// The server span's own trace context: known at once without
/// OpenTelemetry; with it, only once the span is started (entering it starts
/// it, and its name, `{service}/{method}`, must be recorded before that).
#[derive(Debug)]
pub(crate) struct ServerTrace {
    own: std::sync::OnceLock<TraceParent>,
}

impl ServerTrace {
    /// The span's own context (starting it with OpenTelemetry), recorded as
    /// `trace_id` / `span_id` the first time: what calls made by its handler
    /// continue.
    pub(crate) fn own(&self, span: &Span) -> TraceParent {
        *self.own.get_or_init(|| {
            #[cfg(feature = "opentelemetry")]
            let own = otel::own(span).unwrap_or_else(TraceParent::new_root);
            #[cfg(not(feature = "opentelemetry"))]
            let own = TraceParent::new_root();
            record_ids(span, &own);
            own
        })
    }

    /// Runs `f` (an event) in `span`, starting it first.
    pub(crate) fn event(&self, span: &Span, f: impl FnOnce()) {
        self.own(span);
        span.in_scope(f);
    }
}

/// The server span of one entry, its trace continued (or, for a
/// redelivered entry, linked). `rpc.method`, `otel.name` and
/// `rpc.jsonrpc.request_id` are recorded once the envelope is read
/// ([`record_request`]): enter the span only after that.
pub(crate) fn server_span(
    service: &str,
    stream: &str,
    group: &str,
    consumer: &str,
    entry: &Entry,
) -> (Span, ServerTrace) {
    let span = tracing::info_span!("clamator.handle",
        otel.name = %service, otel.kind = "server", otel.status_code = Empty,
        rpc.system = "jsonrpc", rpc.service = %service, rpc.method = Empty,
        rpc.jsonrpc.version = "2.0", rpc.jsonrpc.request_id = Empty,
        rpc.jsonrpc.error_code = Empty, error.type = Empty,
        messaging.system = MESSAGING_SYSTEM, messaging.destination.name = %stream,
        messaging.consumer.group.name = %group, messaging.client.id = %consumer,
        messaging.message.id = %entry.id, clamator.delivery_count = Empty,
        trace_id = Empty, span_id = Empty, parent_span_id = Empty,
        link.trace_id = Empty, link.span_id = Empty);
    if let Some(n) = entry.deliveries {
        span.record("clamator.delivery_count", n);
    }
    let redelivered = entry.deliveries.is_some_and(|n| n > 1);
    // Formatted only for a span something records.
    if let Some(ctx) = entry.trace.as_ref().filter(|_| !span.is_disabled()) {
        if redelivered {
            span.record("link.trace_id", ctx.parent.trace_id_hex());
            span.record("link.span_id", ctx.parent.span_id_hex());
        } else {
            span.record("parent_span_id", ctx.parent.span_id_hex());
        }
    }
    let trace = ServerTrace {
        own: std::sync::OnceLock::new(),
    };
    #[cfg(feature = "opentelemetry")]
    if otel::extract(&span, entry.trace.as_ref(), redelivered) {
        return (span, trace); // own ids once started
    }
    let own = match &entry.trace {
        Some(ctx) if !redelivered => ctx.parent.new_child(),
        _ => TraceParent::new_root(),
    };
    record_ids(&span, &own);
    let _ = trace.own.set(own);
    (span, trace)
}

/// Records what the envelope said: the method, and the request id (`None`
/// for a notification).
pub(crate) fn record_request(
    span: &Span,
    service: &str,
    method: &str,
    id: Option<&clamator_protocol::Id>,
) {
    if span.is_disabled() {
        return;
    }
    span.record("otel.name", format!("{service}/{method}"));
    span.record("rpc.method", method);
    if let Some(id) = id {
        span.record("rpc.jsonrpc.request_id", id.key());
    }
}

/// Runs `fut` (a handler) with `ctx` as the context its calls continue.
/// The task-local future itself, not an `async fn` around it: that would
/// hold `fut` twice (its argument and its awaited copy), in every
/// handler's task.
pub(crate) fn handling<F: Future>(
    ctx: TraceParent,
    fut: F,
) -> tokio::task::futures::TaskLocalFuture<TraceParent, F> {
    HANDLING.scope(ctx, fut)
}

#[cfg(feature = "opentelemetry")]
mod otel {
    //! The bridge to OpenTelemetry: W3C inject and extract with
    //! `TraceContextPropagator`, parents and links through
    //! tracing-opentelemetry.

    use std::collections::HashMap;

    use clamator_protocol::transport::trace_context::TraceParent;
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing::Span;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::{Incoming, Outgoing};

    /// The span context of `cx` as a [`TraceParent`], when valid.
    fn trace_parent(cx: &opentelemetry::Context) -> Option<TraceParent> {
        let sc = cx.span().span_context().clone();
        if !sc.is_valid() {
            return None;
        }
        TraceParent::from_parts(
            sc.trace_id().to_bytes(),
            sc.span_id().to_bytes(),
            sc.trace_flags().to_u8(),
        )
    }

    /// `span`'s OpenTelemetry context, injected; `None` without an
    /// OpenTelemetry layer (or with an invalid context).
    pub(super) fn inject(span: &Span) -> Option<(Outgoing, TraceParent)> {
        let cx = span.context();
        let parent = trace_parent(&cx)?;
        let mut carrier: HashMap<String, String> = HashMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut carrier);
        let traceparent = carrier.remove("traceparent")?;
        let tracestate = carrier.remove("tracestate").filter(|s| !s.is_empty());
        Some((
            Outgoing {
                traceparent,
                tracestate,
            },
            parent,
        ))
    }

    /// Makes the caller's context `span`'s parent (a link instead when
    /// `redelivered`, and no parent: a new trace); `false` without an
    /// OpenTelemetry layer. Does not start the span.
    pub(super) fn extract(span: &Span, incoming: Option<&Incoming>, redelivered: bool) -> bool {
        let caller = incoming.map(|incoming| {
            let mut carrier: HashMap<String, String> = HashMap::new();
            carrier.insert("traceparent".to_owned(), incoming.parent.to_string());
            if let Some(state) = &incoming.tracestate {
                carrier.insert("tracestate".to_owned(), state.clone());
            }
            TraceContextPropagator::new().extract(&carrier)
        });
        let parent = match &caller {
            Some(cx) if !redelivered => cx.clone(),
            _ => opentelemetry::Context::new(),
        };
        if span.set_parent(parent).is_err() {
            return false;
        }
        if let (Some(cx), true) = (caller, redelivered) {
            span.add_link(cx.span().span_context().clone());
        }
        true
    }

    /// `span`'s own context (starts it).
    pub(super) fn own(span: &Span) -> Option<TraceParent> {
        trace_parent(&span.context())
    }
}
