//! Generates the Rust of the test contracts (exported from TypeScript by
//! tools/contract-export) into OUT_DIR, the `build.rs` way of using a
//! contract file: `inventory` (tests/contracts.rs) and the `shop` feature
//! fixture (tests/parity.rs, the Rust column of the parity table).

fn main() {
    for (contract, out) in [
        (
            "../../crates/clamator-contract-file/tests/contracts/inventory.json",
            "inventory.rs",
        ),
        (
            "../../crates/clamator-contract-file/tests/contracts/features/shop.json",
            "features_shop.rs",
        ),
    ] {
        if let Err(e) = clamator_contract_file::build_script::generate(contract, out) {
            eprintln!("error: generating Rust from {contract}: {e}");
            std::process::exit(1);
        }
    }
}
