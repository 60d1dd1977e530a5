//! The docs/WIRE.md §4 error mapping (and the request-text rules of §3) as
//! one table of cases, run against every transport: each case is the text
//! of one request sent to the `arith` service ([`crate::TestArith`], or any
//! server of the `arith` interop contract) and what the reply must be.
//!
//! A transport takes part by implementing [`Exchange`]: send request text as
//! a caller that waits for a reply, return the reply text or `None` when the
//! server sends none. [`run`] checks every case and reports all failures at
//! once.

use std::future::Future;

use serde_json::Value;

/// A transport that carries request text to the `arith` service.
pub trait Exchange {
    /// Sends `request` (one request envelope's text, or junk) to the `arith`
    /// service as a caller waiting for a reply would, and returns the reply
    /// text, or `None` once it is certain that the server sends none.
    fn exchange(&mut self, request: &str) -> impl Future<Output = Option<String>>;
}

/// What the reply to a case must be.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// A success reply to `id` (its JSON text, verbatim) with `result` (JSON text).
    Result {
        /// The id as the reply must spell it.
        id: &'static str,
        /// The result, as JSON text.
        result: &'static str,
    },
    /// An error reply to `id` (verbatim) with `code`, `message` and `data`.
    Error {
        /// The id as the reply must spell it.
        id: &'static str,
        /// `error.code`.
        code: i64,
        /// `error.message`.
        message: &'static str,
        /// What `error.data` must be.
        data: Data,
    },
    /// No reply at all.
    NoReply,
}

/// What `error.data` must be.
#[derive(Debug, Clone, Copy)]
pub enum Data {
    /// `null`.
    Null,
    /// Exactly this JSON text.
    Exact(&'static str),
    /// `{"errors": [...]}`, a non-empty list of problems, each with `loc`
    /// (a list), `msg` and `type` (strings); the first has this `type` and
    /// `loc` (JSON text).
    Params {
        /// `errors[0].type`.
        kind: &'static str,
        /// `errors[0].loc`, as JSON text.
        loc: &'static str,
    },
    /// `{"errors": [...]}`, a non-empty list of problems with `loc` and `msg`.
    Errors,
    /// `{"name": <name>, "message": <text containing this>}`.
    Named {
        /// `data.name`.
        name: &'static str,
        /// A part of `data.message`.
        message_contains: &'static str,
    },
    /// `{"name": <string>, "message": <string>}`, whatever they say.
    AnyNamed,
}

/// One request and the reply it must get.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// What the case shows.
    pub name: &'static str,
    /// The request text.
    pub request: &'static str,
    /// The reply it must get.
    pub expect: Expect,
}

const fn error(id: &'static str, code: i64, message: &'static str, data: Data) -> Expect {
    Expect::Error {
        id,
        code,
        message,
        data,
    }
}

const fn invalid_params(id: &'static str, kind: &'static str, loc: &'static str) -> Expect {
    error(id, -32602, "Invalid params", Data::Params { kind, loc })
}

