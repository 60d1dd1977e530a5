//! The reclaim loop of one service on one server: takes over entries another
//! consumer left pending too long (it crashed or hangs) with `XAUTOCLAIM`, and
//! handles them like fresh ones.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::entry::parse_autoclaim;
use crate::worker::ServiceWorker;

/// The most entries one claim takes (the peer's COUNT).
pub(crate) const MAX_COUNT: usize = 32;

/// Every `period`, `XAUTOCLAIM <stream> <service> <consumer> <claim_idle_ms> 0-0 COUNT n`
/// with n = min(32, free handler slots), once at least one slot is free.
#[derive(Debug)]
pub(crate) struct ReclaimLoop {
    /// The service reclaimed for.
    pub(crate) worker: Arc<ServiceWorker>,
    /// `max(1 s, consumer_claim_idle / 4)`.
    pub(crate) period: Duration,
    /// The idle time after which an entry is claimed.
    pub(crate) claim_idle: Duration,
    /// Fired by `stop()`.
    pub(crate) shutdown: CancellationToken,
}

impl ReclaimLoop {
    /// Runs until shutdown. Uses the shared connection: XAUTOCLAIM never blocks.
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
            // Wait for one free slot (claiming more than we can start would
            // strand entries), then take what else is free. The semaphore is
            // fair, so a consumer loop parked on all the slots of a small pool
            // hands one over when its read returns.
            let first = tokio::select! {
                () = self.shutdown.cancelled() => break,
                permit = w.slots.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break, // semaphore closed: the server is going away
                },
            };
            let mut permits = vec![first];
            permits.extend(w.try_take_slots(MAX_COUNT - 1));
            let mut cmd = redis::cmd("XAUTOCLAIM");
            cmd.arg(&w.stream)
                .arg(&w.group)
                .arg(&w.consumer)
                .arg(self.claim_idle.as_millis() as u64)
                .arg("0-0")
                .arg("COUNT")
                .arg(permits.len());
            match w
                .shared
                .query::<redis::Value>(&cmd, w.shared.command_timeout())
                .await
            {
                Ok(reply) => match parse_autoclaim(reply) {
                    Ok(entries) => {
                        for entry in entries {
                            let Some(permit) = permits.pop() else { break };
                            let id = entry.id.clone();
                            if w.spawn(entry, permit) {
                                tracing::info!(service = %w.service, entry_id = %id,
                                    "reclaimed an entry left pending too long; handling it");
                            }
                        }
                    }
                    Err(error) => {
                        tracing::warn!(service = %w.service, %error, "unreadable XAUTOCLAIM reply");
                    }
                },
                Err(e) if e.is_no_group() => w.recreate_group(&self.shutdown).await,
                Err(error) => {
                    tracing::warn!(service = %w.service, %error, "XAUTOCLAIM failed; retrying next period");
                }
            }
        }
        tracing::debug!(service = %w.service, "reclaim loop stopped");
    }
}
