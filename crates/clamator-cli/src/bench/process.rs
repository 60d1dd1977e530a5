//! Child processes of the benchmark: servers that print `READY` and run until
//! stopped, and clients or probes that print one JSON line and exit.
//!
//! Every child is killed if the benchmark drops it, and every wait on one is
//! bounded.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// How many lines of a child's stderr are kept to explain a failure.
const STDERR_LINES: usize = 20;
/// How long a stopping child that watches its stdin gets before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The last lines a child wrote on stderr, collected by a task of its own.
#[derive(Debug)]
struct StderrTail {
    /// The lines kept.
    lines: Arc<Mutex<VecDeque<String>>>,
    /// The collecting task; it ends at the child's exit.
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl StderrTail {
    /// Collects `child`'s stderr.
    fn collect(child: &mut Child) -> StderrTail {
        let lines = Arc::new(Mutex::new(VecDeque::new()));
        let reader = child.stderr.take().map(|stderr| {
            let kept = Arc::clone(&lines);
            tokio::spawn(async move {
                let mut input = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = input.next_line().await {
                    let mut t = kept.lock().unwrap_or_else(|p| p.into_inner());
                    if t.len() == STDERR_LINES {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            })
        });
        StderrTail { lines, reader }
    }

    /// The lines kept once the child exited (waiting briefly for the last
    /// ones), as one text.
    async fn text_after_exit(&mut self) -> String {
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        self.text()
    }

    /// The lines kept so far, as one text (or a note that there were none).
    fn text(&self) -> String {
        let t = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if t.is_empty() {
            "(nothing on stderr)".to_owned()
        } else {
            t.iter().cloned().collect::<Vec<_>>().join("\n")
        }
    }
}

/// This executable, to run it again as a server or a probe.
pub(crate) fn current_exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| {
        format!("cannot find this executable to start the benchmark's helper processes: {e}")
    })
}

/// Prepares `cmd` the way every child is run: piped stdio, killed on drop.
fn prepare(cmd: &mut Command) {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
}

/// A server process that printed `READY`.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    /// What it is, for messages.
    what: String,
    /// The process (killed if dropped).
    child: Child,
    /// Its stdin, held open: closing it stops a child that watches it.
    stdin: Option<ChildStdin>,
    /// Whether closing stdin stops it (our own `--serve` children do).
    stops_on_eof: bool,
}

impl ServerProcess {
    /// Starts `cmd` and waits up to `ready_within` for a `READY` line on its stdout.
    pub(crate) async fn start(
        mut cmd: Command,
        what: &str,
        stops_on_eof: bool,
        ready_within: Duration,
    ) -> Result<ServerProcess, String> {
        prepare(&mut cmd);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("starting the {what} failed: {e}"))?;
        let mut stderr = StderrTail::collect(&mut child);
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| format!("the {what} has no stdout pipe"))?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(ready_within, async {
            loop {
                match lines.next_line().await {
                    Ok(Some(line)) if line.trim() == "READY" => return true,
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => return false,
                }
            }
        })
        .await;
        match ready {
            Ok(true) => {}
            Ok(false) => {
                let status = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
                let status = match status {
                    Ok(Ok(s)) => s.to_string(),
                    _ => "still running".to_owned(),
                };
                return Err(format!(
                    "the {what} exited before printing READY ({status}); its stderr:\n{}",
                    stderr.text_after_exit().await
                ));
            }
            Err(_) => {
                let _ = child.start_kill();
                return Err(format!(
                    "the {what} did not print READY within {} s; its stderr:\n{}",
                    ready_within.as_secs(),
                    stderr.text()
                ));
            }
        }
        // Keep draining stdout so a chatty server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ServerProcess {
            what: what.to_owned(),
            stdin: child.stdin.take(),
            child,
            stops_on_eof,
        })
    }

    /// Stops the server: closes its stdin and waits for a child that watches
    /// it, kills any other (the benchmark needs no graceful drain).
    pub(crate) async fn stop(mut self) {
        drop(self.stdin.take());
        if self.stops_on_eof
            && let Ok(Ok(_)) = tokio::time::timeout(STOP_GRACE, self.child.wait()).await
        {
            return;
        }
        if let Err(e) = self.child.start_kill() {
            eprintln!("bench: stopping the {} failed: {e}", self.what);
        }
        let _ = tokio::time::timeout(STOP_GRACE, self.child.wait()).await;
    }
}

/// Runs `cmd` to its end, at most `limit`, and returns its stdout; fails with
/// its stderr when it exits non-zero.
pub(crate) async fn run_to_end(
    mut cmd: Command,
    what: &str,
    limit: Duration,
) -> Result<String, String> {
    prepare(&mut cmd);
    cmd.stdin(Stdio::null());
    let child = cmd
        .spawn()
        .map_err(|e| format!("starting the {what} failed: {e}"))?;
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Err(_) => Err(format!(
            "the {what} did not finish within {} s (killed)",
            limit.as_secs()
        )),
        Ok(Err(e)) => Err(format!("waiting for the {what} failed: {e}")),
        Ok(Ok(out)) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(STDERR_LINES).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(format!(
                "the {what} failed ({}); its stderr:\n{}",
                out.status,
                tail.join("\n")
            ))
        }
    }
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
        let e = ServerProcess::start(cmd, "test server", true, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(e.contains("exited before printing READY"), "{e}");
        assert!(e.contains("boom"), "{e}");
    }

    #[tokio::test]
    async fn a_ready_server_stops_when_its_stdin_closes() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo READY; cat >/dev/null"]);
        let server = ServerProcess::start(cmd, "test server", true, Duration::from_secs(5))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), server.stop())
            .await
            .unwrap();
    }
}