/// Every case, in the order [`run`] sends them.
pub const CASES: &[Case] = &[
    // Success, and ids echoed as sent.
    Case {
        name: "a call with a string id",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":"s1"}"#,
        expect: Expect::Result {
            id: r#""s1""#,
            result: r#"{"sum":3.0}"#,
        },
    },
    Case {
        name: "an integer id comes back an integer",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":7}"#,
        expect: Expect::Result {
            id: "7",
            result: r#"{"sum":3.0}"#,
        },
    },
    Case {
        name: "an id beyond 64 bits is echoed digit for digit",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":4,"b":1},"id":-99999999999999999999999}"#,
        expect: Expect::Result {
            id: "-99999999999999999999999",
            result: r#"{"sum":5.0}"#,
        },
    },
    // §4: service not hosted / method unknown.
    Case {
        name: "unknown method",
        request: r#"{"jsonrpc":"2.0","method":"arith.nope","params":{},"id":"m1"}"#,
        expect: error(r#""m1""#, -32601, "Method not found", Data::Null),
    },
    Case {
        name: "a service not hosted, arriving on arith's route",
        request: r#"{"jsonrpc":"2.0","method":"geometry.area","params":{},"id":"g1"}"#,
        expect: error(r#""g1""#, -32601, "Method not found", Data::Null),
    },
    // §4: params fail validation.
    Case {
        name: "a missing param",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1},"id":"p1"}"#,
        expect: invalid_params(r#""p1""#, "missing", r#"["b"]"#),
    },
    Case {
        name: "a param of the wrong type",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":"two"},"id":"p2"}"#,
        expect: invalid_params(r#""p2""#, "invalid_type", r#"["b"]"#),
    },
    Case {
        name: "an unknown param",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2,"c":3},"id":"p3"}"#,
        expect: invalid_params(r#""p3""#, "extra_forbidden", r#"["c"]"#),
    },
    Case {
        name: "params that are a list",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":[1,2],"id":"p4"}"#,
        expect: invalid_params(r#""p4""#, "model_type", "[]"),
    },
    // §4: application error.
    Case {
        name: "an application error keeps code, message and data",
        request: r#"{"jsonrpc":"2.0","method":"arith.divide","params":{"a":7.5,"b":0},"id":"d1"}"#,
        expect: error(
            r#""d1""#,
            -32000,
            "division by zero",
            Data::Exact(r#"{"a":7.5}"#),
        ),
    },
    // §4: handler fails any other way.
    Case {
        name: "a handler that panics",
        request: r#"{"jsonrpc":"2.0","method":"arith.fail","params":{"message":"boom"},"id":"f1"}"#,
        expect: error(
            r#""f1""#,
            -32603,
            "Internal error",
            Data::Named {
                name: "panic",
                message_contains: "boom",
            },
        ),
    },
    Case {
        name: "the server keeps serving after a panic",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":2,"b":2},"id":"f2"}"#,
        expect: Expect::Result {
            id: r#""f2""#,
            result: r#"{"sum":4.0}"#,
        },
    },
    // §4: the result fails validation.
    Case {
        name: "a result that cannot be encoded",
        request: r#"{"jsonrpc":"2.0","method":"arith.badResult","params":{},"id":"r1"}"#,
        expect: error(r#""r1""#, -32603, "Result validation failed", Data::Errors),
    },
    // §4: a notification, whatever happens: no reply.
    Case {
        name: "a notification",
        request: r#"{"jsonrpc":"2.0","method":"arith.ping","params":{}}"#,
        expect: Expect::NoReply,
    },
    Case {
        name: "a notification with invalid params",
        request: r#"{"jsonrpc":"2.0","method":"arith.ping","params":{"extra":1}}"#,
        expect: Expect::NoReply,
    },
    Case {
        name: "a notification of an unknown method",
        request: r#"{"jsonrpc":"2.0","method":"arith.nope","params":{}}"#,
        expect: Expect::NoReply,
    },
    Case {
        name: "a notification whose handler panics",
        request: r#"{"jsonrpc":"2.0","method":"arith.fail","params":{"message":"boom"}}"#,
        expect: Expect::NoReply,
    },
    Case {
        name: "a notification whose handler fails",
        request: r#"{"jsonrpc":"2.0","method":"arith.divide","params":{"a":1,"b":0}}"#,
        expect: Expect::NoReply,
    },
    // Invalid request text whose id can be read: answered by that id.
    Case {
        name: "jsonrpc 1.0",
        request: r#"{"jsonrpc":"1.0","method":"arith.add","params":{"a":1,"b":1},"id":"v1"}"#,
        expect: error(r#""v1""#, -32600, "Invalid Request", Data::AnyNamed),
    },
    Case {
        name: "no method",
        request: r#"{"jsonrpc":"2.0","params":{"a":1,"b":1},"id":"nomethod"}"#,
        expect: error(r#""nomethod""#, -32600, "Invalid Request", Data::AnyNamed),
    },
    Case {
        name: "a method without a service",
        request: r#"{"jsonrpc":"2.0","method":"add","params":{},"id":"nodot"}"#,
        expect: error(r#""nodot""#, -32600, "Invalid Request", Data::AnyNamed),
    },
    Case {
        name: "a method name that is not camelCase",
        request: r#"{"jsonrpc":"2.0","method":"arith.Bad-Name","params":{},"id":"c"}"#,
        expect: error(r#""c""#, -32600, "Invalid Request", Data::AnyNamed),
    },
    Case {
        name: "an invalid request with an id beyond 64 bits",
        request: r#"{"jsonrpc":"1.0","method":"arith.add","id":18446744073709551616}"#,
        expect: error(
            "18446744073709551616",
            -32600,
            "Invalid Request",
            Data::AnyNamed,
        ),
    },
    Case {
        name: "a number out of range",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1e400,"b":1},"id":"huge"}"#,
        expect: error(r#""huge""#, -32700, "Parse error", Data::AnyNamed),
    },
    Case {
        name: "a lone surrogate",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":"\ud800","b":1},"id":"surrogate"}"#,
        expect: error(r#""surrogate""#, -32700, "Parse error", Data::AnyNamed),
    },
    // Invalid request text without a readable id: no reply.
    Case {
        name: "cut-off text",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":1},"id":"cut"#,
        expect: Expect::NoReply,
    },
    Case {
        name: "not JSON",
        request: "not json",
        expect: Expect::NoReply,
    },
    Case {
        name: "a batch",
        request: r#"[{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":"b"}]"#,
        expect: Expect::NoReply,
    },
    Case {
        name: "an id that is a boolean",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":{},"id":true}"#,
        expect: Expect::NoReply,
    },
    Case {
        name: "an id that is a fraction",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":{},"id":1.5}"#,
        expect: Expect::NoReply,
    },
    Case {
        name: "a response, not a request",
        request: r#"{"jsonrpc":"2.0","id":"e","result":1}"#,
        expect: Expect::NoReply,
    },
    Case {
        name: "a bare number",
        request: "42",
        expect: Expect::NoReply,
    },
    Case {
        name: "a number out of range in a notification",
        request: r#"{"jsonrpc":"2.0","method":"arith.add","params":{"x":1e400}}"#,
        expect: Expect::NoReply,
    },
];

/// Sends every case through `transport` and panics listing every case
/// whose reply was wrong.
pub async fn run(transport: &mut impl Exchange) {
    let mut failures = Vec::new();
    for case in CASES {
        let reply = transport.exchange(case.request).await;
        if let Err(why) = check(&case.expect, reply.as_deref()) {
            failures.push(format!(
                "{}: {why}\n  request: {}\n  reply:   {reply:?}",
                case.name, case.request
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} conformance cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// Checks one reply against what it must be.
pub fn check(expect: &Expect, reply: Option<&str>) -> Result<(), String> {
    let (id, text) = match (expect, reply) {
        (Expect::NoReply, None) => return Ok(()),
        (Expect::NoReply, Some(_)) => return Err("expected no reply".to_owned()),
        (_, None) => return Err("expected a reply, got none".to_owned()),
        (Expect::Result { id, .. } | Expect::Error { id, .. }, Some(text)) => (id, text),
    };
    let head = format!(r#"{{"jsonrpc":"2.0","id":{id},"#);
    if !text.starts_with(&head) {
        return Err(format!("expected the reply to start with {head}"));
    }
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let json = |t: &str| serde_json::from_str::<Value>(t).expect("case JSON");
    match *expect {
        Expect::Result { result, .. } => {
            if v.get("error").is_some() || v["result"] != json(result) {
                return Err(format!("expected result {result}"));
            }
        }
        Expect::Error {
            code,
            message,
            data,
            ..
        } => {
            let e = &v["error"];
            if v.get("result").is_some() || e["code"] != code || e["message"] != message {
                return Err(format!("expected error {code} {message:?}"));
            }
            check_data(&data, &e["data"])?;
        }
        Expect::NoReply => unreachable!("handled above"),
    }
    Ok(())
}

fn check_data(data: &Data, got: &Value) -> Result<(), String> {
    let problems = |got: &Value| -> Result<Vec<Value>, String> {
        let list = got["errors"]
            .as_array()
            .filter(|l| !l.is_empty())
            .ok_or("expected data.errors, a non-empty list")?;
        for p in list {
            if !p["loc"].is_array() || !p["msg"].is_string() {
                return Err(format!("a problem without loc and msg: {p}"));
            }
        }
        Ok(list.clone())
    };
    match *data {
        Data::Null if got.is_null() => Ok(()),
        Data::Null => Err("expected data null".to_owned()),
        Data::Exact(want) if *got == serde_json::from_str::<Value>(want).expect("case JSON") => {
            Ok(())
        }
        Data::Exact(want) => Err(format!("expected data {want}")),
        Data::Errors => problems(got).map(drop),
        Data::Params { kind, loc } => {
            let list = problems(got)?;
            if list.iter().any(|p| !p["type"].is_string()) {
                return Err("a problem without a type".to_owned());
            }
            let loc_v: Value = serde_json::from_str(loc).expect("case JSON");
            if list[0]["type"] != kind || list[0]["loc"] != loc_v {
                return Err(format!("expected the first problem to be {kind} at {loc}"));
            }
            Ok(())
        }
        Data::Named {
            name,
            message_contains,
        } => {
            let message = got["message"].as_str().unwrap_or_default();
            if got["name"] != name || !message.contains(message_contains) {
                return Err(format!(
                    "expected data {{name: {name:?}, message containing {message_contains:?}}}"
                ));
            }
            Ok(())
        }
        Data::AnyNamed if got["name"].is_string() && got["message"].is_string() => Ok(()),
        Data::AnyNamed => Err("expected data {name, message}".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_catch_wrong_replies() {
        let ok = Expect::Result {
            id: "7",
            result: r#"{"sum":3.0}"#,
        };
        assert!(
            check(
                &ok,
                Some(r#"{"jsonrpc":"2.0","id":7,"result":{"sum":3.0}}"#)
            )
            .is_ok()
        );
        assert!(
            check(
                &ok,
                Some(r#"{"jsonrpc":"2.0","id":"7","result":{"sum":3.0}}"#)
            )
            .is_err()
        );
        assert!(
            check(
                &ok,
                Some(r#"{"jsonrpc":"2.0","id":7,"result":{"sum":4.0}}"#)
            )
            .is_err()
        );
        assert!(check(&ok, None).is_err());
        assert!(check(&Expect::NoReply, Some("{}")).is_err());
        let params = invalid_params("1", "missing", r#"["b"]"#);
        let reply = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Invalid params","data":{"errors":[{"loc":["b"],"msg":"field required","type":"missing"}]}}}"#;
        assert!(check(&params, Some(reply)).is_ok());
        let wrong_loc = reply.replace(r#"["b"]"#, r#"["a"]"#);
        assert!(check(&params, Some(&wrong_loc)).is_err());
    }
}
