//! Constraints end to end: `tests/ts-shop/shop.ts` (Zod, with `.min()`,
//! `.regex()`, `.email()`, `.uuid()`, `.datetime()`, bounds, `multipleOf`,
//! tuples, unions, sets) exported to `tests/contracts/shop.json` and
//! generated to `tests/generated/shop.rs`: the server answers -32602 with
//! pydantic's error types for params that break a constraint, the typed
//! client refuses to send them, and the generated contract exports back
//! byte for byte.

use std::time::Duration;

use clamator::RpcError;
use clamator::memory::{MemoryBus, MemoryClient};
use clamator_contract_file::{ContractFile, Manifest, export, rust};
use serde_json::{Value, json};

include!("generated/shop.rs");
use shop::*;

const CONTRACT: &str = "tests/contracts/shop.json";

#[test]
fn checked_in_rust_is_what_the_generator_writes() {
    let file = ContractFile::read(std::path::Path::new(CONTRACT)).unwrap();
    let fresh = rust::generate(&file, CONTRACT, &rust::RustOptions::default()).unwrap();
    let checked_in = std::fs::read_to_string("tests/generated/shop.rs").unwrap();
    assert!(
        fresh == checked_in,
        "tests/generated/shop.rs is stale: run `cargo run -p clamator-cli -- codegen rust --contract \
         {CONTRACT} --out tests/generated/shop.rs` in crates/clamator-contract-file"
    );
}

#[test]
fn round_trip_keeps_every_schema_and_hash() {
    let file = ContractFile::read(std::path::Path::new(CONTRACT)).unwrap();
    let manifest: Manifest = serde_json::from_str(
        &std::fs::read_to_string("tests/contracts/shop-manifest.json").unwrap(),
    )
    .unwrap();
    assert_eq!(manifest.disagreements(&file), Vec::<String>::new());
    let exported = export::file(&[(ShopContract::descriptor(), "rust:generated")]).unwrap();
    assert_eq!(manifest.disagreements(&exported), Vec::<String>::new());
    for (a, b) in file.contracts[0]
        .methods
        .iter()
        .zip(&exported.contracts[0].methods)
    {
        assert_eq!(a.params.hash, b.params.hash, "{}", a.name);
        assert_eq!(
            a.result.as_ref().map(|r| &r.hash),
            b.result.as_ref().map(|r| &r.hash),
            "{}",
            a.name
        );
    }
}

struct Handler;

impl Shop for Handler {
    async fn get_item(&self, p: GetItemParams) -> Result<GetItemResult, RpcError> {
        Ok(GetItemResult::True(GetItemResultTrue {
            ok: clamator::protocol::literal::True,
            item: Item { sku: p.sku, qty: 1 },
        }))
    }
    async fn put_item(&self, p: PutItemParams) -> Result<PutItemResult, RpcError> {
        Ok(PutItemResult { stored: p.item.qty })
    }
}

fn valid() -> Value {
    json!({
        "item": {"sku": "ABC-1", "qty": 2},
        "skus": ["a", "b"],
        "owner": "ops@example.com",
        "requestId": "123e4567-e89b-12d3-a456-426614174000",
        "at": "2026-12-06T14:30:00Z",
        "priceCents": 1999,
        "weight": 2.5,
        "point": [1.5, -2],
        "tag": "ab",
        "level": 2,
        "labels": ["x", "y"],
        "note": null
    })
}

async fn call(client: &MemoryClient, method: &str, params: Value) -> Result<Value, RpcError> {
    client
        .call("shop", method, params, Some(Duration::from_secs(5)))
        .await
        .map_err(|e| match e {
            clamator::Error::Rpc(rpc) => rpc,
            other => panic!("{method}: not an RPC error: {other}"),
        })
}

/// `(loc, type)` of every problem of a -32602.
fn problems(e: &RpcError) -> Vec<(String, String)> {
    assert_eq!(e.code, -32602, "{e:?}");
    e.data["errors"].as_array().map_or_else(Vec::new, |list| {
        list.iter()
            .map(|p| {
                let loc = p["loc"]
                    .as_array()
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(".");
                (loc, p["type"].as_str().unwrap_or_default().to_owned())
            })
            .collect()
    })
}

