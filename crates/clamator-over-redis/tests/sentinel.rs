//! Failover through Redis Sentinel, with real processes: one primary, one
//! replica, three sentinels (`clamator_test_support::sentinel`), a server and
//! a client both connected through the sentinels (a `redis+sentinel://` URL),
//! and 20 callers making calls continuously with 2 s timeouts.
//!
//! - `a_killed_primary_fails_over_and_traffic_resumes`: the primary is killed
//!   (SIGKILL) mid-traffic. No call hangs past its timeout, calls succeed
//!   again on the new primary without restarting the server or the client,
//!   and every successful call was answered by a real run of its handler.
//! - `a_killed_primary_with_dedupe_and_retries_costs_latency_not_errors`:
//!   the same kill with a dedupe window on the server and retries on the
//!   client (15 s timeouts): no call fails or times out and no handler runs
//!   twice; the longest call is printed.
//! - `a_demoted_primary_is_left_for_the_new_one`: `SENTINEL FAILOVER` with the
//!   primary alive: it becomes a replica, and the loops connected to it move
//!   to the new primary.
//!
//! - `tls_to_the_sentinels_and_the_data_nodes`: the same deployment over
//!   TLS (`rediss+sentinel://`, the test CA): `arith.add` answered, a client
//!   trusting another CA fails with `ConnectError::Tls`, and a `SENTINEL
//!   FAILOVER` under traffic keeps calls answered on the new primary.
//!
//! Each prints what it measured (outage, failed calls by kind, handler runs
//! counted twice). With asynchronous replication, requests XADDed to the old
//! primary and not yet replicated are lost in the failover, as Redis loses
//! them: their callers time out. The test counts them rather than asserting
//! none.
//!
//! `cargo test -p clamator-over-redis --test sentinel -- --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clamator_over_redis::{
    ClientOptions, ConnectError, ConnectOptions, RedisRpcClient, RedisRpcServer, RetryPolicy,
    ServerOptions, TlsFailure, TlsOptions,
};
use clamator_protocol::service::unary;
use clamator_protocol::{
    ContractDescriptor, Error, HandlerFuture, MethodDescriptor, Service, TransportError,
};
use clamator_test_support::TestArith;
use clamator_test_support::sentinel::SentinelSetup;
use clamator_test_support::tls::TestPki;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Per-call timeout of the callers (at least once).
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// How the server and the client run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The defaults: at least once, each request sent once, 2 s timeouts.
    AtLeastOnce,
    /// A dedupe window on the server, retries on the client, 15 s timeouts:
    /// a failover must cost latency only (no failed call, no second run).
    EffectivelyOnce,
}

impl Mode {
    /// The callers' timeout.
    fn call_timeout(self) -> Duration {
        match self {
            Mode::AtLeastOnce => CALL_TIMEOUT,
            Mode::EffectivelyOnce => Duration::from_secs(15),
        }
    }

    /// The server's options.
    fn server(self) -> ServerOptions {
        let options = ServerOptions::default()
            .consumer_claim_idle(Duration::from_secs(5))
            .start_timeout(Some(Duration::from_secs(10)));
        match self {
            Mode::AtLeastOnce => options,
            Mode::EffectivelyOnce => options.dedupe_window(Some(Duration::from_secs(60))),
        }
    }

    /// The client's options.
    fn client(self) -> ClientOptions {
        let options = ClientOptions::default().default_timeout(self.call_timeout());
        match self {
            Mode::AtLeastOnce => options,
            Mode::EffectivelyOnce => options.retry(Some(
                RetryPolicy::new()
                    .resend_after(Duration::from_secs(1))
                    .max_attempts(100)
                    .backoff_first(Duration::from_millis(50))
                    .backoff_max(Duration::from_millis(500)),
            )),
        }
    }
}
/// How much later than its timeout a call may complete: scheduling on a
/// loaded 2-core machine, nothing more.
const SLACK: Duration = Duration::from_millis(1_000);
/// Calls must succeed again within this after the failover started.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);

/// The two tests each start five processes and twenty callers: one at a
/// time, so the numbers they print are not each other's load.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EchoParams {
    n: u64,
}

#[derive(Serialize, Deserialize)]
struct EchoResult {
    n: u64,
    /// Which run of the handler for this `n` answered (1 = the first).
    run: u32,
}

