//! Trimming of command streams, and healing of a group that skipped a backlog.
//!
//! The peer never removes an entry, so a busy service's command stream grows
//! without bound. This loop removes the entries that every consumer group on
//! the stream has both delivered and acknowledged, and nothing else.
//!
//! Every period it reads `XINFO GROUPS <stream>` and, for groups with pending
//! entries, `XPENDING <stream> <group>` (summary form). The boundary is the
//! smallest of: each group's oldest pending id, and the id just after each
//! group's last-delivered id. Then `XTRIM <stream> MINID ~ <boundary>` drops
//! whole stream nodes below it. Pending entries (which a reclaim loop may
//! still hand to another worker, Rust or Python) and undelivered ones are kept.
//! Works on Redis 7.0; every worker of a pool may run it, as it is idempotent.
//!
//! The service's own group's last-delivered id only proves delivery when
//! deliveries moved it. `XGROUP CREATE ... $` (the peer's) or `XGROUP SETID`
//! over a non-empty stream moves it without delivering anything; Redis then
//! reports the group's `entries-read` as nil until a delivery is counted.
//! While the service's group is in that state nothing is trimmed. (Other
//! groups on the stream, an audit reader say, may start at `$` on purpose:
//! what lies below their position is not theirs to keep.)
//!
//! The same pass heals the service's group when it sits at the end of the
//! stream in that state (lag 0) with nothing pending and entries at or below
//! its position: a Python or TypeScript worker was first to start and
//! created it at `$` over a backlog, or an operator moved it. `XGROUP SETID
//! <stream> <group> 0` makes those entries deliverable, and a warning says
//! so. Rust servers only create groups at `0` (`ServiceWorker::ensure_group`),
//! and a group that reads counts its deliveries, so a Rust pool never puts
//! its group in that state. (If the group delivers a new entry before a pass
//! sees it, Redis can no longer tell skipped entries from delivered ones:
//! see the crate docs, "Groups and backlogs".)

use std::sync::Arc;
use std::time::Duration;

use redis::streams::{StreamInfoGroupsReply, StreamPendingReply};
use tokio_util::sync::CancellationToken;

use crate::stream_id::StreamId;
use crate::worker::ServiceWorker;

/// How often a command stream is trimmed.
pub(crate) const PERIOD: Duration = Duration::from_secs(1);

/// What one group keeps: its oldest pending entry, else everything after its
/// last-delivered id. `None` when an id cannot be read (then nothing is trimmed).
pub(crate) fn group_floor(last_delivered: &str, oldest_pending: Option<&str>) -> Option<StreamId> {
    match oldest_pending {
        Some(id) => StreamId::parse(id),
        None => StreamId::parse(last_delivered).map(StreamId::successor),
    }
}

/// The trim (and heal) loop of one service on one server.
#[derive(Debug)]
pub(crate) struct TrimLoop {
    /// The service whose command stream is trimmed.
    pub(crate) worker: Arc<ServiceWorker>,
    /// Whether to trim (config `trim_command_streams`); healing runs either way.
    pub(crate) trim: bool,
    /// Fired by `stop()`.
    pub(crate) shutdown: CancellationToken,
}

impl TrimLoop {
    /// Runs until shutdown, on the shared connection (nothing here blocks).
    pub(crate) async fn run(self) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + PERIOD, PERIOD);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            self.worker.poison_log.flush_if_due();
            if let Err(error) = self.trim_once().await {
                tracing::debug!(service = %self.worker.service, %error,
                    "trimming the command stream failed; retrying next period");
            }
        }
        self.worker.poison_log.flush();
        tracing::debug!(service = %self.worker.service, "trim loop stopped");
    }

    /// One pass: heal the service's own group if it skipped a backlog, then
    /// find the boundary and trim below it. Returns the entries removed.
    pub(crate) async fn trim_once(&self) -> Result<usize, crate::conn::ConnError> {
        let w = &self.worker;
        let limit = w.shared.command_timeout();
        let mut cmd = redis::cmd("XINFO");
        cmd.arg("GROUPS").arg(&w.stream);
        let groups: StreamInfoGroupsReply = w.shared.query(&cmd, limit).await?;
        w.metrics.group_info(&groups, &w.group);
        if heal_if_skipped(w, &groups).await? {
            return Ok(0);
        }
        if !self.trim {
            return Ok(0);
        }
        let mut boundary: Option<StreamId> = None;
        for group in &groups.groups {
            let oldest = if group.pending > 0 {
                let mut cmd = redis::cmd("XPENDING");
                cmd.arg(&w.stream).arg(&group.name);
                match w.shared.query::<StreamPendingReply>(&cmd, limit).await? {
                    StreamPendingReply::Data(d) => Some(d.start_id),
                    // Acked meanwhile, or a reply shape we do not know: keep everything.
                    _ => return Ok(0),
                }
            } else {
                None
            };
            let Some(floor) = group_floor(&group.last_delivered_id, oldest.as_deref()) else {
                return Ok(0); // an id we cannot read: keep everything
            };
            boundary = Some(boundary.map_or(floor, |b| b.min(floor)));
        }
        let Some(boundary) = boundary else {
            return Ok(0); // no group: nobody has consumed anything
        };
        let mut cmd = redis::cmd("XTRIM");
        cmd.arg(&w.stream)
            .arg("MINID")
            .arg("~")
            .arg(boundary.to_string());
        let removed: usize = w.shared.query(&cmd, limit).await?;
        if removed > 0 {
            tracing::trace!(service = %w.service, removed, %boundary, "command stream trimmed");
        }
        Ok(removed)
    }
}