#[tokio::test(flavor = "current_thread")]
async fn server_refuses_what_breaks_a_constraint_with_pydantic_types() {
    let bus = MemoryBus::new();
    let server = bus
        .server()
        .register(ShopContract, Handler)
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = bus.client();

    assert_eq!(
        call(&client, "putItem", valid()).await.unwrap(),
        json!({"stored": 2})
    );
    // A missing optional list is fine; emoji count as one character each.
    let mut p = valid();
    p.as_object_mut().unwrap().remove("skus");
    p["note"] = json!("ééééé");
    assert!(call(&client, "putItem", p).await.is_ok());

    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "item",
            json!({"sku": "", "qty": 2}),
            "item.sku",
            "string_too_short",
        ),
        (
            "item",
            json!({"sku": "x".repeat(33), "qty": 2}),
            "item.sku",
            "string_too_long",
        ),
        (
            "item",
            json!({"sku": "A", "qty": -1}),
            "item.qty",
            "invalid_value",
        ),
        ("skus", json!(vec!["a"; 101]), "skus", "too_long"),
        ("skus", json!(["a", ""]), "skus.1", "string_too_short"),
        ("owner", json!("not-an-email"), "owner", "value_error"),
        (
            "requestId",
            json!("123e4567e89b12d3a456426614174000"),
            "requestId",
            "uuid_parsing",
        ),
        (
            "at",
            json!("2026-13-06T14:30:00Z"),
            "at",
            "datetime_parsing",
        ),
        ("priceCents", json!(0), "priceCents", "greater_than"),
        (
            "priceCents",
            json!(1_000_001),
            "priceCents",
            "less_than_equal",
        ),
        ("weight", json!(2.25), "weight", "multiple_of"),
        ("weight", json!(1000), "weight", "less_than"),
        ("tag", json!("a"), "tag", "string_too_short"),
        ("level", json!(4), "level", "literal_error"),
        ("labels", json!(["x", "x"]), "labels", "unique_items"),
        ("note", json!("123456"), "note", "string_too_long"),
        ("point", json!([1, 2, 3]), "point", "invalid_length"),
    ];
    for (field, value, loc, kind) in cases {
        let mut p = valid();
        p[field] = value.clone();
        let err = call(&client, "putItem", p).await.expect_err(field);
        let got = problems(&err);
        assert!(
            got.iter().any(|(l, k)| l.starts_with(loc) && k == kind),
            "{field} = {value}: expected {kind} at {loc}, got {got:?}"
        );
    }
    // The pattern is ECMAScript's: `\d` is an ASCII digit only.
    let err = call(&client, "getItem", json!({"sku": "ABC-١٢"}))
        .await
        .unwrap_err();
    assert_eq!(
        problems(&err),
        vec![("sku".to_owned(), "string_pattern_mismatch".to_owned())]
    );
    assert!(
        call(&client, "getItem", json!({"sku": "ABC-12"}))
            .await
            .is_ok()
    );

    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn typed_client_refuses_before_sending() {
    let bus = MemoryBus::new();
    let server = bus
        .server()
        .register(ShopContract, Handler)
        .unwrap()
        .start()
        .await
        .unwrap();
    let raw = bus.client();
    let client = ShopClient::new(&raw);
    let err = client
        .get_item(GetItemParams { sku: String::new() })
        .await
        .unwrap_err();
    match &err {
        clamator::Error::Protocol(clamator::ProtocolError::ParamsInvalid { method, errors }) => {
            assert_eq!(method, "shop.getItem");
            // Empty: too short, and no match for the pattern either.
            let kinds: Vec<&str> = errors.iter().map(|e| e.kind.as_str()).collect();
            assert!(kinds.contains(&"string_too_short"), "{kinds:?}");
            assert!(
                errors.iter().all(|e| e.loc == vec![json!("sku")]),
                "{errors:?}"
            );
        }
        other => panic!("expected ParamsInvalid, got {other}"),
    }
    assert!(err.to_string().contains("nothing was sent"), "{err}");
    let ok = client
        .get_item(GetItemParams {
            sku: "ABC-7".into(),
        })
        .await
        .unwrap();
    assert!(
        matches!(ok, GetItemResult::True(ref t) if t.item.sku == "ABC-7"),
        "{ok:?}"
    );
    raw.close().await;
    server.stop().await;
}