/// `counted.echo`: answers `n` and counts its runs by `n` (each call sends a
/// fresh `n`, so runs per `n` are runs per request).
struct Counted {
    descriptor: ContractDescriptor,
    runs: Arc<Mutex<HashMap<u64, u32>>>,
}

impl Counted {
    fn new(runs: Arc<Mutex<HashMap<u64, u32>>>) -> Counted {
        Counted {
            descriptor: ContractDescriptor {
                service: "counted".to_owned(),
                methods: vec![MethodDescriptor {
                    name: "echo".to_owned(),
                    rust_name: "echo".to_owned(),
                    notification: false,
                    params_schema: json!({}),
                    result_schema: Some(json!({})),
                    params_schema_text: None,
                    result_schema_text: None,
                }],
            },
            runs,
        }
    }
}

impl Service for Counted {
    fn descriptor(&self) -> &ContractDescriptor {
        &self.descriptor
    }

    fn call(&self, method: &str, params: serde_json::Value) -> Option<HandlerFuture> {
        if method != "echo" {
            return None;
        }
        let runs = Arc::clone(&self.runs);
        Some(unary(
            params,
            |_: &_| Ok(()),
            move |p: EchoParams| async move {
                let run = {
                    let mut runs = runs.lock().unwrap();
                    let r = runs.entry(p.n).or_insert(0);
                    *r += 1;
                    *r
                };
                Ok(EchoResult { n: p.n, run })
            },
        ))
    }
}

/// How one call ended.
#[derive(Debug, Clone, PartialEq)]
enum Ended {
    /// Answered, by this run of its handler.
    Ok { run: u32 },
    /// No reply within the timeout.
    Timeout,
    /// The request could not be sent (Redis unreachable, no primary yet).
    ConnectionLost,
    /// Anything else (a failure of the test).
    Other(String),
}

/// One call: its `n`, when it started and ended, how.
#[derive(Debug, Clone)]
struct Call {
    n: u64,
    started: Instant,
    ended: Instant,
    how: Ended,
}

/// Callers making calls continuously through one client.
struct Traffic {
    timeout: Duration,
    calls: Arc<Mutex<Vec<Call>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Traffic {
    fn start(client: &Arc<RedisRpcClient>, callers: usize, timeout: Duration) -> Traffic {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicU64::new(0));
        let tasks = (0..callers)
            .map(|_| {
                let (client, calls, stop, next) = (
                    Arc::clone(client),
                    Arc::clone(&calls),
                    Arc::clone(&stop),
                    Arc::clone(&next),
                );
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let started = Instant::now();
                        let result = client
                            .call("counted", "echo", json!({ "n": n }), Some(timeout))
                            .await;
                        let how = match result {
                            Ok(v) => {
                                let r: EchoResult = serde_json::from_value(v).unwrap();
                                assert_eq!(r.n, n, "answered with another call's result");
                                Ended::Ok { run: r.run }
                            }
                            Err(Error::Transport(TransportError::Timeout { .. })) => Ended::Timeout,
                            Err(Error::Transport(TransportError::ConnectionLost { .. })) => {
                                Ended::ConnectionLost
                            }
                            Err(e) => Ended::Other(e.to_string()),
                        };
                        calls.lock().unwrap().push(Call {
                            n,
                            started,
                            ended: Instant::now(),
                            how,
                        });
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
            })
            .collect();
        Traffic {
            calls,
            stop,
            tasks,
            timeout,
        }
    }

    /// The first call that started after `t` and succeeded, if any yet.
    fn first_success_after(&self, t: Instant) -> Option<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.started >= t && matches!(c.how, Ended::Ok { .. }))
            .min_by_key(|c| c.ended)
            .cloned()
    }

    async fn wait_first_success_after(&self, t: Instant, limit: Duration) -> Option<Call> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(c) = self.first_success_after(t) {
                return Some(c);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    async fn finish(self) -> Vec<Call> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            // Every caller's last call ends within its timeout.
            tokio::time::timeout(self.timeout + SLACK * 2, t)
                .await
                .expect("a caller hung")
                .unwrap();
        }
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

/// What a failover did to the traffic.
struct Report {
    calls: usize,
    ok: usize,
    failed_timeout: usize,
    failed_connection_lost: usize,
    other: Vec<String>,
    /// `n`s whose handler ran more than once.
    ran_twice: usize,
    /// Successful calls answered by a second (or later) run.
    answered_by_rerun: usize,
    /// Successful calls with no recorded run (must be 0).
    answered_without_run: usize,
    /// The longest a call took.
    longest: Duration,
}

