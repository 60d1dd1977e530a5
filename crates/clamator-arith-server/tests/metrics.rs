//! `arith-server --metrics-addr`: the Prometheus text it serves after a few
//! calls, an RPC error and a notification.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use clamator::redis::{ClientOptions, ConnectOptions, RedisRpcClient};
use clamator_test_support::{free_port, shared_redis, unique_prefix};
use serde_json::json;
use support::{WAIT, http_get, start_server};

/// `GET /metrics`; the body.
fn scrape(port: u16) -> String {
    let (head, body) = http_get(port, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body
}

/// The value of the sample with this name whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, "}"));
            let matches = n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            matches.then(|| value.parse().ok()).flatten()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arith_server_serves_prometheus_metrics_of_its_calls() {
    let redis = shared_redis();
    let prefix = unique_prefix();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let _server = start_server(&redis.url(), &prefix, &["--metrics-addr", &addr]);

    let conn = ConnectOptions::new(prefix.clone(), &redis.url()).unwrap();
    let client = RedisRpcClient::connect_with(
        conn,
        ClientOptions::default().default_timeout(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    for b in [1, 2, 3] {
        client
            .call("arith", "add", json!({"a": 1, "b": b}), None)
            .await
            .unwrap();
    }
    let err = client
        .call("arith", "divide", json!({"a": 1, "b": 0}), None)
        .await
        .unwrap_err();
    assert_eq!(err.as_rpc().unwrap().code, -32000);
    client.notify("arith", "ping", json!({})).await.unwrap();
    // The notification has no reply: a call after it is handled after it
    // only with one handler at a time, so wait for its count instead.
    let add = [
        ("rpc_service", "arith"),
        ("rpc_method", "add"),
        ("outcome", "ok"),
    ];
    let divide = [
        ("rpc_service", "arith"),
        ("rpc_method", "divide"),
        ("outcome", "rpc_error"),
        ("rpc_jsonrpc_error_code", "-32000"),
    ];
    let ping = [
        ("rpc_service", "arith"),
        ("rpc_method", "ping"),
        ("outcome", "notification"),
    ];
    // The housekeeping loop samples the group once a second.
    let deadline = Instant::now() + WAIT;
    let text = loop {
        let text = scrape(port);
        let ready = sample(&text, "clamator_server_requests", &ping) == Some(1.0)
            && sample(
                &text,
                "clamator_server_group_lag",
                &[("rpc_service", "arith")],
            )
            .is_some();
        if ready || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    client.close().await;

    let has = |name: &str, labels: &[(&str, &str)]| {
        sample(&text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"))
    };
    assert_eq!(has("clamator_server_requests", &add), 3.0);
    assert_eq!(has("clamator_server_requests", &divide), 1.0);
    assert_eq!(has("clamator_server_requests", &ping), 1.0);
    assert_eq!(has("rpc_server_duration_count", &add), 3.0);
    assert_eq!(has("rpc_server_duration_count", &divide[..3]), 1.0);
    assert!(has("rpc_server_duration_sum", &add) > 0.0);
    assert_eq!(
        has(
            "rpc_server_duration_bucket",
            &[add.as_slice(), &[("le", "+Inf")]].concat()
        ),
        3.0
    );
    assert_eq!(
        has("clamator_server_handlers_busy", &[("rpc_service", "arith")]),
        0.0
    );
    let service = [("rpc_service", "arith")];
    assert_eq!(has("clamator_server_group_lag", &service), 0.0);
    assert_eq!(has("clamator_server_group_pending", &service), 0.0);
    assert_eq!(has("clamator_server_group_entries_read", &service), 5.0);
    assert!(
        text.contains("# TYPE rpc_server_duration histogram"),
        "{text}"
    );
}
