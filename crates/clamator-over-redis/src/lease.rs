//! Lease renewal: keeps the entries whose handlers run here from looking
//! abandoned, so a long handler is not reclaimed and run a second time by
//! another worker.
//!
//! A pending entry's idle time is what reclaim loops (the peer's `XAUTOCLAIM`,
//! our `XPENDING IDLE` and `XCLAIM`)
//! compares with `consumer_claim_idle`. While a handler runs, this loop resets
//! it every `consumer_claim_idle / 3` with
//! `XCLAIM <stream> <group> <own consumer> 0 <ids...> JUSTID`, which keeps the
//! owner and does not count as a delivery, for the entries still pending with
//! this worker's consumer (`XPENDING ... <consumer>` first: `XCLAIM` would
//! also take back an entry another worker reclaimed meanwhile). If this server dies the renewals
//! stop, and the entries are reclaimed as usual. The Python peer has no such
//! loop: there a handler longer than the claim idle runs twice.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::worker::ServiceWorker;

/// The renewal loop of one service on one server.
#[derive(Debug)]
pub(crate) struct LeaseLoop {
    /// The service whose in-flight entries are renewed.
    pub(crate) worker: Arc<ServiceWorker>,
    /// How often: a third of the claim idle time, so two renewals can fail
    /// before another worker may take an entry over.
    pub(crate) period: Duration,
    /// Fired by `stop()`.
    pub(crate) shutdown: CancellationToken,
}

impl LeaseLoop {
    /// Runs until shutdown, on the shared connection (XCLAIM never blocks).
    pub(crate) async fn run(self) {
        let w = Arc::clone(&self.worker);
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + self.period, self.period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            match w.renew_leases().await {
                Ok(renewed) => tracing::trace!(service = %w.service, renewed, "leases renewed"),
                Err(error) => tracing::warn!(service = %w.service, %error,
                    "renewing the leases of running handlers failed; another worker may \
                     reclaim them if this persists past consumer_claim_idle"),
            }
        }
        tracing::debug!(service = %w.service, "lease loop stopped");
    }
}
