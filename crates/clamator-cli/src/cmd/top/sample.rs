//! Sampling: what one refresh of `clamator top` reads from Redis, and the
//! calls/s computed from two samples in a row. Nothing here draws.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::clock;
use crate::cmd::replies;
use crate::cmd::services::{self, ConsumerInfo};
use crate::conn::{Redis, Target};
use crate::error::CliError;

/// One service in a sample.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ServiceRow {
    /// The service name.
    pub(super) service: String,
    /// Requests and notifications added per second since the previous
    /// sample; `null` in the first sample, for a service new since then, or
    /// before Redis 7 (no `entries-added`).
    pub(super) calls_per_sec: Option<f64>,
    /// `entries-added` of the command stream (`XINFO STREAM`).
    pub(super) entries_added: Option<u64>,
    /// Entries in the command stream.
    pub(super) length: usize,
    /// Entries delivered to the service's group and not acknowledged; `null`
    /// when the group does not exist (no worker ever started).
    pub(super) pending: Option<usize>,
    /// Entries not delivered to the service's group yet; `null` when unknown.
    pub(super) lag: Option<usize>,
    /// The consumers of the service's group, with their idle times.
    pub(super) consumers: Vec<ConsumerInfo>,
    /// Entries in `<prefix>:dead:<service>`; `null` when that key is not a stream.
    pub(super) dead_letters: Option<usize>,
}

/// The reply streams of a sample.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ReplyStats {
    /// Reply streams under the prefix.
    pub(super) total: usize,
    /// Those idle longer than `idle_after_ms` (or empty).
    pub(super) idle: usize,
    /// The threshold (`--idle-after`).
    pub(super) idle_after_ms: u64,
}

/// Everything one refresh shows (and, in JSON mode, one line of output).
#[derive(Debug, Clone, Serialize)]
pub(super) struct Sample {
    /// When it was taken (this machine's clock, UTC).
    pub(super) timestamp: String,
    /// Milliseconds since the previous successful sample, `null` for the first.
    pub(super) elapsed_ms: Option<u64>,
    /// The services, by name.
    pub(super) services: Vec<ServiceRow>,
    /// The reply streams.
    pub(super) reply_streams: ReplyStats,
}

/// Takes samples, keeping the connection between them and reconnecting after a failure.
#[derive(Debug)]
pub(super) struct Sampler {
    /// Where Redis is.
    target: Target,
    /// The key prefix.
    prefix: String,
    /// `--idle-after` in milliseconds.
    idle_after_ms: u64,
    /// The connection, `None` until connected and after a failure.
    redis: Option<Redis>,
    /// When the previous successful sample was taken and each service's
    /// `entries-added` then: what the next rates are computed from.
    previous: Option<(Instant, HashMap<String, u64>)>,
}

impl Sampler {
    /// A sampler of the services under `prefix`; it connects on its first sample.
    pub(super) fn new(target: Target, prefix: &str, idle_after: Duration) -> Sampler {
        Sampler {
            target,
            prefix: prefix.to_owned(),
            idle_after_ms: millis(idle_after),
            redis: None,
            previous: None,
        }
    }

    /// One sample; after a failure the connection is dropped and the next sample reconnects.
    pub(super) async fn sample(&mut self) -> Result<Sample, CliError> {
        let result = self.try_sample().await;
        if result.is_err() {
            self.redis = None;
        }
        result
    }

    async fn try_sample(&mut self) -> Result<Sample, CliError> {
        let redis = match &mut self.redis {
            Some(redis) => redis,
            None => self.redis.insert(Redis::connect(&self.target).await?),
        };
        let services = services::collect(redis, &self.prefix).await?;
        let reply_streams = replies::list(redis, &self.prefix).await?;
        let at = Instant::now();
        let elapsed = self.previous.as_ref().map(|(then, _)| at - *then);
        let before = self.previous.as_ref().map(|(_, added)| added);
        let mut added = HashMap::with_capacity(services.len());
        let rows = services
            .into_iter()
            .map(|s| {
                let calls_per_sec = match (s.entries_added, before, elapsed) {
                    (Some(now), Some(before), Some(elapsed)) => before
                        .get(&s.service)
                        .and_then(|&then| rate(now.saturating_sub(then), elapsed)),
                    _ => None,
                };
                if let Some(n) = s.entries_added {
                    added.insert(s.service.clone(), n);
                }
                let group = s.own_group();
                ServiceRow {
                    calls_per_sec,
                    entries_added: s.entries_added,
                    length: s.length,
                    pending: group.map(|g| g.pending),
                    lag: group.and_then(|g| g.lag),
                    consumers: group.map(|g| g.consumers.clone()).unwrap_or_default(),
                    dead_letters: s.dead_letters,
                    service: s.service,
                }
            })
            .collect();
        self.previous = Some((at, added));
        let idle = reply_streams
            .iter()
            .filter(|r| r.idle_longer_than(self.idle_after_ms))
            .count();
        Ok(Sample {
            timestamp: now_utc(),
            elapsed_ms: elapsed.map(millis),
            services: rows,
            reply_streams: ReplyStats {
                total: reply_streams.len(),
                idle,
                idle_after_ms: self.idle_after_ms,
            },
        })
    }
}

/// `n` per `elapsed`, per second, to two decimals; `None` for no time at all.
pub(super) fn rate(n: u64, elapsed: Duration) -> Option<f64> {
    if elapsed.is_zero() {
        return None;
    }
    Some((n as f64 / elapsed.as_secs_f64() * 100.0).round() / 100.0)
}

/// A duration in whole milliseconds, saturating.
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// This machine's time as ISO 8601 UTC.
pub(super) fn now_utc() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis);
    clock::iso_utc(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(rate(30, Duration::from_millis(1_500)), Some(20.0));
        assert_eq!(rate(1, Duration::from_secs(3)), Some(0.33));
        assert_eq!(rate(5, Duration::ZERO), None);
    }
}
