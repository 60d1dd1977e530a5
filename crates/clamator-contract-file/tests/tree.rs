//! Recursive types: `tests/contracts/tree.json` (a `z.lazy` tree lowered
//! with `$refStrategy: 'root'` and with `definitions`) generated to
//! `tests/generated/tree.rs`: the recursion is a Rust type that contains
//! itself, its constraints are checked at every depth, and the schemas
//! export back unchanged.

use std::time::Duration;

use clamator::RpcError;
use clamator::memory::MemoryBus;
use clamator_contract_file::{ContractFile, export, rust};
use serde_json::json;

include!("generated/tree.rs");
use tree::*;

const CONTRACT: &str = "tests/contracts/tree.json";

#[test]
fn checked_in_rust_is_what_the_generator_writes() {
    let file = ContractFile::read(std::path::Path::new(CONTRACT)).unwrap();
    let fresh = rust::generate(&file, CONTRACT, &rust::RustOptions::default()).unwrap();
    let checked_in = std::fs::read_to_string("tests/generated/tree.rs").unwrap();
    assert!(
        fresh == checked_in,
        "tests/generated/tree.rs is stale: run `cargo run -p clamator-cli -- codegen rust --contract \
         {CONTRACT} --out tests/generated/tree.rs` in crates/clamator-contract-file"
    );
    let exported = export::file(&[(TreeContract::descriptor(), "rust:generated")]).unwrap();
    for (a, b) in file.contracts[0]
        .methods
        .iter()
        .zip(&exported.contracts[0].methods)
    {
        assert_eq!(a.params.hash, b.params.hash, "{}", a.name);
    }
}

struct Impl;

fn depth_of(n: &DepthParamsRoot) -> u64 {
    1 + n.children.iter().map(depth_of).max().unwrap_or(0)
}

impl Tree for Impl {
    async fn depth(&self, p: DepthParams) -> Result<DepthResult, RpcError> {
        Ok(DepthResult {
            depth: depth_of(&p.root),
            deepest: None,
        })
    }
    async fn graft(&self, p: GraftParams) -> Result<GraftResult, RpcError> {
        Ok(GraftResult {
            tree: GraftResultTree {
                name: p.tree.name,
                children: Vec::new(),
            },
        })
    }
}

#[tokio::test(flavor = "current_thread")]
async fn recursion_decodes_and_is_checked_at_every_depth() {
    let bus = MemoryBus::new();
    let server = bus
        .server()
        .register(TreeContract, Impl)
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = bus.client();
    let tree = json!({"root": {"name": "a", "children": [
        {"name": "b", "children": [{"name": "c", "children": []}]},
        {"name": "d", "children": []}]}});
    let got = client
        .call("tree", "depth", tree, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(got, json!({"depth": 3, "deepest": null}));

    let bad = json!({"root": {"name": "a", "children": [
        {"name": "b", "children": [{"name": "", "children": []}]}]}});
    let err = client
        .call("tree", "depth", bad, Some(Duration::from_secs(5)))
        .await
        .unwrap_err();
    let clamator::Error::Rpc(rpc) = err else {
        panic!("{err}")
    };
    assert_eq!(rpc.code, -32602);
    assert_eq!(
        rpc.data["errors"][0]["loc"],
        json!(["root", "children", 0, "children", 0, "name"])
    );
    assert_eq!(rpc.data["errors"][0]["type"], json!("string_too_short"));

    let graft =
        json!({"tree": {"name": "x", "children": [{"name": "y", "children": []}]}, "at": []});
    let got = client
        .call("tree", "graft", graft, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(got, json!({"tree": {"name": "x", "children": []}}));
    client.close().await;
    server.stop().await;
}
