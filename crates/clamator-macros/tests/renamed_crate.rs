//! A crate that depends on clamator under another name has no `::clamator`;
//! `crate = "::renamed"` points both attributes at it. This test crate has no
//! `clamator`, `serde` or `schemars` dependency, so any path the attributes
//! emit without the crate argument would fail to compile.
#![allow(missing_docs, unreachable_pub, missing_debug_implementations)]

use renamed::{Dispatcher, RpcError};

#[renamed::model(crate = "::renamed")]
#[derive(Debug)]
pub struct AddParams {
    pub a: f64,
    pub b: f64,
}

#[renamed::model(crate = "::renamed", allow_unknown_fields)]
#[derive(Debug, PartialEq)]
pub struct Sum {
    pub sum: f64,
}

#[renamed::contract(service = "renamed-arith", crate = "::renamed")]
pub trait Arith {
    async fn add(&self, params: AddParams) -> Result<Sum, RpcError>;
}

struct Handler;

impl Arith for Handler {
    async fn add(&self, p: AddParams) -> Result<Sum, RpcError> {
        Ok(Sum { sum: p.a + p.b })
    }
}

#[test]
fn both_attributes_follow_the_crate_argument() {
    let d = ArithContract::descriptor();
    assert_eq!(d.service, "renamed-arith");
    let add = d.method("add").unwrap();
    assert_eq!(add.params_schema["additionalProperties"], false);

    let dispatcher = Dispatcher::builder()
        .register(ArithContract, Handler)
        .unwrap()
        .build();
    let request = renamed::protocol::Envelope::parse_request(
        br#"{"jsonrpc":"2.0","id":1,"method":"renamed-arith.add","params":{"a":1,"b":2}}"#,
    )
    .unwrap();
    let reply = futures::executor::block_on(dispatcher.dispatch(request)).unwrap();
    let reply: renamed::serde_json::Value = renamed::serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["result"]["sum"], 3.0);
    let sum: Sum =
        renamed::serde_json::from_value(renamed::serde_json::json!({"sum": 3.0, "extra": 1}))
            .unwrap();
    assert_eq!(
        sum,
        Sum { sum: 3.0 },
        "allow_unknown_fields accepts extra fields"
    );
}
