//! Dead letters: entries that no worker ever acknowledged, however often they
//! were delivered (their handler crashes or hangs the worker every time).
//!
//! The peer reclaims such an entry forever: each `XAUTOCLAIM` hands it to the
//! next worker, which dies again. Our reclaim loop instead moves an entry that
//! has been delivered `max_deliveries` times, and is idle again, to the
//! service's dead-letter stream (`<prefix>:dead:<service>`, `MAXLEN ~ 10000`):
//! the original fields, field for field, plus `dead-id`, `dead-deliveries`,
//! `dead-consumer` and `dead-reason`; the format is
//! [`crate::ops::dead_letter`]'s, which `clamator dead` reads and requeues
//! with too. A caller waiting for a reply gets
//! -32603 "Internal error" with `data.name` `"DeadLetter"`, and the entry is
//! acknowledged. The reclaim loop claims an entry with `XCLAIM` before
//! dead-lettering it, so of several workers only one acts on it.
//!
//! Three round trips: first the dead letters are written; the entries whose
//! dead letter is stored are then answered; those whose answer is written
//! (or can never be) are acknowledged. A failure in between leaves the entry
//! pending: a later pass moves it again (a duplicate dead letter is
//! possible, a lost one or a lost answer is not).

use clamator_protocol::transport::build_error;
use clamator_protocol::{Envelope, RpcError};
use redis::{RedisResult, Value};

use std::sync::Arc;

use crate::conn::SharedConn;
use crate::entry::RawEntry;
use crate::finish::{Reply, ReplyOutcome, reply_command};
use crate::keys;
use crate::metrics::ServiceMetrics;
use crate::ops::dead_letter::{self as format, ERROR_NAME, times};
use crate::service_keys::ServiceKeys;

/// An entry the reclaim loop claimed to dead-letter, with what `XPENDING` said of it.
#[derive(Debug)]
pub(crate) struct DeadEntry {
    /// The entry as claimed: id and every field.
    pub(crate) entry: RawEntry,
    /// Its delivery count before our claim.
    pub(crate) deliveries: usize,
    /// The consumer that held it before our claim.
    pub(crate) last_consumer: String,
}

/// "delivered 3 times without being acknowledged; moved to <dead stream>".
pub(crate) fn error_message(deliveries: usize, dead_stream: &str) -> String {
    format!(
        "delivered {} without being acknowledged; moved to {dead_stream}",
        times(deliveries)
    )
}

/// The error reply for a dead-lettered request; `None` for a notification,
/// an entry without a `reply-to` that names a reply stream of `key_prefix`,
/// or one that is not a request.
pub(crate) fn error_reply(
    entry: &RawEntry,
    key_prefix: &str,
    deliveries: usize,
    dead_stream: &str,
) -> Option<Reply> {
    let to = keys::reply_target(key_prefix, entry.field(keys::FIELD_REPLY_TO)?)?;
    let Ok(Envelope::Request(request)) = Envelope::parse(entry.field(keys::FIELD_ENVELOPE)?) else {
        return None;
    };
    let id = request.id?;
    let error = RpcError::internal(ERROR_NAME, error_message(deliveries, dead_stream));
    Some(Reply {
        to: to.to_owned(),
        text: build_error(Some(&id), &error),
        nomkstream: entry.field(keys::FIELD_REPLY_NOMKSTREAM) == Some(b"1"),
        record: None,
    })
}

/// The wire method of the entry's request, for logs.
fn method_of(entry: &RawEntry) -> Option<String> {
    match Envelope::parse(entry.field(keys::FIELD_ENVELOPE)?) {
        Ok(Envelope::Request(r)) => Some(format!("{}.{}", r.service, r.method)),
        _ => None,
    }
}

/// Moves the entries the reclaim loop claimed at the delivery limit to the
/// dead-letter stream, answers their callers and acknowledges them.
#[derive(Debug)]
pub(crate) struct DeadLetters {
    /// The service's streams, group and prefix.
    pub(crate) keys: Arc<ServiceKeys>,
    /// Letters, answers and acks go over the shared connection.
    pub(crate) shared: Arc<SharedConn>,
    /// Counts dead letters.
    pub(crate) metrics: Arc<ServiceMetrics>,
    /// `MAXLEN ~` of the reply streams answered.
    pub(crate) reply_maxlen: usize,
    /// The delivery limit (config `max_deliveries`), for the letters' reason.
    pub(crate) max_deliveries: u32,
}

