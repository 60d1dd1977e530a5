//! Contracts across languages, worked through (see "Contracts across
//! languages" in the README). Run it with
//! `cargo run -p clamator-examples --example contracts`.
//!
//! 1. `contracts/ts/orders.ts` is a TypeScript/Zod contract; the exporter
//!    (`tools/contract-export`) wrote `contracts/orders.json` from it, and
//!    `clamator codegen rust` wrote `contracts/orders.rs` (checked in; CI
//!    runs the same command with `--check`).
//! 2. This program serves that contract in Rust and calls it with the
//!    generated typed client.
//! 3. It then goes the other way: the contract's descriptor becomes a
//!    contract file again, and the Python module and the Zod module for the
//!    other members are printed (`clamator codegen python|zod` write the same).

use std::sync::atomic::{AtomicUsize, Ordering};

use clamator::RpcError;
use clamator::memory::MemoryBus;
use clamator::protocol::literal::{False, True};
use clamator_contract_file::{export, python, zod};

include!("contracts/orders.rs");
use orders::*;

/// The service, implemented against the generated trait.
#[derive(Default)]
struct Shop {
    next_id: AtomicUsize,
}

impl Orders for Shop {
    async fn place(&self, p: PlaceParams) -> Result<PlaceResult, RpcError> {
        if p.lines.is_empty() {
            return Ok(PlaceResult::False(PlaceResultFalse {
                ok: False,
                reason: PlaceResultFalseReason::Empty,
            }));
        }
        let n = self.next_id.fetch_add(1, Ordering::SeqCst);
        let total: u64 = p.lines.iter().map(|l| l.quantity).sum();
        Ok(PlaceResult::True(PlaceResultTrue {
            ok: True,
            order_id: format!(
                "{}-{n}{}",
                p.customer_id,
                if p.express { "-express" } else { "" }
            ),
            total_items: i64::try_from(total).unwrap_or(i64::MAX),
        }))
    }

    async fn cancelled(&self, p: CancelledParams) {
        println!("cancelled {} ({:?})", p.order_id, p.reason);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bus = MemoryBus::new();
    let server = bus
        .server()
        .register(OrdersContract, Shop::default())?
        .start()
        .await?;
    let client = bus.client();
    let orders = OrdersClient::new(&client);

    let placed = orders
        .place(PlaceParams {
            customer_id: "c7".into(),
            express: false,
            lines: vec![PlaceParamsLinesItem {
                quantity: 2,
                sku: "tea".into(),
            }],
            note: None,
        })
        .await?;
    println!("placed: {placed:?}");
    let refused = orders
        .place(PlaceParams {
            customer_id: "c7".into(),
            express: true,
            lines: vec![],
            note: None,
        })
        .await?;
    println!("refused: {refused:?}");
    // The wire is the TypeScript contract's: camelCase keys, `ok: true/false`,
    // `express` filled in by its default, `quantity: 2.0` read as an integer.
    let raw = client
        .call(
            "orders",
            "place",
            clamator::serde_json::json!({"customerId": "c8", "lines": [{"sku": "tea", "quantity": 2.0}]}),
            None,
        )
        .await?;
    println!("raw: {raw}");
    println!(
        "hash of place params (as in the family's manifest.json): {}",
        hashes::PLACE_PARAMS
    );

    client.close().await;
    server.stop().await;

    // Rust contract -> contract file -> Python and TypeScript.
    let file = export::file(&[(OrdersContract::descriptor(), "rust:examples/contracts.rs")])?;
    for (name, text) in python::generate_all(&file, "orders (Rust)")? {
        println!(
            "--- {name}: {} lines of Python for clamator-protocol 0.1.9",
            text.lines().count()
        );
    }
    for (name, text) in zod::generate_all(&file, "orders (Rust)")? {
        println!("--- {name}:\n{text}");
    }
    Ok(())
}
