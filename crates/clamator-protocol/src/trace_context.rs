//! W3C Trace Context (`traceparent`, `tracestate`) without I/O, and the span
//! field names every transport records on its client and server spans.
//!
//! A transport carries the two values beside the JSON envelope (the Redis
//! transport as stream-entry fields, which the Python and TypeScript peers
//! ignore), so the envelope never changes. Parsing is junk-tolerant: a value
//! that is not a valid `traceparent` is `None`, never an error, and the
//! request it came with is handled as one without trace context.

use std::fmt;

use crate::error::RpcError;

/// The span field a transport's client and server spans record the RPC
/// error code in (OpenTelemetry `rpc.jsonrpc.error_code`).
pub const FIELD_ERROR_CODE: &str = "rpc.jsonrpc.error_code";
/// The span field naming the kind of failure (OpenTelemetry `error.type`):
/// the RPC error code as text, or a transport failure such as `timeout`.
pub const FIELD_ERROR_TYPE: &str = "error.type";
/// The span field tracing-opentelemetry turns into the span's status.
pub const FIELD_OTEL_STATUS: &str = "otel.status_code";

/// A W3C `traceparent`: version `00`, a 16-byte trace id, an 8-byte parent
/// span id and the trace flags, `00-<32 hex>-<16 hex>-<2 hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

/// Random non-zero bytes from a UUID v4 (the crate already depends on it;
/// a few bits are fixed by the UUID version, which is harmless for ids).
fn random_bytes() -> [u8; 16] {
    loop {
        let bytes = *uuid::Uuid::new_v4().as_bytes();
        if bytes[..8] != [0; 8] && bytes[8..] != [0; 8] {
            return bytes;
        }
    }
}

fn random_span_id() -> [u8; 8] {
    let bytes = random_bytes();
    let mut id = [0; 8];
    id.copy_from_slice(&bytes[8..]);
    id
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Decodes lowercase hex into `out`; `None` on any other character (W3C
/// allows lowercase only).
fn unhex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0; N];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

impl TraceParent {
    /// The `sampled` trace flag.
    pub const SAMPLED: u8 = 0x01;

    /// A new trace: a random trace id and span id, sampled.
    pub fn new_root() -> TraceParent {
        TraceParent {
            trace_id: random_bytes(),
            span_id: random_span_id(),
            flags: Self::SAMPLED,
        }
    }

    /// A new span in the same trace: same trace id and flags, a random span id.
    pub fn new_child(&self) -> TraceParent {
        TraceParent {
            span_id: random_span_id(),
            ..*self
        }
    }

    /// From its parts; `None` when the trace id or the span id is all zeros
    /// (invalid in W3C Trace Context).
    pub fn from_parts(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> Option<TraceParent> {
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(TraceParent {
            trace_id,
            span_id,
            flags,
        })
    }

    /// Parses a `traceparent` value; `None` for anything W3C Trace Context
    /// says to ignore: a wrong length or separator, upper-case or non-hex
    /// digits, version `ff`, an all-zero trace or span id, or a version `00`
    /// value with anything after the flags. A later version is read by its
    /// first four parts, as the spec asks.
    pub fn parse(value: &[u8]) -> Option<TraceParent> {
        if value.len() < 55 || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let version = unhex::<1>(&value[..2])?[0];
        match version {
            0xff => return None,
            0 if value.len() != 55 => return None,
            0 => {}
            _ if value.len() > 55 && value[55] != b'-' => return None,
            _ => {}
        }
        let trace_id = unhex::<16>(&value[3..35])?;
        let span_id = unhex::<8>(&value[36..52])?;
        let flags = unhex::<1>(&value[53..55])?[0];
        TraceParent::from_parts(trace_id, span_id, flags)
    }

    /// The trace id.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The (parent) span id.
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// The trace flags (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// The trace id as 32 lowercase hex digits (what the `trace_id` span field holds).
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{}",
            hex(&self.trace_id),
            hex(&self.span_id),
            hex(&[self.flags])
        )
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceParent({self})")
    }
}

/// The longest `tracestate` value passed on, in bytes (W3C: 32 members of
/// at most 256 characters; implementations may truncate at 512).
pub const MAX_TRACESTATE_LEN: usize = 8192;

/// A `tracestate` value as received, if it is printable ASCII (spaces and
/// tabs allowed) of at most [`MAX_TRACESTATE_LEN`] bytes; `None` otherwise.
/// Its members are not checked further: it is passed on, not interpreted.
pub fn parse_tracestate(value: &[u8]) -> Option<String> {
    if value.is_empty()
        || value.len() > MAX_TRACESTATE_LEN
        || !value
            .iter()
            .all(|&c| c == b'\t' || (0x20..0x7f).contains(&c))
    {
        return None;
    }
    std::str::from_utf8(value).ok().map(str::to_owned)
}

/// Records an RPC error on the current span: [`FIELD_ERROR_CODE`] (the
/// code), [`FIELD_ERROR_TYPE`] (the code as text) and [`FIELD_OTEL_STATUS`]
/// `ERROR`. A span that did not declare these fields ignores them, so this
/// is a no-op outside a transport's server span.
pub fn record_rpc_error(error: &RpcError) {
    record_rpc_error_code_on(&tracing::Span::current(), error.code);
}

/// [`record_rpc_error`] on a given span, from the code alone.
pub fn record_rpc_error_code_on(span: &tracing::Span, code: i64) {
    span.record(FIELD_ERROR_CODE, code);
    span.record(FIELD_ERROR_TYPE, code.to_string());
    span.record(FIELD_OTEL_STATUS, "ERROR");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn round_trips_a_valid_traceparent() {
        let tp = TraceParent::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(tp.to_string(), GOOD);
        assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.span_id_hex(), "00f067aa0ba902b7");
        assert_eq!(tp.flags(), 1);
        // A later version: the first four parts are read, the rest ignored.
        let future = format!("01{}-whatever", &GOOD[2..]);
        assert_eq!(
            TraceParent::parse(future.as_bytes()).unwrap().trace_id(),
            tp.trace_id()
        );
    }

    #[test]
    fn junk_is_ignored() {
        let bad = [
            "",
            "00",
            "junk",
            &GOOD[..54],
            &format!("{GOOD}-00"),
            &GOOD.to_uppercase(),
            &GOOD.replace('-', "_"),
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ];
        for b in bad {
            assert_eq!(TraceParent::parse(b.as_bytes()), None, "{b:?}");
        }
        assert_eq!(TraceParent::parse(b"\xff\xfe"), None);
        assert_eq!(TraceParent::parse(&[0xc3; 55]), None);
    }

    #[test]
    fn new_ids_are_valid_and_distinct() {
        let a = TraceParent::new_root();
        let b = TraceParent::new_root();
        assert_ne!(a.trace_id(), b.trace_id());
        assert_eq!(TraceParent::parse(a.to_string().as_bytes()), Some(a));
        let c = a.new_child();
        assert_eq!(c.trace_id(), a.trace_id());
        assert_ne!(c.span_id(), a.span_id());
        assert!(TraceParent::from_parts([0; 16], [1; 8], 1).is_none());
    }

    #[test]
    fn tracestate_is_passed_on_when_printable() {
        assert_eq!(
            parse_tracestate(b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        assert_eq!(parse_tracestate(b""), None);
        assert_eq!(parse_tracestate(b"a=\n"), None);
        assert_eq!(parse_tracestate(b"a=\xff"), None);
        assert_eq!(parse_tracestate(&vec![b'a'; MAX_TRACESTATE_LEN + 1]), None);
    }
}
