//! The cross-language interop suite: every scenario runs in both directions,
//! a Rust `arith-server` answering the Python peer's client driver, and a
//! Python peer server answering the Rust `interop-client`, over one
//! throwaway Redis (or `$CLAMATOR_INTEROP_REDIS_URL`), each case under its
//! own key prefix.
//!
//! Run: `cargo test -p clamator-interop -- --nocapture`; one scenario:
//! `cargo test -p clamator-interop -- s04_notifications` (see README.md).
// A test program: a failed unwrap is a failed test, reported by the runner.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::ExitCode;
use std::time::Duration;

use clamator_interop::check;
use clamator_interop::output::{expect_num, ok, rpc_error};
use clamator_over_redis::ops::keys;
use serde_json::{Value, json};
use support::runner::{Case, Outcomes, Scenario};
use support::{ClientOpts, Dir, Env, Lang, SERVICE, ServerOpts, short};

const SCENARIOS: [Scenario; 10] = [
    scenario(1, "s01_basic_calls", "basic calls"),
    scenario(2, "s02_error_mapping", "error mapping"),
    scenario(3, "s03_validation", "validation"),
    scenario(4, "s04_notifications", "notifications"),
    scenario(5, "s05_timeout", "timeout, late reply dropped"),
    scenario(6, "s06_concurrent_calls", "100 concurrent calls"),
    scenario(7, "s07_integer_ids", "integer ids"),
    scenario(8, "s08_mixed_worker_pool", "mixed worker pool"),
    scenario(9, "s09_crash_recovery", "crash recovery"),
    scenario(10, "s10_poison_entries", "poison entries"),
];

const fn scenario(number: u8, key: &'static str, title: &'static str) -> Scenario {
    Scenario { number, key, title }
}

type DirFn = fn(&Env, Dir) -> Result<(), String>;

fn main() -> ExitCode {
    let per_dir: [(usize, DirFn, u32); 9] = [
        (0, basic_calls, 2),
        (1, error_mapping, 1),
        (2, validation, 1),
        (3, notifications, 2),
        (4, timeout, 3),
        (5, concurrent_calls, 1),
        (6, integer_ids, 1),
        (8, crash_recovery, 9),
        (9, poison_entries, 1),
    ];
    let mut cases = Vec::new();
    for (idx, f, weight) in per_dir {
        for dir in Dir::ALL {
            cases.push(Case {
                scenario: SCENARIOS[idx],
                dirs: vec![dir],
                run: Box::new(move |env: &Env| vec![(dir, f(env, dir))]),
                weight,
            });
        }
    }
    cases.push(Case {
        scenario: SCENARIOS[7],
        dirs: Dir::ALL.to_vec(),
        run: Box::new(mixed_worker_pool),
        weight: 5,
    });
    cases.sort_by_key(|c| c.scenario.number);
    support::runner::main(&SCENARIOS, cases)
}

// ---- helpers over driver output lines -------------------------------------

fn expect_issue_list<'a>(err: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    let list = err["data"]["errors"]
        .as_array()
        .ok_or_else(|| format!("{what}: data.errors is not a list: {}", short(err)))?;
    check!(!list.is_empty(), "{what}: data.errors is empty");
    for issue in list {
        check!(
            issue["loc"].is_array() && issue["msg"].is_string(),
            "{what}: an issue lacks loc (list) or msg (string): {}",
            short(issue)
        );
    }
    Ok(list)
}

/// Waits until `server` printed `n` CALL lines for `method` (the reply may
/// reach the client before our reader thread sees the line), then checks
/// there are exactly `n`.
fn expect_calls(server: &support::Server, method: &str, n: usize) -> Result<(), String> {
    server.wait_calls(method, n)?;
    let seen = server.calls(method);
    check!(
        seen == n,
        "expected `CALL arith.{method}` {n} times, saw {seen}"
    );
    Ok(())
}

