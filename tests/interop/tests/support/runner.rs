//! The suite's own test runner (the test target has `harness = false`): it
//! takes libtest's command line (name filters, `--exact`, `--skip`, `--list`,
//! `--test-threads`; `--nocapture` and the rest are accepted and ignored, as
//! nothing is captured), sets up the environment once, runs the selected
//! cases on a few threads, and prints a libtest-like line per test, the
//! scenario x direction table (stdout, then a copy on stderr) and, last, the
//! libtest-style summary line.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Dir, Env};

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
    /// The directions (table cells) it reports.
    pub(crate) dirs: Vec<Dir>,
    /// Runs it. Long cases are queued first to shorten the run.
    pub(crate) run: Box<dyn Fn(&Env) -> Outcomes + Send + Sync>,
    /// Rough duration, for scheduling.
    pub(crate) weight: u32,
}

impl Case {
    fn names(&self) -> Vec<String> {
        self.dirs
            .iter()
            .map(|d| test_name(self.scenario, *d))
            .collect()
    }
}

fn test_name(s: Scenario, d: Dir) -> String {
    format!("{}::{}", s.key, d.key())
}

/// The parts of libtest's command line this runner honours.
#[derive(Debug, Default)]
struct Cli {
    filters: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    list: bool,
    ignored_only: bool,
    threads: Option<usize>,
}

fn parse_cli() -> Cli {
    let mut cli = Cli::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--exact" => cli.exact = true,
            "--list" => cli.list = true,
            "--ignored" => cli.ignored_only = true,
            "--skip" => cli.skips.extend(args.next()),
            "--test-threads" => cli.threads = args.next().and_then(|n| n.parse().ok()),
            // Flags of libtest that take a value: skip the value.
            "--color" | "--format" | "--logfile" | "-Z" | "--shuffle-seed" => {
                args.next();
            }
            a if a.starts_with("--test-threads=") => {
                cli.threads = a["--test-threads=".len()..].parse().ok();
            }
            a if a.starts_with("--skip=") => cli.skips.push(a["--skip=".len()..].to_owned()),
            // --nocapture, --show-output, --quiet, --include-ignored, ...: nothing to do.
            a if a.starts_with('-') => {}
            a => cli.filters.push(a.to_owned()),
        }
    }
    cli
}

impl Cli {
    fn selects(&self, name: &str) -> bool {
        let hit = |f: &String| {
            if self.exact {
                name == f
            } else {
                name.contains(f.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(hit)) && !self.skips.iter().any(hit)
    }
}

/// The result of one test (one table cell).
#[derive(Debug)]
struct Cell {
    passed: bool,
    elapsed: Duration,
    error: Option<String>,
}

/// Runs the suite; the process exit code says whether every test passed.
pub(crate) fn main(scenarios: &[Scenario], cases: Vec<Case>) -> ExitCode {
    let cli = parse_cli();
    let started = Instant::now();
    let total_tests: usize = cases.iter().map(|c| c.dirs.len()).sum();
    let mut selected: Vec<Case> = if cli.ignored_only {
        Vec::new() // nothing here is #[ignore]d
    } else {
        cases
            .into_iter()
            .filter(|c| c.names().iter().any(|n| cli.selects(n)))
            .collect()
    };
    if cli.list {
        for c in &selected {
            for n in c.names() {
                println!("{n}: test");
            }
        }
        return ExitCode::SUCCESS;
    }
    let ran_tests: usize = selected.iter().map(|c| c.dirs.len()).sum();
    let filtered_out = total_tests - ran_tests;
    println!("\nrunning {ran_tests} tests");
    if selected.is_empty() {
        summary(0, 0, filtered_out, started.elapsed());
        return ExitCode::SUCCESS;
    }

    println!("setting up: Python venv (setup-venv.sh), arith-server build, Redis...");
    let env = match Env::setup() {
        Ok(env) => env,
        Err(e) => {
            println!("\nsetup failed, no scenario could run:\n{e}\n");
            eprintln!("interop suite setup failed: {e}");
            summary(0, ran_tests, filtered_out, started.elapsed());
            return ExitCode::FAILURE;
        }
    };
    println!(
        "setup done in {:.1}s (Redis {})",
        started.elapsed().as_secs_f64(),
        env.redis_url
    );

    selected.sort_by_key(|c| std::cmp::Reverse(c.weight));
    let queue = Mutex::new(selected.into_iter().collect::<VecDeque<Case>>());
    let cells: Mutex<BTreeMap<(u8, usize), Cell>> = Mutex::new(BTreeMap::new());
    let threads = cli.threads.unwrap_or(4).max(1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let Some(case) = lock(&queue).pop_front() else {
                        break;
                    };
                    let t0 = Instant::now();
                    let outcomes = match std::panic::catch_unwind(AssertUnwindSafe(|| {
                        (case.run)(&env)
                    })) {
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
                    let elapsed = t0.elapsed();
                    for dir in &case.dirs {
                        let result = outcomes
                            .iter()
                            .find(|(d, _)| d == dir)
                            .map(|(_, r)| r.clone())
                            .unwrap_or_else(|| Err("the case reported no outcome".to_owned()));
                        let name = test_name(case.scenario, *dir);
                        let line = match &result {
                            Ok(()) => format!("test {name} ... ok ({:.1}s)", elapsed.as_secs_f64()),
                            Err(_) => {
                                format!("test {name} ... FAILED ({:.1}s)", elapsed.as_secs_f64())
                            }
                        };
                        println!("{line}");
                        let _ = std::io::stdout().flush();
                        let col = Dir::ALL.iter().position(|d| d == dir).unwrap_or(0);
                        lock(&cells).insert(
                            (case.scenario.number, col),
                            Cell {
                                passed: result.is_ok(),
                                elapsed,
                                error: result.err(),
                            },
                        );
                    }
                }
            });
        }
    });

    let cells = cells.into_inner().unwrap_or_else(|p| p.into_inner());
    let failed: Vec<String> = cells
        .iter()
        .filter(|(_, c)| !c.passed)
        .map(|((n, col), c)| {
            let s = scenarios.iter().find(|s| s.number == *n).copied();
            let name = s.map(|s| test_name(s, Dir::ALL[*col])).unwrap_or_default();
            format!("---- {name} ----\n{}\n", c.error.as_deref().unwrap_or(""))
        })
        .collect();
    if !failed.is_empty() {
        println!("\nfailures:\n");
        for f in &failed {
            println!("{f}");
        }
    }
    let table = render_table(scenarios, &cells);
    println!("\n{table}");
    eprintln!("\n{table}");
    let passed = cells.values().filter(|c| c.passed).count();
    let n_failed = cells.len() - passed;
    summary(passed, n_failed, filtered_out, started.elapsed());
    if n_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
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

fn summary(passed: usize, failed: usize, filtered_out: usize, elapsed: Duration) {
    let status = if failed == 0 { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {status}. {passed} passed; {failed} failed; 0 ignored; 0 measured; \
         {filtered_out} filtered out; finished in {:.2}s\n",
        elapsed.as_secs_f64()
    );
}
