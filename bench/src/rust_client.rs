//! The Rust client side: typed `arith.add` calls through one shared
//! [`RedisRpcClient`] (clones of it), one task per call in flight.

use std::time::Duration;

use clamator_arith::{AddParams, ArithClient};
use clamator_over_redis::{ClientOptions, ConnectOptions, RedisRpcClient};

use super::drive::Caller;

/// A started client for the pair under `prefix`.
pub(crate) async fn start(
    redis_url: &str,
    prefix: &str,
    timeout: Duration,
) -> Result<RedisRpcClient, String> {
    let conn = ConnectOptions::new(prefix, redis_url)
        .map_err(|e| format!("configuring the Rust client failed: {e}"))?;
    let client =
        RedisRpcClient::connect_with(conn, ClientOptions::default().default_timeout(timeout))
            .await
            .map_err(|e| format!("connecting the Rust client failed: {e}"))?;
    Ok(client)
}

/// Closes `client` (deleting its reply stream), for every clone.
pub(crate) async fn close(client: RedisRpcClient) {
    client.close().await;
}

/// One call slot: makes typed calls through the shared client.
#[derive(Debug)]
pub(crate) struct RustCaller {
    /// The typed client over the shared transport.
    arith: ArithClient<RedisRpcClient>,
}

impl RustCaller {
    /// `concurrency` call slots sharing `client`.
    pub(crate) fn many(client: &RedisRpcClient, concurrency: usize) -> Vec<RustCaller> {
        (0..concurrency)
            .map(|_| RustCaller {
                arith: ArithClient::new(client.clone()),
            })
            .collect()
    }
}

impl Caller for RustCaller {
    async fn call(&mut self, n: usize) -> Result<(), String> {
        // Small integers: exact in f64, so the check below is exact too.
        let a = (n % 1000) as f64;
        let b = 2.0;
        let sum = self
            .arith
            .add(AddParams { a, b })
            .await
            .map_err(|e| e.to_string())?
            .sum;
        if sum == a + b {
            Ok(())
        } else {
            Err(format!("arith.add({a}, {b}) answered {sum}"))
        }
    }
}
