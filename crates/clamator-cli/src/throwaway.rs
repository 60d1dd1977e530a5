//! A throwaway `redis-server` for `clamator demo` when no Redis answers:
//! a child process on a free 127.0.0.1 port, persistence off, in a
//! directory of its own, killed and removed when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to answer PING after it was started.
const START_WITHIN: Duration = Duration::from_secs(15);
/// Ports tried before giving up (another process may take a free port first).
const ATTEMPTS: usize = 5;

/// Why no throwaway server could be started.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ThrowawayError {
    /// There is no `redis-server` on `PATH`.
    #[error("no redis-server binary on PATH: install it (Debian: apt-get install redis-server)")]
    NotInstalled,
    /// Its directory could not be created.
    #[error("creating a directory for redis-server failed: {0}")]
    Dir(#[source] std::io::Error),
    /// No free port could be found.
    #[error("finding a free port failed: {0}")]
    Port(#[source] std::io::Error),
    /// The process could not be started.
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
    #[error("redis-server on port {port} did not answer PING within {START_WITHIN:?}")]
    NoPing {
        /// The port it was given.
        port: u16,
    },
}

/// A running throwaway `redis-server`.
#[derive(Debug)]
pub(crate) struct ThrowawayRedis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl ThrowawayRedis {
    /// Starts one and waits until it answers PING (blocking: call it from a
    /// blocking thread).
    pub(crate) fn start() -> Result<ThrowawayRedis, ThrowawayError> {
        let dir = std::env::temp_dir().join(format!(
            "clamator-demo-redis-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).map_err(ThrowawayError::Dir)?;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match ThrowawayRedis::spawn(&dir) {
                Ok(server) => return Ok(server),
                Err(e @ (ThrowawayError::NotInstalled | ThrowawayError::Spawn(_))) => {
                    last = Some(e);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last.unwrap_or(ThrowawayError::NoPing { port: 0 }))
    }

    fn spawn(dir: &std::path::Path) -> Result<ThrowawayRedis, ThrowawayError> {
        let port = free_port().map_err(ThrowawayError::Port)?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => ThrowawayError::NotInstalled,
                _ => ThrowawayError::Spawn(e),
            })?;
        // From here on, dropping `server` kills the child (but keeps `dir`
        // for the next attempt: only a started server owns it).
        let mut server = ThrowawayRedis {
            child,
            port,
            dir: PathBuf::new(),
        };
        let deadline = Instant::now() + START_WITHIN;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(ThrowawayError::Exited { status, port });
            }
            if ping(port) {
                server.dir = dir.to_path_buf();
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(ThrowawayError::NoPing { port })
    }

    /// `redis://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Sends a raw RESP PING and checks for `+PONG`.
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
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn starts_answers_and_goes_away() {
        let server = ThrowawayRedis::start().unwrap();
        let port = server.port;
        let dir = server.dir.clone();
        assert!(ping(port));
        assert!(dir.is_dir());
        drop(server);
        assert!(!ping(port));
        assert!(!dir.exists());
    }
}
