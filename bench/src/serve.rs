//! The benchmark's own server processes: this executable run again as
//! `clamator-bench --serve raw|rust-arith`. Each prints `READY` once it
//! consumes and stops gracefully when its stdin closes (so it never outlives
//! the benchmark that started it).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use clamator_arith::{ArithContract, ArithHandler};
use clamator_over_redis::{ConnectOptions, RedisRpcServer, ServerOptions};
use tokio::io::AsyncReadExt;

/// What a `--serve` child serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ServeRole {
    /// The raw floor's server loop.
    Raw,
    /// `arith` on `RedisRpcServer` with the defaults of `arith-server`.
    RustArith,
}

impl ServeRole {
    fn name(self) -> &'static str {
        match self {
            ServeRole::Raw => "raw",
            ServeRole::RustArith => "rust-arith",
        }
    }
}

/// The command that runs `exe` (this executable) as a `--serve role` child.
pub(crate) fn command(exe: &Path, role: ServeRole, redis_url: &str, prefix: &str) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["--redis-url", redis_url, "--key-prefix", prefix])
        .args(["--serve", role.name()]);
    cmd
}

/// The command that runs an `arith-server` binary under `prefix`.
pub(crate) fn arith_server_command(bin: &Path, redis_url: &str, prefix: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["--redis-url", redis_url, "--key-prefix", prefix]);
    cmd
}

/// Resolves once stdin is closed (or unreadable), or on Ctrl-C.
async fn stdin_closed() {
    let eof = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! {
        () = eof => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Runs the `--serve` child until its stdin closes.
pub(crate) async fn run(
    role: ServeRole,
    redis_url: &str,
    prefix: &str,
    dedupe_window_ms: u64,
) -> Result<(), String> {
    match role {
        // On a worker thread: `run` itself is polled by main's `block_on`,
        // on the main thread, where every wake-up would cost a thread switch
        // (measured: p50 about 1.2x higher).
        ServeRole::Raw => {
            let (url, prefix) = (redis_url.to_owned(), prefix.to_owned());
            tokio::spawn(async move { super::raw::serve(&url, &prefix, stdin_closed()).await })
                .await
                .map_err(|e| format!("the raw floor server task failed: {e}"))?
        }
        ServeRole::RustArith => serve_arith(redis_url, prefix, dedupe_window_ms).await,
    }
}

/// What `arith-server --redis-url URL --key-prefix PREFIX` does, stopped by stdin.
async fn serve_arith(redis_url: &str, prefix: &str, dedupe_window_ms: u64) -> Result<(), String> {
    let instance = uuid::Uuid::new_v4().to_string();
    let conn = ConnectOptions::new(prefix, redis_url).map_err(|e| e.to_string())?;
    let server = RedisRpcServer::builder(conn)
        .options(
            ServerOptions::default()
                .instance_id(instance.clone())
                .dedupe_window(
                    (dedupe_window_ms > 0).then(|| Duration::from_millis(dedupe_window_ms)),
                ),
        )
        .register(ArithContract, ArithHandler::new(instance))
        .map_err(|e| e.to_string())?
        .start()
        .await
        .map_err(|e| e.to_string())?;
    println!("READY");
    stdin_closed().await;
    server.stop().await;
    Ok(())
}
