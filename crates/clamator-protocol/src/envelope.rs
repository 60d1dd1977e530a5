//! JSON-RPC 2.0 envelopes as clamator uses them (docs/WIRE.md §3): parse and build.
//!
//! Parsing goes through [`Envelope::parse`], which tells the four kinds apart
//! the way the peer does: a string `method` makes a request (or a notification
//! when `id` is missing or null); otherwise exactly one of `result` and `error`
//! makes a response. Batches (JSON arrays) are invalid.

use serde::Serialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{ProtocolError, RpcError};
use crate::names::{is_valid_method, is_valid_service};

/// A request id: a string or an integer, echoed back with the same JSON type.
///
/// Any JSON integer is a valid id, as for the peer (a Python `int` has no
/// size limit): integers that fit `i64` are [`Id::Int`], the others
/// [`Id::BigInt`], which keeps their exact digits. Floats (`1.5`, `1e3`,
/// `5.0`), booleans, objects and arrays are not ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Id {
    /// A string id (clients of the family generate UUID v4 strings).
    Str(String),
    /// An integer id that fits a signed 64-bit integer.
    Int(i64),
    /// An integer id outside the `i64` range, kept as its decimal digits so
    /// that it is echoed exactly.
    BigInt(BigIntId),
}

/// The decimal digits of an integer id outside the `i64` range (see [`Id::BigInt`]).
///
/// Only [`Id::from_integer_text`] makes one, so the digits are always a
/// canonical JSON integer (optional `-`, no leading zeros) that does not fit
/// `i64`: two equal integers never differ in representation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BigIntId(String);

impl BigIntId {
    /// The digits, with a leading `-` for a negative id: `"18446744073709551616"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BigIntId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Id {
    /// A fresh random UUID v4 string id.
    pub fn new_uuid() -> Id {
        Id::Str(uuid::Uuid::new_v4().to_string())
    }

    /// Reads a JSON integer literal (`-?(0|[1-9][0-9]*)`, nothing else, no
    /// surrounding spaces) of any size: [`Id::Int`] when it fits `i64`,
    /// [`Id::BigInt`] otherwise; `None` when the text is not such a literal
    /// (a float, an exponent, a leading zero or `+`, ...).
    pub fn from_integer_text(text: &str) -> Option<Id> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let canonical = match digits.as_bytes() {
            [] => false,
            [b'0'] => true,
            [b'0', ..] => false,
            bytes => bytes.iter().all(u8::is_ascii_digit),
        };
        if !canonical {
            return None;
        }
        Some(match text.parse::<i64>() {
            Ok(i) => Id::Int(i),
            Err(_) => Id::BigInt(BigIntId(text.to_owned())),
        })
    }

    /// The string form used to match replies to calls (`"7"` for `7` and for `"7"`),
    /// as every member of the family does; the digits for a big integer.
    pub fn key(&self) -> String {
        self.key_str().into_owned()
    }

    /// [`Id::key`] without a copy when the id already is that text (a
    /// string id, a big integer's digits).
    pub fn key_str(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Id::Str(s) => std::borrow::Cow::Borrowed(s),
            Id::Int(i) => std::borrow::Cow::Owned(i.to_string()),
            Id::BigInt(b) => std::borrow::Cow::Borrowed(&b.0),
        }
    }

    /// The id as a JSON value of its own type.
    ///
    /// A [`Id::BigInt`] cannot be held exactly by a [`Value`] (serde_json
    /// keeps no more than 64-bit integers): it becomes the exact number when
    /// it fits `u64`, else the nearest `f64`, else (beyond the `f64` range)
    /// a string of its digits. Envelopes built by this module echo it exactly;
    /// use [`Id::key`] or `Display` for its exact digits.
    pub fn to_value(&self) -> Value {
        match self {
            Id::Str(s) => Value::from(s.as_str()),
            Id::Int(i) => Value::from(*i),
            Id::BigInt(b) => serde_json::from_str(&b.0).unwrap_or_else(|_| Value::from(b.as_str())),
        }
    }

    /// Reads an id from a parsed value: `Ok(None)` for `null`. A float is not
    /// an id; an integer beyond `u64` has become one in a [`Value`], so
    /// [`Envelope::parse`] rereads such ids from the text ([`scan_id`]).
    fn from_value(v: &Value) -> Result<Option<Id>, String> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(Id::Str(s.clone()))),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Ok(Some(Id::Int(i))),
                None if n.is_u64() => Ok(Id::from_integer_text(&n.to_string())),
                None => Err(NOT_A_FLOAT.to_owned()),
            },
            Value::Bool(_) => Err("id must be a string or an integer, not a boolean".to_owned()),
            _ => Err(NOT_STRING_OR_INT.to_owned()),
        }
    }

    /// Reads an id from its raw JSON text, as [`scan_id`] finds it: `Ok(None)`
    /// for `null`; an error for anything that is not a string (valid JSON,
    /// no lone surrogates) or an integer.
    fn from_raw(raw: &str) -> Result<Option<Id>, String> {
        let raw = raw.trim();
        match raw.as_bytes().first() {
            Some(b'"') => serde_json::from_str::<String>(raw)
                .map(|s| Some(Id::Str(s)))
                .map_err(|e| format!("id is not a valid JSON string: {e}")),
            Some(b'n') if raw == "null" => Ok(None),
            Some(b't' | b'f') => Err("id must be a string or an integer, not a boolean".to_owned()),
            Some(b'-' | b'0'..=b'9') => Id::from_integer_text(raw)
                .map(Some)
                .ok_or_else(|| NOT_A_FLOAT.to_owned()),
            _ => Err(NOT_STRING_OR_INT.to_owned()),
        }
    }
}