/// Adds the servers' stderr tails to a failure message.
fn with_logs(result: Result<(), String>, servers: &[&support::Server]) -> Result<(), String> {
    result.map_err(|e| {
        let logs: Vec<String> = servers.iter().map(|s| s.diagnostics()).collect();
        format!("{e}\n{}", logs.join("\n"))
    })
}

fn add(a: f64, b: f64) -> Value {
    json!({"method": "arith.add", "params": {"a": a, "b": b}})
}

// ---- 1. basic calls ---------------------------------------------------------

/// Non-ASCII, emoji (with joiners and flags), every kind of control character
/// JSON must escape, separators and a BOM.
const UNICODE: &str = "héllo wörld ünïcödé ✓ 日本語 한국어 العربية עברית Ελληνικά \
    🚀👩‍👩‍👧‍👦🏳️‍🌈🇫🇷 \u{0}\u{1}\u{7}\u{8}\t\n\r\u{b}\u{c}\u{1b}\u{1f}\u{7f}\u{85} \
    \u{2028}\u{2029}\u{feff}\u{fffd}\u{10ffff} \"quoted\" \\back\\slash / {\"json\":[1]}";

/// Exactly 1 MiB of UTF-8 text, mixing 1- to 4-byte characters and newlines.
fn mebibyte_text() -> String {
    const SIZE: usize = 1 << 20;
    let pattern = "The quick brown fox — ünïcödé αβγ 日本 🚀 0123456789\n";
    let mut s = String::with_capacity(SIZE);
    while s.len() + pattern.len() <= SIZE {
        s.push_str(pattern);
    }
    while s.len() < SIZE {
        s.push('x');
    }
    s
}

fn basic_calls(env: &Env, dir: Dir) -> Result<(), String> {
    let prefix = env.prefix();
    let id = format!("basic-{}", dir.server().name());
    // A Rust server answers with a dedupe window on (its records hold the
    // replies, the 1 MiB echo's too): the peer's calls are calls as before.
    let opts = ServerOpts {
        dedupe_window_ms: Some(60_000),
        ..ServerOpts::traced(&id)
    };
    let server = env.server(dir.server(), &prefix, opts)?;
    let big = mebibyte_text();
    let specs = vec![
        add(2.0, 3.0),
        add(0.1, 0.2),
        json!({"typed": "add", "params": {"a": -1.5, "b": 4}}),
        json!({"method": "arith.echoText", "params": {"text": UNICODE}}),
        json!({"typed": "echoText", "params": {"text": UNICODE}}),
        json!({"method": "arith.echoText", "params": {"text": big}}),
        json!({"typed": "divide", "params": {"a": 1, "b": 4}}),
        json!({"method": "arith.whoami"}),
    ];
    let result = (|| {
        let out = env.run_client(dir.client(), &prefix, &specs, ClientOpts::default())?;
        expect_num(&out[0], "sum", 5.0, "add 2+3")?;
        expect_num(&out[1], "sum", 0.1 + 0.2, "add 0.1+0.2")?;
        expect_num(&out[2], "sum", 2.5, "typed add")?;
        check!(
            ok(&out[3], "echoText unicode")?["text"] == UNICODE,
            "echoText changed the unicode text: {}",
            short(&out[3])
        );
        check!(
            ok(&out[4], "typed echoText")?["text"] == UNICODE,
            "typed echoText changed the unicode text: {}",
            short(&out[4])
        );
        let echoed = ok(&out[5], "echoText 1 MiB")?["text"]
            .as_str()
            .unwrap_or("");
        check!(
            echoed == big,
            "echoText of 1 MiB came back different ({} bytes, want {})",
            echoed.len(),
            big.len()
        );
        expect_num(&out[6], "q", 0.25, "typed divide")?;
        let who = ok(&out[7], "whoami")?["server"].as_str().unwrap_or("");
        check!(
            who == format!("{}:{id}", dir.server().name()),
            "whoami: expected {}:{id}, got {who:?}",
            dir.server().name()
        );
        Ok(())
    })();
    with_logs(result, &[&server])
}

