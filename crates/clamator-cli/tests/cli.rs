//! The `clamator` binary against real redis-server processes, with an `arith`
//! worker (RedisRpcServer + ArithHandler) running in the test process.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command as StdCommand, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use clamator_arith::{ArithContract, ArithHandler};
use clamator_over_redis::ops::keys;
use clamator_over_redis::{
    ClientOptions, ConnectOptions, RedisRpcClient, RedisRpcServer, ServerOptions,
};
use clamator_test_support::{ClosedPort, RedisServer, unique_prefix};
use predicates::prelude::*;
use serde_json::{Value, json};

/// Bound on every subprocess.
const PROC_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on every await in the test process.
const WAIT: Duration = Duration::from_secs(10);

/// A throwaway Redis, a unique prefix, and optionally an `arith` worker.
struct Fixture {
    redis: RedisServer,
    prefix: String,
    rt: tokio::runtime::Runtime,
    server: Option<RedisRpcServer>,
}

impl Fixture {
    fn bare() -> Fixture {
        Fixture {
            redis: RedisServer::start(),
            prefix: unique_prefix(),
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            server: None,
        }
    }

    /// With an `arith` worker whose instance id is `t1`.
    fn with_arith() -> Fixture {
        let mut f = Fixture::bare();
        f.serve_arith(ServerOptions::default());
        f
    }

    /// Starts the `arith` worker `t1` with these options.
    fn serve_arith(&mut self, options: ServerOptions) {
        let builder = RedisRpcServer::builder(self.conn_options())
            .options(options.instance_id("t1"))
            .register(ArithContract, ArithHandler::new("t1"))
            .unwrap();
        let server = self
            .rt
            .block_on(async { tokio::time::timeout(WAIT, builder.start()).await })
            .unwrap()
            .unwrap();
        self.server = Some(server);
    }

    fn conn_options(&self) -> ConnectOptions {
        ConnectOptions::new(&self.prefix, &self.redis.url()).unwrap()
    }

    /// `clamator --redis-url <test redis> --key-prefix <prefix>`, environment cleared.
    fn cli(&self) -> Command {
        let mut cmd = bare_cli();
        cmd.args([
            "--redis-url",
            &self.redis.url(),
            "--key-prefix",
            &self.prefix,
        ]);
        cmd
    }

    /// A synchronous connection for raw checks.
    fn conn(&self) -> redis::Connection {
        let client = redis::Client::open(self.redis.url()).unwrap();
        let conn = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn
    }

    fn cmds(&self, service: &str) -> String {
        keys::command_stream(&self.prefix, service)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(WAIT, server.stop()).await });
        }
    }
}

/// The binary with no inherited configuration and a time bound.
fn bare_cli() -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("clamator");
    cmd.env_remove("REDIS_URL")
        .env_remove("CLAMATOR_KEY_PREFIX")
        .timeout(PROC_TIMEOUT);
    cmd
}

fn stdout_json(out: &std::process::Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {text}"))
}

