//! [`RetryPolicy`]: how a client sends a call's request again
//! ([`ClientOptions::retry`](crate::ClientOptions::retry), off by default).
//!
//! A copy is the same request entry again: the same envelope (so the same
//! JSON-RPC id) and the same `reply-to`; only its `timeout-ms` is what is
//! left of the call's timeout. The reply of any copy answers the call; the
//! replies of the others are dropped by the client's reply loop.
//!
//! **Safe only against servers that dedupe** (a Rust server with
//! `ServerOptions::dedupe_window`) **or with idempotent handlers**: a server
//! that does not dedupe runs every copy that reaches it, so a resent request
//! may run its handler twice (the first copy was taken after all, or is
//! running slowly).

use std::time::Duration;

use crate::options::ConfigError;

/// Default of [`RetryPolicy::resend_after`]: 2 s.
pub(crate) const DEFAULT_RESEND_AFTER: Duration = Duration::from_secs(2);
/// Default of [`RetryPolicy::max_attempts`]: 5.
pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Default of [`RetryPolicy::backoff_first`]: 50 ms.
pub(crate) const DEFAULT_BACKOFF_FIRST: Duration = Duration::from_millis(50);
/// Default of [`RetryPolicy::backoff_max`]: 1 s.
pub(crate) const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// When a client sends a call's request again, within the call's timeout.
///
/// Given to [`ClientOptions::retry`](crate::ClientOptions::retry). A request
/// is sent again, with the same JSON-RPC id and `reply-to`:
/// - when its `XADD` failed in a way where Redis may or may not have taken
///   it, or refused it for now: the connection was lost or Redis did not
///   answer within the command timeout, the node is no longer the primary
///   (`READONLY`, `MASTERDOWN`: a failover), Redis is loading, out of memory
///   (`OOM`), or the cluster is moving the slot or failing over (`MOVED`,
///   `ASK`, `TRYAGAIN`, `CLUSTERDOWN`); after a backoff that doubles from
///   [`backoff_first`](Self::backoff_first) up to
///   [`backoff_max`](Self::backoff_max), each delay jittered to between 50 %
///   and 100 % of its nominal value. A refusal a retry cannot fix (`NOPERM`,
///   `WRONGTYPE`, bad credentials) fails the call at once, as without
///   retries;
/// - when Redis took it and no reply came within
///   [`resend_after`](Self::resend_after) (a request Redis lost in a
///   failover, before any worker read it); again every `resend_after`
///   (jittered up to 20 % longer) while no reply comes.
///
/// Every copy counts as an attempt, the first send included, up to
/// [`max_attempts`](Self::max_attempts); none is sent once the call's
/// timeout has passed. When the attempts or the time run out before Redis
/// took any copy, the call fails with the last error (or
/// [`TransportError::Timeout`](clamator_protocol::TransportError::Timeout));
/// once a copy was taken, the call waits for its reply until its timeout.
/// Each copy sent again is counted in the metric `clamator.client.retries`
/// (feature `metrics`, label `reason`: `send_failed` or `no_reply`) and in
/// the field `clamator.retries` of the call's `clamator.call` span.
///
/// **Safe only against servers that dedupe** (Rust servers with
/// `ServerOptions::dedupe_window`, which answer a copy of a request they
/// have seen from the first copy's reply) **or with idempotent handlers**:
/// otherwise a resent request may run the handler again (the first copy was
/// taken after all, or its handler is still running). Python and TypeScript
/// servers do not dedupe.
///
/// ```
/// use std::time::Duration;
/// use clamator_over_redis::{ClientOptions, RetryPolicy};
///
/// let options = ClientOptions::default().retry(Some(
///     RetryPolicy::default()
///         .resend_after(Duration::from_secs(3))
///         .max_attempts(8),
/// ));
/// # let _ = options;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// A request with no reply this long after Redis took it is sent again.
    pub(crate) resend_after: Duration,
    /// Copies sent at most, the first included.
    pub(crate) max_attempts: u32,
    /// The first backoff after a failed `XADD`.
    pub(crate) backoff_first: Duration,
    /// The longest backoff after a failed `XADD`.
    pub(crate) backoff_max: Duration,
}

impl Default for RetryPolicy {
    /// Resend after 2 s without a reply, at most 5 attempts, backoff from
    /// 50 ms up to 1 s.
    fn default() -> Self {
        RetryPolicy {
            resend_after: DEFAULT_RESEND_AFTER,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff_first: DEFAULT_BACKOFF_FIRST,
            backoff_max: DEFAULT_BACKOFF_MAX,
        }
    }
}

