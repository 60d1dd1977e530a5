//! [`shared_redis`]: one `redis-server` for all the tests of a test binary.
//!
//! Starting a server per test costs a process, a port and a PING loop each,
//! and with many tests running at once on a small machine it is most of a
//! test binary's time. Tests that only need *a* Redis share one, each under
//! its own [`crate::unique_prefix`] (so no test sees another's keys, and none
//! may `FLUSHALL`); tests that kill, restart or freeze Redis, or read
//! server-wide state (`CLIENT LIST`, `INFO commandstats`, `CONFIG SET`),
//! start a [`crate::RedisServer`] of their own.
//!
//! # How the shared server dies with the process
//! A `static` is never dropped, so a `Drop` cannot kill it, and an `atexit`
//! hook does not run when the test process is killed or aborts. Instead the
//! server runs under a small `sh` watchdog whose standard input is a pipe
//! from this process: the write end lives in the `static`, and the kernel
//! closes it whenever the process ends, however it ends (normal exit, panic
//! abort, SIGKILL). The watchdog then reads end-of-file, kills `redis-server`
//! (SIGKILL: nothing is persisted) and removes its directory. The watchdog
//! runs in a process group of its own and ignores hang-up and interrupt
//! signals, so a Ctrl-C of `cargo test` or a hang-up sent to the test's
//! process group (which kill the shell but not `redis-server`, which ignores
//! SIGHUP) cannot end it before it has killed the server.

use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use clamator_over_redis::ops::throwaway::{
    PORT_TRIES, StartError, await_ping, make_dir, server_args,
};

use crate::server::free_port;

/// The watchdog: `$1` is the directory, the rest are `redis-server`'s
/// arguments. It exits when `redis-server` does (so a failed start shows as
/// an exit), and kills it when its standard input reaches end-of-file.
/// (An asynchronous list gets `/dev/null` as standard input, hence fd 3.)
const WATCHDOG: &str = r#"trap '' HUP INT TERM
dir=$1; shift
exec 3<&0
redis-server "$@" </dev/null >/dev/null 2>&1 &
pid=$!
(read _ <&3; kill -9 "$pid" 2>/dev/null) &
wait "$pid"
rm -rf "$dir""#;

/// The `redis-server` shared by the tests of this process.
#[derive(Debug)]
pub struct SharedRedis {
    /// The port it listens on.
    port: u16,
    /// The watchdog and the write end of its standard input: kept open for
    /// as long as the process lives (closing it kills the server).
    _watchdog: Mutex<(Child, ChildStdin)>,
}

impl SharedRedis {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn try_start() -> Result<SharedRedis, StartError> {
        let mut last = None;
        for _ in 0..PORT_TRIES {
            // The watchdog removes the directory when it ends.
            let path = make_dir()?;
            let port = free_port();
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(WATCHDOG)
                .arg("clamator-redis-watchdog")
                .arg(&path)
                .args(server_args(port, &path))
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .map_err(StartError::Spawn)?;
            let stdin = child.stdin.take().expect("piped stdin");
            match await_ping(&mut child, port) {
                Ok(()) => {
                    return Ok(SharedRedis {
                        port,
                        _watchdog: Mutex::new((child, stdin)),
                    });
                }
                Err(e) => {
                    drop(stdin);
                    let _ = child.wait();
                    let _ = std::fs::remove_dir_all(&path);
                    if !e.is_retryable() {
                        return Err(e);
                    }
                    if which_redis_server().is_none() {
                        return Err(StartError::NoBinary);
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.expect("at least one try"))
    }
}

/// Whether `redis-server` is on `PATH` (the watchdog hides a missing binary
/// behind an exit status).
fn which_redis_server() -> Option<()> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .any(|d| d.join("redis-server").is_file())
        .then_some(())
}

/// The `redis-server` shared by every test of this test binary, started on
/// first use. It dies with the process (see the module docs).
///
/// Panics with what to install when there is no `redis-server` binary.
pub fn shared_redis() -> &'static SharedRedis {
    static SHARED: OnceLock<SharedRedis> = OnceLock::new();
    SHARED.get_or_init(|| match SharedRedis::try_start() {
        Ok(server) => server,
        Err(e) => panic!("could not start the shared redis-server: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::ping;

    #[test]
    fn the_shared_server_is_one_and_answers() {
        let a = shared_redis();
        let b = shared_redis();
        assert!(std::ptr::eq(a, b));
        assert!(ping(a.port()));
    }

    /// What the watchdog does when the pipe closes, as at process exit.
    #[test]
    fn closing_the_pipe_kills_the_server_and_removes_its_directory() {
        let server = SharedRedis::try_start().unwrap();
        let port = server.port();
        assert!(ping(port));
        let (mut child, stdin) = server._watchdog.into_inner().unwrap();
        drop(stdin);
        let status = child.wait().unwrap();
        assert!(status.success(), "{status}");
        assert!(
            !ping(port),
            "redis-server still answers after its watchdog ended"
        );
    }
}
