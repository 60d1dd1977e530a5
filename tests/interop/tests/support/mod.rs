//! What every scenario stands on: the environment of the run (one Redis, the
//! venv's python, the two binaries), server and client-driver child
//! processes with bounded waits, and a few raw Redis probes.
//!
//! Every child process is killed when its handle drops, also when a scenario
//! fails or panics half-way.

pub(crate) mod runner;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clamator_interop::harness::{self, InteropDir, Lines, ReadyChild, StdinMode, read_all};
use clamator_over_redis::ops::keys;
use clamator_test_support::RedisServer;
use serde_json::Value;

/// How long a server may take to print READY (a Python start imports pydantic,
/// which is slow on a loaded 2-core machine).
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one client-driver run may take before it is killed.
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for an event a scenario expects (a CALL line, an empty PEL).
pub(crate) const EVENT_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound on building `arith-server` (a fresh clone compiles the workspace).
const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// The env var naming a Redis to use instead of a throwaway redis-server.
pub(crate) const REDIS_URL_ENV: &str = "CLAMATOR_INTEROP_REDIS_URL";
/// The service of the interop contract.
pub(crate) const SERVICE: &str = "arith";

/// Which implementation a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    /// clamator-rs: `arith-server`, `interop-client`.
    Rust,
    /// The peer, clamator 0.1.9: `py/arith_server.py`, `py/client_driver.py`.
    Python,
}

impl Lang {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
        }
    }

    pub(crate) fn other(self) -> Lang {
        match self {
            Lang::Rust => Lang::Python,
            Lang::Python => Lang::Rust,
        }
    }
}

/// A direction of the matrix: which language serves and which one calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// A Rust server answering the Python client.
    RustServerPyClient,
    /// A Python server answering the Rust client.
    PyServerRustClient,
}

impl Dir {
    pub(crate) const ALL: [Dir; 2] = [Dir::RustServerPyClient, Dir::PyServerRustClient];

    pub(crate) fn server(self) -> Lang {
        match self {
            Dir::RustServerPyClient => Lang::Rust,
            Dir::PyServerRustClient => Lang::Python,
        }
    }

    pub(crate) fn client(self) -> Lang {
        self.server().other()
    }

    /// The test-name part (`s01_basic_calls::<key>`).
    pub(crate) fn key(self) -> &'static str {
        match self {
            Dir::RustServerPyClient => "rust_server_py_client",
            Dir::PyServerRustClient => "py_server_rust_client",
        }
    }

    /// The table column title.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Dir::RustServerPyClient => "Rust server + Python client",
            Dir::PyServerRustClient => "Python server + Rust client",
        }
    }
}

/// The environment of one run, shared by every scenario.
#[derive(Debug)]
pub(crate) struct Env {
    /// Where every process connects.
    pub(crate) redis_url: String,
    /// The throwaway server, unless `CLAMATOR_INTEROP_REDIS_URL` named one.
    _redis: Option<RedisServer>,
    /// The venv's python (from setup-venv.sh).
    python: PathBuf,
    /// `tests/interop/py`.
    py_dir: PathBuf,
    /// The `arith-server` binary.
    rust_server: PathBuf,
    /// The `interop-client` binary.
    rust_client: PathBuf,
}

impl Env {
    /// Prepares the run: the venv and the `arith-server` build in parallel,
    /// then Redis. Any missing prerequisite is an error saying what to install.
    pub(crate) fn setup() -> Result<Env, String> {
        // cargo runs this test with the package directory as the current
        // directory; CLAMATOR_INTEROP_DIR overrides it.
        let interop = InteropDir::locate(None).map_err(|e| e.to_string())?;
        let venv = {
            let interop = interop.clone();
            std::thread::spawn(move || interop.setup_venv())
        };
        let server = build_arith_server(&interop);
        let python = venv
            .join()
            .map_err(|_| "setup-venv thread panicked".to_owned())?
            .map_err(|e| format!("{e}\nthe Python peer is required, nothing is skipped"))?;
        let rust_server = server?;
        let (redis_url, redis) = match std::env::var(REDIS_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => (url, None),
            _ => {
                let server = RedisServer::try_start().map_err(|e| {
                    format!(
                        "could not start a throwaway redis-server: {e} (or set {REDIS_URL_ENV})"
                    )
                })?;
                (server.url(), Some(server))
            }
        };
        let rust_client = PathBuf::from(env!("CARGO_BIN_EXE_interop-client"));
        let env = Env {
            redis_url,
            _redis: redis,
            python,
            py_dir: interop.py_dir(),
            rust_server,
            rust_client,
        };
        env.redis()
            .ping()
            .map_err(|e| format!("Redis at {} does not answer: {e}", env.redis_url))?;
        Ok(env)
    }