// ---- 2. error mapping -------------------------------------------------------

fn error_mapping(env: &Env, dir: Dir) -> Result<(), String> {
    let prefix = env.prefix();
    let server = env.server(dir.server(), &prefix, ServerOpts::traced("errors"))?;
    let specs = vec![
        json!({"method": "arith.divide", "params": {"a": 7, "b": 0}}),
        json!({"typed": "divide", "params": {"a": 7, "b": 0}}),
        json!({"method": "arith.noSuchMethod", "params": {}}),
        json!({"method": "arith.fail", "params": {"message": "boom ✗ \"quoted\""}}),
        add(1.0, 1.0),
    ];
    let result = (|| {
        let out = env.run_client(dir.client(), &prefix, &specs, ClientOpts::default())?;
        for (i, what) in [(0, "divide by zero"), (1, "typed divide by zero")] {
            let err = rpc_error(&out[i], -32000, "division by zero", what)?;
            let data = err["data"].as_object();
            check!(
                data.is_some_and(|d| d.len() == 1 && d["a"].as_f64() == Some(7.0)),
                "{what}: data must be {{\"a\": 7}}, got {}",
                short(&err["data"])
            );
        }
        let err = rpc_error(&out[2], -32601, "Method not found", "unknown method")?;
        check!(
            err["data"].is_null(),
            "unknown method: data must be null, got {}",
            short(&err["data"])
        );
        let err = rpc_error(&out[3], -32603, "Internal error", "fail")?;
        check!(
            err["data"]["message"] == "boom ✗ \"quoted\"" && err["data"]["name"].is_string(),
            "fail: data must carry name and the message, got {}",
            short(&err["data"])
        );
        expect_num(&out[4], "sum", 2.0, "add after a failed handler")?;
        Ok(())
    })();
    with_logs(result, &[&server])
}

// ---- 3. validation ----------------------------------------------------------

fn validation(env: &Env, dir: Dir) -> Result<(), String> {
    let prefix = env.prefix();
    let server = env.server(dir.server(), &prefix, ServerOpts::traced("validation"))?;
    let specs = vec![
        json!({"method": "arith.add", "params": {"a": 1}}),
        json!({"method": "arith.add", "params": {"a": "one", "b": 2}}),
        json!({"method": "arith.add", "params": {"a": 1, "b": 2, "c": 3}}),
        json!({"method": "arith.add", "params": [1, 2]}),
        json!({"method": "arith.badResult"}),
        add(3.0, 4.0),
    ];
    let result = (|| {
        let out = env.run_client(dir.client(), &prefix, &specs, ClientOpts::default())?;
        for (i, what, field) in [
            (0, "missing field", Some("b")),
            (1, "wrong type", Some("a")),
            (2, "unknown field", Some("c")),
            (3, "params not an object", None),
        ] {
            let err = rpc_error(&out[i], -32602, "Invalid params", what)?;
            let list = expect_issue_list(err, what)?;
            if let Some(field) = field {
                check!(
                    list.iter().any(|issue| issue["loc"] == json!([field])),
                    "{what}: no issue has loc [{field:?}]: {}",
                    short(err)
                );
            }
        }
        let err = rpc_error(&out[4], -32603, "Result validation failed", "badResult")?;
        expect_issue_list(err, "badResult")?;
        expect_num(&out[5], "sum", 7.0, "add after invalid calls")?;
        // Handlers never run on invalid params: the one add is the last call.
        expect_calls(&server, "add", 1)?;
        Ok(())
    })();
    with_logs(result, &[&server])
}

// ---- 4. notifications -------------------------------------------------------