const NOT_A_FLOAT: &str = "id must be a string or an integer, not a float";
const NOT_STRING_OR_INT: &str = "id must be a string or an integer";

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Str(v) => s.serialize_str(v),
            Id::Int(v) => s.serialize_i64(*v),
            // Written as a bare JSON number with its exact digits.
            Id::BigInt(b) => RawValue::from_string(b.0.clone())
                .map_err(serde::ser::Error::custom)?
                .serialize(s),
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Str(s) => write!(f, "{s:?}"),
            Id::Int(i) => write!(f, "{i}"),
            Id::BigInt(b) => write!(f, "{b}"),
        }
    }
}

/// Finds the raw text of the top-level `id` of a JSON object, reading as
/// little as it can: every other member is skipped unevaluated (serde's
/// ignored-any path neither converts numbers nor checks `\u` escapes), keys
/// are compared after unescaping, and text after the object is not looked at.
///
/// It works on text that [`serde_json`] cannot parse: an id seen before the
/// text breaks is still found. The last `id` wins, as in a parsed [`Value`].
/// `None` when the text is not an object or has no readable `id` member.
fn scan_id(text: &[u8]) -> Option<&RawValue> {
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(text);
    // An error only ends the scan: what was found before it stands.
    let _ = IdScan { found: &mut found }.deserialize(&mut de);
    found
}

/// The visitor of [`scan_id`]: records each top-level `id` into `found`.
struct IdScan<'s, 'de> {
    found: &'s mut Option<&'de RawValue>,
}

impl<'de> DeserializeSeed<'de> for IdScan<'_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IdScan<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(is_id) = map.next_key_seed(KeyIsId)? {
            if is_id {
                *self.found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Reads an object key as bytes (escapes resolved, nothing validated) and
/// tells whether it is `id`.
struct KeyIsId;

impl<'de> DeserializeSeed<'de> for KeyIsId {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_bytes(self)
    }
}

impl Visitor<'_> for KeyIsId {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<bool, E> {
        Ok(v == b"id")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == "id")
    }
}

/// A request or notification addressed to `<service>.<method>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The service part of the wire method.
    pub service: String,
    /// The method part of the wire method.
    pub method: String,
    /// The params; `{}` when the envelope had none.
    pub params: Value,
    /// The id; `None` makes this a notification.
    pub id: Option<Id>,
}

impl Request {
    /// This request as read from `queue`'s command queue: one addressed to
    /// another service keeps its method but loses its service, so dispatching
    /// answers "Method not found" instead of running it on the wrong contract.
    pub fn from_queue(self, queue: &str) -> Request {
        if self.service == queue {
            self
        } else {
            Request {
                service: String::new(),
                ..self
            }
        }
    }

    /// Whether this is a notification (no id: no reply is ever sent).
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }
}

