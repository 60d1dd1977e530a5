//! What only a Redis Cluster has: command streams of many services on
//! different primaries, a primary killed mid-traffic (failover to its
//! replica), and slots moved mid-traffic (resharding). The single-Redis
//! suites rerun on a cluster in `cluster_suite.rs`.
//!
//! Failover and resharding tests print a report line (calls answered, failed
//! before sending, timed out, handlers run twice) and assert what is
//! guaranteed: no call outlives its timeout, traffic resumes without
//! restarting anything, and (resharding, where Redis loses nothing) every
//! call is answered. With a dedupe window on the server and retries on the
//! client, a killed primary fails no call and runs no handler twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clamator_over_redis::ops::keys;
use clamator_over_redis::{
    ClientOptions, ConnectError, ConnectOptions, RedisRpcClient, RetryPolicy, ServerOptions,
};
use clamator_protocol::contract::{ContractDescriptor, MethodDescriptor};
use clamator_protocol::service::{HandlerFuture, Service};
use clamator_protocol::{Dispatcher, Error, TransportError};
use clamator_test_support::cluster::{ClusterSetup, shared_cluster};
use clamator_test_support::context::*;
use clamator_test_support::{TestArith, TestContext, unique_prefix};
use futures::FutureExt;
use serde_json::{Value, json};

/// A service named `name` whose one method, `echo`, answers its params.
struct Echo {
    descriptor: ContractDescriptor,
}

impl Echo {
    fn service(name: &str) -> Arc<dyn Service> {
        Arc::new(Echo {
            descriptor: ContractDescriptor {
                service: name.to_owned(),
                methods: vec![MethodDescriptor {
                    name: "echo".to_owned(),
                    rust_name: "echo".to_owned(),
                    notification: false,
                    params_schema: json!({"type": "object"}),
                    result_schema: Some(json!({"type": "object"})),
                    params_schema_text: None,
                    result_schema_text: None,
                }],
            },
        })
    }
}

impl Service for Echo {
    fn descriptor(&self) -> &ContractDescriptor {
        &self.descriptor
    }