fn notifications(env: &Env, dir: Dir) -> Result<(), String> {
    let prefix = env.prefix();
    // A fresh server, so its ping count starts at 0.
    let server = env.server(dir.server(), &prefix, ServerOpts::traced("notify"))?;
    let redis = env.redis();
    let result = (|| {
        let out = env.run_client(
            dir.client(),
            &prefix,
            &[json!({"notify": "arith.ping", "params": {}})],
            ClientOpts::default(),
        )?;
        check!(
            out[0] == json!({"ok": null}),
            "notify: got {}",
            short(&out[0])
        );
        server.wait_calls("ping", 1)?;
        // Acked means handled to the end, reply (if any) written: nothing may be.
        redis.wait_no_pending(&prefix)?;
        let out = env.run_client(
            dir.client(),
            &prefix,
            &[
                json!({"method": "arith.pingCount"}),
                json!({"typed": "pingCount"}),
            ],
            ClientOpts::default(),
        )?;
        expect_num(&out[0], "count", 1.0, "pingCount after one ping")?;
        expect_num(&out[1], "count", 1.0, "typed pingCount after one ping")?;
        expect_calls(&server, "ping", 1)?;
        // The clients deleted their reply streams; any other reply stream
        // under the prefix would hold a reply to the notification.
        let replies = redis.keys(&format!("{prefix}:replies:*"))?;
        check!(
            replies.is_empty(),
            "reply streams left under the prefix: {replies:?}"
        );

        // Even with a reply-to field, a notification (no id) gets no reply.
        let probe = keys::reply_stream(&prefix, "notification-probe");
        let envelope = json!({"jsonrpc": "2.0", "method": "arith.ping", "params": {}}).to_string();
        redis.xadd(
            &keys::command_stream(&prefix, SERVICE),
            &[
                (keys::FIELD_TYPE, keys::TYPE_RPC.as_bytes()),
                (keys::FIELD_ENVELOPE, envelope.as_bytes()),
                (keys::FIELD_REPLY_TO, probe.as_bytes()),
            ],
        )?;
        expect_calls(&server, "ping", 2)?;
        redis.wait_no_pending(&prefix)?;
        check!(
            !redis.exists(&probe)?,
            "the server replied to a notification on its reply-to stream"
        );
        Ok(())
    })();
    with_logs(result, &[&server])
}

// ---- 5. timeout -------------------------------------------------------------

fn timeout(env: &Env, dir: Dir) -> Result<(), String> {
    let prefix = env.prefix();
    let server = env.server(dir.server(), &prefix, ServerOpts::traced("timeout"))?;
    // The first call times out after 150 ms; its reply lands at ~600 ms while
    // the second call (running until >= 850 ms on either server) is waiting,
    // so the client must drop it and still match the second reply.
    let specs = vec![
        json!({"method": "arith.slowAdd", "params": {"a": 1, "b": 2, "sleepMs": 600}, "timeoutMs": 150}),
        json!({"method": "arith.slowAdd", "params": {"a": 10, "b": 20, "sleepMs": 700}}),
        add(100.0, 200.0),
    ];
    let result = (|| {
        let out = env.run_client(dir.client(), &prefix, &specs, ClientOpts::default())?;
        let msg = out[0]["transportError"].as_str().unwrap_or("");
        check!(
            msg.starts_with("call timeout"),
            "slow call: expected transportError \"call timeout...\", got {}",
            short(&out[0])
        );
        expect_num(&out[1], "sum", 30.0, "the call after the timeout")?;
        expect_num(&out[2], "sum", 300.0, "the third call")?;
        // The late reply was produced (and dropped by the client).
        expect_calls(&server, "slowAdd", 2)?;
        // A Rust server's slowAdd stops once its Rust caller gave up (the
        // deadline that caller sent, or its cancel); the Python peer's runs
        // on, unaffected by the cancel a Rust client sends, and a Python
        // caller sends neither.
        if dir.server() == Lang::Rust && dir.client() == Lang::Rust {
            server.wait_cancelled("slowAdd", 1)?;
        }
        env.redis().wait_no_pending(&prefix)?;
        Ok(())
    })();
    with_logs(result, &[&server])
}

// ---- 6. 100 concurrent calls ------------------------------------------------

