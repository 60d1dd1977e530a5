//! Child processes with bounded waits: [`ReadyChild`] (a server, or a
//! client that announces phases) and [`run_bounded`] (a command run to its
//! end). Every child is killed when its handle drops, also when the caller
//! fails or panics half-way.
//!
//! Blocking (threads read the pipes); async callers run these on a blocking
//! thread (`tokio::task::spawn_blocking`).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::error::HarnessError;

/// How many lines of a child's stderr are kept to explain a failure.
const STDERR_KEPT: usize = 200;
/// How many of them a failure message shows.
const STDERR_SHOWN: usize = 30;
/// How long a child that closed its stdout gets to exit before its status is
/// reported as "still running".
const EXIT_AFTER_EOF: Duration = Duration::from_secs(2);

/// The lines a child prints on one pipe, collected by a reader thread;
/// waiters are woken at each line and when the pipe closes.
#[derive(Debug, Default)]
pub struct Lines {
    state: Mutex<LinesState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct LinesState {
    /// The last lines, at most `cap`.
    lines: VecDeque<String>,
    /// The pipe closed.
    eof: bool,
}

impl Lines {
    /// Starts a thread reading `pipe` line by line (trailing whitespace
    /// removed), keeping the last `cap` lines.
    pub fn collect(pipe: Option<impl Read + Send + 'static>, cap: usize) -> Arc<Lines> {
        let lines = Arc::new(Lines::default());
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            if let Some(p) = pipe {
                let mut reader = BufReader::new(p);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                            let mut st = sink.lock();
                            st.lines.push_back(line);
                            if st.lines.len() > cap {
                                st.lines.pop_front();
                            }
                            drop(st);
                            sink.changed.notify_all();
                        }
                    }
                }
            }
            sink.lock().eof = true;
            sink.changed.notify_all();
        });
        lines
    }

    fn lock(&self) -> MutexGuard<'_, LinesState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until some kept line satisfies `pred` (true), or the pipe
    /// closed or `limit` passed without one (false).
    pub fn wait_for(&self, limit: Duration, mut pred: impl FnMut(&str) -> bool) -> bool {
        self.wait_until(limit, |lines| lines.iter().any(|l| pred(l)))
    }

    /// Waits until `pred` holds for the kept lines (true), or the pipe
    /// closed or `limit` passed (false).
    pub fn wait_until(
        &self,
        limit: Duration,
        mut pred: impl FnMut(&VecDeque<String>) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        let mut st = self.lock();
        loop {
            if pred(&st.lines) {
                return true;
            }
            let now = Instant::now();
            if st.eof || now >= deadline {
                return false;
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Waits (up to `limit`) for the pipe to close; whether it did.
    pub fn wait_eof(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut st = self.lock();
        while !st.eof {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Whether the pipe closed.
    pub fn closed(&self) -> bool {
        self.lock().eof
    }

    /// How many kept lines equal `line`.
    pub fn count(&self, line: &str) -> usize {
        self.lock().lines.iter().filter(|l| *l == line).count()
    }

    /// The kept lines.
    pub fn snapshot(&self) -> Vec<String> {
        self.lock().lines.iter().cloned().collect()
    }

    /// The last `n` kept lines as one text, or a note that there were none.
    pub fn tail(&self, n: usize) -> String {
        let st = self.lock();
        if st.lines.is_empty() {
            return "(nothing)".to_owned();
        }
        let skip = st.lines.len().saturating_sub(n);
        st.lines
            .iter()
            .skip(skip)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What a [`ReadyChild`]'s stdin is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinMode {
    /// `/dev/null`: the child runs until it is killed.
    Null,
    /// A pipe held open by the handle: closing it ([`ReadyChild::stop`])
    /// stops a child that watches its stdin.
    HeldOpen,
}

/// A child process that printed `READY` (or another announced line) on its
/// stdout; killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct ReadyChild {
    /// What it is, for messages ("rust server a1", "Python arith server").
    label: String,
    /// `None` once killed or reaped.
    child: Option<Child>,
    /// Its pid (kept after it is reaped, for messages).
    pid: u32,
    /// Its stdin when held open.
    stdin: Option<ChildStdin>,
    /// Every stdout line.
    out: Arc<Lines>,
    /// The last stderr lines.
    err: Arc<Lines>,
}

impl ReadyChild {
    /// Starts `cmd` (stdout and stderr piped, stdin as `stdin` says) and
    /// waits up to `ready_within` for a stdout line equal to `READY`
    /// (surrounding whitespace ignored).
    pub fn spawn(
        cmd: &mut Command,
        label: impl Into<String>,
        stdin: StdinMode,
        ready_within: Duration,
    ) -> Result<ReadyChild, HarnessError> {
        ReadyChild::spawn_until(cmd, label, stdin, "READY", ready_within)
    }

    /// Starts `cmd` like [`ReadyChild::spawn`] and waits up to `within` for
    /// the stdout line `announce`.
    pub fn spawn_until(
        cmd: &mut Command,
        label: impl Into<String>,
        stdin: StdinMode,
        announce: &str,
        within: Duration,
    ) -> Result<ReadyChild, HarnessError> {
        let label = label.into();
        cmd.stdin(match stdin {
            StdinMode::Null => Stdio::null(),
            StdinMode::HeldOpen => Stdio::piped(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| HarnessError::Spawn {
            what: label.clone(),
            source,
        })?;
        let out = Lines::collect(child.stdout.take(), usize::MAX);
        let err = Lines::collect(child.stderr.take(), STDERR_KEPT);
        let mut ready = ReadyChild {
            label,
            pid: child.id(),
            stdin: child.stdin.take(),
            child: Some(child),
            out,
            err,
        };
        ready.wait_line(announce, within)?;
        Ok(ready)
    }

    /// Waits up to `within` for the stdout line `line` (it may have been
    /// printed already); on failure the child is killed and the error
    /// carries its stderr.
    pub fn wait_line(&mut self, line: &str, within: Duration) -> Result<(), HarnessError> {
        if self.out.wait_for(within, |l| l.trim() == line) {
            return Ok(());
        }
        if self.out.closed() {
            let status = self.wait_exit(EXIT_AFTER_EOF).ok();
            self.kill();
            self.err.wait_eof(Duration::from_secs(1));
            return Err(HarnessError::ExitedBeforeReady {
                what: self.label.clone(),
                status: status.map_or_else(|| "still running".to_owned(), |s| s.to_string()),
                stderr: self.err.tail(STDERR_SHOWN),
            });
        }
        self.kill();
        Err(HarnessError::NotReady {
            what: self.label.clone(),
            limit: within,
            stderr: self.err.tail(STDERR_SHOWN),
        })
    }

    /// Its label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Its process id (for `/proc/<pid>/stat`).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its stdout lines so far (all of them).
    pub fn stdout(&self) -> &Lines {
        &self.out
    }

    /// The last `n` lines of its stderr.
    pub fn stderr_tail(&self, n: usize) -> String {
        self.err.tail(n)
    }

    /// Waits up to `limit` for it to exit (and its stdout to close) and
    /// returns its status; kills it when time runs out.
    pub fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus, HarnessError> {
        let deadline = Instant::now() + limit;
        let Some(child) = self.child.as_mut() else {
            return Err(HarnessError::Wait {
                what: self.label.clone(),
                source: std::io::Error::other("the process was already killed or reaped"),
            });
        };
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    // The pipe closes with the process; let the reader finish.
                    self.out.wait_eof(Duration::from_secs(1));
                    return Ok(status);
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => {
                    self.kill();
                    return Err(HarnessError::Timeout {
                        what: self.label.clone(),
                        limit,
                        stderr: self.err.tail(STDERR_SHOWN),
                    });
                }
                Err(source) => {
                    return Err(HarnessError::Wait {
                        what: self.label.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Stops it: closes its stdin (a child started with
    /// [`StdinMode::HeldOpen`] that watches it exits), waits up to `grace`,
    /// then kills it.
    pub fn stop(&mut self, grace: Duration) {
        if self.stdin.take().is_some() && self.wait_exit(grace).is_ok() {
            return;
        }
        self.kill();
    }

    /// Kills it at once (SIGKILL), as a crash would, and reaps it.
    pub fn kill(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ReadyChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads a pipe to its end on a thread; the bytes arrive on the channel.
pub fn read_all(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        let _ = tx.send(buf);
    });
    rx
}

/// Runs `cmd` (stdin `/dev/null`) to its end within `limit` and returns its
/// status and output, whatever the status; kills it when time runs out.
pub fn run_bounded(cmd: &mut Command, what: &str, limit: Duration) -> Result<Output, HarnessError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HarnessError::Spawn {
            what: what.to_owned(),
            source,
        })?;
    let out = read_all(child.stdout.take());
    let err = Lines::collect(child.stderr.take(), STDERR_KEPT);
    let Ok(stdout) = out.recv_timeout(limit) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(HarnessError::Timeout {
            what: what.to_owned(),
            limit,
            stderr: err.tail(STDERR_SHOWN),
        });
    };
    let status = child.wait().map_err(|source| HarnessError::Wait {
        what: what.to_owned(),
        source,
    })?;
    err.wait_eof(Duration::from_secs(10));
    let stderr = err.snapshot().join("\n").into_bytes();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Runs `cmd` like [`run_bounded`] and returns its stdout; fails with the
/// tail of its stderr when it exits unsuccessfully.
pub fn run_to_success(
    cmd: &mut Command,
    what: &str,
    limit: Duration,
) -> Result<String, HarnessError> {
    let out = run_bounded(cmd, what, limit)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(STDERR_SHOWN)..].join("\n");
        return Err(HarnessError::Failed {
            what: what.to_owned(),
            status: out.status,
            stderr: tail,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    #[test]
    fn a_child_that_exits_early_is_reported_with_its_stderr() {
        let e = ReadyChild::spawn(
            &mut sh("echo boom >&2; exit 3"),
            "test server",
            StdinMode::Null,
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(matches!(e, HarnessError::ExitedBeforeReady { .. }), "{e}");
        assert!(e.to_string().contains("boom"), "{e}");
    }

    #[test]
    fn a_silent_child_times_out_and_is_killed() {
        let e = ReadyChild::spawn(
            &mut sh("sleep 30"),
            "sleeper",
            StdinMode::Null,
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(matches!(e, HarnessError::NotReady { .. }), "{e}");
    }

    #[test]
    fn a_ready_child_stops_when_its_stdin_closes() {
        let mut child = ReadyChild::spawn(
            &mut sh("echo READY; cat >/dev/null; echo BYE"),
            "cat",
            StdinMode::HeldOpen,
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(child.pid() > 0);
        let started = Instant::now();
        child.stop(Duration::from_secs(5));
        assert!(started.elapsed() < Duration::from_secs(4));
        assert_eq!(child.stdout().count("BYE"), 1);
    }

    #[test]
    fn run_bounded_kills_what_overstays_and_reports_failures() {
        let e =
            run_bounded(&mut sh("sleep 30"), "sleeper", Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, HarnessError::Timeout { .. }), "{e}");
        let e = run_to_success(
            &mut sh("echo why >&2; exit 2"),
            "failer",
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(e.to_string().contains("why"), "{e}");
        assert_eq!(
            run_to_success(&mut sh("echo hi"), "echo", Duration::from_secs(5)).unwrap(),
            "hi\n"
        );
    }
}
