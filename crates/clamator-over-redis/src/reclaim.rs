//! The reclaim loop of one service on one server: takes over entries another
//! consumer left pending too long (it crashed or hangs) and handles them like
//! fresh ones; an entry that has already been delivered `max_deliveries`
//! times goes to the dead-letter stream instead (see `dead_letter`).
//!
//! One pass:
//! 1. `XPENDING <stream> <group> IDLE <claim_idle_ms> - + <n>` (Redis 6.2+)
//!    lists the entries idle at least the claim idle time, with their owner
//!    and delivery count.
//! 2. Entries whose handler runs here are left alone: never claimed back, never
//!    dead-lettered. Entries delivered `max_deliveries` times are dead; of the
//!    others, as many as there are free handler slots are taken.
//! 3. `XCLAIM <stream> <group> <consumer> <claim_idle_ms> <ids...>` takes them
//!    over, each only if it is still idle that long: an entry another worker
//!    claimed or acknowledged meanwhile is not returned, so of several
//!    workers only one acts on an entry.
//! 4. Dead entries are dead-lettered; the others start like fresh ones.
//!
//! On the wire this is the peer's `XAUTOCLAIM <claim_idle_ms>` (the same idle
//! rule; a claim counts as a delivery), except that the delivery count is
//! known before claiming: an entry at the limit is never handed to a handler
//! again, and a running handler's own entry is not claimed back (which
//! `XAUTOCLAIM` would do, counting one more delivery).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::streams::StreamPendingCountReply;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::conn::ConnError;
use crate::dead_letter::DeadEntry;
use crate::entry::parse_entries;
use crate::worker::ServiceWorker;

/// The most entries one pass takes over to run (the peer's XAUTOCLAIM COUNT).
pub(crate) const MAX_COUNT: usize = 32;

/// Every `period`, once at least one handler slot is free, claims up to
/// min(32, free slots) idle entries to run, and dead-letters those at the
/// delivery limit.
#[derive(Debug)]
pub(crate) struct ReclaimLoop {
    /// The service reclaimed for.
    pub(crate) worker: Arc<ServiceWorker>,
    /// `max(1 s, consumer_claim_idle / 4)`.
    pub(crate) period: Duration,
    /// The idle time after which an entry is claimed.
    pub(crate) claim_idle: Duration,
    /// Deliveries after which an idle entry is dead-lettered; `None`: never.
    pub(crate) max_deliveries: Option<u32>,
    /// Fired by `stop()`.
    pub(crate) shutdown: CancellationToken,
}

/// What `XPENDING` said of one idle entry.
#[derive(Debug)]
struct Idle {
    /// Its delivery count so far.
    deliveries: usize,
    /// Its owner.
    consumer: String,
    /// Whether it reached `max_deliveries`.
    dead: bool,
}

impl ReclaimLoop {
    /// Runs until shutdown. Uses the shared connection: nothing here blocks.
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
            match self.pass(permits).await {
                Ok(()) => {}
                Err(e) if e.is_no_group() => w.recreate_group(&self.shutdown).await,
                Err(error) => {
                    tracing::warn!(service = %w.service, %error, "reclaiming failed; retrying next period");
                }
            }
        }
        tracing::debug!(service = %w.service, "reclaim loop stopped");
    }

    /// One pass with these free handler slots (unused ones are released on return).
    async fn pass(&self, mut permits: Vec<OwnedSemaphorePermit>) -> Result<(), ConnError> {
        let w = &self.worker;
        let limit = w.shared.command_timeout();
        let idle_ms = self.claim_idle.as_millis() as u64;
        // Our own running entries may be listed too (when their leases are not
        // renewed); ask for enough to see past them.
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(&w.stream)
            .arg(&w.group)
            .arg("IDLE")
            .arg(idle_ms)
            .arg("-")
            .arg("+")
            .arg(MAX_COUNT + w.in_flight_len());
        let listed: StreamPendingCountReply = w.shared.query(&cmd, limit).await?;
        let mut wanted: HashMap<String, Idle> = HashMap::new();
        // Claimed (and so dead-lettered) in stream order.
        let mut order = Vec::new();
        let mut live = 0;
        for p in listed.ids {
            if w.is_in_flight(&p.id) {
                continue; // its handler runs here: not abandoned, whatever its count
            }
            let dead = self
                .max_deliveries
                .is_some_and(|max| p.times_delivered >= max as usize);
            if !dead {
                if live == permits.len() {
                    continue; // no slot to run it: a later pass takes it
                }
                live += 1;
            }
            order.push(p.id.clone());
            wanted.insert(
                p.id,
                Idle {
                    deliveries: p.times_delivered,
                    consumer: p.consumer,
                    dead,
                },
            );
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(&w.stream)
            .arg(&w.group)
            .arg(&w.consumer)
            .arg(idle_ms);
        for id in &order {
            cmd.arg(id);
        }
        let claimed = match parse_entries(w.shared.query(&cmd, limit).await?) {
            Ok(claimed) => claimed,
            Err(error) => {
                // What we claimed stays pending with us and is claimed again later.
                tracing::warn!(service = %w.service, %error, "unreadable XCLAIM reply");
                return Ok(());
            }
        };
        let mut dead = Vec::new();
        for entry in claimed {
            let Some(idle) = wanted.remove(&entry.id) else {
                continue; // not asked for: never happens
            };
            if idle.dead {
                dead.push(DeadEntry {
                    entry,
                    deliveries: idle.deliveries,
                    last_consumer: idle.consumer,
                });
                continue;
            }
            let Some(permit) = permits.pop() else {
                continue; // never: one slot per live entry was counted
            };
            // The reclaim is logged in the entry's server span, which
            // links the caller's trace instead of continuing it.
            let mut entry = entry.into_entry();
            entry.deliveries = Some(idle.deliveries + 1);
            entry.reclaimed_from = Some(idle.consumer);
            if w.spawn(entry, permit) {
                w.metrics.reclaimed();
            }
        }
        if let Some(max) = self.max_deliveries {
            w.dead_letter(dead, max).await;
        }
        Ok(())
    }
}