fn report(calls: &[Call], runs: &HashMap<u64, u32>) -> Report {
    let mut r = Report {
        calls: calls.len(),
        ok: 0,
        failed_timeout: 0,
        failed_connection_lost: 0,
        other: Vec::new(),
        ran_twice: runs.values().filter(|&&k| k > 1).count(),
        answered_by_rerun: 0,
        answered_without_run: 0,
        longest: Duration::ZERO,
    };
    for c in calls {
        r.longest = r.longest.max(c.ended - c.started);
        match &c.how {
            Ended::Ok { run } => {
                r.ok += 1;
                if *run > 1 {
                    r.answered_by_rerun += 1;
                }
                if runs.get(&c.n).copied().unwrap_or(0) == 0 {
                    r.answered_without_run += 1;
                }
            }
            Ended::Timeout => r.failed_timeout += 1,
            Ended::ConnectionLost => r.failed_connection_lost += 1,
            Ended::Other(e) => r.other.push(e.clone()),
        }
    }
    r
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A server and a client connected with `conn` (through sentinels).
async fn serve(
    conn: ConnectOptions,
    runs: &Arc<Mutex<HashMap<u64, u32>>>,
    mode: Mode,
) -> (RedisRpcServer, Arc<RedisRpcClient>) {
    assert!(conn.sentinel_options().is_some());
    let server = RedisRpcServer::builder(conn.clone())
        .options(mode.server())
        .register_service(Arc::new(Counted::new(Arc::clone(runs))))
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = Arc::new(
        RedisRpcClient::connect_with(conn, mode.client())
            .await
            .unwrap(),
    );
    (server, client)
}

/// Runs traffic, lets `fail_over` start a failover (returning the time it
/// did, and whether the old primary is alive), checks and prints what
/// happened, and stops everything.
async fn failover_under_traffic(
    what: &str,
    setup: &mut SentinelSetup,
    conn: ConnectOptions,
    (callers, mode): (usize, Mode),
    fail_over: impl FnOnce(&mut SentinelSetup, u16) -> Instant,
) {
    let runs = Arc::new(Mutex::new(HashMap::new()));
    let (server, client) = serve(conn, &runs, mode).await;
    let old = setup.primary_port().expect("a primary");
    let timeout = mode.call_timeout();
    let traffic = Traffic::start(&client, callers, timeout);
    let begun = Instant::now();
    traffic
        .wait_first_success_after(begun, Duration::from_secs(10))
        .await
        .expect("calls succeed before the failover");
    // Steady traffic for the second before the failover the outage is
    // measured from (a load phase, not a wait for an event).
    tokio::time::sleep(Duration::from_secs(1)).await;

    let t0 = fail_over(setup, old);
    // Sentinel's part, measured on the side: when a sentinel names the new
    // primary. Then the first call started after that which succeeds.
    let deadline = t0 + RECOVERY_BOUND;
    let switched = loop {
        if setup.primary_port().is_some_and(|p| p != old) {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the sentinels named no new primary within {RECOVERY_BOUND:?} (logs in {})",
            setup.dir().display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let recovered = traffic
        .wait_first_success_after(switched, deadline.saturating_duration_since(Instant::now()))
        .await
        .unwrap_or_else(|| {
            panic!(
                "{what}: no call succeeded within {RECOVERY_BOUND:?} of the failover (logs in {})",
                setup.dir().display()
            )
        });
    let new = setup
        .wait_for_new_primary(old, Duration::from_secs(10))
        .expect("the sentinels agree on a new primary");
    // Traffic on the new primary for a while (more than the last second
    // the tail check below looks at), then stop.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = traffic.finish().await;

    let stopping = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("server.stop() hung after the failover");
    let stop_took = stopping.elapsed();
    let client = Arc::try_unwrap(client).expect("the callers are done");
    client.close().await;

    let runs = runs.lock().unwrap().clone();
    let r = report(&calls, &runs);
    let window: Vec<&Call> = calls
        .iter()
        .filter(|c| c.ended >= t0 && c.started <= recovered.ended)
        .collect();
    let in_window = |k: fn(&Ended) -> bool| window.iter().filter(|c| k(&c.how)).count();
    // The outage: the longest time without a successful call ending, from
    // just before the failover on.
    let mut ok_ends: Vec<Instant> = calls
        .iter()
        .filter(|c| matches!(c.how, Ended::Ok { .. }) && c.ended + Duration::from_secs(1) >= t0)
        .map(|c| c.ended)
        .collect();
    ok_ends.sort();
    let outage = ok_ends
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    println!(
        "\n{what}: primary 127.0.0.1:{old} -> 127.0.0.1:{new}\n\
         \x20 outage (longest time without a successful call): {} ms\n\
         \x20 failover start -> first successful call started after the switch: {} ms\n\
         \x20 sentinels named the new primary after: {} ms\n\
         \x20 calls: {} total, {} ok; failed: {} timeout, {} connection lost, {} other\n\
         \x20 failed in the outage window: {} timeout, {} connection lost\n\
         \x20 handler runs counted twice: {} (successful calls answered by a rerun: {})\n\
         \x20 longest call: {} ms (timeout {} ms); server.stop() after the failover: {} ms",
        outage.as_millis(),
        (recovered.ended - t0).as_millis(),
        (switched - t0).as_millis(),
        r.calls,
        r.ok,
        r.failed_timeout,
        r.failed_connection_lost,
        r.other.len(),
        in_window(|h| matches!(h, Ended::Timeout)),
        in_window(|h| matches!(h, Ended::ConnectionLost)),
        r.ran_twice,
        r.answered_by_rerun,
        r.longest.as_millis(),
        timeout.as_millis(),
        stop_took.as_millis(),
    );
    if mode == Mode::EffectivelyOnce {
        assert_eq!(
            (r.failed_timeout, r.failed_connection_lost, r.other.len()),
            (0, 0, 0),
            "{what}: with dedupe and retries no call fails: {:?}",
            &r.other[..r.other.len().min(5)]
        );
        assert_eq!(r.ran_twice, 0, "{what}: with dedupe no handler runs twice");
    }

    assert!(
        r.other.is_empty(),
        "{what}: calls failed other than by timeout or connection loss: {:?}",
        &r.other[..r.other.len().min(5)]
    );
    assert!(
        r.longest <= timeout + SLACK,
        "{what}: a call took {:?}, past its {timeout:?} timeout",
        r.longest
    );
    assert_eq!(
        r.answered_without_run, 0,
        "{what}: successful calls whose handler never ran"
    );
    // After the outage window, calls succeed: the last second of traffic
    // has no failures.
    let tail_from = calls.iter().map(|c| c.ended).max().unwrap() - Duration::from_secs(1);
    let tail_failed = calls
        .iter()
        .filter(|c| c.started >= tail_from && !matches!(c.how, Ended::Ok { .. }))
        .count();
    assert_eq!(
        tail_failed, 0,
        "{what}: calls still fail on the new primary"
    );
    assert!(
        stop_took < Duration::from_secs(5),
        "{what}: stop took {stop_took:?}"
    );
}

/// `setup.url()` (`redis+sentinel://`), keys under a fresh prefix.
fn plain_conn(setup: &SentinelSetup) -> ConnectOptions {
    ConnectOptions::new(clamator_test_support::unique_prefix(), &setup.url()).unwrap()
}

/// A Sentinel setup of its own whose primary is killed (SIGKILL) under the
/// traffic of 20 callers run as `mode` says; the replica must take over.
fn killed_primary(what: &str, mode: Mode) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    init_tracing();
    let began = Instant::now();
    // On the test's thread: the nodes die with it (PR_SET_PDEATHSIG).
    let mut setup = SentinelSetup::start();
    println!("Sentinel setup ready in {} ms", began.elapsed().as_millis());
    let conn = plain_conn(&setup);
    runtime().block_on(failover_under_traffic(
        what,
        &mut setup,
        conn,
        (20, mode),
        |setup, old| {
            setup.kill_data_node(old);
            Instant::now()
        },
    ));
    let replica = setup.data_ports()[1];
    assert_eq!(setup.primary_port(), Some(replica));
    println!("test took {} ms", began.elapsed().as_millis());
}

#[test]
fn a_killed_primary_fails_over_and_traffic_resumes() {
    killed_primary("primary killed (SIGKILL)", Mode::AtLeastOnce);
}

/// The same SIGKILL with a dedupe window on the server and retries on the
/// client (15 s timeouts): no call fails or times out, no handler runs twice;
/// the failover costs the calls in it latency (the longest call is printed).
#[test]
fn a_killed_primary_with_dedupe_and_retries_costs_latency_not_errors() {
    killed_primary(
        "primary killed (SIGKILL), dedupe window and client retries on",
        Mode::EffectivelyOnce,
    );
}

#[test]
fn a_demoted_primary_is_left_for_the_new_one() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    init_tracing();
    let began = Instant::now();
    let mut setup = SentinelSetup::start();
    let conn = plain_conn(&setup);
    runtime().block_on(failover_under_traffic(
        "manual failover (SENTINEL FAILOVER, old primary alive)",
        &mut setup,
        conn,
        (20, Mode::AtLeastOnce),
        |setup, _| {
            let t = Instant::now();
            setup.failover().unwrap();
            t
        },
    ));
    let [first, replica] = setup.data_ports()[..] else {
        panic!("two data nodes")
    };
    assert_eq!(setup.primary_port(), Some(replica));
    // The old primary is alive, now a replica: connections to it were left.
    let deadline = Instant::now() + Duration::from_secs(10);
    while setup.role(first).as_deref() != Some("slave") {
        assert!(Instant::now() < deadline, "the old primary was not demoted");
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("test took {} ms", began.elapsed().as_millis());
}

#[test]
fn tls_to_the_sentinels_and_the_data_nodes() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    init_tracing();
    let began = Instant::now();
    let pki = TestPki::generate();
    let mut setup = SentinelSetup::start_tls(&pki);
    println!(
        "TLS Sentinel setup ready in {} ms",
        began.elapsed().as_millis()
    );
    let url = setup.url();
    assert!(url.starts_with("rediss+sentinel://"), "{url}");
    let with_ca = |ca: &std::path::Path| {
        ConnectOptions::new(clamator_test_support::unique_prefix(), &url)
            .unwrap()
            .tls(TlsOptions::new().ca_pem_file(ca).unwrap())
            .unwrap()
    };
    let conn = with_ca(&pki.ca());
    runtime().block_on(async {
        // arith.add over TLS, through the sentinels, to the primary.
        let arith = TestArith::new();
        let server = RedisRpcServer::builder(conn.clone())
            .options(ServerOptions::default().start_timeout(Some(Duration::from_secs(10))))
            .dispatcher(arith.dispatcher())
            .start()
            .await
            .unwrap();
        let client = RedisRpcClient::connect(conn.clone()).await.unwrap();
        let sum = client
            .call(
                "arith",
                "add",
                json!({"a": 2, "b": 3.5}),
                Some(Duration::from_secs(5)),
            )
            .await
            .unwrap();
        assert_eq!(sum, json!({"sum": 5.5}));
        client.close().await;
        server.stop().await;

        // Another CA: the sentinels' certificates are refused, at once and
        // saying what to do.
        let wrong = with_ca(&pki.other_ca()).command_timeout(Duration::from_secs(2));
        let started = Instant::now();
        let e = tokio::time::timeout(Duration::from_secs(10), RedisRpcClient::connect(wrong))
            .await
            .expect("a connect with the wrong CA fails, not hangs")
            .expect_err("a connect with the wrong CA fails");
        match &e {
            ConnectError::Tls(tls) => assert_eq!(tls.kind(), TlsFailure::UnknownIssuer, "{e}"),
            other => panic!("expected ConnectError::Tls, got {other:?}"),
        }
        assert!(e.to_string().contains("--tls-ca"), "{e}");
        assert!(e.to_string().contains("mymaster"), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not failed at once: {:?}",
            started.elapsed()
        );

        // The CA for a plain redis+sentinel:// URL: refused, not plaintext.
        let plain = setup.url().replacen("rediss+sentinel", "redis+sentinel", 1);
        let refused = ConnectOptions::new("app", &plain)
            .unwrap()
            .tls(TlsOptions::new().ca_pem_file(pki.ca()).unwrap())
            .unwrap_err();
        assert!(
            refused.to_string().contains("rediss+sentinel://"),
            "{refused}"
        );
    });
    // A failover over TLS keeps calls answered.
    runtime().block_on(failover_under_traffic(
        "manual failover over TLS (SENTINEL FAILOVER, old primary alive)",
        &mut setup,
        conn,
        (5, Mode::AtLeastOnce),
        |setup, _| {
            let t = Instant::now();
            setup.failover().unwrap();
            t
        },
    ));
    let replica = setup.data_ports()[1];
    assert_eq!(setup.primary_port(), Some(replica));
    println!("TLS test took {} ms", began.elapsed().as_millis());
}
