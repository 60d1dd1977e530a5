//! `clamator-bench`: measures clamator over Redis against the floor (the
//! same Redis commands without clamator) and against the Python peer, on one
//! throwaway `redis-server`, and prints a table (or JSON lines with `--json`).
//!
//! For each client/server pair ([`pairs::Pair`]) and each concurrency, one
//! row: `--warmup` unmeasured calls, then `--calls` measured `arith.add` calls
//! with that many in flight, giving throughput, p50/p99/max latency, errors,
//! Redis commands and time per call, and the CPU time per call of the client,
//! the server and Redis ([`cpu`]). Concurrency 1 is the sequential round-trip
//! latency. Then the client memory per call in flight (RSS growth with
//! `--in-flight` calls waiting), and the targets checked against the numbers.
//!
//! Processes: the clients of the floor and of Rust run in this process (C
//! tasks on one client for concurrency C); every server is a second process:
//! this executable again as `clamator-bench --serve raw|rust-arith` (the same
//! code as `arith-server`, so no other binary has to be built; `--rust-server`
//! runs a given `arith-server` instead), or the peer's `arith_server.py`. The
//! Python client is the interop suite's `bench_client.py`, one process per
//! row. The peer's venv, drivers and the child processes come from the
//! interop suite's harness ([`clamator_interop::harness`]), found at run time.
//!
//! # Layout
//! - `pairs`: the pairs and who plays client and server in each.
//! - `drive`: driving N calls at concurrency C; `stats`: rows from latencies.
//! - `raw`: the floor (server loop and client); `rust_client`: the Rust client.
//! - `python`: the peer through the interop suite's venv and drivers.
//! - `serve`: the `--serve` child processes; `process`: starting and stopping children.
//! - `cpu`: CPU time per call from `/proc/<pid>/stat`.
//! - `memory`: the memory-per-call probe; `machine`: what the numbers were measured on;
//!   `redis_cost`: Redis commands and Redis time per call, from `INFO commandstats`.
//! - `report`: the table, the JSON lines and the targets; `progress`: the progress bar;
//!   `table`, `output`: plain-text tables and stdout.

mod cpu;
mod drive;
mod machine;
mod memory;
mod output;
mod pairs;
mod process;
mod progress;
mod python;
mod raw;
mod redis_cost;
mod report;
mod rust_client;
mod serve;
mod stats;
/// The CLI's plain-text tables, shared as source (neither crate is a
/// library of the other; the bench is not published).
#[path = "../../crates/clamator-cli/src/table.rs"]
#[allow(dead_code)]
mod table;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clamator_interop::harness::StdinMode;
use clamator_test_support::RedisServer;
use clap::Parser;
use serde_json::json;

use self::cpu::CpuProbe;
use self::drive::{Caller, drive};
use self::machine::Machine;
use self::pairs::{ClientKind, Pair, ServerKind};
use self::process::{ServerProcess, current_exe};
use self::progress::Progress;
use self::python::{PyRow, PythonPeer};
use self::raw::{RawCaller, RawClient};
use self::redis_cost::RedisStats;
use self::report::Report;
use self::rust_client::RustCaller;
use self::serve::ServeRole;

/// How long a server process may take to print `READY`.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// Exit code: every call succeeded (targets are reported, not enforced).
const EXIT_OK: u8 = 0;
/// Exit code: some call failed or a requested measurement could not be made.
const EXIT_ERRORS: u8 = 1;
/// Exit code: bad options.
const EXIT_USAGE: u8 = 2;
/// Exit code: the benchmark could not run (no redis-server, a server would not start).
const EXIT_CANNOT_RUN: u8 = 3;

/// Measure clamator over Redis: the raw floor, Rust and the Python peer 0.1.9.
///
/// Starts its own throwaway redis-server (redis-server must be on PATH). For
/// numbers worth keeping, build in release mode:
/// `cargo run --release -p clamator-bench --`.
#[derive(Parser, Debug)]
#[command(
    name = "clamator-bench",
    version,
    after_help = "Exit codes: 0 every call succeeded (targets are reported, not enforced), \
                  1 a call or a requested measurement failed, 2 bad options, 3 the benchmark \
                  could not run."
)]
struct BenchArgs {
    /// JSON lines instead of a table at the end.
    #[arg(long)]
    json: bool,

