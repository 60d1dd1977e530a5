//! The Python peer (clamator 0.1.9), run through the interop suite's cached
//! virtual environment and drivers: `setup-venv.sh` prints the venv's python,
//! `py/arith_server.py` serves `arith`, `py/bench_client.py` measures one
//! row and prints it as one JSON line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use super::memory::{PYTHON_PROBE, ProbeReport};
use super::process::{last_json_line, run_to_end};
use super::stats::Measurement;

/// The most calls the peer's client can keep in flight: its redis-py pool
/// (redis 8.1.0: 100 connections, one held by the reply loop) raises "Too
/// many connections" instead of waiting when more XADDs start at once.
pub(crate) const PY_MAX_IN_FLIGHT: usize = 99;

/// How long creating the venv may take (a `pip install` from PyPI).
const SETUP_WITHIN: Duration = Duration::from_secs(600);

/// The interop suite's directory in the source tree this binary was built from.
pub(crate) fn default_interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop")
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
    /// Creates (once) the venv with `setup-venv.sh` and checks the drivers are there.
    pub(crate) async fn setup(interop_dir: &Path) -> Result<PythonPeer, String> {
        let script = interop_dir.join("setup-venv.sh");
        let py_dir = interop_dir.join("py");
        for needed in [
            script.clone(),
            py_dir.join("arith_server.py"),
            py_dir.join("bench_client.py"),
        ] {
            if !needed.is_file() {
                return Err(format!(
                    "{} is missing: run from a checkout of clamator-rs or pass --interop-dir",
                    needed.display()
                ));
            }
        }
        let mut cmd = Command::new("bash");
        cmd.arg(&script);
        let out = run_to_end(cmd, "Python venv setup (setup-venv.sh)", SETUP_WITHIN).await?;
        let python = out
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| "setup-venv.sh printed no python path".to_owned())?;
        if !python.is_file() {
            return Err(format!(
                "setup-venv.sh printed {}, which is not a file",
                python.display()
            ));
        }
        Ok(PythonPeer { python, py_dir })
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
    /// `arith.add` at `concurrency`.
    pub(crate) async fn measure(
        &self,
        redis_url: &str,
        prefix: &str,
        calls: usize,
        warmup: usize,
        concurrency: usize,
        timeout: Duration,
    ) -> Result<Measurement, String> {
        let mut cmd = self.command("bench_client.py");
        cmd.args(["--redis-url", redis_url, "--key-prefix", prefix])
            .args(["--calls", &calls.to_string()])
            .args(["--warmup", &warmup.to_string()])
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--timeout-ms", &timeout.as_millis().to_string()]);
        // Generous: the peer does about 2,000 calls/s; a stuck run is still ended.
        let limit = Duration::from_secs(120) + Duration::from_millis(10 * (calls + warmup) as u64);
        let out = run_to_end(cmd, "Python bench client", limit).await?;
        let row = last_json_line(&out, "Python bench client")?;
        let mut m = measurement_from_json(&row, calls)?;
        m.calls_made = calls + warmup;
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
