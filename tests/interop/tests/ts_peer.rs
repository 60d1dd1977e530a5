//! The real TypeScript peer (`@clamator/over-redis` 0.1.8, `@clamator/codegen`
//! 0.1.8, built from `../shared/peers/clamator-ts` by `ts/setup-ts-peer.sh`)
//! against clamator-rs, over one throwaway `redis-server` for this binary:
//!
//! - `<scenario>::rust_server_ts_client`: `arith-server` answering our
//!   TypeScript client driver (`ts/client_driver.ts`, the peer's client);
//! - `<scenario>::ts_server_rust_client`: our TypeScript server
//!   (`ts/arith_server.ts`, the peer's server) answering `interop-client`;
//! - `s08_mixed_worker_pool::ts_and_rust_servers`: both servers in one
//!   consumer group, called by both clients at once;
//! - `family_codegen::*`: the family's codegen writes the same manifest as
//!   our exporter and the checked-in files;
//! - `zod_module::*`: the module `clamator codegen zod` writes, used by the
//!   peer's client (its schemas parse params and results).
//!
//! Both TypeScript drivers take the `arith` contract from the Zod module our
//! emitter writes from the Rust contract (`crates/clamator-arith`).
//! Every wait is bounded; every child process is killed when its handle drops.
//! A missing peer, `node` or `npm` fails every test, saying what to install.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

use clamator::RpcError;
use clamator::redis::{ConnectOptions, RedisRpcServer};
use clamator_arith::ArithContract;
use clamator_contract_file::{ContractFile, export};
use clamator_interop::check;
use clamator_interop::harness::{
    self, InteropDir, Lines, ReadyChild, StdinMode, TsPeer, read_all, run_to_success,
};
use clamator_interop::output::{expect_num, ok, rpc_error, short};
use clamator_over_redis::ops::keys;
use clamator_test_support::{shared_redis, unique_prefix};
use serde_json::{Value, json};

include!(concat!(env!("OUT_DIR"), "/inventory.rs"));
use inventory::*;

/// A server's READY (a node start with tsx takes a second on a busy machine).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// One client-driver run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// An awaited event (CALL lines, an empty pending list).
const EVENT_TIMEOUT: Duration = Duration::from_secs(15);
/// Building `arith-server` (a fresh clone compiles the workspace).
const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const SERVICE: &str = "arith";

// ---------------------------------------------------------------- environment

/// What every test of this binary stands on.
struct Env {
    interop: InteropDir,
    redis_url: String,
    peer: TsPeer,
    rust_server: PathBuf,
    rust_client: PathBuf,
    /// This process's directory under the peer's build (`scratch/<pid>`):
    /// generated TypeScript must sit there to import the peer's packages.
    scratch: PathBuf,
    /// The Zod module `clamator codegen zod` writes for the `arith` contract.
    arith_ts: PathBuf,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let interop = InteropDir::locate(None).unwrap_or_else(|e| panic!("{e}"));
        // The peer's build (npm) and arith-server's (cargo) at the same time.
        let peer = {
            let interop = interop.clone();
            std::thread::spawn(move || interop.setup_ts_peer())
        };
        let rust_server = build_arith_server(&interop);
        let peer = peer
            .join()
            .expect("the TypeScript peer setup thread panicked")
            .unwrap_or_else(|e| panic!("{e}\nthe TypeScript peer is required, nothing is skipped"));
        let scratch = peer
            .dir()
            .join("scratch")
            .join(std::process::id().to_string());
        remove_stale_scratch(&peer.dir().join("scratch"));
        std::fs::create_dir_all(&scratch).expect("creating the scratch directory");
        let arith =
            export::file(&[(ArithContract::descriptor(), "rust:clamator_arith::Arith")]).unwrap();
        let arith_ts = write_zod(&arith, "clamator_arith", &scratch.join("arith"))
            .pop()
            .expect("one module for arith");
        Env {
            interop,
            redis_url: shared_redis().url(),
            peer,
            rust_server,
            rust_client: PathBuf::from(env!("CARGO_BIN_EXE_interop-client")),
            scratch,
            arith_ts,
        }
    })
}

/// `arith-server` in this test's target dir and profile (a no-op when
/// fresh), unless `CLAMATOR_ARITH_SERVER` names one.
fn build_arith_server(interop: &InteropDir) -> PathBuf {
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent");
    let root = interop.workspace_root().unwrap_or_else(|e| panic!("{e}"));
    harness::arith_server(
        &root,
        Some(target_dir),
        !cfg!(debug_assertions),
        BUILD_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Removes the scratch directories of test processes that are gone.
fn remove_stale_scratch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let gone = name
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Writes the Zod modules of `file` into `dir` (created afresh); their paths.
fn write_zod(file: &ContractFile, origin: &str, dir: &Path) -> Vec<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    clamator_contract_file::zod::generate_all(file, origin)
        .unwrap()
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

// ---------------------------------------------------------------- processes

/// Which implementation a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    /// `arith-server`, `interop-client`.
    Rust,
    /// The TypeScript peer: `ts/arith_server.ts`, `ts/client_driver.ts`.
    Ts,
}

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Ts => "ts",
        }
    }
}

/// A direction: which language serves; the other one calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    RustServerTsClient,
    TsServerRustClient,
}

