//! Dead letters: entries that no worker ever acknowledged, however often they
//! were delivered (their handler crashes or hangs the worker every time).
//!
//! The peer reclaims such an entry forever: each `XAUTOCLAIM` hands it to the
//! next worker, which dies again. Our reclaim loop instead moves an entry that
//! has been delivered `max_deliveries` times, and is idle again, to the
//! service's dead-letter stream (`<prefix>:dead:<service>`, `MAXLEN ~ 10000`):
//! the original fields, field for field, plus `dead-id`, `dead-deliveries`,
//! `dead-consumer` and `dead-reason`. A caller waiting for a reply gets
//! -32603 "Internal error" with `data.name` `"DeadLetter"`, and the entry is
//! acknowledged. The reclaim loop claims an entry with `XCLAIM` before
//! dead-lettering it, so of several workers only one acts on it.
//!
//! Three round trips: first the dead letters are written; the entries whose
//! dead letter is stored are then answered; those whose answer is written
//! (or can never be) are acknowledged. A failure in between leaves the entry
//! pending: a later pass moves it again (a duplicate dead letter is
//! possible, a lost one or a lost answer is not).

use clamator_protocol::envelope::build_error;
use clamator_protocol::{Envelope, RpcError};
use redis::{RedisResult, Value};

use crate::entry::RawEntry;
use crate::finish::{Reply, ReplyOutcome, reply_command};
use crate::keys;
use crate::options::DEAD_LETTER_MAXLEN;
use crate::worker::ServiceWorker;

/// `data.name` of the error a dead-lettered request's caller receives.
pub(crate) const ERROR_NAME: &str = "DeadLetter";

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

/// "3 times", "1 time".
fn times(n: usize) -> String {
    if n == 1 {
        "1 time".to_owned()
    } else {
        format!("{n} times")
    }
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
    })
}

/// The wire method of the entry's request, for logs.
fn method_of(entry: &RawEntry) -> Option<String> {
    match Envelope::parse(entry.field(keys::FIELD_ENVELOPE)?) {
        Ok(Envelope::Request(r)) => Some(format!("{}.{}", r.service, r.method)),
        _ => None,
    }
}

/// `XADD <dead stream> MAXLEN ~ 10000 * <original fields> dead-id .. dead-deliveries ..
/// dead-consumer .. dead-reason ..`.
fn dead_letter_command(w: &ServiceWorker, d: &DeadEntry, max_deliveries: u32) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(&w.dead_stream)
        .arg("MAXLEN")
        .arg("~")
        .arg(DEAD_LETTER_MAXLEN)
        .arg("*");
    for (k, v) in &d.entry.fields {
        // An original field with one of our names would make the letter ambiguous.
        if !keys::DEAD_LETTER_FIELDS
            .iter()
            .any(|f| f.as_bytes() == k.as_slice())
        {
            cmd.arg(k.as_slice()).arg(v.as_slice());
        }
    }
    cmd.arg(keys::FIELD_DEAD_ID)
        .arg(&d.entry.id)
        .arg(keys::FIELD_DEAD_DELIVERIES)
        .arg(d.deliveries)
        .arg(keys::FIELD_DEAD_CONSUMER)
        .arg(&d.last_consumer)
        .arg(keys::FIELD_DEAD_REASON)
        .arg(format!(
            "delivered {} without being acknowledged (max_deliveries {max_deliveries}); \
             its handler probably crashes or hangs the worker",
            times(d.deliveries)
        ));
    cmd
}

impl ServiceWorker {
    /// Moves entries this worker claimed to the dead-letter stream, answers
    /// their callers and acknowledges them. Never fails: what could not be
    /// done stays pending and is retried by a later reclaim pass.
    pub(crate) async fn dead_letter(&self, dead: Vec<DeadEntry>, max_deliveries: u32) {
        if dead.is_empty() {
            return;
        }
        let limit = self.shared.command_timeout();
        let mut store = redis::pipe();
        store.ignore_errors();
        for d in &dead {
            store.add_command(dead_letter_command(self, d, max_deliveries));
        }
        let stored: Vec<RedisResult<String>> = match self.shared.query_pipeline(&store, limit).await
        {
            Ok(results) => results,
            Err(error) => {
                tracing::warn!(service = %self.service, %error, entries = dead.len(),
                    "writing dead letters failed; the entries stay pending and are retried");
                return;
            }
        };
        let mut settled = Vec::new();
        let mut replies = Vec::new();
        for (d, result) in dead.iter().zip(stored) {
            let dead_letter_id = match result {
                Ok(id) => id,
                Err(error) => {
                    tracing::warn!(service = %self.service, entry_id = %d.entry.id, %error,
                        dead_stream = %self.dead_stream,
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
            tracing::warn!(service = %self.service, entry_id = %d.entry.id,
                trace_id = trace_id.as_deref(), parent_span_id = parent_span_id.as_deref(),
                deliveries = d.deliveries, last_consumer = %d.last_consumer,
                method = method_of(&d.entry).as_deref().unwrap_or("-"),
                dead_stream = %self.dead_stream, %dead_letter_id,
                "entry delivered max_deliveries times without being acknowledged (its handler \
                 probably crashes or hangs the worker); moved to the dead-letter stream");
            match error_reply(&d.entry, self.key_prefix(), d.deliveries, &self.dead_stream) {
                Some(reply) => replies.push((d.entry.id.as_str(), reply)),
                None => settled.push(d.entry.id.as_str()),
            }
        }
        // Each error reply before its ack: one Redis refused for now (out of
        // memory, a failover) leaves its entry pending, dead-lettered again
        // by a later pass (a duplicate dead letter, never a lost answer).
        let writes = replies
            .iter()
            .map(|(_, reply)| reply_command(reply, self.reply_maxlen))
            .collect();
        let answers = self.shared.each(writes, limit).await;
        for ((entry_id, reply), answer) in replies.iter().zip(&answers) {
            match ReplyOutcome::of(answer) {
                ReplyOutcome::Written | ReplyOutcome::Gone => {}
                ReplyOutcome::Refused(error) => tracing::warn!(service = %self.service,
                    %entry_id, reply_to = %reply.to, %error,
                    "Redis refused the error reply of a dead-lettered request for good; its \
                     caller will time out"),
                ReplyOutcome::Again(error) => {
                    tracing::warn!(service = %self.service, %entry_id, %error,
                        "writing the error reply of a dead-lettered request failed for now; \
                         the entry stays pending and is dead-lettered and answered again later");
                    continue;
                }
            }
            settled.push(entry_id);
        }
        if settled.is_empty() {
            return;
        }
        let mut ack = redis::cmd("XACK");
        ack.arg(&self.stream).arg(&self.group).arg(&settled);
        if let Err(error) = self.shared.query::<Value>(&ack, limit).await {
            tracing::warn!(service = %self.service, %error, entries = settled.len(),
                "acknowledging dead-lettered entries failed; they stay pending and will be \
                 dead-lettered again");
        }
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
