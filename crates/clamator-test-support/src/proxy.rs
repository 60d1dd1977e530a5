//! A loopback TCP proxy between a client and a `redis-server`, to break the
//! connections in between the way networks do:
//!
//! - [`TcpProxy::reset`]: both sides of every open connection get a TCP RST
//!   at once (a restarting proxy or load balancer that says so);
//! - [`TcpProxy::forget`]: the Redis side gets a RST (Redis frees the
//!   connection and any read parked on it), while the client side hears
//!   nothing until it sends something, which is answered with a RST (a NAT
//!   or proxy that lost its state: an idle reader is never told);
//! - [`TcpProxy::hold`] / [`TcpProxy::release`]: bytes stop flowing both
//!   ways and flow again later (packets delayed, nothing lost).
//!
//! New connections are accepted and forwarded normally at all times (except
//! that they hold too while held). The proxy runs on a thread and runtime
//! of its own, so tests of any runtime flavour can use it; it stops when
//! dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the connections are told to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct State {
    /// Bytes do not flow while set.
    hold: bool,
    /// Bumped by [`TcpProxy::reset`].
    resets: u64,
    /// Bumped by [`TcpProxy::forget`].
    forgets: u64,
}

/// A running proxy; stopped (its connections closed) when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    /// Where clients connect.
    addr: SocketAddr,
    /// Tells the connections what to do.
    state: watch::Sender<State>,
    /// Connections accepted so far.
    accepted: Arc<AtomicUsize>,
    /// Ends the proxy's runtime.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The proxy's thread.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TcpProxy {
    /// A proxy on a free loopback port forwarding to `127.0.0.1:upstream_port`.
    pub fn start(upstream_port: u16) -> TcpProxy {
        let upstream = SocketAddr::from(([127, 0, 0, 1], upstream_port));
        let (state, _) = watch::channel(State::default());
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let states = state.clone();
        let counter = Arc::clone(&accepted);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the proxy");
            runtime.block_on(async move {
                let listener = TcpListener::bind(("127.0.0.1", 0))
                    .await
                    .expect("bind the proxy");
                ready_tx
                    .send(listener.local_addr().expect("the proxy's address"))
                    .expect("report the proxy's address");
                let accepting = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        let rx = states.subscribe();
                        tokio::spawn(async move {
                            if let Ok(Ok(server)) = tokio::time::timeout(
                                Duration::from_secs(5),
                                TcpStream::connect(upstream),
                            )
                            .await
                            {
                                pipe(client, server, rx).await;
                            }
                        });
                    }
                };
                tokio::select! {
                    () = accepting => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the proxy started");
        TcpProxy {
            addr,
            state,
            accepted,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `redis://127.0.0.1:<port>` through the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port())
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Sends a RST both ways on every open connection.
    pub fn reset(&self) {
        self.state.send_modify(|s| s.resets += 1);
    }

    /// Sends a RST to Redis on every open connection; each client side is
    /// left silent until it sends something, then reset.
    pub fn forget(&self) {
        self.state.send_modify(|s| s.forgets += 1);
    }

    /// Stops bytes flowing on every connection (new ones too).
    pub fn hold(&self) {
        self.state.send_modify(|s| s.hold = true);
    }

    /// Lets bytes flow again.
    pub fn release(&self) {
        self.state.send_modify(|s| s.hold = false);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Closes `stream` with a RST instead of a FIN.
fn rst(stream: TcpStream) {
    #[allow(deprecated)] // SO_LINGER 0 does not block on close
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Forwards bytes both ways until either side closes or the state says
/// otherwise.
async fn pipe(mut client: TcpStream, mut server: TcpStream, mut rx: watch::Receiver<State>) {
    let start = *rx.borrow_and_update();
    let mut cbuf = vec![0u8; 64 * 1024];
    let mut sbuf = vec![0u8; 64 * 1024];
    let mut hold = start.hold;
    loop {
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = *rx.borrow_and_update();
                if now.resets != start.resets {
                    rst(client);
                    rst(server);
                    return;
                }
                if now.forgets != start.forgets {
                    rst(server);
                    // Silent until the client sends anything (or closes).
                    let _ = client.read(&mut cbuf).await;
                    rst(client);
                    return;
                }
                hold = now.hold;
            }
            read = client.read(&mut cbuf), if !hold => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if server.write_all(&cbuf[..n]).await.is_err() { return },
            },
            read = server.read(&mut sbuf), if !hold => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if client.write_all(&sbuf[..n]).await.is_err() { return },
            },
        }
    }
}
