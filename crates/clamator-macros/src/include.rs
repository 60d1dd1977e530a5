//! `include_contract!("path.json")`: the Rust of a contract file, generated
//! at compile time (what `clamator codegen rust` writes).

use std::path::PathBuf;

use proc_macro2::TokenStream;
use quote::quote;
use syn::LitStr;
use syn::parse::{Parse, ParseStream};

/// The macro's input: the path, then optional flags.
struct Input {
    path: LitStr,
    allow_unknown_fields: bool,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let path: LitStr = input.parse()?;
        let mut allow_unknown_fields = false;
        while input.parse::<Option<syn::Token![,]>>()?.is_some() {
            if input.is_empty() {
                break;
            }
            let flag: syn::Ident = input.parse()?;
            if flag == "allow_unknown_fields" {
                allow_unknown_fields = true;
            } else {
                return Err(syn::Error::new(
                    flag.span(),
                    "unknown option; expected `allow_unknown_fields`",
                ));
            }
        }
        Ok(Input {
            path,
            allow_unknown_fields,
        })
    }
}

/// Expands the macro: reads the file (relative to the crate's manifest
/// directory), generates, and makes the crate rebuild when the file changes.
pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let Input {
        path,
        allow_unknown_fields,
    } = syn::parse2(input)?;
    let base = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let full = base.join(path.value());
    let err = |msg: String| syn::Error::new(path.span(), msg);
    let file = clamator_contract_file::ContractFile::read(&full)
        .map_err(|e| err(format!("include_contract!: {e}")))?;
    let opts = clamator_contract_file::rust::RustOptions::default()
        .allow_unknown_fields(allow_unknown_fields);
    let source = clamator_contract_file::rust::generate(&file, &path.value(), &opts)
        .map_err(|e| err(format!("include_contract!: {e}")))?;
    let generated: TokenStream = source.parse().map_err(|e| {
        err(format!(
            "include_contract!: the generated Rust does not parse ({e}); please report this"
        ))
    })?;
    let tracked = full.display().to_string();
    Ok(quote! {
        // Makes cargo rebuild this crate when the contract file changes.
        const _: &[u8] = ::core::include_bytes!(#tracked);
        #generated
    })
}
