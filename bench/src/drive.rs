//! Driving calls at a concurrency: one tokio task per call slot, each owning
//! a [`Caller`], taking call numbers from a shared counter until none is left.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::cpu::CpuProbe;
use super::progress::Progress;
use super::stats::{Measurement, Tally};

/// Makes one call at a time (a task's worth of state: connections, streams).
pub(crate) trait Caller: Send + 'static {
    /// Makes call number `n` and checks its answer; `Err` says what went wrong.
    fn call(&mut self, n: usize) -> impl Future<Output = Result<(), String>> + Send;
}

/// Calls in flight right now and the most seen at once, shared by the tasks.
#[derive(Debug, Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

/// Warm-up calls made per extra round while the minimum warm-up time is not over.
const EXTRA_WARMUP_ROUND: usize = 200;

/// Runs `warmup` unmeasured calls (more, uncounted, until `min_warmup` has
/// passed), then `calls` measured ones, with one task per caller (so the
/// concurrency is `callers.len()`); hands the callers back. `cpu` is read
/// right before and right after the measured calls.
///
/// The minimum time is there because the first seconds of a run were seen
/// to be slower whatever the call count (p50 about 1.4x), which made the
/// first pair measured look worse than the second.
pub(crate) async fn drive<C: Caller>(
    callers: Vec<C>,
    warmup: usize,
    min_warmup: Duration,
    calls: usize,
    progress: &Progress,
    cpu: &CpuProbe,
) -> (Vec<C>, Measurement) {
    let warm_start = Instant::now();
    let (mut callers, _) = round(callers, warmup, Some(progress)).await;
    let mut made = warmup;
    while warm_start.elapsed() < min_warmup {
        callers = round(callers, EXTRA_WARMUP_ROUND, None).await.0;
        made += EXTRA_WARMUP_ROUND;
    }
    let cpu_before = cpu.sample();
    let started = Instant::now();
    let (callers, tally) = round(callers, calls, Some(progress)).await;
    let elapsed = started.elapsed();
    let cpu_after = cpu.sample();
    let mut m = tally.into_measurement(calls, elapsed);
    m.cpu = Some(CpuProbe::cost(&cpu_before, &cpu_after, calls));
    m.calls_made = made + calls;
    (callers, m)
}

/// One round of `calls` calls spread over the callers, counted on `progress` if given.
async fn round<C: Caller>(
    callers: Vec<C>,
    calls: usize,
    progress: Option<&Progress>,
) -> (Vec<C>, Tally) {
    let next = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(InFlight::default());
    let mut tasks = Vec::with_capacity(callers.len());
    for mut caller in callers {
        let next = Arc::clone(&next);
        let in_flight = Arc::clone(&in_flight);
        let done = progress.map(Progress::counter);
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= calls {
                    break;
                }
                let now = in_flight.now.fetch_add(1, Ordering::Relaxed) + 1;
                in_flight.max.fetch_max(now, Ordering::Relaxed);
                let t0 = Instant::now();
                let result = caller.call(n).await;
                let took = t0.elapsed();
                in_flight.now.fetch_sub(1, Ordering::Relaxed);
                match result {
                    Ok(()) => tally
                        .latencies_ns
                        .push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX)),
                    Err(e) => tally.fail(e),
                }
                if let Some(done) = &done {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            (caller, tally)
        }));
    }
    let mut callers = Vec::with_capacity(tasks.len());
    let mut total = Tally::default();
    for task in tasks {
        match task.await {
            Ok((caller, tally)) => {
                callers.push(caller);
                total.merge(tally);
            }
            Err(e) => total.fail(format!("a benchmark task failed: {e}")),
        }
    }
    total.max_in_flight = in_flight.max.load(Ordering::Relaxed);
    (callers, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails every third call, sleeps a little otherwise.
    struct Flaky;

    impl Caller for Flaky {
        async fn call(&mut self, n: usize) -> Result<(), String> {
            tokio::task::yield_now().await;
            if n.is_multiple_of(3) {
                Err(format!("call {n} failed"))
            } else {
                Ok(())
            }
        }
    }

    #[tokio::test]
    async fn drives_every_call_once_at_the_concurrency() {
        let progress = Progress::hidden(0);
        let callers: Vec<Flaky> = (0..4).map(|_| Flaky).collect();
        let cpu = CpuProbe {
            client_is_self: true,
            server: None,
            redis: None,
        };
        let (callers, m) = drive(callers, 5, Duration::ZERO, 30, &progress, &cpu).await;
        assert_eq!(callers.len(), 4);
        assert_eq!(m.calls, 30);
        assert_eq!(m.errors, 10, "calls 0, 3, ..., 27 fail");
        assert!(m.first_error.is_some());
        assert!(m.max_in_flight >= 1 && m.max_in_flight <= 4);
        assert_eq!(progress.done(), 35, "warm-up calls count as progress too");
        assert_eq!(m.calls_made, 35);
        let cpu = m.cpu.unwrap();
        assert!(cpu.client_us_per_call.is_some() && cpu.server_us_per_call.is_none());
    }

    #[tokio::test]
    async fn warms_up_for_the_minimum_time() {
        let progress = Progress::hidden(0);
        let started = Instant::now();
        let cpu = CpuProbe {
            client_is_self: true,
            server: None,
            redis: None,
        };
        let (_, m) = drive(
            vec![Flaky],
            1,
            Duration::from_millis(50),
            3,
            &progress,
            &cpu,
        )
        .await;
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(m.calls, 3);
        assert_eq!(progress.done(), 4, "extra warm-up rounds are not counted");
    }
}
