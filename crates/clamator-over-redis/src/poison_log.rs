//! [`PoisonLog`]: rate-limited warnings about entries a server drops (poison,
//! no envelope, and the like).
//!
//! Anyone who can write to a command stream can make a server drop entries; one
//! warning per entry would let them flood the logs (7,425 lines for 9,100
//! entries). Instead, the first few of each interval are logged in full, the
//! rest only counted per kind, and one summary line per interval gives the
//! counts.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// Entries logged in full per interval, by default.
pub(crate) const DEFAULT_FULL_PER_INTERVAL: usize = 5;
/// Length of an interval, by default.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Aggregates warnings about dropped (poison/abusive) entries of one service.
///
/// The first `full_per_interval` entries of an interval are logged in full
/// (service, entry id, kind, detail); later ones are only counted per kind,
/// and [`flush_if_due`](Self::flush_if_due) logs one summary line with the
/// counts once the interval is over. Time is tokio's clock, so tests can
/// pause and advance it.
#[derive(Debug)]
pub(crate) struct PoisonLog {
    /// The service whose entries these are, for every line.
    service: String,
    /// How many entries are logged in full per interval.
    full_per_interval: usize,
    /// Length of an interval.
    interval: Duration,
    /// The current interval; a std lock, held only to update counters (never
    /// while logging or across an await).
    state: Mutex<State>,
}

/// The current interval.
#[derive(Debug)]
struct State {
    /// When it began.
    started: Instant,
    /// Entries logged in full in it.
    logged: usize,
    /// Entries only counted in it, by kind (sorted, so the summary is deterministic).
    suppressed: BTreeMap<&'static str, u64>,
}

/// What the summary line of an interval says.
#[derive(Debug)]
struct Summary {
    /// `kind: count` pairs, by kind, comma-separated.
    suppressed: String,
    /// The sum of the counts.
    total: u64,
    /// How long the counts were gathered over.
    covered: Duration,
}

impl PoisonLog {
    /// A log for `service`: the first 5 entries of each 10 s interval in full.
    pub(crate) fn new(service: &str) -> Self {
        PoisonLog::with_limits(service, DEFAULT_FULL_PER_INTERVAL, DEFAULT_INTERVAL)
    }

