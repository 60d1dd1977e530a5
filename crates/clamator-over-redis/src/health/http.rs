//! [`serve_http`] (feature `health-http`): a small HTTP/1 server on hyper
//! that answers `GET /healthz` and `GET /readyz` from a [`HealthProbe`].

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::probe::{HealthProbe, Probe};

/// Connections served at once; more are closed at once (a probe needs one).
const MAX_CONNECTIONS: usize = 64;

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one connection may stay open, requests and idle time together.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// How long the accept loop pauses after a failed accept (out of file
/// descriptors, say) before it tries again.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Serves the probes over HTTP/1 on `addr` (bound before this returns, so a
/// busy port fails here; port 0 picks a free one, see
/// [`HealthServer::local_addr`]), on the current tokio runtime, until the
/// returned handle is dropped or [`shut down`](HealthServer::shutdown):
///
/// - `GET /healthz` (also `/livez`): `200` while the server is live, else `503`;
/// - `GET /readyz`: `200` while it is ready, else `503`;
///
/// each with the JSON body of [`HealthProbe::respond`] (`HEAD` too, without
/// the body); `404` for any other path, `405` for another method.
///
/// ```no_run
/// # async fn run(server: clamator_over_redis::RedisRpcServer) -> std::io::Result<()> {
/// let probes = clamator_over_redis::health::serve_http(server.health_probe(), "0.0.0.0:8080").await?;
/// // ... serve until told to stop, then:
/// server.stop().await;
/// probes.shutdown().await;
/// # Ok(()) }
/// ```
pub async fn serve_http(probe: HealthProbe, addr: impl ToSocketAddrs) -> io::Result<HealthServer> {
    let listener = TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let task = tokio::spawn(accept_loop(listener, probe, stop.clone()));
    tracing::debug!(%local_addr, "serving the health probes");
    Ok(HealthServer {
        local_addr,
        stop,
        task: AbortOnDropHandle::new(task),
    })
}

/// The HTTP server of the health probes, from [`serve_http`]: it serves
/// until [`shutdown`](Self::shutdown), or until it is dropped (which
/// closes the listener and every open connection at once).
#[derive(Debug)]
#[must_use = "dropping the handle stops serving the health probes"]
pub struct HealthServer {
    /// Where it listens.
    local_addr: SocketAddr,
    /// Ends the accept loop.
    stop: CancellationToken,
    /// The accept loop, which owns the connections' tasks.
    task: AbortOnDropHandle<()>,
}

impl HealthServer {
    /// The address it listens on (the port chosen when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops listening and closes the open connections; returns once the
    /// listener is closed.
    pub async fn shutdown(self) {
        let HealthServer { stop, task, .. } = self;
        stop.cancel();
        // The loop ends at once; a join error would only say it was aborted.
        let _ = task.await;
    }
}

/// Accepts connections until `stop`; dropping the connections' `JoinSet`
/// at the end aborts those still open.
async fn accept_loop(listener: TcpListener, probe: HealthProbe, stop: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if connections.len() < MAX_CONNECTIONS => {
                    connections.spawn(serve_connection(stream, probe.clone()));
                }
                Ok(_) => {} // too many at once: closed
                Err(error) => {
                    tracing::warn!(%error, "health probe server: accepting a connection failed");
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_PAUSE) => {}
                    }
                }
            },
        }
    }
}

/// Serves the requests of one connection, for at most [`CONNECTION_LIFETIME`].
async fn serve_connection(stream: TcpStream, probe: HealthProbe) {
    let service = service_fn(move |request: Request<Incoming>| {
        let response = answer(&probe, request.method(), request.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
        Ok(Ok(())) | Err(_) => {}
        Ok(Err(error)) => tracing::debug!(%error, "health probe connection failed"),
    }
}

/// The response to `method` on `path`.
fn answer(probe: &HealthProbe, method: &Method, path: &str) -> Response<String> {
    let Some((status, body)) = probe.respond(path) else {
        let body = format!(
            r#"{{"status":"not found","paths":["{}","{}"]}}"#,
            Probe::Liveness.path(),
            Probe::Readiness.path()
        );
        return json_response(StatusCode::NOT_FOUND, body);
    };
    if method != Method::GET && method != Method::HEAD {
        let body = r#"{"status":"method not allowed","allow":["GET","HEAD"]}"#.to_owned();
        let mut response = json_response(StatusCode::METHOD_NOT_ALLOWED, body);
        let allow = HeaderValue::from_static("GET, HEAD");
        response.headers_mut().insert(ALLOW, allow);
        return response;
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    json_response(status, body)
}

/// A response with a JSON body that no cache keeps.
fn json_response(status: StatusCode, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::health::{Monitor, ServerLoop};

    /// `method path` over a new connection: the status and the whole response.
    async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        conn.write_all(head.as_bytes()).await.unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).await.unwrap();
        let status = response
            .strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
        (status, response)
    }

    #[tokio::test]
    async fn answers_each_path_and_method_and_stops() {
        let monitor = Arc::new(Monitor::new(true));
        let probe = HealthProbe::new(vec![("arith".to_owned(), Arc::clone(&monitor))]);
        let server = serve_http(probe, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();

        // Loops not started yet: live (within the grace), not ready.
        let (status, response) = request(addr, "GET", "/healthz").await;
        assert_eq!(status, 200, "{response}");
        assert!(
            response.contains("content-type: application/json"),
            "{response}"
        );
        assert!(response.contains(r#""status":"ok""#), "{response}");
        let (status, response) = request(addr, "GET", "/readyz").await;
        assert_eq!(status, 503, "{response}");
        assert!(response.contains(r#""status":"unavailable""#), "{response}");

        for which in ServerLoop::ALL {
            monitor.set_running(which, true);
        }
        let (status, response) = request(addr, "GET", "/readyz").await;
        assert_eq!(status, 200, "{response}");
        assert!(response.contains(r#""service":"arith""#), "{response}");
        let (status, response) = request(addr, "HEAD", "/readyz").await;
        assert_eq!(status, 200, "{response}");
        assert!(
            response.ends_with("\r\n\r\n"),
            "a HEAD has no body: {response}"
        );

        let (status, response) = request(addr, "GET", "/metrics").await;
        assert_eq!(status, 404, "{response}");
        let (status, response) = request(addr, "POST", "/readyz").await;
        assert_eq!(status, 405, "{response}");
        assert!(response.contains("allow: GET, HEAD"), "{response}");

        server.shutdown().await;
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_it() {
        let probe = HealthProbe::new(Vec::new());
        let server = serve_http(probe, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        assert_eq!(request(addr, "GET", "/readyz").await.0, 200);
        drop(server);
        // The abort lands when the loop next yields; the listener closes then.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).await.is_ok() {
            assert!(tokio::time::Instant::now() < deadline, "still listening");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
