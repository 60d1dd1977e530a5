//! Child processes of the benchmark: servers that print `READY` and run until
//! stopped, and clients or probes that print one JSON line and exit.
//!
//! The processes themselves are the interop harness's
//! ([`clamator_interop::harness`]): every child is killed if the benchmark
//! drops it, and every wait on one is bounded. The harness blocks (threads
//! read the pipes), so it runs here on tokio's blocking threads.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use clamator_interop::harness::{self, ReadyChild, StdinMode};

/// How long a stopping child that watches its stdin gets before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// This executable, to run it again as a server or a probe.
pub(crate) fn current_exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| {
        format!("cannot find this executable to start the benchmark's helper processes: {e}")
    })
}

/// Runs `f` on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("a benchmark thread failed: {e}"))
}

/// A server process that printed `READY`.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    /// The process (killed if dropped); `None` only while being stopped.
    child: Option<ReadyChild>,
}

impl ServerProcess {
    /// Starts `cmd` and waits up to `ready_within` for a `READY` line on its
    /// stdout. With [`StdinMode::HeldOpen`], [`ServerProcess::stop`] closes
    /// its stdin first (our own `--serve` children stop then); any other is
    /// killed.
    pub(crate) async fn start(
        mut cmd: Command,
        what: &str,
        stdin: StdinMode,
        ready_within: Duration,
    ) -> Result<ServerProcess, String> {
        let what = what.to_owned();
        let child =
            blocking(move || ReadyChild::spawn(&mut cmd, what, stdin, ready_within)).await?;
        child
            .map(|c| ServerProcess { child: Some(c) })
            .map_err(|e| e.to_string())
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(ReadyChild::pid)
    }

    /// Stops the server (the benchmark needs no graceful drain).
    pub(crate) async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = blocking(move || child.stop(STOP_GRACE)).await;
        }
    }
}

/// Runs `cmd` to its end, at most `limit`, and returns its stdout; fails with
/// its stderr when it exits non-zero.
pub(crate) async fn run_to_end(
    mut cmd: Command,
    what: &str,
    limit: Duration,
) -> Result<String, String> {
    let what = what.to_owned();
    blocking(move || harness::run_to_success(&mut cmd, &what, limit))
        .await?
        .map_err(|e| e.to_string())
}

/// The last line of `stdout` that parses as a JSON object.
pub(crate) fn last_json_line(stdout: &str, what: &str) -> Result<serde_json::Value, String> {
    stdout
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .find(serde_json::Value::is_object)
        .ok_or_else(|| format!("the {what} printed no JSON result line; its stdout:\n{stdout}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_the_last_json_object() {
        let out = "warming up\n{\"a\":1}\nnot json\n{\"a\":2}\n[1]\n";
        assert_eq!(last_json_line(out, "x").unwrap()["a"], 2);
        assert!(
            last_json_line("nothing", "x")
                .unwrap_err()
                .contains("no JSON")
        );
    }

    #[tokio::test]
    async fn a_server_that_exits_early_is_reported_with_its_stderr() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo boom >&2; exit 3"]);
        let e = ServerProcess::start(
            cmd,
            "test server",
            StdinMode::HeldOpen,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(e.contains("exited before printing READY"), "{e}");
        assert!(e.contains("boom"), "{e}");
    }

    #[tokio::test]
    async fn a_ready_server_stops_when_its_stdin_closes() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo READY; cat >/dev/null"]);
        let server = ServerProcess::start(
            cmd,
            "test server",
            StdinMode::HeldOpen,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert!(server.pid().is_some());
        tokio::time::timeout(Duration::from_secs(5), server.stop())
            .await
            .unwrap();
    }
}
