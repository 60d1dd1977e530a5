//! The Rust generated from `tests/contracts/inventory.json` (exported from
//! `tests/ts/inventory.ts` by tools/contract-export): it compiles, it is
//! what the generator writes today, and it decides like the TypeScript
//! contract says (served over the in-memory transport).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use clamator::RpcError;
use clamator::memory::{MemoryBus, MemoryClient};
use clamator_contract_file::{ContractFile, Manifest, rust};
use serde_json::{Value, json};

include!("generated/inventory.rs");
use inventory::*;

const CONTRACT: &str = "tests/contracts/inventory.json";

#[test]
fn checked_in_rust_is_what_the_generator_writes() {
    let file = ContractFile::read(std::path::Path::new(CONTRACT)).unwrap();
    let fresh = rust::generate(&file, CONTRACT, &rust::RustOptions::default()).unwrap();
    let checked_in = std::fs::read_to_string("tests/generated/inventory.rs").unwrap();
    assert!(
        fresh == checked_in,
        "tests/generated/inventory.rs is stale: run `cargo run -p clamator-cli -- codegen rust --contract \
         crates/clamator-contract-file/{CONTRACT} --out crates/clamator-contract-file/tests/generated/inventory.rs`"
    );
}

#[test]
fn hashes_equal_the_family_manifest() {
    let file = ContractFile::read(std::path::Path::new(CONTRACT)).unwrap();
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string("tests/contracts/manifest.json").unwrap())
            .unwrap();
    assert_eq!(manifest.disagreements(&file), Vec::<String>::new());
    assert_eq!(
        hashes::ADD_ITEM_PARAMS,
        manifest.contracts["inventory"]["addItem"].params_hash
    );
    assert_eq!(SERVICE, "inventory");
}

#[derive(Default)]
struct Store {
    restocked: AtomicI64,
}

struct Handler(Arc<Store>);

impl Inventory for Handler {
    async fn add_item(&self, p: AddItemParams) -> Result<AddItemResult, RpcError> {
        Ok(AddItemResult {
            id: format!("{}-{:?}-{}", p.sku, p.color, p.priority),
            total: p.quantity + i64::try_from(p.stock).unwrap_or(i64::MAX),
        })
    }
    async fn get_item(&self, p: GetItemParams) -> Result<GetItemResult, RpcError> {
        Ok(if p.id == "a" {
            GetItemResult::True(GetItemResultTrue {
                ok: clamator::protocol::literal::True,
                item: Item {
                    quantity: 2,
                    sku: "a".into(),
                },
            })
        } else {
            GetItemResult::False(GetItemResultFalse {
                ok: clamator::protocol::literal::False,
                reason: GetItemResultFalseReason::NotFound,
            })
        })
    }
    async fn r#move(&self, p: MoveParams) -> Result<MoveResult, RpcError> {
        Ok(MoveResult {
            moved: matches!(p.to, MoveParamsTo::Truck(_)),
        })
    }
    async fn restocked(&self, p: RestockedParams) {
        self.0.restocked.fetch_add(p.quantity, Ordering::SeqCst);
    }
}

fn add_item() -> Value {
    json!({
        "sku": "s1", "quantity": 2, "stock": 3, "price": 1.5, "fragile": false,
        "supplier": null, "color": "red", "tags": ["x"], "attributes": {"w": 1.0},
        "dimensions": {"widthMm": 1, "heightMm": 2.5}
    })
}

async fn call(client: &MemoryClient, method: &str, params: Value) -> Result<Value, i64> {
    client
        .call("inventory", method, params, Some(Duration::from_secs(5)))
        .await
        .map_err(|e| match e {
            clamator::Error::Rpc(rpc) => rpc.code,
            other => panic!("{method}: not an RPC error: {other}"),
        })
}

