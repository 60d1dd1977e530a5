//! Criterion micro-benchmarks of the server dispatch path and of a whole call
//! over the in-memory transport, with the `arith` interop contract's
//! reference handler (`clamator-arith`).
//!
//! - `dispatch/incoming`: what a server does per request entry, without I/O:
//!   parse the envelope, decode params strictly, run the handler, encode the
//!   result, build the reply text.
//! - `memory/call`: one `arith.add` through `MemoryClient`: build the request,
//!   parse it on the server, dispatch on a task, parse the reply.
//! - `memory/call_x64`: 64 such calls in flight at once (per-call cost under load).
//!
//! `cargo bench -p clamator-over-memory --bench dispatch`
#![allow(missing_docs)] // criterion_group! generates undocumented public functions
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing setup should stop the bench loudly

use std::hint::black_box;

use clamator_over_memory::{MemoryBus, MemoryClient};
use clamator_protocol::Dispatcher;
use clamator_protocol::transport::Incoming;
use clamator_test_support::clamator_arith::{ArithContract, ArithHandler};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

/// The interop contract's reference handler, through its macro-made adapter.
fn dispatcher() -> Dispatcher {
    Dispatcher::builder()
        .register(ArithContract, ArithHandler::new("bench"))
        .unwrap()
        .build()
}

const REQUEST: &[u8] = br#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1.0,"b":2.0},"id":"8c0b1a52-3f4e-4d5a-9b1c-2e7f6a0d9c31"}"#;

fn dispatch(c: &mut Criterion) {
    let d = dispatcher();
    c.bench_function("dispatch/incoming", |b| {
        b.iter(|| match d.incoming(black_box(REQUEST), Some("arith")) {
            Incoming::Dispatch(fut) => futures::executor::block_on(fut).unwrap(),
            Incoming::Poison(e) => panic!("{e}"),
        })
    });
}

async fn add(client: &MemoryClient) {
    let sum = client
        .call("arith", "add", json!({"a": 1.0, "b": 2.0}), None)
        .await
        .unwrap();
    assert_eq!(sum["sum"], 3.0);
}

fn memory(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bus = MemoryBus::new();
    let server = rt
        .block_on(bus.server().dispatcher(dispatcher()).start())
        .unwrap();
    let client = bus.client();
    c.bench_function("memory/call", |b| b.iter(|| rt.block_on(add(&client))));
    c.bench_function("memory/call_x64", |b| {
        b.iter(|| rt.block_on(futures::future::join_all((0..64).map(|_| add(&client)))))
    });
    rt.block_on(async {
        client.close().await;
        server.stop().await;
    });
}

criterion_group!(benches, dispatch, memory);
criterion_main!(benches);
