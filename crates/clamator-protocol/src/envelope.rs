//! JSON-RPC 2.0 envelopes as clamator uses them (WIRE.md §3): parse and build.
//!
//! Parsing goes through [`Envelope::parse`], which tells the four kinds apart
//! the way the peer does: a string `method` makes a request (or a notification
//! when `id` is missing or null); otherwise exactly one of `result` and `error`
//! makes a response. Batches (JSON arrays) are invalid.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{ProtocolError, RpcError};
use crate::names::{is_valid_method, is_valid_service};

/// A request id: a string or an integer, echoed back with the same JSON type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Id {
    /// A string id (clients of the family generate UUID v4 strings).
    Str(String),
    /// An integer id.
    Int(i64),
}

impl Id {
    /// A fresh random UUID v4 string id.
    pub fn new_uuid() -> Id {
        Id::Str(uuid::Uuid::new_v4().to_string())
    }

    /// The string form used to match replies to calls (`"7"` for `7` and for `"7"`),
    /// as every member of the family does.
    pub fn key(&self) -> String {
        match self {
            Id::Str(s) => s.clone(),
            Id::Int(i) => i.to_string(),
        }
    }

    /// The id as a JSON value of its own type.
    pub fn to_value(&self) -> Value {
        match self {
            Id::Str(s) => Value::from(s.as_str()),
            Id::Int(i) => Value::from(*i),
        }
    }

    fn from_value(v: &Value) -> Result<Option<Id>, String> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(Id::Str(s.clone()))),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Ok(Some(Id::Int(i))),
                None if n.is_u64() => Err("id must fit a signed 64-bit integer".to_owned()),
                None => Err("id must be a string or an integer, not a float".to_owned()),
            },
            Value::Bool(_) => Err("id must be a string or an integer, not a boolean".to_owned()),
            _ => Err("id must be a string or an integer".to_owned()),
        }
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Str(v) => s.serialize_str(v),
            Id::Int(v) => s.serialize_i64(*v),
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Str(s) => write!(f, "{s:?}"),
            Id::Int(i) => write!(f, "{i}"),
        }
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

impl Envelope {
    /// Parses UTF-8 JSON text into an envelope.
    pub fn parse(text: &[u8]) -> Result<Envelope, ProtocolError> {
        let value: Value =
            serde_json::from_slice(text).map_err(|e| invalid(format!("not JSON: {e}")))?;
        Envelope::from_value(value)
    }

    /// Reads an envelope from a parsed JSON value.
    pub fn from_value(value: Value) -> Result<Envelope, ProtocolError> {
        let mut obj = match value {
            Value::Object(obj) => obj,
            Value::Array(_) => return Err(invalid("batch requests are not supported")),
            _ => return Err(invalid("an envelope must be a JSON object")),
        };
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(invalid("jsonrpc must equal \"2.0\""));
        }
        let id = match obj.get("id") {
            Some(v) => Id::from_value(v).map_err(invalid)?,
            None => None,
        };
        if let Some(Value::String(wire)) = obj.get("method") {
            let (service, method) = wire
                .split_once('.')
                .ok_or_else(|| invalid("method must be \"<service>.<method>\""))?;
            if !is_valid_service(service) {
                return Err(invalid(format!("invalid service name {service:?}")));
            }
            if !is_valid_method(method) {
                return Err(invalid(format!("invalid method name {method:?}")));
            }
            let (service, method) = (service.to_owned(), method.to_owned());
            let params = match obj.remove("params") {
                None => Value::Object(Map::new()),
                Some(p) => p,
            };
            return Ok(Envelope::Request(Request {
                service,
                method,
                params,
                id,
            }));
        }
        match (obj.remove("result"), obj.remove("error")) {
            (Some(result), None) => {
                let id = id.ok_or_else(|| invalid("a success response must have an id"))?;
                Ok(Envelope::Response(Response::Success { id, result }))
            }
            (None, Some(error)) => {
                let error = read_error(error)?;
                Ok(Envelope::Response(Response::Error { id, error }))
            }
            (Some(_), Some(_)) => Err(invalid("a response has either result or error, not both")),
            (None, None) => Err(invalid(
                "an envelope must be a request (string method) or a response (result or error)",
            )),
        }
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

fn read_error(error: Value) -> Result<RpcError, ProtocolError> {
    let Value::Object(mut e) = error else {
        return Err(invalid("error must be an object"));
    };
    let code = match e.get("code") {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| invalid("error.code must be an integer"))?,
        _ => return Err(invalid("error.code must be an integer")),
    };
    let message = match e.remove("message") {
        Some(Value::String(s)) => s,
        _ => return Err(invalid("error.message must be a string")),
    };
    let data = e.remove("data").unwrap_or(Value::Null);
    Ok(RpcError {
        code,
        message,
        data,
    })
}