/// A response: success or error, never both.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// A result.
    Success {
        /// The id of the request answered.
        id: Id,
        /// The result.
        result: Value,
    },
    /// An error.
    Error {
        /// The id of the request answered; `None` when the server could not read it.
        id: Option<Id>,
        /// The error.
        error: RpcError,
    },
}

impl Response {
    /// The id of the request this answers, if known.
    pub fn id(&self) -> Option<&Id> {
        match self {
            Response::Success { id, .. } => Some(id),
            Response::Error { id, .. } => id.as_ref(),
        }
    }

    /// The error, for an error response (a retry policy looks here).
    pub fn error(&self) -> Option<&RpcError> {
        match self {
            Response::Success { .. } => None,
            Response::Error { error, .. } => Some(error),
        }
    }

    /// The result, or the error as an `Err`.
    pub fn into_result(self) -> Result<Value, RpcError> {
        match self {
            Response::Success { result, .. } => Ok(result),
            Response::Error { error, .. } => Err(error),
        }
    }
}

/// Any clamator envelope.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// A request or a notification.
    Request(Request),
    /// A success or error response.
    Response(Response),
}

fn invalid(reason: impl Into<String>) -> ProtocolError {
    ProtocolError::InvalidEnvelope {
        kind: "JSON-RPC",
        reason: reason.into(),
    }
}

/// What kind of invalid text a [`Rejected`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RejectKind {
    /// serde_json cannot parse the text (JSON-RPC -32700).
    NotJson,
    /// A JSON array: batches are not supported.
    Batch,
    /// JSON, but not an object.
    NotObject,
    /// An object whose `id` is neither a string, an integer nor null.
    BadId,
    /// An object that is not a valid request or response (JSON-RPC -32600).
    Invalid,
}

impl RejectKind {
    /// A short stable label, for logs.
    pub(crate) fn label(self) -> &'static str {
        match self {
            RejectKind::NotJson => "not-json",
            RejectKind::Batch => "batch",
            RejectKind::NotObject => "not-object",
            RejectKind::BadId => "bad-id",
            RejectKind::Invalid => "invalid-envelope",
        }
    }
}

/// Why a text is not a valid envelope, with what a server needs to answer it.
#[derive(Debug)]
pub(crate) struct Rejected {
    /// What kind of invalid text it is.
    pub(crate) kind: RejectKind,
    /// What is wrong with it.
    pub(crate) reason: String,
    /// Its id, when one could be read (a string or an integer, not null).
    pub(crate) id: Option<Id>,
}

impl Rejected {
    fn new(kind: RejectKind, reason: impl Into<String>, id: Option<Id>) -> Self {
        Rejected {
            kind,
            reason: reason.into(),
            id,
        }
    }

    /// The error [`Envelope::parse`] reports.
    pub(crate) fn into_error(self) -> ProtocolError {
        invalid(self.reason)
    }
}

impl Envelope {
    /// Parses UTF-8 JSON text into an envelope.
    ///
    /// An integer id of any size is read exactly ([`Id::BigInt`] beyond `i64`).
    pub fn parse(text: &[u8]) -> Result<Envelope, ProtocolError> {
        Envelope::read(text).map_err(Rejected::into_error)
    }

    /// [`Envelope::parse`], telling what kind of invalid text it is and
    /// recovering the id of invalid text when it can.
    pub(crate) fn read(text: &[u8]) -> Result<Envelope, Rejected> {
        if let Some(envelope) = read_plain(text) {
            return Ok(envelope);
        }
        match serde_json::from_slice(text) {
            Ok(value) => read_value(value, Some(text)),
            Err(e) => {
                // The id may still be readable: in `{"params":{"x":1e400},"id":"k"}`
                // the scan skips the number it could not hold.
                let id = scan_id(text).and_then(|raw| Id::from_raw(raw.get()).ok().flatten());
                Err(Rejected::new(
                    RejectKind::NotJson,
                    format!("not JSON: {e}"),
                    id,
                ))
            }
        }
    }

    /// Reads an envelope from a parsed JSON value.
    ///
    /// An integer id beyond `u64` has become a float in a [`Value`] and is
    /// rejected as one here; [`Envelope::parse`] reads it from the text.
    pub fn from_value(value: Value) -> Result<Envelope, ProtocolError> {
        read_value(value, None).map_err(Rejected::into_error)
    }

