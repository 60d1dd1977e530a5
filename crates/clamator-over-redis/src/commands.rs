//! The stream entries of the wire, built in one place: requests and
//! notifications (written by [`crate::RedisRpcClient`], which the CLI's
//! `call` and `notify` use too), replies (to handled requests and to
//! dead-lettered ones), and the `open` entry that creates a client's reply
//! stream. Dead letters themselves, and the requeue of their original
//! fields by `clamator dead --requeue`, are built in [`crate::ops::dead_letter`]. The field names and values are [`crate::keys`]'s (docs/WIRE.md §2).

use std::time::Duration;

use clamator_protocol::Metadata;
use clamator_protocol::metadata;

use crate::keys;

/// Where and how the reply to a request goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplyTo<'a> {
    /// The caller's reply stream (`<prefix>:replies:<instance id>`).
    pub(crate) stream: &'a str,
    /// The caller's timeout, sent as `timeout-ms` (a Rust extension the peer
    /// ignores): Rust servers skip a request whose caller gave up.
    pub(crate) timeout_ms: Option<u64>,
    /// Ask Rust servers to reply with `NOMKSTREAM` (`reply-nomkstream: 1`):
    /// the caller keeps its reply stream alive itself.
    pub(crate) nomkstream: bool,
}

/// The W3C trace context a request or notification carries beside its
/// envelope (`traceparent`, `tracestate`; the peers ignore both).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TraceFields<'a> {
    /// The `traceparent` value, `00-<trace id>-<span id>-<flags>`.
    pub(crate) traceparent: &'a str,
    /// The `tracestate` value, if any.
    pub(crate) tracestate: Option<&'a str>,
}

/// `XADD <stream> * type rpc envelope <envelope> [reply-to <stream>
/// [timeout-ms <ms>] [reply-nomkstream 1]] [traceparent <tp> [tracestate
/// <ts>]] [meta-<name> <value> ...]`: a request (with `reply`) or a
/// notification (without).
pub(crate) fn add_request(
    stream: &str,
    envelope: &str,
    reply: Option<ReplyTo<'_>>,
    trace: Option<TraceFields<'_>>,
    metadata: &Metadata,
) -> redis::Cmd {
    // Sized up front: the arguments are known, so the command's buffers
    // are allocated once instead of grown argument by argument.
    let data = 64
        + stream.len()
        + envelope.len()
        + reply.map_or(0, |r| r.stream.len() + 48)
        + trace.map_or(0, |t| {
            t.traceparent.len() + t.tracestate.map_or(0, str::len) + 32
        });
    let mut xadd = redis::Cmd::with_capacity(16, data);
    xadd.arg("XADD")
        .arg(stream)
        .arg("*")
        .arg(keys::FIELD_TYPE)
        .arg(keys::TYPE_RPC)
        .arg(keys::FIELD_ENVELOPE)
        .arg(envelope);
    if let Some(reply) = reply {
        xadd.arg(keys::FIELD_REPLY_TO).arg(reply.stream);
        if let Some(ms) = reply.timeout_ms {
            xadd.arg(keys::FIELD_TIMEOUT_MS).arg(ms);
        }
        if reply.nomkstream {
            xadd.arg(keys::FIELD_REPLY_NOMKSTREAM).arg("1");
        }
    }
    if let Some(trace) = trace {
        xadd.arg(keys::FIELD_TRACEPARENT).arg(trace.traceparent);
        if let Some(state) = trace.tracestate {
            xadd.arg(keys::FIELD_TRACESTATE).arg(state);
        }
    }
    for (name, value) in metadata.iter() {
        xadd.arg([metadata::FIELD_PREFIX, name].concat()).arg(value);
    }
    xadd
}

/// `XADD <to> [NOMKSTREAM] MAXLEN ~ <maxlen> * type rpc envelope <text>`:
/// the one place a reply is written (replies of handlers and of dead letters).
pub(crate) fn reply(to: &str, text: &str, nomkstream: bool, maxlen: usize) -> redis::Cmd {
    let mut cmd = redis::Cmd::with_capacity(12, 64 + to.len() + text.len());
    cmd.arg("XADD").arg(to);
    if nomkstream {
        cmd.arg("NOMKSTREAM");
    }
    cmd.arg("MAXLEN")
        .arg("~")
        .arg(maxlen)
        .arg("*")
        .arg(keys::FIELD_TYPE)
        .arg(keys::TYPE_RPC)
        .arg(keys::FIELD_ENVELOPE)
        .arg(text);
    cmd
}

/// `XADD <reply stream> MAXLEN ~ <maxlen> * type open` then `PEXPIRE <reply
/// stream> <ttl>`: creates a client's reply stream (or adds a harmless entry
/// to it; reply loops skip entries without an envelope) and sets its TTL.
pub(crate) fn open_reply_stream(stream: &str, ttl: Duration, maxlen: usize) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd("XADD")
        .arg(stream)
        .arg("MAXLEN")
        .arg("~")
        .arg(maxlen)
        .arg("*")
        .arg(keys::FIELD_TYPE)
        .arg(keys::TYPE_OPEN)
        .ignore();
    pipe.cmd("PEXPIRE")
        .arg(stream)
        .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
        .ignore();
    pipe
}