fn concurrent_calls(env: &Env, dir: Dir) -> Result<(), String> {
    let prefix = env.prefix();
    let server = env.server(dir.server(), &prefix, ServerOpts::traced("concurrent"))?;
    let a = |i: usize| i as f64 * 1.5 + 0.25;
    let specs: Vec<Value> = (0..100).map(|i| add(a(i), 1000.0)).collect();
    let result = (|| {
        let out = env.run_client(
            dir.client(),
            &prefix,
            &specs,
            ClientOpts {
                concurrent: true,
                ..ClientOpts::default()
            },
        )?;
        for (i, line) in out.iter().enumerate() {
            expect_num(line, "sum", a(i) + 1000.0, &format!("concurrent call #{i}"))?;
        }
        expect_calls(&server, "add", 100)?;
        Ok(())
    })();
    with_logs(result, &[&server])
}

// ---- 7. ids -----------------------------------------------------------------

fn integer_ids(env: &Env, dir: Dir) -> Result<(), String> {
    let prefix = env.prefix();
    let server = env.server(dir.server(), &prefix, ServerOpts::traced("ids"))?;
    let raw = |id: Value, method: &str, a: f64, b: f64| {
        let envelope =
            json!({"jsonrpc": "2.0", "method": method, "params": {"a": a, "b": b}, "id": id});
        json!({ "raw": envelope })
    };
    // 2^53 + 1: not representable as a double, so it must travel as an integer.
    let big: i64 = 9_007_199_254_740_993;
    let specs = vec![
        raw(json!(42), "arith.add", 1.0, 2.0),
        raw(json!(big), "arith.add", 2.0, 2.0),
        raw(json!(-7), "arith.divide", 1.0, 0.0),
        raw(json!("abc"), "arith.add", 3.0, 3.0),
    ];
    let result = (|| {
        let out = env.run_client(dir.client(), &prefix, &specs, ClientOpts::default())?;
        for (i, id, what) in [
            (0, json!(42), "integer id 42"),
            (1, json!(big), "integer id 2^53+1"),
            (2, json!(-7), "integer id -7 on an error reply"),
            (3, json!("abc"), "string id"),
        ] {
            let reply = out[i]
                .get("reply")
                .ok_or_else(|| format!("{what}: expected a raw reply, got {}", short(&out[i])))?;
            check!(
                reply["jsonrpc"] == "2.0",
                "{what}: bad jsonrpc in {}",
                short(reply)
            );
            check!(
                reply["id"] == id && reply["id"].is_number() == id.is_number(),
                "{what}: expected id {id} back with its JSON type, got {}",
                short(reply)
            );
            if id.is_i64() && reply["id"].as_i64() != id.as_i64() {
                return Err(format!("{what}: id changed value: {}", short(reply)));
            }
        }
        check!(
            out[0]["reply"]["result"]["sum"].as_f64() == Some(3.0),
            "id 42: {}",
            short(&out[0])
        );
        check!(
            out[1]["reply"]["result"]["sum"].as_f64() == Some(4.0),
            "id big: {}",
            short(&out[1])
        );
        check!(
            out[2]["reply"]["error"]["code"] == -32000,
            "id -7: {}",
            short(&out[2])
        );
        check!(
            out[3]["reply"]["result"]["sum"].as_f64() == Some(6.0),
            "id abc: {}",
            short(&out[3])
        );
        Ok(())
    })();
    with_logs(result, &[&server])
}

// ---- 8. mixed worker pool ---------------------------------------------------