    /// Parses a request or notification; a response is an error here.
    pub fn parse_request(text: &[u8]) -> Result<Request, ProtocolError> {
        match Envelope::parse(text)? {
            Envelope::Request(r) => Ok(r),
            Envelope::Response(_) => Err(invalid("expected a request, got a response")),
        }
    }

    /// Parses a response; a request is an error here.
    pub fn parse_response(text: &[u8]) -> Result<Response, ProtocolError> {
        match Envelope::parse(text) {
            Ok(Envelope::Response(r)) => Ok(r),
            Ok(Envelope::Request(_)) => Err(ProtocolError::InvalidEnvelope {
                kind: "response",
                reason: "expected a response, got a request".to_owned(),
            }),
            Err(ProtocolError::InvalidEnvelope { reason, .. }) => {
                Err(ProtocolError::InvalidEnvelope {
                    kind: "response",
                    reason,
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// The members of an envelope, borrowed from its text where they can be.
#[derive(serde::Deserialize)]
struct Members<'a> {
    #[serde(borrow)]
    jsonrpc: Option<&'a str>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    params: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    error: Option<Value>,
}

/// A member that is there, `null` included (`Option<Value>` alone reads
/// `null` as absent, and `"result": null` is a result).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    <Value as serde::Deserialize>::deserialize(d).map(Some)
}

/// The envelope that `text` is, read without building a [`Value`] of the
/// whole object (what every call pays for), when `text` is a plain valid
/// envelope: an object, no duplicate members, no escapes in `jsonrpc` or
/// `method`, an id that is a string, an integer or absent. `None` for
/// anything else, which [`Envelope::read`] then reads the careful way (and
/// rejects with the reason, as it always did): this only adds a way to
/// accept what the careful way accepts too.
fn read_plain(text: &[u8]) -> Option<Envelope> {
    // A struct also deserializes from a JSON array: only objects here.
    if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let m: Members<'_> = serde_json::from_slice(text).ok()?;
    if m.jsonrpc != Some("2.0") {
        return None;
    }
    let id = match m.id {
        None => None,
        Some(raw) => Some(Id::from_raw(raw.get()).ok()??),
    };
    if let Some(wire) = m.method {
        let (service, method) = wire.split_once('.')?;
        if !is_valid_service(service) || !is_valid_method(method) {
            return None;
        }
        return Some(Envelope::Request(Request {
            service: service.to_owned(),
            method: method.to_owned(),
            params: m.params.unwrap_or_else(|| Value::Object(Map::new())),
            id,
        }));
    }
    match (m.result, m.error, id) {
        (Some(result), None, Some(id)) => {
            Some(Envelope::Response(Response::Success { id, result }))
        }
        (None, Some(error), id) => Some(Envelope::Response(Response::Error {
            id,
            error: read_error(error).ok()?,
        })),
        _ => None,
    }
}

/// Reads a parsed envelope; `text`, when known, is what it was parsed from
/// (to reread an integer id too large for a [`Value`]).
fn read_value(value: Value, text: Option<&[u8]>) -> Result<Envelope, Rejected> {
    let mut obj = match value {
        Value::Object(obj) => obj,
        Value::Array(_) => {
            return Err(Rejected::new(
                RejectKind::Batch,
                "batch requests are not supported",
                None,
            ));
        }
        _ => {
            return Err(Rejected::new(
                RejectKind::NotObject,
                "an envelope must be a JSON object",
                None,
            ));
        }
    };
    let id = match obj.get("id") {
        Some(v) => read_id(v, text).map_err(|e| Rejected::new(RejectKind::BadId, e, None))?,
        None => None,
    };
    match (read_body(&mut obj), id) {
        (Ok(Body::Request(service, method, params)), id) => Ok(Envelope::Request(Request {
            service,
            method,
            params,
            id,
        })),
        (Ok(Body::Success(result)), Some(id)) => {
            Ok(Envelope::Response(Response::Success { id, result }))
        }
        (Ok(Body::Success(_)), None) => Err(Rejected::new(
            RejectKind::Invalid,
            "a success response must have an id",
            None,
        )),
        (Ok(Body::Error(error)), id) => Ok(Envelope::Response(Response::Error { id, error })),
        (Err(reason), id) => Err(Rejected::new(RejectKind::Invalid, reason, id)),
    }
}

/// Reads an id; an integer that serde_json could only hold as a float is
/// reread from `text` when it is known.
fn read_id(v: &Value, text: Option<&[u8]>) -> Result<Option<Id>, String> {
    match (v, text) {
        (Value::Number(n), Some(text)) if n.is_f64() => match scan_id(text) {
            Some(raw) => Id::from_raw(raw.get()),
            None => Err(NOT_A_FLOAT.to_owned()),
        },
        _ => Id::from_value(v),
    }
}

/// An envelope without its id.
enum Body {
    /// A request: service, method, params.
    Request(String, String, Value),
    /// A success response's result.
    Success(Value),
    /// An error response's error.
    Error(RpcError),
}

/// Checks everything but the id, the way the peer tells the kinds apart.
fn read_body(obj: &mut Map<String, Value>) -> Result<Body, String> {
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err("jsonrpc must equal \"2.0\"".to_owned());
    }
    if let Some(Value::String(wire)) = obj.get("method") {
        let (service, method) = wire
            .split_once('.')
            .ok_or_else(|| "method must be \"<service>.<method>\"".to_owned())?;
        if !is_valid_service(service) {
            return Err(format!("invalid service name {service:?}"));
        }
        if !is_valid_method(method) {
            return Err(format!("invalid method name {method:?}"));
        }
        let (service, method) = (service.to_owned(), method.to_owned());
        let params = match obj.remove("params") {
            None => Value::Object(Map::new()),
            Some(p) => p,
        };
        return Ok(Body::Request(service, method, params));
    }
    match (obj.remove("result"), obj.remove("error")) {
        (Some(result), None) => Ok(Body::Success(result)),
        (None, Some(error)) => read_error(error).map(Body::Error),
        (Some(_), Some(_)) => Err("a response has either result or error, not both".to_owned()),
        (None, None) => Err(
            "an envelope must be a request (string method) or a response (result or error)"
                .to_owned(),
        ),
    }
}

fn read_error(error: Value) -> Result<RpcError, String> {
    let Value::Object(mut e) = error else {
        return Err("error must be an object".to_owned());
    };
    let code = match e.get("code") {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| "error.code must be an integer".to_owned())?,
        _ => return Err("error.code must be an integer".to_owned()),
    };
    let message = match e.remove("message") {
        Some(Value::String(s)) => s,
        _ => return Err("error.message must be a string".to_owned()),
    };
    let data = e.remove("data").unwrap_or(Value::Null);
    Ok(RpcError {
        code,
        message,
        data,
    })
}

#[derive(Serialize)]
struct RequestOut<'a, P: ?Sized> {
    jsonrpc: &'static str,
    method: &'a str,
    params: &'a P,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Id>,
}

#[derive(Serialize)]
struct SuccessOut<'a> {
    jsonrpc: &'static str,
    id: &'a Id,
    result: &'a Value,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    jsonrpc: &'static str,
    id: Option<&'a Id>,
    error: &'a RpcError,
}

