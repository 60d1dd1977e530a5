//! Every Redis key, group, consumer and stream field name this transport uses
//! (docs/WIRE.md §1 and §2), spelled here and nowhere else.
//!
//! Each command the transport sends touches exactly one of these keys, so a
//! Redis Cluster connection can route every command by its key.

/// The `type` field of request, notification and reply entries.
pub const FIELD_TYPE: &str = "type";
/// The `envelope` field: the JSON-RPC envelope as UTF-8 JSON text.
pub const FIELD_ENVELOPE: &str = "envelope";
/// The `reply-to` field of a request entry: the caller's reply stream key.
pub const FIELD_REPLY_TO: &str = "reply-to";
/// The `timeout-ms` field of a request entry (a clamator-rs extension): how
/// long the caller waits for the reply, counted from the entry's id (the
/// Redis time it was added). A Rust server skips a request whose caller has
/// given up; the Python peer ignores the field (readers ignore unknown fields).
pub const FIELD_TIMEOUT_MS: &str = "timeout-ms";
/// The value of the `type` field (reserved by the peer, which does not check it).
pub const TYPE_RPC: &str = "rpc";
/// The `reply-nomkstream` field of a request entry (a clamator-rs extension),
/// value `1`: the caller keeps its reply stream alive itself (with a TTL it
/// refreshes), so a Rust server replies with `XADD ... NOMKSTREAM` and never
/// re-creates the reply stream of a caller that is gone. The peer ignores it.
pub const FIELD_REPLY_NOMKSTREAM: &str = "reply-nomkstream";
/// The `traceparent` field of a request or notification entry (a clamator-rs
/// extension): the caller's W3C trace context,
/// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`. A Rust server
/// continues the trace; an invalid value is ignored. The peer ignores it.
pub const FIELD_TRACEPARENT: &str = "traceparent";
/// The `tracestate` field (W3C Trace Context, vendor data), sent beside
/// [`FIELD_TRACEPARENT`] when the caller's OpenTelemetry context has one.
pub const FIELD_TRACESTATE: &str = "tracestate";
/// The `type` of the entry a Rust client adds to create its reply stream
/// (readers skip entries without an `envelope`).
pub const TYPE_OPEN: &str = "open";
/// The `type` of a cancel entry (on a service's cancel stream).
pub const TYPE_CANCEL: &str = "cancel";
/// The JSON-RPC method of a cancel entry's envelope: a notification
/// `{"method": "$cancelRequest", "params": {"id": <the call's id>}}`.
pub const CANCEL_METHOD: &str = "$cancelRequest";
/// Cancel streams are capped near this many entries (`MAXLEN ~`).
pub const CANCEL_STREAM_MAXLEN: usize = 1024;
/// The longest instance id accepted in a `reply-to` key, in bytes.
pub const MAX_INSTANCE_ID_LEN: usize = 256;

/// Dead-letter field: the id the entry had on the command stream.
pub const FIELD_DEAD_ID: &str = "dead-id";
/// Dead-letter field: how many times the entry was delivered without being acknowledged.
pub const FIELD_DEAD_DELIVERIES: &str = "dead-deliveries";
/// Dead-letter field: the consumer that held the entry last (`<service>:<instance_id>`).
pub const FIELD_DEAD_CONSUMER: &str = "dead-consumer";
/// Dead-letter field: why the entry was dead-lettered, for people.
pub const FIELD_DEAD_REASON: &str = "dead-reason";
/// Every field a dead letter adds to the fields of the original entry; the
/// rest of a dead letter is the original entry, field for field.
///
/// They share the `dead-` prefix so they cannot be mistaken for request
/// fields (extensions travel as extra fields of the same entry).
pub const DEAD_LETTER_FIELDS: [&str; 4] = [
    FIELD_DEAD_ID,
    FIELD_DEAD_DELIVERIES,
    FIELD_DEAD_CONSUMER,
    FIELD_DEAD_REASON,
];

/// The command stream of a service: `<key_prefix>:cmds:<service>`.
pub fn command_stream(key_prefix: &str, service: &str) -> String {
    // Built by hand: every call names its stream, and `format!` costs more.
    let mut key = String::with_capacity(key_prefix.len() + ":cmds:".len() + service.len());
    key.push_str(key_prefix);
    key.push_str(":cmds:");
    key.push_str(service);
    key
}

