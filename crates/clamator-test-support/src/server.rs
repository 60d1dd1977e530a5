//! [`RedisServer`]: a throwaway `redis-server` child process a test owns.
//!
//! The process itself is the transport's
//! [`ThrowawayRedis`]
//! (the one `clamator demo` starts too); this wraps it with the test
//! support's manners: a server that cannot be (re)started panics with what
//! to install or what went wrong.

pub use clamator_over_redis::ops::throwaway::StartError;
use clamator_over_redis::ops::throwaway::ThrowawayRedis;
pub(crate) use clamator_over_redis::ops::throwaway::ping;

/// A port that was free a moment ago on 127.0.0.1.
///
/// Panics when none can be found (no loopback interface).
pub fn free_port() -> u16 {
    clamator_over_redis::ops::throwaway::free_port().expect("bind 127.0.0.1:0 to find a free port")
}

/// A port on 127.0.0.1 where nothing listens for as long as this lives: a
/// socket bound to it and never put to listen, so a connection is refused
/// (`ECONNREFUSED`) and no other process or test can take the port meanwhile.
///
/// For tests of "nothing listens there": a port from [`free_port`] is only
/// free a moment ago, and a `redis-server` another test starts (or stops:
/// a connection to a server being killed is reset) can be on it by the time
/// the test connects.
#[derive(Debug)]
pub struct ClosedPort {
    _socket: socket2::Socket,
    port: u16,
}

impl ClosedPort {
    /// Binds a fresh port on 127.0.0.1 and keeps it.
    ///
    /// Panics when no socket can be bound (no loopback interface).
    pub fn reserve() -> Self {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("open a TCP socket");
        // No SO_REUSEADDR: a listener cannot share the port with this socket.
        let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        socket.bind(&any.into()).expect("bind 127.0.0.1:0");
        let port = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map(|a| a.port())
            .expect("the bound socket has an IPv4 address");
        Self {
            _socket: socket,
            port,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// A `redis-server` child process on a free port, with persistence off,
/// owned by one test: it can be killed, restarted and frozen.
///
/// Killed (SIGKILL) and reaped when dropped; its directory is removed.
/// Tests that need no such control share one server per test binary
/// ([`crate::shared_redis`]).
#[derive(Debug)]
pub struct RedisServer {
    inner: ThrowawayRedis,
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
        ThrowawayRedis::start().map(|inner| RedisServer { inner })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.inner.port()
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.inner.url()
    }

    /// The process id, while it runs (to freeze it with SIGSTOP).
    pub fn pid(&self) -> Option<u32> {
        self.inner.pid()
    }

    /// Kills the server at once (SIGKILL), as a crash would, and waits for it to exit.
    pub fn kill(&mut self) {
        self.inner.kill();
    }

    /// Starts it again on the same port (empty: persistence is off) and waits
    /// for PING. Blocks: call it from `tokio::task::block_in_place` or
    /// `spawn_blocking` in async tests. Panics saying why when it cannot.
    pub fn restart(&mut self) {
        if let Err(e) = self.inner.restart() {
            panic!("restarting redis-server failed: {e}");
        }
    }

    /// Whether the server answers PING now.
    pub fn is_up(&self) -> bool {
        self.inner.is_up()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_kill_restart() {
        let mut server = RedisServer::start();
        assert!(server.is_up());
        let port = server.port();
        let dir = server.inner.dir().to_path_buf();
        server.kill();
        assert!(!server.is_up());
        server.restart();
        assert!(server.is_up());
        assert_eq!(server.port(), port);
        drop(server);
        assert!(!dir.exists(), "the directory is removed with the server");
    }
}
