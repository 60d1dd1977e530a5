//! The `clamator` binary against a Sentinel deployment over TLS
//! (`rediss+sentinel://` with `--tls-ca`): the sentinels, the primary and
//! its replica all speak TLS, with certificates the harness makes at run
//! time, and an `arith` worker in the test process finds the primary the
//! same way.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use clamator_arith::{ArithContract, ArithHandler};
use clamator_over_redis::{ConnectOptions, RedisRpcServer, TlsOptions};
use clamator_test_support::sentinel::SentinelSetup;
use clamator_test_support::tls::TestPki;
use serde_json::Value;

/// Bound on every subprocess and on the worker's start.
const PROC_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn call_through_tls_sentinels_with_tls_ca() {
    let pki = TestPki::generate();
    let setup = SentinelSetup::start_tls(&pki);
    let url = setup.url();
    assert!(url.starts_with("rediss+sentinel://"), "{url}");
    let prefix = format!("sentinel-cli-{}", uuid::Uuid::new_v4().simple());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let conn = ConnectOptions::new(prefix.clone(), &url)
        .unwrap()
        .tls(TlsOptions::new().ca_pem_file(pki.ca()).unwrap())
        .unwrap();
    let server = rt
        .block_on(async {
            tokio::time::timeout(
                PROC_TIMEOUT,
                RedisRpcServer::builder(conn)
                    .register(ArithContract, ArithHandler::new("s1"))
                    .unwrap()
                    .start(),
            )
            .await
        })
        .unwrap()
        .unwrap();

    let ca = pki.ca();
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("clamator");
    let out = cmd
        .env_remove("REDIS_URL")
        .env_remove("CLAMATOR_KEY_PREFIX")
        .env_remove("CLAMATOR_TLS_CA")
        .timeout(PROC_TIMEOUT)
        .args(["--redis-url", &url, "--key-prefix", &prefix])
        .args(["--tls-ca", ca.to_str().unwrap()])
        .args(["--json", "call", "arith.add", r#"{"a": 2, "b": 3}"#])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sum"], 5.0, "{v}");

    // Without the CA the TLS handshake fails, and says so.
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("clamator");
    let out = cmd
        .env_remove("REDIS_URL")
        .env_remove("CLAMATOR_TLS_CA")
        .timeout(PROC_TIMEOUT)
        .args(["--redis-url", &url, "--key-prefix", &prefix])
        .args(["call", "arith.add", r#"{"a": 2, "b": 3}"#])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TLS"), "{stderr}");
    rt.block_on(server.stop());
}
