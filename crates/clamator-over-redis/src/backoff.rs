//! Exponential backoff with jitter, for reconnecting after Redis went away.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The first delay after a failure.
pub(crate) const INITIAL: Duration = Duration::from_millis(100);
/// The longest delay between two attempts.
pub(crate) const MAX: Duration = Duration::from_secs(30);

/// Delays that double from `initial` up to `max`; each is jittered to between
/// 50 % and 100 % of its nominal value, so many loops that lost Redis at the
/// same moment do not come back in lockstep.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    /// The first nominal delay.
    initial: Duration,
    /// The cap on the nominal delay.
    max: Duration,
    /// The nominal delay the next call returns; `None` right after a reset.
    current: Option<Duration>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(INITIAL, MAX)
    }
}

impl Backoff {
    /// A backoff from `initial` up to `max`.
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            current: None,
        }
    }

    /// The delay to wait before the next attempt; each call doubles the next one.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let nominal = self.current.unwrap_or(self.initial);
        self.current = Some(nominal.saturating_mul(2).min(self.max));
        nominal.mul_f64(0.5 + random_fraction() / 2.0)
    }

    /// Starts over from `initial` (after a success).
    pub(crate) fn reset(&mut self) {
        self.current = None;
    }
}

/// A random fraction in `[0, 1)`, in steps of 1/1000: enough for jitter.
pub(crate) fn random_fraction() -> f64 {
    // A fresh RandomState is randomly keyed: a cheap source of jitter
    // that needs no RNG dependency.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (random % 1_000) as f64 / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1_000));
        let nominal = [100u64, 200, 400, 800, 1_000, 1_000];
        for n in nominal {
            let d = b.next_delay();
            assert!(
                d >= Duration::from_millis(n / 2),
                "{d:?} below half of {n} ms"
            );
            assert!(d <= Duration::from_millis(n), "{d:?} above {n} ms");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn defaults_are_100ms_to_30s() {
        let mut b = Backoff::default();
        for _ in 0..20 {
            b.next_delay();
        }
        let d = b.next_delay();
        assert!(d >= Duration::from_secs(15) && d <= Duration::from_secs(30));
    }
}
