//! For `build.rs`: generate the Rust of a contract file into `OUT_DIR`.
//!
//! ```ignore
//! // build.rs
//! fn main() {
//!     clamator_contract_file::build_script::generate("contracts/inventory.json", "inventory.rs")
//!         .unwrap_or_else(|e| panic!("{e}"));
//! }
//! // src/lib.rs
//! include!(concat!(env!("OUT_DIR"), "/inventory.rs"));
//! ```

use std::path::{Path, PathBuf};

use crate::error::ContractFileError;
use crate::file::ContractFile;
use crate::rust::{RustOptions, generate as generate_rust};

/// Reads `contract` (relative to the package), writes its Rust to
/// `$OUT_DIR/<out_name>`, and tells cargo to rerun when the file changes.
pub fn generate(contract: impl AsRef<Path>, out_name: &str) -> Result<PathBuf, ContractFileError> {
    generate_with(contract, out_name, &RustOptions::default())
}

/// [`generate`] with options.
pub fn generate_with(
    contract: impl AsRef<Path>,
    out_name: &str,
    opts: &RustOptions,
) -> Result<PathBuf, ContractFileError> {
    let contract = contract.as_ref();
    println!("cargo:rerun-if-changed={}", contract.display());
    let out_dir = std::env::var_os("OUT_DIR").ok_or_else(|| ContractFileError::Invalid {
        origin: contract.display().to_string(),
        msg: "OUT_DIR is not set: call build_script::generate from a build script".to_owned(),
    })?;
    let file = ContractFile::read(contract)?;
    let text = generate_rust(&file, &contract.display().to_string(), opts)?;
    let out = PathBuf::from(out_dir).join(out_name);
    std::fs::write(&out, text).map_err(|e| ContractFileError::Io {
        path: out.display().to_string(),
        source: e,
    })?;
    Ok(out)
}
