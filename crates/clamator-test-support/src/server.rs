//! [`RedisServer`]: a throwaway `redis-server` child process a test owns.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after it was started.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Ports tried before giving up (another process may take a free port first).
pub(crate) const PORT_TRIES: usize = 5;

/// Why a `redis-server` could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// There is no `redis-server` binary on `PATH`.
    #[error(
        "no redis-server binary on PATH: install it (Debian: apt-get install redis-server, \
         macOS: brew install redis)"
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
    /// The process exited right after it was spawned.
    #[error("redis-server exited at start ({status}); port {port} may be taken")]
    Exited {
        /// The port it was given.
        port: u16,
        /// How it exited.
        status: ExitStatus,
    },
    /// The process did not answer PING in time.
    #[error("redis-server on port {port} did not answer PING within {waited:?}")]
    NoPing {
        /// The port it was given.
        port: u16,
        /// How long it was given.
        waited: Duration,
    },
}

impl StartError {
    /// Whether another port may work (the error is not about the binary).
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, StartError::Exited { .. } | StartError::NoPing { .. })
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener.local_addr().expect("local_addr").port()
}

/// A directory under the temp dir, removed on drop.
#[derive(Debug)]
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new() -> Result<TempDir, StartError> {
        make_dir().map(TempDir)
    }
}

/// Creates a fresh directory under the temp dir for a `redis-server`.
pub(crate) fn make_dir() -> Result<PathBuf, StartError> {
    let dir =
        std::env::temp_dir().join(format!("clamator-redis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(|source| StartError::Dir {
        dir: dir.clone(),
        source,
    })?;
    Ok(dir)
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The arguments of a `redis-server` on `port` in `dir`, persistence off.
pub(crate) fn server_args(port: u16, dir: &Path) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir.to_str().expect("temp dir path is UTF-8"),
        "--loglevel",
        "warning",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Maps a spawn failure.
pub(crate) fn spawn_error(e: std::io::Error) -> StartError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StartError::NoBinary
    } else {
        StartError::Spawn(e)
    }
}

/// Waits until `port` answers PING, or `child` exits, or [`START_TIMEOUT`].
/// Kills `child` unless it answered.
pub(crate) fn await_ping(child: &mut Child, port: u16) -> Result<(), StartError> {
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

/// A `redis-server` child process on a free port, with persistence off,
/// owned by one test: it can be killed, restarted and frozen.
///
/// Killed (SIGKILL) and reaped when dropped; its directory is removed.
/// Tests that need no such control share one server per test binary
/// ([`crate::shared_redis`]).
#[derive(Debug)]
pub struct RedisServer {
    /// The running process; `None` while killed.
    child: Option<Child>,
    /// The port it listens on (kept across restarts).
    port: u16,
    /// Its working directory; declared last, so it goes after the process.
    dir: TempDir,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING.
    ///
    /// Panics with what to install when there is no `redis-server` binary.
    pub fn start() -> RedisServer {
        match RedisServer::try_start() {
            Ok(server) => server,
            Err(e) => panic!("could not start redis-server: {e}"),
        }
    }

    /// Starts a server and waits until it answers PING; says why when it
    /// cannot ([`StartError::NoBinary`]: what to install).
    pub fn try_start() -> Result<RedisServer, StartError> {
        let dir = TempDir::new()?;
        let mut last = None;
        for _ in 0..PORT_TRIES {
            let port = free_port();
            match Self::spawn(port, &dir.0) {
                Ok(child) => {
                    return Ok(RedisServer {
                        child: Some(child),
                        port,
                        dir,
                    });
                }
                Err(e) if e.is_retryable() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one try"))
    }

    /// Spawns `redis-server` on `port` and waits for PING.
    fn spawn(port: u16, dir: &Path) -> Result<Child, StartError> {
        let mut child = Command::new("redis-server")
            .args(server_args(port, dir))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(spawn_error)?;
        await_ping(&mut child, port)?;
        Ok(child)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The process id, while it runs (to freeze it with SIGSTOP).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server at once (SIGKILL), as a crash would, and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: persistence is off) and waits
    /// for PING. Blocks: call it from `tokio::task::block_in_place` or
    /// `spawn_blocking` in async tests.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match Self::spawn(self.port, &self.dir.0) {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                // The old socket may linger in TIME_WAIT for a moment.
                Err(e) if e.is_retryable() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("restarting redis-server failed: {e}"),
            }
        }
    }

    /// Whether the server answers PING now.
    pub fn is_up(&self) -> bool {
        ping(self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a raw RESP PING and checks for +PONG.
pub(crate) fn ping(port: u16) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_kill_restart() {
        let mut server = RedisServer::start();
        assert!(server.is_up());
        let port = server.port();
        let dir = server.dir.0.clone();
        server.kill();
        assert!(!server.is_up());
        server.restart();
        assert!(server.is_up());
        assert_eq!(server.port(), port);
        drop(server);
        assert!(!dir.exists(), "the directory is removed with the server");
    }
}
