//! Writing replies and acks, coalesced: the entries of one service whose
//! handlers finish together are answered and acknowledged in one pipeline,
//! `XADD <reply-to> ...` per reply and one `XACK <stream> <group> <id> <id> ...`.
//!
//! Handlers hand their outcome to this loop and wait until it is written, so
//! a handler's slot, its in-flight mark and `stop()`'s drain all still end
//! after the ack. There is no timer: the loop writes whatever has finished
//! when it gets to run, so a lone call is written at once (a batch of one)
//! and batches grow only when handlers finish faster than Redis answers.
//! Under load this takes the server from two commands per call (reply, ack)
//! towards one (BENCHMARKS.md).

use std::sync::Arc;

use redis::{RedisResult, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::commands;
use crate::conn::SharedConn;

/// The most entries one pipeline answers.
const MAX_BATCH: usize = 128;

/// A reply to write: where, what, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The reply stream, already checked by [`crate::keys::reply_target`].
    pub(crate) to: String,
    /// The response envelope text.
    pub(crate) text: String,
    /// Write with `NOMKSTREAM`: the caller keeps its stream alive itself, so a
    /// missing stream means the caller is gone.
    pub(crate) nomkstream: bool,
}

/// The reply's `XADD` ([`commands::reply`]).
pub(crate) fn reply_command(reply: &Reply, maxlen: usize) -> redis::Cmd {
    commands::reply(&reply.to, &reply.text, reply.nomkstream, maxlen)
}

/// A handled entry: its reply, if any, then its ack.
#[derive(Debug)]
pub(crate) struct Done {
    /// The command-stream entry id to acknowledge.
    pub(crate) entry_id: String,
    /// The reply, when there is one.
    pub(crate) reply: Option<Reply>,
    /// Signalled once the pipeline carrying this entry was answered (or failed).
    pub(crate) written: oneshot::Sender<()>,
}

/// The writer loop of one service on one server, owned by its runner.
#[derive(Debug)]
pub(crate) struct FinishLoop {
    /// Handled entries, in the order they finished.
    pub(crate) rx: mpsc::UnboundedReceiver<Done>,
    /// The service, for logs.
    pub(crate) service: String,
    /// Its command stream.
    pub(crate) stream: String,
    /// Its consumer group.
    pub(crate) group: String,
    /// `MAXLEN ~` of reply streams.
    pub(crate) reply_maxlen: usize,
    /// Replies and acks go over the shared connection.
    pub(crate) shared: Arc<SharedConn>,
}

impl FinishLoop {
    /// Runs until `close` fires (the runner's stop, once no handler runs
    /// any more) and what was queued is written, or until every sender is gone.
    pub(crate) async fn run(mut self, close: CancellationToken) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut closing = false;
        loop {
            let next = if closing {
                self.rx.recv().await
            } else {
                tokio::select! {
                    next = self.rx.recv() => next,
                    () = close.cancelled() => {
                        // No new sends; what is queued is still received.
                        self.rx.close();
                        closing = true;
                        continue;
                    }
                }
            };
            let Some(first) = next else { break };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(done) => batch.push(done),
                    Err(_) => break,
                }
            }
            self.write(&batch).await;
            for done in batch.drain(..) {
                let _ = done.written.send(());
            }
        }
    }

    /// Every reply, then one XACK of every id: one pipeline (on a cluster,
    /// where the replies live in other slots, the replies and then the ack;
    /// [`SharedConn::writes_then_ack`]). Each command's outcome is reported
    /// for what it is: a reply Redis refused (the key is not a stream, an ACL
    /// forbids it) is lost and logged with its entry, while the ack still
    /// goes through; a failed ack leaves the entries pending, and another
    /// worker (or our reclaim loop) runs them again.
    async fn write(&self, batch: &[Done]) {
        let replied: Vec<(&Done, &Reply)> = batch
            .iter()
            .filter_map(|d| d.reply.as_ref().map(|r| (d, r)))
            .collect();
        let writes = replied
            .iter()
            .map(|(_, reply)| reply_command(reply, self.reply_maxlen))
            .collect();
        let mut ack = redis::cmd("XACK");
        ack.arg(&self.stream).arg(&self.group);
        for done in batch {
            ack.arg(&done.entry_id);
        }
        let results: Vec<RedisResult<Value>> = match self
            .shared
            .writes_then_ack(writes, ack, self.shared.command_timeout())
            .await
        {
            Ok(results) => results,
            Err(error) => {
                let first = batch.first().map(|d| d.entry_id.as_str()).unwrap_or("");
                tracing::warn!(service = %self.service, entries = batch.len(), first_entry_id = %first,
                    %error, "writing replies and acks failed (no answer from Redis, or a \
                     cluster failover or slot move); the entries stay pending and are \
                     reclaimed later");
                return;
            }
        };
        let mut results = results.into_iter();
        for (done, reply) in &replied {
            match results.next() {
                Some(Err(error)) => tracing::warn!(service = %self.service,
                    entry_id = %done.entry_id, reply_to = %reply.to, %error,
                    "Redis refused the reply; its caller will time out (the entry is acked)"),
                Some(Ok(Value::Nil)) => tracing::debug!(service = %self.service,
                    entry_id = %done.entry_id, reply_to = %reply.to,
                    "reply stream is gone (its client stopped or expired); reply dropped"),
                _ => {}
            }
        }
        if let Some(Err(error)) = results.next() {
            tracing::warn!(service = %self.service, entries = batch.len(), %error,
                "acknowledging handled entries failed; they stay pending and are reclaimed \
                 later (their replies were written)");
        }
    }
}
