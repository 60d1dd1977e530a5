//! The generated code names everything by absolute path: a contract and its
//! models compile with no prelude, next to user items that shadow the names
//! generated code might otherwise pick up (`Result`, `Option`, `String`,
//! `Vec`, `Arc`, `T`, `H`...), and without the user crate naming serde or
//! schemars.
#![no_implicit_prelude]
#![allow(
    dead_code,
    missing_docs,
    unreachable_pub,
    missing_debug_implementations
)]

/// Shadows for the prelude and std names generated code must not rely on.
mod shadows {
    pub struct Result;
    pub struct Option;
    pub struct Some;
    pub struct None;
    pub struct Ok;
    pub struct Err;
    pub struct String;
    pub struct Vec;
    pub struct Box;
    pub struct Arc;
    pub struct Send;
    pub struct Sync;
    pub struct Future;
    pub struct Serialize;
    pub struct Deserialize;
    pub struct JsonSchema;
}

pub mod contract {
    #[allow(unused_imports)]
    use super::shadows::*;
    // schemars' own derive (1.x) calls `.into()` and `From::from` unqualified,
    // so it needs these two traits in scope; nothing clamator emits does.
    #[allow(unused_imports)]
    use ::core::convert::{From, Into};

    /// A params type named like the client's transport parameter.
    #[::clamator::model]
    #[derive(Debug, PartialEq)]
    pub struct T {
        pub a: f64,
        pub b: f64,
    }

    /// A result type named like the handler parameter, lenient about fields.
    #[::clamator::model(allow_unknown_fields)]
    #[derive(Debug, PartialEq)]
    pub struct H {
        pub sum: f64,
    }

    #[::clamator::model]
    #[serde(rename_all = "camelCase")]
    pub enum Shape {
        Circle { radius_m: f64 },
        Square { side_m: f64 },
        Dot,
    }

    #[::clamator::model]
    pub struct Empty {}

    #[::clamator::contract(service = "hygiene")]
    pub trait Hygiene {
        /// Adds.
        async fn add(&self, params: T) -> ::core::result::Result<H, ::clamator::RpcError>;
        async fn area(&self, params: Shape) -> ::core::result::Result<H, ::clamator::RpcError>;
        #[clamator(notification)]
        async fn ping(&self, params: Empty);
    }
}

pub mod handler {
    use super::contract::{H, Hygiene, Shape, T};

    pub struct Handler;

    impl Hygiene for Handler {
        async fn add(&self, p: T) -> ::core::result::Result<H, ::clamator::RpcError> {
            ::core::result::Result::Ok(H { sum: p.a + p.b })
        }
        async fn area(&self, p: Shape) -> ::core::result::Result<H, ::clamator::RpcError> {
            let sum = match p {
                Shape::Circle { radius_m } => 3.0 * radius_m * radius_m,
                Shape::Square { side_m } => side_m * side_m,
                Shape::Dot => 0.0,
            };
            ::core::result::Result::Ok(H { sum })
        }
        async fn ping(&self, _: super::contract::Empty) {}
    }
}

fn dispatch(d: &::clamator::Dispatcher, request: &str) -> ::clamator::serde_json::Value {
    let request = ::clamator::protocol::Envelope::parse_request(request.as_bytes())
        .unwrap_or_else(|e| ::core::panic!("{e}"));
    let reply = ::futures::executor::block_on(d.dispatch(request))
        .unwrap_or_else(|| ::core::panic!("a call gets a reply"));
    ::clamator::serde_json::from_str(&reply).unwrap_or_else(|e| ::core::panic!("{e}"))
}

#[test]
fn generated_code_runs_without_a_prelude() {
    use ::core::assert_eq;
    use ::core::iter::Iterator;
    use ::core::option::Option::Some;

    let d = contract::HygieneContract::descriptor();
    assert_eq!(d.service, "hygiene");
    let names: ::std::vec::Vec<&str> = d.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["add", "area", "ping"]);

    let add = &d.methods[0];
    assert_eq!(
        add.params_schema["additionalProperties"],
        ::clamator::serde_json::json!(false),
        "#[clamator::model] denies unknown fields"
    );
    let result = add
        .result_schema
        .as_ref()
        .map(|s| s.get("additionalProperties"));
    assert_eq!(
        result,
        Some(::core::option::Option::None),
        "allow_unknown_fields leaves the result open"
    );
    let variants = d.methods[1].params_schema["oneOf"]
        .as_array()
        .map(|a| a.len());
    assert_eq!(variants, Some(3));

    let dispatcher = ::clamator::Dispatcher::builder()
        .register(contract::HygieneContract, handler::Handler)
        .unwrap_or_else(|e| ::core::panic!("{e}"))
        .build();
    let ok = dispatch(
        &dispatcher,
        r#"{"jsonrpc":"2.0","id":1,"method":"hygiene.add","params":{"a":2,"b":3}}"#,
    );
    assert_eq!(ok["result"]["sum"], 5.0);
    let ok = dispatch(
        &dispatcher,
        r#"{"jsonrpc":"2.0","id":2,"method":"hygiene.area","params":{"square":{"side_m":3}}}"#,
    );
    assert_eq!(
        ok["result"]["sum"], 9.0,
        "serde attributes under the model still apply"
    );
    let err = dispatch(
        &dispatcher,
        r#"{"jsonrpc":"2.0","id":3,"method":"hygiene.add","params":{"a":2,"b":3,"c":4}}"#,
    );
    assert_eq!(err["error"]["code"], -32602);
    assert_eq!(err["error"]["data"]["errors"][0]["type"], "extra_forbidden");
}
