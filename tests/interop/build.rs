//! Generates the Rust of the `inventory` test contract (exported from
//! TypeScript by tools/contract-export) into OUT_DIR, the `build.rs` way of
//! using a contract file; tests/contracts.rs includes it.

fn main() {
    let contract = "../../crates/clamator-contract-file/tests/contracts/inventory.json";
    if let Err(e) = clamator_contract_file::build_script::generate(contract, "inventory.rs") {
        eprintln!("error: generating Rust from {contract}: {e}");
        std::process::exit(1);
    }
}
