//! `#[clamator::model]`: the derives and serde / schemars settings every
//! params or result type needs, in one attribute.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Item, Meta, Path, Token};

use crate::crate_path;

/// The derives the attribute adds, by the last segment a user would write.
const DERIVED: [&str; 3] = ["Serialize", "Deserialize", "JsonSchema"];

/// What `#[clamator::model(...)]` says.
struct Args {
    /// `allow_unknown_fields`: leave out `#[serde(deny_unknown_fields)]`.
    allow_unknown_fields: bool,
    /// `crate = "..."`, or `::clamator`.
    krate: Path,
}

impl Args {
    fn parse(args: TokenStream) -> syn::Result<Args> {
        let mut allow_unknown_fields = false;
        let mut krate: Option<Path> = None;
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("allow_unknown_fields") {
                if allow_unknown_fields {
                    return Err(meta.error("`allow_unknown_fields` is given twice"));
                }
                allow_unknown_fields = true;
                Ok(())
            } else if meta.path.is_ident("crate") {
                if krate.is_some() {
                    return Err(meta.error("`crate` is given twice"));
                }
                krate = Some(crate_path::parse_value(&meta)?);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown model argument; expected `allow_unknown_fields` or `crate = \"...\"`",
                ))
            }
        });
        syn::parse::Parser::parse2(parser, args)?;
        Ok(Args {
            allow_unknown_fields,
            krate: krate.unwrap_or_else(crate_path::default_path),
        })
    }
}

/// Expands `#[clamator::model(args)] item`.
pub(crate) fn expand(args: TokenStream, input: TokenStream) -> syn::Result<TokenStream> {
    let args = Args::parse(args)?;
    let item: Item = syn::parse2(input)?;
    let attrs = match &item {
        Item::Struct(s) => &s.attrs,
        Item::Enum(e) => &e.attrs,
        Item::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span(),
                "#[clamator::model] cannot go on a union: serde derives only structs and enums",
            ));
        }
        Item::Fn(f) => {
            let (fn_token, ident) = (&f.sig.fn_token, &f.sig.ident);
            return Err(syn::Error::new_spanned(
                quote!(#fn_token #ident),
                "#[clamator::model] goes on the struct or enum of a params or result type, not on a function",
            ));
        }
        other => {
            return Err(syn::Error::new_spanned(
                other,
                "#[clamator::model] goes on the struct or enum of a params or result type",
            ));
        }
    };
    let user_denies = check_attrs(attrs, &args)?;

    let krate = &args.krate;
    let serde_crate = crate_path::child_string(krate, "serde");
    let schemars_crate = crate_path::child_string(krate, "schemars");
    // Unknown fields are invalid params (docs/WIRE.md §11, the Python peer's
    // `extra="forbid"`, the schemas' `additionalProperties: false`); a type
    // that must accept them opts out. A `deny_unknown_fields` the user wrote
    // already is kept rather than repeated (serde rejects duplicates).
    let deny =
        (!args.allow_unknown_fields && !user_denies).then(|| quote!(#[serde(deny_unknown_fields)]));
    Ok(quote! {
        #[derive(#krate::serde::Serialize, #krate::serde::Deserialize, #krate::schemars::JsonSchema)]
        #[serde(crate = #serde_crate)]
        #[schemars(crate = #schemars_crate)]
        #deny
        #item
    })
}

/// Rejects attributes that clash with what the attribute adds; returns whether
/// the user wrote `#[serde(deny_unknown_fields)]` themselves.
fn check_attrs(attrs: &[Attribute], args: &Args) -> syn::Result<bool> {
    let mut errors: Option<syn::Error> = None;
    let mut push = |err: syn::Error| match &mut errors {
        Some(all) => all.combine(err),
        None => errors = Some(err),
    };
    let mut user_denies = false;
    for attr in attrs {
        if attr.path().is_ident("derive") {
            // A derive list that does not parse is left for rustc to report.
            let Ok(paths) = attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
            else {
                continue;
            };
            for path in paths {
                let Some(last) = path.segments.last() else {
                    continue;
                };
                if let Some(name) = DERIVED.iter().find(|d| last.ident == **d) {
                    push(syn::Error::new_spanned(
                        &path,
                        format!(
                            "#[clamator::model] derives `{name}` already; remove it from this #[derive]"
                        ),
                    ));
                }
            }
        } else if attr.path().is_ident("serde") || attr.path().is_ident("schemars") {
            let tool = attr.path().to_token_stream().to_string();
            let Ok(metas) = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            else {
                continue;
            };
            for meta in metas {
                if meta.path().is_ident("crate") {
                    push(syn::Error::new_spanned(
                        meta.path(),
                        format!(
                            "#[clamator::model] writes #[{tool}(crate = ...)] itself; to name a \
                             renamed clamator dependency write #[clamator::model(crate = \"...\")]"
                        ),
                    ));
                } else if tool == "serde" && meta.path().is_ident("deny_unknown_fields") {
                    if args.allow_unknown_fields {
                        push(syn::Error::new_spanned(
                            meta.path(),
                            "`deny_unknown_fields` contradicts #[clamator::model(allow_unknown_fields)]; \
                             remove one of them",
                        ));
                    }
                    user_denies = true;
                }
            }
        }
    }
    match errors {
        Some(err) => Err(err),
        None => Ok(user_denies),
    }
}
