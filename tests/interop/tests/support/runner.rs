//! The suite's runner (the test target has `harness = false`), on
//! `libtest-mimic`: libtest's command line (a name filter, `--exact`,
//! `--skip`, `--list`, `--ignored`, `--test-threads`, `--nocapture`, ...),
//! its `test <name> ... ok` lines, failure report, `test result:` summary
//! line and exit status come from there. What this adds: the environment
//! (venv, `arith-server`, Redis) is set up once, by the first test that runs,
//! and torn down when the run ends; long cases are started first, on 4
//! threads by default (cases mostly wait on child processes); a case that
//! covers both directions runs once for its two tests; and after the summary
//! line the scenario x direction table (stdout, then a copy on stderr).

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

use super::{Dir, Env};

/// Cases in flight at once unless `--test-threads` says otherwise.
const DEFAULT_THREADS: usize = 4;

/// A scenario: one row of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scenario {
    /// Its number in the README's list of scenarios (1..=10, the `NN` of
    /// `sNN_...`): shown in its table row, and the key of its table cells.
    pub(crate) number: u8,
    /// The test-name part, e.g. `s04_notifications`.
    pub(crate) key: &'static str,
    /// The row title.
    pub(crate) title: &'static str,
}

/// What one case returns: an outcome per direction it covers.
pub(crate) type Outcomes = Vec<(Dir, Result<(), String>)>;

/// One unit of work: a scenario in one direction, or (for the mixed pool) in
/// both directions at once.
pub(crate) struct Case {
    pub(crate) scenario: Scenario,
    /// The directions (table cells, tests) it reports.
    pub(crate) dirs: Vec<Dir>,
    /// Runs it.
    pub(crate) run: Box<dyn Fn(&Env) -> Outcomes + Send + Sync>,
    /// Rough duration: long cases are queued first to shorten the run.
    pub(crate) weight: u32,
}

fn test_name(s: Scenario, d: Dir) -> String {
    format!("{}::{}", s.key, d.key())
}

/// The result of one test (one table cell).
#[derive(Debug)]
struct Cell {
    passed: bool,
    elapsed: Duration,
}

/// The run's environment, set up by the first test that needs it; an
/// `Err` (what is missing) fails every test.
type SharedEnv = Arc<OnceLock<Result<Env, String>>>;

/// Sets the environment up once, saying so on stdout.
fn env(shared: &SharedEnv, started: Instant) -> Result<&Env, Failed> {
    let env = shared.get_or_init(|| {
        println!("setting up: Python venv (setup-venv.sh), arith-server build, Redis...");
        let env = Env::setup();
        match &env {
            Ok(env) => println!(
                "setup done in {:.1}s (Redis {})",
                started.elapsed().as_secs_f64(),
                env.redis_url
            ),
            Err(e) => eprintln!("interop suite setup failed: {e}"),
        }
        env
    });
    env.as_ref()
        .map_err(|e| Failed::from(format!("setup failed, no scenario could run:\n{e}")))
}

/// A case's outcomes and how long it took, computed once for all its tests.
type Shared = Arc<OnceLock<(Outcomes, Duration)>>;

/// Runs `case` (once, whichever of its tests comes first); a panic fails
/// every direction it covers.
fn run_once<'a>(once: &'a Shared, case: &Case, env: &Env) -> &'a (Outcomes, Duration) {
    once.get_or_init(|| {
        let t0 = Instant::now();
        let outcomes = match std::panic::catch_unwind(AssertUnwindSafe(|| (case.run)(env))) {
            Ok(outcomes) => outcomes,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "panicked".to_owned());
                case.dirs
                    .iter()
                    .map(|d| (*d, Err(format!("panicked: {msg}"))))
                    .collect()
            }
        };
        (outcomes, t0.elapsed())
    })
}

/// Runs the suite; the exit code says whether every selected test passed
/// (libtest's: 101 when one failed).
pub(crate) fn main(scenarios: &[Scenario], cases: Vec<Case>) -> ExitCode {
    let started = Instant::now();
    let mut args = Arguments::from_args();
    args.test_threads.get_or_insert(DEFAULT_THREADS);
    let shared_env: SharedEnv = Arc::new(OnceLock::new());
    let cells: Arc<Mutex<BTreeMap<(u8, usize), Cell>>> = Arc::default();

    let mut trials = Vec::new();
    for case in cases {
        let case = Arc::new(case);
        let once: Shared = Arc::new(OnceLock::new());
        for dir in case.dirs.clone() {
            let (case, once, shared_env, cells) = (
                Arc::clone(&case),
                Arc::clone(&once),
                Arc::clone(&shared_env),
                Arc::clone(&cells),
            );
            let weight = case.weight;
            let name = test_name(case.scenario, dir);
            let trial = Trial::test(name, move || {
                let env = env(&shared_env, started)?;
                let (outcomes, elapsed) = run_once(&once, &case, env);
                let result = outcomes
                    .iter()
                    .find(|(d, _)| *d == dir)
                    .map(|(_, r)| r.clone())
                    .unwrap_or_else(|| Err("the case reported no outcome".to_owned()));
                let col = Dir::ALL.iter().position(|d| *d == dir).unwrap_or(0);
                lock(&cells).insert(
                    (case.scenario.number, col),
                    Cell {
                        passed: result.is_ok(),
                        elapsed: *elapsed,
                    },
                );
                result.map_err(Failed::from)
            });
            trials.push((weight, trial));
        }
    }
    // Listed in scenario order; run longest first (a stable sort keeps the
    // directions of a case together).
    if !args.list {
        trials.sort_by_key(|(weight, _)| std::cmp::Reverse(*weight));
    }
    let conclusion = libtest_mimic::run(&args, trials.into_iter().map(|(_, t)| t).collect());
    // Every test has run: the environment (its redis-server) goes now.
    drop(shared_env);

    let cells = lock(&cells);
    if !cells.is_empty() {
        let table = render_table(scenarios, &cells);
        println!("{table}\n");
        eprintln!("\n{table}");
    }
    conclusion.exit_code()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn render_table(scenarios: &[Scenario], cells: &BTreeMap<(u8, usize), Cell>) -> String {
    let cell = |n: u8, col: usize| match cells.get(&(n, col)) {
        None => "not run".to_owned(),
        Some(c) if c.passed => format!("pass ({:.1}s)", c.elapsed.as_secs_f64()),
        Some(c) => format!("FAIL ({:.1}s)", c.elapsed.as_secs_f64()),
    };
    let w0 = scenarios
        .iter()
        .map(|s| s.title.len() + 4)
        .max()
        .unwrap_or(8);
    let w = Dir::ALL.map(|d| d.title().len());
    let mut out = String::from("interop matrix: scenario x direction\n");
    out += &format!(
        "| {:w0$} | {:w1$} | {:w2$} |\n",
        "scenario",
        Dir::ALL[0].title(),
        Dir::ALL[1].title(),
        w1 = w[0],
        w2 = w[1]
    );
    out += &format!(
        "|{}|{}|{}|\n",
        "-".repeat(w0 + 2),
        "-".repeat(w[0] + 2),
        "-".repeat(w[1] + 2)
    );
    for s in scenarios {
        out += &format!(
            "| {:w0$} | {:w1$} | {:w2$} |\n",
            format!("{:>2}. {}", s.number, s.title),
            cell(s.number, 0),
            cell(s.number, 1),
            w1 = w[0],
            w2 = w[1]
        );
    }
    out += "(8: one pool of both servers; a column is that client's 200 calls. \
            9: the crashed worker is of the client's language, the column's server reclaims.)";
    out
}