impl DeadLetters {
    /// Moves `dead` to the dead-letter stream, answers their callers and
    /// acknowledges them. Never fails: what could not be done stays pending
    /// and is retried by a later reclaim pass.
    pub(crate) async fn bury(&self, dead: Vec<DeadEntry>) {
        if dead.is_empty() {
            return;
        }
        let Some(stored) = self.store(&dead).await else {
            return;
        };
        let mut settled = Vec::new();
        let mut replies = Vec::new();
        for d in stored {
            match error_reply(
                &d.entry,
                &self.keys.key_prefix,
                d.deliveries,
                &self.keys.dead_stream,
            ) {
                Some(reply) => replies.push((d.entry.id.as_str(), reply)),
                None => settled.push(d.entry.id.as_str()),
            }
        }
        self.answer(&replies, &mut settled).await;
        self.ack(&settled).await;
    }

    /// Writes the dead letters in one pipeline; returns those stored (each
    /// logged and counted), `None` when the pipeline failed as a whole.
    async fn store<'d>(&self, dead: &'d [DeadEntry]) -> Option<Vec<&'d DeadEntry>> {
        let names = &self.keys;
        let mut store = redis::pipe();
        store.ignore_errors();
        for d in dead {
            store.add_command(self.letter(d));
        }
        let limit = self.shared.command_timeout();
        let results: Vec<RedisResult<String>> =
            match self.shared.query_pipeline(&store, limit).await {
                Ok(results) => results,
                Err(error) => {
                    tracing::warn!(service = %names.service, %error, entries = dead.len(),
                    "writing dead letters failed; the entries stay pending and are retried");
                    return None;
                }
            };
        let mut stored = Vec::with_capacity(dead.len());
        for (d, result) in dead.iter().zip(results) {
            let dead_letter_id = match result {
                Ok(id) => id,
                Err(error) => {
                    tracing::warn!(service = %names.service, entry_id = %d.entry.id, %error,
                        dead_stream = %names.dead_stream,
                        "writing a dead letter failed (Redis full, or the dead-letter key not \
                         a stream?); the entry stays pending and is retried");
                    continue;
                }
            };
            // The caller's trace, so the dead letter shows up beside its call.
            let caller = crate::trace::incoming(d.entry.field(keys::FIELD_TRACEPARENT), None)
                .map(|t| (t.parent.trace_id_hex(), t.parent.span_id_hex()));
            let (trace_id, parent_span_id) = caller.unzip();
            self.metrics.dead_lettered();
            tracing::warn!(service = %names.service, entry_id = %d.entry.id,
                trace_id = trace_id.as_deref(), parent_span_id = parent_span_id.as_deref(),
                deliveries = d.deliveries, last_consumer = %d.last_consumer,
                method = method_of(&d.entry).as_deref().unwrap_or("-"),
                dead_stream = %names.dead_stream, %dead_letter_id,
                "entry delivered max_deliveries times without being acknowledged (its handler \
                 probably crashes or hangs the worker); moved to the dead-letter stream");
            stored.push(d);
        }
        Some(stored)
    }

    /// Writes each error reply; adds the entries whose answer is written (or
    /// can never be) to `settled`. One Redis refused for now (out of memory,
    /// a failover) leaves its entry pending, dead-lettered again by a later
    /// pass (a duplicate dead letter, never a lost answer).
    async fn answer<'a>(&self, replies: &[(&'a str, Reply)], settled: &mut Vec<&'a str>) {
        let service = &self.keys.service;
        let writes = replies
            .iter()
            .map(|(_, reply)| reply_command(reply, self.reply_maxlen))
            .collect();
        let answers = self
            .shared
            .each(writes, self.shared.command_timeout())
            .await;
        for ((entry_id, reply), answer) in replies.iter().zip(&answers) {
            match ReplyOutcome::of(answer) {
                ReplyOutcome::Written | ReplyOutcome::Gone => {}
                ReplyOutcome::Refused(error) => tracing::warn!(%service,
                    %entry_id, reply_to = %reply.to, %error,
                    "Redis refused the error reply of a dead-lettered request for good; its \
                     caller will time out"),
                ReplyOutcome::Again(error) => {
                    tracing::warn!(%service, %entry_id, %error,
                        "writing the error reply of a dead-lettered request failed for now; \
                         the entry stays pending and is dead-lettered and answered again later");
                    continue;
                }
            }
            settled.push(entry_id);
        }
    }

    /// `XACK` of the settled entries.
    async fn ack(&self, settled: &[&str]) {
        if settled.is_empty() {
            return;
        }
        let mut ack = redis::cmd("XACK");
        ack.arg(&self.keys.stream)
            .arg(&self.keys.group)
            .arg(settled);
        if let Err(error) = self
            .shared
            .query::<Value>(&ack, self.shared.command_timeout())
            .await
        {
            tracing::warn!(service = %self.keys.service, %error, entries = settled.len(),
                "acknowledging dead-lettered entries failed; they stay pending and will be \
                 dead-lettered again");
        }
    }

    /// The `XADD` of `d`'s dead letter ([`format::write_command`]).
    fn letter(&self, d: &DeadEntry) -> redis::Cmd {
        format::write_command(
            &self.keys.dead_stream,
            &d.entry,
            d.deliveries,
            &d.last_consumer,
            self.max_deliveries,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;

    fn raw(fields: &[(&str, &str)]) -> RawEntry {
        RawEntry {
            id: "7-1".to_owned(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn replies_keep_the_id_and_its_type() {
        for (id, want) in [(r#""abc""#, Json::from("abc")), ("7", Json::from(7))] {
            let envelope =
                format!(r#"{{"jsonrpc":"2.0","method":"arith.add","params":{{}},"id":{id}}}"#);
            let e = raw(&[
                ("type", "rpc"),
                ("envelope", &envelope),
                ("reply-to", "p:replies:c"),
            ]);
            let reply = error_reply(&e, "p", 3, "p:dead:arith").unwrap();
            assert_eq!(reply.to, "p:replies:c");
            assert!(!reply.nomkstream);
            let v: Json = serde_json::from_str(&reply.text).unwrap();
            assert_eq!(v["id"], want);
            assert_eq!(v["error"]["code"], -32603);
            assert_eq!(v["error"]["message"], "Internal error");
            assert_eq!(v["error"]["data"]["name"], "DeadLetter");
            assert_eq!(
                v["error"]["data"]["message"],
                "delivered 3 times without being acknowledged; moved to p:dead:arith"
            );
        }
    }

    #[test]
    fn no_reply_without_reply_to_or_id() {
        let note = r#"{"jsonrpc":"2.0","method":"arith.ping","params":{}}"#;
        let r = "p:replies:r";
        assert!(error_reply(&raw(&[("envelope", note), ("reply-to", r)]), "p", 2, "d").is_none());
        let call = r#"{"jsonrpc":"2.0","method":"arith.add","params":{},"id":"x"}"#;
        assert!(error_reply(&raw(&[("envelope", call)]), "p", 2, "d").is_none());
        assert!(
            error_reply(&raw(&[("envelope", "{junk"), ("reply-to", r)]), "p", 2, "d").is_none()
        );
        assert!(error_reply(&raw(&[("reply-to", r)]), "p", 2, "d").is_none());
        // Never to a key that is not a reply stream of the prefix.
        for bad in ["p:cmds:arith", "", "q:replies:r", "p:dead:arith"] {
            let e = raw(&[("envelope", call), ("reply-to", bad)]);
            assert!(error_reply(&e, "p", 2, "d").is_none(), "{bad:?}");
        }
        let e = raw(&[
            ("envelope", call),
            ("reply-to", r),
            ("reply-nomkstream", "1"),
        ]);
        assert!(error_reply(&e, "p", 2, "d").unwrap().nomkstream);
        assert_eq!(
            error_message(1, "d"),
            "delivered 1 time without being acknowledged; moved to d"
        );
    }
}
