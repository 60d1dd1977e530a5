//! Unit tests of `envelope`.

use super::*;
use serde_json::json;

/// The quick reader accepts only what the careful one accepts, and
/// reads it the same; it gives up on anything unusual.
#[test]
fn the_plain_reader_agrees_with_the_careful_one() {
    let cases: &[(&str, bool)] = &[
        (
            r#"{"jsonrpc":"2.0","id":"k","method":"arith.add","params":{"a":1,"b":2.5}}"#,
            true,
        ),
        (r#" {"method":"arith.add","jsonrpc":"2.0","id":7}"#, true),
        (r#"{"jsonrpc":"2.0","method":"arith.ping"}"#, true),
        (
            r#"{"jsonrpc":"2.0","method":"arith.ping","id":null,"params":null}"#,
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"result":1}"#,
            true,
        ),
        (r#"{"jsonrpc":"2.0","id":"k","result":null}"#, true),
        (
            r#"{"jsonrpc":"2.0","id":"k","result":{"sum":3},"extra":[1,2]}"#,
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":-4,"error":{"code":-32601,"message":"Method not found"}}"#,
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"x","data":{"a":1}}}"#,
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","method":"arith.add","result":1,"id":"k"}"#,
            true,
        ),
        // What the careful reader handles (or rejects) itself.
        (
            r#"{"jsonrpc":"2.0","id":"k\u0041","method":"arith.add"}"#,
            true,
        ),
        (
            r#"{"jsonrpc":"2.0","id":"k","method":"arith\u002eadd"}"#,
            false,
        ),
        (r#"{"jsonrpc":"2.0","id":"k","id":"j","result":1}"#, false),
        (r#"{"jsonrpc":"2.0","id":1.5,"result":1}"#, false),
        (r#"{"jsonrpc":"2.0","id":true,"result":1}"#, false),
        (r#"{"jsonrpc":"2.0","id":"k","method":5,"result":1}"#, false),
        (
            r#"{"jsonrpc":"2.0","id":"k","method":"add","params":{}}"#,
            false,
        ),
        (r#"{"jsonrpc":"2.0","id":"k","method":"Arith.add"}"#, false),
        (r#"{"jsonrpc":"1.0","id":"k","result":1}"#, false),
        (r#"{"id":"k","result":1}"#, false),
        (r#"{"jsonrpc":"2.0","result":1}"#, false),
        (
            r#"{"jsonrpc":"2.0","id":"k","result":1,"error":{"code":1,"message":"m"}}"#,
            false,
        ),
        (
            r#"{"jsonrpc":"2.0","id":"k","error":{"code":1.5,"message":"m"}}"#,
            false,
        ),
        (r#"{"jsonrpc":"2.0","id":"k"}"#, false),
        (r#"["2.0","k","arith.add",{},null,null]"#, false),
        (
            r#"{"jsonrpc":"2.0","id":"k","method":"arith.add","params":{"x":1e400}}"#,
            false,
        ),
        (r#"{"jsonrpc":"2.0","id":"k","result":1} x"#, false),
        ("\"2.0\"", false),
        ("", false),
    ];
    for (text, plain) in cases {
        let careful =
            serde_json::from_slice(text.as_bytes()).map(|v| read_value(v, Some(text.as_bytes())));
        match read_plain(text.as_bytes()) {
            Some(read) => {
                assert!(*plain, "read plainly, expected to be left: {text}");
                match careful {
                    Result::Ok(Result::Ok(want)) => assert_eq!(read, want, "{text}"),
                    other => panic!("plain read {read:?}, careful {other:?}: {text}"),
                }
            }
            None => assert!(!plain, "left to the careful reader: {text}"),
        }
    }
}

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

fn big(digits: &str) -> Id {
    let id = Id::from_integer_text(digits).unwrap();
    assert!(matches!(id, Id::BigInt(_)), "{digits} fits i64");
    id
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
            Req("arith", "add", json!({}), Some(big("18446744073709551615"))),
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
            (Err(id, code), Result::Ok(Envelope::Response(Response::Error { id: gid, error }))) => {
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
        let text = try_build_request("arith.add", &params, Some(&id)).unwrap();
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
    let text = try_build_request("arith.ping", &json!({}), None).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(v.get("id").is_none());
    assert_eq!(v["jsonrpc"], "2.0");
}

#[test]
fn parse_response_rejects_requests() {
    let e = Envelope::parse_response(br#"{"jsonrpc":"2.0","method":"a.b","id":1}"#).unwrap_err();
    assert!(e.to_string().contains("invalid response envelope"), "{e}");
    assert!(Envelope::parse_request(br#"{"jsonrpc":"2.0","id":1,"result":1}"#).is_err());
}

#[test]
fn integer_text_is_a_canonical_json_integer() {
    let cases: [(&str, Option<Id>); 18] = [
        ("0", Some(Id::Int(0))),
        ("-0", Some(Id::Int(0))),
        ("7", Some(Id::Int(7))),
        ("-7", Some(Id::Int(-7))),
        ("9223372036854775807", Some(Id::Int(i64::MAX))),
        ("-9223372036854775808", Some(Id::Int(i64::MIN))),
        ("9223372036854775808", Some(big("9223372036854775808"))),
        ("-9223372036854775809", Some(big("-9223372036854775809"))),
        ("18446744073709551616", Some(big("18446744073709551616"))),
        ("", None),
        ("-", None),
        ("01", None),
        ("-01", None),
        ("+1", None),
        ("1.0", None),
        ("1e3", None),
        (" 1", None),
        ("1_000", None),
    ];
    for (text, want) in cases {
        assert_eq!(Id::from_integer_text(text), want, "{text:?}");
    }
}

/// Any JSON integer id is read exactly and echoed with the same digits,
/// as a JSON number, in every envelope this module builds.
#[test]
fn integer_ids_of_any_size_round_trip_exactly() {
    let digits = [
        "18446744073709551616", // 2^64: a float in serde_json's Value
        "18446744073709551615", // u64::MAX: a u64 in serde_json's Value
        "9223372036854775808",  // i64::MAX + 1
        "-9223372036854775809", // i64::MIN - 1
        "-99999999999999999999999",
        "123456789012345678901234567890123456789012345678901234567890",
    ];
    for d in digits {
        let text = format!(r#"{{"jsonrpc":"2.0","method":"arith.add","params":{{}},"id":{d}}}"#);
        let req = Envelope::parse_request(text.as_bytes()).unwrap();
        let id = req.id.unwrap();
        assert_eq!(id, big(d), "{d}");
        assert_eq!(id.key(), d);
        assert_eq!(id.to_string(), d);
        let want = format!(r#""id":{d},"#);
        let ok = build_success(&id, &json!(1));
        let err = build_error(Some(&id), &RpcError::method_not_found());
        let again = try_build_request("arith.add", &json!({}), Some(&id)).unwrap();
        assert!(ok.contains(&want), "{ok}");
        assert!(err.contains(&want), "{err}");
        assert!(again.ends_with(&format!(r#""id":{d}}}"#)), "{again}");
        // The client side reads the reply's id back to the same digits.
        let back = Envelope::parse_response(ok.as_bytes()).unwrap();
        assert_eq!(back.id(), Some(&id));
        assert_eq!(back.id().map(Id::key).as_deref(), Some(d));
        let back = Envelope::parse_response(err.as_bytes()).unwrap();
        assert_eq!(back.id(), Some(&id));
    }
    // Within u64 the Value form is exact too; beyond, it can only approximate.
    assert_eq!(
        big("18446744073709551615").to_value(),
        json!(18446744073709551615_u64)
    );
    assert!(big("18446744073709551616").to_value().is_f64());
}

#[test]
fn float_ids_stay_invalid() {
    for id in [
        "1.5",
        "1e3",
        "1E3",
        "5.0",
        "-0.0",
        "1e-2",
        "18446744073709551616.0",
    ] {
        let text = format!(r#"{{"jsonrpc":"2.0","method":"arith.add","id":{id}}}"#);
        let e = Envelope::parse(text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("float"), "{id}: {e}");
    }
    // Without the text, a float in a Value is taken for a float.
    let e =
        Envelope::from_value(json!({"jsonrpc":"2.0","method":"a.b","id":1.8446744073709552e19}))
            .unwrap_err();
    assert!(e.to_string().contains("float"), "{e}");
}

/// The id scan reads past what serde_json refuses to parse: numbers it
/// cannot hold and strings it cannot decode are skipped unevaluated.
#[test]
fn scan_id_skips_what_the_parser_rejects() {
    let cases: [(&[u8], Option<&str>); 16] = [
        (br#"{"params":{"x":1e400},"id":"k"}"#, Some(r#""k""#)),
        (br#"{"params":{"x":-1e400},"id":"k"}"#, Some(r#""k""#)),
        (br#"{"params":{"s":"\ud800"},"id":"k"}"#, Some(r#""k""#)),
        (br#"{"params":{"\udc00":1},"id":"k"}"#, Some(r#""k""#)),
        (
            b"{\"params\":{\"s\":\"\xff\"},\"id\":\"k\"}",
            Some(r#""k""#),
        ),
        (br#"{"id":"k"} trailing junk"#, Some(r#""k""#)),
        (br#"{"id":"k","params":{"#, Some(r#""k""#)),
        (
            br#"{"id" : 18446744073709551616 ,"x":1e400}"#,
            Some("18446744073709551616"),
        ),
        (br#"{"\u0069d":7,"x":1e400}"#, Some("7")),
        (br#"{"id":"a","x":1e400,"id":"b"}"#, Some(r#""b""#)),
        (br#"{"id":"\ud800"}"#, Some(r#""\ud800""#)),
        (br#"{"params":{"id":"inner"},"x":1e400}"#, None),
        (br#"{"params":1e400,"id":"k""#, Some(r#""k""#)),
        (br#"{"params":"#, None),
        (br#"[{"id":"k"}] junk"#, None),
        (br#"["id","k",1e400]"#, None),
    ];
    for (text, want) in cases {
        let shown = String::from_utf8_lossy(text);
        assert!(
            serde_json::from_slice::<Value>(text).is_err(),
            "{shown} should not parse as JSON"
        );
        assert_eq!(scan_id(text).map(RawValue::get), want, "{shown}");
    }
}

#[test]
fn raw_ids_are_strings_integers_or_null() {
    let cases: [(&str, Result<Option<Id>, &str>); 10] = [
        (r#""k""#, Result::Ok(Some(s("k")))),
        (r#""\u00e9""#, Result::Ok(Some(s("é")))),
        ("-3", Result::Ok(Some(Id::Int(-3)))),
        (
            "18446744073709551616",
            Result::Ok(Some(big("18446744073709551616"))),
        ),
        ("null", Result::Ok(None)),
        (r#""\ud800""#, Result::Err("valid JSON string")),
        ("true", Result::Err("boolean")),
        ("1.5", Result::Err("float")),
        ("1e400", Result::Err("float")),
        (r#"{"a":1}"#, Result::Err("string or an integer")),
    ];
    for (raw, want) in cases {
        match (Id::from_raw(raw), want) {
            (Result::Ok(got), Result::Ok(want)) => assert_eq!(got, want, "{raw}"),
            (Result::Err(e), Result::Err(needle)) => {
                assert!(e.contains(needle), "{raw}: {e} should mention {needle:?}");
            }
            (got, _) => panic!("{raw}: unexpected {got:?}"),
        }
    }
}
