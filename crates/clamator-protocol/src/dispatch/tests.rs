//! Unit tests of `dispatch`.

use super::*;
use crate::envelope::Id;
use serde_json::{Value, json};

/// What an invalid entry should produce.
enum Want {
    /// An error reply with this code, to the id written exactly so in the text.
    Reply(i64, &'static str),
    /// No reply; the poison kind.
    Silent(&'static str),
}
use Want::{Reply, Silent};

#[test]
fn invalid_entries_are_answered_when_their_id_can_be_read() {
    let cases: Vec<(&[u8], Want)> = vec![
        // -32700: text serde_json cannot read, with a readable id.
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","params":{"x":1e400},"id":"k"}"#,
            Reply(-32700, r#""k""#),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","params":{"s":"\ud800"},"id":7}"#,
            Reply(-32700, "7"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","params":{},"id":"k"} junk"#,
            Reply(-32700, r#""k""#),
        ),
        (
            br#"{"jsonrpc":"2.0","id":"k","method":"arith.add","params":{"a":"#,
            Reply(-32700, r#""k""#),
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"method\":\"arith.add\",\"params\":{\"s\":\"\xff\"},\"id\":\"k\"}",
            Reply(-32700, r#""k""#),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","params":{"x":1e400},"id":18446744073709551616}"#,
            Reply(-32700, "18446744073709551616"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","params":{"x":1e400},"id":-99999999999999999999999}"#,
            Reply(-32700, "-99999999999999999999999"),
        ),
        // -32700 without a readable id: nobody to answer.
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","params":{"x":1e400}}"#,
            Silent("not-json"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","params":{"x":1e400},"id":null}"#,
            Silent("not-json"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","params":{"x":1e400},"id":1.5}"#,
            Silent("not-json"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","params":{"x":1e400},"id":true}"#,
            Silent("not-json"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","params":{},"id":"\ud800"}"#,
            Silent("not-json"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","id":{"a":1e400}}"#,
            Silent("not-json"),
        ),
        (br#"{"jsonrpc":"2.0","method":"#, Silent("not-json")),
        (b"not json at all", Silent("not-json")),
        (b"", Silent("not-json")),
        // -32600: JSON that is not a valid request, with a readable id.
        (
            br#"{"method":"arith.add","params":{},"id":"k"}"#,
            Reply(-32600, r#""k""#),
        ),
        (
            br#"{"jsonrpc":"1.0","method":"arith.add","params":{},"id":3}"#,
            Reply(-32600, "3"),
        ),
        (
            br#"{"jsonrpc":2.0,"method":"arith.add","params":{},"id":"k"}"#,
            Reply(-32600, r#""k""#),
        ),
        (br#"{"jsonrpc":"2.0","id":"k"}"#, Reply(-32600, r#""k""#)),
        (
            br#"{"jsonrpc":"2.0","method":5,"id":"k"}"#,
            Reply(-32600, r#""k""#),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arithadd","id":"k"}"#,
            Reply(-32600, r#""k""#),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"Arith.add","id":-1}"#,
            Reply(-32600, "-1"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.Bad-Name","params":{},"id":"bad"}"#,
            Reply(-32600, r#""bad""#),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.slow-add","id":18446744073709551616}"#,
            Reply(-32600, "18446744073709551616"),
        ),
        (
            br#"{"jsonrpc":"1.0","method":"arith.add","id":-99999999999999999999999}"#,
            Reply(-32600, "-99999999999999999999999"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add.more","id":18446744073709551615}"#,
            Reply(-32600, "18446744073709551615"),
        ),
        (
            br#"{"jsonrpc":"2.0","id":"x","result":1,"error":{"code":1,"message":"m"}}"#,
            Reply(-32600, r#""x""#),
        ),
        (
            br#"{"jsonrpc":"2.0","id":"x","error":"boom"}"#,
            Reply(-32600, r#""x""#),
        ),
        // Invalid notifications: no reply.
        (
            br#"{"jsonrpc":"1.0","method":"arith.add"}"#,
            Silent("invalid-envelope"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.Bad-Name","id":null}"#,
            Silent("invalid-envelope"),
        ),
        (br#"{"jsonrpc":"2.0"}"#, Silent("invalid-envelope")),
        (
            br#"{"jsonrpc":"2.0","result":{}}"#,
            Silent("invalid-envelope"),
        ),
        // Ids that are not a string, an integer or null: no reply.
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","id":true}"#,
            Silent("bad-id"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","id":1.5}"#,
            Silent("bad-id"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","id":5.0}"#,
            Silent("bad-id"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","id":1e3}"#,
            Silent("bad-id"),
        ),
        (
            br#"{"jsonrpc":"2.0","method":"arith.add","id":{"a":1}}"#,
            Silent("bad-id"),
        ),
        (
            br#"{"jsonrpc":"1.0","method":"arith.add","id":[1]}"#,
            Silent("bad-id"),
        ),
        // Batches and other non-objects: no reply.
        (
            br#"[{"jsonrpc":"2.0","method":"arith.add","id":1}]"#,
            Silent("batch"),
        ),
        (b"[]", Silent("batch")),
        (br#""id""#, Silent("not-object")),
        (b"42", Silent("not-object")),
        (b"null", Silent("not-object")),
    ];
    for (text, want) in cases {
        let shown = String::from_utf8_lossy(text);
        let poison = match read_incoming(text) {
            Err(poison) => poison,
            Ok(got) => panic!("{shown}: not poison: {got:?}"),
        };
        assert!(!poison.error().to_string().is_empty());
        match want {
            Silent(kind) => {
                assert_eq!(poison.kind(), kind, "{shown}: {poison}");
                assert_eq!(poison.reply(), None, "{shown}");
                assert_eq!(poison.into_reply(), None, "{shown}");
            }
            Reply(code, id) => {
                let kind = if code == -32700 {
                    "not-json"
                } else {
                    "invalid-envelope"
                };
                assert_eq!(poison.kind(), kind, "{shown}: {poison}");
                let reply = poison.reply().unwrap().to_owned();
                // The id is echoed with the same digits or string, as a JSON number or string.
                assert!(
                    reply.starts_with(&format!(r#"{{"jsonrpc":"2.0","id":{id},"error":"#)),
                    "{shown}: {reply}"
                );
                let v: Value = serde_json::from_str(&reply).unwrap();
                let message = if code == -32700 {
                    "Parse error"
                } else {
                    "Invalid Request"
                };
                assert_eq!(v["error"]["code"], code, "{shown}");
                assert_eq!(v["error"]["message"], message, "{shown}");
                assert_eq!(v["error"]["data"]["name"], kind, "{shown}");
                let why = v["error"]["data"]["message"].as_str().unwrap();
                assert!(
                    poison.error().to_string().ends_with(why),
                    "{shown}: {why} vs {}",
                    poison.error()
                );
                // A client of the family matches it to its call by the id key.
                let response = Envelope::parse_response(reply.as_bytes()).unwrap();
                let key = response.id().map(Id::key).unwrap();
                assert_eq!(key, id.trim_matches('"'), "{shown}");
                assert_eq!(poison.into_reply(), Some(reply));
            }
        }
    }
}

#[test]
fn responses_on_a_command_queue_are_ignored_not_poison() {
    for text in [
        br#"{"jsonrpc":"2.0","id":"e","result":1}"#.as_slice(),
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"m"}}"#,
    ] {
        assert!(matches!(read_incoming(text), Ok(None)));
        match Dispatcher::builder().build().incoming(text, Some("arith")) {
            Incoming::Dispatch(fut) => assert_eq!(futures::executor::block_on(fut), None),
            Incoming::Poison(p) => panic!("{p}"),
        }
    }
}

#[test]
fn incoming_answers_poison_and_echoes_big_ids() {
    let d = Dispatcher::builder().build();
    let text =
        br#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1e400},"id":18446744073709551616}"#;
    match d.incoming(text, Some("arith")) {
        Incoming::Poison(p) => {
            assert_eq!(p.kind(), "not-json");
            let reply = p.into_reply().unwrap();
            assert!(reply.contains(r#""id":18446744073709551616,"#), "{reply}");
            assert!(reply.contains("-32700"), "{reply}");
        }
        Incoming::Dispatch(_) => panic!("dispatched invalid text"),
    }
    // A valid request with an id beyond 64 bits is dispatched and answered
    // with the same digits (here: no such service).
    for id in [
        "18446744073709551616",
        "18446744073709551615",
        "-99999999999999999999999",
    ] {
        let text = format!(r#"{{"jsonrpc":"2.0","method":"arith.add","params":{{}},"id":{id}}}"#);
        let Incoming::Dispatch(fut) = d.incoming(text.as_bytes(), Some("arith")) else {
            panic!("{text}: poison");
        };
        let reply = futures::executor::block_on(fut).unwrap();
        assert_eq!(
            reply,
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32601,"message":"Method not found","data":null}}}}"#
            )
        );
        let v: Value = serde_json::from_str(&reply).unwrap();
        assert!(v["id"].is_number());
        assert_eq!(
            v["error"],
            json!({"code": -32601, "message": "Method not found", "data": null})
        );
    }
}