#[tokio::test(flavor = "current_thread")]
async fn generated_server_decides_like_the_contract() {
    let bus = MemoryBus::new();
    let store = Arc::new(Store::default());
    let server = bus
        .server()
        .register(InventoryContract, Handler(store.clone()))
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = bus.client();

    // Valid; the default fills `priority`, an integral float is an integer.
    let mut p = add_item();
    p["quantity"] = json!(10.0);
    assert_eq!(
        call(&client, "addItem", p).await,
        Ok(json!({"id": "s1-Red-3", "total": 13}))
    );
    // Each way to be invalid is -32602.
    let invalid: Vec<(&str, Value)> = vec![
        ("fractional int", json!({"quantity": 1.5})),
        ("negative unsigned", json!({"stock": -1})),
        ("string for number", json!({"price": "1.5"})),
        ("unknown enum value", json!({"color": "pink"})),
        ("unknown field", json!({"zzz": 1})),
        (
            "unknown nested field",
            json!({"dimensions": {"widthMm": 1, "heightMm": 2, "d": 3}}),
        ),
        ("null for optional-only string", json!({"tags": null})),
    ];
    for (why, patch) in invalid {
        let mut p = add_item();
        for (k, v) in patch.as_object().unwrap() {
            p[k] = v.clone();
        }
        assert_eq!(call(&client, "addItem", p).await, Err(-32602), "{why}");
    }
    let mut missing_nullable = add_item();
    missing_nullable.as_object_mut().unwrap().remove("supplier");
    assert_eq!(
        call(&client, "addItem", missing_nullable).await,
        Err(-32602),
        "a nullable field is still required"
    );
    let mut no_optional = add_item();
    no_optional.as_object_mut().unwrap().remove("note");
    assert!(call(&client, "addItem", no_optional).await.is_ok());

    // Unions: a boolean tag and a string tag.
    assert_eq!(
        call(&client, "getItem", json!({"id": "a"})).await,
        Ok(json!({"ok": true, "item": {"quantity": 2, "sku": "a"}}))
    );
    assert_eq!(
        call(&client, "getItem", json!({"id": "b"})).await,
        Ok(json!({"ok": false, "reason": "not-found"}))
    );
    assert_eq!(
        call(
            &client,
            "move",
            json!({"id": "a", "to": {"kind": "truck", "plate": "X", "eta": null}})
        )
        .await,
        Ok(json!({"moved": true}))
    );
    assert_eq!(
        call(
            &client,
            "move",
            json!({"id": "a", "to": {"kind": "shelf", "shelf": 4}})
        )
        .await,
        Ok(json!({"moved": false}))
    );
    assert_eq!(
        call(&client, "move", json!({"id": "a", "to": {"kind": "boat"}})).await,
        Err(-32602)
    );
    assert_eq!(
        call(
            &client,
            "move",
            json!({"id": "a", "to": {"kind": "shelf", "shelf": 4, "plate": "X"}})
        )
        .await,
        Err(-32602)
    );

    // The typed client and a notification.
    let typed = InventoryClient::new(&client);
    let got = typed
        .get_item(GetItemParams { id: "b".into() })
        .await
        .unwrap();
    assert!(matches!(
        got,
        GetItemResult::False(GetItemResultFalse {
            reason: GetItemResultFalseReason::NotFound,
            ..
        })
    ));
    typed
        .restocked(RestockedParams {
            quantity: 5,
            sku: "s".into(),
        })
        .await
        .unwrap();
    // The notification runs after the call that follows it was answered? Not
    // guaranteed: poll the counter with a bound instead of sleeping blind.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while store.restocked.load(Ordering::SeqCst) != 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the notification never ran"
        );
        tokio::task::yield_now().await;
    }

    client.close().await;
    server.stop().await;
}

#[test]
fn generated_rust_exports_back_to_the_same_contract() {
    use clamator_contract_file::export;
    let original = ContractFile::read(std::path::Path::new(CONTRACT)).unwrap();
    let exported = export::file(&[(InventoryContract::descriptor(), "rust:generated")]).unwrap();
    let (a, b) = (&original.contracts[0], &exported.contracts[0]);
    assert_eq!(a.service, b.service);
    assert_eq!(a.methods.len(), b.methods.len());
    for (ma, mb) in a.methods.iter().zip(&b.methods) {
        assert_eq!(ma.name, mb.name);
        assert_eq!(ma.is_notification, mb.is_notification);
        let pairs =
            std::iter::once((&ma.params, &mb.params)).chain(ma.result.iter().zip(mb.result.iter()));
        for (sa, sb) in pairs {
            // Byte for byte (compact), so every family hash survives.
            assert_eq!(
                clamator_contract_file::Schema::from_text(sa.json_schema.get())
                    .unwrap()
                    .json_schema
                    .get(),
                sb.json_schema.get(),
                "{}",
                ma.name
            );
            assert_eq!(sa.hash, sb.hash, "{}", ma.name);
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn strict_integers_refuses_integral_floats() {
    let bus = MemoryBus::new();
    let handler = Handler(Arc::new(Store::default()));
    let server = bus
        .server()
        .register(clamator::StrictIntegers(InventoryContract), handler)
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = bus.client();
    let mut p = add_item();
    p["quantity"] = json!(10.0);
    assert_eq!(call(&client, "addItem", p).await, Err(-32602));
    assert!(call(&client, "addItem", add_item()).await.is_ok());
    client.close().await;
    server.stop().await;
}
