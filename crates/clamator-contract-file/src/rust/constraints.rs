//! Constraints -> `#[garde(...)]` rules.

use serde_json::Value;

use crate::schema::{Ty, UnsupportedSchema};

use super::contract::has_constraints;
use super::{Gen, raw_str, translate_pattern};

/// A Rust float literal.
pub(super) fn float_lit(n: &serde_json::Number) -> String {
    let x = n.as_f64().unwrap_or_default();
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

impl Gen<'_> {
    /// The `#[garde(...)]` rules of a value of type `t` (empty: `skip`).
    /// `optional`: the value sits in an `Option` the schema does not have
    /// (an optional field), which `inner` must step through.
    pub(super) fn rules(
        &self,
        t: &Ty,
        optional: bool,
        owner: &str,
    ) -> Result<Vec<String>, UnsupportedSchema> {
        let k = &self.krate;
        let mut r = Vec::new();
        match t {
            Ty::Nullable(inner) => {
                return self.rules(inner, true, owner).map(|mut v| {
                    // `Option` passes every rule to its value, except `inner`,
                    // which must step into it first.
                    if !optional {
                        for rule in &mut v {
                            if rule.starts_with("inner(") {
                                *rule = format!("inner({rule})");
                            }
                        }
                    }
                    v
                });
            }
            Ty::String(text) => {
                if text.min_length.is_some() || text.max_length.is_some() {
                    let mut args = vec!["chars".to_owned()];
                    if let Some(n) = text.min_length {
                        args.push(format!("min = {n}"));
                    }
                    if let Some(n) = text.max_length {
                        args.push(format!("max = {n}"));
                    }
                    r.push(format!("length({})", args.join(", ")));
                }
                if !text.patterns.is_empty() {
                    let mut list = Vec::new();
                    for p in &text.patterns {
                        let rust = translate_pattern(p).map_err(|e| {
                            self.unsupported(owner, format!("the pattern {p:?}: {e}"))
                        })?;
                        list.push(raw_str(&rust));
                    }
                    r.push(format!(
                        "custom({k}::checks::patterns(&[{}]))",
                        list.join(", ")
                    ));
                }
                match text.format.as_deref() {
                    Some("email") => r.push(format!("custom({k}::checks::email)")),
                    Some("uri") => r.push("url".to_owned()),
                    Some(f @ ("ip" | "ipv4" | "ipv6")) => r.push(f.to_owned()),
                    Some("uuid") => r.push(format!("custom({k}::checks::uuid)")),
                    Some("date-time") => r.push(format!("custom({k}::checks::date_time)")),
                    Some("date") => r.push(format!("custom({k}::checks::date)")),
                    Some("time") => r.push(format!("custom({k}::checks::time)")),
                    Some("duration") => r.push(format!("custom({k}::checks::duration)")),
                    Some(other) => {
                        return Err(self.unsupported(owner, format!("the string format {other:?}")));
                    }
                    None => {}
                }
                if text.content_encoding.is_some() {
                    r.push(format!("custom({k}::checks::base64)"));
                }
            }
            Ty::Int(n) | Ty::Number(n) => {
                let is_int = matches!(t, Ty::Int(_));
                let lit = |x: &serde_json::Number, up: bool| -> String {
                    if is_int {
                        let f = x.as_f64().unwrap_or_default();
                        let v = if up { f.ceil() } else { f.floor() };
                        format!("{v:.0}")
                    } else {
                        float_lit(x)
                    }
                };
                let unsigned = is_int && n.non_negative();
                let mut args = Vec::new();
                if let Some(m) = &n.minimum
                    && !(unsigned && m.as_f64() == Some(0.0))
                {
                    args.push(format!("min = {}", lit(m, true)));
                }
                if let Some(m) = &n.maximum {
                    args.push(format!("max = {}", lit(m, false)));
                }
                if !args.is_empty() {
                    r.push(format!("range({})", args.join(", ")));
                }
                if let Some(x) = &n.exclusive_minimum {
                    r.push(format!(
                        "custom({k}::checks::greater_than({}))",
                        float_lit(x)
                    ));
                }
                if let Some(x) = &n.exclusive_maximum {
                    r.push(format!("custom({k}::checks::less_than({}))", float_lit(x)));
                }
                if let Some(x) = &n.multiple_of {
                    r.push(format!(
                        "custom({k}::checks::multiple_of({}))",
                        float_lit(x)
                    ));
                }
            }
            Ty::Const(Value::Number(x)) => {
                r.push(format!("custom({k}::checks::one_of(&[{}]))", float_lit(x)));
            }
            Ty::NumberEnum(values) => {
                let list: Vec<String> = values.iter().map(float_lit).collect();
                r.push(format!(
                    "custom({k}::checks::one_of(&[{}]))",
                    list.join(", ")
                ));
            }
            Ty::Array(item, items) => {
                if items.min_items.is_some() || items.max_items.is_some() {
                    let mut args = Vec::new();
                    if let Some(n) = items.min_items {
                        args.push(format!("min = {n}"));
                    }
                    if let Some(n) = items.max_items {
                        args.push(format!("max = {n}"));
                    }
                    r.push(format!("length({})", args.join(", ")));
                }
                if items.unique {
                    r.push(format!("custom({k}::checks::unique)"));
                }
                let mut inner = self.rules(item, false, owner)?;
                // Items that are models: garde's `dive` on the list checks
                // every item (it may not appear inside `inner`).
                if let Some(i) = inner.iter().position(|x| x == "dive") {
                    inner.remove(i);
                    r.push("dive".to_owned());
                }
                if !inner.is_empty() {
                    let inner = format!("inner({})", inner.join(", "));
                    r.push(if optional {
                        format!("inner({inner})")
                    } else {
                        inner
                    });
                }
            }
            Ty::Record(value) => {
                let inner = self.rules(value, false, owner)?;
                if inner.iter().any(|x| x != "dive") {
                    return Err(self.unsupported(
                        owner,
                        "constraints on the values of a record (`z.record(z.string(), z.string().min(1))`) are not supported; use an object value",
                    ));
                }
                r.extend(inner);
            }
            Ty::Object(_) | Ty::Union(_) | Ty::Tuple(_) | Ty::Ref(_) => {
                if has_constraints(t) || matches!(t, Ty::Ref(_)) {
                    r.push("dive".to_owned());
                }
            }
            Ty::AnyOf(branches) => {
                if branches.iter().any(has_constraints) {
                    r.push("dive".to_owned());
                }
            }
            Ty::Any | Ty::Null | Ty::Bool | Ty::Const(_) | Ty::Enum(_) => {}
        }
        Ok(r)
    }

    /// `#[garde(...)]` for a field or element, or nothing when the models
    /// are not checked.
    pub(super) fn garde_attr(
        &self,
        t: &Ty,
        optional: bool,
        owner: &str,
    ) -> Result<Option<String>, UnsupportedSchema> {
        if !self.checked {
            return Ok(None);
        }
        let mut rules = self.rules(t, optional, owner)?;
        if rules.is_empty() {
            rules.push("skip".to_owned());
        }
        Ok(Some(format!("#[garde({})]", rules.join(", "))))
    }
}
