//! Test support shared by every crate's tests: throwaway `redis-server`
//! processes on free ports, which tests own, kill and restart.
//!
//! Nothing here talks to the Redis at 127.0.0.1:6379 that a machine may run:
//! each [`RedisServer`] is a child process with its own port and directory,
//! killed when dropped.
#![deny(missing_docs)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod sentinel;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a [`RedisServer`] could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// There is no `redis-server` on `PATH`.
    #[error("no redis-server binary on PATH: install it (Debian: apt-get install redis-server)")]
    NotInstalled,
    /// The process could not be started for another reason.
    #[error("spawning redis-server failed: {0}")]
    Spawn(#[source] std::io::Error),
    /// It exited right away.
    #[error("redis-server exited at start ({status}); port {port} may be taken")]
    Exited {
        /// How it exited.
        status: ExitStatus,
        /// The port it was given.
        port: u16,
    },
    /// It did not answer PING in time (it was killed).
    #[error("redis-server on port {port} did not answer PING within {START_TIMEOUT:?}")]
    NoPing {
        /// The port it was given.
        port: u16,
    },
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener.local_addr().expect("local_addr").port()
}

/// A key prefix no other test uses (`t-<uuid>`), so tests sharing a server stay apart.
pub fn unique_prefix() -> String {
    format!("t-{}", uuid::Uuid::new_v4().simple())
}

/// A `redis-server` child process on a free port, with persistence off.
///
/// Killed (SIGKILL) and reaped when dropped; its directory is removed.
#[derive(Debug)]
pub struct RedisServer {
    /// The running process; `None` while killed.
    child: Option<Child>,
    /// The port it listens on (kept across restarts).
    port: u16,
    /// Its working directory, removed on drop.
    dir: PathBuf,
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

    /// Starts a server and waits until it answers PING; says why when it cannot
    /// (for example, no `redis-server` binary and how to install one).
    pub fn try_start() -> Result<RedisServer, StartError> {
        let dir =
            std::env::temp_dir().join(format!("clamator-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create a directory for redis-server");
        let mut last_err = StartError::NoPing { port: 0 };
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                dir: dir.clone(),
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e @ StartError::NotInstalled) => return Err(e),
                Err(e) => {
                    last_err = e;
                    std::mem::forget(server); // keep the directory for the next try
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last_err)
    }

    fn spawn(&mut self) -> Result<(), StartError> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir.to_str().expect("temp dir path is UTF-8"),
                "--loglevel",
                "warning",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StartError::NotInstalled,
                _ => StartError::Spawn(e),
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(StartError::Exited {
                    status,
                    port: self.port,
                });
            }
            if ping(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        Err(StartError::NoPing { port: self.port })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL), as a crash would, and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: persistence is off) and waits for PING.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn() {
                Ok(()) => return,
                // The old socket may linger in TIME_WAIT for a moment.
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
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
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends a raw RESP PING and checks for +PONG.
fn ping(port: u16) -> bool {
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
        server.kill();
        assert!(!server.is_up());
        server.restart();
        assert!(server.is_up());
        assert_eq!(server.port(), port);
    }
}