impl Dir {
    fn server(self) -> Lang {
        match self {
            Dir::RustServerTsClient => Lang::Rust,
            Dir::TsServerRustClient => Lang::Ts,
        }
    }
    fn client(self) -> Lang {
        match self {
            Dir::RustServerTsClient => Lang::Ts,
            Dir::TsServerRustClient => Lang::Rust,
        }
    }
}

/// A running `arith` server; killed (SIGKILL) when dropped.
struct Server {
    child: ReadyChild,
}

impl Server {
    /// Starts one with `--trace-calls` and instance id `id`, and waits for READY.
    fn start(lang: Lang, prefix: &str, id: &str) -> Result<Server, String> {
        let e = env();
        let mut cmd = match lang {
            Lang::Rust => Command::new(&e.rust_server),
            Lang::Ts => {
                let mut c = e
                    .peer
                    .driver("arith_server.ts")
                    .map_err(|e| e.to_string())?;
                c.arg("--contract").arg(&e.arith_ts);
                c
            }
        };
        cmd.args(["--redis-url", &e.redis_url, "--key-prefix", prefix])
            .args(["--instance-id", id, "--trace-calls"]);
        ReadyChild::spawn(
            &mut cmd,
            format!("{} server {id}", lang.name()),
            StdinMode::Null,
            READY_TIMEOUT,
        )
        .map(|child| Server { child })
        .map_err(|e| e.to_string())
    }

    /// How many `CALL arith.<method>` lines it printed.
    fn calls(&self, method: &str) -> usize {
        self.child
            .stdout()
            .count(&format!("CALL {SERVICE}.{method}"))
    }

    /// Waits until it printed `n` `CALL arith.<method>` lines, then checks
    /// there are exactly `n`.
    fn expect_calls(&self, method: &str, n: usize) -> Result<(), String> {
        let line = format!("CALL {SERVICE}.{method}");
        let reached = self.child.stdout().wait_until(EVENT_TIMEOUT, |lines| {
            lines.iter().filter(|l| **l == line).count() >= n
        });
        let seen = self.calls(method);
        check!(
            reached && seen == n,
            "{}: expected `{line}` {n} times, saw {seen}",
            self.child.label()
        );
        Ok(())
    }

    fn diagnostics(&self) -> String {
        format!(
            "--- {} stderr (tail) ---\n{}",
            self.child.label(),
            self.child.stderr_tail(20)
        )
    }
}

/// Adds the servers' stderr tails to a failure, and fails the test.
fn report(result: Result<(), String>, servers: &[&Server]) {
    if let Err(e) = result {
        let logs: Vec<String> = servers.iter().map(|s| s.diagnostics()).collect();
        panic!("{e}\n{}", logs.join("\n"));
    }
}

/// Options of a client-driver run.
#[derive(Debug, Clone)]
struct ClientOpts {
    timeout_ms: u64,
    concurrent: bool,
    /// `--contract` of the TypeScript driver (default: the arith module).
    contract: Option<PathBuf>,
}

impl Default for ClientOpts {
    fn default() -> Self {
        ClientOpts {
            timeout_ms: 10_000,
            concurrent: false,
            contract: None,
        }
    }
}

/// A client driver running in the background; killed if dropped unfinished.
struct ClientRun {
    label: String,
    child: Option<Child>,
    out: mpsc::Receiver<Vec<u8>>,
    err: Arc<Lines>,
    specs: usize,
}

impl ClientRun {
    fn spawn(lang: Lang, prefix: &str, specs: &[Value], opts: &ClientOpts) -> Result<Self, String> {
        let e = env();
        let mut cmd = match lang {
            Lang::Rust => Command::new(&e.rust_client),
            Lang::Ts => {
                let mut c = e
                    .peer
                    .driver("client_driver.ts")
                    .map_err(|e| e.to_string())?;
                c.arg("--contract")
                    .arg(opts.contract.as_deref().unwrap_or(&e.arith_ts));
                c
            }
        };
        cmd.args(["--redis-url", &e.redis_url, "--key-prefix", prefix])
            .args(["--timeout-ms", &opts.timeout_ms.to_string()]);
        if opts.concurrent {
            cmd.arg("--concurrent");
        }
        let label = format!("{} client", lang.name());
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning the {label}: {e}"))?;
        let input = serde_json::to_vec(specs).map_err(|e| e.to_string())?;
        if let Some(mut stdin) = child.stdin.take() {
            // On a thread: a large input must not block while the child writes.
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        Ok(ClientRun {
            label,
            out: read_all(child.stdout.take()),
            err: Lines::collect(child.stderr.take(), 200),
            child: Some(child),
            specs: specs.len(),
        })
    }

    /// Waits (bounded) for it to exit; one JSON value per spec.
    fn finish(mut self) -> Result<Vec<Value>, String> {
        let Ok(stdout) = self.out.recv_timeout(CLIENT_TIMEOUT) else {
            return Err(format!(
                "the {} did not finish within {CLIENT_TIMEOUT:?} (killed); stderr:\n{}",
                self.label,
                self.err.tail(30)
            ));
        };
        let status = self
            .child
            .take()
            .ok_or("finished twice")?
            .wait()
            .map_err(|e| e.to_string())?;
        self.err.wait_eof(Duration::from_secs(5));
        check!(
            status.success(),
            "the {} exited with {status}; stderr:\n{}",
            self.label,
            self.err.tail(30)
        );
        let lines = String::from_utf8_lossy(&stdout)
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .map_err(|e| format!("the {} printed a non-JSON line ({e}): {l}", self.label))
            })
            .collect::<Result<Vec<Value>, String>>()?;
        check!(
            lines.len() == self.specs,
            "the {} printed {} lines for {} specs; stderr:\n{}",
            self.label,
            lines.len(),
            self.specs,
            self.err.tail(30)
        );
        Ok(lines)
    }
}

