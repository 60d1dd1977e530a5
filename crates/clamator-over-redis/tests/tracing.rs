//! Spans and trace context across a real Redis: without OpenTelemetry (a
//! recording layer of our own) the client and server spans share a
//! `trace_id` and the request entry carries a `traceparent`; with
//! OpenTelemetry (an in-memory exporter) the server span is the client
//! span's child, and a reclaimed entry's span is linked instead.
//!
//! Every test runs on a current-thread runtime with a thread-default
//! subscriber, so the server's and client's tasks report to that test's
//! subscriber only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use clamator_over_redis::ServerOptions;
use clamator_over_redis::ops::keys;
use clamator_protocol::transport::trace_context::TraceParent;
use clamator_test_support::context::*;
use clamator_test_support::spans::SpanRecorder;
use clamator_test_support::{TestArith, TestContext};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;

/// The fields of the only request entry on `stream`.
async fn only_entry(ctx: &TestContext) -> (String, HashMap<String, String>) {
    let mut raw = ctx.raw().await;
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(ctx.stream())
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(entries.ids.len(), 1, "one request entry");
    let e = &entries.ids[0];
    let fields = e
        .map
        .iter()
        .map(|(k, v)| (k.clone(), redis::from_redis_value_ref::<String>(v).unwrap()))
        .collect();
    (e.id.clone(), fields)
}

#[tokio::test]
async fn client_and_server_spans_share_a_trace_id_without_opentelemetry() {
    let recorder = SpanRecorder::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(recorder.clone()));
    let ctx = TestContext::new();
    let arith = TestArith::new();
    // No trimming: the request entry stays to be read back.
    let server = ctx
        .server(ServerOptions::default().trim_command_streams(false), &arith)
        .await;
    let client = ctx.client().await;
    let sum = within(client.call("arith", "add", json!({"a": 2, "b": 3}), None))
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 5.0}));

    // The entry carries a valid traceparent beside type / envelope / reply-to.
    let (entry_id, fields) = only_entry(&ctx).await;
    let tp = TraceParent::parse(fields["traceparent"].as_bytes()).expect("a valid traceparent");
    assert_eq!(fields["type"], "rpc");
    assert!(
        !fields.contains_key("tracestate"),
        "none without OpenTelemetry"
    );

    let calls = recorder.named("clamator.call");
    let handles = recorder.named("clamator.handle");
    assert_eq!(
        (calls.len(), handles.len()),
        (1, 1),
        "{calls:?} {handles:?}"
    );
    let (call, handle) = (&calls[0], &handles[0]);
    assert_eq!(call.get("trace_id"), Some(tp.trace_id_hex().as_str()));
    assert_eq!(handle.get("trace_id"), call.get("trace_id"), "one trace");
    assert_eq!(handle.get("parent_span_id"), call.get("span_id"));
    assert_eq!(call.get("span_id"), Some(tp.span_id_hex().as_str()));
    for span in [call, handle] {
        assert_eq!(span.get("otel.name"), Some("arith/add"));
        assert_eq!(span.get("rpc.system"), Some("jsonrpc"));
        assert_eq!(span.get("rpc.service"), Some("arith"));
        assert_eq!(span.get("rpc.method"), Some("add"));
        assert_eq!(
            span.get("messaging.destination.name"),
            Some(ctx.stream().as_str())
        );
        assert_eq!(span.get("messaging.message.id"), Some(entry_id.as_str()));
        assert!(span.get("rpc.jsonrpc.request_id").is_some());
        assert_eq!(span.get("rpc.jsonrpc.error_code"), None);
    }
    assert_eq!(
        handle.get("rpc.jsonrpc.request_id"),
        call.get("rpc.jsonrpc.request_id")
    );
    assert_eq!(
        (call.get("otel.kind"), handle.get("otel.kind")),
        (Some("client"), Some("server"))
    );
    assert_eq!(handle.get("messaging.consumer.group.name"), Some("arith"));
    assert_eq!(handle.get("clamator.delivery_count"), Some("1"));

    // An error reply: its code on both spans.
    let err = within(client.call("arith", "divide", json!({"a": 1, "b": 0}), None))
        .await
        .unwrap_err();
    assert_eq!(err.as_rpc().unwrap().code, -32000);
    let call = recorder.named("clamator.call").pop().unwrap();
    let handle = recorder.named("clamator.handle").pop().unwrap();
    for span in [&call, &handle] {
        assert_eq!(
            span.get("rpc.jsonrpc.error_code"),
            Some("-32000"),
            "{span:?}"
        );
        assert_eq!(span.get("error.type"), Some("-32000"));
        assert_eq!(span.get("otel.status_code"), Some("ERROR"));
    }
    assert_eq!(handle.get("trace_id"), call.get("trace_id"));
    assert_ne!(
        call.get("trace_id"),
        Some(tp.trace_id_hex().as_str()),
        "a new trace per call"
    );
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn an_invalid_traceparent_is_ignored_and_the_request_answered() {
    let recorder = SpanRecorder::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(recorder.clone()));
    let ctx = TestContext::new();
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let mut conn = ctx.raw().await;
    let reply_to = keys::reply_stream(ctx.prefix(), "junk-trace");
    let envelope = r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":1},"id":"j1"}"#;
    xadd_raw(
        &mut conn,
        &ctx.stream(),
        &[
            ("type", b"rpc"),
            ("envelope", envelope.as_bytes()),
            ("reply-to", reply_to.as_bytes()),
            ("traceparent", b"00-zz-\xff-01"),
            ("tracestate", b"k=v"),
        ],
    )
    .await;
    let (_, reply) = read_reply(&mut conn, &reply_to, "0").await;
    assert_eq!(reply["result"], json!({"sum": 2.0}));
    let handle = recorder.named("clamator.handle").pop().unwrap();
    assert_eq!(handle.get("parent_span_id"), None, "no parent from junk");
    assert_eq!(
        handle.get("trace_id").map(str::len),
        Some(32),
        "a trace of its own"
    );
    server.stop().await;
}

