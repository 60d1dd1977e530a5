//! Trimming of command streams.
//!
//! The peer never removes an entry, so a busy service's command stream grows
//! without bound. The housekeeping loop (`housekeeping`), when
//! `trim_command_streams` is on, removes the entries that every consumer
//! group on the stream has both delivered and acknowledged, and nothing else.
//!
//! From the `XINFO GROUPS <stream>` of its pass and, for groups with pending
//! entries, `XPENDING <stream> <group>` (summary form), the boundary is the
//! smallest of: each group's oldest pending id, and the id just after each
//! group's last-delivered id. Then `XTRIM <stream> MINID ~ <boundary>` drops
//! whole stream nodes below it. Pending entries (which a reclaim loop may
//! still hand to another worker, Rust or Python) and undelivered ones are kept.
//! Works on Redis 7.0; every worker of a pool may run it, as it is idempotent.
//!
//! It keeps each group's `lag` (`XINFO GROUPS`) a number, which autoscalers
//! read (KEDA's `lagCount`, `clamator keda`): Redis reports it as nil when
//! entries after the group's last-delivered id were deleted, and `XTRIM
//! MINID` below the boundary removes none of those, and sets no tombstone.
//!
//! While the service's own group has not counted a delivery since its
//! position was set (`entries-read` nil: created at `$`, or moved), nothing
//! is trimmed: what lies below its position may never have been delivered
//! (see `group`, which also heals that state). Other groups on the stream,
//! an audit reader say, may start at `$` on purpose: what lies below their
//! position is not theirs to keep.

use redis::streams::{StreamInfoGroupsReply, StreamPendingReply};

use crate::conn::{ConnError, SharedConn};
use crate::service_keys::ServiceKeys;
use crate::stream_id::StreamId;

/// What one group keeps: its oldest pending entry, else everything after its
/// last-delivered id. `None` when an id cannot be read (then nothing is trimmed).
pub(crate) fn group_floor(last_delivered: &str, oldest_pending: Option<&str>) -> Option<StreamId> {
    match oldest_pending {
        Some(id) => StreamId::parse(id),
        None => StreamId::parse(last_delivered).map(StreamId::successor),
    }
}

/// Trims the service's command stream below what every group in `groups`
/// keeps. Returns the entries removed.
pub(crate) async fn trim(
    keys: &ServiceKeys,
    shared: &SharedConn,
    groups: &StreamInfoGroupsReply,
) -> Result<usize, ConnError> {
    let limit = shared.command_timeout();
    let mut boundary: Option<StreamId> = None;
    for group in &groups.groups {
        let oldest = if group.pending > 0 {
            let mut cmd = redis::cmd("XPENDING");
            cmd.arg(&keys.stream).arg(&group.name);
            match shared.query::<StreamPendingReply>(&cmd, limit).await? {
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
    cmd.arg(&keys.stream)
        .arg("MINID")
        .arg("~")
        .arg(boundary.to_string());
    let removed: usize = shared.query(&cmd, limit).await?;
    if removed > 0 {
        tracing::trace!(service = %keys.service, removed, %boundary, "command stream trimmed");
    }
    Ok(removed)
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