/// One Python and one Rust server under one prefix; 200 concurrent adds from
/// each client language at the same time.
fn mixed_worker_pool(env: &Env) -> Outcomes {
    let prefix = env.prefix();
    let fail_both = |e: String| Dir::ALL.iter().map(|d| (*d, Err(e.clone()))).collect();
    let (rust, python) = std::thread::scope(|s| {
        // The Rust worker with a dedupe window: the pool's calls, from both
        // languages' clients, are answered once each all the same.
        let deduping = ServerOpts {
            dedupe_window_ms: Some(60_000),
            ..ServerOpts::traced("pool-rust")
        };
        let r = s.spawn(|| env.server(Lang::Rust, &prefix, deduping));
        let p = env.server(Lang::Python, &prefix, ServerOpts::traced("pool-python"));
        (r.join().unwrap_or_else(|_| Err("panicked".into())), p)
    });
    let (rust, python) = match (rust, python) {
        (Ok(r), Ok(p)) => (r, p),
        (Err(e), _) | (_, Err(e)) => return fail_both(e),
    };
    // Distinct `a` per call and per client language.
    let a = |lang: Lang, i: usize| match lang {
        Lang::Python => 10_000.0 + i as f64,
        Lang::Rust => 20_000.0 + i as f64,
    };
    let opts = ClientOpts {
        concurrent: true,
        ..ClientOpts::default()
    };
    let run = |lang: Lang| -> Result<(), String> {
        let specs: Vec<Value> = (0..200).map(|i| add(a(lang, i), 0.5)).collect();
        let out = env.run_client(lang, &prefix, &specs, opts)?;
        for (i, line) in out.iter().enumerate() {
            expect_num(
                line,
                "sum",
                a(lang, i) + 0.5,
                &format!("{} client call #{i}", lang.name()),
            )?;
        }
        Ok(())
    };
    let (from_py, from_rust) = std::thread::scope(|s| {
        let py = s.spawn(|| run(Lang::Python));
        let rs = run(Lang::Rust);
        (py.join().unwrap_or_else(|_| Err("panicked".into())), rs)
    });
    // Shared checks: every call handled exactly once, by both servers together.
    let shared = (|| {
        let redis = env.redis();
        let total = || rust.calls("add") + python.calls("add");
        // The replies came after the CALL lines were written; wait for our
        // readers to see them all, then make sure no extra one shows up.
        let deadline = std::time::Instant::now() + support::EVENT_TIMEOUT;
        while total() < 400 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        redis.wait_no_pending(&prefix)?;
        check!(
            total() == 400,
            "expected 400 CALL arith.add lines across both servers, saw {} (rust {}, python {})",
            total(),
            rust.calls("add"),
            python.calls("add")
        );
        check!(
            rust.calls("add") > 0 && python.calls("add") > 0,
            "both servers must serve some calls: rust {}, python {}",
            rust.calls("add"),
            python.calls("add")
        );
        Ok(())
    })();
    println!(
        "s08_mixed_worker_pool: rust server handled {}, python server handled {} of 400 calls",
        rust.calls("add"),
        python.calls("add")
    );
    let combine = |own: Result<(), String>| {
        let r = match (own, &shared) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), _) => Err(e),
            (Ok(()), Err(e)) => Err(e.clone()),
        };
        with_logs(r, &[&rust, &python])
    };
    vec![
        (Dir::PyServerRustClient, combine(from_rust)),
        (Dir::RustServerPyClient, combine(from_py)),
    ]
}

// ---- 9. crash recovery ------------------------------------------------------

/// The column's server language reclaims; the crashed worker and the client
/// are of the other language.
fn crash_recovery(env: &Env, dir: Dir) -> Result<(), String> {
    let prefix = env.prefix();
    let victim_lang = dir.client();
    let mut victim = env.server(victim_lang, &prefix, ServerOpts::traced("victim"))?;
    // 2000 ms: a whole number of the rescuer's 1 s reclaim period, so the
    // handler ends on a reclaim tick. Before lease renewal that made a Rust
    // rescuer run the entry twice (README.md, "Issues found by this suite").
    let specs = [json!({
        "method": "arith.slowAdd",
        "params": {"a": 4, "b": 5, "sleepMs": 2000},
        "timeoutMs": 30_000
    })];
    let client = env.spawn_client(dir.client(), &prefix, &specs, ClientOpts::default())?;
    let result = (|| {
        victim.wait_calls("slowAdd", 1)?;
        victim.kill();
        let rescuer = env.server(
            dir.server(),
            &prefix,
            ServerOpts {
                claim_idle_ms: Some(1000),
                ..ServerOpts::traced("rescuer")
            },
        )?;
        let inner = (|| {
            let out = client.finish(Duration::from_secs(45))?;
            expect_num(&out[0], "sum", 9.0, "the call its worker died in")?;
            expect_calls(&rescuer, "slowAdd", 1)?;
            env.redis().wait_no_pending(&prefix)?;
            Ok(())
        })();
        with_logs(inner, &[&rescuer])
    })();
    with_logs(result, &[&victim])
}

