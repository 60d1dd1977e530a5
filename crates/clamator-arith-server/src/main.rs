//! `arith-server`: serves the `arith` interop contract over Redis Streams.
//!
//! Prints `READY` on stdout once it consumes; SIGINT or SIGTERM stop it
//! gracefully (in-flight calls finish within the shutdown grace).
//! `--metrics-addr HOST:PORT` serves the transport's metrics as Prometheus
//! text at `http://HOST:PORT/metrics` (feature `metrics`, on by default).
//! `--health-addr HOST:PORT` serves the liveness and readiness probes at
//! `http://HOST:PORT/healthz` and `/readyz` once the server started (feature
//! `health`, on by default).

use std::process::ExitCode;
use std::time::Duration;

use clamator::redis::{ConnectOptions, RedisRpcServer, ServerOptions};
use clamator_arith::{ArithContract, ArithHandler};
use clap::Parser;

/// Serves the `arith` contract over Redis Streams.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Redis URL (default: $REDIS_URL, else redis://localhost:6379); rediss:// for TLS,
    /// redis+sentinel://h1,h2/name for Sentinel (rediss+sentinel:// for TLS).
    /// With --cluster, a seed node: repeat it (or comma-separate) for more seeds.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://localhost:6379",
        value_delimiter = ','
    )]
    redis_url: Vec<String>,
    /// Redis Cluster: the --redis-url given are seed nodes (several URLs imply it).
    #[arg(long, env = "CLAMATOR_CLUSTER")]
    cluster: bool,
    /// TLS: trust only the CA certificates in this PEM file (default: the system's roots).
    #[arg(long, env = "CLAMATOR_TLS_CA", value_name = "FILE")]
    tls_ca: Option<std::path::PathBuf>,
    /// TLS: client certificate (PEM) for Redis with tls-auth-clients yes; needs --tls-key.
    #[arg(
        long,
        env = "CLAMATOR_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<std::path::PathBuf>,
    /// TLS: the private key (PEM) of --tls-cert.
    #[arg(
        long,
        env = "CLAMATOR_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<std::path::PathBuf>,
    /// Key prefix shared with the clients and the other workers of the pool.
    #[arg(long)]
    key_prefix: String,
    /// Consumer instance id (default: a random UUID v4).
    #[arg(long)]
    instance_id: Option<String>,
    /// Idle time after which another worker reclaims an unacknowledged call.
    #[arg(long, default_value_t = 60_000)]
    claim_idle_ms: u64,
    /// Calls of one service handled at once (1 = one at a time, like the Python peer).
    #[arg(long, default_value_t = 64)]
    max_concurrency: usize,
    /// Deliveries after which an unacknowledged call moves to the dead-letter
    /// stream (0 = redeliver forever, like the Python peer).
    #[arg(long, default_value_t = 10)]
    max_deliveries: u32,
    /// How long to keep retrying while Redis is unreachable at start
    /// (0 = until it answers: workers may start before Redis).
    #[arg(long, default_value_t = 0)]
    start_timeout_ms: u64,
    /// How long a stop (SIGINT, SIGTERM) lets running calls finish; the rest
    /// are handed over to the other workers.
    #[arg(long, default_value_t = 5_000)]
    shutdown_grace_ms: u64,
    /// Cancel a call whose handler runs longer than this and answer -32603
    /// HandlerTimeout (0 = no limit).
    #[arg(long, default_value_t = 0)]
    handler_timeout_ms: u64,
    /// Answer a copy of a call (a client's retry, a duplicate entry, an entry
    /// redelivered after a lost ack) answered within this window from its stored
    /// reply instead of running it again, and hold a copy that arrives while
    /// the first runs until its reply is ready (0 = off: at-least-once).
    #[arg(long, default_value_t = 0)]
    dedupe_window_ms: u64,
    /// Keep every command-stream entry (do not trim delivered, acknowledged ones).
    #[arg(long)]
    no_trim: bool,
    /// Run requests whose caller's timeout already passed (like the Python peer).
    #[arg(long)]
    no_skip_expired: bool,
    /// Print `CALL <method>` on stdout for every handled call.
    #[arg(long)]
    trace_calls: bool,
    /// Serve metrics as Prometheus text at http://HOST:PORT/metrics.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<std::net::SocketAddr>,
    /// Serve health probes once started: http://HOST:PORT/healthz (200 while the
    /// process and its loops are fine) and /readyz (200 while Redis answers and
    /// the group exists, else 503), each with a JSON body.
    #[arg(long, env = "CLAMATOR_HEALTH_ADDR", value_name = "HOST:PORT")]
    health_addr: Option<std::net::SocketAddr>,
}

/// Bucket bounds (seconds) of the duration histograms: 100 µs to 30 s.
#[cfg(feature = "metrics")]
const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0, 30.0,
];

/// Installs the Prometheus exporter, listening on `addr` (bound now, so a
/// busy port fails the start).
#[cfg(feature = "metrics")]
fn serve_metrics(addr: std::net::SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Suffix("duration".to_owned()), &DURATION_BUCKETS)?
        .install()
        .map_err(|e| format!("serving metrics on {addr}: {e}"))?;
    Ok(())
}

