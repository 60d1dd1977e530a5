//! One measured row: per-call latencies folded into percentiles, throughput,
//! errors and the most calls seen in flight at once.

use std::time::Duration;

use serde::Serialize;

use super::cpu::CpuCost;
use super::redis_cost::RedisCost;

/// What one row of the benchmark measured (one pair at one concurrency).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Measurement {
    /// Calls measured (after the warm-up), failed ones included.
    pub(crate) calls: usize,
    /// Calls that failed or got a wrong answer. Must be 0.
    pub(crate) errors: usize,
    /// Wall time of the measured calls, first start to last end.
    pub(crate) seconds: f64,
    /// `calls / seconds`.
    pub(crate) calls_per_sec: f64,
    /// Median round-trip latency of the successful calls, in microseconds.
    pub(crate) p50_us: f64,
    /// 99th percentile latency, in microseconds.
    pub(crate) p99_us: f64,
    /// Slowest call, in microseconds (`None` when the client does not report it).
    pub(crate) max_us: Option<f64>,
    /// The most calls that were in flight at once (may be below the
    /// concurrency asked for when the client cannot hold that many).
    pub(crate) max_in_flight: usize,
    /// What the first failed call said, to tell why `errors` is not 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) first_error: Option<String>,
    /// What the row cost Redis per call, when Redis could tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redis: Option<RedisCost>,
    /// CPU time per measured call of the client, server and Redis processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cpu: Option<CpuCost>,
    /// Calls made for the row, warm-up included (what Redis saw).
    #[serde(skip)]
    pub(crate) calls_made: usize,
}

/// Raw results of driving calls, before they become a [`Measurement`].
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Latency of every successful call, in nanoseconds.
    pub(crate) latencies_ns: Vec<u64>,
    /// Failed calls.
    pub(crate) errors: usize,
    /// The first failure's message.
    pub(crate) first_error: Option<String>,
    /// The most calls in flight at once.
    pub(crate) max_in_flight: usize,
}

impl Tally {
    /// Adds another worker's results.
    pub(crate) fn merge(&mut self, other: Tally) {
        self.latencies_ns.extend(other.latencies_ns);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.max_in_flight = self.max_in_flight.max(other.max_in_flight);
    }

    /// Records one failure.
    pub(crate) fn fail(&mut self, message: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }

    /// Folds the tally of `calls` calls that took `elapsed` into a row.
    pub(crate) fn into_measurement(mut self, calls: usize, elapsed: Duration) -> Measurement {
        self.latencies_ns.sort_unstable();
        let us = |ns: u64| ns as f64 / 1_000.0;
        let seconds = elapsed.as_secs_f64();
        Measurement {
            calls,
            errors: self.errors,
            seconds,
            calls_per_sec: if seconds > 0.0 {
                calls as f64 / seconds
            } else {
                0.0
            },
            p50_us: us(percentile(&self.latencies_ns, 50.0)),
            p99_us: us(percentile(&self.latencies_ns, 99.0)),
            max_us: self.latencies_ns.last().map(|&ns| us(ns)),
            max_in_flight: self.max_in_flight,
            first_error: self.first_error,
            redis: None,
            cpu: None,
            calls_made: calls,
        }
    }
}

/// The nearest-rank percentile `p` (0..=100) of sorted samples; 0 when empty.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn tally_folds_into_a_row() {
        let mut a = Tally {
            latencies_ns: vec![3_000, 1_000],
            max_in_flight: 2,
            ..Tally::default()
        };
        let mut b = Tally::default();
        b.latencies_ns.push(2_000);
        b.fail("boom".into());
        b.fail("second".into());
        a.merge(b);
        let m = a.into_measurement(5, Duration::from_millis(500));
        assert_eq!((m.calls, m.errors, m.max_in_flight), (5, 2, 2));
        assert_eq!(m.first_error.as_deref(), Some("boom"));
        assert!((m.calls_per_sec - 10.0).abs() < 1e-9);
        assert!((m.p50_us - 2.0).abs() < 1e-9);
        assert_eq!(m.max_us, Some(3.0));
    }
}
