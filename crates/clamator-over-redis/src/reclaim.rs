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

use crate::conn::{ConnError, SharedConn};
use crate::dead_letter::{DeadEntry, DeadLetters};
use crate::entry::parse_entries;
use crate::group;
use crate::health::{Monitor, ServerLoop};
use crate::periodic::{Flow, Loudness, Periodic, Subject};
use crate::pool::HandlerPool;
use crate::service_keys::ServiceKeys;

/// The most entries one pass takes over to run (the peer's XAUTOCLAIM COUNT).
pub(crate) const MAX_COUNT: usize = 32;

/// Every period (`max(1 s, consumer_claim_idle / 4)`), once at least one
/// handler slot is free, claims up to min(32, free slots) idle entries to
/// run, and dead-letters those at the delivery limit. Run by
/// [`crate::periodic::run`], on the shared connection: nothing here blocks.
#[derive(Debug)]
pub(crate) struct ReclaimLoop {
    /// The service's stream, group and consumer.
    pub(crate) keys: Arc<ServiceKeys>,
    /// `XPENDING` and `XCLAIM` go over the shared connection.
    pub(crate) shared: Arc<SharedConn>,
    /// Where claimed entries run.
    pub(crate) pool: Arc<HandlerPool>,
    /// The idle time after which an entry is claimed.
    pub(crate) claim_idle: Duration,
    /// Where entries at the delivery limit go; `None`: redelivered forever.
    pub(crate) dead_letters: Option<Arc<DeadLetters>>,
    /// The fault-injection hook.
    pub(crate) monitor: Arc<Monitor>,
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

impl Periodic for ReclaimLoop {
    const NAME: &'static str = "reclaim";
    const LOUDNESS: Loudness = Loudness::Loud;
    const FAILED: &'static str = "reclaiming failed; retrying next period";

    fn subject(&self) -> Subject<'_> {
        Subject::Service(&self.keys.service)
    }

    async fn tick(&mut self, shutdown: &CancellationToken) -> Result<Flow, ConnError> {
        self.monitor.trip(ServerLoop::Reclaim);
        // Wait for one free slot (claiming more than we can start would
        // strand entries), then take what else is free. The semaphore is
        // fair, so a consumer loop parked on all the slots of a small pool
        // hands one over when its read returns.
        let Some(first) = self.pool.take_slot(shutdown).await else {
            return Ok(Flow::Stop);
        };
        let mut permits = vec![first];
        permits.extend(self.pool.try_take_slots(MAX_COUNT - 1));
        match self.pass(permits).await {
            Err(e) if e.is_no_group() => {
                group::recreate(&self.keys, &self.shared, &self.monitor, shutdown).await;
                Ok(Flow::Continue)
            }
            other => other.map(|()| Flow::Continue),
        }
    }
}

impl ReclaimLoop {
    /// One pass with these free handler slots (unused ones are released on return).
    async fn pass(&self, mut permits: Vec<OwnedSemaphorePermit>) -> Result<(), ConnError> {
        let (wanted, order) = self.list_idle(permits.len()).await?;
        if wanted.is_empty() {
            return Ok(());
        }
        let k = &self.keys;
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(&k.stream)
            .arg(&k.group)
            .arg(&k.consumer)
            .arg(self.claim_idle.as_millis() as u64);
        for id in &order {
            cmd.arg(id);
        }
        let limit = self.shared.command_timeout();
        let claimed = match parse_entries(self.shared.query(&cmd, limit).await?) {
            Ok(claimed) => claimed,
            Err(error) => {
                // What we claimed stays pending with us and is claimed again later.
                tracing::warn!(service = %k.service, %error, "unreadable XCLAIM reply");
                return Ok(());
            }
        };
        let mut wanted = wanted;
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
            if self.pool.spawn(entry, permit) {
                self.pool.worker().metrics().reclaimed();
            }
        }
        if let Some(dead_letters) = &self.dead_letters {
            dead_letters.bury(dead).await;
        }
        Ok(())
    }

    /// `XPENDING <stream> <group> IDLE <claim idle> - + <n>`: the idle entries
    /// to claim, by id, and their ids in stream order (claimed, and so
    /// dead-lettered, in that order): every dead one, and as many live ones
    /// as there are `slots`.
    async fn list_idle(
        &self,
        slots: usize,
    ) -> Result<(HashMap<String, Idle>, Vec<String>), ConnError> {
        let k = &self.keys;
        let max_deliveries = self.dead_letters.as_ref().map(|d| d.max_deliveries);
        // Our own running entries may be listed too (when their leases are not
        // renewed); ask for enough to see past them.
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(&k.stream)
            .arg(&k.group)
            .arg("IDLE")
            .arg(self.claim_idle.as_millis() as u64)
            .arg("-")
            .arg("+")
            .arg(MAX_COUNT + self.pool.in_flight_len());
        let listed: StreamPendingCountReply = self
            .shared
            .query(&cmd, self.shared.command_timeout())
            .await?;
        let mut wanted: HashMap<String, Idle> = HashMap::new();
        let mut order = Vec::new();
        let mut live = 0;
        for p in listed.ids {
            if self.pool.is_in_flight(&p.id) {
                continue; // its handler runs here: not abandoned, whatever its count
            }
            let dead = max_deliveries.is_some_and(|max| p.times_delivered >= max as usize);
            if !dead {
                if live == slots {
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
        Ok((wanted, order))
    }
}