    /// A fresh connection helper to the run's Redis.
    pub(crate) fn redis(&self) -> Redis {
        Redis {
            url: self.redis_url.clone(),
        }
    }

    /// A fresh key prefix (`t-<uuid>`) whose keys are deleted when it drops:
    /// declare it before the servers using it, so it drops after them.
    pub(crate) fn prefix(&self) -> Prefix {
        Prefix {
            name: clamator_test_support::unique_prefix(),
            redis: self.redis(),
        }
    }

    /// Starts an `arith` server and waits for READY.
    pub(crate) fn server(
        &self,
        lang: Lang,
        prefix: &str,
        opts: ServerOpts,
    ) -> Result<Server, String> {
        let mut cmd = match lang {
            Lang::Rust => Command::new(&self.rust_server),
            Lang::Python => {
                let mut c = Command::new(&self.python);
                c.arg(self.py_dir.join("arith_server.py"));
                c
            }
        };
        cmd.args(["--redis-url", &self.redis_url, "--key-prefix", prefix]);
        if let Some(id) = &opts.instance_id {
            cmd.args(["--instance-id", id]);
        }
        if let Some(ms) = opts.claim_idle_ms {
            cmd.args(["--claim-idle-ms", &ms.to_string()]);
        }
        if opts.trace_calls {
            cmd.arg("--trace-calls");
        }
        if let (Lang::Rust, Some(ms)) = (lang, opts.dedupe_window_ms) {
            cmd.args(["--dedupe-window-ms", &ms.to_string()]);
        }
        let label = format!(
            "{} server {}",
            lang.name(),
            opts.instance_id.as_deref().unwrap_or("")
        );
        Server::spawn(cmd, label)
    }

    /// Starts a client driver of `lang` on `specs`; finish it with [`ClientRun::finish`].
    pub(crate) fn spawn_client(
        &self,
        lang: Lang,
        prefix: &str,
        specs: &[Value],
        opts: ClientOpts,
    ) -> Result<ClientRun, String> {
        let mut cmd = match lang {
            Lang::Rust => Command::new(&self.rust_client),
            Lang::Python => {
                let mut c = Command::new(&self.python);
                c.arg(self.py_dir.join("client_driver.py"));
                c
            }
        };
        cmd.args([
            "--redis-url",
            &self.redis_url,
            "--key-prefix",
            prefix,
            "--timeout-ms",
            &opts.timeout_ms.to_string(),
        ]);
        if opts.concurrent {
            cmd.arg("--concurrent");
        }
        ClientRun::spawn(cmd, format!("{} client", lang.name()), specs)
    }

    /// Runs a client driver of `lang` on `specs` and returns its output lines.
    pub(crate) fn run_client(
        &self,
        lang: Lang,
        prefix: &str,
        specs: &[Value],
        opts: ClientOpts,
    ) -> Result<Vec<Value>, String> {
        self.spawn_client(lang, prefix, specs, opts)?
            .finish(CLIENT_TIMEOUT)
    }
}

/// Builds `arith-server` into this run's target dir (a no-op when fresh),
/// in the profile of this test, unless `CLAMATOR_ARITH_SERVER` names one.
fn build_arith_server(interop: &InteropDir) -> Result<PathBuf, String> {
    // CARGO_TARGET_TMPDIR is `<target dir>/tmp` of the build that compiled this
    // test, whether the target dir came from the env, a flag or a config file.
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .ok_or("CARGO_TARGET_TMPDIR has no parent")?;
    let root = interop.workspace_root().map_err(|e| e.to_string())?;
    harness::arith_server(
        &root,
        Some(target_dir),
        !cfg!(debug_assertions),
        BUILD_TIMEOUT,
    )
    .map_err(|e| e.to_string())
}

/// Options of a server process.
#[derive(Debug, Default, Clone)]
pub(crate) struct ServerOpts {
    /// `--instance-id` (also names the server in failure messages).
    pub(crate) instance_id: Option<String>,
    /// `--claim-idle-ms` (default: the server's 60000).
    pub(crate) claim_idle_ms: Option<u64>,
    /// `--trace-calls`.
    pub(crate) trace_calls: bool,
    /// `--dedupe-window-ms` (Rust servers only; the peer has no dedupe).
    pub(crate) dedupe_window_ms: Option<u64>,
}

impl ServerOpts {
    /// An instance id and `--trace-calls`.
    pub(crate) fn traced(id: impl Into<String>) -> ServerOpts {
        ServerOpts {
            instance_id: Some(id.into()),
            trace_calls: true,
            ..ServerOpts::default()
        }
    }
}

