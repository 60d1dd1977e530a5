//! The `clamator` binary over TLS (`rediss://`, `--tls-ca`) against a TLS
//! `redis-server` whose certificates the harness makes at run time, with an
//! `arith` worker in the test process. One server for the whole binary.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::OnceLock;
use std::time::Duration;

use assert_cmd::Command;
use clamator_arith::{ArithContract, ArithHandler};
use clamator_over_redis::{ConnectOptions, RedisRpcServer, TlsOptions};
use clamator_test_support::tls::{TestPki, TlsRedisServer, TlsServerConfig};
use serde_json::Value;

/// Bound on every subprocess.
const PROC_TIMEOUT: Duration = Duration::from_secs(30);

struct Shared {
    pki: TestPki,
    redis: TlsRedisServer,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let pki = TestPki::generate();
        let redis = TlsRedisServer::start(&pki, TlsServerConfig::default());
        Shared { pki, redis }
    })
}

fn prefix() -> String {
    format!("tls-cli-{}", uuid::Uuid::new_v4().simple())
}

/// `clamator --redis-url rediss://... --key-prefix <prefix>`, environment cleared.
fn cli(prefix: &str) -> Command {
    cli_at(&shared().redis.tls_url(), prefix)
}

/// `clamator --redis-url <url> --key-prefix <prefix>`, environment cleared.
fn cli_at(url: &str, prefix: &str) -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("clamator");
    cmd.env_remove("REDIS_URL")
        .env_remove("CLAMATOR_KEY_PREFIX")
        .env_remove("CLAMATOR_TLS_CA")
        .env_remove("CLAMATOR_TLS_CERT")
        .env_remove("CLAMATOR_TLS_KEY")
        .timeout(PROC_TIMEOUT)
        .args(["--redis-url", url, "--key-prefix", prefix]);
    cmd
}

/// Runs `f` with an `arith` worker serving under `prefix` over TLS.
fn with_arith(prefix: &str, f: impl FnOnce()) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let conn = ConnectOptions::new(prefix, &shared().redis.tls_url())
        .unwrap()
        .tls(TlsOptions::new().ca_pem_file(shared().pki.ca()).unwrap())
        .unwrap();
    let server = rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(15),
                RedisRpcServer::builder(conn)
                    .register(ArithContract, ArithHandler::new("t1"))
                    .unwrap()
                    .start(),
            )
            .await
        })
        .unwrap()
        .unwrap();
    f();
    rt.block_on(server.stop());
}

#[test]
fn call_over_rediss_with_tls_ca() {
    let prefix = prefix();
    with_arith(&prefix, || {
        let ca = shared().pki.ca();
        let out = cli(&prefix)
            .args(["--tls-ca", ca.to_str().unwrap()])
            .args(["--json", "call", "arith.add", r#"{"a": 2, "b": 3}"#])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["sum"], 5.0, "{v}");

        // The same through the environment, and an inspection command (its
        // own connection, same TLS settings).
        let out = cli(&prefix)
            .env("CLAMATOR_TLS_CA", &ca)
            .args(["--json", "services"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("arith"), "{text}");
    });
}

#[test]
fn a_wrong_ca_exits_3_naming_tls() {
    let prefix = prefix();
    let other = shared().pki.other_ca();
    for command in [
        vec!["call", "arith.add", r#"{"a": 2, "b": 3}"#],
        vec!["services"],
    ] {
        let out = cli(&prefix)
            .args(["--tls-ca", other.to_str().unwrap()])
            .args(&command)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("{command:?}: {stderr}");
        assert_eq!(out.status.code(), Some(3), "{command:?}: {stderr}");
        assert!(stderr.contains("TLS"), "{stderr}");
        assert!(stderr.contains("--tls-ca"), "{stderr}");
    }
}

#[test]
fn tls_settings_that_cannot_work_are_usage_errors() {
    let prefix = prefix();
    // A CA file that is not there.
    let out = cli(&prefix)
        .args(["--tls-ca", "/nonexistent/ca.pem", "services"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/ca.pem"), "{stderr}");

    // TLS files with a redis:// URL.
    let ca = shared().pki.ca();
    let out = cli_at(&shared().redis.plain_url(), &prefix)
        .args(["--tls-ca", ca.to_str().unwrap(), "services"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("rediss://"), "{stderr}");
}
