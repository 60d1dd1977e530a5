//! `arith-server --health-addr`: `/healthz` and `/readyz` while it runs,
//! `/readyz` turning 503 while its Redis is away and 200 once it is back,
//! without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use clamator_test_support::{RedisServer, free_port, unique_prefix};
use support::{WAIT, http_get, start_server};

/// `GET <path>`: the status and the JSON body.
fn get(port: u16, path: &str) -> (u16, serde_json::Value) {
    let (head, body) = http_get(port, path);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|h| h.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {head:?}"));
    (status, serde_json::from_str(&body).unwrap())
}

/// Polls `GET <path>` until it answers `status`, for at most [`WAIT`];
/// returns how long that took.
fn until_status(port: u16, path: &str, status: u16) -> Duration {
    let start = Instant::now();
    loop {
        let (now, body) = get(port, path);
        if now == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < WAIT,
            "{path} never answered {status}: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn arith_server_serves_health_probes_that_follow_redis() {
    let mut redis = RedisServer::start();
    let prefix = unique_prefix();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let _server = start_server(&redis.url(), &prefix, &["--health-addr", &addr]);

    let (status, body) = get(port, "/healthz");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["probe"], "liveness", "{body}");
    until_status(port, "/readyz", 200);
    let (_, body) = get(port, "/readyz");
    assert_eq!(body["services"][0]["service"], "arith", "{body}");
    assert_eq!(get(port, "/nope").0, 404);

    redis.kill();
    let noticed = until_status(port, "/readyz", 503);
    assert!(
        noticed < Duration::from_secs(5),
        "noticed after {noticed:?}"
    );
    let (status, body) = get(port, "/healthz");
    assert_eq!(status, 200, "Redis away is no reason to restart: {body}");

    redis.restart();
    until_status(port, "/readyz", 200);
    assert_eq!(get(port, "/healthz").0, 200);
}