impl Drop for ClientRun {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run_client(
    lang: Lang,
    prefix: &str,
    specs: &[Value],
    opts: &ClientOpts,
) -> Result<Vec<Value>, String> {
    ClientRun::spawn(lang, prefix, specs, opts)?.finish()
}

// ---------------------------------------------------------------- Redis probes

fn redis_conn() -> Result<redis::Connection, String> {
    let url = &env().redis_url;
    let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
    let conn = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .map_err(|e| format!("connecting to {url}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// The XPENDING summary count of the `arith` group.
fn pending(prefix: &str) -> Result<usize, String> {
    let stream = keys::command_stream(prefix, SERVICE);
    let reply: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg(&stream)
        .arg(keys::group(SERVICE))
        .query(&mut redis_conn()?)
        .map_err(|e| format!("XPENDING {stream}: {e}"))?;
    let first = reply.first().ok_or("empty XPENDING reply")?;
    redis::from_redis_value_ref::<usize>(first).map_err(|e| e.to_string())
}

/// Polls (bounded) until nothing is pending on `<prefix>:cmds:arith`.
fn wait_no_pending(prefix: &str) -> Result<(), String> {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let n = pending(prefix)?;
        if n == 0 {
            return Ok(());
        }
        check!(
            Instant::now() < deadline,
            "{n} entries still pending after {EVENT_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn keys_matching(pattern: &str) -> Result<Vec<String>, String> {
    let mut conn = redis_conn()?;
    let iter = redis::cmd("SCAN")
        .cursor_arg(0)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(1000)
        .clone()
        .iter::<String>(&mut conn)
        .map_err(|e| format!("SCAN {pattern}: {e}"))?;
    iter.map(|k| k.map_err(|e| format!("SCAN {pattern}: {e}")))
        .collect()
}

fn xadd_notification_with_reply_to(prefix: &str, reply_to: &str) -> Result<(), String> {
    let envelope = json!({"jsonrpc": "2.0", "method": "arith.ping", "params": {}}).to_string();
    redis::cmd("XADD")
        .arg(keys::command_stream(prefix, SERVICE))
        .arg("*")
        .arg(keys::FIELD_TYPE)
        .arg(keys::TYPE_RPC)
        .arg(keys::FIELD_ENVELOPE)
        .arg(envelope)
        .arg(keys::FIELD_REPLY_TO)
        .arg(reply_to)
        .query::<String>(&mut redis_conn()?)
        .map(|_| ())
        .map_err(|e| format!("XADD: {e}"))
}

fn exists(key: &str) -> Result<bool, String> {
    redis::cmd("EXISTS")
        .arg(key)
        .query::<i64>(&mut redis_conn()?)
        .map(|n| n > 0)
        .map_err(|e| format!("EXISTS {key}: {e}"))
}

// ---------------------------------------------------------------- output checks

/// Checks the details of a validation error (`-32602`, or `-32603` "Result
/// validation failed") name `field` (`None`: the params as a whole).
///
/// A Rust server writes `data.errors`, a list of `{loc, msg, type}` (as the
/// Python peer does). The TypeScript peer writes what its
/// `exceptionToErrorData` makes of the `ZodError`: `{"name": "ZodError",
/// "message": <the issues as JSON text>}`, each issue with a `path`; an
/// unknown field is one `unrecognized_keys` issue at the object, listing it.
fn expect_issue(err: &Value, server: Lang, field: Option<&str>, what: &str) -> Result<(), String> {
    let data = &err["data"];
    let (issues, at): (Vec<Value>, &str) = match server {
        Lang::Rust => (
            data["errors"].as_array().cloned().unwrap_or_default(),
            "loc",
        ),
        Lang::Ts => {
            check!(
                data["name"] == "ZodError",
                "{what}: data.name must be \"ZodError\": {}",
                short(err)
            );
            let text = data["message"].as_str().unwrap_or("");
            let list: Value = serde_json::from_str(text).map_err(|e| {
                format!("{what}: data.message is not the issues' JSON ({e}): {text}")
            })?;
            (list.as_array().cloned().unwrap_or_default(), "path")
        }
    };
    check!(!issues.is_empty(), "{what}: no issues in {}", short(err));
    if let Some(field) = field {
        let names = |issue: &Value| {
            issue[at] == json!([field])
                || (issue[at] == json!([])
                    && issue["keys"]
                        .as_array()
                        .is_some_and(|k| k.contains(&json!(field))))
        };
        check!(
            issues.iter().any(names),
            "{what}: no issue names {field:?}: {}",
            short(err)
        );
    }
    Ok(())
}

fn add(a: f64, b: f64) -> Value {
    json!({"method": "arith.add", "params": {"a": a, "b": b}})
}

// ---------------------------------------------------------------- scenarios

/// Non-ASCII, emoji with joiners and flags, control characters, separators, a BOM.
const UNICODE: &str = "héllo wörld ✓ 日本語 한국어 العربية 🚀👩‍👩‍👧‍👦🏳️‍🌈🇫🇷 \
    \u{0}\u{1}\u{7}\u{8}\t\n\r\u{b}\u{c}\u{1b}\u{1f}\u{7f}\u{85} \
    \u{2028}\u{2029}\u{feff}\u{fffd}\u{10ffff} \"quoted\" \\back\\slash";

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

fn basic_calls(dir: Dir) {
    let prefix = unique_prefix();
    let id = format!("basic-{}", dir.server().name());
    let server = Server::start(dir.server(), &prefix, &id).unwrap_or_else(|e| panic!("{e}"));
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
        json!({"typed": "whoami", "params": {}}),
    ];
    let result = (|| {
        let out = run_client(dir.client(), &prefix, &specs, &ClientOpts::default())?;
        expect_num(&out[0], "sum", 5.0, "add 2+3")?;
        expect_num(&out[1], "sum", 0.1 + 0.2, "add 0.1+0.2")?;
        expect_num(&out[2], "sum", 2.5, "typed add")?;
        for (i, what) in [(3, "echoText"), (4, "typed echoText")] {
            check!(
                ok(&out[i], what)?["text"] == UNICODE,
                "{what} changed the text: {}",
                short(&out[i])
            );
        }
        let echoed = ok(&out[5], "echoText 1 MiB")?["text"]
            .as_str()
            .unwrap_or("");
        check!(
            echoed == big,
            "echoText of 1 MiB came back different ({} bytes)",
            echoed.len()
        );
        expect_num(&out[6], "q", 0.25, "typed divide")?;
        let want = format!("{}:{id}", dir.server().name());
        for i in [7, 8] {
            check!(
                ok(&out[i], "whoami")?["server"] == want.as_str(),
                "whoami: expected {want}, got {}",
                short(&out[i])
            );
        }
        Ok(())
    })();
    report(result, &[&server]);
}

fn error_mapping(dir: Dir) {
    let prefix = unique_prefix();
    let server = Server::start(dir.server(), &prefix, "errors").unwrap_or_else(|e| panic!("{e}"));
    let message = "boom ✗ \"quoted\"";
    let specs = vec![
        json!({"method": "arith.divide", "params": {"a": 7, "b": 0}}),
        json!({"typed": "divide", "params": {"a": 7, "b": 0}}),
        json!({"method": "arith.noSuchMethod", "params": {}}),
        json!({"method": "arith.fail", "params": {"message": message}}),
        add(1.0, 1.0),
    ];
    let result = (|| {
        let out = run_client(dir.client(), &prefix, &specs, &ClientOpts::default())?;
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
            short(err)
        );
        // A Rust handler panics ("panic"), the TypeScript one throws an Error ("Error").
        let err = rpc_error(&out[3], -32603, "Internal error", "fail")?;
        let name = match dir.server() {
            Lang::Rust => "panic",
            Lang::Ts => "Error",
        };
        check!(
            err["data"]["message"] == message && err["data"]["name"] == name,
            "fail: data must be name {name:?} and the message, got {}",
            short(err)
        );
        expect_num(&out[4], "sum", 2.0, "add after a failed handler")?;
        server.expect_calls("fail", 1)?;
        Ok(())
    })();
    report(result, &[&server]);
}

fn validation(dir: Dir) {
    let prefix = unique_prefix();
    let server =
        Server::start(dir.server(), &prefix, "validation").unwrap_or_else(|e| panic!("{e}"));
    let specs = vec![
        json!({"method": "arith.add", "params": {"a": 1}}),
        json!({"method": "arith.add", "params": {"a": "one", "b": 2}}),
        json!({"method": "arith.add", "params": {"a": 1, "b": 2, "c": 3}}),
        json!({"method": "arith.add", "params": [1, 2]}),
        json!({"method": "arith.badResult"}),
        // Typed params that break the contract are refused by the caller.
        json!({"typed": "add", "params": {"a": 1}}),
        add(3.0, 4.0),
    ];
    let result = (|| {
        let out = run_client(dir.client(), &prefix, &specs, &ClientOpts::default())?;
        for (i, what, field) in [
            (0, "missing field", Some("b")),
            (1, "wrong type", Some("a")),
            (2, "unknown field", Some("c")),
            (3, "params not an object", None),
        ] {
            let err = rpc_error(&out[i], -32602, "Invalid params", what)?;
            expect_issue(err, dir.server(), field, what)?;
        }
        let err = rpc_error(&out[4], -32603, "Result validation failed", "badResult")?;
        // The TypeScript handler returns a string sum; a Rust one a NaN
        // that cannot be encoded (the issue is at the result as a whole).
        let field = (dir.server() == Lang::Ts).then_some("sum");
        expect_issue(err, dir.server(), field, "badResult")?;
        let local = out[5]["otherError"].as_str().unwrap_or("");
        let want = match dir.client() {
            Lang::Rust => "ValidationError: ",
            Lang::Ts => "ZodError: ",
        };
        check!(
            local.starts_with(want),
            "typed add without b: expected otherError {want}..., got {}",
            short(&out[5])
        );
        expect_num(&out[6], "sum", 7.0, "add after invalid calls")?;
        // No handler ran for invalid params: the one add is the last call.
        server.expect_calls("add", 1)?;
        Ok(())
    })();
    report(result, &[&server]);
}

fn notifications(dir: Dir) {
    let prefix = unique_prefix();
    let server = Server::start(dir.server(), &prefix, "notify").unwrap_or_else(|e| panic!("{e}"));
    let result = (|| {
        let out = run_client(
            dir.client(),
            &prefix,
            &[json!({"notify": "arith.ping", "params": {}})],
            &ClientOpts::default(),
        )?;
        check!(
            out[0] == json!({"ok": null}),
            "notify: got {}",
            short(&out[0])
        );
        server.expect_calls("ping", 1)?;
        wait_no_pending(&prefix)?;
        let out = run_client(
            dir.client(),
            &prefix,
            &[
                json!({"method": "arith.pingCount"}),
                json!({"typed": "pingCount", "params": {}}),
                json!({"typed": "ping", "params": {}}),
            ],
            &ClientOpts::default(),
        )?;
        expect_num(&out[0], "count", 1.0, "pingCount after one ping")?;
        expect_num(&out[1], "count", 1.0, "typed pingCount after one ping")?;
        check!(
            out[2] == json!({"ok": null}),
            "typed ping: got {}",
            short(&out[2])
        );
        server.expect_calls("ping", 2)?;
        // The clients deleted their reply streams; any other one would hold
        // a reply to a notification.
        let replies = keys_matching(&format!("{prefix}:replies:*"))?;
        check!(
            replies.is_empty(),
            "reply streams left under the prefix: {replies:?}"
        );
        // Even with a reply-to field, a notification gets no reply.
        let probe = keys::reply_stream(&prefix, "notification-probe");
        xadd_notification_with_reply_to(&prefix, &probe)?;
        server.expect_calls("ping", 3)?;
        wait_no_pending(&prefix)?;
        check!(
            !exists(&probe)?,
            "the server replied to a notification on its reply-to stream"
        );
        Ok(())
    })();
    report(result, &[&server]);
}

fn timeout(dir: Dir) {
    let prefix = unique_prefix();
    let server = Server::start(dir.server(), &prefix, "timeout").unwrap_or_else(|e| panic!("{e}"));
    // The first call times out after 150 ms; its reply lands at ~600 ms while
    // the second call waits, so the client must drop it and still match the
    // second reply.
    let specs = vec![
        json!({"method": "arith.slowAdd", "params": {"a": 1, "b": 2, "sleepMs": 600}, "timeoutMs": 150}),
        json!({"method": "arith.slowAdd", "params": {"a": 10, "b": 20, "sleepMs": 700}}),
        add(100.0, 200.0),
    ];
    let result = (|| {
        let out = run_client(dir.client(), &prefix, &specs, &ClientOpts::default())?;
        let msg = out[0]["transportError"].as_str().unwrap_or("");
        check!(
            msg.starts_with("call timeout"),
            "slow call: expected transportError \"call timeout...\", got {}",
            short(&out[0])
        );
        expect_num(&out[1], "sum", 30.0, "the call after the timeout")?;
        expect_num(&out[2], "sum", 300.0, "the third call")?;
        server.expect_calls("slowAdd", 2)?;
        wait_no_pending(&prefix)?;
        Ok(())
    })();
    report(result, &[&server]);
}

fn concurrent_calls(dir: Dir) {
    let prefix = unique_prefix();
    let server =
        Server::start(dir.server(), &prefix, "concurrent").unwrap_or_else(|e| panic!("{e}"));
    let a = |i: usize| i as f64 * 1.5 + 0.25;
    let specs: Vec<Value> = (0..100).map(|i| add(a(i), 1000.0)).collect();
    let result = (|| {
        let opts = ClientOpts {
            concurrent: true,
            ..ClientOpts::default()
        };
        let out = run_client(dir.client(), &prefix, &specs, &opts)?;
        for (i, line) in out.iter().enumerate() {
            expect_num(line, "sum", a(i) + 1000.0, &format!("concurrent call #{i}"))?;
        }
        server.expect_calls("add", 100)?;
        Ok(())
    })();
    report(result, &[&server]);
}

fn ids(dir: Dir) {
    let prefix = unique_prefix();
    let server = Server::start(dir.server(), &prefix, "ids").unwrap_or_else(|e| panic!("{e}"));
    let raw = |id: Value, method: &str, a: f64, b: f64| {
        let envelope =
            json!({"jsonrpc": "2.0", "method": method, "params": {"a": a, "b": b}, "id": id});
        json!({ "raw": envelope })
    };
    let mut specs = vec![
        raw(json!(42), "arith.add", 1.0, 2.0),
        raw(json!(-7), "arith.divide", 1.0, 0.0),
        raw(json!("abc"), "arith.add", 3.0, 3.0),
    ];
    // 2^53 + 1 is no JavaScript number: the TypeScript client driver cannot
    // even read it from its input, and a TypeScript server parses the request
    // with JSON.parse, so it answers with id 2^53 (checked as the peer's
    // known behaviour, README "Peer behaviour worth knowing").
    let big: i64 = 9_007_199_254_740_993;
    if dir.server() == Lang::Ts {
        specs.push(raw(json!(big), "arith.add", 2.0, 2.0));
    }
    let result = (|| {
        let out = run_client(dir.client(), &prefix, &specs, &ClientOpts::default())?;
        let mut want = vec![
            (json!(42), json!({"sum": 3.0})),
            (json!(-7), Value::Null),
            (json!("abc"), json!({"sum": 6.0})),
        ];
        if dir.server() == Lang::Ts {
            want.push((json!(big - 1), json!({"sum": 4.0})));
        }
        for (line, (id, result)) in out.iter().zip(&want) {
            let reply = line
                .get("reply")
                .ok_or_else(|| format!("id {id}: expected a raw reply, got {}", short(line)))?;
            check!(
                reply["jsonrpc"] == "2.0"
                    && reply["id"] == *id
                    && reply["id"].is_string() == id.is_string(),
                "id {id}: expected it back with its JSON type, got {}",
                short(reply)
            );
            if result.is_null() {
                check!(
                    reply["error"]["code"] == -32000,
                    "id {id}: expected error -32000, got {}",
                    short(reply)
                );
            } else {
                check!(
                    reply["result"]["sum"].as_f64() == result["sum"].as_f64(),
                    "id {id}: expected result {result}, got {}",
                    short(reply)
                );
            }
        }
        Ok(())
    })();
    report(result, &[&server]);
}

/// `<scenario>::{rust_server_ts_client, ts_server_rust_client}`.
macro_rules! both_directions {
    ($($scenario:ident => $body:ident;)*) => {
        $(
            mod $scenario {
                #[test]
                fn rust_server_ts_client() {
                    super::$body(super::Dir::RustServerTsClient);
                }
                #[test]
                fn ts_server_rust_client() {
                    super::$body(super::Dir::TsServerRustClient);
                }
            }
        )*
    };
}

both_directions! {
    s01_basic_calls => basic_calls;
    s02_error_mapping => error_mapping;
    s03_validation => validation;
    s04_notifications => notifications;
    s05_timeout => timeout;
    s06_concurrent_calls => concurrent_calls;
    s07_ids => ids;
}

// ---------------------------------------------------------------- mixed worker pool

mod s08_mixed_worker_pool {
    use super::*;

    /// A TypeScript and a Rust server in one consumer group; 200 concurrent
    /// adds from each client language at once: every call answered exactly
    /// once, both servers serve some, nothing left pending.
    #[test]
    fn ts_and_rust_servers() {
        let prefix = unique_prefix();
        let (rust, ts) = std::thread::scope(|s| {
            let r = s.spawn(|| Server::start(Lang::Rust, &prefix, "pool-rust"));
            let t = Server::start(Lang::Ts, &prefix, "pool-ts");
            (r.join().expect("rust server start panicked"), t)
        });
        let rust = rust.unwrap_or_else(|e| panic!("{e}"));
        let ts = ts.unwrap_or_else(|e| panic!("{e}"));
        let a = |lang: Lang, i: usize| match lang {
            Lang::Ts => 10_000.0 + i as f64,
            Lang::Rust => 20_000.0 + i as f64,
        };
        let run = |lang: Lang| -> Result<(), String> {
            let specs: Vec<Value> = (0..200).map(|i| add(a(lang, i), 0.5)).collect();
            let opts = ClientOpts {
                concurrent: true,
                ..ClientOpts::default()
            };
            let out = run_client(lang, &prefix, &specs, &opts)?;
            for (i, line) in out.iter().enumerate() {
                let what = format!("{} client call #{i}", lang.name());
                expect_num(line, "sum", a(lang, i) + 0.5, &what)?;
            }
            Ok(())
        };
        let result = (|| {
            let (from_ts, from_rust) = std::thread::scope(|s| {
                let t = s.spawn(|| run(Lang::Ts));
                let r = run(Lang::Rust);
                (t.join().unwrap_or_else(|_| Err("panicked".into())), r)
            });
            from_ts?;
            from_rust?;
            let total = || rust.calls("add") + ts.calls("add");
            // The CALL lines precede the replies; wait for our readers to
            // see them all, then make sure no extra one shows up.
            let deadline = Instant::now() + EVENT_TIMEOUT;
            while total() < 400 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            wait_no_pending(&prefix)?;
            println!(
                "s08_mixed_worker_pool: rust server handled {}, ts server handled {} of 400 calls",
                rust.calls("add"),
                ts.calls("add")
            );
            check!(
                total() == 400,
                "expected 400 CALL arith.add lines across both servers, saw {} (rust {}, ts {})",
                total(),
                rust.calls("add"),
                ts.calls("add")
            );
            check!(
                rust.calls("add") > 0 && ts.calls("add") > 0,
                "both servers must serve some calls: rust {}, ts {}",
                rust.calls("add"),
                ts.calls("add")
            );
            Ok(())
        })();
        report(result, &[&rust, &ts]);
    }
}

// ---------------------------------------------------------------- the family's codegen

mod family_codegen {
    use super::*;

    /// `node tools/contract-export/export.mjs` after its `setup.sh` (npm ci, once).
    fn exporter() -> Command {
        static EXPORT: OnceLock<PathBuf> = OnceLock::new();
        let script = EXPORT.get_or_init(|| {
            let root = env().interop.workspace_root().unwrap();
            let mut setup = Command::new("bash");
            setup.arg(root.join("tools/contract-export/setup.sh"));
            let out = run_to_success(
                &mut setup,
                "tools/contract-export/setup.sh (npm ci)",
                Duration::from_secs(300),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            PathBuf::from(out.lines().last().unwrap_or_default().trim())
        });
        let mut c = Command::new("node");
        c.arg(script);
        c
    }

    /// The family's codegen (`@clamator/codegen` 0.1.8) on the `*.ts` of
    /// `src`, copied under the peer's build so that their `zod` and
    /// `@clamator/protocol` imports resolve to the peer's: its manifest.
    fn family_manifest(src: &Path, work: &Path) -> String {
        let input = work.join("src");
        let _ = std::fs::remove_dir_all(work);
        std::fs::create_dir_all(&input).unwrap();
        for entry in std::fs::read_dir(src).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "ts") {
                std::fs::copy(&path, input.join(path.file_name().unwrap())).unwrap();
            }
        }
        let manifest = work.join("family-manifest.json");
        let peer = &env().peer;
        let mut cmd = peer.node(&peer.codegen_cli());
        cmd.arg("--src")
            .arg(&input)
            .arg("--manifest")
            .arg(&manifest);
        run_to_success(
            &mut cmd,
            "the family's codegen (--manifest)",
            CLIENT_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("the family's codegen wrote no {}: {e}", manifest.display()))
    }

    /// Our exporter's manifest of the `*.ts` of `src`.
    fn our_manifest(src: &Path, work: &Path) -> String {
        let manifest = work.join("our-manifest.json");
        let mut cmd = exporter();
        cmd.arg("--src")
            .arg(src)
            .arg("--out")
            .arg(work.join("contracts.json"))
            .arg("--manifest")
            .arg(&manifest);
        run_to_success(&mut cmd, "tools/contract-export/export.mjs", CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::read_to_string(&manifest).unwrap()
    }

    /// The checked-in TypeScript contracts: the family's codegen, our
    /// exporter and the checked-in manifest agree, byte for byte.
    #[test]
    fn manifest_equals_our_exporters_and_the_checked_in_one() {
        let e = env();
        let root = e.interop.workspace_root().unwrap();
        for (i, (src, checked_in)) in [
            (
                "crates/clamator-contract-file/tests/ts",
                "crates/clamator-contract-file/tests/contracts/manifest.json",
            ),
            ("examples/contracts/ts", "examples/contracts/manifest.json"),
        ]
        .into_iter()
        .enumerate()
        {
            let work = e.scratch.join(format!("codegen-{i}"));
            let family = family_manifest(&root.join(src), &work);
            let ours = our_manifest(&root.join(src), &work);
            assert!(
                family == ours,
                "{src}: the family's codegen and tools/contract-export disagree:\n\
                 family:\n{family}\nours:\n{ours}"
            );
            let checked = std::fs::read_to_string(root.join(checked_in)).unwrap();
            assert!(
                family == checked,
                "{checked_in} is not what the family's codegen writes from {src}:\n{family}"
            );
        }
    }

    /// The Zod modules `clamator codegen zod` writes (from the Rust `arith`
    /// contract and from the inventory contract file): the family's codegen
    /// reads them and hashes them as our exporter does.
    #[test]
    fn reads_our_zod_modules_as_our_exporter_does() {
        let e = env();
        let root = e.interop.workspace_root().unwrap();
        let src = e.scratch.join("codegen-zod-src");
        let inventory = ContractFile::read(
            &root.join("crates/clamator-contract-file/tests/contracts/inventory.json"),
        )
        .unwrap();
        let arith =
            export::file(&[(ArithContract::descriptor(), "rust:clamator_arith::Arith")]).unwrap();
        let mut modules = write_zod(&inventory, "inventory.json", &src);
        for (name, text) in
            clamator_contract_file::zod::generate_all(&arith, "clamator_arith").unwrap()
        {
            std::fs::write(src.join(&name), text).unwrap();
            modules.push(src.join(name));
        }
        assert_eq!(modules.len(), 2);
        let work = e.scratch.join("codegen-zod");
        let family = family_manifest(&src, &work);
        let ours = our_manifest(&src, &work);
        assert!(
            family == ours,
            "the family's codegen and tools/contract-export disagree on our Zod modules:\n\
             family:\n{family}\nours:\n{ours}"
        );
        let parsed: Value = serde_json::from_str(&family).unwrap();
        for service in ["arith", "inventory"] {
            assert!(
                parsed["contracts"][service].is_object(),
                "no {service} in {family}"
            );
        }
    }
}

// ---------------------------------------------------------------- the Zod module in the peer's client

mod zod_module {
    use super::*;

    /// The handler; the test keeps clones of its counters.
    struct Store {
        added: Arc<AtomicUsize>,
        restocked: Arc<AtomicI64>,
    }

    /// Values in and out of the generated types, through their serde form:
    /// this test does not depend on the names the Rust generator gives nested
    /// types (tests/contracts.rs covers those).
    fn wire<T: clamator::serde::Serialize>(v: &T) -> Value {
        serde_json::to_value(v).expect("a generated type encodes")
    }
    fn typed<T: clamator::serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).expect("the handler's result fits the contract")
    }

    impl inventory::Inventory for Store {
        async fn add_item(&self, p: AddItemParams) -> Result<AddItemResult, RpcError> {
            self.added.fetch_add(1, Ordering::SeqCst);
            let p = wire(&p);
            let total = p["quantity"].as_i64().unwrap_or(0) + p["stock"].as_i64().unwrap_or(0);
            Ok(typed(json!({
                "id": format!("{}-{}", p["sku"].as_str().unwrap_or("?"), p["priority"]),
                "total": total,
            })))
        }
        async fn get_item(&self, p: GetItemParams) -> Result<GetItemResult, RpcError> {
            Ok(typed(match wire(&p)["id"].as_str() {
                Some("a") => json!({"ok": true, "item": {"sku": "a", "quantity": 2}}),
                _ => json!({"ok": false, "reason": "archived"}),
            }))
        }
        async fn r#move(&self, p: MoveParams) -> Result<MoveResult, RpcError> {
            Ok(typed(json!({"moved": wire(&p)["to"]["kind"] == "truck"})))
        }
        async fn restocked(&self, p: RestockedParams) {
            let quantity = wire(&p)["quantity"].as_i64().unwrap_or(0);
            self.restocked.fetch_add(quantity, Ordering::SeqCst);
        }
    }

