//! `arith-server --health-addr`: `/healthz` and `/readyz` while it runs,
//! `/readyz` turning 503 while its Redis is away and 200 once it is back,
//! without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clamator_test_support::{RedisServer, free_port, unique_prefix};

/// Bound on every wait of this test.
const WAIT: Duration = Duration::from_secs(30);

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `arith-server` with `--health-addr` and waits for its READY line.
fn start_server(url: &str, prefix: &str, health_port: u16) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_arith-server"))
        .args(["--redis-url", url, "--key-prefix", prefix])
        .arg("--health-addr")
        .arg(format!("127.0.0.1:{health_port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("arith-server starts");
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim() == "READY" {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(WAIT).expect("arith-server printed READY");
    server
}

/// `GET <path>` over a plain TCP connection: the status and the JSON body.
fn get(port: u16, path: &str) -> (u16, serde_json::Value) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    conn.write_all(head.as_bytes()).unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|h| h.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    (status, serde_json::from_str(body).unwrap())
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
    let _server = start_server(&redis.url(), &prefix, port);

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