    /// A log for `service` that logs the first `full_per_interval` entries of
    /// each `interval` in full (0: only summaries).
    pub(crate) fn with_limits(service: &str, full_per_interval: usize, interval: Duration) -> Self {
        PoisonLog {
            service: service.to_owned(),
            full_per_interval,
            interval,
            state: Mutex::new(State {
                started: Instant::now(),
                logged: 0,
                suppressed: BTreeMap::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a few counters, consistent after any panic: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records one dropped entry: logs it in full (tracing::warn!, with service,
    /// entry_id, kind, detail) while fewer than `full_per_interval` were logged
    /// in the current interval; otherwise only counts it per kind.
    ///
    /// An interval that is already over is closed first (its summary logged),
    /// so a late [`flush_if_due`](Self::flush_if_due) loses nothing.
    pub(crate) fn report(&self, entry_id: &str, kind: &'static str, detail: &dyn fmt::Display) {
        crate::metrics::poison(&self.service, kind);
        let (summary, full) = {
            let now = Instant::now();
            let mut state = self.state();
            let summary = self.roll_if_due(&mut state, now);
            let full = state.logged < self.full_per_interval;
            if full {
                state.logged += 1;
            } else {
                let count = state.suppressed.entry(kind).or_insert(0);
                *count = count.saturating_add(1);
            }
            (summary, full)
        };
        if let Some(summary) = summary {
            self.log_summary(&summary, "");
        }
        if full {
            tracing::warn!(service = %self.service, entry_id, kind, %detail,
                "dropped an entry (acked without running it)");
        }
    }

    /// If the interval is over and entries were suppressed, logs ONE summary
    /// warn line with the counts per kind and how long they cover, and starts
    /// a new interval. Cheap when nothing is due (a lock and a clock read);
    /// meant to be called about once a second by a server loop.
    pub(crate) fn flush_if_due(&self) {
        let summary = {
            let now = Instant::now();
            let mut state = self.state();
            self.roll_if_due(&mut state, now)
        };
        if let Some(summary) = summary {
            self.log_summary(&summary, "");
        }
    }

    /// Logs the summary of what is left, whether or not the interval is over
    /// (at server stop), and starts a new interval.
    pub(crate) fn flush(&self) {
        let summary = {
            let now = Instant::now();
            let mut state = self.state();
            Self::roll(&mut state, now)
        };
        if let Some(summary) = summary {
            self.log_summary(&summary, " (at stop)");
        }
    }

    /// Closes the interval if it is over; its summary, if it suppressed anything.
    fn roll_if_due(&self, state: &mut State, now: Instant) -> Option<Summary> {
        if now.saturating_duration_since(state.started) < self.interval {
            return None;
        }
        Self::roll(state, now)
    }

    /// Closes the interval and starts the next at `now`; its summary, if it
    /// suppressed anything.
    fn roll(state: &mut State, now: Instant) -> Option<Summary> {
        let covered = now.saturating_duration_since(state.started);
        state.started = now;
        state.logged = 0;
        let suppressed = std::mem::take(&mut state.suppressed);
        if suppressed.is_empty() {
            return None;
        }
        let total = suppressed
            .values()
            .fold(0u64, |sum, count| sum.saturating_add(*count));
        let suppressed = suppressed
            .iter()
            .map(|(kind, count)| format!("{kind}: {count}"))
            .collect::<Vec<_>>()
            .join(", ");
        Some(Summary {
            suppressed,
            total,
            covered,
        })
    }

    /// The one summary line of an interval.
    fn log_summary(&self, summary: &Summary, when: &str) {
        tracing::warn!(
            service = %self.service,
            suppressed = %summary.suppressed,
            total = summary.total,
            interval_ms = u64::try_from(summary.covered.as_millis()).unwrap_or(u64::MAX),
            "dropped entries not logged one by one{when} (acked without running them); \
             counts by kind"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    use super::*;

    /// One captured event: its fields as text, by name (`message` included).
    type Fields = BTreeMap<String, String>;

    /// Captures every WARN event.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Fields>>>);

    impl Capture {
        /// The events captured so far, emptying the list.
        fn take(&self) -> Vec<Fields> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    struct Record<'a>(&'a mut Fields);

    impl Visit for Record<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl<S: Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            if *event.metadata().level() == Level::WARN {
                let mut fields = Fields::new();
                event.record(&mut Record(&mut fields));
                self.0.lock().unwrap().push(fields);
            }
        }
    }

    /// Captures this thread's events until the guard drops.
    fn capture() -> (Capture, tracing::subscriber::DefaultGuard) {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        let guard = tracing::subscriber::set_default(subscriber);
        (capture, guard)
    }

    /// The `kind: count` pairs of a summary's `suppressed` field.
    fn counts(summary: &Fields) -> BTreeMap<String, u64> {
        summary["suppressed"]
            .split(", ")
            .map(|pair| {
                let (kind, count) = pair.split_once(": ").unwrap();
                (kind.to_owned(), count.parse().unwrap())
            })
            .collect()
    }

    const KINDS: [&str; 3] = ["not-json", "bad-reply-to", "no-envelope"];

    /// 9,100 entries: 7,000 not-json, 2,000 bad-reply-to, 100 no-envelope, in
    /// that order.
    fn flood(log: &PoisonLog) {
        for i in 0..9_100 {
            let kind = match i {
                0..7_000 => KINDS[0],
                7_000..9_000 => KINDS[1],
                _ => KINDS[2],
            };
            log.report(&format!("1-{i}"), kind, &"junk");
        }
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<PoisonLog>();
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_logs_five_lines_then_one_summary() {
        let (capture, _guard) = capture();
        let log = PoisonLog::new("arith");
        flood(&log);

        let full = capture.take();
        assert_eq!(full.len(), 5, "{full:?}");
        for (i, line) in full.iter().enumerate() {
            assert_eq!(line["service"], "arith");
            assert_eq!(line["entry_id"], format!("1-{i}"));
            assert_eq!(line["kind"], "not-json");
            assert_eq!(line["detail"], "junk");
        }

        // Within the interval nothing is due.
        tokio::time::advance(DEFAULT_INTERVAL - Duration::from_millis(1)).await;
        log.flush_if_due();
        assert!(capture.take().is_empty());

        tokio::time::advance(Duration::from_millis(1)).await;
        log.flush_if_due();
        let summary = capture.take();
        assert_eq!(summary.len(), 1, "{summary:?}");
        let summary = &summary[0];
        assert_eq!(summary["service"], "arith");
        assert_eq!(
            summary["suppressed"],
            "bad-reply-to: 2000, no-envelope: 100, not-json: 6995"
        );
        assert_eq!(counts(summary).values().sum::<u64>(), 9_095);
        assert_eq!(summary["total"], "9095");
        assert_eq!(summary["interval_ms"], "10000");

        // Flushed: nothing more is due, now or an interval later.
        log.flush_if_due();
        tokio::time::advance(DEFAULT_INTERVAL).await;
        log.flush_if_due();
        log.flush();
        assert!(capture.take().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_suppressed_means_no_summary_and_a_new_interval_logs_in_full_again() {
        let (capture, _guard) = capture();
        let log = PoisonLog::with_limits("svc", 2, Duration::from_secs(1));
        log.report("1-0", "not-json", &"x");
        log.report("1-1", "not-json", &"x");
        assert_eq!(capture.take().len(), 2);
        tokio::time::advance(Duration::from_secs(5)).await;
        log.flush_if_due();
        log.flush();
        assert!(capture.take().is_empty(), "no summary without suppression");

        // The interval was over: the next entries are logged in full again.
        log.report("1-2", "not-json", &"x");
        log.report("1-3", "not-json", &"x");
        log.report("1-4", "not-json", &"x");
        let lines = capture.take();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[1]["entry_id"], "1-3");
    }

    #[tokio::test(start_paused = true)]
    async fn flush_logs_what_is_left_before_the_interval_ends() {
        let (capture, _guard) = capture();
        let log = PoisonLog::new("arith");
        flood(&log);
        assert_eq!(capture.take().len(), 5);
        tokio::time::advance(Duration::from_secs(3)).await;
        log.flush_if_due();
        assert!(capture.take().is_empty(), "not due yet");

        log.flush();
        let left = capture.take();
        assert_eq!(left.len(), 1, "{left:?}");
        let expected: BTreeMap<String, u64> = [
            ("bad-reply-to".to_owned(), 2_000),
            ("no-envelope".to_owned(), 100),
            ("not-json".to_owned(), 6_995),
        ]
        .into();
        assert_eq!(counts(&left[0]), expected);
        assert_eq!(left[0]["interval_ms"], "3000");
        log.flush();
        assert!(capture.take().is_empty(), "a second flush has nothing left");
    }

    #[tokio::test(start_paused = true)]
    async fn a_report_after_the_interval_closes_it_first() {
        let (capture, _guard) = capture();
        let log = PoisonLog::with_limits("svc", 1, Duration::from_secs(1));
        log.report("1-0", "not-json", &"x");
        log.report("1-1", "bad-reply-to", &"y");
        assert_eq!(capture.take().len(), 1);

        // No flush_if_due in time: the next report logs the summary, then itself.
        tokio::time::advance(Duration::from_secs(2)).await;
        log.report("1-2", "not-json", &"z");
        let lines = capture.take();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["suppressed"], "bad-reply-to: 1");
        assert_eq!(lines[1]["entry_id"], "1-2");
    }

    #[tokio::test(start_paused = true)]
    async fn zero_full_lines_gives_only_summaries() {
        let (capture, _guard) = capture();
        let log = PoisonLog::with_limits("svc", 0, Duration::from_secs(1));
        for i in 0..10 {
            log.report(&format!("1-{i}"), "not-json", &"x");
        }
        assert!(capture.take().is_empty());
        tokio::time::advance(Duration::from_secs(1)).await;
        log.flush_if_due();
        let lines = capture.take();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["suppressed"], "not-json: 10");
    }
}