#[cfg(not(feature = "metrics"))]
fn serve_metrics(_addr: std::net::SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    Err(
        "this arith-server was built without its `metrics` feature: rebuild with it (on by \
         default) to use --metrics-addr"
            .into(),
    )
}

/// The running HTTP server of the health probes.
#[cfg(feature = "health")]
type HealthServer = clamator::redis::health::HealthServer;
#[cfg(not(feature = "health"))]
type HealthServer = std::convert::Infallible;

/// Serves `server`'s liveness and readiness probes on `addr`.
#[cfg(feature = "health")]
async fn serve_health(
    server: &RedisRpcServer,
    addr: std::net::SocketAddr,
) -> Result<HealthServer, Box<dyn std::error::Error>> {
    clamator::redis::health::serve_http(server.health_probe(), addr)
        .await
        .map_err(|e| format!("serving health probes on {addr}: {e}").into())
}

#[cfg(not(feature = "health"))]
async fn serve_health(
    _server: &RedisRpcServer,
    _addr: std::net::SocketAddr,
) -> Result<HealthServer, Box<dyn std::error::Error>> {
    Err(
        "this arith-server was built without its `health` feature: rebuild with it (on by \
         default) to use --health-addr"
            .into(),
    )
}

/// Stops serving the health probes.
async fn stop_health(health: HealthServer) {
    #[cfg(feature = "health")]
    health.shutdown().await;
    #[cfg(not(feature = "health"))]
    match health {}
}

async fn serve(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(addr) = args.metrics_addr {
        serve_metrics(addr)?;
    }
    let instance = args
        .instance_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let handler = ArithHandler::new(instance.clone()).with_trace_calls(args.trace_calls);
    let options = ServerOptions::default()
        .instance_id(instance)
        .consumer_claim_idle(Duration::from_millis(args.claim_idle_ms))
        .max_concurrency(args.max_concurrency)
        .max_deliveries((args.max_deliveries > 0).then_some(args.max_deliveries))
        .start_timeout(
            (args.start_timeout_ms > 0).then(|| Duration::from_millis(args.start_timeout_ms)),
        )
        .shutdown_grace(Duration::from_millis(args.shutdown_grace_ms))
        .handler_timeout(
            (args.handler_timeout_ms > 0).then(|| Duration::from_millis(args.handler_timeout_ms)),
        )
        .dedupe_window(
            (args.dedupe_window_ms > 0).then(|| Duration::from_millis(args.dedupe_window_ms)),
        )
        .trim_command_streams(!args.no_trim)
        .skip_expired(!args.no_skip_expired);
    let server = RedisRpcServer::builder(connect_options(&args)?)
        .options(options)
        .register(ArithContract, handler)?
        // Retries (with a warning per attempt) while Redis is unreachable.
        .start()
        .await?;
    let health = match args.health_addr {
        Some(addr) => match serve_health(&server, addr).await {
            Ok(health) => Some(health),
            Err(e) => {
                server.stop().await;
                return Err(e);
            }
        },
        None => None,
    };
    println!("READY");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("stopping");
    };
    // The probes answer while the server stops (not ready: its loops end).
    server.run_until(stop).await;
    if let Some(health) = health {
        stop_health(health).await;
    }
    Ok(())
}

/// Where Redis is, with the TLS files if any were given.
fn connect_options(args: &Args) -> Result<ConnectOptions, Box<dyn std::error::Error>> {
    let urls: Vec<&str> = args
        .redis_url
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .collect();
    // A Sentinel URL lists its sentinels comma-separated: one URL, not seeds.
    let is_sentinel = urls
        .first()
        .is_some_and(|u| clamator::redis::is_sentinel_url(u));
    let conn = match urls.as_slice() {
        [_, ..] if is_sentinel && !args.cluster => {
            ConnectOptions::new(&args.key_prefix, &urls.join(","))?
        }
        [one] if !args.cluster => ConnectOptions::new(&args.key_prefix, one)?,
        #[cfg(feature = "cluster")]
        seeds => ConnectOptions::cluster(&args.key_prefix, seeds.iter())?,
        #[cfg(not(feature = "cluster"))]
        _ => {
            return Err(
                "this arith-server was built without its `cluster` feature: rebuild \
                        with it (on by default) to use --cluster or several --redis-url"
                    .into(),
            );
        }
    };
    if args.tls_ca.is_none() && args.tls_cert.is_none() {
        return Ok(conn);
    }
    #[cfg(feature = "tls")]
    {
        let mut tls = clamator::redis::TlsOptions::new();
        if let Some(ca) = &args.tls_ca {
            tls = tls.ca_pem_file(ca)?;
        }
        if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
            tls = tls.client_cert_pem_files(cert, key)?;
        }
        Ok(conn.tls(tls)?)
    }
    #[cfg(not(feature = "tls"))]
    Err(
        "this arith-server was built without its `tls` feature: rebuild with it (on by \
         default) to use --tls-ca, --tls-cert and --tls-key"
            .into(),
    )
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match serve(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arith-server: {e}");
            ExitCode::FAILURE
        }
    }
}