mod otel {
    use super::*;
    use opentelemetry::trace::{SpanKind, TraceContextExt, TracerProvider as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    /// A subscriber exporting to memory, set as this thread's default.
    fn install() -> (
        InMemorySpanExporter,
        SdkTracerProvider,
        tracing::subscriber::DefaultGuard,
    ) {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("clamator-test"));
        let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        (exporter, provider, guard)
    }

    fn finished(exporter: &InMemorySpanExporter, provider: &SdkTracerProvider) -> Vec<SpanData> {
        provider.force_flush().unwrap();
        exporter.get_finished_spans().unwrap()
    }

    fn attr(span: &SpanData, key: &str) -> Option<String> {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    }

    #[tokio::test]
    async fn the_server_span_is_the_client_spans_child_in_one_trace() {
        let (exporter, provider, _guard) = install();
        let ctx = TestContext::new();
        let arith = TestArith::new();
        let server = ctx
            .server(ServerOptions::default().trim_command_streams(false), &arith)
            .await;
        let client = ctx.client().await;
        // Called inside an application span: the client span is its child.
        let app = tracing::info_span!("app.request");
        let app_trace = app.context().span().span_context().trace_id();
        let sum = within(tracing::Instrument::instrument(
            client.call("arith", "add", json!({"a": 2, "b": 3}), None),
            app,
        ))
        .await
        .unwrap();
        assert_eq!(sum, json!({"sum": 5.0}));
        client.close().await;
        server.stop().await;

        let spans = finished(&exporter, &provider);
        let by_kind = |kind: SpanKind| {
            spans
                .iter()
                .find(|s| s.span_kind == kind && s.name == "arith/add")
                .unwrap_or_else(|| panic!("a {kind:?} span arith/add in {spans:#?}"))
        };
        let (client_span, server_span) = (by_kind(SpanKind::Client), by_kind(SpanKind::Server));
        let trace_id = client_span.span_context.trace_id();
        assert_eq!(trace_id, app_trace, "the caller's trace");
        assert_eq!(server_span.span_context.trace_id(), trace_id, "one trace");
        assert_eq!(
            server_span.parent_span_id,
            client_span.span_context.span_id()
        );
        assert!(server_span.parent_span_is_remote);
        assert!(server_span.links.is_empty());
        assert_eq!(attr(server_span, "rpc.system").as_deref(), Some("jsonrpc"));
        assert_eq!(attr(server_span, "rpc.method").as_deref(), Some("add"));
        assert_eq!(
            attr(server_span, "trace_id"),
            Some(format!("{trace_id}")),
            "trace_id recorded for logs too"
        );
        // On the wire, the client span's context.
        let (_, fields) = only_entry(&ctx).await;
        let tp = TraceParent::parse(fields["traceparent"].as_bytes()).unwrap();
        assert_eq!(tp.trace_id(), trace_id.to_bytes());
        assert_eq!(tp.span_id(), client_span.span_context.span_id().to_bytes());
    }

    #[tokio::test]
    async fn a_reclaimed_entry_starts_a_linked_span_not_a_child() {
        let (exporter, provider, _guard) = install();
        let ctx = TestContext::new();
        let stream = ctx.stream();
        let mut conn = ctx.raw().await;
        // A worker that read the entry and died: delivered once, never acked.
        create_group(&mut conn, &stream).await;
        let caller = TraceParent::new_root();
        let reply_to = keys::reply_stream(ctx.prefix(), "linked");
        let envelope = r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":"r1"}"#;
        xadd_raw(
            &mut conn,
            &stream,
            &[
                ("type", b"rpc"),
                ("envelope", envelope.as_bytes()),
                ("reply-to", reply_to.as_bytes()),
                ("traceparent", caller.to_string().as_bytes()),
            ],
        )
        .await;
        let _: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("arith")
            .arg("arith:dead-worker")
            .arg("COUNT")
            .arg(1)
            .arg("STREAMS")
            .arg(&stream)
            .arg(">")
            .query_async(&mut conn)
            .await
            .unwrap();
        let arith = TestArith::new();
        let options = ServerOptions::default().consumer_claim_idle(Duration::from_millis(200));
        let server = ctx.server(options, &arith).await;
        let (_, reply) = read_reply(&mut conn, &reply_to, "0").await;
        assert_eq!(reply["result"], json!({"sum": 3.0}));
        server.stop().await;

        let spans = finished(&exporter, &provider);
        let handled = spans
            .iter()
            .find(|s| s.span_kind == SpanKind::Server && s.name == "arith/add")
            .unwrap_or_else(|| panic!("a server span in {spans:#?}"));
        let caller_trace = opentelemetry::trace::TraceId::from_bytes(caller.trace_id());
        let caller_span = opentelemetry::trace::SpanId::from_bytes(caller.span_id());
        assert_ne!(handled.span_context.trace_id(), caller_trace, "not a child");
        assert_eq!(
            handled.parent_span_id,
            opentelemetry::trace::SpanId::INVALID
        );
        let links: Vec<_> = handled.links.iter().collect();
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!(links[0].span_context.trace_id(), caller_trace);
        assert_eq!(links[0].span_context.span_id(), caller_span);
        assert_eq!(
            attr(handled, "clamator.delivery_count").as_deref(),
            Some("2")
        );
        assert_eq!(
            attr(handled, "link.trace_id"),
            Some(caller.trace_id_hex()),
            "the link as fields too, for logs"
        );
    }
}
