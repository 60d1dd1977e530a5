//! The service's consumer group: created at `0`, recreated when Redis lost
//! it, and moved back when it skipped a backlog.
//!
//! Healing: the service's own group's last-delivered id only proves
//! delivery when deliveries moved it. `XGROUP CREATE ... $` (the peer's) or
//! `XGROUP SETID` over a non-empty stream moves it without delivering
//! anything; Redis then reports the group's `entries-read` as nil until a
//! delivery is counted. When the group sits at the end of the stream in
//! that state (lag 0) with nothing pending and entries at or below its
//! position, a Python or TypeScript worker may have been first to start and
//! created it at `$` over a backlog, or an operator moved it: `XGROUP SETID`
//! makes those entries deliverable again, and a warning says so. Rust
//! servers only create groups at `0` ([`ensure`]).
//!
//! A group in which every entry was delivered and acked can look the same:
//! Redis 7.0 replicates a delivery as `XCLAIM ... LASTID`, which moves the
//! replica's position without counting, so a replica promoted by a failover
//! (Sentinel or Cluster) holds its groups in that state until their next
//! delivery (measured here: `entries-read` nil, lag 0, pending 0). Moving
//! such a group back to `0` would run again every entry the stream still
//! holds. So the heal only looks above what this process knows was
//! delivered ([`Delivered`]: the entries its consumer read, and positions
//! Redis counted), and moves the group back only to there. A server that
//! starts while its group is in that state knows nothing yet: it moves the
//! group back to `0` (see the crate docs, "Groups and backlogs").
//!
//! If the group delivers a new entry before a pass sees a skip, Redis can no
//! longer tell skipped entries from delivered ones. The housekeeping loop
//! checks this every second, and `start()` once before the first read.

use std::time::Duration;

use redis::streams::StreamInfoGroupsReply;
use tokio_util::sync::CancellationToken;

use crate::conn::{ConnError, SharedConn};
use crate::health::Monitor;
use crate::service_keys::ServiceKeys;
use crate::stream_id::StreamId;

/// What this process knows its service's group delivered: every entry at or
/// below this position was handed to a worker. Raised by the entries this
/// server's consumer reads (a read with `>` returns entries after the
/// group's position, so everything below them was delivered) and by the
/// positions of passes where Redis counted the group's deliveries; reset to
/// `0` when the group or its stream is gone (their ids start over).
#[derive(Debug)]
pub(crate) struct Delivered(std::sync::Mutex<StreamId>);

impl Default for Delivered {
    fn default() -> Delivered {
        Delivered(std::sync::Mutex::new(StreamId::ZERO))
    }
}

impl Delivered {
    fn lock(&self) -> std::sync::MutexGuard<'_, StreamId> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Everything up to entry `id` (text as Redis sent it) was delivered.
    pub(crate) fn up_to(&self, id: &str) {
        if let Some(id) = StreamId::parse(id) {
            let mut known = self.lock();
            if id > *known {
                *known = id;
            }
        }
    }

    /// The group or its stream is gone: what was delivered says nothing
    /// about the entries of the next ones.
    pub(crate) fn forget(&self) {
        *self.lock() = StreamId::ZERO;
    }

    /// The position up to which delivery is known (`0`: nothing known).
    pub(crate) fn known(&self) -> StreamId {
        *self.lock()
    }
}

/// How long a loop waits after failing to recreate a missing group.
const RECREATE_PAUSE: Duration = Duration::from_millis(500);

/// `XGROUP CREATE <stream> <service> 0 MKSTREAM`; an existing group is fine.
///
/// At `0`, not at `$` as the peer does: a new group is handed every entry
/// already in the stream, so requests queued before any worker started (or
/// XADDed after Redis restarted without persistence, before the group was
/// recreated) are answered instead of skipped. Requests whose caller gave up
/// meanwhile are acked without running (`skip_expired`).
pub(crate) async fn ensure(keys: &ServiceKeys, shared: &SharedConn) -> Result<(), ConnError> {
    let mut cmd = redis::cmd("XGROUP");
    cmd.arg("CREATE")
        .arg(&keys.stream)
        .arg(&keys.group)
        .arg("0")
        .arg("MKSTREAM");
    match shared
        .query::<redis::Value>(&cmd, shared.command_timeout())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_busy_group() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Recreates the group after Redis lost it (NOGROUP), logging the outcome
/// and recording it in `monitor`; pauses after a failure so a loop that
/// keeps hitting NOGROUP does not spin.
pub(crate) async fn recreate(
    keys: &ServiceKeys,
    shared: &SharedConn,
    monitor: &Monitor,
    shutdown: &CancellationToken,
) {
    monitor.group_seen(false);
    match ensure(keys, shared).await {
        Ok(()) => {
            monitor.group_seen(true);
            tracing::warn!(service = %keys.service, stream = %keys.stream,
                "consumer group was missing (Redis restarted without persistence?); recreated it");
        }
        Err(e) => {
            tracing::warn!(service = %keys.service, error = %e,
                "consumer group is missing and recreating it failed; will retry");
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(RECREATE_PAUSE) => {}
            }
        }
    }
}

