//! The consumer loop of one service on one server: reads new entries of the
//! command stream with `XREADGROUP` on a connection of its own and starts a
//! handler for each.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::conn::{BlockingConn, SharedConn};
use crate::entry::parse_read;
use crate::group;
use crate::health::{Monitor, ServerLoop};
use crate::pool::HandlerPool;
use crate::service_keys::ServiceKeys;

/// How long one read blocks by default (`Timing::block`): short, so a stop
/// that could not unblock it stays prompt.
pub(crate) const BLOCK: Duration = Duration::from_millis(1_000);
/// The most entries one read fetches (the peer's COUNT is 16). A read never
/// fetches more than the free handler slots, so every entry it takes starts
/// at once: none waits here that another worker could have run. Reading up
/// to 64 at once makes a busy worker's reads fewer (BENCHMARKS.md, Redis
/// commands per call).
pub(crate) const MAX_COUNT: usize = 64;

/// Reads `XREADGROUP GROUP <service> <consumer> COUNT n BLOCK 1000 STREAMS <stream> >`
/// until shutdown, with n = min(64, free handler slots).
#[derive(Debug)]
pub(crate) struct ConsumerLoop {
    /// The service's stream, group and consumer.
    pub(crate) keys: Arc<ServiceKeys>,
    /// Where the entries read run.
    pub(crate) pool: Arc<HandlerPool>,
    /// Recreates a lost group.
    pub(crate) shared: Arc<SharedConn>,
    /// The loop's own connection: a parked read must delay nothing else.
    pub(crate) conn: BlockingConn,
    /// Fired by `stop()`: no new reads after it.
    pub(crate) shutdown: CancellationToken,
    /// The group's existence, and the fault-injection hook.
    pub(crate) monitor: Arc<Monitor>,
    /// How long one read blocks ([`BLOCK`] but in tests).
    pub(crate) block: Duration,
}

impl ConsumerLoop {
    /// Runs until shutdown. Entries a read returns are always handed to
    /// handlers, even when shutdown fired meanwhile, so none are stranded in
    /// this consumer's pending list. A new loop (at start, or after one
    /// panicked) connects first and starts what is pending with its consumer.
    pub(crate) async fn run(mut self) {
        loop {
            if self.shutdown.is_cancelled() {
                break;
            }
            self.monitor.trip(ServerLoop::Consumer);
            if !self.conn.is_connected() {
                if !self.conn.reconnect("consumer", &self.shutdown).await {
                    break;
                }
                self.recover().await;
            }
            // Wait for one free slot, then take what else is free (up to 64).
            let Some(first) = self.pool.take_slot(&self.shutdown).await else {
                break;
            };
            let mut permits = vec![first];
            permits.extend(self.pool.try_take_slots(MAX_COUNT - 1));
            if !self.read(permits).await {
                break;
            }
        }
        tracing::debug!(service = %self.keys.service, "consumer loop stopped");
    }

    /// One `XREADGROUP` with as many free slots as `permits`, and a handler
    /// for each entry it returns. Returns `false` when the loop must end.
    async fn read(&mut self, mut permits: Vec<OwnedSemaphorePermit>) -> bool {
        let k = &self.keys;
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&k.group)
            .arg(&k.consumer)
            .arg("COUNT")
            .arg(permits.len())
            .arg("BLOCK")
            .arg(self.block.as_millis() as u64)
            .arg("STREAMS")
            .arg(&k.stream)
            .arg(">");
        match self.conn.read(&cmd, self.block).await {
            Ok(reply) => match parse_read(reply) {
                Ok(entries) => {
                    if let Some(last) = entries.last() {
                        self.monitor.delivered().up_to(&last.id);
                    }
                    for mut entry in entries {
                        // Read with `>`: never delivered before.
                        entry.deliveries = Some(1);
                        let permit = match permits.pop() {
                            Some(p) => p,
                            // Never with COUNT = permits; be safe if a server sends more.
                            None => match self.pool.wait_slot().await {
                                Some(p) => p,
                                None => return false,
                            },
                        };
                        self.pool.spawn(entry, permit);
                    }
                }
                Err(error) => {
                    tracing::warn!(service = %k.service, %error, "unreadable XREADGROUP reply");
                }
            },
            Err(e) if e.is_no_group() => {
                group::recreate(k, &self.shared, &self.monitor, &self.shutdown).await;
            }
            Err(error) if self.conn.is_connected() => {
                // Redis refused the read (e.g. the key is not a stream);
                // pause, then read again (NOGROUP is handled above; an
                // error from a node that is no longer the primary, such
                // as READONLY or UNBLOCKED, drops the connection and
                // takes the reconnect path below).
                tracing::warn!(service = %k.service, %error, "XREADGROUP failed; retrying");
                tokio::select! {
                    () = self.shutdown.cancelled() => return false,
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
            Err(error) => {
                tracing::warn!(service = %k.service, %error,
                    "XREADGROUP failed; reconnecting with backoff");
            }
        }
        true
    }

    /// After a reconnect: starts the entries pending with this consumer that
    /// no handler runs here. A read parked on the lost connection may have
    /// been handed entries Redis could not deliver (the connection was
    /// already dead); they are this consumer's, so no other worker would
    /// take them before `consumer_claim_idle`. Reads this consumer's
    /// history (`XREADGROUP ... STREAMS <stream> <id>`), a page at a time.
    async fn recover(&mut self) {
        let k = Arc::clone(&self.keys);
        let limit = self.conn.command_timeout();
        let mut after = "0".to_owned();
        let mut started = 0;
        for _ in 0..RECOVER_PAGES {
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP")
                .arg(&k.group)
                .arg(&k.consumer)
                .arg("COUNT")
                .arg(MAX_COUNT)
                .arg("STREAMS")
                .arg(&k.stream)
                .arg(&after);
            let entries = match self.conn.read(&cmd, limit).await {
                Ok(reply) => match parse_read(reply) {
                    Ok(entries) => entries,
                    Err(error) => {
                        tracing::warn!(service = %k.service, %error, "unreadable XREADGROUP reply");
                        break;
                    }
                },
                // NOGROUP (Redis restarted empty: nothing of ours is
                // pending) or a failure: the reclaim loop covers the rest.
                Err(error) => {
                    tracing::debug!(service = %k.service, %error,
                        "reading this consumer's pending entries after a reconnect failed");
                    break;
                }
            };
            let Some(last) = entries.last() else { break };
            after.clone_from(&last.id);
            for entry in entries {
                if self.pool.is_in_flight(&entry.id) {
                    continue;
                }
                let Some(permit) = self.pool.take_slot(&self.shutdown).await else {
                    return;
                };
                if self.pool.spawn(entry, permit) {
                    started += 1;
                }
            }
        }
        if started > 0 {
            tracing::info!(service = %k.service, entries = started,
                "started entries delivered to this consumer on a connection that was lost");
        }
    }
}

/// The most pages of [`MAX_COUNT`] entries a recovery reads; what is left is
/// reclaimed after `consumer_claim_idle` as usual.
const RECOVER_PAGES: usize = 64;
