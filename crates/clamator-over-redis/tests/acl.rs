//! Every role runs with exactly the ACL `clamator_over_redis::ops::acl` documents,
//! and Redis refuses nothing it sends (`ACL LOG` stays empty for its user),
//! through the paths that use the most commands: calls, a backlog skipped by
//! a group created at `$` (healed with `XGROUP SETID`), trimming, a long
//! handler (lease renewal), a dead letter, a stop with a handler running
//! (hand-over). A user limited to one prefix is refused on any other, with
//! an error that names the command; a wrong password fails at once. Users
//! limited to one service (`Role::rules_for`) serve and call it, refused
//! nothing, and are refused on another service at once.
//!
//! One throwaway `redis-server` for the whole file; each test has its own
//! prefix and users.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use clamator_over_redis::ops::acl::{ReplyStreams, Role};
use clamator_over_redis::ops::keys;
use clamator_over_redis::{
    ClientOptions, ConnectError, ConnectOptions, RedisRpcClient, RedisRpcServer, Refusal,
    ServerOptions,
};
use clamator_protocol::service::unary;
use clamator_protocol::{
    ContractDescriptor, Error, HandlerFuture, MethodDescriptor, Service, TransportError,
};
use clamator_test_support::context::{LOOP_TICK, housekeeping_passes};
use clamator_test_support::{SharedRedis, shared_redis, unique_prefix};
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Bound on every await that could hang.
const WAIT: Duration = Duration::from_secs(15);

/// The file's Redis, started on first use: this test binary's shared
/// server, which dies with the process (a `RedisServer` in a `static` is
/// never dropped, and outlived every run of this file).
fn redis() -> &'static SharedRedis {
    shared_redis()
}

