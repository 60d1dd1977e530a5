//! The Python peer 0.1.9 in a Redis Cluster (redis-py's `RedisCluster`
//! handed to it through `redis=`), with Rust servers and clients on the same
//! 3 primaries: each language's client calls the other's server, and a mixed
//! worker pool shares one command stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use clamator::redis::{ClientOptions, ConnectOptions, RedisRpcClient, RedisRpcServer};
use clamator_arith::{ArithContract, ArithHandler};
use clamator_interop::harness::{InteropDir, ReadyChild, StdinMode};
use clamator_test_support::cluster::shared_cluster;
use clamator_test_support::unique_prefix;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// The venv's python and the drivers' directory, set up once per process
/// (the tests run in parallel and would otherwise race to create the venv).
fn python() -> (std::path::PathBuf, std::path::PathBuf) {
    static PEER: std::sync::OnceLock<(std::path::PathBuf, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    PEER.get_or_init(|| {
        let interop = InteropDir::locate(None).unwrap();
        let python = interop
            .setup_venv()
            .unwrap_or_else(|e| panic!("{e}: the Python peer is required, nothing is skipped"));
        (python, interop.py_dir())
    })
    .clone()
}

/// A Python `arith` server on the cluster under `prefix`, with `--trace-calls`.
fn python_server(prefix: &str, id: &str) -> ReadyChild {
    let (python, py) = python();
    let mut cmd = Command::new(python);
    cmd.arg(py.join("arith_server.py")).args([
        "--cluster",
        "--redis-url",
        &shared_cluster().url(),
        "--key-prefix",
        prefix,
        "--instance-id",
        id,
        "--trace-calls",
    ]);
    ReadyChild::spawn(
        &mut cmd,
        format!("python server {id}"),
        StdinMode::Null,
        WAIT,
    )
    .unwrap()
}

async fn rust_server(prefix: &str) -> RedisRpcServer {
    let conn = ConnectOptions::cluster(prefix, shared_cluster().seeds()).unwrap();
    tokio::time::timeout(
        WAIT,
        RedisRpcServer::builder(conn)
            .register(ArithContract, ArithHandler::new("rust"))
            .unwrap()
            .start(),
    )
    .await
    .unwrap()
    .unwrap()
}

async fn rust_client(prefix: &str) -> RedisRpcClient {
    let conn = ConnectOptions::cluster(prefix, shared_cluster().seeds()).unwrap();
    tokio::time::timeout(
        WAIT,
        RedisRpcClient::connect_with(conn, ClientOptions::default().default_timeout(WAIT)),
    )
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_client_calls_a_python_server_in_the_cluster() {
    let prefix = unique_prefix();
    let server = tokio::task::spawn_blocking({
        let prefix = prefix.clone();
        move || python_server(&prefix, "py1")
    })
    .await
    .unwrap();
    let client = rust_client(&prefix).await;
    for i in 0..20 {
        let v = client
            .call("arith", "add", json!({"a": i, "b": 0.5}), None)
            .await
            .unwrap();
        assert_eq!(v, json!({"sum": f64::from(i) + 0.5}));
    }
    let err = client
        .call("arith", "divide", json!({"a": 1, "b": 0}), None)
        .await
        .unwrap_err();
    assert_eq!(err.as_rpc().unwrap().code, -32000, "{err}");
    assert_eq!(server.stdout().count("CALL arith.add"), 20);
    client.close().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_calls_a_rust_server_in_the_cluster() {
    let prefix = unique_prefix();
    let server = rust_server(&prefix).await;
    let (python, py) = python();
    let specs: Vec<Value> = (0..20)
        .map(|i| json!({"method": "arith.add", "params": {"a": i, "b": 0.5}}))
        .chain([json!({"method": "arith.divide", "params": {"a": 1, "b": 0}})])
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(python)
            .arg(py.join("client_driver.py"))
            .args([
                "--redis-url",
                &shared_cluster().url(),
                "--key-prefix",
                &prefix,
                "--timeout-ms",
                "20000",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(serde_json::to_string(&specs).unwrap().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 21, "{lines:?}");
    for (i, line) in lines.iter().take(20).enumerate() {
        assert_eq!(line["ok"]["sum"], json!(i as f64 + 0.5), "{line}");
    }
    assert_eq!(lines[20]["error"]["code"], -32000, "{}", lines[20]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_worker_pool_shares_a_command_stream_in_the_cluster() {
    let prefix = unique_prefix();
    let python = tokio::task::spawn_blocking({
        let prefix = prefix.clone();
        move || python_server(&prefix, "pool-py")
    })
    .await
    .unwrap();
    let rust = rust_server(&prefix).await;
    let client = rust_client(&prefix).await;
    let calls = (0..200).map(|i| {
        let client = &client;
        async move {
            client
                .call("arith", "add", json!({"a": i, "b": 1}), None)
                .await
                .unwrap()
        }
    });
    let sums = tokio::time::timeout(WAIT, futures::future::join_all(calls))
        .await
        .unwrap();
    for (i, v) in sums.iter().enumerate() {
        assert_eq!(v, &json!({"sum": i as f64 + 1.0}));
    }
    let by_python = python.stdout().count("CALL arith.add");
    println!("cluster mixed pool: python handled {by_python} of 200, rust the rest");
    assert!(
        by_python > 0 && by_python < 200,
        "python handled {by_python}"
    );
    client.close().await;
    rust.stop().await;
    drop(python);
}