/// `XINFO GROUPS <stream>`: every group on the service's command stream.
pub(crate) async fn info(
    keys: &ServiceKeys,
    shared: &SharedConn,
) -> Result<StreamInfoGroupsReply, ConnError> {
    let mut cmd = redis::cmd("XINFO");
    cmd.arg("GROUPS").arg(&keys.stream);
    shared.query(&cmd, shared.command_timeout()).await
}

/// Looks at the service's own group in `groups`: when it has not counted a
/// delivery since its position was set (or the server is older than 7.0 and
/// does not say), what lies below its position may never have been handed
/// to a worker, so nothing may be trimmed (returns `true`); and at the end
/// of the stream (lag 0) with nothing pending, it may have been created at
/// `$` over a backlog or moved there: what lies between what `delivered`
/// knows and its position is made deliverable again ([`heal`]). A group
/// that counts its deliveries raises `delivered` to its position.
pub(crate) async fn heal_if_skipped(
    keys: &ServiceKeys,
    shared: &SharedConn,
    groups: &StreamInfoGroupsReply,
    delivered: &Delivered,
) -> Result<bool, ConnError> {
    let Some(own) = groups.groups.iter().find(|g| g.name == keys.group) else {
        return Ok(false);
    };
    if own.entries_read.is_some() {
        delivered.up_to(&own.last_delivered_id);
        return Ok(false);
    }
    if own.lag == Some(0) && own.pending == 0 {
        heal(keys, shared, &own.last_delivered_id, delivered.known()).await?;
    }
    Ok(true)
}

/// What `start()` does before the first read: a group a Python or TypeScript
/// worker created at `$` over a backlog is moved back now, before a new
/// request is delivered (after that, Redis can no longer tell skipped
/// entries from delivered ones). A process that just started knows of no
/// delivery: the group is moved back to `0`.
pub(crate) async fn heal_at_start(
    keys: &ServiceKeys,
    shared: &SharedConn,
) -> Result<(), ConnError> {
    let groups = info(keys, shared).await?;
    heal_if_skipped(keys, shared, &groups, &Delivered::default())
        .await
        .map(|_| ())
}

/// The service's group has read nothing since its position was set to
/// `last_delivered` and has nothing pending: if the stream holds entries
/// above `known` (what this process knows was delivered) and at or below
/// that position, they may have been skipped, never delivered; move the
/// group back to `known` so they are.
async fn heal(
    keys: &ServiceKeys,
    shared: &SharedConn,
    last_delivered: &str,
    known: StreamId,
) -> Result<(), ConnError> {
    let limit = shared.command_timeout();
    let Some(position) = StreamId::parse(last_delivered) else {
        return Ok(());
    };
    if position <= known {
        return Ok(());
    }
    let mut cmd = redis::cmd("XRANGE");
    cmd.arg(&keys.stream)
        .arg(format!("({known}"))
        .arg(position.to_string())
        .arg("COUNT")
        .arg(1);
    let first = crate::entry::parse_entries(shared.query(&cmd, limit).await?)
        .ok()
        .and_then(|entries| entries.into_iter().next());
    let Some(first) = first else {
        return Ok(()); // nothing in that range: nothing skipped
    };
    let mut cmd = redis::cmd("XGROUP");
    cmd.arg("SETID")
        .arg(&keys.stream)
        .arg(&keys.group)
        .arg(known.to_string());
    shared.query::<redis::Value>(&cmd, limit).await?;
    tracing::warn!(service = %keys.service, stream = %keys.stream, group = %keys.group,
        position = %last_delivered, first_skipped = %first.id, moved_to = %known,
        "the consumer group had been created or moved past entries this server does not know \
         were delivered (a Python or TypeScript worker creates its group at `$`); moved it back \
         so they are handled");
    Ok(())
}