    /// Measured calls per row, after the warm-up [default: 2000].
    #[arg(long, value_name = "N")]
    calls: Option<usize>,

    /// Unmeasured warm-up calls before each row [default: 200; 50 with --smoke].
    #[arg(long, value_name = "N")]
    warmup: Option<usize>,

    /// Each Rust and raw row warms up for at least this many milliseconds
    /// [default: 1000; 0 with --smoke].
    #[arg(long, value_name = "MS")]
    warmup_ms: Option<u64>,

    /// Concurrency levels (calls kept in flight), comma-separated
    /// [default: 1,16,64,256; 1,16,64 with --smoke].
    #[arg(long, value_name = "C,..", value_delimiter = ',')]
    concurrency: Vec<usize>,

    /// Client-server pairs to measure, comma-separated [default: all; raw,rust-rust
    /// with --smoke]. Python pairs that cannot run are skipped unless named here.
    #[arg(long, value_name = "PAIR,..", value_delimiter = ',', value_enum)]
    pairs: Vec<Pair>,

    /// Calls held in flight to measure client memory per call; 0 skips it
    /// [default: 10000].
    #[arg(long, value_name = "N")]
    in_flight: Option<usize>,

    /// Per-call timeout in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    timeout_ms: u64,

    /// A short run for CI: 2,000 calls a row, concurrency 1, 16 and 64, raw and rust-rust, and
    /// the memory probe with 10,000 calls held.
    #[arg(long)]
    smoke: bool,

    /// Run this `arith-server` binary as the Rust server, instead of this
    /// executable's built-in copy of it.
    #[arg(long, value_name = "PATH")]
    rust_server: Option<PathBuf>,

    /// Run the Rust servers with this dedupe window (`ServerOptions::dedupe_window`,
    /// `arith-server --dedupe-window-ms`), to measure what it costs [default: 0, off].
    #[arg(long, value_name = "MS", default_value_t = 0)]
    dedupe_window_ms: u64,

    /// The interop suite's directory (setup-venv.sh, py/) for the Python peer
    /// [default: $CLAMATOR_INTEROP_DIR, else tests/interop of the clamator-rs
    /// workspace the current directory is in].
    #[arg(long, value_name = "DIR")]
    interop_dir: Option<PathBuf>,

    /// Internal: the Redis of a helper process.
    #[arg(long, hide = true, value_name = "URL")]
    redis_url: Option<String>,

    /// Internal: the key prefix of a helper process.
    #[arg(long, hide = true, value_name = "PREFIX")]
    key_prefix: Option<String>,

    /// Internal: serve as one of the benchmark's server processes.
    #[arg(long, hide = true, value_enum)]
    serve: Option<ServeRole>,

    /// Internal: hold --in-flight calls and print this process's RSS growth.
    #[arg(long, hide = true)]
    probe_memory: bool,
}

/// What a run measures, from the options.
#[derive(Debug, Clone)]
struct Plan {
    calls: usize,
    warmup: usize,
    min_warmup: Duration,
    concurrency: Vec<usize>,
    pairs: Vec<Pair>,
    /// Whether `--pairs` was given (then Python pairs that cannot run fail the run).
    pairs_explicit: bool,
    in_flight: usize,
    timeout: Duration,
}

impl Plan {
    fn from_args(args: &BenchArgs) -> Result<Plan, String> {
        let smoke = args.smoke;
        let calls = args.calls.unwrap_or(2_000);
        let warmup = args.warmup.unwrap_or(if smoke { 50 } else { 200 });
        let mut concurrency = if !args.concurrency.is_empty() {
            args.concurrency.clone()
        } else if smoke {
            vec![1, 16, 64]
        } else {
            vec![1, 16, 64, 256]
        };
        concurrency.dedup();
        let pairs_explicit = !args.pairs.is_empty();
        let mut pairs: Vec<Pair> = if pairs_explicit {
            Pair::ALL
                .into_iter()
                .filter(|p| args.pairs.contains(p))
                .collect()
        } else if smoke {
            vec![Pair::Raw, Pair::RustRust]
        } else {
            Pair::ALL.to_vec()
        };
        pairs.dedup();
        if calls == 0 {
            return Err("--calls must be at least 1".to_owned());
        }
        if concurrency.contains(&0) {
            return Err("--concurrency levels must be at least 1".to_owned());
        }
        if args.timeout_ms == 0 {
            return Err("--timeout-ms must be at least 1".to_owned());
        }
        Ok(Plan {
            calls,
            warmup,
            min_warmup: Duration::from_millis(args.warmup_ms.unwrap_or(if smoke {
                0
            } else {
                1_000
            })),
            concurrency,
            pairs,
            pairs_explicit,
            in_flight: args.in_flight.unwrap_or(10_000),
            timeout: Duration::from_millis(args.timeout_ms),
        })
    }