    /// The inventory contract (TypeScript-authored, checked in as a contract
    /// file) through `clamator codegen zod`, in the peer's client calling a
    /// Rust server: the module's schemas fill defaults and refuse bad params
    /// before sending, and parse every result (unions, enums, nested objects).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn types_the_ts_clients_calls_to_a_rust_server() {
        let e = env();
        let root = e.interop.workspace_root().unwrap();
        let file = ContractFile::read(
            &root.join("crates/clamator-contract-file/tests/contracts/inventory.json"),
        )
        .unwrap();
        let module = write_zod(&file, "inventory.json", &e.scratch.join("inventory"))
            .pop()
            .unwrap();
        let prefix = unique_prefix();
        let (added, restocked) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicI64::new(0)));
        let handler = Store {
            added: Arc::clone(&added),
            restocked: Arc::clone(&restocked),
        };
        let conn = ConnectOptions::new(prefix.clone(), &e.redis_url).unwrap();
        let server = RedisRpcServer::builder(conn)
            .register(InventoryContract, handler)
            .unwrap()
            .start()
            .await
            .unwrap();
        // Without `priority`: the module's `.default(3)` fills it in.
        let add = json!({
            "sku": "s1", "quantity": 2, "stock": 3, "price": 1.5, "fragile": false,
            "supplier": null, "color": "red", "tags": ["x"], "attributes": {"w": 1.0},
            "dimensions": {"widthMm": 1, "heightMm": 2.5}
        });
        let mut fractional = add.clone();
        fractional["quantity"] = json!(1.5);
        let mut unknown = add.clone();
        unknown["zzz"] = json!(1);
        let specs = vec![
            json!({"typed": "addItem", "params": add}),
            json!({"typed": "getItem", "params": {"id": "a"}}),
            json!({"typed": "getItem", "params": {"id": "b"}}),
            json!({"typed": "move", "params": {"id": "a", "to": {"kind": "truck", "plate": "X", "eta": null}}}),
            json!({"typed": "move", "params": {"id": "a", "to": {"kind": "shelf", "shelf": 4}}}),
            json!({"typed": "restocked", "params": {"sku": "s", "quantity": 5}}),
            json!({"typed": "addItem", "params": fractional}),
            json!({"typed": "addItem", "params": unknown}),
            json!({"typed": "move", "params": {"id": "a", "to": {"kind": "boat"}}}),
        ];
        let opts = ClientOpts {
            contract: Some(module),
            ..ClientOpts::default()
        };
        let out = tokio::task::spawn_blocking(move || run_client(Lang::Ts, &prefix, &specs, &opts))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}"));
        let wanted = [
            json!({"ok": {"id": "s1-3", "total": 5}}),
            json!({"ok": {"ok": true, "item": {"sku": "a", "quantity": 2}}}),
            json!({"ok": {"ok": false, "reason": "archived"}}),
            json!({"ok": {"moved": true}}),
            json!({"ok": {"moved": false}}),
            json!({"ok": null}),
        ];
        for (i, want) in wanted.iter().enumerate() {
            assert_eq!(&out[i], want, "spec #{i}");
        }
        for (i, what) in [
            (6, "fractional int"),
            (7, "unknown field"),
            (8, "unknown tag"),
        ] {
            let msg = out[i]["otherError"].as_str().unwrap_or("");
            assert!(
                msg.starts_with("ZodError: "),
                "{what}: expected the module to refuse it (ZodError), got {}",
                out[i]
            );
        }
        // The notification arrives without a reply to wait for: poll, bounded.
        let deadline = Instant::now() + EVENT_TIMEOUT;
        while restocked.load(Ordering::SeqCst) != 5 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(restocked.load(Ordering::SeqCst), 5, "restocked");
        // What the module refused never reached the server.
        assert_eq!(added.load(Ordering::SeqCst), 1, "addItem calls");
        server.stop().await;
    }
}

// ---------------------------------------------------------------- setup

mod setup {
    use super::*;

    /// Without the peer's source, the setup fails saying where it looked and
    /// what to set (and the tests fail with that message: nothing is skipped).
    #[test]
    fn a_missing_peer_source_fails_with_what_to_do() {
        let interop = InteropDir::locate(None).unwrap_or_else(|e| panic!("{e}"));
        let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-clamator-ts");
        let mut cmd = Command::new("bash");
        cmd.arg(interop.ts_setup_script())
            .env("CLAMATOR_TS_PEER_SRC", &missing);
        let err = run_to_success(&mut cmd, "setup-ts-peer.sh", Duration::from_secs(30))
            .expect_err("the setup must fail without the peer's source")
            .to_string();
        assert!(
            err.contains("the TypeScript peer's source is missing")
                && err.contains(&missing.display().to_string())
                && err.contains("CLAMATOR_TS_PEER_SRC"),
            "{err}"
        );
    }
}