/// A running `arith` server (either language); killed (SIGKILL) when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    /// The process; its stdout holds READY and the CALL lines.
    child: ReadyChild,
}

impl Server {
    fn spawn(mut cmd: Command, label: String) -> Result<Server, String> {
        ReadyChild::spawn(&mut cmd, label, StdinMode::Null, READY_TIMEOUT)
            .map(|child| Server { child })
            .map_err(|e| e.to_string())
    }

    /// How many `CALL arith.<method>` lines it printed.
    pub(crate) fn calls(&self, method: &str) -> usize {
        self.child
            .stdout()
            .count(&format!("CALL {SERVICE}.{method}"))
    }

    /// Waits until it printed at least `n` `CALL arith.<method>` lines.
    pub(crate) fn wait_calls(&self, method: &str, n: usize) -> Result<(), String> {
        self.wait_lines("CALL", method, n)
    }

    /// Waits until it printed at least `n` `CANCELLED arith.<method>` lines
    /// (a Rust `arith-server`'s handler that stopped because its caller gave up).
    pub(crate) fn wait_cancelled(&self, method: &str, n: usize) -> Result<(), String> {
        self.wait_lines("CANCELLED", method, n)
    }

    /// Waits until it printed at least `n` `<what> arith.<method>` lines.
    fn wait_lines(&self, what: &str, method: &str, n: usize) -> Result<(), String> {
        let line = format!("{what} {SERVICE}.{method}");
        if self.child.stdout().wait_until(EVENT_TIMEOUT, |lines| {
            lines.iter().filter(|l| **l == line).count() >= n
        }) {
            Ok(())
        } else {
            Err(format!(
                "{}: expected {n} x `{line}` within {EVENT_TIMEOUT:?}, saw {}; stderr:\n{}",
                self.child.label(),
                self.child.stdout().count(&line),
                self.child.stderr_tail(20)
            ))
        }
    }

    /// Kills it at once (SIGKILL), as a crash would, and reaps it.
    pub(crate) fn kill(&mut self) {
        self.child.kill();
    }

    /// Its label and last stderr lines, for failure reports.
    pub(crate) fn diagnostics(&self) -> String {
        format!(
            "--- {} stderr (tail) ---\n{}",
            self.child.label(),
            self.child.stderr_tail(20)
        )
    }
}

/// Options of a client-driver run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientOpts {
    /// `--timeout-ms`.
    pub(crate) timeout_ms: u64,
    /// `--concurrent`.
    pub(crate) concurrent: bool,
}

impl Default for ClientOpts {
    fn default() -> Self {
        ClientOpts {
            timeout_ms: 10_000,
            concurrent: false,
        }
    }
}

/// A client driver running in the background; killed if dropped unfinished.
#[derive(Debug)]
pub(crate) struct ClientRun {
    label: String,
    child: Option<Child>,
    /// Stdout, whole, once the pipe closes.
    out: mpsc::Receiver<Vec<u8>>,
    err: Arc<Lines>,
    /// How many output lines to expect.
    specs: usize,
}

impl ClientRun {
    fn spawn(mut cmd: Command, label: String, specs: &[Value]) -> Result<ClientRun, String> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning {label}: {e}"))?;
        let input = serde_json::to_vec(specs).map_err(|e| e.to_string())?;
        if let Some(mut stdin) = child.stdin.take() {
            // On a thread: a large input must not block while the child writes output.
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        let out = read_all(child.stdout.take());
        let err = Lines::collect(child.stderr.take(), 200);
        Ok(ClientRun {
            label,
            child: Some(child),
            out,
            err,
            specs: specs.len(),
        })
    }