#[derive(Serialize)]
struct RequestOut<'a> {
    jsonrpc: &'static str,
    method: &'a str,
    params: &'a Value,
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

/// Builds a request envelope (`id: None` builds a notification).
pub fn build_request(wire_method: &str, params: &Value, id: Option<&Id>) -> String {
    to_text(&RequestOut {
        jsonrpc: "2.0",
        method: wire_method,
        params,
        id,
    })
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
mod tests {
    use super::*;
    use serde_json::json;

    enum Want {
        Req(&'static str, &'static str, Value, Option<Id>),
        Ok(Id, Value),
        Err(Option<Id>, i64),
        Invalid(&'static str),
    }
    use Want::*;

    fn s(v: &str) -> Id {
        Id::Str(v.to_owned())
    }

    #[test]
    fn parse_table() {
        let cases: Vec<(&str, Want)> = vec![
            (
                r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1},"id":"x"}"#,
                Req("arith", "add", json!({"a":1}), Some(s("x"))),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1},"id":7}"#,
                Req("arith", "add", json!({"a":1}), Some(Id::Int(7))),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.add","params":{},"id":-3}"#,
                Req("arith", "add", json!({}), Some(Id::Int(-3))),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.add","id":"x"}"#,
                Req("arith", "add", json!({}), Some(s("x"))),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.ping","params":{}}"#,
                Req("arith", "ping", json!({}), None),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.ping","params":{},"id":null}"#,
                Req("arith", "ping", json!({}), None),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.ping"}"#,
                Req("arith", "ping", json!({}), None),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"my-svc.slowAdd","params":[1,2],"id":"y"}"#,
                Req("my-svc", "slowAdd", json!([1, 2]), Some(s("y"))),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.add","params":null,"id":"z"}"#,
                Req("arith", "add", Value::Null, Some(s("z"))),
            ),
            (
                r#"{"id":"x","params":{},"method":"arith.add","jsonrpc":"2.0","extra":1}"#,
                Req("arith", "add", json!({}), Some(s("x"))),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"a1.b2C3","id":""}"#,
                Req("a1", "b2C3", json!({}), Some(s(""))),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"x","result":{"sum":3}}"#,
                Ok(s("x"), json!({"sum":3})),
            ),
            (
                r#"{"jsonrpc":"2.0","id":9,"result":null}"#,
                Ok(Id::Int(9), Value::Null),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"Method not found","data":null}}"#,
                Err(Some(s("x")), -32601),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"x","error":{"code":-32000,"message":"m"}}"#,
                Err(Some(s("x")), -32000),
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"m","data":{}}}"#,
                Err(None, -32600),
            ),
            (
                r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"m"}}"#,
                Err(None, -32600),
            ),
            (r#"[]"#, Invalid("batch")),
            (
                r#"[{"jsonrpc":"2.0","method":"arith.add","id":1}]"#,
                Invalid("batch"),
            ),
            (r#""hello""#, Invalid("JSON object")),
            (r#"42"#, Invalid("JSON object")),
            (r#"null"#, Invalid("JSON object")),
            (
                r#"{"jsonrpc":"2.0","method":"arith.add","id":"x""#,
                Invalid("not JSON"),
            ),
            (r#"not json at all"#, Invalid("not JSON")),
            (r#"{"method":"arith.add","id":"x"}"#, Invalid("jsonrpc")),
            (
                r#"{"jsonrpc":"1.0","method":"arith.add","id":"x"}"#,
                Invalid("jsonrpc"),
            ),
            (
                r#"{"jsonrpc":2.0,"method":"arith.add","id":"x"}"#,
                Invalid("jsonrpc"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.add","id":true}"#,
                Invalid("boolean"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.add","id":1.5}"#,
                Invalid("float"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.add","id":1.0}"#,
                Invalid("float"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.add","id":{"a":1}}"#,
                Invalid("string or an integer"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.add","id":[1]}"#,
                Invalid("string or an integer"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.add","id":18446744073709551615}"#,
                Invalid("64-bit"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arithadd","id":"x"}"#,
                Invalid("<service>.<method>"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"Arith.add","id":"x"}"#,
                Invalid("service name"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":".add","id":"x"}"#,
                Invalid("service name"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.","id":"x"}"#,
                Invalid("method name"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.slow-add","id":"x"}"#,
                Invalid("method name"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"arith.add.more","id":"x"}"#,
                Invalid("method name"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"x","result":1,"error":{"code":1,"message":"m"}}"#,
                Invalid("not both"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"x"}"#,
                Invalid("request (string method)"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":5,"id":"x"}"#,
                Invalid("request (string method)"),
            ),
            (
                r#"{"jsonrpc":"2.0","result":{}}"#,
                Invalid("must have an id"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"result":{}}"#,
                Invalid("must have an id"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"x","error":"boom"}"#,
                Invalid("error must be an object"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"x","error":{"code":"1","message":"m"}}"#,
                Invalid("code"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"x","error":{"code":1.5,"message":"m"}}"#,
                Invalid("code"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"x","error":{"code":-1}}"#,
                Invalid("message"),
            ),
        ];
        assert!(cases.len() >= 30);
        for (text, want) in cases {
            let got = Envelope::parse(text.as_bytes());
            match (want, got) {
                (Req(svc, m, params, id), Result::Ok(Envelope::Request(r))) => {
                    assert_eq!((r.service.as_str(), r.method.as_str()), (svc, m), "{text}");
                    assert_eq!(r.params, params, "{text}");
                    assert_eq!(r.id, id, "{text}");
                }
                (
                    Ok(id, result),
                    Result::Ok(Envelope::Response(Response::Success {
                        id: gid,
                        result: gr,
                    })),
                ) => {
                    assert_eq!((gid, gr), (id, result), "{text}");
                }
                (
                    Err(id, code),
                    Result::Ok(Envelope::Response(Response::Error { id: gid, error })),
                ) => {
                    assert_eq!((gid, error.code), (id, code), "{text}");
                }
                (Invalid(needle), Result::Err(e)) => {
                    assert!(
                        e.to_string().contains(needle),
                        "{text}: {e} should mention {needle:?}"
                    );
                }
                (_, got) => panic!("{text}: unexpected {got:?}"),
            }
        }
    }

    #[test]
    fn error_data_defaults_to_null() {
        let r = Envelope::parse_response(
            br#"{"jsonrpc":"2.0","id":"x","error":{"code":-32000,"message":"m"}}"#,
        )
        .unwrap();
        assert_eq!(r.into_result().unwrap_err().data, Value::Null);
    }

    #[test]
    fn build_round_trips_and_keeps_id_type() {
        let params = json!({"a": 1.5, "t": "é😀\u{1}"});
        for id in [Id::Int(7), s("7"), Id::new_uuid()] {
            let text = build_request("arith.add", &params, Some(&id));
            let r = Envelope::parse_request(text.as_bytes()).unwrap();
            assert_eq!(r.id.as_ref(), Some(&id));
            assert_eq!(r.params, params);

            let ok = build_success(&id, &json!({"sum": 3}));
            let v: Value = serde_json::from_str(&ok).unwrap();
            assert_eq!(v["id"], id.to_value());
            assert!(v.get("error").is_none());

            let err = build_error(Some(&id), &RpcError::method_not_found());
            let v: Value = serde_json::from_str(&err).unwrap();
            assert_eq!(v["id"], id.to_value());
            assert_eq!(v["error"]["data"], Value::Null, "data is always present");
            assert!(v.get("result").is_none());
        }
        assert_eq!(Id::Int(7).key(), s("7").key());
    }

    #[test]
    fn notification_has_no_id_field() {
        let text = build_request("arith.ping", &json!({}), None);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v.get("id").is_none());
        assert_eq!(v["jsonrpc"], "2.0");
    }

    #[test]
    fn parse_response_rejects_requests() {
        let e =
            Envelope::parse_response(br#"{"jsonrpc":"2.0","method":"a.b","id":1}"#).unwrap_err();
        assert!(e.to_string().contains("invalid response envelope"), "{e}");
        assert!(Envelope::parse_request(br#"{"jsonrpc":"2.0","id":1,"result":1}"#).is_err());
    }
}
