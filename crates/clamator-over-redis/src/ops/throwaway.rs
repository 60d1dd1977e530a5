//! A throwaway `redis-server`: a child process on a free 127.0.0.1 port,
//! persistence off, in a directory of its own; killed (SIGKILL) and its
//! directory removed when dropped. `clamator demo` starts one when no Redis
//! answers, and the test support starts one per test that needs to kill,
//! restart or freeze Redis.
//!
//! It needs a `redis-server` binary on `PATH`; without one,
//! [`ThrowawayRedis::start`] fails with [`StartError::NoBinary`], whose
//! message says what to install. Starting blocks (up to [`START_TIMEOUT`]
//! per try): from async code, call it in `tokio::task::spawn_blocking`.
//!
//! ```no_run
//! use clamator_over_redis::ops::throwaway::ThrowawayRedis;
//! # fn run() -> Result<(), clamator_over_redis::ops::throwaway::StartError> {
//! let redis = ThrowawayRedis::start()?;
//! println!("a Redis for a moment at {}", redis.url());
//! drop(redis); // killed, its directory removed
//! # Ok(()) }
//! ```

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer `PING` after it was started.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Ports tried before giving up (another process may take a free port first).
pub const PORT_TRIES: usize = 5;

/// Why a throwaway `redis-server` could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// There is no `redis-server` binary on `PATH`.
    #[error(
        "no redis-server binary on PATH: install it (Debian/Ubuntu: apt-get install \
         redis-server; macOS: brew install redis)"
    )]
    NoBinary,
    /// Spawning the process failed for another reason.
    #[error("spawning redis-server failed: {0}")]
    Spawn(#[source] std::io::Error),
    /// Its working directory could not be created.
    #[error("creating the directory {dir} for redis-server failed: {source}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// No free port could be found on 127.0.0.1.
    #[error("finding a free port on 127.0.0.1 for redis-server failed: {0}")]
    Port(#[source] std::io::Error),
    /// The process exited right after it was spawned.
    #[error("redis-server exited at start ({status}); port {port} may be taken")]
    Exited {
        /// The port it was given.
        port: u16,
        /// How it exited.
        status: ExitStatus,
    },
    /// The process did not answer `PING` in time (it was killed).
    #[error("redis-server on port {port} did not answer PING within {waited:?}")]
    NoPing {
        /// The port it was given.
        port: u16,
        /// How long it was given.
        waited: Duration,
    },
}

impl StartError {
    /// Whether another try (on another port) may work: the error is about
    /// that start, not about the binary or the machine.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StartError::Exited { .. } | StartError::NoPing { .. })
    }

    /// The error for a failed `spawn` of `redis-server`: [`StartError::NoBinary`]
    /// when it is not on `PATH`.
    pub fn spawn(e: std::io::Error) -> StartError {
        if e.kind() == std::io::ErrorKind::NotFound {
            StartError::NoBinary
        } else {
            StartError::Spawn(e)
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
///
/// # Errors
/// What binding `127.0.0.1:0` said (no loopback interface, no port left).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Creates a fresh directory under the temp dir for a `redis-server`.
///
/// # Errors
/// [`StartError::Dir`] when it cannot be created.
pub fn make_dir() -> Result<PathBuf, StartError> {
    let dir =
        std::env::temp_dir().join(format!("clamator-redis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(|source| StartError::Dir {
        dir: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// The arguments of a throwaway `redis-server` on 127.0.0.1:`port` in
/// `dir`: persistence off (`--save ""`, `--appendonly no`), warnings only.
pub fn server_args(port: u16, dir: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "warning",
        "--dir",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.push(dir.as_os_str().to_owned());
    args
}

/// Waits until `port` answers `PING`, or `child` exits, or [`START_TIMEOUT`]
/// passes; kills and reaps `child` unless it answered.
///
/// # Errors
/// [`StartError::Exited`] when it exited, [`StartError::NoPing`] when it did
/// not answer in time.
pub fn await_ping(child: &mut Child, port: u16) -> Result<(), StartError> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(StartError::Exited { port, status });
        }
        if ping(port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(StartError::NoPing {
        port,
        waited: START_TIMEOUT,
    })
}

/// Whether something on 127.0.0.1:`port` answers a raw RESP `PING` with
/// `+PONG` (within 200 ms to connect and 500 ms to answer).
pub fn ping(port: u16) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

/// A running throwaway `redis-server` (see the module docs).
#[derive(Debug)]
pub struct ThrowawayRedis {
    /// The running process; `None` while killed.
    child: Option<Child>,
    /// The port it listens on (kept across restarts).
    port: u16,
    /// Its working directory, removed on drop.
    dir: PathBuf,
}

impl ThrowawayRedis {
    /// Starts one on a free port and waits until it answers `PING`; tries
    /// [`PORT_TRIES`] ports when one turns out taken. Blocks.
    ///
    /// # Errors
    /// [`StartError::NoBinary`] (what to install) when there is no
    /// `redis-server` on `PATH`; otherwise what went wrong on the last try.
    pub fn start() -> Result<ThrowawayRedis, StartError> {
        let dir = make_dir()?;
        let mut last = None;
        for _ in 0..PORT_TRIES {
            let port = match free_port() {
                Ok(port) => port,
                Err(e) => {
                    last = Some(StartError::Port(e));
                    break;
                }
            };
            match spawn(port, &dir) {
                Ok(child) => {
                    return Ok(ThrowawayRedis {
                        child: Some(child),
                        port,
                        dir,
                    });
                }
                Err(e) if e.is_retryable() => last = Some(e),
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last.unwrap_or(StartError::NoPing {
            port: 0,
            waited: START_TIMEOUT,
        }))
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its working directory (removed when it is dropped).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process id while it runs (to freeze it with `SIGSTOP`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills it at once (SIGKILL), as a crash would, and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills it, then starts it again on the same port (empty: persistence
    /// is off) and waits for `PING`, retrying while the old socket lingers,
    /// up to [`START_TIMEOUT`]. Blocks.
    ///
    /// # Errors
    /// Why it could not be started again (the port taken by another
    /// process meanwhile, the binary gone).
    pub fn restart(&mut self) -> Result<(), StartError> {
        self.kill();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match spawn(self.port, &self.dir) {
                Ok(child) => {
                    self.child = Some(child);
                    return Ok(());
                }
                Err(e) if e.is_retryable() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether it answers `PING` now.
    pub fn is_up(&self) -> bool {
        ping(self.port)
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Spawns `redis-server` on `port` in `dir` and waits for `PING`.
fn spawn(port: u16, dir: &Path) -> Result<Child, StartError> {
    let mut child = Command::new("redis-server")
        .args(server_args(port, dir))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(StartError::spawn)?;
    await_ping(&mut child, port)?;
    Ok(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_restarts_and_goes_away() {
        let mut server = ThrowawayRedis::start().unwrap();
        let port = server.port();
        let dir = server.dir().to_path_buf();
        assert!(server.is_up());
        assert!(dir.is_dir());
        assert_eq!(server.url(), format!("redis://127.0.0.1:{port}"));
        server.kill();
        assert!(!server.is_up());
        assert!(server.pid().is_none());
        server.restart().unwrap();
        assert!(server.is_up());
        assert_eq!(server.port(), port, "a restart keeps the port");
        drop(server);
        assert!(!ping(port), "killed when dropped");
        assert!(!dir.exists(), "its directory is removed when dropped");
    }

    #[test]
    fn a_missing_binary_says_what_to_install() {
        let e = StartError::spawn(std::io::ErrorKind::NotFound.into());
        assert!(matches!(e, StartError::NoBinary));
        assert!(!e.is_retryable());
        assert!(
            e.to_string().contains("apt-get install redis-server"),
            "{e}"
        );
        let other = StartError::spawn(std::io::ErrorKind::PermissionDenied.into());
        assert!(matches!(other, StartError::Spawn(_)));
    }

    #[test]
    fn persistence_is_off() {
        let args = server_args(6380, Path::new("/tmp/x"));
        let text: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let at = |flag: &str| {
            text.iter()
                .position(|a| a == flag)
                .map(|i| text[i + 1].as_str())
        };
        assert_eq!(at("--port"), Some("6380"));
        assert_eq!(at("--bind"), Some("127.0.0.1"));
        assert_eq!(at("--save"), Some(""));
        assert_eq!(at("--appendonly"), Some("no"));
        assert_eq!(at("--dir"), Some("/tmp/x"));
    }
}
