//! `include_contract!`: the Rust of a contract file at compile time is the
//! same as what `clamator codegen rust` writes, and it serves and calls.
#![allow(clippy::unwrap_used, missing_docs)]

use clamator::RpcError;
use clamator::memory::MemoryBus;
use clamator::protocol::literal::{False, True};

clamator::include_contract!("../../examples/contracts/orders.json");
use orders::*;

struct Shop;

impl Orders for Shop {
    async fn place(&self, p: PlaceParams) -> Result<PlaceResult, RpcError> {
        Ok(match p.lines.first() {
            Some(line) => PlaceResult::True(PlaceResultTrue {
                ok: True,
                order_id: format!("{}-{}", p.customer_id, line.sku),
                total_items: i64::try_from(line.quantity).unwrap(),
            }),
            None => PlaceResult::False(PlaceResultFalse {
                ok: False,
                reason: PlaceResultFalseReason::Empty,
            }),
        })
    }
    async fn cancelled(&self, _: CancelledParams) {}
}

#[tokio::test(flavor = "current_thread")]
async fn included_contract_serves_and_calls() {
    let bus = MemoryBus::new();
    let server = bus
        .server()
        .register(OrdersContract, Shop)
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = bus.client();
    let got = OrdersClient::new(&client)
        .place(PlaceParams {
            customer_id: "c".into(),
            express: false,
            lines: vec![PlaceParamsLinesItem {
                quantity: 3,
                sku: "tea".into(),
            }],
            note: None,
        })
        .await
        .unwrap();
    assert_eq!(
        got,
        PlaceResult::True(PlaceResultTrue {
            ok: True,
            order_id: "c-tea".into(),
            total_items: 3
        })
    );
    let raw = client
        .call(
            "orders",
            "place",
            clamator::serde_json::json!({"customerId": "c", "lines": []}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        raw,
        clamator::serde_json::json!({"ok": false, "reason": "empty"})
    );
    assert_eq!(SERVICE, "orders");
    assert_eq!(hashes::PLACE_PARAMS.len(), 64);
    client.close().await;
    server.stop().await;
}
