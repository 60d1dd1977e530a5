//! The smoke run of `clamator-bench` that CI makes so the benchmark cannot
//! rot: 2,000 calls a row of the raw floor and of Rust->Rust against a
//! throwaway redis-server, as JSON lines. It checks that the benchmark runs
//! and its output is well formed, not how fast anything is, and holds the
//! two guard rails that are nearly deterministic: Redis commands per call at
//! 64 in flight (at most 2.3) and client memory per call in flight (at most
//! 1.6 KB), so a change cannot erode them unseen.
//!
//! The Rust server is the `clamator-bench` binary itself (`--serve
//! rust-arith`), so nothing else has to be built first.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The whole smoke run must end within this (a debug build on 2 busy cores).
const BOUND: Duration = Duration::from_secs(180);
/// Guard rail: Redis commands per Rust->Rust call at 64 in flight.
const MAX_COMMANDS_PER_CALL: f64 = 2.3;
/// Guard rail: client memory per call in flight (10,000 held), in bytes.
const MAX_BYTES_PER_CALL: f64 = 1_600.0;

/// Runs `clamator-bench <args>`, killing it past `BOUND`; returns (exit code, stdout, stderr).
fn run_bounded(args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clamator-bench"))
        .args(args)
        .env_remove("REDIS_URL")
        .env_remove("CLAMATOR_KEY_PREFIX")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the clamator-bench binary");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let deadline = Instant::now() + BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "clamator-bench {args:?} did not finish within {BOUND:?}; stderr so far is lost with the kill"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.code(), out.join().unwrap(), err.join().unwrap())
}

#[test]
fn smoke_run_prints_well_formed_rows_without_errors() {
    let (code, stdout, stderr) = run_bounded(&["--smoke", "--json"]);
    assert_eq!(
        code,
        Some(0),
        "exit code; stderr:\n{stderr}\nstdout:\n{stdout}"
    );

    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}")))
        .collect();
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l["kind"].as_str().expect("every line has a kind"))
        .collect();
    assert_eq!(kinds.first(), Some(&"run"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"done"), "{kinds:?}");

    let rows: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "row").collect();
    for pair in ["raw", "rust-rust"] {
        for concurrency in [1, 16, 64] {
            let row = rows
                .iter()
                .find(|r| r["pair"] == pair && r["concurrency"] == concurrency)
                .unwrap_or_else(|| panic!("no row for {pair} at {concurrency}: {stdout}"));
            assert_eq!(row["errors"], 0, "{row}");
            assert!(row["calls"].as_u64().unwrap() >= 100, "{row}");
            assert!(row["calls_per_sec"].as_f64().unwrap() > 0.0, "{row}");
            let (p50, p99) = (
                row["p50_us"].as_f64().unwrap(),
                row["p99_us"].as_f64().unwrap(),
            );
            assert!(p50 > 0.0 && p50 <= p99, "{row}");
            let in_flight = row["max_in_flight"].as_u64().unwrap();
            assert!(in_flight >= 1 && in_flight <= concurrency, "{row}");
            // CPU per call of the client (this process), the server and Redis:
            // all three read, none negative (a short run may round to 0 ticks).
            for role in ["client", "server", "redis"] {
                let v = row["cpu"][format!("{role}_us_per_call")].as_f64();
                assert!(v.is_some_and(|v| v >= 0.0), "{role} CPU in {row}");
            }
        }
    }
    assert!(rows.iter().all(|r| r["errors"] == 0), "{stdout}");
    assert!(
        lines.iter().all(|l| l["kind"] != "skipped"),
        "nothing may be skipped in the smoke run: {stdout}"
    );

    let memory = lines
        .iter()
        .find(|l| l["kind"] == "memory" && l["client"] == "rust")
        .unwrap_or_else(|| panic!("no Rust memory line: {stdout}"));
    assert!(memory.get("error").is_none(), "{memory}");
    assert_eq!(memory["held"], memory["in_flight"], "{memory}");

    // Guard rails (BENCHMARKS.md): what every call costs Redis and the client.
    let at_64 = rows
        .iter()
        .find(|r| r["pair"] == "rust-rust" && r["concurrency"] == 64)
        .expect("the rust-rust row at 64");
    let commands = at_64["redis"]["commands_per_call"].as_f64().unwrap();
    println!(
        "guard rails: {commands:.3} Redis commands per call at 64 in flight (at most {MAX_COMMANDS_PER_CALL}), {} bytes per call in flight (at most {MAX_BYTES_PER_CALL})",
        memory["bytes_per_call"]
    );
    assert!(
        commands <= MAX_COMMANDS_PER_CALL,
        "Redis commands per call at 64 in flight: {commands:.3} > {MAX_COMMANDS_PER_CALL}: {at_64}"
    );
    let bytes = memory["bytes_per_call"].as_f64().unwrap();
    assert!(
        bytes <= MAX_BYTES_PER_CALL,
        "client memory per call in flight: {bytes} B > {MAX_BYTES_PER_CALL} B: {memory}"
    );

    let errors = lines
        .iter()
        .find(|l| l["kind"] == "target" && l["name"] == "errors")
        .expect("the errors target");
    assert_eq!(errors["met"], true, "{errors}");
    assert_eq!(lines.last().unwrap()["errors"], 0);
}

#[test]
fn bad_options_are_a_usage_error() {
    let (code, _, stderr) = run_bounded(&["--calls", "0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--calls"), "{stderr}");
}
