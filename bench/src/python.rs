//! The Python peer (clamator 0.1.9), run through the interop suite's cached
//! virtual environment and drivers, found and prepared by its harness
//! ([`clamator_interop::harness`]): `setup-venv.sh` gives the venv's python,
//! `py/arith_server.py` serves `arith`, `py/bench_client.py` measures one
//! row and prints it as one JSON line.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use clamator_interop::harness::{InteropDir, ReadyChild, StdinMode};
use serde_json::Value;

use super::cpu::{CpuProbe, seconds_per_call_us};
use super::memory::{PYTHON_PROBE, ProbeReport};
use super::process::{blocking, last_json_line, run_to_end};
use super::stats::Measurement;

/// The most calls the peer's client can keep in flight: its redis-py pool
/// (redis 8.1.0: 100 connections, one held by the reply loop) raises "Too
/// many connections" instead of waiting when more XADDs start at once.
pub(crate) const PY_MAX_IN_FLIGHT: usize = 99;

/// What one row of the peer's client makes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PyRow {
    /// Measured calls.
    pub(crate) calls: usize,
    /// Warm-up calls before them.
    pub(crate) warmup: usize,
    /// Calls kept in flight.
    pub(crate) concurrency: usize,
    /// Per-call timeout.
    pub(crate) timeout: Duration,
}

/// A ready Python peer.
#[derive(Debug, Clone)]
pub(crate) struct PythonPeer {
    /// The venv's python.
    python: PathBuf,
    /// `tests/interop/py`: the drivers, run with it as their working directory.
    py_dir: PathBuf,
}

impl PythonPeer {
    /// Finds the interop directory (`--interop-dir`, else
    /// `$CLAMATOR_INTEROP_DIR`, else `tests/interop` of the workspace the
    /// current directory is in), checks the drivers are there and creates
    /// (once) the venv with `setup-venv.sh`.
    pub(crate) async fn setup(interop_dir: Option<PathBuf>) -> Result<PythonPeer, String> {
        blocking(move || {
            let interop = InteropDir::locate(interop_dir.as_deref())?;
            interop.py_script("arith_server.py")?;
            interop.py_script("bench_client.py")?;
            let python = interop.setup_venv()?;
            Ok(PythonPeer {
                python,
                py_dir: interop.py_dir(),
            })
        })
        .await?
        .map_err(|e: clamator_interop::harness::HarnessError| e.to_string())
    }

    /// A command running `script` of `py/` with the venv's python.
    fn command(&self, script: &str) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.arg(script).current_dir(&self.py_dir);
        cmd
    }

    /// The peer's `arith` server under `prefix` (prints `READY`).
    pub(crate) fn server(&self, redis_url: &str, prefix: &str) -> Command {
        let mut cmd = self.command("arith_server.py");
        cmd.args(["--redis-url", redis_url, "--key-prefix", prefix]);
        cmd
    }

    /// Measures one row with the peer's client: `warmup` then `calls` calls of
    /// `arith.add` at `concurrency`. `cpu` (the server and Redis) is read when
    /// the client prints `MEASURING` and `MEASURED` around its measured calls;
    /// the client reports its own CPU time.
    pub(crate) async fn measure(
        &self,
        redis_url: &str,
        prefix: &str,
        row: PyRow,
        cpu: CpuProbe,
    ) -> Result<Measurement, String> {
        let PyRow {
            calls,
            warmup,
            concurrency,
            timeout,
        } = row;
        let mut cmd = self.command("bench_client.py");
        cmd.args(["--redis-url", redis_url, "--key-prefix", prefix])
            .args(["--calls", &calls.to_string()])
            .args(["--warmup", &warmup.to_string()])
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--timeout-ms", &timeout.as_millis().to_string()]);
        // Generous: the peer does about 2,000 calls/s; a stuck run is still ended.
        let limit = Duration::from_secs(120) + Duration::from_millis(10 * (calls + warmup) as u64);
        let what = "Python bench client";
        let (lines, before, after) = blocking(move || {
            let mut client =
                ReadyChild::spawn_until(&mut cmd, what, StdinMode::Null, "MEASURING", limit)?;
            let before = cpu.sample();
            client.wait_line("MEASURED", limit)?;
            let after = cpu.sample();
            let status = client.wait_exit(limit)?;
            if !status.success() {
                return Err(clamator_interop::harness::HarnessError::Failed {
                    what: what.to_owned(),
                    status,
                    stderr: client.stderr_tail(20),
                });
            }
            Ok((client.stdout().snapshot(), before, after))
        })
        .await?
        .map_err(|e| e.to_string())?;
        let row = last_json_line(&lines.join("\n"), what)?;
        let mut m = measurement_from_json(&row, calls)?;
        m.calls_made = calls + warmup;
        let mut cost = CpuProbe::cost(&before, &after, calls);
        cost.client_us_per_call = row
            .get("cpu_s")
            .and_then(Value::as_f64)
            .and_then(|s| seconds_per_call_us(s, calls));
        m.cpu = Some(cost);
        Ok(m)
    }

    /// The client memory probe with the peer's client.
    pub(crate) async fn probe_memory(
        &self,
        redis_url: &str,
        prefix: &str,
        in_flight: usize,
    ) -> Result<ProbeReport, String> {
        let mut cmd = Command::new(&self.python);
        cmd.current_dir(&self.py_dir)
            .args(["-c", PYTHON_PROBE])
            .args(["--redis-url", redis_url, "--key-prefix", prefix])
            .args(["--in-flight", &in_flight.to_string()]);
        let out = run_to_end(cmd, "Python memory probe", Duration::from_secs(300)).await?;
        let row = last_json_line(&out, "Python memory probe")?;
        serde_json::from_value(row)
            .map_err(|e| format!("the Python memory probe's line is unreadable: {e}"))
    }
}

/// Reads `bench_client.py`'s line: `{calls, concurrency, errors, seconds,
/// calls_per_sec, p50_us, p99_us, max_in_flight}`.
fn measurement_from_json(row: &Value, asked: usize) -> Result<Measurement, String> {
    let num = |k: &str| {
        row.get(k)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("the Python bench client's line has no number {k:?}: {row}"))
    };
    let count = |k: &str| num(k).map(|v| v.max(0.0) as usize);
    let calls = row
        .get("calls")
        .and_then(Value::as_u64)
        .map_or(asked, |c| c as usize);
    Ok(Measurement {
        calls,
        errors: count("errors")?,
        seconds: num("seconds")?,
        calls_per_sec: num("calls_per_sec")?,
        p50_us: num("p50_us")?,
        p99_us: num("p99_us")?,
        max_us: row.get("max_us").and_then(Value::as_f64),
        max_in_flight: count("max_in_flight")?,
        first_error: row
            .get("first_error")
            .and_then(Value::as_str)
            .map(str::to_owned),
        redis: None,
        cpu: None,
        calls_made: calls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bench_client_line() {
        let row = serde_json::json!({
            "calls": 500, "concurrency": 64, "errors": 0, "seconds": 0.25,
            "calls_per_sec": 2000.0, "p50_us": 31000.5, "p99_us": 40000, "max_in_flight": 64
        });
        let m = measurement_from_json(&row, 500).unwrap();
        assert_eq!((m.calls, m.errors, m.max_in_flight), (500, 0, 64));
        assert_eq!(m.p99_us, 40000.0);
        assert_eq!(m.max_us, None);
        let bad = serde_json::json!({"calls": 1});
        assert!(
            measurement_from_json(&bad, 1)
                .unwrap_err()
                .contains("errors")
        );
    }
}
