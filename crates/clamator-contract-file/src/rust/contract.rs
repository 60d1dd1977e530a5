//! One contract's module: the models, the service trait and the hash
//! constants; and the passes over the parsed schemas that decide them
//! (shared shapes, recursion, whether anything is checked).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use serde_json::Value;

use crate::error::ContractFileError;
use crate::file::Contract;
use crate::naming::{pascal, rust_ident, screaming, snake};
use crate::schema::{self, Extra, Items, Object, Text, Ty};

use super::{Gen, Parsed, RustOptions, location, raw_str};

pub(super) fn contract_module(
    c: &Contract,
    opts: &RustOptions,
) -> Result<String, ContractFileError> {
    let krate = opts
        .krate
        .clone()
        .unwrap_or_else(|| "::clamator".to_owned());
    let mut parsed = Vec::new();
    for m in &c.methods {
        let params = schema::parse(&m.params.value()?, &location(c, &m.name, "params"))?;
        let result = match &m.result {
            Some(r) => Some(schema::parse(&r.value()?, &location(c, &m.name, "result"))?),
            None => None,
        };
        parsed.push(Parsed { params, result });
    }
    let mut shape_count = HashMap::new();
    let mut checked = false;
    for p in &parsed {
        for t in std::iter::once(&p.params).chain(p.result.as_ref()) {
            count_shapes(t, &mut shape_count);
            checked |= has_constraints(t);
        }
    }
    let mut g = Gen {
        opts,
        krate: krate.clone(),
        items: Vec::new(),
        names: BTreeSet::new(),
        checked,
        by_pointer: HashMap::new(),
        shape_count,
        shared: HashMap::new(),
        prop: None,
        at_top: false,
        loc: String::new(),
    };
    let trait_name = pascal(&c.service);
    g.names.insert(trait_name.clone());
    g.names.extend([
        format!("{trait_name}Contract"),
        format!("{trait_name}Client"),
    ]);
    let mut hashes = String::new();
    let mut schemas = String::new();
    let mut methods = String::new();
    for (m, p) in c.methods.iter().zip(&parsed) {
        let base = pascal(&m.name);
        let upper = screaming(&m.name);
        g.by_pointer.clear();
        let params = g.top_level(
            &p.params,
            &format!("{base}Params"),
            &location(c, &m.name, "params"),
        )?;
        let _ = writeln!(
            hashes,
            "        /// Hash of the `{}` params schema.\n        pub const {upper}_PARAMS: &str = {:?};",
            m.name, m.params.hash
        );
        let _ = writeln!(
            schemas,
            "        /// The `{}` params schema, as the contract file has it.\n        pub const {upper}_PARAMS: &str = {};",
            m.name,
            raw_str(&crate::hash::compact(m.params.json_schema.get()))
        );
        let mut rust_name = snake(&m.name);
        if matches!(rust_name.as_str(), "new" | "with_timeout" | "transport") {
            rust_name.push_str("_method");
        }
        let rust_name = rust_ident(&rust_name);
        match (&m.result, &p.result) {
            (Some(r), Some(result_ty)) => {
                g.by_pointer.clear();
                let result = g.top_level(
                    result_ty,
                    &format!("{base}Result"),
                    &location(c, &m.name, "result"),
                )?;
                let _ = writeln!(
                    hashes,
                    "        /// Hash of the `{}` result schema.\n        pub const {upper}_RESULT: &str = {:?};",
                    m.name, r.hash
                );
                let _ = writeln!(
                    schemas,
                    "        /// The `{}` result schema, as the contract file has it.\n        pub const {upper}_RESULT: &str = {};",
                    m.name,
                    raw_str(&crate::hash::compact(r.json_schema.get()))
                );
                let _ = write!(
                    methods,
                    "        /// `{svc}.{wire}`.\n        #[clamator(name = {wire:?}, params_schema = schemas::{upper}_PARAMS, result_schema = schemas::{upper}_RESULT)]\n        async fn {rust_name}(&self, params: {params}) -> ::core::result::Result<{result}, {krate}::RpcError>;\n",
                    svc = c.service,
                    wire = m.name,
                );
            }
            _ => {
                let _ = write!(
                    methods,
                    "        /// `{svc}.{wire}` (a notification: no reply).\n        #[clamator(name = {wire:?}, notification, params_schema = schemas::{upper}_PARAMS)]\n        async fn {rust_name}(&self, params: {params});\n",
                    svc = c.service,
                    wire = m.name,
                );
            }
        }
    }
    let from = c
        .source_file
        .as_deref()
        .map(|s| format!(" (from {s})"))
        .unwrap_or_default();
    let krate_arg = if krate == "::clamator" {
        String::new()
    } else {
        format!(", crate = {krate:?}")
    };
    let mut out = String::new();
    let _ = writeln!(out, "/// The `{}` contract{from}.", c.service);
    if g.checked {
        out.push_str(
            "///\n/// Its models check their constraints with `garde` (add `garde = { version = \"0.23\", features = [\"derive\", \"email\", \"url\", \"regex\"] }`\n/// to your dependencies): servers answer -32602 and clients refuse to send params that break them.\n",
        );
    }
    out.push_str("#[allow(missing_docs, clippy::large_enum_variant, clippy::derive_partial_eq_without_eq)]\n");
    let _ = writeln!(out, "pub mod {} {{", rust_ident(&snake(&c.service)));
    let _ = writeln!(
        out,
        "    /// The service name on the wire.\n    pub const SERVICE: &str = {:?};\n",
        c.service
    );
    out.push_str(
        "    /// The family hashes (sha256 of each schema's JSON text), as in the\n    \
         /// contract file and the family's `manifest.json`.\n    pub mod hashes {\n",
    );
    out.push_str(&hashes);
    out.push_str("    }\n\n");
    out.push_str(
        "    /// The JSON Schemas as the contract file has them: the contract's\n    \
         /// descriptor carries them, so exporting it gives the same file.\n    pub mod schemas {\n",
    );
    out.push_str(&schemas);
    out.push_str("    }\n");
    for item in &g.items {
        out.push('\n');
        for line in item.lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    let _ = writeln!(
        out,
        "\n    /// The `{svc}` service: implement it to serve, call it with `{t}Client`.\n    #[{krate}::contract(service = {svc:?}{krate_arg})]\n    pub trait {t} {{\n{methods}    }}\n}}",
        svc = c.service,
        t = trait_name,
    );
    Ok(out)
}

/// The shape of an object, for sharing: its fields and rules, not where it is.
pub(super) fn shape_key(o: &Object) -> String {
    let mut o = o.clone();
    clear_pointers(&mut o);
    format!("{o:?}")
}

fn clear_pointers(o: &mut Object) {
    o.pointer.clear();
    for f in &mut o.fields {
        clear_ty(&mut f.ty);
    }
    if let Extra::Typed(t) = &mut o.extra {
        clear_ty(t);
    }
}

fn clear_ty(t: &mut Ty) {
    match t {
        Ty::Object(o) => clear_pointers(o),
        Ty::Array(i, _) | Ty::Record(i) | Ty::Nullable(i) => clear_ty(i),
        Ty::Tuple(v) | Ty::AnyOf(v) => v.iter_mut().for_each(clear_ty),
        Ty::Union(u) => u
            .variants
            .iter_mut()
            .for_each(|v| clear_pointers(&mut v.object)),
        _ => {}
    }
}

fn count_shapes(t: &Ty, counts: &mut HashMap<String, usize>) {
    match t {
        Ty::Object(o) => {
            // Objects with a `$ref` into them keep their own type.
            if !contains_ref(t) {
                *counts.entry(shape_key(o)).or_default() += 1;
            }
            for f in &o.fields {
                count_shapes(&f.ty, counts);
            }
        }
        Ty::Array(i, _) | Ty::Record(i) | Ty::Nullable(i) => count_shapes(i, counts),
        Ty::Tuple(v) | Ty::AnyOf(v) => v.iter().for_each(|t| count_shapes(t, counts)),
        Ty::Union(u) => u.variants.iter().for_each(|v| {
            v.object
                .fields
                .iter()
                .for_each(|f| count_shapes(&f.ty, counts));
        }),
        _ => {}
    }
}

fn contains_ref(t: &Ty) -> bool {
    match t {
        Ty::Ref(_) => true,
        Ty::Object(o) => {
            o.fields.iter().any(|f| contains_ref(&f.ty))
                || matches!(&o.extra, Extra::Typed(t) if contains_ref(t))
        }
        Ty::Array(i, _) | Ty::Record(i) | Ty::Nullable(i) => contains_ref(i),
        Ty::Tuple(v) | Ty::AnyOf(v) => v.iter().any(contains_ref),
        Ty::Union(u) => u
            .variants
            .iter()
            .any(|v| v.object.fields.iter().any(|f| contains_ref(&f.ty))),
        _ => false,
    }
}

/// Whether a schema has anything to check beyond its shape.
pub(super) fn has_constraints(t: &Ty) -> bool {
    match t {
        Ty::String(text) => *text != Text::default(),
        // `minimum: 0` alone is the unsigned type itself.
        Ty::Int(n) => {
            let mut rest = n.clone();
            if rest.minimum.as_ref().and_then(serde_json::Number::as_f64) == Some(0.0) {
                rest.minimum = None;
            }
            !rest.is_unbounded()
        }
        Ty::Number(n) => !n.is_unbounded(),
        Ty::Const(Value::Number(_)) | Ty::NumberEnum(_) => true,
        Ty::Array(i, items) => *items != Items::default() || has_constraints(i),
        Ty::Record(i) | Ty::Nullable(i) => has_constraints(i),
        Ty::Tuple(v) | Ty::AnyOf(v) => v.iter().any(has_constraints),
        Ty::Object(o) => {
            o.fields.iter().any(|f| has_constraints(&f.ty))
                || matches!(&o.extra, Extra::Typed(t) if has_constraints(t))
        }
        Ty::Union(u) => u
            .variants
            .iter()
            .any(|v| v.object.fields.iter().any(|f| has_constraints(&f.ty))),
        _ => false,
    }
}