async fn admin() -> MultiplexedConnection {
    redis::Client::open(redis().url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Creates `user` with password `pw` and the role's rules under `prefix`.
async fn create_user(user: &str, role: Role, prefix: &str, optional: bool) {
    create_user_with(user, &role.rules(prefix, optional)).await;
}

/// Creates `user` with password `pw` and `rules`.
async fn create_user_with(user: &str, rules: &str) {
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER").arg(user).arg("on").arg(">pw");
    for rule in rules.split(' ') {
        cmd.arg(rule);
    }
    let _: () = cmd.query_async(&mut admin().await).await.unwrap();
}

/// Connect options for `user` (password `pw`) under `prefix`.
fn conn_as(user: &str, password: &str, prefix: &str) -> ConnectOptions {
    let url = format!("redis://{user}:{password}@127.0.0.1:{}", redis().port());
    ConnectOptions::new(prefix, &url)
        .unwrap()
        .command_timeout(Duration::from_secs(2))
}

/// What Redis refused `user`, as `(reason, object)` pairs, from `ACL LOG`.
async fn refused(user: &str) -> Vec<(String, String)> {
    let entries: Vec<Value> = {
        let v: redis::Value = redis::cmd("ACL")
            .arg("LOG")
            .arg(1000)
            .query_async(&mut admin().await)
            .await
            .unwrap();
        let redis::Value::Array(items) = v else {
            panic!("ACL LOG answered {v:?}")
        };
        items.into_iter().map(to_json).collect()
    };
    entries
        .into_iter()
        .filter(|e| e["username"] == json!(user))
        .map(|e| {
            (
                e["reason"].as_str().unwrap_or("").to_owned(),
                e["object"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// A RESP value as JSON (maps from flat arrays of pairs).
fn to_json(v: redis::Value) -> Value {
    match v {
        redis::Value::BulkString(b) => json!(String::from_utf8_lossy(&b)),
        redis::Value::SimpleString(s) => json!(s),
        redis::Value::Int(i) => json!(i),
        redis::Value::Array(items) => {
            let mut map = serde_json::Map::new();
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let Value::String(k) = to_json(k) {
                    map.insert(k, to_json(v));
                }
            }
            Value::Object(map)
        }
        redis::Value::Map(pairs) => Value::Object(
            pairs
                .into_iter()
                .filter_map(|(k, v)| match to_json(k) {
                    Value::String(k) => Some((k, to_json(v))),
                    _ => None,
                })
                .collect(),
        ),
        other => json!(format!("{other:?}")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SleepParams {
    ms: u64,
}

#[derive(Serialize)]
struct Slept {
    ms: u64,
}

/// `acl.sleep {ms}`: sleeps, answers `{ms}`.
struct Sleeper {
    descriptor: ContractDescriptor,
}

impl Sleeper {
    fn named(service: &str) -> Arc<dyn Service> {
        Arc::new(Sleeper {
            descriptor: ContractDescriptor {
                service: service.to_owned(),
                methods: vec![MethodDescriptor {
                    name: "sleep".to_owned(),
                    rust_name: "sleep".to_owned(),
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

impl Service for Sleeper {
    fn descriptor(&self) -> &ContractDescriptor {
        &self.descriptor
    }
    fn call(&self, method: &str, params: Value) -> Option<HandlerFuture> {
        (method == "sleep").then(|| {
            unary(
                params,
                |_: &_| Ok(()),
                |p: SleepParams| async move {
                    tokio::time::sleep(Duration::from_millis(p.ms)).await;
                    Ok(Slept { ms: p.ms })
                },
            )
        })
    }
}

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(WAIT, f).await.expect("timed out")
}

/// The request envelope of `<service>.sleep` with `id`.
fn request(service: &str, id: &str, ms: u64) -> String {
    json!({"jsonrpc": "2.0", "method": format!("{service}.sleep"), "params": {"ms": ms}, "id": id})
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_runs_with_exactly_its_documented_acl() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let prefix = unique_prefix();
    let (srv, cli) = (format!("srv-{prefix}"), format!("cli-{prefix}"));
    create_user(&srv, Role::Server, &prefix, true).await;
    create_user(&cli, Role::Client, &prefix, false).await;
    let stream = keys::command_stream(&prefix, "acl");
    let mut admin = admin().await;

    // A backlog under a group created at `$` (as a Python worker would): the
    // server moves the group back (XGROUP SETID) and answers it.
    let backlog_reply = keys::reply_stream(&prefix, "backlog-caller");
    let _: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(request("acl", "backlog", 1))
        .arg("reply-to")
        .arg(&backlog_reply)
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("acl")
        .arg("$")
        .query_async(&mut admin)
        .await
        .unwrap();
    // A request a crashed worker took 10 times: dead-lettered, its caller told.
    // (On a second service: a read by a group created at `$` would hide the
    // backlog above, as behaviour.md says.)
    let dead_stream_cmds = keys::command_stream(&prefix, "acl2");
    let dead_reply = keys::reply_stream(&prefix, "dead-caller");
    let dead_id: String = redis::cmd("XADD")
        .arg(&dead_stream_cmds)
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(request("acl2", "dead", 1))
        .arg("reply-to")
        .arg(&dead_reply)
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&dead_stream_cmds)
        .arg("acl2")
        .arg("0")
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("acl2")
        .arg("acl2:crashed")
        .arg("STREAMS")
        .arg(&dead_stream_cmds)
        .arg(">")
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(&dead_stream_cmds)
        .arg("acl2")
        .arg("acl2:crashed")
        .arg(0)
        .arg(&dead_id)
        .arg("RETRYCOUNT")
        .arg(10)
        .query_async(&mut admin)
        .await
        .unwrap();

    // With the dedupe window: its records are under the documented rules too.
    let options = ServerOptions::default()
        .consumer_claim_idle(Duration::from_millis(600))
        .shutdown_grace(Duration::from_millis(200))
        .dedupe_window(Some(Duration::from_secs(60)))
        .__loop_tick(LOOP_TICK);
    let server = within(
        RedisRpcServer::builder(conn_as(&srv, "pw", &prefix))
            .options(options)
            .register_service(Sleeper::named("acl"))
            .unwrap()
            .register_service(Sleeper::named("acl2"))
            .unwrap()
            .start(),
    )
    .await
    .unwrap();
    let client = within(RedisRpcClient::connect_with(
        conn_as(&cli, "pw", &prefix),
        ClientOptions::default().default_timeout(Duration::from_secs(10)),
    ))
    .await
    .unwrap();

    // Calls, one of them longer than the claim idle (its lease is renewed).
    for ms in [1, 1_500] {
        let r = within(client.call("acl", "sleep", json!({"ms": ms}), None))
            .await
            .unwrap();
        assert_eq!(r, json!({"ms": ms}));
    }
    // The backlog was answered and the dead letter recorded.
    let dead_stream = keys::dead_letter_stream(&prefix, "acl2");
    within(async {
        loop {
            let answered: usize = redis::cmd("XLEN")
                .arg(&backlog_reply)
                .query_async(&mut admin)
                .await
                .unwrap();
            let dead: usize = redis::cmd("XLEN")
                .arg(&dead_stream)
                .query_async(&mut admin)
                .await
                .unwrap();
            if answered == 1 && dead == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // Let the housekeeping loop (XINFO GROUPS, XPENDING, XTRIM MINID ~) make
    // two more passes; an approximate trim of a few entries removes nothing
    // visible, but a refused command would show in ACL LOG below.
    housekeeping_passes(&server, 2).await;
    // A stop with a handler running hands its entry over.
    let long = client.call(
        "acl",
        "sleep",
        json!({"ms": 3_000}),
        Some(Duration::from_secs(1)),
    );
    let stopping = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.stop().await;
    };
    let (r, ()) = within(futures::future::join(long, stopping)).await;
    assert!(r.is_err(), "the call was abandoned at stop: {r:?}");
    within(client.close()).await;

    assert_eq!(
        refused(&srv).await,
        Vec::<(String, String)>::new(),
        "server refused"
    );
    assert_eq!(
        refused(&cli).await,
        Vec::<(String, String)>::new(),
        "client refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_optional_commands_still_stops_and_says_so_once() {
    let prefix = unique_prefix();
    let srv = format!("srv-min-{prefix}");
    create_user(&srv, Role::Server, &prefix, false).await;
    let server = within(
        RedisRpcServer::builder(conn_as(&srv, "pw", &prefix))
            .register_service(Sleeper::named("acl"))
            .unwrap()
            .start(),
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    within(server.stop()).await;
    // The parked read ends by its BLOCK (1 s) instead of CLIENT UNBLOCK.
    assert!(started.elapsed() < Duration::from_secs(5));
    let objects: Vec<String> = refused(&srv).await.into_iter().map(|(_, o)| o).collect();
    assert!(
        objects.iter().all(|o| o.starts_with("client|")),
        "only the optional commands are refused: {objects:?}"
    );
    // ACL LOG does record refusals (so the empty logs above mean something).
    assert!(objects.iter().any(|o| o == "client|id"), "{objects:?}");
}

/// Starts a server hosting `service` under `prefix` as `user`: it must fail
/// with `ConnectError::Refused` for lack of permission; returns the error.
async fn start_refused_permission(user: &str, prefix: &str, service: &str) -> ConnectError {
    let err = within(
        RedisRpcServer::builder(conn_as(user, "pw", prefix))
            .options(ServerOptions::default().start_timeout(Some(Duration::from_secs(5))))
            .register_service(Sleeper::named(service))
            .unwrap()
            .start(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectError::Refused {
                reason: Refusal::Permission,
                ..
            }
        ),
        "{err:?}"
    );
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_of_one_prefix_is_refused_on_another_with_the_command_named() {
    let (mine, theirs) = (unique_prefix(), unique_prefix());
    let (srv, cli) = (format!("srv-{mine}"), format!("cli-{mine}"));
    create_user(&srv, Role::Server, &mine, true).await;
    create_user(&cli, Role::Client, &mine, false).await;

    let err = start_refused_permission(&srv, &theirs, "acl").await;
    let text = err.to_string();
    assert!(
        text.contains("XGROUP CREATE") && text.contains("permissions") && text.contains("ACL"),
        "{text}"
    );

    let err = within(RedisRpcClient::connect(conn_as(&cli, "pw", &theirs)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectError::Refused {
                reason: Refusal::Permission,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("XADD") && text.contains("permissions"),
        "{text}"
    );

    // Nothing of the other prefix was written.
    let n: usize = redis::cmd("EXISTS")
        .arg(keys::command_stream(&theirs, "acl"))
        .query_async(&mut admin().await)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_fails_at_once_and_says_what_to_check() {
    let prefix = unique_prefix();
    let srv = format!("srv-pw-{prefix}");
    create_user(&srv, Role::Server, &prefix, true).await;
    // No start_timeout: a refusal must not be retried until it "works".
    let err = within(
        RedisRpcServer::builder(conn_as(&srv, "wrong", &prefix))
            .register_service(Sleeper::named("acl"))
            .unwrap()
            .start(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectError::Refused {
                reason: Refusal::Credentials,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("password"), "{err}");

    let err = within(RedisRpcClient::connect(conn_as(&srv, "wrong", &prefix)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectError::Refused {
                reason: Refusal::Credentials,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_limited_to_a_service_use_it_and_are_refused_on_another() {
    let prefix = unique_prefix();
    let (srv, cli) = (format!("srv-svc-{prefix}"), format!("cli-svc-{prefix}"));
    let server_rules = Role::Server
        .rules_for(&prefix, &["arith"], ReplyStreams::All, true)
        .unwrap();
    let client_rules = Role::Client
        .rules_for(&prefix, &["arith"], ReplyStreams::Prefixed("web-"), false)
        .unwrap();
    create_user_with(&srv, &server_rules).await;
    create_user_with(&cli, &client_rules).await;

    // With the dedupe window: its records are under the documented rules too.
    let options = ServerOptions::default()
        .consumer_claim_idle(Duration::from_millis(600))
        .shutdown_grace(Duration::from_millis(200))
        .dedupe_window(Some(Duration::from_secs(60)))
        .__loop_tick(LOOP_TICK);
    let server = within(
        RedisRpcServer::builder(conn_as(&srv, "pw", &prefix))
            .options(options)
            .register_service(Sleeper::named("arith"))
            .unwrap()
            .start(),
    )
    .await
    .unwrap();
    let client = within(RedisRpcClient::connect_with(
        conn_as(&cli, "pw", &prefix),
        ClientOptions::default()
            .instance_id("web-1")
            .default_timeout(Duration::from_secs(10)),
    ))
    .await
    .unwrap();

    // Calls, one longer than the claim idle (lease renewal), one the caller
    // gives up on (its cancel is added to the cancel stream, which the
    // server reads).
    for ms in [1, 1_500] {
        let r = within(client.call("arith", "sleep", json!({"ms": ms}), None))
            .await
            .unwrap();
        assert_eq!(r, json!({"ms": ms}));
    }
    let r = within(client.call(
        "arith",
        "sleep",
        json!({"ms": 2_000}),
        Some(Duration::from_millis(300)),
    ))
    .await;
    assert!(
        matches!(r, Err(Error::Transport(TransportError::Timeout { .. }))),
        "{r:?}"
    );
    // The cancel is sent in the background.
    let cancel_stream = keys::cancel_stream(&prefix, "arith");
    within(async {
        let mut admin = admin().await;
        loop {
            let n: usize = redis::cmd("XLEN")
                .arg(&cancel_stream)
                .query_async(&mut admin)
                .await
                .unwrap();
            if n == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    housekeeping_passes(&server, 2).await;

    // Another service: Redis refuses the request's XADD, and the call fails
    // at once (no timeout) with the refusal, naming the stream.
    let started = std::time::Instant::now();
    let r = within(client.call("billing", "sleep", json!({"ms": 1}), None)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once"
    );
    let Err(Error::Transport(err @ TransportError::Refused { .. })) = r else {
        panic!("expected a refusal: {r:?}")
    };
    let text = err.to_string();
    let billing = keys::command_stream(&prefix, "billing");
    assert!(
        text.contains(&billing) && text.contains("XADD") && text.contains("NoPerm"),
        "{text}"
    );

    server.stop().await;
    within(client.close()).await;
    assert_eq!(
        refused(&srv).await,
        Vec::<(String, String)>::new(),
        "server refused"
    );
    assert_eq!(
        refused(&cli).await,
        vec![("key".to_owned(), billing.clone())],
        "the client was refused only billing"
    );

    // The server user cannot read (or serve) billing's requests.
    let as_user = |user: &str| {
        let url = format!("redis://{user}:pw@127.0.0.1:{}", redis().port());
        async move {
            redis::Client::open(url)
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap()
        }
    };
    let mut srv_conn = as_user(&srv).await;
    let read = redis::cmd("XRANGE")
        .arg(&billing)
        .arg("-")
        .arg("+")
        .query_async::<redis::Value>(&mut srv_conn)
        .await
        .unwrap_err();
    assert_eq!(read.code(), Some("NOPERM"), "{read}");
    start_refused_permission(&srv, &prefix, "billing").await;
    // It answers callers but cannot read their replies.
    let read = redis::cmd("XREAD")
        .arg("STREAMS")
        .arg(keys::reply_stream(&prefix, "web-1"))
        .arg("0")
        .query_async::<redis::Value>(&mut srv_conn)
        .await
        .unwrap_err();
    assert_eq!(read.code(), Some("NOPERM"), "{read}");

    // The client cannot read other callers' requests, nor the replies of an
    // instance id outside `web-*`.
    let mut cli_conn = as_user(&cli).await;
    for (cmd, key) in [
        ("XRANGE", keys::command_stream(&prefix, "arith")),
        ("XRANGE", keys::reply_stream(&prefix, "other")),
    ] {
        let read = redis::cmd(cmd)
            .arg(&key)
            .arg("-")
            .arg("+")
            .query_async::<redis::Value>(&mut cli_conn)
            .await
            .unwrap_err();
        assert_eq!(read.code(), Some("NOPERM"), "{key}: {read}");
    }
}
