//! `crate = "..."`: the path generated code names the `clamator` crate by.
//!
//! Generated code refers to everything by absolute path, `::clamator::...` by
//! default. A crate that renames the dependency (`renamed = { package =
//! "clamator" }`) has no `::clamator`, so both attributes take
//! `crate = "::renamed"`, the way serde's `#[serde(crate = "...")]` does.

use syn::meta::ParseNestedMeta;
use syn::{LitStr, Path, PathArguments};

/// `::clamator`, what generated code uses unless told otherwise.
pub(crate) fn default_path() -> Path {
    syn::parse_quote!(::clamator)
}

/// Parses the value of `crate = "..."`: a plain path, no generic arguments.
pub(crate) fn parse_value(meta: &ParseNestedMeta<'_>) -> syn::Result<Path> {
    let lit: LitStr = meta.value()?.parse()?;
    let path: Path = lit.parse().map_err(|_| {
        syn::Error::new(
            lit.span(),
            "expected the path of the clamator crate, e.g. `crate = \"::clamator\"`",
        )
    })?;
    if path
        .segments
        .iter()
        .any(|s| !matches!(s.arguments, PathArguments::None))
    {
        return Err(syn::Error::new(
            lit.span(),
            "the crate path cannot have generic arguments",
        ));
    }
    Ok(path)
}

/// `path::child` as the string serde's and schemars' `crate = "..."` expect.
pub(crate) fn child_string(path: &Path, child: &str) -> String {
    let mut out = String::new();
    if path.leading_colon.is_some() {
        out.push_str("::");
    }
    for seg in &path.segments {
        out.push_str(&seg.ident.to_string());
        out.push_str("::");
    }
    out.push_str(child);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_strings() {
        assert_eq!(child_string(&default_path(), "serde"), "::clamator::serde");
        let p: Path = syn::parse_quote!(my::reexport);
        assert_eq!(child_string(&p, "schemars"), "my::reexport::schemars");
    }
}