// ---- 10. poison entries -----------------------------------------------------

fn poison_entries(env: &Env, dir: Dir) -> Result<(), String> {
    let prefix = env.prefix();
    let server = env.server(dir.server(), &prefix, ServerOpts::traced("poison"))?;
    let redis = env.redis();
    let stream = keys::command_stream(&prefix, SERVICE);
    let probe = |n: &str| keys::reply_stream(&prefix, &format!("poison-{n}"));
    let batch = r#"[{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":"b1"}]"#;
    let bad_name = r#"{"jsonrpc":"2.0","method":"arith.Bad-Name","params":{},"id":"bad"}"#;
    let cut_with_id = r#"{"jsonrpc":"2.0","id":"cut","method":"arith.add","params":{"#;
    // (name, envelope, what a Rust server answers: id and code). The peer
    // answers none of them; a Rust server answers the invalid ones whose id
    // it can read (README, "Deliberate differences").
    type RustAnswer = Option<(&'static str, i64)>;
    let poisons: [(&str, Option<&str>, RustAnswer); 5] = [
        ("no-envelope", None, None),
        ("bad-json", Some("{\"jsonrpc\":\"2.0\",\"method\":"), None),
        ("bad-json-with-id", Some(cut_with_id), Some(("cut", -32700))),
        ("batch", Some(batch), None),
        ("invalid-method-name", Some(bad_name), Some(("bad", -32600))),
    ];
    let result = (|| {
        for (name, envelope, _) in poisons {
            let reply_to = probe(name);
            let mut fields: Vec<(&str, &[u8])> = vec![
                (keys::FIELD_TYPE, keys::TYPE_RPC.as_bytes()),
                (keys::FIELD_REPLY_TO, reply_to.as_bytes()),
            ];
            match envelope {
                Some(text) => fields.push((keys::FIELD_ENVELOPE, text.as_bytes())),
                None => fields.push(("payload", b"no envelope field here")),
            }
            redis.xadd(&stream, &fields)?;
        }
        let out = env.run_client(
            dir.client(),
            &prefix,
            &[
                add(2.0, 2.0),
                json!({"method": "arith.echoText", "params": {"text": "still here"}}),
            ],
            ClientOpts::default(),
        )?;
        expect_num(&out[0], "sum", 4.0, "add after poison")?;
        check!(
            ok(&out[1], "echoText after poison")?["text"] == "still here",
            "echoText after poison: {}",
            short(&out[1])
        );
        redis.wait_no_pending(&prefix)?;
        for (name, _, answer) in poisons {
            let replies = redis.envelopes(&probe(name))?;
            match (dir.server(), answer) {
                (Lang::Rust, Some((id, code))) => check!(
                    replies.len() == 1
                        && replies[0]["id"] == id
                        && replies[0]["error"]["code"] == code,
                    "the {name} poison entry: expected one {code} reply to id {id:?}, got {}",
                    short(&Value::from(replies))
                ),
                _ => check!(
                    replies.is_empty(),
                    "the server replied to the {name} poison entry: {}",
                    short(&Value::from(replies))
                ),
            }
        }
        // The batch's add must not have run.
        expect_calls(&server, "add", 1)?;
        Ok(())
    })();
    with_logs(result, &[&server])
}
