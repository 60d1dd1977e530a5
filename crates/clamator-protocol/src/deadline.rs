//! When a request is no longer worth running: its caller sent the time it
//! waits (a Rust client's `timeout-ms`), and that time has passed. Running it
//! would only produce a reply nobody reads. Every transport that can see a
//! request's age applies this one rule.

use std::time::Duration;

/// How long past its caller's deadline a request must be before it is
/// skipped: covers the time the caller's own timer takes to fire and small
/// errors in measuring the broker's clock.
pub const EXPIRY_SLACK: Duration = Duration::from_millis(500);

/// Whether the caller of a request sent at `sent_ms` (ms since the epoch, on
/// the broker's clock), that waits `timeout_ms`, has given up at `now_ms` (on
/// the same clock): more than [`EXPIRY_SLACK`] after its deadline.
pub fn caller_gave_up(sent_ms: u64, timeout_ms: u64, now_ms: u64) -> bool {
    let slack = u64::try_from(EXPIRY_SLACK.as_millis()).unwrap_or(u64::MAX);
    now_ms > sent_ms.saturating_add(timeout_ms).saturating_add(slack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_gives_up_only_past_its_deadline_and_the_slack() {
        assert!(!caller_gave_up(1_000, 2_000, 3_000));
        assert!(!caller_gave_up(1_000, 2_000, 3_500));
        assert!(caller_gave_up(1_000, 2_000, 3_501));
        assert!(!caller_gave_up(u64::MAX, u64::MAX, u64::MAX));
    }
}
