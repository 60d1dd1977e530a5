//! The housekeeping loop of one service on one server: once a second it
//! reads the service's groups (`XINFO GROUPS <stream>`) and, from that one
//! answer,
//! - records whether Redis answered and whether the group exists (for
//!   [`RedisRpcServer::health`](crate::RedisRpcServer::health)),
//! - samples the group gauges (`clamator.server.group.*`),
//! - heals a group that skipped a backlog (`group::heal_if_skipped`),
//! - trims the command stream, when `trim_command_streams` is on (`trim`).
//!
//! Every pass also reads the callers' cancels (`cancel`), and closes the poison log's interval when it is over (its
//! summary line), and the loop's end flushes it. The loop runs whether or
//! not trimming is on.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::cancel::{Cancels, Passed};
use crate::conn::{ConnError, SharedConn};
use crate::group;
use crate::health::{Monitor, ServerLoop};
use crate::metrics::ServiceMetrics;
use crate::periodic::{Flow, Loudness, Periodic, Subject};
use crate::poison_log::PoisonLog;
use crate::service_keys::ServiceKeys;
use crate::trim;

/// How often a pass runs by default (`Timing::housekeeping`).
pub(crate) const PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// The housekeeping of one service on one server, run by [`crate::periodic::run`].
#[derive(Debug)]
pub(crate) struct HousekeepingLoop {
    /// The service's stream and group.
    pub(crate) keys: Arc<ServiceKeys>,
    /// Everything here goes over the shared connection (nothing blocks).
    pub(crate) shared: Arc<SharedConn>,
    /// The group gauges.
    pub(crate) metrics: Arc<ServiceMetrics>,
    /// Flushed every pass, and at the end.
    pub(crate) poison_log: Arc<PoisonLog>,
    /// Callers' cancels, read every pass.
    pub(crate) cancels: Arc<Cancels>,
    /// Whether to trim (config `trim_command_streams`).
    pub(crate) trim: bool,
    /// Where Redis's answers and the group's existence are recorded.
    pub(crate) monitor: Arc<Monitor>,
}

impl Periodic for HousekeepingLoop {
    const NAME: &'static str = "housekeeping";
    const LOUDNESS: Loudness = Loudness::Quiet;
    const FAILED: &'static str =
        "reading, healing or trimming the command stream failed; retrying next period";

    fn subject(&self) -> Subject<'_> {
        Subject::Service(&self.keys.service)
    }

    async fn tick(&mut self, _shutdown: &CancellationToken) -> Result<Flow, ConnError> {
        self.monitor.trip(ServerLoop::Housekeeping);
        self.poison_log.flush_if_due();
        self.pass().await?;
        let cancelled = self.cancels.pass(&self.shared).await?;
        if cancelled.signalled > 0 {
            crate::metrics::cancelled(&self.keys.service, "running", cancelled.signalled);
        }
        if cancelled != Passed::default() {
            tracing::debug!(service = %self.keys.service, signalled = cancelled.signalled,
                remembered = cancelled.remembered, "callers cancelled calls");
        }
        Ok(Flow::Continue)
    }

    fn stopped(&mut self) {
        self.poison_log.flush();
    }
}

impl HousekeepingLoop {
    /// One pass: read the groups, record and sample them, heal the service's
    /// own group if it skipped a backlog, else trim. Returns the entries
    /// trimmed.
    pub(crate) async fn pass(&self) -> Result<usize, ConnError> {
        let groups = group::info(&self.keys, &self.shared).await;
        self.monitor.checked(&groups);
        if groups.as_ref().is_err_and(no_stream) {
            // Redis lost the stream, and so the group (it restarted without
            // persistence): the next read or reclaim recreates them.
            self.monitor.group_seen(false);
        }
        let groups = groups?;
        self.monitor
            .group_seen(groups.groups.iter().any(|g| g.name == self.keys.group));
        self.metrics.group_info(&groups, &self.keys.group);
        if group::heal_if_skipped(&self.keys, &self.shared, &groups, self.monitor.delivered())
            .await?
            || !self.trim
        {
            return Ok(0);
        }
        trim::trim(&self.keys, &self.shared, &groups).await
    }
}

/// `XINFO GROUPS` on a stream that does not exist: `ERR no such key`.
fn no_stream(e: &ConnError) -> bool {
    matches!(e, ConnError::Redis(e)
        if e.code() == Some("ERR") && e.detail().is_some_and(|d| d.starts_with("no such key")))
}