impl RetryPolicy {
    /// The defaults ([`RetryPolicy::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// How long after Redis took a request, with no reply, it is sent again
    /// (and again after as long while no reply comes). Default 2 s. Set it
    /// above the time your handlers usually take: a copy sent while the
    /// first still runs is answered from it only by a deduping server.
    #[must_use]
    pub fn resend_after(mut self, after: Duration) -> Self {
        self.resend_after = after;
        self
    }

    /// How many copies of a request are sent at most, the first included
    /// (1: never sent again). Default 5.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The backoff after the first failed `XADD` of a call; it doubles after
    /// each further failure up to [`backoff_max`](Self::backoff_max).
    /// Default 50 ms.
    #[must_use]
    pub fn backoff_first(mut self, first: Duration) -> Self {
        self.backoff_first = first;
        self
    }

    /// The longest backoff between two failed `XADD`s of a call. Default 1 s.
    #[must_use]
    pub fn backoff_max(mut self, max: Duration) -> Self {
        self.backoff_max = max;
        self
    }

    /// Checks every setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.resend_after.is_zero() {
            return Err(ConfigError::ZeroDuration("RetryPolicy::resend_after"));
        }
        if self.backoff_first.is_zero() {
            return Err(ConfigError::ZeroDuration("RetryPolicy::backoff_first"));
        }
        if self.backoff_max.is_zero() {
            return Err(ConfigError::ZeroDuration("RetryPolicy::backoff_max"));
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::ZeroCount {
                setting: "RetryPolicy::max_attempts",
                why: "so no request would ever be sent (1 sends each request once, as without \
                      retries; default 5)",
            });
        }
        if self.backoff_max < self.backoff_first {
            return Err(ConfigError::RetryBackoffBelowFirst {
                first: self.backoff_first,
                max: self.backoff_max,
            });
        }
        Ok(())
    }

    /// The wait before the next copy of a request Redis took and nobody
    /// answered: `resend_after`, jittered up to 20 % longer (never sooner,
    /// so copies of many calls lost at once do not go in lockstep).
    pub(crate) fn next_resend(&self) -> Duration {
        self.resend_after
            .mul_f64(1.0 + 0.2 * crate::backoff::random_fraction())
    }

    /// The backoff between failed `XADD`s of one call.
    pub(crate) fn backoff(&self) -> crate::backoff::Backoff {
        crate::backoff::Backoff::new(self.backoff_first, self.backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented() {
        let p = RetryPolicy::default();
        assert_eq!(p, RetryPolicy::new());
        assert_eq!(p.resend_after, Duration::from_secs(2));
        assert_eq!(p.max_attempts, 5);
        assert_eq!(p.backoff_first, Duration::from_millis(50));
        assert_eq!(p.backoff_max, Duration::from_secs(1));
        p.validate().unwrap();
    }

    #[test]
    fn unusable_settings_say_what_to_set() {
        let zero = Duration::ZERO;
        for (p, name) in [
            (
                RetryPolicy::new().resend_after(zero),
                "RetryPolicy::resend_after",
            ),
            (
                RetryPolicy::new().backoff_first(zero),
                "RetryPolicy::backoff_first",
            ),
            (
                RetryPolicy::new().backoff_max(zero),
                "RetryPolicy::backoff_max",
            ),
        ] {
            let e = p.validate().unwrap_err();
            assert!(
                matches!(e, ConfigError::ZeroDuration(n) if n == name),
                "{e}"
            );
            assert!(e.to_string().contains("set a positive duration"), "{e}");
        }
        let e = RetryPolicy::new().max_attempts(0).validate().unwrap_err();
        assert!(matches!(e, ConfigError::ZeroCount { .. }), "{e}");
        assert!(e.to_string().contains("set at least 1"), "{e}");
        let e = RetryPolicy::new()
            .backoff_first(Duration::from_secs(2))
            .backoff_max(Duration::from_secs(1))
            .validate()
            .unwrap_err();
        assert!(
            matches!(e, ConfigError::RetryBackoffBelowFirst { .. }),
            "{e}"
        );
        assert!(e.to_string().contains("at least backoff_first"), "{e}");
        RetryPolicy::new().max_attempts(1).validate().unwrap();
    }

    #[test]
    fn resends_are_never_sooner_than_asked() {
        let p = RetryPolicy::new().resend_after(Duration::from_millis(100));
        for _ in 0..100 {
            let d = p.next_resend();
            assert!(d >= Duration::from_millis(100), "{d:?}");
            assert!(d <= Duration::from_millis(120), "{d:?}");
        }
    }
}
