//! The decisions of the shared connection's reconnect state machine, kept
//! free of I/O so they can be tested without a Redis:
//! - [`Slot`]: the connection, tagged with the generation it was opened as,
//!   or why there is none and when the next connect is allowed;
//! - [`retry_once`]: whether a failed command runs again on a fresh connection;
//! - [`replace_after_silence`]: whether a command that got no answer takes
//!   its connection down with it.
//!
//! [`SharedConn`](super::SharedConn) owns the locks, the clock and the
//! backoff; it asks these what to do.

use tokio::time::Instant;

use super::ConnError;

/// What the shared connection holds. Generic over the connection so tests
/// use a stand-in; [`SharedConn`](super::SharedConn) holds a [`Conn`](super::Conn).
#[derive(Debug)]
pub(super) enum Slot<C> {
    /// Connected; the generation tells a stale failure report from a fresh one.
    Up {
        /// Which connect opened it (1 for the first).
        generation: u64,
        /// The connection.
        conn: C,
    },
    /// Not connected; the next connect is allowed at `retry_at`.
    Down {
        /// `None`: connect at the next command (never connected, or the
        /// connection just broke); `Some`: a connect failed, wait until then.
        retry_at: Option<Instant>,
        /// What the last connect or the broken connection said.
        last_error: String,
    },
}

impl<C: Clone> Slot<C> {
    /// Not connected yet: the first command connects.
    pub(super) fn new() -> Self {
        Slot::Down {
            retry_at: None,
            last_error: String::new(),
        }
    }

    /// The current connection, if up; otherwise why not (`Ok(None)`: try
    /// to connect now). `now` is read only while a wait after a failed
    /// connect is pending, so the common path never reads the clock.
    pub(super) fn current(
        &self,
        now: impl FnOnce() -> Instant,
    ) -> Result<Option<(u64, C)>, ConnError> {
        match self {
            Slot::Up { generation, conn } => Ok(Some((*generation, conn.clone()))),
            Slot::Down {
                retry_at: Some(at),
                last_error,
            } => {
                let now = now();
                if *at > now {
                    Err(ConnError::Unreachable {
                        last_error: last_error.clone(),
                        retry_in: *at - now,
                    })
                } else {
                    Ok(None)
                }
            }
            Slot::Down { retry_at: None, .. } => Ok(None),
        }
    }

    /// A connect succeeded: `conn`, opened as `generation`, is current.
    pub(super) fn opened(&mut self, generation: u64, conn: C) {
        *self = Slot::Up { generation, conn };
    }

    /// A connect failed: commands are refused until `retry_at`.
    pub(super) fn failed(&mut self, retry_at: Instant, error: &ConnError) {
        *self = Slot::Down {
            retry_at: Some(retry_at),
            last_error: error.to_string(),
        };
    }

    /// Connection `generation` failed with `error`: drops it so the next
    /// command connects at once, unless another connection replaced it
    /// already (a late report about an old connection must not take the
    /// new one down). Returns whether it was dropped.
    pub(super) fn invalidate(&mut self, generation: u64, error: &ConnError) -> bool {
        if matches!(self, Slot::Up { generation: g, .. } if *g == generation) {
            *self = Slot::Down {
                retry_at: None,
                last_error: error.to_string(),
            };
            return true;
        }
        false
    }
}

/// Whether a command that failed with `error` runs once more on a fresh
/// connection: only once (`retried` tells), only when the command surely
/// never ran (the connection dropped, or the node refused it as a replica),
/// and only while its time is not up.
pub(super) fn retry_once(error: &ConnError, retried: bool, time_left: bool) -> bool {
    !retried && error.is_dropped_connection() && time_left
}