fn to_text<T: Serialize>(value: &T) -> String {
    // Serializing these shapes (strings, integers and `Value`s) cannot fail:
    // every `Value` map has string keys.
    serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"))
}

/// Builds a request envelope straight from typed params, in one
/// serialization (`id: None` builds a notification). Fails with serde's
/// message when the params cannot be serialized (a map with non-string keys,
/// a failing `Serialize` impl).
pub fn try_build_request<P: serde::Serialize + ?Sized>(
    wire_method: &str,
    params: &P,
    id: Option<&Id>,
) -> Result<String, serde_json::Error> {
    // Sized for the envelope around small params, so most requests are
    // written without growing the buffer.
    let mut text = Vec::with_capacity(128 + wire_method.len());
    serde_json::to_writer(
        &mut text,
        &RequestOut {
            jsonrpc: "2.0",
            method: wire_method,
            params,
            id,
        },
    )?;
    // serde_json writes UTF-8 only.
    String::from_utf8(text).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

/// Builds a success response.
pub fn build_success(id: &Id, result: &Value) -> String {
    to_text(&SuccessOut {
        jsonrpc: "2.0",
        id,
        result,
    })
}

/// Builds an error response; `data` is always present (`null` when empty).
pub fn build_error(id: Option<&Id>, error: &RpcError) -> String {
    to_text(&ErrorOut {
        jsonrpc: "2.0",
        id,
        error,
    })
}

#[cfg(test)]
mod tests;