/// Looks at the service's own group in `groups`: when it has not counted a
/// delivery since its position was set (or the server is older than 7.0 and
/// does not say), what lies below its position may never have been handed
/// to a worker, so nothing may be trimmed (returns `true`); and at the end
/// of the stream (lag 0) with nothing pending, it was created at `$` over a
/// backlog or moved there: it is moved back ([`heal`]).
async fn heal_if_skipped(
    w: &ServiceWorker,
    groups: &StreamInfoGroupsReply,
) -> Result<bool, crate::conn::ConnError> {
    let Some(own) = groups.groups.iter().find(|g| g.name == w.group) else {
        return Ok(false);
    };
    if own.entries_read.is_some() {
        return Ok(false);
    }
    if own.lag == Some(0) && own.pending == 0 {
        heal(w, &own.last_delivered_id).await?;
    }
    Ok(true)
}

/// What `start()` does before the first read: a group a Python or TypeScript
/// worker created at `$` over a backlog is moved back now, before a new
/// request is delivered (after that, Redis can no longer tell skipped
/// entries from delivered ones).
pub(crate) async fn heal_at_start(w: &ServiceWorker) -> Result<(), crate::conn::ConnError> {
    let mut cmd = redis::cmd("XINFO");
    cmd.arg("GROUPS").arg(&w.stream);
    let groups: StreamInfoGroupsReply = w.shared.query(&cmd, w.shared.command_timeout()).await?;
    heal_if_skipped(w, &groups).await.map(|_| ())
}

/// The service's group has read nothing since its position was set to
/// `last_delivered` and has nothing pending: if the stream holds entries at
/// or below that position, they were skipped, never delivered; move the
/// group back to `0` so they are.
async fn heal(w: &ServiceWorker, last_delivered: &str) -> Result<(), crate::conn::ConnError> {
    let limit = w.shared.command_timeout();
    let Some(position) = StreamId::parse(last_delivered) else {
        return Ok(());
    };
    if position == StreamId::ZERO {
        return Ok(());
    }
    let mut cmd = redis::cmd("XRANGE");
    cmd.arg(&w.stream)
        .arg("-")
        .arg(position.to_string())
        .arg("COUNT")
        .arg(1);
    let first = crate::entry::parse_entries(w.shared.query(&cmd, limit).await?)
        .ok()
        .and_then(|entries| entries.into_iter().next());
    let Some(first) = first else {
        return Ok(()); // nothing at or below the position: nothing skipped
    };
    let mut cmd = redis::cmd("XGROUP");
    cmd.arg("SETID").arg(&w.stream).arg(&w.group).arg("0");
    w.shared.query::<redis::Value>(&cmd, limit).await?;
    tracing::warn!(service = %w.service, stream = %w.stream, group = %w.group,
        position = %last_delivered, first_skipped = %first.id,
        "the consumer group had been created or moved past entries it never delivered \
         (a Python or TypeScript worker creates its group at `$`); moved it back to 0 so \
         they are handled");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_and_succeed() {
        let a = StreamId::parse("5-3").unwrap();
        assert!(a < StreamId::parse("5-4").unwrap());
        assert!(a < StreamId::parse("6-0").unwrap());
        assert_eq!(a.successor().to_string(), "5-4");
        assert_eq!(StreamId::parse("7").unwrap().to_string(), "7-0");
        assert_eq!(StreamId::ZERO.successor().to_string(), "0-1");
        assert!(StreamId::parse("x-1").is_none());
    }

    #[test]
    fn floor_keeps_pending_else_undelivered() {
        assert_eq!(group_floor("9-0", Some("3-1")), StreamId::parse("3-1"));
        assert_eq!(group_floor("9-0", None), StreamId::parse("9-1"));
        assert_eq!(group_floor("0-0", None), StreamId::parse("0-1"));
        assert_eq!(group_floor("junk", None), None);
    }
}
