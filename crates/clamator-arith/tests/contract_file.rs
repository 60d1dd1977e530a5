//! The `arith` contract as a contract file, for the family's other members:
//! `contracts/arith.json` is checked in and must be what the Rust contract
//! exports today (Rust contract -> contract file, docs/CONTRACTS.md). Python
//! and Zod come from it with `clamator codegen python|zod`.
#![allow(clippy::unwrap_used, missing_docs)]

use clamator_arith::ArithContract;
use clamator_contract_file::export;

const FILE: &str = "contracts/arith.json";

#[test]
fn checked_in_contract_file_is_current() {
    let fresh = export::file(&[(ArithContract::descriptor(), "rust:clamator_arith::Arith")])
        .unwrap()
        .to_text();
    if std::env::var_os("CLAMATOR_BLESS").is_some() {
        std::fs::write(FILE, &fresh).unwrap();
    }
    let checked_in = std::fs::read_to_string(FILE).unwrap_or_default();
    assert!(
        fresh == checked_in,
        "crates/clamator-arith/{FILE} is stale: the arith contract changed. Rewrite it with \
         `CLAMATOR_BLESS=1 cargo test -p clamator-arith --test contract_file` and commit it"
    );
}
