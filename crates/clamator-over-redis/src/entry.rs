//! Stream entries as this transport reads them, parsed from raw Redis replies
//! (XREADGROUP, XREAD, XCLAIM, XRANGE; RESP2 or RESP3).
//!
//! Parsing is done here by hand rather than with the `redis` crate's typed
//! replies, because those fail the whole batch on one entry whose field name
//! is not UTF-8: a junk entry must be acked and dropped, never wedge a loop.

use clamator_protocol::Metadata;
use redis::Value;

use crate::keys::{
    FIELD_ENVELOPE, FIELD_REPLY_NOMKSTREAM, FIELD_REPLY_TO, FIELD_TIMEOUT_MS, FIELD_TRACEPARENT,
    FIELD_TRACESTATE,
};
use crate::stream_id::StreamId;
use crate::trace;

/// One stream entry: its id and the fields this transport reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The stream entry id, `<ms>-<seq>`.
    pub(crate) id: String,
    /// The `envelope` field, raw bytes (`None` when missing).
    pub(crate) envelope: Option<Vec<u8>>,
    /// The `reply-to` field, raw bytes (`None` when missing).
    pub(crate) reply_to: Option<Vec<u8>>,
    /// The caller's `timeout-ms` (`None` when missing or unreadable: peers do not send it).
    pub(crate) timeout_ms: Option<u64>,
    /// `reply-nomkstream` is `1`: reply with `NOMKSTREAM` (sent by Rust clients).
    pub(crate) nomkstream: bool,
    /// The caller's trace context (`traceparent`, `tracestate`; sent by Rust
    /// clients), `None` when missing or invalid.
    pub(crate) trace: Option<trace::Incoming>,
    /// How many times the entry has been delivered, this delivery included,
    /// when known (1 for a fresh read; the reclaim loop knows it).
    pub(crate) deliveries: Option<usize>,
    /// The consumer that held it before, for an entry reclaimed from another.
    pub(crate) reclaimed_from: Option<String>,
    /// The caller's metadata (`meta-<name>` fields; sent by Rust clients that
    /// set some). Fields that cannot be metadata are left out (and logged).
    pub(crate) metadata: Metadata,
}

impl Entry {
    /// When the request was added, in Redis's clock (ms since the epoch):
    /// the entry id's time.
    pub(crate) fn added_ms(&self) -> Option<u64> {
        StreamId::parse(&self.id).map(StreamId::ms)
    }
}

fn timeout_ms(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// One stream entry with every field, raw (a field name or value need not
/// be UTF-8): what a dead letter carries over, what `clamator dead` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The stream entry id, `<ms>-<seq>`.
    pub id: String,
    /// Every field and value in stream order (pairs that are not strings are left out).
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl RawEntry {
    /// The value of the first field named `name`.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// The entry as handlers see it.
    pub(crate) fn into_entry(self) -> Entry {
        let mut fields = EntryFields::default();
        for (k, v) in self.fields {
            fields.take(&k, v);
        }
        fields.into_entry(self.id)
    }
}

/// The fields handlers read, gathered one by one from an entry's list.
#[derive(Default)]
struct EntryFields {
    envelope: Option<Vec<u8>>,
    reply_to: Option<Vec<u8>>,
    timeout: Option<u64>,
    nomkstream: bool,
    traceparent: Option<Vec<u8>>,
    tracestate: Option<Vec<u8>>,
    metadata: Metadata,
}

impl EntryFields {
    /// Keeps `v` when `k` names a field handlers read (the first of each).
    fn take(&mut self, k: &[u8], v: Vec<u8>) {
        if k == FIELD_ENVELOPE.as_bytes() && self.envelope.is_none() {
            self.envelope = Some(v);
        } else if k == FIELD_REPLY_TO.as_bytes() && self.reply_to.is_none() {
            self.reply_to = Some(v);
        } else if k == FIELD_TIMEOUT_MS.as_bytes() && self.timeout.is_none() {
            self.timeout = timeout_ms(&v);
        } else if k == FIELD_REPLY_NOMKSTREAM.as_bytes() {
            self.nomkstream = v == b"1";
        } else if k == FIELD_TRACEPARENT.as_bytes() && self.traceparent.is_none() {
            self.traceparent = Some(v);
        } else if k == FIELD_TRACESTATE.as_bytes() && self.tracestate.is_none() {
            self.tracestate = Some(v);
        } else if let Some(Err(e)) = self.metadata.read_field(k, &v) {
            // Hostile or foreign: the request still runs, without it.
            tracing::debug!(error = %e, "a metadata field of a request was left out");
        }
    }

    fn into_entry(self, id: String) -> Entry {
        Entry {
            id,
            envelope: self.envelope,
            reply_to: self.reply_to,
            timeout_ms: self.timeout,
            nomkstream: self.nomkstream,
            trace: trace::incoming(self.traceparent.as_deref(), self.tracestate.as_deref()),
            deliveries: None,
            reclaimed_from: None,
            metadata: self.metadata,
        }
    }
}

/// A Redis reply did not have the shape of a list of entries.
#[derive(Debug, thiserror::Error)]
#[error("unexpected reply shape from Redis: {0}")]
pub struct ShapeError(String);

fn shape(what: impl Into<String>) -> ShapeError {
    ShapeError(what.into())
}

fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

/// Hands each field/value pair of a field list (an array in RESP2, a map
/// in RESP3) whose name and value are strings to `each`, in stream order.
fn each_pair(v: Value, mut each: impl FnMut(Vec<u8>, Vec<u8>)) -> Result<(), ShapeError> {
    let mut one = |k: Value, v: Value| {
        if let (Some(k), Some(v)) = (bytes(k), bytes(v)) {
            each(k, v);
        }
    };
    match v {
        Value::Map(m) => m.into_iter().for_each(|(k, v)| one(k, v)),
        Value::Array(items) => {
            if items.len() % 2 != 0 {
                return Err(shape("odd number of items in a field list"));
            }
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                one(k, v);
            }
        }
        // A deleted entry still in a pending list (Redis 6) has nil fields.
        Value::Nil => {}
        other => return Err(shape(format!("expected a field list, got {other:?}"))),
    }
    Ok(())
}

