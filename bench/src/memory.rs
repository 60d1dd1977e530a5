//! Client memory per call in flight: a fresh client process reads its own
//! `VmRSS` (`/proc/self/status`), starts N calls to a service that no server
//! consumes (so they all wait for replies), waits until Redis holds all N
//! requests, and reads `VmRSS` again. The growth over N is what one waiting
//! call costs the client: its task, future, request and pending-table entry.
//!
//! Calls are started in batches of [`BATCH`], each once Redis holds every
//! request of the one before, so the growth is what waiting calls hold, not
//! the transient peak of 10,000 requests being sent at once (which the
//! allocator keeps afterwards: that measured 6.0-6.3 KB/call instead of 5.5 for
//! the Rust client). The Python peer's client needs the batches anyway, its
//! connection pool refuses more than 99 sends at once.
//!
//! The probe runs in a process of its own so that memory the benchmark
//! allocated and freed before does not hide the growth.

use std::time::{Duration, Instant};

use clamator_arith::{AddParams, ArithClient};
use serde::{Deserialize, Serialize};

use super::raw::connect;

/// How long the probe waits for all its calls to be sent.
const SEND_WITHIN: Duration = Duration::from_secs(120);
/// Calls started at once (below the peer's pool of 100 connections).
pub(crate) const BATCH: usize = 50;

/// What a probe process reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ProbeReport {
    /// Calls asked to be held in flight.
    pub(crate) in_flight: usize,
    /// Requests Redis held when the second reading was taken.
    pub(crate) held: usize,
    /// `VmRSS` before the calls, in KiB.
    pub(crate) rss_before_kb: u64,
    /// `VmRSS` with the calls in flight, in KiB.
    pub(crate) rss_after_kb: u64,
}

impl ProbeReport {
    /// RSS growth per call held, in bytes.
    pub(crate) fn bytes_per_call(&self) -> f64 {
        if self.held == 0 {
            return 0.0;
        }
        (self.rss_after_kb.saturating_sub(self.rss_before_kb) * 1024) as f64 / self.held as f64
    }
}

/// This process's resident set size in KiB (`VmRSS` of `/proc/self/status`).
pub(crate) fn vm_rss_kb() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("reading /proc/self/status failed (is this Linux?): {e}"))?;
    parse_vm_rss(&status).ok_or_else(|| "no VmRSS line in /proc/self/status".to_owned())
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The probe itself (`clamator-bench --probe-memory`): holds `in_flight`
/// `arith.add` calls under `prefix`, where no server runs.
pub(crate) async fn probe(
    redis_url: &str,
    prefix: &str,
    in_flight: usize,
) -> Result<ProbeReport, String> {
    // Calls must outlive the measurement, however slow the machine.
    let client = super::rust_client::start(redis_url, prefix, SEND_WITHIN * 2).await?;
    let redis = redis::Client::open(redis_url).map_err(|e| format!("bad Redis URL: {e}"))?;
    let mut conn = connect(&redis, Duration::from_secs(5)).await?;
    let stream = clamator_over_redis::ops::keys::command_stream(prefix, "arith");
    let rss_before_kb = vm_rss_kb()?;
    let mut calls = Vec::with_capacity(in_flight);
    let deadline = Instant::now() + SEND_WITHIN;
    let mut held = 0;
    while calls.len() < in_flight && Instant::now() < deadline {
        for _ in 0..BATCH.min(in_flight - calls.len()) {
            let arith = ArithClient::new(client.clone());
            let a = calls.len() as f64;
            calls.push(tokio::spawn(async move {
                arith.add(AddParams { a, b: 1.0 }).await
            }));
        }
        // Wait until Redis holds every request started so far (or their calls failed).
        while Instant::now() < deadline {
            held = redis::cmd("XLEN")
                .arg(&stream)
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("XLEN failed: {e}"))?;
            let failed = calls.iter().filter(|c| c.is_finished()).count();
            if held + failed >= calls.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let rss_after_kb = vm_rss_kb()?;
    for call in &calls {
        call.abort();
    }
    for call in calls {
        let _ = tokio::time::timeout(Duration::from_secs(5), call).await;
    }
    super::rust_client::close(client).await;
    Ok(ProbeReport {
        in_flight,
        held,
        rss_before_kb,
        rss_after_kb,
    })
}

/// The same probe for the Python peer's client, run as `python -c`.
pub(crate) const PYTHON_PROBE: &str = r#"
import argparse, asyncio, json, os, sys, time
from redis.asyncio import Redis
from clamator_over_redis import RedisRpcClient

def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--redis-url", required=True)
    p.add_argument("--key-prefix", required=True)
    p.add_argument("--in-flight", type=int, required=True)
    # Calls are started in batches below the peer's pool of 100 connections:
    # its XADDs would fail with "Too many connections" all started at once.
    p.add_argument("--batch", type=int, default=50)
    a = p.parse_args()
    client = RedisRpcClient(redis_url=a.redis_url, key_prefix=a.key_prefix,
                            default_timeout_ms=600_000)
    await client.start()
    probe = Redis.from_url(a.redis_url)
    stream = f"{a.key_prefix}:cmds:arith"
    before = rss_kb()
    tasks = []
    deadline = time.monotonic() + 120
    while len(tasks) < a.in_flight and time.monotonic() < deadline:
        for _ in range(min(a.batch, a.in_flight - len(tasks))):
            tasks.append(asyncio.create_task(client.call("arith", "add", {"a": 1, "b": 2})))
        while time.monotonic() < deadline:
            failed = sum(1 for t in tasks if t.done())
            if await probe.xlen(stream) + failed >= len(tasks):
                break
            await asyncio.sleep(0.001)
    held = await probe.xlen(stream)
    after = rss_kb()
    print(json.dumps({"in_flight": a.in_flight, "held": held,
                      "rss_before_kb": before, "rss_after_kb": after}), flush=True)
    os._exit(0)

asyncio.run(main())
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads: 3\n";
        assert_eq!(parse_vm_rss(status), Some(1234));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(vm_rss_kb().unwrap() > 0);
    }

    #[test]
    fn bytes_per_call() {
        let r = ProbeReport {
            in_flight: 10,
            held: 8,
            rss_before_kb: 100,
            rss_after_kb: 108,
        };
        assert!((r.bytes_per_call() - 1024.0).abs() < 1e-9);
        let none = ProbeReport { held: 0, ..r };
        assert_eq!(none.bytes_per_call(), 0.0);
    }
}