    /// Waits (up to `limit`) for it to exit and returns one JSON value per spec.
    pub(crate) fn finish(mut self, limit: Duration) -> Result<Vec<Value>, String> {
        let stdout = match self.out.recv_timeout(limit) {
            Ok(bytes) => bytes,
            Err(_) => {
                return Err(format!(
                    "{} did not finish within {limit:?} (killed); stderr:\n{}",
                    self.label,
                    self.err.tail(30)
                ));
            }
        };
        let status = match self.child.take() {
            Some(mut child) => child.wait().map_err(|e| e.to_string())?,
            None => return Err("client already finished".to_owned()),
        };
        self.err.wait_eof(Duration::from_secs(5));
        if !status.success() {
            return Err(format!(
                "{} exited with {status}; stderr:\n{}",
                self.label,
                self.err.tail(30)
            ));
        }
        let text = String::from_utf8_lossy(&stdout);
        let lines: Vec<Value> = text
            .lines()
            .map(|l| {
                serde_json::from_str(l).map_err(|e| {
                    format!(
                        "{} printed a non-JSON line ({e}): {}",
                        self.label,
                        short_str(l)
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        if lines.len() != self.specs {
            return Err(format!(
                "{} printed {} lines for {} specs; stderr:\n{}",
                self.label,
                lines.len(),
                self.specs,
                self.err.tail(30)
            ));
        }
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

/// A case's key prefix; its keys are deleted on drop (they would pile up on
/// a Redis given by `CLAMATOR_INTEROP_REDIS_URL`).
#[derive(Debug)]
pub(crate) struct Prefix {
    name: String,
    redis: Redis,
}

impl std::ops::Deref for Prefix {
    type Target = str;
    fn deref(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        if let Ok(keys) = self.redis.keys(&format!("{}:*", self.name))
            && !keys.is_empty()
            && let Ok(mut conn) = self.redis.conn()
        {
            let _ = redis::cmd("DEL").arg(&keys).query::<i64>(&mut conn);
        }
    }
}

/// Direct Redis probes of the harness (a fresh connection per probe).
#[derive(Debug, Clone)]
pub(crate) struct Redis {
    url: String,
}

impl Redis {
    fn conn(&self) -> Result<redis::Connection, String> {
        let client = redis::Client::open(self.url.as_str()).map_err(|e| e.to_string())?;
        let conn = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .map_err(|e| format!("connecting to {}: {e}", self.url))?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        Ok(conn)
    }

    fn ping(&self) -> Result<(), String> {
        redis::cmd("PING")
            .query::<String>(&mut self.conn()?)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// `XADD <stream> * field value ...` with raw bytes values.
    pub(crate) fn xadd(&self, stream: &str, fields: &[(&str, &[u8])]) -> Result<(), String> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(stream).arg("*");
        for (k, v) in fields {
            cmd.arg(*k).arg(*v);
        }
        cmd.query::<String>(&mut self.conn()?)
            .map(|_| ())
            .map_err(|e| format!("XADD {stream}: {e}"))
    }

    /// The XPENDING summary count of the `arith` group on `<prefix>:cmds:arith`.
    pub(crate) fn pending(&self, prefix: &str) -> Result<usize, String> {
        let stream = keys::command_stream(prefix, SERVICE);
        let reply: Vec<redis::Value> = redis::cmd("XPENDING")
            .arg(&stream)
            .arg(keys::group(SERVICE))
            .query(&mut self.conn()?)
            .map_err(|e| format!("XPENDING {stream}: {e}"))?;
        let first = reply.first().ok_or("empty XPENDING reply")?;
        redis::from_redis_value_ref::<usize>(first).map_err(|e| e.to_string())
    }

    /// Polls (bounded) until nothing is pending on `<prefix>:cmds:arith`.
    pub(crate) fn wait_no_pending(&self, prefix: &str) -> Result<(), String> {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let n = self.pending(prefix)?;
            if n == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{n} entries still pending on {} after {EVENT_TIMEOUT:?}",
                    keys::command_stream(prefix, SERVICE)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Keys matching a glob pattern (SCAN, not KEYS: the Redis may be shared).
    pub(crate) fn keys(&self, pattern: &str) -> Result<Vec<String>, String> {
        let mut conn = self.conn()?;
        let iter = redis::cmd("SCAN")
            .cursor_arg(0)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .clone()
            .iter::<String>(&mut conn)
            .map_err(|e| format!("SCAN {pattern}: {e}"))?;
        let mut keys = Vec::new();
        for key in iter {
            keys.push(key.map_err(|e| format!("SCAN {pattern}: {e}"))?);
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// The `envelope` fields of the entries of stream `key`, parsed, oldest
    /// first (none when the stream does not exist).
    pub(crate) fn envelopes(&self, key: &str) -> Result<Vec<Value>, String> {
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(key)
            .arg("-")
            .arg("+")
            .query(&mut self.conn()?)
            .map_err(|e| format!("XRANGE {key}: {e}"))?;
        reply
            .ids
            .iter()
            .map(|entry| {
                let text = entry
                    .get::<String>(keys::FIELD_ENVELOPE)
                    .ok_or_else(|| format!("an entry of {key} has no envelope"))?;
                serde_json::from_str(&text).map_err(|e| format!("an envelope of {key}: {e}"))
            })
            .collect()
    }

    /// Whether `key` exists.
    pub(crate) fn exists(&self, key: &str) -> Result<bool, String> {
        redis::cmd("EXISTS")
            .arg(key)
            .query::<i64>(&mut self.conn()?)
            .map(|n| n > 0)
            .map_err(|e| format!("EXISTS {key}: {e}"))
    }
}

pub(crate) use clamator_interop::output::{short, short_str};
