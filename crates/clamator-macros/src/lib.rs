//! Proc-macros of clamator-rs. Use them through the `clamator` crate
//! (`#[clamator::contract]`, `#[clamator::model]`), which the generated code
//! refers to by absolute paths (`::clamator::...`, or the path given with
//! `crate = "..."`).
//!
//! # Layout
//! - `model`: parses and validates the annotated trait into a `model::Contract`,
//!   collecting every problem as a spanned error.
//! - `generate`: one function per emitted item (trait, contract, service adapter, client).
//! - `data_type`: `#[clamator::model]`, the derives of a params or result type.
//! - `crate_path`: the `crate = "..."` argument both attributes take.
//! - `include`: `include_contract!`, Rust from a contract file at compile time.
#![deny(missing_docs)]

mod crate_path;
mod data_type;
mod generate;
mod include;
mod model;

use proc_macro::TokenStream;

/// Turns a trait into a clamator contract.
///
/// ```ignore
/// #[clamator::contract(service = "arith")]
/// pub trait Arith {
///     async fn add(&self, params: AddParams) -> Result<AddResult, RpcError>;
///     #[clamator(notification)]
///     async fn ping(&self, params: PingParams);
/// }
/// ```
///
/// Emits the trait (methods return `Send` futures, so handlers can run on any
/// executor thread), `ArithContract` (descriptor + server adapter, pass it to
/// `Dispatcher::builder().register`), and `ArithClient<T>` (a typed client over
/// any `ClientTransport`). Wire names default to the camelCase of the Rust name;
/// `#[clamator(name = "...")]` sets one explicitly.
///
/// Arguments:
/// - `service = "..."` (required): the service name, `^[a-z][a-z0-9-]*$`.
/// - `crate = "..."`: the path of the `clamator` crate when the dependency is
///   renamed, e.g. `crate = "::renamed"`; `::clamator` by default.
#[proc_macro_attribute]
pub fn contract(args: TokenStream, input: TokenStream) -> TokenStream {
    match model::Contract::parse(args.into(), input.into()) {
        Ok(contract) => generate::all(&contract).into(),
        Err(err) => err.into_compile_error().into(),
    }
}

/// Makes a struct or enum a params or result type of a contract.
///
/// ```ignore
/// #[clamator::model]
/// pub struct AddParams { pub a: f64, pub b: f64 }
///
/// #[clamator::model(allow_unknown_fields)]
/// pub struct AddResult { pub sum: f64 }
/// ```
///
/// Adds `#[derive(Serialize, Deserialize, JsonSchema)]` through the serde and
/// schemars that `clamator` re-exports (so the user crate depends on neither),
/// the matching `#[serde(crate = "::clamator::serde")]` and
/// `#[schemars(crate = "::clamator::schemars")]`, and
/// `#[serde(deny_unknown_fields)]`: unknown fields are invalid params.
/// Other `#[serde(...)]` attributes (`rename_all`, `default`, ...) keep working;
/// write them below `#[clamator::model]`, since they belong to the derive it adds.
///
/// Arguments:
/// - `allow_unknown_fields`: leave out `deny_unknown_fields`, for a type that
///   must accept fields it does not know (e.g. a result a newer peer may extend).
/// - `crate = "..."`: the path of the `clamator` crate when the dependency is
///   renamed, e.g. `crate = "::renamed"`; `::clamator` by default.
///
/// Compile errors: on anything but a struct or an enum, on a type that already
/// derives `Serialize`, `Deserialize` or `JsonSchema`, or that sets serde's or
/// schemars' `crate` itself.
#[proc_macro_attribute]
pub fn model(args: TokenStream, input: TokenStream) -> TokenStream {
    match data_type::expand(args.into(), input.into()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.into_compile_error().into(),
    }
}

/// The Rust of a contract file (docs/CONTRACTS.md), generated at compile time:
/// what `clamator codegen rust` writes, i.e. one module per service with the
/// `#[clamator::model]` types, the `#[clamator::contract]` trait (its
/// `XContract` and `XClient<T>`), `SERVICE` and the `hashes` constants.
///
/// ```ignore
/// clamator::include_contract!("contracts/orders.json");
/// use orders::{Orders, OrdersClient, OrdersContract, PlaceParams};
/// ```
///
/// The path is relative to the crate's `Cargo.toml`; the crate is rebuilt when
/// the file changes. `include_contract!("x.json", allow_unknown_fields)`
/// accepts unknown fields in every type. A file that cannot be read, a stored
/// hash that does not fit its schema, or an unsupported schema feature is a
/// compile error saying which (with the JSON pointer). Generated code names
/// the crate `::clamator`: a renamed dependency needs `clamator codegen rust
/// --crate` or `build_script` instead.
#[proc_macro]
pub fn include_contract(input: TokenStream) -> TokenStream {
    match include::expand(input.into()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.into_compile_error().into(),
    }
}
