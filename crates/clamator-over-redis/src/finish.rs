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

use tokio::sync::{mpsc, oneshot};

use crate::conn::SharedConn;
use crate::keys;

/// The most entries one pipeline answers.
const MAX_BATCH: usize = 128;

/// A handled entry: its reply, if any, then its ack.
#[derive(Debug)]
pub(crate) struct Done {
    /// The command-stream entry id to acknowledge.
    pub(crate) entry_id: String,
    /// The reply stream and the reply envelope text, when there is a reply.
    pub(crate) reply: Option<(Vec<u8>, String)>,
    /// Signalled once the pipeline carrying this entry was answered (or failed).
    pub(crate) written: oneshot::Sender<()>,
}

/// The writer loop of one service on one server. It ends when every sender
/// (the service's worker) is gone, after writing what was queued.
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
    /// Runs until the channel closes.
    pub(crate) async fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = self.rx.recv().await {
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

    /// One pipeline: every reply, then one XACK of every id. A failure leaves
    /// the entries pending: another worker (or our reclaim loop) runs them again.
    async fn write(&self, batch: &[Done]) {
        let mut pipe = redis::pipe();
        for (reply_to, text) in batch.iter().filter_map(|d| d.reply.as_ref()) {
            pipe.cmd("XADD")
                .arg(reply_to.as_slice())
                .arg("MAXLEN")
                .arg("~")
                .arg(self.reply_maxlen)
                .arg("*")
                .arg(keys::FIELD_TYPE)
                .arg(keys::TYPE_RPC)
                .arg(keys::FIELD_ENVELOPE)
                .arg(text.as_str())
                .ignore();
        }
        pipe.cmd("XACK").arg(&self.stream).arg(&self.group);
        for done in batch {
            pipe.arg(&done.entry_id);
        }
        pipe.ignore();
        if let Err(error) = self
            .shared
            .query_pipeline::<()>(&pipe, self.shared.command_timeout())
            .await
        {
            let first = batch.first().map(|d| d.entry_id.as_str()).unwrap_or("");
            tracing::warn!(service = %self.service, entries = batch.len(), first_entry_id = %first,
                %error, "writing replies or acks failed; unacked entries stay pending and are reclaimed later");
        }
    }
}