/// The id and the field list of one `[id, [field, value, ...]]` entry.
fn id_and_fields(v: Value) -> Result<(String, Value), ShapeError> {
    let Value::Array(parts) = v else {
        return Err(shape("an entry is not an array"));
    };
    let mut parts = parts.into_iter();
    let id = parts
        .next()
        .and_then(bytes)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| shape("an entry has no id"))?;
    Ok((id, parts.next().unwrap_or(Value::Nil)))
}

/// One `[id, [field, value, ...]]` entry, with the fields handlers read
/// (readers ignore fields they do not know, docs/WIRE.md §2), taken
/// straight from the reply (no list of every field in between).
fn entry(v: Value) -> Result<Entry, ShapeError> {
    let (id, list) = id_and_fields(v)?;
    let mut fields = EntryFields::default();
    each_pair(list, |k, v| fields.take(&k, v))?;
    Ok(fields.into_entry(id))
}

/// One `[id, [field, value, ...]]` entry with all its fields.
fn raw_entry(v: Value) -> Result<RawEntry, ShapeError> {
    let (id, list) = id_and_fields(v)?;
    let mut fields = Vec::new();
    each_pair(list, |k, v| fields.push((k, v)))?;
    Ok(RawEntry { id, fields })
}

/// The entries of an `XRANGE` (or `XCLAIM`) reply, with all their fields.
/// Deleted entries (nil on Redis 6; Redis 7 leaves them out) are skipped.
pub fn parse_entries(v: Value) -> Result<Vec<RawEntry>, ShapeError> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .filter(|item| !matches!(item, Value::Nil))
            .map(raw_entry)
            .collect(),
        Value::Nil => Ok(Vec::new()),
        other => Err(shape(format!("expected a list of entries, got {other:?}"))),
    }
}

fn entries(v: Value) -> Result<Vec<Entry>, ShapeError> {
    match v {
        Value::Array(items) => items
            .into_iter()
            // Redis 6 lists deleted entries as nil: nothing to handle.
            .filter(|item| !matches!(item, Value::Nil))
            .map(entry)
            .collect(),
        Value::Nil => Ok(Vec::new()),
        other => Err(shape(format!("expected a list of entries, got {other:?}"))),
    }
}