    /// Calls the progress bar counts: every row's warm-up and measured calls.
    fn total_calls(&self) -> usize {
        self.pairs.len() * self.concurrency.len() * (self.calls + self.warmup)
    }
}

/// Set to `1` to install a `tracing` subscriber (fmt, level INFO, written to
/// a sink) in the bench and its server children, so the rows show what
/// recording clamator's spans costs; unset, no subscriber is installed.
const SUBSCRIBER_ENV: &str = "CLAMATOR_BENCH_SUBSCRIBER";

fn main() -> ExitCode {
    // clap exits 2 on usage errors and 0 for --help / --version.
    let args = BenchArgs::parse();
    if std::env::var(SUBSCRIBER_ENV).is_ok_and(|v| v == "1") {
        // Every `clamator.call` / `clamator.handle` span (INFO) is created,
        // entered and formatted; the output goes nowhere.
        tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .with_max_level(tracing::Level::INFO)
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(EXIT_CANNOT_RUN);
        }
    };
    let code = runtime.block_on(run(args));
    // Background tasks (a stopped client's leftovers) must not delay the exit.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

/// Runs the benchmark, or one of its helper processes.
async fn run(args: BenchArgs) -> ExitCode {
    if args.serve.is_some() || args.probe_memory {
        return run_child(&args).await;
    }
    let plan = match Plan::from_args(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match bench(&args, &plan).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

/// The `--serve` and `--probe-memory` children.
async fn run_child(args: &BenchArgs) -> ExitCode {
    let (Some(redis_url), Some(prefix)) = (args.redis_url.as_deref(), args.key_prefix.as_deref())
    else {
        eprintln!("error: bench helper processes need --redis-url and --key-prefix");
        return ExitCode::from(EXIT_USAGE);
    };
    let result = match args.serve {
        Some(role) => serve::run(role, redis_url, prefix, args.dedupe_window_ms).await,
        None => {
            let in_flight = args.in_flight.unwrap_or(10_000);
            memory::probe(redis_url, prefix, in_flight)
                .await
                .map(|report| {
                    let _ = crate::output::json(&report);
                })
        }
    };
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

/// What every pair needs.
#[derive(Debug)]
struct Context {
    plan: Plan,
    /// The throwaway Redis.
    redis_url: String,
    /// Its process id (from `INFO server`), for its CPU time.
    redis_pid: Option<u32>,
    /// This executable (runs the `--serve` children).
    exe: PathBuf,
    /// A given `arith-server` binary, if any.
    rust_server: Option<PathBuf>,
    /// The Rust servers' dedupe window, ms (0: off).
    dedupe_window_ms: u64,
    /// The Python peer, or why it cannot run (`None`: no Python pair planned).
    python: Option<Result<PythonPeer, String>>,
    /// Distinguishes this run's keys.
    run_id: String,
    /// The local Redis Cluster (3 primaries) of the cluster pair, if planned.
    cluster: Option<clamator_test_support::cluster::ClusterSetup>,
}

impl Context {
    /// Where `pair` runs: the cluster's seeds (comma-separated) or the Redis URL.
    fn url(&self, pair: Pair) -> String {
        match (&self.cluster, pair.on_cluster()) {
            (Some(cluster), true) => cluster.url(),
            _ => self.redis_url.clone(),
        }
    }
}

async fn bench(args: &BenchArgs, plan: &Plan) -> Result<u8, String> {
    let started = Instant::now();
    let redis = RedisServer::try_start()
        .map_err(|e| format!("cannot start a throwaway redis-server: {e}"))?;
    let redis_url = redis.url();
    let info = redis_info(&redis_url).await?;
    let machine = Machine::probe(&info);
    let ctx = Context {
        plan: plan.clone(),
        redis_url,
        redis_pid: cpu::redis_pid(&info),
        exe: current_exe()?,
        rust_server: args.rust_server.clone(),
        dedupe_window_ms: args.dedupe_window_ms,
        python: if plan.pairs.iter().any(|p| p.needs_python()) {
            Some(PythonPeer::setup(args.interop_dir.clone()).await)
        } else {
            None
        },
        run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        cluster: if plan.pairs.iter().any(|p| p.on_cluster()) {
            Some(
                tokio::task::spawn_blocking(|| {
                    clamator_test_support::cluster::ClusterSetup::start(3, 0)
                })
                .await
                .map_err(|e| format!("starting the local Redis Cluster failed: {e}"))?,
            )
        } else {
            None
        },
    };
    if plan.pairs_explicit
        && let Some(Err(e)) = &ctx.python
    {
        return Err(format!(
            "the Python pairs were asked for but the peer cannot run: {e}"
        ));
    }
    let command = std::iter::once("clamator-bench".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let mut report = Report::new(
        args.json,
        machine,
        json!({
            "command": command,
            "calls": plan.calls, "warmup": plan.warmup,
            "warmup_ms": plan.min_warmup.as_millis() as u64, "concurrency": plan.concurrency,
            "pairs": plan.pairs, "in_flight": plan.in_flight,
            "timeout_ms": plan.timeout.as_millis() as u64,
            "rust_server": ctx.rust_server.as_ref().map_or_else(
                || "built-in (clamator-bench --serve rust-arith)".to_owned(),
                |p| p.display().to_string()),
            "dedupe_window_ms": ctx.dedupe_window_ms,
        }),
    );
    let progress = Progress::new(plan.total_calls());
    let mut failed = false;
    for &pair in &plan.pairs {
        if pair.needs_python()
            && let Some(Err(e)) = &ctx.python
        {
            report.skip(pair, format!("the Python peer cannot run: {e}"));
            progress.add(plan.concurrency.len() * (plan.calls + plan.warmup));
            continue;
        }
        if let Err(e) = measure_pair(&ctx, pair, &mut report, &progress).await {
            progress.note(&format!("bench: {}: {e}", pair.name()));
            report.skip(pair, format!("failed: {e}"));
            failed = true;
        }
    }
    if plan.in_flight > 0 {
        measure_memory(&ctx, &mut report, &progress).await;
    }
    progress.finish();
    drop(redis);
    report.finish(started.elapsed().as_secs_f64(), machine::load_average());
    Ok(if failed || report.total_errors() > 0 {
        EXIT_ERRORS
    } else {
        EXIT_OK
    })
}

/// `INFO server` of the throwaway Redis.
async fn redis_info(url: &str) -> Result<String, String> {
    let client = redis::Client::open(url).map_err(|e| format!("bad Redis URL {url:?}: {e}"))?;
    let mut conn = raw::connect(&client, Duration::from_secs(5)).await?;
    tokio::time::timeout(
        Duration::from_secs(5),
        redis::cmd("INFO")
            .arg("server")
            .query_async::<String>(&mut conn),
    )
    .await
    .map_err(|_| "INFO server got no answer within 5 s".to_owned())?
    .map_err(|e| format!("INFO server failed: {e}"))
}

/// Starts the pair's server under `prefix`.
async fn start_server(ctx: &Context, pair: Pair, prefix: &str) -> Result<ServerProcess, String> {
    let url = &ctx.url(pair);
    match (pair.server(), &ctx.rust_server) {
        (ServerKind::Raw, _) => {
            let cmd = serve::command(&ctx.exe, ServeRole::Raw, url, prefix);
            ServerProcess::start(cmd, "raw floor server", StdinMode::HeldOpen, READY_WITHIN).await
        }
        (ServerKind::Rust, None) => {
            let mut cmd = serve::command(&ctx.exe, ServeRole::RustArith, url, prefix);
            cmd.args(["--dedupe-window-ms", &ctx.dedupe_window_ms.to_string()]);
            ServerProcess::start(cmd, "Rust arith server", StdinMode::HeldOpen, READY_WITHIN).await
        }
        (ServerKind::Rust, Some(bin)) => {
            let mut cmd = serve::arith_server_command(bin, url, prefix);
            cmd.args(["--dedupe-window-ms", &ctx.dedupe_window_ms.to_string()]);
            ServerProcess::start(cmd, "arith-server", StdinMode::Null, READY_WITHIN).await
        }
        (ServerKind::Python, _) => {
            let peer = python_peer(ctx)?;
            let cmd = peer.server(url, prefix);
            ServerProcess::start(cmd, "Python arith server", StdinMode::Null, READY_WITHIN).await
        }
    }
}

fn python_peer(ctx: &Context) -> Result<&PythonPeer, String> {
    match &ctx.python {
        Some(Ok(peer)) => Ok(peer),
        Some(Err(e)) => Err(e.clone()),
        None => Err("the Python peer was not set up".to_owned()),
    }
}

/// Measures every concurrency of one pair, with its server running.
async fn measure_pair(
    ctx: &Context,
    pair: Pair,
    report: &mut Report,
    progress: &Progress,
) -> Result<(), String> {
    let prefix = format!("bench-{}-{}", ctx.run_id, pair.name());
    progress.step(format!("{}: starting the server", pair.name()));
    let server = start_server(ctx, pair, &prefix).await?;
    let cpu = CpuProbe {
        client_is_self: pair.client() != ClientKind::Python,
        server: server.pid(),
        // The cluster's three processes are not sampled.
        redis: if pair.on_cluster() {
            None
        } else {
            ctx.redis_pid
        },
    };
    let result = measure_rows(ctx, pair, &prefix, cpu, report, progress).await;
    server.stop().await;
    result
}

async fn measure_rows(
    ctx: &Context,
    pair: Pair,
    prefix: &str,
    cpu: CpuProbe,
    report: &mut Report,
    progress: &Progress,
) -> Result<(), String> {
    let plan = &ctx.plan;
    let url = &ctx.url(pair);
    // Redis's own count of what each row cost it; rows go without when it
    // cannot tell (on the cluster: spread over three processes).
    let mut stats = match pair.on_cluster() {
        true => None,
        false => RedisStats::connect(url).await.ok(),
    };
    match pair.client() {
        ClientKind::Raw => {
            let redis = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
            let client = RawClient::start(&redis, prefix, plan.timeout).await?;
            in_process_rows(ctx, pair, &cpu, &mut stats, report, progress, |c| {
                RawCaller::many(&client, c)
            })
            .await;
            client.stop().await;
        }
        ClientKind::Rust => {
            let client = rust_client::start(url, prefix, plan.timeout).await?;
            in_process_rows(ctx, pair, &cpu, &mut stats, report, progress, |c| {
                RustCaller::many(&client, c)
            })
            .await;
            rust_client::close(client).await;
        }
        ClientKind::Python => {
            let peer = python_peer(ctx)?;
            for &c in &plan.concurrency {
                progress.step(format!("{}: concurrency {c}", pair.name()));
                let driven = c.min(python::PY_MAX_IN_FLIGHT);
                let note = (driven < c).then(|| {
                    format!(
                        "the Python client ran {driven} calls in flight, the most its default \
                         connection pool (100, one for the reply loop) allows without failing"
                    )
                });
                let counted = reset_stats(&mut stats).await;
                let row = PyRow {
                    calls: plan.calls,
                    warmup: plan.warmup,
                    concurrency: driven,
                    timeout: plan.timeout,
                };
                let m = peer.measure(url, prefix, row, cpu).await;
                progress.add(plan.calls + plan.warmup);
                match m {
                    Ok(mut m) => {
                        redis_cost(&mut stats, counted, &mut m).await;
                        report.row_with_note(pair, c, m, note);
                    }
                    Err(e) => report.row(
                        pair,
                        c,
                        stats::Measurement {
                            calls: plan.calls,
                            errors: plan.calls,
                            first_error: Some(e),
                            ..stats::Measurement::default()
                        },
                    ),
                }
            }
        }
    }
    Ok(())
}

/// One row per concurrency level for a client that runs in this process:
/// `callers(c)` makes the `c` callers that keep `c` calls in flight.
async fn in_process_rows<C: Caller>(
    ctx: &Context,
    pair: Pair,
    cpu: &CpuProbe,
    stats: &mut Option<RedisStats>,
    report: &mut Report,
    progress: &Progress,
    callers: impl Fn(usize) -> Vec<C>,
) {
    let plan = &ctx.plan;
    for &c in &plan.concurrency {
        progress.step(format!("{}: concurrency {c}", pair.name()));
        let counted = reset_stats(stats).await;
        let (_, mut m) = drive(
            callers(c),
            plan.warmup,
            plan.min_warmup,
            plan.calls,
            progress,
            cpu,
        )
        .await;
        redis_cost(stats, counted, &mut m).await;
        report.row(pair, c, m);
    }
}

/// Zeroes Redis's statistics before a row; whether the row can be costed.
async fn reset_stats(stats: &mut Option<RedisStats>) -> bool {
    match stats {
        Some(s) => s.reset().await.is_ok(),
        None => false,
    }
}

/// Reads what the row cost Redis, if its statistics were zeroed before it.
async fn redis_cost(stats: &mut Option<RedisStats>, counted: bool, m: &mut stats::Measurement) {
    if let (true, Some(s)) = (counted, stats.as_mut()) {
        m.redis = s.cost(m.calls_made).await.ok();
    }
}

/// Client memory per call in flight, for each client language the plan uses.
async fn measure_memory(ctx: &Context, report: &mut Report, progress: &Progress) {
    let plan = &ctx.plan;
    let n = plan.in_flight;
    let uses = |k: ClientKind| plan.pairs.iter().any(|p| p.client() == k);
    if uses(ClientKind::Rust) {
        progress.step(format!("memory: {n} Rust calls in flight"));
        let prefix = format!("bench-{}-mem-rust", ctx.run_id);
        let mut cmd = std::process::Command::new(&ctx.exe);
        cmd.args(["--redis-url", &ctx.redis_url, "--key-prefix", &prefix])
            .args(["--probe-memory", "--in-flight", &n.to_string()]);
        let probe = async {
            let out =
                process::run_to_end(cmd, "Rust memory probe", Duration::from_secs(300)).await?;
            let line = process::last_json_line(&out, "Rust memory probe")?;
            serde_json::from_value(line)
                .map_err(|e| format!("the Rust memory probe's line is unreadable: {e}"))
        };
        let result = probe.await;
        report.memory(ClientKind::Rust, result);
    }
    if uses(ClientKind::Python)
        && let Some(Ok(peer)) = &ctx.python
    {
        progress.step(format!("memory: {n} Python calls in flight"));
        let prefix = format!("bench-{}-mem-py", ctx.run_id);
        let result = peer.probe_memory(&ctx.redis_url, &prefix, n).await;
        report.memory(ClientKind::Python, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(argv: &[&str]) -> Result<Plan, String> {
        let args = BenchArgs::try_parse_from(
            std::iter::once("clamator-bench").chain(argv.iter().copied()),
        )
        .map_err(|e| e.to_string())?;
        Plan::from_args(&args)
    }

    #[test]
    fn defaults_measure_everything() {
        let p = plan(&[]).unwrap();
        assert_eq!((p.calls, p.warmup, p.in_flight), (2_000, 200, 10_000));
        assert_eq!(p.min_warmup, Duration::from_secs(1));
        assert_eq!(p.concurrency, vec![1, 16, 64, 256]);
        assert_eq!(p.pairs, Pair::ALL.to_vec());
        assert!(!p.pairs_explicit);
        assert_eq!(p.total_calls(), 6 * 4 * 2_200);
    }

    #[test]
    fn smoke_is_short_and_rust_only_but_flags_win() {
        let p = plan(&["--smoke"]).unwrap();
        assert_eq!((p.calls, p.warmup), (2_000, 50));
        assert_eq!(p.min_warmup, Duration::ZERO);
        assert_eq!(p.concurrency, vec![1, 16, 64]);
        assert_eq!(p.in_flight, 10_000);
        assert_eq!(p.pairs, vec![Pair::Raw, Pair::RustRust]);
        let p = plan(&["--smoke", "--calls", "10", "--pairs", "rust-rust"]).unwrap();
        assert_eq!(p.calls, 10);
        assert_eq!(p.pairs, vec![Pair::RustRust]);
        assert!(p.pairs_explicit);
    }

    #[test]
    fn pairs_run_in_a_fixed_order_and_bad_values_are_refused() {
        let p = plan(&["--pairs", "rust-py,raw,raw", "--concurrency", "4,2"]).unwrap();
        assert_eq!(p.pairs, vec![Pair::Raw, Pair::RustPy]);
        assert_eq!(p.concurrency, vec![4, 2]);
        assert!(plan(&["--calls", "0"]).unwrap_err().contains("--calls"));
        assert!(
            plan(&["--concurrency", "1,0"])
                .unwrap_err()
                .contains("at least 1")
        );
        assert!(plan(&["--pairs", "go-go"]).is_err());
    }
}
