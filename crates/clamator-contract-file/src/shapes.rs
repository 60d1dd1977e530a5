//! Shared types for the Python and Zod emitters: identical object schemas
//! inside one contract become one class / one `const`.
//!
//! Two objects are identical when their structure is: fields (wire name,
//! type, required, default, description), what they do with unknown fields
//! and their description. Where they sit (`Object::pointer`) does not count;
//! a `$ref` inside counts as "the n-th enclosing object", so two copies of a
//! recursive type are identical too. An object holding a `$ref` to an object
//! *around* it is never shared: its meaning depends on where it is.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::schema::{Extra, Object, Ty};

/// The structural key of `o`, or `None` when it cannot be shared (a `$ref`
/// leaves it).
pub(crate) fn key(o: &Object) -> Option<String> {
    let mut out = String::new();
    let mut stack = Vec::new();
    object(o, &mut stack, &mut out).then_some(out)
}

/// How often each shareable nested object occurs in `tys` (the params and
/// results of one contract). The roots themselves and the variants of
/// discriminated unions are not counted: they are named after their method
/// or union.
pub(crate) fn count<'a>(tys: impl IntoIterator<Item = &'a Ty>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for t in tys {
        match t {
            Ty::Object(o) => walk_fields(o, &mut counts),
            other => walk(other, &mut counts),
        }
    }
    counts
}

fn walk_fields(o: &Object, counts: &mut BTreeMap<String, usize>) {
    for f in &o.fields {
        walk(&f.ty, counts);
    }
    if let Extra::Typed(t) = &o.extra {
        walk(t, counts);
    }
}

fn walk(t: &Ty, counts: &mut BTreeMap<String, usize>) {
    match t {
        Ty::Object(o) => {
            if let Some(k) = key(o) {
                *counts.entry(k).or_default() += 1;
            }
            walk_fields(o, counts);
        }
        Ty::Array(item, _) => walk(item, counts),
        Ty::Record(v) | Ty::Nullable(v) => walk(v, counts),
        Ty::Tuple(items) | Ty::AnyOf(items) => items.iter().for_each(|i| walk(i, counts)),
        Ty::Union(u) => u
            .variants
            .iter()
            .for_each(|v| walk_fields(&v.object, counts)),
        _ => {}
    }
}

/// Writes `o`'s structure; false when a `$ref` points outside it.
fn object<'a>(o: &'a Object, stack: &mut Vec<&'a str>, out: &mut String) -> bool {
    stack.push(&o.pointer);
    let mut inside = true;
    out.push('{');
    for f in &o.fields {
        let _ = write!(
            out,
            "{:?}{}{:?}{:?}:",
            f.wire,
            if f.required { "!" } else { "?" },
            f.default.as_ref().map(ToString::to_string),
            f.description
        );
        inside &= ty(&f.ty, stack, out);
        out.push(',');
    }
    match &o.extra {
        Extra::Forbid => out.push_str("}forbid"),
        Extra::Allow => out.push_str("}allow"),
        Extra::Typed(t) => {
            out.push_str("}typed:");
            inside &= ty(t, stack, out);
        }
    }
    let _ = write!(out, "{:?}", o.description);
    stack.pop();
    inside
}

fn ty<'a>(t: &'a Ty, stack: &mut Vec<&'a str>, out: &mut String) -> bool {
    match t {
        Ty::Object(o) => object(o, stack, out),
        Ty::Ref(p) => match stack.iter().rev().position(|s| s == p) {
            Some(up) => {
                let _ = write!(out, "ref^{up}");
                true
            }
            None => false,
        },
        Ty::Array(item, items) => {
            let _ = write!(out, "array{items:?}(");
            let ok = ty(item, stack, out);
            out.push(')');
            ok
        }
        Ty::Record(v) => {
            out.push_str("record(");
            let ok = ty(v, stack, out);
            out.push(')');
            ok
        }
        Ty::Nullable(v) => {
            out.push_str("nullable(");
            let ok = ty(v, stack, out);
            out.push(')');
            ok
        }
        Ty::Tuple(items) | Ty::AnyOf(items) => {
            out.push_str(if matches!(t, Ty::Tuple(_)) {
                "tuple("
            } else {
                "anyof("
            });
            let mut ok = true;
            for i in items {
                ok &= ty(i, stack, out);
                out.push(',');
            }
            out.push(')');
            ok
        }
        Ty::Union(u) => {
            let _ = write!(out, "union{:?}(", u.tag);
            let mut ok = true;
            for v in &u.variants {
                let _ = write!(out, "{}=", v.tag_value);
                ok &= object(&v.object, stack, out);
                out.push(',');
            }
            out.push(')');
            ok
        }
        leaf => {
            let _ = write!(out, "{leaf:?}");
            true
        }
    }
}

/// Names for an object at some place: `long` is `{Parent}{Field}` (the
/// naming of unshared objects elsewhere), `short` the field's own name (for
/// a shared object); `root` for a method's params or result.
pub(crate) struct Hint {
    pub(crate) long: String,
    pub(crate) short: Option<String>,
    pub(crate) root: bool,
}

impl Hint {
    pub(crate) fn root(name: String) -> Hint {
        Hint {
            long: name,
            short: None,
            root: true,
        }
    }
    pub(crate) fn child(&self, long_suffix: &str, short: Option<String>) -> Hint {
        Hint {
            long: format!("{}{long_suffix}", self.long),
            short,
            root: false,
        }
    }
    pub(crate) fn suffixed(&self, suffix: &str) -> Hint {
        Hint {
            long: format!("{}{suffix}", self.long),
            short: self.short.as_ref().map(|s| format!("{s}{suffix}")),
            root: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::parse;
    use serde_json::json;

    #[test]
    fn identical_objects_share_a_key_wherever_they_are() {
        let dim = json!({"type": "object", "properties": {"w": {"type": "number"}}, "required": ["w"], "additionalProperties": false});
        let t = parse(
            &json!({"type": "object", "properties": {"a": dim, "b": {"type": "array", "items": dim}, "c": {"type": "object", "properties": {"w": {"type": "string"}}, "additionalProperties": false}}, "additionalProperties": false}),
            "",
        )
        .unwrap();
        let counts = count([&t]);
        assert_eq!(counts.values().copied().max(), Some(2));
        assert_eq!(counts.len(), 2);
    }

    #[test]
    fn a_ref_leaving_the_object_is_not_shared() {
        let t = parse(
            &json!({"type": "object", "properties": {"child": {"type": "object", "properties": {"up": {"$ref": "#"}}, "additionalProperties": false}}, "additionalProperties": false}),
            "",
        )
        .unwrap();
        let Ty::Object(o) = &t else { panic!() };
        let Ty::Object(child) = &o.fields[0].ty else {
            panic!()
        };
        assert_eq!(key(child), None);
        assert!(key(o).is_some());
    }
}
