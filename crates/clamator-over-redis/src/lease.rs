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

use crate::conn::{ConnError, SharedConn};
use crate::health::{Monitor, ServerLoop};
use crate::periodic::{Flow, Loudness, Periodic, Subject};
use crate::pool::HandlerPool;
use crate::service_keys::ServiceKeys;

/// The most entry ids one `XCLAIM` names.
const MAX_CLAIM_IDS: usize = 256;

/// The leases of one service's running handlers: renewed while they run,
/// handed over when they are abandoned at stop.
#[derive(Debug, Clone)]
pub(crate) struct Leases {
    /// The service's stream, group and consumer.
    pub(crate) keys: Arc<ServiceKeys>,
    /// `XPENDING` and `XCLAIM` go over the shared connection (they never block).
    pub(crate) shared: Arc<SharedConn>,
    /// Whose entries: the handlers running here.
    pub(crate) pool: Arc<HandlerPool>,
}

impl Leases {
    /// `XCLAIM <stream> <group> <own consumer> 0 <ids...> [IDLE <ms>] JUSTID`,
    /// up to [`MAX_CLAIM_IDS`] ids per command: keeps entries pending with
    /// this consumer and sets their idle time (0 without `idle`). Neither a
    /// delivery nor a read. Stops at the first failure and returns it.
    async fn reset_idle(&self, ids: &[String], idle: Option<Duration>) -> Result<(), ConnError> {
        let k = &self.keys;
        for chunk in ids.chunks(MAX_CLAIM_IDS) {
            let mut cmd = redis::cmd("XCLAIM");
            cmd.arg(&k.stream).arg(&k.group).arg(&k.consumer).arg(0);
            for id in chunk {
                cmd.arg(id);
            }
            if let Some(idle) = idle {
                cmd.arg("IDLE").arg(idle.as_millis() as u64);
            }
            cmd.arg("JUSTID");
            self.shared
                .query::<redis::Value>(&cmd, self.shared.command_timeout())
                .await?;
        }
        Ok(())
    }

    /// Which of `ids` are still pending with this worker's consumer: an entry
    /// another worker reclaimed (this process was frozen past the claim idle)
    /// is no longer ours, and renewing or handing it over would take it back.
    /// One `XPENDING <stream> <group> <id> <id> 1 <consumer>` per id, in one
    /// pipeline. (Between this check and the `XCLAIM` that follows, another
    /// worker could still take an entry; that needs the entry idle for the
    /// whole claim idle, which the renewals prevent.)
    async fn still_owned(&self, ids: &[String]) -> Result<Vec<String>, ConnError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let k = &self.keys;
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("XPENDING")
                .arg(&k.stream)
                .arg(&k.group)
                .arg(id)
                .arg(id)
                .arg(1)
                .arg(&k.consumer);
        }
        let replies: Vec<redis::Value> = self
            .shared
            .query_pipeline(&pipe, self.shared.command_timeout())
            .await?;
        Ok(ids
            .iter()
            .zip(replies)
            .filter(|(_, reply)| matches!(reply, redis::Value::Array(rows) if !rows.is_empty()))
            .map(|(id, _)| id.clone())
            .collect())
    }

    /// Renews the leases of the running handlers' entries this worker still
    /// owns (idle time reset to 0); warns about those it lost.
    pub(crate) async fn renew(&self) -> Result<usize, ConnError> {
        let service = &self.keys.service;
        let ids = self.pool.in_flight_ids();
        let owned = self.still_owned(&ids).await?;
        if owned.len() < ids.len() {
            let lost: Vec<&String> = ids.iter().filter(|id| !owned.contains(id)).collect();
            tracing::warn!(%service, ?lost,
                "entries whose handlers run here were taken over by another worker (this \
                 process or Redis was frozen past consumer_claim_idle): they may run twice; \
                 their leases are no longer renewed");
            for id in lost {
                self.pool.in_span(id, || {
                    tracing::warn!(%service, entry_id = %id,
                    "lease lost: another worker took this entry over; it may run twice")
                });
            }
        }
        self.reset_idle(&owned, None).await?;
        // The dedupe claims of the handlers running here, too.
        if let Some(dedupe) = self.pool.worker().dedupe() {
            dedupe.renew().await;
        }
        for id in &owned {
            self.pool.in_span(
                id,
                || tracing::debug!(%service, entry_id = %id, "lease renewed"),
            );
        }
        Ok(owned.len())
    }

    /// Hands entries whose handlers were abandoned at shutdown over to the
    /// other workers: marks them idle for the claim idle time, so the next
    /// reclaim pass of any worker (Rust or Python) takes them at once instead
    /// of a claim idle later. Best effort: on failure they are reclaimed after
    /// the claim idle as usual.
    pub(crate) async fn hand_over(&self, ids: &[String], claim_idle: Duration) {
        let service = &self.keys.service;
        let owned = match self.still_owned(ids).await {
            Ok(owned) => owned,
            Err(error) => {
                tracing::warn!(%service, %error, entries = ids.len(),
                    "handing abandoned entries over failed; they are reclaimed after \
                     consumer_claim_idle instead");
                return;
            }
        };
        let ids = owned.as_slice();
        match self.reset_idle(ids, Some(claim_idle)).await {
            Ok(()) => tracing::info!(%service, entries = ids.len(),
                "abandoned entries handed over: other workers reclaim them at their next pass"),
            Err(error) => tracing::warn!(%service, %error, entries = ids.len(),
                "handing abandoned entries over failed; they are reclaimed after \
                 consumer_claim_idle instead"),
        }
    }
}

/// The renewal loop of one service on one server, run by [`crate::periodic::run`]
/// every third of the claim idle time, so two renewals can fail before
/// another worker may take an entry over.
#[derive(Debug)]
pub(crate) struct LeaseLoop {
    /// The leases renewed.
    pub(crate) leases: Leases,
    /// The fault-injection hook.
    pub(crate) monitor: Arc<Monitor>,
}

impl Periodic for LeaseLoop {
    const NAME: &'static str = "lease";
    const LOUDNESS: Loudness = Loudness::Loud;
    const FAILED: &'static str = "renewing the leases of running handlers failed; another \
        worker may reclaim them if this persists past consumer_claim_idle";

    fn subject(&self) -> Subject<'_> {
        Subject::Service(&self.leases.keys.service)
    }

    async fn tick(&mut self, _shutdown: &CancellationToken) -> Result<Flow, ConnError> {
        self.monitor.trip(ServerLoop::Lease);
        let renewed = self.leases.renew().await?;
        tracing::trace!(service = %self.leases.keys.service, renewed, "leases renewed");
        Ok(Flow::Continue)
    }
}
