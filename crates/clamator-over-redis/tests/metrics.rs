//! What the `metrics` feature records for a call, an RPC error, a timeout and
//! a notification, seen through `metrics-util`'s debugging recorder.
//!
//! The recorder is this thread's local one, and the test runs on a
//! current-thread runtime, so the client's and the server's tasks all record
//! into it and nothing else in the binary does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use clamator_over_redis::ServerOptions;
use clamator_test_support::context::*;
use clamator_test_support::{TestArith, TestContext};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::json;

/// A metric as recorded: name, labels (sorted) and value.
type Recorded = Vec<(String, Vec<(String, String)>, DebugValue)>;

fn recorded(snapshot: metrics_util::debugging::Snapshot) -> Recorded {
    snapshot
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            (key.name().to_owned(), labels, value)
        })
        .collect()
}

/// The value of the metric with this name and exactly these labels.
fn value<'a>(all: &'a Recorded, name: &str, labels: &[(&str, &str)]) -> Option<&'a DebugValue> {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    want.sort();
    all.iter()
        .find(|(n, l, _)| n == name && *l == want)
        .map(|(_, _, v)| v)
}

fn counter(all: &Recorded, name: &str, labels: &[(&str, &str)]) -> u64 {
    match value(all, name, labels) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name} {labels:?}: {other:?}\nall: {all:#?}"),
    }
}

fn gauge(all: &Recorded, name: &str, labels: &[(&str, &str)]) -> f64 {
    match value(all, name, labels) {
        Some(DebugValue::Gauge(v)) => v.into_inner(),
        other => panic!("{name} {labels:?}: {other:?}\nall: {all:#?}"),
    }
}

/// The durations recorded in a histogram (seconds).
fn histogram(all: &Recorded, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    match value(all, name, labels) {
        Some(DebugValue::Histogram(v)) => v.iter().map(|f| f.into_inner()).collect(),
        other => panic!("{name} {labels:?}: {other:?}\nall: {all:#?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn client_and_server_record_calls_errors_timeouts_and_notifications() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);

    let ctx = TestContext::new();
    let arith = TestArith::new();
    let server = ctx.server(ServerOptions::default(), &arith).await;
    let client = ctx.client().await;

    for b in [1, 2] {
        within(client.call("arith", "add", json!({"a": 1, "b": b}), None))
            .await
            .unwrap();
    }
    let err = within(client.call("arith", "divide", json!({"a": 1, "b": 0}), None))
        .await
        .unwrap_err();
    assert_eq!(err.as_rpc().unwrap().code, -32000);
    // Nobody serves `nobody`: no reply within the timeout.
    let err = within(client.call("nobody", "add", json!({}), Some(Duration::from_millis(200))))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    within(client.notify("arith", "ping", json!({})))
        .await
        .unwrap();
    arith.pinged_at_least(1).await;
    client.close().await;
    server.stop().await;

    let all = recorded(snapshotter.snapshot());
    let add_ok = [
        ("rpc.service", "arith"),
        ("rpc.method", "add"),
        ("outcome", "ok"),
    ];
    let divide_err = [
        ("rpc.service", "arith"),
        ("rpc.method", "divide"),
        ("outcome", "rpc_error"),
    ];
    let timed_out = [
        ("rpc.service", "nobody"),
        ("rpc.method", "add"),
        ("outcome", "timeout"),
    ];

    // Client side.
    assert_eq!(counter(&all, "clamator.client.calls", &add_ok), 2);
    assert_eq!(counter(&all, "clamator.client.calls", &divide_err), 1);
    assert_eq!(counter(&all, "clamator.client.calls", &timed_out), 1);
    let add_durations = histogram(&all, "rpc.client.duration", &add_ok);
    assert_eq!(add_durations.len(), 2);
    assert!(
        add_durations.iter().all(|s| *s > 0.0 && *s < 10.0),
        "{add_durations:?}"
    );
    let timeout_durations = histogram(&all, "rpc.client.duration", &timed_out);
    assert_eq!(timeout_durations.len(), 1);
    assert!(timeout_durations[0] >= 0.2, "{timeout_durations:?}");
    assert_eq!(
        counter(
            &all,
            "clamator.client.timeouts",
            &[("rpc.service", "nobody"), ("rpc.method", "add")]
        ),
        1
    );
    assert_eq!(
        counter(
            &all,
            "clamator.client.notifications",
            &[
                ("rpc.service", "arith"),
                ("rpc.method", "ping"),
                ("outcome", "ok")
            ]
        ),
        1
    );
    // Up and back down again.
    for service in ["arith", "nobody"] {
        let in_flight = gauge(
            &all,
            "clamator.client.calls_in_flight",
            &[("rpc.service", service)],
        );
        assert_eq!(in_flight, 0.0, "{service}");
    }

    // Server side.
    assert_eq!(counter(&all, "clamator.server.requests", &add_ok), 2);
    let mut divide_code = divide_err.to_vec();
    divide_code.push(("rpc.jsonrpc.error_code", "-32000"));
    assert_eq!(counter(&all, "clamator.server.requests", &divide_code), 1);
    let ping = [
        ("rpc.service", "arith"),
        ("rpc.method", "ping"),
        ("outcome", "notification"),
    ];
    assert_eq!(counter(&all, "clamator.server.requests", &ping), 1);
    assert_eq!(histogram(&all, "rpc.server.duration", &add_ok).len(), 2);
    assert_eq!(histogram(&all, "rpc.server.duration", &divide_err).len(), 1);
    assert_eq!(
        gauge(
            &all,
            "clamator.server.handlers_busy",
            &[("rpc.service", "arith")]
        ),
        0.0
    );
}