    fn call(&self, method: &str, params: Value) -> Option<HandlerFuture> {
        (method == "echo").then(|| {
            async move {
                // Long enough that calls made in parallel overlap.
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(Some(params))
            }
            .boxed()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_spread_over_the_primaries_and_one_client_calls_them_in_parallel() {
    let cluster = shared_cluster();
    let ctx = TestContext::on_cluster(cluster);
    // One service per primary: names whose command streams hash to each.
    let mut by_primary: HashMap<u16, String> = HashMap::new();
    for i in 0.. {
        let name = format!("svc-{i}");
        let primary = cluster
            .primary_of(&keys::command_stream(ctx.prefix(), &name))
            .unwrap();
        by_primary.entry(primary).or_insert(name);
        if by_primary.len() == 3 {
            break;
        }
    }
    let names: Vec<String> = by_primary.into_values().collect();
    let mut dispatcher = Dispatcher::builder();
    for name in &names {
        dispatcher = dispatcher.register_service(Echo::service(name)).unwrap();
    }
    let server = within(
        clamator_over_redis::RedisRpcServer::builder(ctx.conn())
            .dispatcher(dispatcher.build())
            .start(),
    )
    .await
    .unwrap();
    let client = ctx.client().await;
    let started = Instant::now();
    let calls = names.iter().map(|name| {
        let client = &client;
        async move { client.call(name, "echo", json!({"to": name}), None).await }
    });
    let answers = within(futures::future::join_all(calls)).await;
    let took = started.elapsed();
    for (name, answer) in names.iter().zip(answers) {
        assert_eq!(answer.unwrap(), json!({"to": name}));
    }
    // Each handler takes 300 ms: one after the other would take 900 ms.
    assert!(took < Duration::from_millis(850), "took {took:?}");
    // Nothing pending on any primary.
    let raw = ctx.raw().await;
    for name in &names {
        let stream = keys::command_stream(ctx.prefix(), name);
        eventually(&format!("nothing pending in {stream}"), || {
            let mut raw = raw.clone();
            let stream = stream.clone();
            async move { pending_count(&mut raw, &stream, name).await == 0 }
        })
        .await;
    }
    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_seed_is_enough_and_bad_seeds_say_what_to_do() {
    let cluster = shared_cluster();
    let prefix = unique_prefix();
    // Only the last node given: the client learns the others from it.
    let seed = cluster.seeds().pop().unwrap();
    let one = ConnectOptions::cluster(prefix.clone(), [seed.as_str()]).unwrap();
    let arith = TestArith::new();
    let ctx = TestContext::on_cluster(cluster);
    let server = ctx
        .server_on(one.clone(), ServerOptions::default(), &arith)
        .await;
    let client = within(RedisRpcClient::connect_with(
        one,
        ClientOptions::default().default_timeout(CALL_TIMEOUT),
    ))
    .await
    .unwrap();
    let sum = within(client.call("arith", "add", json!({"a": 1, "b": 2}), None))
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 3.0}));
    client.close().await;
    server.stop().await;

    // A node that is not there: connecting fails within the command timeout, saying so.
    let closed = clamator_test_support::ClosedPort::reserve();
    let dead = closed.url();
    let conn = ConnectOptions::cluster(prefix, [dead.as_str()])
        .unwrap()
        .command_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let err = within(RedisRpcClient::connect_with(conn, ClientOptions::default()))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    assert!(matches!(err, ConnectError::Unreachable { .. }), "{err:?}");
}

/// What a stretch of traffic saw.
#[derive(Debug, Default)]
struct Report {
    /// Calls answered with the right sum.
    answered: usize,
    /// Calls that failed before Redis took them (`ConnectionLost`, `Refused`).
    not_sent: usize,
    /// Calls Redis took and that were never answered in time (`Timeout`).
    timed_out: usize,
    /// Calls answered after the disruption.
    answered_after: usize,
    /// The longest call.
    longest: Duration,
}

/// Calls `arith.add` with `a` = 0, 1, 2, ... from `workers` tasks until
/// `stop`, recording each outcome; calls started after `after` is set count
/// in `answered_after` too.
async fn traffic(
    client: Arc<RedisRpcClient>,
    workers: usize,
    stop: Arc<AtomicBool>,
    after: Arc<AtomicBool>,
    answered_late: Arc<tokio::sync::watch::Sender<usize>>,
) -> Report {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks = (0..workers).map(|_| {
        let (client, stop, after, next, answered_late) = (
            Arc::clone(&client),
            Arc::clone(&stop),
            Arc::clone(&after),
            Arc::clone(&next),
            Arc::clone(&answered_late),
        );
        tokio::spawn(async move {
            let mut r = Report::default();
            while !stop.load(Ordering::Relaxed) {
                let a = next.fetch_add(1, Ordering::Relaxed);
                let late = after.load(Ordering::Relaxed);
                let started = Instant::now();
                let outcome = client
                    .call("arith", "add", json!({"a": a, "b": 1}), None)
                    .await;
                r.longest = r.longest.max(started.elapsed());
                match outcome {
                    Ok(v) => {
                        assert_eq!(v, json!({"sum": a as f64 + 1.0}));
                        r.answered += 1;
                        if late {
                            r.answered_after += 1;
                            answered_late.send_modify(|n| *n += 1);
                        }
                    }
                    Err(Error::Transport(TransportError::Timeout { .. })) => r.timed_out += 1,
                    Err(Error::Transport(_)) => {
                        r.not_sent += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => panic!("unexpected error: {e:?}"),
                }
            }
            r
        })
    });
    let mut total = Report::default();
    for r in futures::future::join_all(tasks).await {
        let r = r.unwrap();
        total.answered += r.answered;
        total.not_sent += r.not_sent;
        total.timed_out += r.timed_out;
        total.answered_after += r.answered_after;
        total.longest = total.longest.max(r.longest);
    }
    total
}

/// Handler runs of one `a` beyond the first.
fn ran_twice(arith: &TestArith) -> usize {
    let mut seen = HashMap::new();
    for a in arith.handled() {
        *seen.entry(a.to_bits()).or_insert(0usize) += 1;
    }
    seen.values().filter(|&&n| n > 1).map(|n| n - 1).sum()
}

/// A server, a client and 4 callers on a cluster, for a disruption test.
struct Disruption {
    ctx: TestContext,
    arith: TestArith,
    server: clamator_over_redis::RedisRpcServer,
    client: Arc<RedisRpcClient>,
    /// Ends the traffic.
    stop: Arc<AtomicBool>,
    /// Set once the disruption is over: later calls count as `answered_after`.
    after: Arc<AtomicBool>,
    /// How many calls started after the disruption were answered so far.
    answered_late: tokio::sync::watch::Receiver<usize>,
    load: tokio::task::JoinHandle<Report>,
}

impl Disruption {
    /// Starts everything and waits until 50 calls were handled.
    async fn start(
        cluster: &ClusterSetup,
        options: ServerOptions,
        client: ClientOptions,
    ) -> Disruption {
        let ctx = TestContext::on_cluster(cluster);
        let arith = TestArith::new();
        let server = ctx.server(options, &arith).await;
        let client = Arc::new(ctx.client_with(client).await);
        let (stop, after) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (late_tx, answered_late) = tokio::sync::watch::channel(0);
        let load = tokio::spawn(traffic(
            Arc::clone(&client),
            4,
            Arc::clone(&stop),
            Arc::clone(&after),
            Arc::new(late_tx),
        ));
        arith
            .until("some calls handled", |a| a.handled().len() >= 50)
            .await;
        Disruption {
            ctx,
            arith,
            server,
            client,
            stop,
            after,
            answered_late,
            load,
        }
    }

    /// Marks the disruption over, waits until `n` calls started after it
    /// were answered (handler runs would not do: after a failover, second
    /// runs of entries reclaimed before their acks reached the new primary
    /// may come first), ends the traffic and returns what it saw.
    async fn finish_after(&mut self, n: usize) -> Report {
        self.after.store(true, Ordering::Relaxed);
        within(self.answered_late.wait_for(|answered| *answered >= n))
            .await
            .expect("the traffic runs until stopped");
        self.stop.store(true, Ordering::Relaxed);
        within(&mut self.load).await.unwrap()
    }

    /// Checks a last call, then closes the client and stops the server.
    async fn close(self) {
        within(
            self.client
                .call("arith", "add", json!({"a": -1, "b": 1}), None),
        )
        .await
        .unwrap();
        Arc::into_inner(self.client).unwrap().close().await;
        self.server.stop().await;
    }
}

/// How long a call may wait for its reply in the disruption tests.
const DISRUPTION_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Kills the primary of the command stream's slot mid-traffic (a cluster
/// of its own, 3 primaries with a replica each), waits for its replica to
/// take over and for 50 more calls, prints what happened, and returns it
/// with the number of second handler runs.
async fn primary_killed_mid_traffic(
    what: &str,
    options: ServerOptions,
    timeout: Duration,
    client: ClientOptions,
) -> (Report, usize) {
    let cluster = tokio::task::spawn_blocking(|| ClusterSetup::start(3, 1))
        .await
        .unwrap();
    let d = Disruption::start(&cluster, options, client.default_timeout(timeout)).await;
    let ctx = &d.ctx;

    let stream = ctx.stream();
    let slot = cluster.slot_of(&stream);
    let old = cluster.primary_of_slot(slot).unwrap();
    let killed_at = Instant::now();
    let new_primary = tokio::task::block_in_place(|| {
        cluster.kill_node(old);
        cluster.await_new_primary(slot, old, Duration::from_secs(30))
    })
    .expect("a replica takes over within 30 s");
    let failover = killed_at.elapsed();
    let mut d = d;
    let report = d.finish_after(50).await;
    let twice = ran_twice(&d.arith);
    println!(
        "failover report ({what}): primary {old} killed, replica {new_primary} took over in \
         {} ms; {} calls answered ({} after the takeover), {} failed before Redis took them, \
         {} timed out ({} s timeout), {} handler runs were second runs; longest call {} ms",
        failover.as_millis(),
        report.answered,
        report.answered_after,
        report.not_sent,
        report.timed_out,
        timeout.as_secs(),
        twice,
        report.longest.as_millis(),
    );
    assert!(report.answered_after >= 50, "{report:?}");
    assert!(
        report.longest < timeout + Duration::from_secs(3),
        "a call outlived its timeout: {report:?}"
    );
    d.close().await;
    (report, twice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_mid_traffic_fails_over_and_traffic_resumes() {
    let options = ServerOptions::default().consumer_claim_idle(Duration::from_secs(2));
    let (_, twice) = primary_killed_mid_traffic(
        "at least once",
        options,
        DISRUPTION_CALL_TIMEOUT,
        ClientOptions::default(),
    )
    .await;
    // Second runs: entries pending at the kill whose acks did not reach the
    // new primary (a few: each of the 4 callers waits for its answer). The
    // promoted replica's group looks like one created at `$` over a backlog;
    // moving it back to 0 ran all 50+ entries handled before the kill again.
    assert!(twice < 25, "{twice} handler runs were second runs");
}

/// The same with a dedupe window on the server and retries on the client
/// (15 s timeouts): no call fails or times out, no handler runs twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_with_dedupe_and_retries_costs_latency_not_errors() {
    let options = ServerOptions::default()
        .consumer_claim_idle(Duration::from_secs(2))
        .dedupe_window(Some(Duration::from_secs(60)));
    let retries = ClientOptions::default().retry(Some(
        RetryPolicy::new()
            .resend_after(Duration::from_secs(1))
            .max_attempts(100)
            .backoff_first(Duration::from_millis(50))
            .backoff_max(Duration::from_millis(500)),
    ));
    let (report, twice) = primary_killed_mid_traffic(
        "dedupe window and client retries on",
        options,
        Duration::from_secs(15),
        retries,
    )
    .await;
    assert_eq!(
        (report.not_sent, report.timed_out),
        (0, 0),
        "with retries no call fails: {report:?}"
    );
    assert_eq!(twice, 0, "with dedupe no handler runs twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_the_slots_of_the_command_and_reply_streams_mid_traffic_loses_nothing() {
    let cluster = tokio::task::spawn_blocking(|| ClusterSetup::start(3, 0))
        .await
        .unwrap();
    let d = Disruption::start(
        &cluster,
        ServerOptions::default(),
        ClientOptions::default().default_timeout(DISRUPTION_CALL_TIMEOUT),
    )
    .await;
    let (ctx, arith, client) = (&d.ctx, &d.arith, &d.client);
    let mut moves = Vec::new();
    for key in [ctx.stream(), client.reply_stream().to_owned()] {
        let slot = cluster.slot_of(&key);
        let from = cluster.primary_of_slot(slot).unwrap();
        let to = *cluster.primaries().iter().find(|&&p| p != from).unwrap();
        let keys = tokio::task::block_in_place(|| cluster.move_slot(slot, from, to));
        assert_eq!(cluster.primary_of(&key), Some(to));
        moves.push(format!("{key} (slot {slot}, {keys} keys) {from} -> {to}"));
        let before = arith.handled().len();
        arith
            .until("calls handled after the move", |a| {
                a.handled().len() >= before + 30
            })
            .await;
    }
    let mut d = d;
    let report = d.finish_after(30).await;
    let (ctx, arith) = (&d.ctx, &d.arith);
    println!(
        "resharding report: moved {}; {} calls answered ({} after both moves), {} failed \
         before Redis took them, {} timed out, {} handler runs were second runs; longest call \
         {} ms",
        moves.join(", "),
        report.answered,
        report.answered_after,
        report.not_sent,
        report.timed_out,
        ran_twice(arith),
        report.longest.as_millis(),
    );
    // Redis loses nothing when a slot moves: every call that was sent is answered.
    assert_eq!(report.timed_out, 0, "{report:?}");
    assert!(report.answered_after >= 10, "{report:?}");
    let raw = ctx.raw().await;
    nothing_pending(&raw, &ctx.stream(), "every entry acked").await;
    d.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_users_with_the_documented_cluster_rules_are_refused_nothing() {
    let cluster = shared_cluster();
    let prefix = unique_prefix();
    let suffix = &prefix[2..10];
    let users = (format!("srv-{suffix}"), format!("cli-{suffix}"));
    let (arith, server, client) = served_as_users(cluster, &prefix, &users, |role| {
        role.cluster_rules(&prefix, true)
    })
    .await;
    for i in 0..20 {
        let sum = within(client.call("arith", "add", json!({"a": i, "b": 1}), None))
            .await
            .unwrap();
        assert_eq!(sum, json!({"sum": f64::from(i) + 1.0}));
    }
    within(client.notify("arith", "ping", json!({})))
        .await
        .unwrap();
    arith.pinged_at_least(1).await;
    client.close().await;
    server.stop().await;
    let ours = acl_log_naming(cluster, &[suffix]);
    assert!(ours.is_empty(), "refused: {ours:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_users_limited_to_a_service_use_it_and_are_refused_on_another() {
    use clamator_over_redis::ops::acl::ReplyStreams;
    let cluster = shared_cluster();
    let prefix = unique_prefix();
    let suffix = &prefix[2..10];
    let users = (format!("srv1-{suffix}"), format!("cli1-{suffix}"));
    let (server_user, client_user) = &users;
    let (_arith, server, client) = served_as_users(cluster, &prefix, &users, |role| {
        role.cluster_rules_for(&prefix, &["arith"], ReplyStreams::All, true)
            .unwrap()
    })
    .await;
    for i in 0..5 {
        let sum = within(client.call("arith", "add", json!({"a": i, "b": 1}), None))
            .await
            .unwrap();
        assert_eq!(sum, json!({"sum": f64::from(i) + 1.0}));
    }
    let billing = keys::command_stream(&prefix, "billing");
    let r = within(client.call("billing", "add", json!({"a": 1, "b": 1}), None)).await;
    let Err(Error::Transport(err @ TransportError::Refused { .. })) = r else {
        panic!("expected a refusal: {r:?}")
    };
    assert!(err.to_string().contains(&billing), "{err}");
    client.close().await;
    server.stop().await;
    // Only billing's request was refused, on the node that holds its slot.
    let refusals = acl_log_naming(cluster, &[server_user.as_str(), client_user.as_str()]);
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(
        refusals[0].contains(&billing) && refusals[0].contains(client_user.as_str()),
        "{refusals:?}"
    );
}

/// On every node of `cluster`, the ACL users `(server, client)` (password
/// `pw`) with the rules `rules` gives each role; then a server hosting a
/// fresh `arith` and a client under `prefix`, connected as them.
async fn served_as_users(
    cluster: &ClusterSetup,
    prefix: &str,
    (server_user, client_user): &(String, String),
    rules: impl Fn(clamator_over_redis::ops::acl::Role) -> String,
) -> (
    TestArith,
    clamator_over_redis::RedisRpcServer,
    RedisRpcClient,
) {
    use clamator_over_redis::ops::acl::Role;
    use clamator_test_support::sentinel::{Resp, command};
    for &port in cluster.ports() {
        for (user, role) in [(server_user, Role::Server), (client_user, Role::Client)] {
            let rules = rules(role);
            let mut args = vec!["ACL", "SETUSER", user.as_str(), "on", ">pw"];
            args.extend(rules.split(' '));
            assert_eq!(command(port, &args).unwrap(), Resp::Simple("OK".into()));
        }
    }
    let conn_as = |user: &str| {
        let seeds = cluster
            .ports()
            .iter()
            .map(|p| format!("redis://{user}:pw@127.0.0.1:{p}"));
        ConnectOptions::cluster(prefix.to_owned(), seeds.collect::<Vec<_>>())
            .unwrap()
            .command_timeout(COMMAND_TIMEOUT)
    };
    let arith = TestArith::new();
    let server = TestContext::on_cluster(cluster)
        .server_on(conn_as(server_user), ServerOptions::default(), &arith)
        .await;
    let client = within(RedisRpcClient::connect_with(
        conn_as(client_user),
        ClientOptions::default().default_timeout(CALL_TIMEOUT),
    ))
    .await
    .unwrap();
    (arith, server, client)
}

/// The `ACL LOG` entries of every node of `cluster` that name any of `needles`.
fn acl_log_naming(cluster: &ClusterSetup, needles: &[&str]) -> Vec<String> {
    use clamator_test_support::sentinel::{Resp, command};
    let mut found = Vec::new();
    for &port in cluster.ports() {
        let Ok(Resp::Array(Some(entries))) = command(port, &["ACL", "LOG", "100"]) else {
            panic!("ACL LOG on {port} failed");
        };
        found.extend(
            entries
                .into_iter()
                .map(|e| format!("{e:?}"))
                .filter(|e| needles.iter().any(|n| e.contains(n))),
        );
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_serves_calls_and_an_unknown_ca_is_named() {
    use clamator_over_redis::TlsOptions;
    use clamator_test_support::tls::TestPki;
    let pki = TestPki::generate();
    let cluster = tokio::task::block_in_place(|| ClusterSetup::start_tls(3, 0, &pki));
    let prefix = unique_prefix();
    let seeds = cluster.seeds();
    assert!(
        seeds.iter().all(|s| s.starts_with("rediss://")),
        "{seeds:?}"
    );
    let conn = |ca: &std::path::Path| {
        ConnectOptions::cluster(prefix.clone(), seeds.iter())
            .unwrap()
            .tls(TlsOptions::new().ca_pem_file(ca).unwrap())
            .unwrap()
            .command_timeout(COMMAND_TIMEOUT)
    };
    let arith = TestArith::new();
    let ctx = TestContext::on_cluster(&cluster);
    let server = ctx
        .server_on(conn(&pki.ca()), ServerOptions::default(), &arith)
        .await;
    let client = within(RedisRpcClient::connect_with(
        conn(&pki.ca()),
        ClientOptions::default().default_timeout(CALL_TIMEOUT),
    ))
    .await
    .unwrap();
    for i in 0..10 {
        let sum = within(client.call("arith", "add", json!({"a": i, "b": 1}), None))
            .await
            .unwrap();
        assert_eq!(sum, json!({"sum": f64::from(i) + 1.0}));
    }
    client.close().await;
    server.stop().await;
    // A CA that did not sign the nodes' certificates: refused, not retried forever.
    let err = within(RedisRpcClient::connect_with(
        conn(&pki.other_ca()),
        ClientOptions::default(),
    ))
    .await
    .unwrap_err();
    println!("unknown CA: {err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
}

/// Every primary of a cluster fills up while two workers run handlers (the
/// replies go to a reply stream on one primary, the acks to the command
/// stream's, each refused or not on its own): every call is answered exactly
/// once after memory is freed, no handler runs twice, nothing is left
/// pending. And a call made while the cluster is full fails at once, saying
/// so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_refused_while_the_cluster_is_full_are_written_once_it_is_freed() {
    let cluster = tokio::task::spawn_blocking(|| ClusterSetup::start(3, 0))
        .await
        .unwrap();
    let nodes: Vec<String> = cluster
        .primaries()
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect();
    let ctx = TestContext::on_cluster(&cluster);
    clamator_test_support::faults::out_of_memory_while_handlers_run(&ctx, &nodes, 50).await;
    let ctx = TestContext::on_cluster(&cluster);
    clamator_test_support::faults::a_call_while_redis_is_full_fails_at_once_saying_so(&ctx, &nodes)
        .await;
}
