//! Hand-written models with constraints: one `#[garde(...)]` per field gives
//! the JSON Schema keyword (schemars reads it) and the check that servers
//! and typed clients run.
#![allow(missing_docs, unreachable_pub)]

use std::time::Duration;

use clamator::serde_json::{self, Value, json};
use clamator::{RpcError, memory::MemoryBus};

#[clamator::model]
#[derive(Debug, Clone, garde::Validate)]
#[serde(rename_all = "camelCase")]
pub struct Signup {
    #[garde(length(chars, min = 3, max = 20), pattern(r"^[a-z0-9_]+$"))]
    pub user_name: String,
    #[garde(email)]
    pub email: String,
    #[garde(range(min = 13, max = 130))]
    pub age: u32,
    #[garde(length(max = 3), inner(length(chars, min = 1)))]
    pub tags: Vec<String>,
    #[garde(dive)]
    pub address: Address,
}

#[clamator::model]
#[derive(Debug, Clone, garde::Validate)]
pub struct Address {
    #[garde(length(chars, equal = 2))]
    pub country: String,
}

#[clamator::model]
#[derive(Debug, Clone)]
pub struct Welcome {
    pub id: u64,
}

#[clamator::contract(service = "accounts")]
pub trait Accounts {
    async fn signup(&self, params: Signup) -> Result<Welcome, RpcError>;
}

struct Impl;

impl Accounts for Impl {
    async fn signup(&self, _: Signup) -> Result<Welcome, RpcError> {
        Ok(Welcome { id: 1 })
    }
}

fn good() -> Signup {
    Signup {
        user_name: "ada_l".into(),
        email: "ada@example.com".into(),
        age: 36,
        tags: vec!["math".into()],
        address: Address {
            country: "GB".into(),
        },
    }
}

#[test]
fn the_attribute_gives_the_schema_keywords() {
    let s = clamator::protocol::contract::schema_of::<Signup>();
    let props = &s["properties"];
    assert_eq!(props["userName"]["minLength"], json!(3), "{s}");
    assert_eq!(props["userName"]["maxLength"], json!(20));
    assert_eq!(props["userName"]["pattern"], json!("^[a-z0-9_]+$"));
    assert_eq!(props["email"]["format"], json!("email"));
    assert_eq!(props["age"]["minimum"], json!(13));
    assert_eq!(props["age"]["maximum"], json!(130));
    assert_eq!(props["tags"]["maxItems"], json!(3));
    assert_eq!(props["tags"]["items"]["minLength"], json!(1));
}

#[tokio::test(flavor = "current_thread")]
async fn server_and_client_check_the_same_rules() {
    let bus = MemoryBus::new();
    let server = bus
        .server()
        .register(AccountsContract, Impl)
        .unwrap()
        .start()
        .await
        .unwrap();
    let raw = bus.client();

    // Untyped caller: the server checks (-32602, pydantic's types, wire names).
    let mut bad = serde_json::to_value(good()).unwrap();
    bad["userName"] = json!("Ada!");
    bad["tags"] = json!(["", "b", "c", "d"]);
    bad["address"]["country"] = json!("GBR");
    let err = raw
        .call("accounts", "signup", bad, Some(Duration::from_secs(5)))
        .await
        .unwrap_err();
    let clamator::Error::Rpc(rpc) = err else {
        panic!("{err}")
    };
    assert_eq!(rpc.code, -32602);
    let got: Vec<(Value, String)> = rpc.data["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["loc"].clone(), e["type"].as_str().unwrap().to_owned()))
        .collect();
    for want in [
        (json!(["userName"]), "string_pattern_mismatch"),
        (json!(["tags"]), "too_long"),
        (json!(["tags", 0]), "string_too_short"),
        (json!(["address", "country"]), "string_too_long"),
    ] {
        assert!(
            got.iter().any(|(l, k)| *l == want.0 && k == want.1),
            "{want:?} not in {got:?}"
        );
    }

    // Typed caller: refused before sending.
    let client = AccountsClient::new(&raw);
    let mut p = good();
    p.age = 7;
    let err = client.signup(p).await.unwrap_err();
    assert!(
        matches!(&err, clamator::Error::Protocol(clamator::ProtocolError::ParamsInvalid { errors, .. })
            if errors[0].kind == "greater_than_equal" && errors[0].loc == vec![json!("age")]),
        "{err}"
    );
    assert_eq!(client.signup(good()).await.unwrap().id, 1);
    raw.close().await;
    server.stop().await;
}
