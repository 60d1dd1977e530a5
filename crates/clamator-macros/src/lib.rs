//! Proc-macros of clamator-rs. Use them through the `clamator` crate
//! (`#[clamator::contract]`), which the generated code refers to by absolute paths.
//!
//! # Layout
//! - `model`: parses and validates the annotated trait into a `model::Contract`,
//!   collecting every problem as a spanned error.
//! - `generate`: one function per emitted item (trait, contract, service adapter, client).
#![deny(missing_docs)]

mod generate;
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
#[proc_macro_attribute]
pub fn contract(args: TokenStream, input: TokenStream) -> TokenStream {
    match model::Contract::parse(args.into(), input.into()) {
        Ok(contract) => generate::all(&contract).into(),
        Err(err) => err.into_compile_error().into(),
    }
}
