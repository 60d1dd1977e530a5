//! The transport over TLS (`rediss://`) against real TLS `redis-server`s
//! whose certificates the harness makes at run time: round trips, a worker
//! pool, a restart, mutual TLS, and the error each misconfiguration gives.
//!
//! Servers that tests can share are started once per test binary (one per
//! kind: plain TLS, mutual TLS, expired certificate) and killed when the
//! process ends (`clamator_test_support::tls`); the restart test has its own.
//! Every test uses a key prefix of its own.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clamator_over_redis::{
    ConfigError, ConnectError, ConnectOptions, RedisRpcClient, RedisRpcServer, ServerOptions,
    TlsFailure, TlsHandshakeError, TlsOptions,
};
use clamator_protocol::service::unary;
use clamator_protocol::{ContractDescriptor, HandlerFuture, MethodDescriptor, RpcError, Service};
use clamator_test_support::tls::{ServerCert, TestPki, TlsRedisServer, TlsServerConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Bound on every await that should succeed.
const WAIT: Duration = Duration::from_secs(15);
/// The command timeout of connections expected to fail.
const FAIL_WITHIN: Duration = Duration::from_secs(2);

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(TestPki::generate)
}

/// The shared TLS server (clients need no certificate), with a plain port too.
fn tls_server() -> &'static TlsRedisServer {
    static SERVER: OnceLock<TlsRedisServer> = OnceLock::new();
    SERVER.get_or_init(|| TlsRedisServer::start(pki(), TlsServerConfig::default()))
}

/// The shared server that requires client certificates.
fn mtls_server() -> &'static TlsRedisServer {
    static SERVER: OnceLock<TlsRedisServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        TlsRedisServer::start(
            pki(),
            TlsServerConfig {
                require_client_cert: true,
                ..TlsServerConfig::default()
            },
        )
    })
}

/// The shared server whose certificate has expired.
fn expired_server() -> &'static TlsRedisServer {
    static SERVER: OnceLock<TlsRedisServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        TlsRedisServer::start(
            pki(),
            TlsServerConfig {
                cert: ServerCert::Expired,
                ..TlsServerConfig::default()
            },
        )
    })
}

fn prefix() -> String {
    format!("tls-{}", uuid::Uuid::new_v4().simple())
}

/// TLS options trusting the test CA.
fn trust_test_ca() -> TlsOptions {
    TlsOptions::new().ca_pem_file(pki().ca()).unwrap()
}

/// Connect options for `url` under a fresh prefix with `tls`.
fn conn(url: &str, tls: TlsOptions) -> ConnectOptions {
    ConnectOptions::new(prefix(), url)
        .unwrap()
        .tls(tls)
        .unwrap()
}

#[derive(Serialize, Deserialize)]
struct AddParams {
    a: f64,
    b: f64,
}

#[derive(Serialize, Deserialize)]
struct AddResult {
    sum: f64,
    by: String,
}

/// `arith.add`, answering with the sum and who handled it.
struct Arith {
    name: String,
    handled: Arc<AtomicUsize>,
    descriptor: ContractDescriptor,
}

impl Arith {
    fn new(name: &str) -> Arc<Arith> {
        Arc::new(Arith {
            name: name.to_owned(),
            handled: Arc::new(AtomicUsize::new(0)),
            descriptor: ContractDescriptor {
                service: "arith".to_owned(),
                methods: vec![MethodDescriptor {
                    name: "add".to_owned(),
                    rust_name: "add".to_owned(),
                    notification: false,
                    params_schema: json!({}),
                    result_schema: Some(json!({})),
                    params_schema_text: None,
                    result_schema_text: None,
                }],
            },
        })
    }
}

impl Service for Arith {
    fn descriptor(&self) -> &ContractDescriptor {
        &self.descriptor
    }

    fn call(&self, method: &str, params: Value) -> Option<HandlerFuture> {
        let by = self.name.clone();
        let handled = Arc::clone(&self.handled);
        (method == "add").then(|| {
            unary(
                params,
                |_: &_| Ok(()),
                move |p: AddParams| async move {
                    handled.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, RpcError>(AddResult { sum: p.a + p.b, by })
                },
            )
        })
    }
}

async fn start_server(conn: ConnectOptions, service: Arc<Arith>) -> RedisRpcServer {
    tokio::time::timeout(
        WAIT,
        RedisRpcServer::builder(conn)
            .options(ServerOptions::default().start_timeout(Some(Duration::from_secs(10))))
            .register_service(service)
            .unwrap()
            .start(),
    )
    .await
    .expect("start within WAIT")
    .expect("server starts")
}

