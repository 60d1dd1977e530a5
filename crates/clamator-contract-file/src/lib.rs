//! The clamator family's language-neutral contract file, and the code
//! generators around it. No I/O to Redis; the only files touched are the
//! ones a caller names.
//!
//! A contract file is a JSON list of contracts in the shape the family's
//! codegen uses internally: `{service, sourceFile, methods: [{name,
//! isNotification, params: {jsonSchema, hash}, result: {jsonSchema, hash} |
//! null}]}`, methods sorted by name, schemas JSON Schema draft 7 with
//! everything inlined, hash = lowercase hex sha256 of the schema's compact
//! JSON text (keys in written order). `docs/CONTRACTS.md` (in the
//! repository) documents it, with [`CONTRACT_FILE_SCHEMA`] as its JSON Schema.
//!
//! # Layout
//! - [`file`](mod@file): [`ContractFile`] and its parts; reading (with the hash
//!   check), writing, the family's sort order.
//! - [`hash`]: the family hash.
//! - [`manifest`]: the family's `manifest.json`, and comparing one with a file.
//! - [`schema`]: the schema subset the generators support ([`schema::Ty`]);
//!   anything else is an [`UnsupportedSchema`] naming its JSON pointer.
//! - [`rust`]: contract file -> Rust (`#[clamator::model]` types, the
//!   `#[clamator::contract]` trait, hash constants).
//! - [`python`]: contract file -> a Python module in the family's layout
//!   (pydantic v2 models, `{Service}Client`, `{Service}Service`, `METHODS`,
//!   `{service}_contract`) for the peer `clamator-protocol` 0.1.9.
//! - [`zod`]: contract file -> a TypeScript module of Zod 3 schemas and a
//!   `defineContract(...)`, for TypeScript members.
//! - `export` (feature `export`, default): Rust contract descriptor ->
//!   contract file.
//! - [`build_script`]: generating Rust from `build.rs`.
#![deny(missing_docs)]

pub mod build_script;
mod error;
#[cfg(feature = "export")]
pub mod export;
pub mod file;
pub mod hash;
pub mod manifest;
mod naming;
pub mod python;
pub mod rust;
pub mod schema;
mod shapes;
pub mod zod;

pub use error::ContractFileError;
pub use file::{Contract, ContractFile, Method, Schema};
pub use manifest::Manifest;
pub use schema::UnsupportedSchema;

/// The JSON Schema (draft 7) of the contract file itself.
pub const CONTRACT_FILE_SCHEMA: &str = include_str!("../contract-file.schema.json");

/// Helpers the emitters' unit tests share.
#[cfg(test)]
pub(crate) mod test_util {
    use serde_json::Value;

    use crate::file::{Contract, Method, Schema};

    /// A contract `svc` of notifications with these params schemas.
    pub(crate) fn contract(methods: &[(&str, Value)]) -> Contract {
        Contract {
            service: "svc".into(),
            source_file: None,
            methods: methods
                .iter()
                .map(|(name, params)| Method {
                    name: (*name).into(),
                    is_notification: true,
                    params: Schema::from_value(params).unwrap(),
                    result: None,
                })
                .collect(),
        }
    }
}
