//! CPU time per call of each process of a row: the client, the server and
//! Redis, from `utime + stime` of `/proc/<pid>/stat` read just before and
//! just after the measured calls (warm-up excluded), in clock ticks
//! (`sysconf(_SC_CLK_TCK)`, normally 100 per second), over the measured calls.
//!
//! Who is measured, per role:
//! - **client**, Rust and raw rows: this whole process (`/proc/self/stat`):
//!   the client's tasks and connections, and also the C tasks driving the
//!   calls, the latency recording and the progress bar (a redraw every
//!   100 ms), all on the same two runtime threads, so they cannot be told
//!   apart per thread. Python rows: the peer's client process reads its own
//!   `/proc/self/stat` around its measured calls (`bench_client.py`'s `cpu_s`).
//! - **server**: the server process (`--serve` child, `arith-server` or
//!   `arith_server.py`), by its pid.
//! - **redis**: the throwaway `redis-server`, by the `process_id` of its
//!   `INFO server`.
//!
//! For Python rows the bench reads the server and Redis when `bench_client.py`
//! prints `MEASURING` and `MEASURED` on stdout, a pipe hop after the fact.
//! A tick is 10 ms: over N calls the resolution is 10 ms / N per call (5 µs
//! at 2,000 calls), so rows meant for the record need tens of thousands of calls.

use std::sync::OnceLock;

use serde::Serialize;

/// Clock ticks per second of `utime`/`stime` (`sysconf(_SC_CLK_TCK)`).
pub(crate) fn ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        // SAFETY: sysconf only reads a configuration value; no pointers.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 { t as f64 } else { 100.0 }
    })
}

/// `utime + stime` of a `/proc/<pid>/stat` text, in clock ticks.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: the fields after the last ')' start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // Field 3 is index 0 here, so utime (field 14) is index 11, stime index 12.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPU ticks a process has used so far; `None` for this process.
fn process_ticks(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    parse_stat_ticks(&std::fs::read_to_string(path).ok()?)
}

/// The processes of a row, read together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuProbe {
    /// Whether the client is this process (else it reports its own time).
    pub(crate) client_is_self: bool,
    /// The server's pid.
    pub(crate) server: Option<u32>,
    /// Redis's pid.
    pub(crate) redis: Option<u32>,
}

/// One reading of every process of a probe, in ticks (`None`: unreadable).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuSample {
    client: Option<u64>,
    server: Option<u64>,
    redis: Option<u64>,
}

/// CPU time per measured call, in microseconds, per process.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub(crate) struct CpuCost {
    /// The client process.
    pub(crate) client_us_per_call: Option<f64>,
    /// The server process.
    pub(crate) server_us_per_call: Option<f64>,
    /// The Redis process.
    pub(crate) redis_us_per_call: Option<f64>,
}

impl CpuProbe {
    /// Reads every process now.
    pub(crate) fn sample(&self) -> CpuSample {
        CpuSample {
            client: if self.client_is_self {
                process_ticks(None)
            } else {
                None
            },
            server: self.server.and_then(|p| process_ticks(Some(p))),
            redis: self.redis.and_then(|p| process_ticks(Some(p))),
        }
    }

    /// What `calls` calls cost between two readings.
    pub(crate) fn cost(before: &CpuSample, after: &CpuSample, calls: usize) -> CpuCost {
        let per_call = |b: Option<u64>, a: Option<u64>| match (b, a) {
            (Some(b), Some(a)) if calls > 0 => {
                Some(ticks_to_us(a.saturating_sub(b)) / calls as f64)
            }
            _ => None,
        };
        CpuCost {
            client_us_per_call: per_call(before.client, after.client),
            server_us_per_call: per_call(before.server, after.server),
            redis_us_per_call: per_call(before.redis, after.redis),
        }
    }
}

/// Clock ticks in microseconds.
fn ticks_to_us(ticks: u64) -> f64 {
    ticks as f64 * 1e6 / ticks_per_second()
}

/// CPU seconds as microseconds per call (for a client that reports its own).
pub(crate) fn seconds_per_call_us(seconds: f64, calls: usize) -> Option<f64> {
    (calls > 0 && seconds >= 0.0).then(|| seconds * 1e6 / calls as f64)
}

/// The `process_id` of an `INFO server` text.
pub(crate) fn redis_pid(info: &str) -> Option<u32> {
    info.lines()
        .find_map(|l| l.trim().strip_prefix("process_id:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_utime_and_stime_after_an_awkward_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 3 0";
        assert_eq!(parse_stat_ticks(stat), Some(281));
        assert_eq!(parse_stat_ticks("garbage"), None);
        assert!(process_ticks(None).is_some());
    }

    #[test]
    fn costs_per_call_and_redis_pid() {
        let hz = ticks_per_second();
        let before = CpuSample {
            client: Some(0),
            server: Some(10),
            redis: None,
        };
        let after = CpuSample {
            client: Some(hz as u64),
            server: Some(10),
            redis: Some(5),
        };
        let c = CpuProbe::cost(&before, &after, 1_000);
        assert_eq!(c.client_us_per_call, Some(1_000.0));
        assert_eq!(c.server_us_per_call, Some(0.0));
        assert_eq!(c.redis_us_per_call, None);
        assert_eq!(redis_pid("# Server\r\nprocess_id:1234\r\n"), Some(1234));
        assert_eq!(seconds_per_call_us(0.5, 1_000), Some(500.0));
    }
}