/// The reply stream of one client instance: `<key_prefix>:replies:<instance_id>`.
pub fn reply_stream(key_prefix: &str, instance_id: &str) -> String {
    format!("{key_prefix}:replies:{instance_id}")
}

/// Whether `id` may name a reply stream: non-empty, at most
/// [`MAX_INSTANCE_ID_LEN`] bytes, no `:` (which could reach into another
/// key prefix's names) and no control characters.
pub fn is_valid_instance_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_INSTANCE_ID_LEN
        && !id.chars().any(|c| c == ':' || c.is_control())
}

/// The reply stream a request entry's `reply-to` names, if it is one this
/// prefix's servers write to: exactly `<key_prefix>:replies:<instance id>`
/// with a valid instance id (UTF-8). Anything else (another service's command
/// stream, a dead-letter stream, a key outside the prefix, an empty name) is
/// refused, so a request can never make a server write, or trim, elsewhere.
pub fn reply_target<'a>(key_prefix: &str, reply_to: &'a [u8]) -> Option<&'a str> {
    let text = std::str::from_utf8(reply_to).ok()?;
    let id = text.strip_prefix(key_prefix)?.strip_prefix(":replies:")?;
    is_valid_instance_id(id).then_some(text)
}

/// The dead-letter stream of a service: `<key_prefix>:dead:<service>`.
///
/// Requests no worker ever acknowledged are moved here after
/// `max_deliveries` deliveries (see the crate docs, "Dead letters"). A plain
/// stream without consumer group: nothing consumes it; `clamator dead` lists
/// and requeues its entries. Not part of the peer's wire contract.
pub fn dead_letter_stream(key_prefix: &str, service: &str) -> String {
    format!("{key_prefix}:dead:{service}")
}

/// The cancel stream of a service: `<key_prefix>:cancel:<service>`. A Rust
/// client whose call timed out or was dropped adds a cancel entry; every
/// Rust server of the service reads the stream (plain `XREAD`, no group, so
/// each sees every entry). The peers never read or write it.
pub fn cancel_stream(key_prefix: &str, service: &str) -> String {
    format!("{key_prefix}:cancel:{service}")
}

/// The consumer group on a service's command stream: the service name itself.
pub fn group(service: &str) -> String {
    service.to_owned()
}

/// The consumer name of one server instance inside a group: `<service>:<instance_id>`.
pub fn consumer(service: &str, instance_id: &str) -> String {
    format!("{service}:{instance_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_wire_contract() {
        assert_eq!(command_stream("app", "arith"), "app:cmds:arith");
        assert_eq!(reply_stream("app", "i-1"), "app:replies:i-1");
        assert_eq!(dead_letter_stream("app", "arith"), "app:dead:arith");
        assert_eq!(group("arith"), "arith");
        assert_eq!(consumer("arith", "i-1"), "arith:i-1");
        assert_eq!(
            (FIELD_TYPE, FIELD_ENVELOPE, FIELD_REPLY_TO, TYPE_RPC),
            ("type", "envelope", "reply-to", "rpc")
        );
    }

    #[test]
    fn only_this_prefixes_reply_streams_are_reply_targets() {
        let ok = "app:replies:5f0c7a52-0d8e-4b51-9f59-8ed5bb3a3f7e";
        assert_eq!(reply_target("app", ok.as_bytes()), Some(ok));
        assert_eq!(reply_target("app", b"app:replies:x"), Some("app:replies:x"));
        for bad in [
            &b""[..],
            b"app:replies:",
            b"app:cmds:arith",
            b"app:dead:arith",
            b"other:replies:x",
            b"app:replies:x:cmds:arith",
            b"app:replies:a\nb",
            b"app:replies:\xff",
            b"app:repliesx",
            b"xapp:replies:x",
        ] {
            assert_eq!(
                reply_target("app", bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!("app:replies:{}", "a".repeat(MAX_INSTANCE_ID_LEN + 1));
        assert_eq!(reply_target("app", long.as_bytes()), None);
    }
}