fn stdout_text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn call_prints_the_result() {
    let f = Fixture::with_arith();
    let out = f
        .cli()
        .args(["--json", "call", "arith.add", r#"{"a": 2, "b": 3}"#])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout_json(&out), json!({"sum": 5.0}));

    // Table mode prints indented JSON; global options may follow the command.
    let out = bare_cli()
        .args(["call", "arith.echoText", r#"{"text": "héllo 👋"}"#])
        .args(["--redis-url", &f.redis.url(), "--key-prefix", &f.prefix])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout_json(&out), json!({"text": "héllo 👋"}));
    assert!(
        stdout_text(&out).contains("\n  \"text\""),
        "pretty: {}",
        stdout_text(&out)
    );

    // Params from stdin; configuration from the environment.
    let out = bare_cli()
        .env("REDIS_URL", f.redis.url())
        .env("CLAMATOR_KEY_PREFIX", &f.prefix)
        .args(["call", "arith.slowAdd", "-", "--timeout-ms", "5000"])
        .write_stdin(r#"{"a": 1, "b": 2, "sleepMs": 10}"#)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout_json(&out), json!({"sum": 3.0}));

    // Params default to {}.
    f.cli()
        .args(["call", "arith.whoami"])
        .assert()
        .success()
        .stdout(predicate::str::contains("rust:t1"));

    // The CLI's client deletes its reply stream when done.
    let mut conn = f.conn();
    let leftovers: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", keys::reply_stream(&f.prefix, "")))
        .query(&mut conn)
        .unwrap();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn rpc_errors_print_the_error_object_and_exit_1() {
    let f = Fixture::with_arith();
    let out = f
        .cli()
        .args(["call", "arith.divide", r#"{"a": 1, "b": 0}"#, "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        stdout_json(&out),
        json!({"code": -32000, "message": "division by zero", "data": {"a": 1.0}})
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("-32000"));

    let out = f
        .cli()
        .args(["call", "arith.add", r#"{"a": 1, "b": "two"}"#])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stdout_json(&out);
    assert_eq!(err["code"], -32602);
    assert_eq!(err["message"], "Invalid params");
    let errors = err["data"]["errors"].as_array().unwrap();
    assert!(!errors.is_empty());
    assert_eq!(errors[0]["loc"], json!(["b"]), "{err}");

    let out = f.cli().args(["call", "arith.nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(stdout_json(&out)["code"], -32601);
}

#[test]
fn usage_errors_exit_2() {
    let f = Fixture::bare();
    let bad_json = f
        .cli()
        .args(["call", "arith.add", r#"{"a": 1 "b": 2}"#])
        .output()
        .unwrap();
    assert_eq!(bad_json.status.code(), Some(2), "{bad_json:?}");
    let err = String::from_utf8_lossy(&bad_json.stderr);
    assert!(
        err.contains("invalid JSON") && err.contains("line 1 column 9"),
        "{err}"
    );
    assert!(
        err.contains("{\"a\": 1 \"b\": 2}\n          ^"),
        "caret: {err}"
    );

    let bad_stdin = f
        .cli()
        .args(["call", "arith.add", "-"])
        .write_stdin("{]")
        .output()
        .unwrap();
    assert_eq!(bad_stdin.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_stdin.stderr).contains("stdin"));

    let no_prefix = bare_cli()
        .args(["--redis-url", &f.redis.url(), "services"])
        .output()
        .unwrap();
    assert_eq!(no_prefix.status.code(), Some(2));
    let err = String::from_utf8_lossy(&no_prefix.stderr);
    assert!(
        err.contains("--key-prefix") && err.contains("CLAMATOR_KEY_PREFIX"),
        "{err}"
    );

    for args in [
        vec!["call", "arith"],          // no method
        vec!["call", "Arith.add"],      // bad service name
        vec!["call", "arith.add", "5"], // params not an object
        vec!["call", "arith.add", "--timeout-ms", "0"],
        vec!["frobnicate"],                 // clap: unknown command
        vec!["call"],                       // clap: missing argument
        vec!["gc", "--older-than", "soon"], // bad duration
        vec!["pending", "no-such-service"], // no such command stream
        vec!["dead", "Bad_Name"],           // invalid service name
        vec!["dead", "arith", "--yes"],     // clap: --yes needs --requeue
    ] {
        let out = f.cli().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }

    let bad_url = bare_cli()
        .args([
            "--redis-url",
            "http://nope",
            "--key-prefix",
            "p",
            "services",
        ])
        .output()
        .unwrap();
    assert_eq!(bad_url.status.code(), Some(2), "{bad_url:?}");

    bare_cli().arg("--help").assert().success();
}

#[test]
fn bench_is_not_a_cli_command() {
    // The benchmarks moved to their own crate (`cargo run -p clamator-bench`).
    let out = bare_cli().arg("bench").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let help = bare_cli().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(!help.contains("bench"), "{help}");
    assert!(help.contains("demo"), "{help}");
}

#[test]
fn transport_failures_exit_3() {
    let closed = ClosedPort::reserve();
    let url = closed.url();
    for args in [
        vec!["call", "arith.add", "{}"],
        vec!["notify", "arith.ping"],
        vec!["services"],
        vec!["pending", "arith"],
        vec!["dead", "arith"],
        vec!["dead", "arith", "--requeue", "--yes"],
        vec!["replies"],
        vec!["gc"],
        vec!["tail", "arith", "--count", "1"],
    ] {
        let started = Instant::now();
        let out = bare_cli()
            .args(["--redis-url", &url, "--key-prefix", "p"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot reach Redis") && err.contains("--redis-url"),
            "{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{args:?} failed fast"
        );
    }

    // A service nobody serves: the call times out.
    let f = Fixture::bare();
    let started = Instant::now();
    let out = f
        .cli()
        .args(["call", "nobody.add", "{}", "--timeout-ms", "300"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no reply within 300 ms") && err.contains("clamator services"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn notify_sends_without_waiting() {
    let f = Fixture::with_arith();
    for _ in 0..2 {
        let out = f
            .cli()
            .args(["--json", "notify", "arith.ping"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let v = stdout_json(&out);
        assert_eq!(v["sent"], true);
        assert_eq!(v["stream"], f.cmds("arith"));
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let out = f
            .cli()
            .args(["--json", "call", "arith.pingCount"])
            .output()
            .unwrap();
        if stdout_json(&out) == json!({"count": 2}) {
            break;
        }
        assert!(Instant::now() < deadline, "pings never counted: {out:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Adds an entry to `service`'s command stream and has consumer `owner` take it
/// without acknowledging, as a crashed worker would.
fn strand_entry(f: &Fixture, service: &str, owner: &str) -> String {
    let mut conn = f.conn();
    let stream = f.cmds(service);
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg(keys::group(service))
        .arg("$")
        .arg("MKSTREAM")
        .query(&mut conn)
        .unwrap();
    let envelope = json!({"jsonrpc": "2.0", "method": format!("{service}.work"), "params": {"n": 1}, "id": "req-1"});
    let id: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg(keys::FIELD_TYPE)
        .arg(keys::TYPE_RPC)
        .arg(keys::FIELD_ENVELOPE)
        .arg(envelope.to_string())
        .arg(keys::FIELD_REPLY_TO)
        .arg(keys::reply_stream(&f.prefix, "gone"))
        .query(&mut conn)
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(keys::group(service))
        .arg(owner)
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query(&mut conn)
        .unwrap();
    id
}

#[test]
fn services_and_pending_show_the_pool() {
    let f = Fixture::with_arith();
    f.cli()
        .args(["call", "arith.add", r#"{"a":1,"b":1}"#])
        .assert()
        .success();
    f.cli().args(["call", "arith.whoami"]).assert().success();
    // Answered calls are acked a moment after their replies.
    settled_group_state(&mut f.conn(), &f.cmds("arith"));
    let stuck_id = strand_entry(&f, "stuck", "stuck:dead");

    let out = f.cli().args(["services", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = stdout_json(&out);
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    let arith = list.iter().find(|s| s["service"] == "arith").unwrap();
    assert_eq!(arith["stream"], f.cmds("arith"));
    assert_eq!(arith["length"], 2);
    let group = &arith["groups"][0];
    assert_eq!(group["name"], "arith");
    assert_eq!(group["pending"], 0);
    assert_eq!(group["lag"], 0);
    assert_eq!(group["oldest_pending_id"], Value::Null);
    assert_eq!(group["consumers"][0]["name"], keys::consumer("arith", "t1"));
    assert_eq!(group["consumers"][0]["pending"], 0);
    assert!(group["consumers"][0]["idle_ms"].is_u64());

    let stuck = list.iter().find(|s| s["service"] == "stuck").unwrap();
    let group = &stuck["groups"][0];
    assert_eq!(group["pending"], 1);
    assert_eq!(group["lag"], 0);
    assert_eq!(group["oldest_pending_id"], stuck_id.as_str());
    assert!(group["oldest_pending_age_ms"].as_u64().unwrap() < 60_000);
    assert_eq!(group["consumers"][0]["name"], "stuck:dead");
    assert_eq!(group["consumers"][0]["pending"], 1);

    let out = f.cli().arg("services").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout_text(&out);
    println!("{text}");
    for needle in [
        "SERVICE",
        "OLDEST PENDING",
        "arith:t1",
        "stuck:dead",
        &f.cmds("arith"),
    ] {
        assert!(text.contains(needle), "{needle:?} in\n{text}");
    }

    let out = f
        .cli()
        .args(["pending", "stuck", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = stdout_json(&out);
    assert_eq!(v["total"], 1);
    let e = &v["entries"][0];
    assert_eq!(e["id"], stuck_id.as_str());
    assert_eq!(e["owner"], "stuck:dead");
    assert_eq!(e["deliveries"], 1);
    assert_eq!(e["method"], "stuck.work");
    assert_eq!(e["request_id"], "req-1");
    assert!(e["idle_ms"].is_u64());

    let out = f.cli().args(["pending", "stuck"]).output().unwrap();
    let text = stdout_text(&out);
    println!("{text}");
    assert!(
        text.contains("stuck:dead") && text.contains("DELIVERIES") && text.contains("req-1"),
        "{text}"
    );

    let out = f.cli().args(["pending", "arith"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout_text(&out).contains("no pending entries"));

    // Another prefix sees nothing.
    let out = bare_cli()
        .args([
            "--redis-url",
            &f.redis.url(),
            "--key-prefix",
            "other",
            "services",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout_json(&out), json!([]));
}

#[test]
fn gc_deletes_only_idle_reply_streams() {
    let f = Fixture::with_arith();
    let mut conn = f.conn();
    let reply = |instance: &str| keys::reply_stream(&f.prefix, instance);
    let xadd = |conn: &mut redis::Connection, key: &str, id: &str| {
        let _: String = redis::cmd("XADD")
            .arg(key)
            .arg(id)
            .arg(keys::FIELD_TYPE)
            .arg(keys::TYPE_RPC)
            .arg(keys::FIELD_ENVELOPE)
            .arg(r#"{"jsonrpc":"2.0","id":"x","result":{}}"#)
            .query(conn)
            .unwrap();
    };
    xadd(&mut conn, &reply("old"), "1000-0");
    xadd(&mut conn, &reply("fresh"), "*");
    // Not reply streams: a string, and a stream with a consumer group.
    let _: () = redis::cmd("SET")
        .arg(reply("a-string"))
        .arg("x")
        .query(&mut conn)
        .unwrap();
    xadd(&mut conn, &reply("grouped"), "1000-0");
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(reply("grouped"))
        .arg("g")
        .arg("0")
        .query(&mut conn)
        .unwrap();
    // An old command stream.
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(f.cmds("old"))
        .arg("old")
        .arg("$")
        .arg("MKSTREAM")
        .query(&mut conn)
        .unwrap();
    xadd(&mut conn, &f.cmds("old"), "1000-0");

    let out = f.cli().args(["replies", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = stdout_json(&out);
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["instance"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fresh", "old"], "{v}");
    let old = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["instance"] == "old")
        .unwrap();
    assert_eq!(old["length"], 1);
    assert_eq!(old["last_entry_id"], "1000-0");
    assert!(old["idle_ms"].as_u64().unwrap() > 86_400_000);

    let out = f.cli().arg("replies").output().unwrap();
    let text = stdout_text(&out);
    println!("{text}");
    assert!(
        text.contains("LAST ACTIVITY") && text.contains(&reply("old")) && text.contains(" ago"),
        "{text}"
    );

    let exists = |conn: &mut redis::Connection, key: &str| -> bool {
        redis::cmd("EXISTS").arg(key).query::<i64>(conn).unwrap() == 1
    };
    let all = [
        reply("old"),
        reply("fresh"),
        reply("a-string"),
        reply("grouped"),
        f.cmds("old"),
        f.cmds("arith"),
    ];

    // Dry run: lists, deletes nothing.
    let out = f.cli().args(["gc", "--older-than", "1h"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout_text(&out);
    println!("{text}");
    assert!(
        text.contains("dry run") && text.contains(&reply("old")) && text.contains("--yes"),
        "{text}"
    );
    assert!(!text.contains(&reply("fresh")), "{text}");
    let out = f
        .cli()
        .args(["gc", "--older-than", "1h", "--json"])
        .output()
        .unwrap();
    let v = stdout_json(&out);
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["would_delete"][0]["stream"], reply("old"));
    assert_eq!(v["would_delete"].as_array().unwrap().len(), 1);
    for key in &all {
        assert!(exists(&mut conn, key), "{key} survives a dry run");
    }

    let out = f
        .cli()
        .args(["gc", "--older-than", "1h", "--yes", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = stdout_json(&out);
    assert_eq!(v["dry_run"], false);
    assert_eq!(v["deleted"].as_array().unwrap().len(), 1);
    assert_eq!(v["deleted"][0]["stream"], reply("old"));
    assert!(!exists(&mut conn, &reply("old")));
    for key in &all[1..] {
        assert!(exists(&mut conn, key), "{key} is kept");
    }

    // A very short threshold takes the fresh one too, never the others.
    std::thread::sleep(Duration::from_millis(5));
    let out = f
        .cli()
        .args(["gc", "--older-than", "1ms", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout_text(&out).contains("deleted 1 reply stream"),
        "{}",
        stdout_text(&out)
    );
    assert!(!exists(&mut conn, &reply("fresh")));
    for key in &all[2..] {
        assert!(exists(&mut conn, key), "{key} is kept");
    }
}

/// Everything about the arith group that a read-only tail must not change.
/// [`group_state`] once nothing is pending: a server acks what it answered
/// a moment after the reply (acks are gathered for up to 2 ms).
fn settled_group_state(conn: &mut redis::Connection, stream: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = group_state(conn, stream);
        if state[0]["pending"] == 0 || Instant::now() >= deadline {
            return state;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn group_state(conn: &mut redis::Connection, stream: &str) -> Value {
    let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query(conn)
        .unwrap();
    let mut out = Vec::new();
    for g in groups.groups {
        let consumers: redis::streams::StreamInfoConsumersReply = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(stream)
            .arg(&g.name)
            .query(conn)
            .unwrap();
        let pending: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
            .arg(stream)
            .arg(&g.name)
            .query(conn)
            .unwrap();
        out.push(json!({
            "name": g.name,
            "consumers": consumers.consumers.iter().map(|c| json!([c.name, c.pending])).collect::<Vec<_>>(),
            "pending": g.pending,
            "pending_summary": pending.count(),
            "last_delivered_id": g.last_delivered_id,
            "entries_read": g.entries_read,
            "lag": g.lag,
        }));
    }
    Value::Array(out)
}

#[test]
fn tail_shows_requests_and_replies_and_changes_nothing() {
    let f = Fixture::with_arith();
    f.cli()
        .args(["call", "arith.add", r#"{"a":1,"b":2}"#])
        .assert()
        .success();
    f.cli()
        .args(["call", "arith.divide", r#"{"a":1,"b":0}"#])
        .assert()
        .code(1);
    let mut conn = f.conn();
    let stream = f.cmds("arith");
    let before = settled_group_state(&mut conn, &stream);

    // From the start: the two requests already there.
    let out = f
        .cli()
        .args(["--json", "tail", "arith", "--from-start", "--count", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines: Vec<Value> = stdout_text(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["kind"], "request");
    assert_eq!(lines[0]["method"], "arith.add");
    assert_eq!(lines[0]["params"], json!({"a": 1, "b": 2}));
    assert_eq!(lines[1]["method"], "arith.divide");
    assert!(lines[0]["id"].is_string() && lines[0]["reply_to"].is_string());
    assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));

    let out = f
        .cli()
        .args(["tail", "arith", "--from-start", "--count", "2"])
        .output()
        .unwrap();
    let text = stdout_text(&out);
    println!("{text}");
    assert!(
        text.contains("METHOD") && text.contains("arith.add") && text.contains("arith.divide"),
        "{text}"
    );

    // Live, with replies: start the tail, wait until it is reading, then call.
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_clamator"))
        .env_remove("REDIS_URL")
        .env_remove("CLAMATOR_KEY_PREFIX")
        .args(["--redis-url", &f.redis.url(), "--key-prefix", &f.prefix])
        .args(["--json", "tail", "arith", "--replies", "--count", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("tailing") {
                let _ = ready_tx.send(());
            }
        }
    });
    let stdout = child.stdout.take().unwrap();
    let (out_tx, out_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect();
        let _ = out_tx.send(lines);
    });
    if ready_rx.recv_timeout(WAIT).is_err() {
        let _ = child.kill();
        panic!("tail never said it was reading");
    }
    let client = f.rt.block_on(async {
        tokio::time::timeout(WAIT, async {
            let client = RedisRpcClient::connect_with(
                f.conn_options(),
                ClientOptions::default().default_timeout(Duration::from_secs(5)),
            )
            .await
            .unwrap();
            client
                .call("arith", "add", json!({"a": 20, "b": 22}), None)
                .await
                .unwrap();
            client
                .call("arith", "divide", json!({"a": 1, "b": 0}), None)
                .await
                .unwrap_err();
            client.notify("arith", "ping", json!({})).await.unwrap();
            client
        })
        .await
        .unwrap()
    });
    let lines = match out_rx.recv_timeout(WAIT) {
        Ok(lines) => lines,
        Err(_) => {
            let _ = child.kill();
            panic!("tail did not stop after --count entries");
        }
    };
    assert!(child.wait().unwrap().success());
    f.rt.block_on(async { tokio::time::timeout(WAIT, client.close()).await.unwrap() });
    let lines: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["kind"].as_str().unwrap(), l["method"].as_str().unwrap()))
        .collect();
    for want in [
        ("request", "arith.add"),
        ("reply", "arith.add"),
        ("request", "arith.divide"),
        ("reply", "arith.divide"),
        ("notification", "arith.ping"),
    ] {
        assert!(kinds.contains(&want), "{want:?} in {kinds:?}");
    }
    let add_reply = lines
        .iter()
        .find(|l| l["kind"] == "reply" && l["method"] == "arith.add")
        .unwrap();
    assert_eq!(add_reply["result"], json!({"sum": 42.0}));
    let add_req = lines
        .iter()
        .find(|l| l["kind"] == "request" && l["method"] == "arith.add")
        .unwrap();
    assert_eq!(add_reply["id"], add_req["id"]);
    let div_reply = lines
        .iter()
        .find(|l| l["kind"] == "reply" && l["method"] == "arith.divide")
        .unwrap();
    assert_eq!(div_reply["error"]["code"], -32000);

    // The live calls moved the group on; nothing else did. Compare against a
    // fresh snapshot taken after the server acked them (the tail can print
    // the last entry before the server has handled it), and check the tails
    // added no consumer.
    let after = settled_group_state(&mut conn, &stream);
    assert_eq!(
        before[0]["consumers"], after[0]["consumers"],
        "no new consumer"
    );
    assert_eq!(after[0]["pending"], 0);
    let settled = group_state(&mut conn, &stream);
    f.cli()
        .args(["tail", "arith", "--from-start", "--count", "5"])
        .assert()
        .success();
    assert_eq!(
        group_state(&mut conn, &stream),
        settled,
        "a tail changes nothing"
    );
}

#[test]
fn demo_runs_against_the_given_redis_and_cleans_up() {
    let f = Fixture::bare();
    let out = bare_cli()
        .args(["demo", "--redis-url", &f.redis.url()])
        .output()
        .unwrap();
    let text = stdout_text(&out);
    println!("{text}");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    for needle in [
        "answered PING",
        "arith.add",
        "héllo wörld",
        "-32000",
        "-32602",
        "pingCount -> {\"count\":3}",
        "40 concurrent arith.whoami",
        "worker-2 joins the same consumer group",
        "rust:worker-",
        "Cleanup",
    ] {
        assert!(text.contains(needle), "{needle:?} in\n{text}");
    }
    let mut conn = f.conn();
    let size: i64 = redis::cmd("DBSIZE").query(&mut conn).unwrap();
    assert_eq!(size, 0, "the demo leaves nothing behind");

    let out = bare_cli()
        .args(["demo", "--json", "--redis-url", &f.redis.url()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = stdout_json(&out);
    let split = v["pool"]["answered_by"].as_object().unwrap();
    assert_eq!(split.values().map(|n| n.as_u64().unwrap()).sum::<u64>(), 40);
    assert_eq!(v["errors"][0]["error"]["code"], -32000);
    assert_eq!(v["errors"][1]["error"]["code"], -32602);
    assert_eq!(v["throwaway_redis"], false);
}

#[test]
fn demo_starts_a_throwaway_redis_when_none_answers() {
    let closed = ClosedPort::reserve();
    let out = bare_cli()
        .args(["demo", "--redis-url", &closed.url()])
        .output()
        .unwrap();
    let text = stdout_text(&out);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text.contains("throwaway redis-server") && text.contains("40 concurrent arith.whoami"),
        "{text}"
    );

    // With no redis-server binary either, it says how to get one.
    let out = bare_cli()
        .env("PATH", "")
        .args(["demo", "--redis-url", &closed.url()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apt-get install redis-server"), "{err}");
}

#[test]
fn a_silent_server_fails_within_seconds() {
    // Accepts connections and never answers, as a hung server or a wrong port would.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            match listener.accept() {
                Ok((c, _)) => conns.push(c),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    let children: Vec<_> = [vec!["call", "arith.add"], vec!["services"]]
        .into_iter()
        .map(|args| {
            let url = url.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let out = bare_cli()
                    .args(["--redis-url", &url, "--key-prefix", "p"])
                    .args(&args)
                    .output()
                    .unwrap();
                (args, out, started.elapsed())
            })
        })
        .collect();
    for child in children {
        let (args, out, took) = child.join().unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}: {out:?}");
        assert!(took < Duration::from_secs(8), "{args:?} took {took:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cannot reach Redis"), "{err}");
    }
    drop(held);
}

/// The process id of the Redis behind `conn`, from `INFO server`.
fn redis_pid(conn: &mut redis::Connection) -> String {
    let info: String = redis::cmd("INFO").arg("server").query(conn).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .map(|pid| pid.trim().to_owned())
        .unwrap_or_else(|| panic!("no process_id in INFO server: {info}"))
}

/// Sends `sig` (e.g. `-STOP`) to process `pid`.
fn signal(pid: &str, sig: &str) {
    let status = StdCommand::new("kill").args([sig, pid]).status().unwrap();
    assert!(status.success(), "kill {sig} {pid} failed");
}

/// Resumes a SIGSTOPped process when dropped, so a failed assertion does not
/// leave the Redis frozen (its own drop then kills it).
struct Thaw(String);

impl Drop for Thaw {
    fn drop(&mut self) {
        signal(&self.0, "-CONT");
    }
}

#[test]
fn a_frozen_redis_fails_a_call_within_its_timeout() {
    let f = Fixture::bare();
    let pid = redis_pid(&mut f.conn());
    // Frozen (SIGSTOP): the kernel still accepts connections, nothing answers.
    signal(&pid, "-STOP");
    let _thaw = Thaw(pid);
    let started = Instant::now();
    let out = f
        .cli()
        .args([
            "call",
            "arith.add",
            r#"{"a": 1, "b": 2}"#,
            "--timeout-ms",
            "300",
        ])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach Redis"), "{err}");
    // The connect bound (3 s) used to apply whatever the timeout.
    assert!(took < Duration::from_secs(2), "took {took:?}");

    // Nothing listening fails as fast.
    let closed = ClosedPort::reserve();
    let started = Instant::now();
    let out = bare_cli()
        .args(["--redis-url", &closed.url(), "--key-prefix", "p"])
        .args(["call", "arith.add", "{}", "--timeout-ms", "300"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

/// Polls `check` every 20 ms until it holds, for at most [`WAIT`].
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "condition never held: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The fields of a stream's entries, oldest first.
fn stream_entries(conn: &mut redis::Connection, key: &str) -> Vec<(String, Value)> {
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(conn)
        .unwrap();
    reply
        .ids
        .into_iter()
        .map(|e| {
            let fields: serde_json::Map<String, Value> = e
                .map
                .iter()
                .map(|(k, v)| {
                    let text: String = redis::from_redis_value_ref(v).unwrap();
                    (k.clone(), Value::from(text))
                })
                .collect();
            (e.id, Value::Object(fields))
        })
        .collect()
}

fn json_lines(out: &std::process::Output) -> Vec<Value> {
    stdout_text(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn dead_lists_and_requeues_what_servers_dead_lettered() {
    let mut f = Fixture::bare();
    let mut conn = f.conn();
    let stream = f.cmds("arith");
    let dead_stream = keys::dead_letter_stream(&f.prefix, "arith");
    let waiting = keys::reply_stream(&f.prefix, "waiting");
    // A request and a notification that "crashed" ten workers each.
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("arith")
        .arg("$")
        .arg("MKSTREAM")
        .query(&mut conn)
        .unwrap();
    let request = json!({"jsonrpc": "2.0", "method": "arith.add", "params": {"a": 2, "b": 3}, "id": "req-dead"});
    let note = json!({"jsonrpc": "2.0", "method": "arith.ping", "params": {}});
    let call_id: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg(keys::FIELD_TYPE)
        .arg(keys::TYPE_RPC)
        .arg(keys::FIELD_ENVELOPE)
        .arg(request.to_string())
        .arg(keys::FIELD_REPLY_TO)
        .arg(&waiting)
        .query(&mut conn)
        .unwrap();
    let note_id: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg(keys::FIELD_TYPE)
        .arg(keys::TYPE_RPC)
        .arg(keys::FIELD_ENVELOPE)
        .arg(note.to_string())
        .query(&mut conn)
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:crashed")
        .arg("COUNT")
        .arg(2)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query(&mut conn)
        .unwrap();
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(&stream)
        .arg("arith")
        .arg("arith:crashed")
        .arg(0)
        .arg(&call_id)
        .arg(&note_id)
        .arg("RETRYCOUNT")
        .arg(10)
        .query(&mut conn)
        .unwrap();
    // A worker with the default max_deliveries (10) dead-letters both.
    f.serve_arith(
        ServerOptions::default()
            .consumer_claim_idle(Duration::from_millis(200))
            .trim_command_streams(false),
    );
    eventually("both entries dead-lettered", || {
        let n: usize = redis::cmd("XLEN")
            .arg(&dead_stream)
            .query(&mut conn)
            .unwrap();
        let pending: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
            .arg(&stream)
            .arg("arith")
            .query(&mut conn)
            .unwrap();
        n == 2 && pending.count() == 0
    });
    let replies = stream_entries(&mut conn, &waiting);
    assert_eq!(replies.len(), 1, "the caller was answered");

    // Listing, as JSON lines and as a table.
    let out = f.cli().args(["--json", "dead", "arith"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let by_method = |m: &str| lines.iter().find(|l| l["method"] == m).unwrap().clone();
    let add = by_method("arith.add");
    assert_eq!(add["dead_id"], call_id.as_str());
    assert_eq!(add["deliveries"], 10);
    assert_eq!(add["last_consumer"], "arith:crashed");
    assert_eq!(add["request_id"], "req-dead");
    assert_eq!(add["params"], json!({"a": 2, "b": 3}));
    assert_eq!(add["reply_to"], waiting.as_str());
    assert!(
        add["reason"]
            .as_str()
            .unwrap()
            .contains("max_deliveries 10"),
        "{add}"
    );
    assert!(add["time"].as_str().unwrap().ends_with('Z'));
    let ping = by_method("arith.ping");
    assert_eq!(ping["dead_id"], note_id.as_str());
    assert_eq!(ping["request_id"], Value::Null);
    assert_eq!(ping["reply_to"], Value::Null);

    let out = f.cli().args(["dead", "arith"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout_text(&out);
    println!("{text}");
    for needle in [
        "ORIGINAL ID",
        "DELIVERIES",
        "LAST CONSUMER",
        call_id.as_str(),
        "arith.add",
        "req-dead",
        "arith:crashed",
        "{\"a\":2,\"b\":3}",
        "2 dead letter(s)",
        "--requeue",
    ] {
        assert!(text.contains(needle), "{needle:?} in\n{text}");
    }
    let out = f
        .cli()
        .args(["dead", "arith", "--count", "1"])
        .output()
        .unwrap();
    assert!(
        stdout_text(&out).contains("showing the oldest 1"),
        "{out:?}"
    );

    // `services` counts them.
    let out = f.cli().args(["--json", "services"]).output().unwrap();
    let v = stdout_json(&out);
    assert_eq!(v[0]["service"], "arith");
    assert_eq!(v[0]["dead_letters"], 2);
    assert_eq!(v[0]["dead_stream"], dead_stream.as_str());
    let out = f.cli().arg("services").output().unwrap();
    let text = stdout_text(&out);
    println!("{text}");
    let header = text.lines().next().unwrap();
    assert!(header.ends_with("DEAD"), "{header}");
    let row = text.lines().nth(1).unwrap();
    assert!(row.ends_with(" 2"), "{row}");
    assert!(text.contains("clamator dead <service>"), "{text}");

    // A dry run changes nothing.
    let cmds_before: usize = redis::cmd("XLEN").arg(&stream).query(&mut conn).unwrap();
    let out = f
        .cli()
        .args(["dead", "arith", "--requeue"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout_text(&out);
    assert!(
        text.contains("dry run") && text.contains("--yes") && text.contains("req-dead"),
        "{text}"
    );
    let out = f
        .cli()
        .args(["--json", "dead", "arith", "--requeue"])
        .output()
        .unwrap();
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["action"] == "would_requeue"));
    let dead_len: usize = redis::cmd("XLEN")
        .arg(&dead_stream)
        .query(&mut conn)
        .unwrap();
    let cmds_len: usize = redis::cmd("XLEN").arg(&stream).query(&mut conn).unwrap();
    assert_eq!((dead_len, cmds_len), (2, cmds_before));

    // Requeue the oldest: the request runs again and its caller gets the result.
    let out = f
        .cli()
        .args(["dead", "arith", "--requeue", "--yes", "--count", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout_text(&out);
    assert!(
        text.contains("requeued 1 dead letter(s)") && text.contains("REQUEUED AS"),
        "{text}"
    );
    let dead_left = stream_entries(&mut conn, &dead_stream);
    assert_eq!(dead_left.len(), 1);
    assert_eq!(dead_left[0].1[keys::FIELD_DEAD_ID], note_id.as_str());
    let (_, requeued) = stream_entries(&mut conn, &stream).pop().unwrap();
    assert_eq!(
        requeued,
        json!({"type": "rpc", "envelope": request.to_string(), "reply-to": waiting}),
        "original fields only"
    );
    eventually("the requeued request answered", || {
        stream_entries(&mut conn, &waiting).len() == 2
    });
    let (_, reply) = stream_entries(&mut conn, &waiting).pop().unwrap();
    let reply: Value = serde_json::from_str(reply["envelope"].as_str().unwrap()).unwrap();
    assert_eq!(
        reply,
        json!({"jsonrpc": "2.0", "id": "req-dead", "result": {"sum": 5.0}})
    );

    // Requeue the rest, with JSON lines.
    let out = f
        .cli()
        .args(["--json", "dead", "arith", "--requeue", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["action"], "requeued");
    assert_eq!(lines[0]["method"], "arith.ping");
    assert!(lines[0]["new_id"].is_string());
    eventually("the requeued notification ran", || {
        let out = f
            .cli()
            .args(["--json", "call", "arith.pingCount"])
            .output()
            .unwrap();
        stdout_json(&out) == json!({"count": 1})
    });
    let out = f.cli().args(["dead", "arith"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout_text(&out).contains("no dead letters"), "{out:?}");
    let out = f
        .cli()
        .args(["dead", "arith", "--requeue", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout_text(&out).contains("nothing requeued"), "{out:?}");

    // Dead letters of a service no server has served are not requeued into the void.
    let _: String = redis::cmd("XADD")
        .arg(keys::dead_letter_stream(&f.prefix, "orphan"))
        .arg("*")
        .arg(keys::FIELD_ENVELOPE)
        .arg(r#"{"jsonrpc":"2.0","method":"orphan.run","params":{}}"#)
        .arg(keys::FIELD_DEAD_ID)
        .arg("1-0")
        .query(&mut conn)
        .unwrap();
    let out = f
        .cli()
        .args(["dead", "orphan", "--requeue", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no consumer group"),
        "{out:?}"
    );
    let n: usize = redis::cmd("XLEN")
        .arg(keys::dead_letter_stream(&f.prefix, "orphan"))
        .query(&mut conn)
        .unwrap();
    assert_eq!(n, 1, "left where it was");
}

#[test]
fn completions_and_the_man_page_come_from_the_command_itself() {
    for (shell, marker) in [
        ("bash", "_clamator()"),
        ("zsh", "#compdef clamator"),
        ("fish", "complete -c clamator"),
    ] {
        let out = bare_cli().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = stdout_text(&out);
        assert!(
            script.contains(marker),
            "{shell}: no {marker:?} in {script}"
        );
        // Every subcommand is completed, the new ones included.
        for sub in [
            "call",
            "pending",
            "dead",
            "top",
            "codegen",
            "completions",
            "man",
        ] {
            assert!(script.contains(sub), "{shell}: {sub} missing");
        }
    }
    let out = bare_cli().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );

    let out = bare_cli().arg("man").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let page = stdout_text(&out);
    assert!(
        page.starts_with(".ie") || page.contains(".TH clamator"),
        "{page}"
    );
    // roff escapes dashes.
    assert!(page.contains("clamator\\-completions(1)"), "{page}");
    assert!(page.contains("key\\-prefix"), "{page}");
    let out = bare_cli().args(["man", "call"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(stdout_text(&out).contains(".TH clamator-call 1"), "{out:?}");
    let out = bare_cli().args(["man", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