/// The entries of an XREAD / XREADGROUP reply (one or more streams); nil
/// (the BLOCK timed out) is no entries.
pub(crate) fn parse_read(v: Value) -> Result<Vec<Entry>, ShapeError> {
    let streams = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(m) => m,
        Value::Array(items) => items
            .into_iter()
            .map(|s| match s {
                Value::Array(kv) if kv.len() == 2 => {
                    let mut kv = kv.into_iter();
                    match (kv.next(), kv.next()) {
                        (Some(k), Some(v)) => Ok((k, v)),
                        _ => Err(shape("a stream is not [key, entries]")),
                    }
                }
                _ => Err(shape("a stream is not [key, entries]")),
            })
            .collect::<Result<_, _>>()?,
        other => return Err(shape(format!("expected streams, got {other:?}"))),
    };
    let mut out = Vec::new();
    for (_key, list) in streams {
        out.extend(entries(list)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bs(s: &[u8]) -> Value {
        Value::BulkString(s.to_vec())
    }

    fn raw_entry(id: &str, fields: &[(&[u8], &[u8])]) -> Value {
        Value::Array(vec![
            bs(id.as_bytes()),
            Value::Array(fields.iter().flat_map(|(k, v)| [bs(k), bs(v)]).collect()),
        ])
    }

    #[test]
    fn reads_resp2_and_resp3_stream_replies() {
        let e = raw_entry(
            "1-0",
            &[
                (b"type", b"rpc"),
                (b"envelope", b"{}"),
                (b"reply-to", b"p:replies:x"),
                (b"x\xff", b"y"),
            ],
        );
        let want = Entry {
            id: "1-0".into(),
            envelope: Some(b"{}".to_vec()),
            reply_to: Some(b"p:replies:x".to_vec()),
            timeout_ms: None,
            nomkstream: false,
            trace: None,
            deliveries: None,
            reclaimed_from: None,
            metadata: Metadata::new(),
        };
        let resp2 = Value::Array(vec![Value::Array(vec![
            bs(b"s"),
            Value::Array(vec![e.clone()]),
        ])]);
        assert_eq!(parse_read(resp2).unwrap(), vec![want.clone()]);
        let resp3 = Value::Map(vec![(bs(b"s"), Value::Array(vec![e]))]);
        assert_eq!(parse_read(resp3).unwrap(), vec![want]);
        assert!(parse_read(Value::Nil).unwrap().is_empty());
    }

    #[test]
    fn junk_fields_parse_as_missing() {
        let e = raw_entry("2-0", &[(b"\xff\xfe", b"\xff")]);
        let got = parse_read(Value::Array(vec![Value::Array(vec![
            bs(b"s"),
            Value::Array(vec![e]),
        ])]))
        .unwrap();
        assert_eq!(got[0].envelope, None);
        assert_eq!(got[0].reply_to, None);
    }

    #[test]
    fn reads_claimed_entries_with_every_field() {
        let reply = Value::Array(vec![
            raw_entry(
                "5-0",
                &[
                    (b"type", b"rpc"),
                    (b"envelope", b"{}"),
                    (b"x-trace", b"t1"),
                    (b"\xff", b"\x00"),
                ],
            ),
            Value::Nil,
        ]);
        let got = parse_entries(reply).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, "5-0");
        assert_eq!(got[0].fields.len(), 4, "unknown and binary fields are kept");
        assert_eq!(got[0].field("x-trace"), Some(&b"t1"[..]));
        assert_eq!(got[0].field("reply-to"), None);
        let e = got[0].clone().into_entry();
        assert_eq!(e.envelope.as_deref(), Some(&b"{}"[..]));
        assert_eq!(e.reply_to, None);
        assert!(parse_entries(Value::Array(vec![])).unwrap().is_empty());
        assert_eq!(e.trace, None);
        assert!(parse_entries(Value::Int(1)).is_err());
    }

    #[test]
    fn trace_context_is_read_and_junk_ignored() {
        let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let entry = |fields: &[(&[u8], &[u8])]| {
            let reply = Value::Array(vec![raw_entry("9-0", fields)]);
            parse_entries(reply).unwrap().remove(0).into_entry()
        };
        let e = entry(&[
            (b"envelope", b"{}"),
            (b"traceparent", tp),
            (b"tracestate", b"k=v"),
        ]);
        let t = e.trace.unwrap();
        assert_eq!(t.parent.to_string().as_bytes(), tp);
        assert_eq!(t.tracestate.as_deref(), Some("k=v"));
        for junk in [&b"junk"[..], b"", b"\xff\xfe", &tp[..54]] {
            let e = entry(&[
                (b"envelope", b"{}"),
                (b"traceparent", junk),
                (b"tracestate", b"k=v"),
            ]);
            assert_eq!(e.trace, None, "{junk:?}");
            assert_eq!(e.envelope.as_deref(), Some(&b"{}"[..]), "still handled");
        }
        let e = entry(&[(b"traceparent", tp), (b"tracestate", b"\x01bad")]);
        assert_eq!(e.trace.unwrap().tracestate, None);
    }
}