/// Whether a command that got no answer takes its connection down: only
/// when Redis was silent (not when the caller's own deadline ended the
/// wait), for a whole command timeout (`full_bound`; a caller's shorter
/// limit says nothing about the connection), on a connection it actually
/// ran on (`generation` 0: it never got one).
pub(super) fn replace_after_silence(silent: bool, generation: u64, full_bound: bool) -> bool {
    silent && generation != 0 && full_bound
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use redis::{ErrorKind, RedisError};

    use super::*;

    /// A connection stand-in: only its identity matters here.
    type Fake = &'static str;

    fn refused() -> ConnError {
        ConnError::Redis(RedisError::from(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )))
    }

    fn dropped() -> ConnError {
        ConnError::Redis(RedisError::from(std::io::Error::from(
            std::io::ErrorKind::BrokenPipe,
        )))
    }

    #[test]
    fn a_new_slot_connects_at_the_first_command() {
        let slot = Slot::<Fake>::new();
        let got = slot.current(|| panic!("no clock read when nothing is pending"));
        assert!(matches!(got, Ok(None)), "{got:?}");
    }

    #[test]
    fn an_open_connection_is_handed_out_without_reading_the_clock() {
        let mut slot = Slot::new();
        slot.opened(1, "first");
        let got = slot.current(|| panic!("the fast path must not read the clock"));
        assert!(matches!(got, Ok(Some((1, "first")))), "{got:?}");
    }

    #[test]
    fn a_failed_connect_refuses_commands_until_its_retry_time() {
        let start = Instant::now();
        let mut slot = Slot::<Fake>::new();
        slot.failed(start + Duration::from_millis(300), &refused());

        let early = slot.current(|| start + Duration::from_millis(100));
        match early {
            Err(ConnError::Unreachable {
                last_error,
                retry_in,
            }) => {
                assert_eq!(retry_in, Duration::from_millis(200));
                assert_eq!(last_error, refused().to_string());
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
        // Once the wait is over, the next command tries to connect.
        let due = slot.current(|| start + Duration::from_millis(300));
        assert!(matches!(due, Ok(None)), "{due:?}");
        let late = slot.current(|| start + Duration::from_secs(5));
        assert!(matches!(late, Ok(None)), "{late:?}");
    }

    #[test]
    fn the_unreachable_error_says_what_failed_and_when_it_retries() {
        let start = Instant::now();
        let mut slot = Slot::<Fake>::new();
        slot.failed(start + Duration::from_millis(750), &refused());
        let Err(e) = slot.current(|| start) else {
            panic!("expected an error");
        };
        let text = e.to_string();
        assert!(text.contains("unreachable"), "{text}");
        assert!(text.contains("retrying in 750 ms"), "{text}");
        assert!(
            e.is_transient(),
            "waiting out a failed connect is transient"
        );
    }

    #[test]
    fn a_broken_connection_is_dropped_and_the_next_command_reconnects_at_once() {
        let mut slot = Slot::new();
        slot.opened(1, "first");
        assert!(slot.invalidate(1, &dropped()));
        let got = slot.current(|| panic!("no wait after a broken connection"));
        assert!(matches!(got, Ok(None)), "{got:?}");
    }

    #[test]
    fn a_late_failure_of_an_old_generation_leaves_the_new_connection_alone() {
        let mut slot = Slot::new();
        slot.opened(1, "first");
        assert!(slot.invalidate(1, &dropped()));
        slot.opened(2, "second");
        // A command that ran on generation 1 reports its failure late.
        assert!(!slot.invalidate(1, &dropped()));
        let got = slot.current(Instant::now);
        assert!(matches!(got, Ok(Some((2, "second")))), "{got:?}");
        // Reporting twice about the current one drops it once.
        assert!(slot.invalidate(2, &dropped()));
        assert!(!slot.invalidate(2, &dropped()));
    }

    #[test]
    fn invalidating_while_down_keeps_the_wait_after_a_failed_connect() {
        let start = Instant::now();
        let mut slot = Slot::<Fake>::new();
        slot.failed(start + Duration::from_secs(1), &refused());
        assert!(!slot.invalidate(0, &dropped()));
        assert!(slot.current(|| start).is_err());
    }

    #[test]
    fn a_dropped_connection_is_retried_once_while_time_is_left() {
        let e = dropped();
        assert!(retry_once(&e, false, true));
        assert!(!retry_once(&e, true, true), "only once");
        assert!(!retry_once(&e, false, false), "not when time is up");
    }

    #[test]
    fn a_command_that_may_have_run_is_not_retried() {
        // Silence: the command may have run; a retry could run it twice.
        assert!(!retry_once(
            &ConnError::TimedOut(Duration::from_secs(1)),
            false,
            true
        ));
        // A refusal: a retry gets the same answer.
        let refusal = RedisError::from((ErrorKind::AuthenticationFailed, "WRONGPASS"));
        assert!(!retry_once(&ConnError::Redis(refusal), false, true));
        // While a wait after a failed connect runs, the command fails at
        // once. (A refused connect itself counts as a dropped connection and
        // is retried once; that retry meets this wait.)
        assert!(retry_once(&refused(), false, true));
        let unreachable = ConnError::Unreachable {
            last_error: String::new(),
            retry_in: Duration::ZERO,
        };
        assert!(!retry_once(&unreachable, false, true));
    }

    #[test]
    fn only_silence_for_a_whole_command_timeout_replaces_the_connection() {
        assert!(replace_after_silence(true, 3, true));
        assert!(
            !replace_after_silence(false, 3, true),
            "the caller's deadline ended the wait"
        );
        assert!(
            !replace_after_silence(true, 3, false),
            "a shorter limit of the caller's own"
        );
        assert!(
            !replace_after_silence(true, 0, true),
            "it never got a connection"
        );
    }
}
