//! The reply loop of one client: reads its reply stream with `XREAD BLOCK` on
//! a connection of its own and hands each reply to the call waiting for it.

use std::time::Duration;

use clamator_protocol::Envelope;
use clamator_protocol::transport::PendingCalls;
use tokio_util::sync::CancellationToken;

use crate::conn::BlockingConn;
use crate::entry::{Entry, parse_read};

/// How long one read blocks.
pub(crate) const BLOCK: Duration = Duration::from_millis(1_000);

/// Reads `XREAD BLOCK 1000 STREAMS <reply stream> <last id>` until shutdown,
/// resuming from the last id it saw after a reconnect.
#[derive(Debug)]
pub(crate) struct ReplyLoop {
    /// The loop's own connection.
    pub(crate) conn: BlockingConn,
    /// The client's reply stream key.
    pub(crate) stream: String,
    /// The calls awaiting replies.
    pub(crate) pending: PendingCalls,
    /// The id of the last entry read (`0-0` at first).
    pub(crate) last_id: String,
    /// Fired by `stop()`; a plain XREAD may be abandoned mid-way without loss.
    pub(crate) shutdown: CancellationToken,
}

impl ReplyLoop {
    /// Runs until shutdown.
    pub(crate) async fn run(mut self) {
        loop {
            if !self.conn.is_connected() && !self.conn.reconnect("reply", &self.shutdown).await {
                break;
            }
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("BLOCK")
                .arg(BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&self.stream)
                .arg(&self.last_id);
            let result = tokio::select! {
                () = self.shutdown.cancelled() => break,
                r = self.conn.read(&cmd, BLOCK) => r,
            };
            match result {
                Ok(reply) => match parse_read(reply) {
                    Ok(entries) => {
                        for entry in entries {
                            self.last_id.clone_from(&entry.id);
                            self.deliver(entry);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "unreadable XREAD reply"),
                },
                Err(error) if self.conn.is_connected() => {
                    tracing::warn!(stream = %self.stream, %error, "reading the reply stream failed; retrying");
                    tokio::select! {
                        () = self.shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(stream = %self.stream, %error,
                        "reading the reply stream failed; reconnecting with backoff");
                }
            }
        }
        tracing::debug!(stream = %self.stream, "reply loop stopped");
    }

    /// Matches one reply entry to its call by the string form of its id.
    fn deliver(&self, entry: Entry) {
        let Some(envelope) = entry.envelope else {
            tracing::debug!(entry_id = %entry.id, "reply entry without an envelope ignored");
            return;
        };
        match Envelope::parse_response(&envelope) {
            Ok(response) => {
                if let Err(dropped) = self.pending.try_complete(response) {
                    tracing::debug!(entry_id = %entry.id, id = ?dropped.id(),
                        "reply for an unknown or timed-out call dropped");
                }
            }
            Err(error) => {
                tracing::warn!(entry_id = %entry.id, %error, "invalid reply envelope dropped");
            }
        }
    }
}