async fn add(client: &RedisRpcClient, a: f64, b: f64) -> AddResult {
    let v = client
        .call("arith", "add", json!({"a": a, "b": b}), Some(WAIT))
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// The TLS failure a connect or start failed with, and its message; panics
/// when it is not one. The variant holds it: no chain to walk.
fn tls_failure(error: &ConnectError) -> (TlsFailure, String) {
    match error {
        ConnectError::Tls(tls) => {
            // Once boxed (`?` into `Box<dyn Error>` or anyhow), the chain
            // still holds it.
            let found = TlsHandshakeError::find_in(error).expect("in the source chain");
            assert_eq!(found.kind(), tls.kind());
            (tls.kind(), error.to_string())
        }
        other => panic!("expected ConnectError::Tls, got {other:?}"),
    }
}

/// Connecting a client with `conn` fails within its command timeout (plus
/// slack); returns the error and how long it took.
async fn connect_fails(conn: ConnectOptions) -> (ConnectError, Duration) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        FAIL_WITHIN * 3,
        RedisRpcClient::connect(conn.command_timeout(FAIL_WITHIN)),
    )
    .await
    .expect("connect must fail within its command timeout, not hang");
    match outcome {
        Ok(_) => panic!("connect succeeded"),
        Err(e) => (e, started.elapsed()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_over_tls_with_the_harness_ca() {
    let conn = conn(&tls_server().tls_url(), trust_test_ca());
    let server = start_server(conn.clone(), Arith::new("w1")).await;
    let client = RedisRpcClient::connect(conn).await.unwrap();
    let r = add(&client, 2.0, 3.0).await;
    assert_eq!(r.sum, 5.0);
    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_pool_of_two_servers_over_tls() {
    let conn = conn(&tls_server().tls_url(), trust_test_ca());
    let (a, b) = (Arith::new("a"), Arith::new("b"));
    let server_a = start_server(conn.clone(), Arc::clone(&a)).await;
    let server_b = start_server(conn.clone(), Arc::clone(&b)).await;
    let client = RedisRpcClient::connect(conn).await.unwrap();
    let calls = (0..40).map(|i| {
        let client = &client;
        async move { add(client, f64::from(i), 1.0).await }
    });
    let results = futures::future::join_all(calls).await;
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.sum, i as f64 + 1.0);
    }
    let (na, nb) = (
        a.handled.load(Ordering::SeqCst),
        b.handled.load(Ordering::SeqCst),
    );
    assert_eq!(na + nb, 40, "every call handled once");
    client.close().await;
    server_a.stop().await;
    server_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_tls_server_restarts() {
    let mut redis = TlsRedisServer::start(pki(), TlsServerConfig::default());
    let conn = conn(&redis.tls_url(), trust_test_ca()).command_timeout(Duration::from_secs(1));
    let server = start_server(conn.clone(), Arith::new("w1")).await;
    let client = RedisRpcClient::connect(conn).await.unwrap();
    assert_eq!(add(&client, 1.0, 1.0).await.sum, 2.0);

    redis.restart(); // empty: no persistence; same ports, same certificate

    // Calls made while the server and client reconnect may fail; within
    // WAIT one must succeed.
    let deadline = Instant::now() + WAIT;
    loop {
        match client
            .call(
                "arith",
                "add",
                json!({"a": 2.0, "b": 2.0}),
                Some(Duration::from_secs(2)),
            )
            .await
        {
            Ok(v) => {
                assert_eq!(v["sum"], json!(4.0));
                break;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no call succeeded within {WAIT:?} of the restart: {e}"),
        }
    }
    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_a_client_certificate() {
    let url = mtls_server().tls_url();
    // Without a client certificate: a clear, typed failure, at once.
    let (error, took) = connect_fails(conn(&url, trust_test_ca())).await;
    let (kind, message) = tls_failure(&error);
    println!("mTLS without a client certificate ({took:?}): {message}");
    assert_eq!(kind, TlsFailure::ClientCertRejected, "{message}");
    assert!(message.contains("--tls-cert"), "{message}");

    // With one: works.
    let tls = trust_test_ca()
        .client_cert_pem_files(pki().client_cert(), pki().client_key())
        .unwrap();
    let conn = conn(&url, tls);
    let server = start_server(conn.clone(), Arith::new("w1")).await;
    let client = RedisRpcClient::connect(conn).await.unwrap();
    assert_eq!(add(&client, 20.0, 22.0).await.sum, 42.0);
    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_fails_clearly_and_is_not_retried_by_start() {
    let wrong = TlsOptions::new().ca_pem_file(pki().other_ca()).unwrap();
    let (error, took) = connect_fails(conn(&tls_server().tls_url(), wrong.clone())).await;
    let (kind, message) = tls_failure(&error);
    println!("wrong CA ({took:?}): {message}");
    assert_eq!(kind, TlsFailure::UnknownIssuer, "{message}");
    assert!(message.contains("TLS"), "{message}");
    assert!(message.contains("--tls-ca"), "{message}");

    // The system roots do not know the test CA either.
    let (error, _) =
        connect_fails(ConnectOptions::new(prefix(), &tls_server().tls_url()).unwrap()).await;
    assert_eq!(tls_failure(&error).0, TlsFailure::UnknownIssuer);

    // A server's start() gives up at once (no start_timeout set): a retry
    // cannot fix a certificate.
    let error = start_fails_at_once(conn(&tls_server().tls_url(), wrong)).await;
    assert_eq!(tls_failure(&error).0, TlsFailure::UnknownIssuer);
}

/// A server's `start()` on `conn` (no `start_timeout`) fails within 5 s
/// instead of retrying; returns its error.
async fn start_fails_at_once(conn: ConnectOptions) -> ConnectError {
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        WAIT,
        RedisRpcServer::builder(conn)
            .register_service(Arith::new("w1"))
            .unwrap()
            .start(),
    )
    .await
    .expect("start() must fail at once, not retry a certificate error forever");
    let error = outcome.expect_err("start fails");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    error
}

/// The shared server that presents a self-signed CA certificate as its own.
fn self_signed_ca_server() -> &'static TlsRedisServer {
    static SERVER: OnceLock<TlsRedisServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        TlsRedisServer::start(
            pki(),
            TlsServerConfig {
                cert: ServerCert::SelfSignedCa,
                ..TlsServerConfig::default()
            },
        )
    })
}

/// Every verdict on the server's certificate is permanent, whatever rustls
/// calls it (here `CaUsedAsEndEntity`, with or without that CA trusted): a
/// client's connect and a server's `start()` fail at once with the TLS
/// explanation instead of retrying forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_certificate_presented_as_the_servers_own_is_not_retried() {
    let url = self_signed_ca_server().tls_url();
    let trusting_it = TlsOptions::new()
        .ca_pem_file(pki().self_signed_ca())
        .unwrap();
    for (what, conn) in [
        ("system roots", ConnectOptions::new(prefix(), &url).unwrap()),
        ("its own CA trusted", conn(&url, trusting_it)),
    ] {
        let (error, took) = connect_fails(conn.clone()).await;
        let (kind, message) = tls_failure(&error);
        println!("self-signed CA as server certificate, {what} ({took:?}): {message}");
        assert!(
            matches!(kind, TlsFailure::BadCertificate | TlsFailure::UnknownIssuer),
            "{what}: {kind:?}: {message}"
        );
        assert!(message.contains("certificate"), "{message}");

        tls_failure(&start_fails_at_once(conn).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_server_certificate_fails_clearly() {
    let (error, took) = connect_fails(conn(&expired_server().tls_url(), trust_test_ca())).await;
    let (kind, message) = tls_failure(&error);
    println!("expired server certificate ({took:?}): {message}");
    assert_eq!(kind, TlsFailure::Expired, "{message}");
    assert!(message.contains("expired"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_redis_url_against_the_tls_port_fails_within_the_command_timeout() {
    let conn = ConnectOptions::new(prefix(), &tls_server().plain_url_to_tls_port()).unwrap();
    let (error, took) = connect_fails(conn).await;
    println!("redis:// to the TLS port ({took:?}): {error}");
    assert!(took < FAIL_WITHIN + Duration::from_secs(1), "{took:?}");
    let (kind, message) = tls_failure(&error);
    assert_eq!(kind, TlsFailure::PlainToTls, "{message}");
    assert!(message.contains("rediss://"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_url_against_a_plain_port_fails_clearly() {
    let (error, took) =
        connect_fails(conn(&tls_server().tls_url_to_plain_port(), trust_test_ca())).await;
    let (kind, message) = tls_failure(&error);
    println!("rediss:// to a plain port ({took:?}): {message}");
    assert_eq!(kind, TlsFailure::NotTls, "{message}");
    assert!(message.contains("redis://"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn danger_accept_invalid_certs_connects_without_the_ca() {
    let conn = conn(
        &expired_server().tls_url(),
        TlsOptions::new().danger_accept_invalid_certs(),
    );
    let client = RedisRpcClient::connect(conn).await.unwrap();
    client.close().await;
}

#[test]
fn tls_settings_errors_name_the_file_and_the_fix() {
    let e = TlsOptions::new()
        .ca_pem_file(pki().dir().join("missing.pem"))
        .unwrap_err();
    assert!(matches!(e, ConfigError::TlsFileUnreadable { .. }), "{e}");
    assert!(e.to_string().contains("missing.pem"), "{e}");

    // A key instead of a CA bundle.
    let e = TlsOptions::new()
        .ca_pem_file(pki().client_key())
        .unwrap_err();
    assert!(matches!(e, ConfigError::TlsInvalidPem { .. }), "{e}");
    assert!(e.to_string().contains("client.key"), "{e}");

    // The certificate with a key of another certificate.
    let e = TlsOptions::new()
        .client_cert_pem_files(pki().client_cert(), pki().dir().join("server.key"))
        .unwrap_err();
    assert!(matches!(e, ConfigError::TlsKeyMismatch { .. }), "{e}");

    // TLS settings on a plain URL.
    let e = ConnectOptions::new(prefix(), "redis://127.0.0.1:1")
        .unwrap()
        .tls(trust_test_ca())
        .unwrap_err();
    assert!(matches!(e, ConfigError::TlsNeedsRediss { .. }), "{e}");
    println!("{e}");
}
