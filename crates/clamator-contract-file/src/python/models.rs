//! Types -> pydantic models and annotations.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

use crate::naming::{pascal, py_ident, snake};
use crate::schema::{Extra, Field, Object, Text, Ty, UnsupportedSchema};
use crate::shapes::{self, Hint};

use super::{Gen, docstring, numeric, py_literal, py_pattern, py_str};

impl Gen {
    fn err(&self, what: impl Into<String>) -> UnsupportedSchema {
        UnsupportedSchema {
            location: self.loc.clone(),
            pointer: String::new(),
            what: what.into(),
        }
    }

    pub(super) fn top(&mut self, t: &Ty, name: &str) -> Result<String, UnsupportedSchema> {
        let hint = Hint::root(name.to_owned());
        match t {
            Ty::Object(_) | Ty::Union(_) => self.ty(t, &hint),
            Ty::Record(_) | Ty::AnyOf(_) => {
                let inner = self.ty(t, &hint.suffixed(""))?;
                let n = name.to_owned();
                self.items.push(format!(
                    "class {n}(RootModel[{inner}]):\n    root: {inner}\n"
                ));
                self.classes.push(n.clone());
                Ok(n)
            }
            _ => Err(self.err(
                "params and results must be objects (z.object, a union of objects or z.record)",
            )),
        }
    }

    pub(super) fn string(&mut self, t: &Text) -> Result<String, UnsupportedSchema> {
        let mut parts = Vec::new();
        let lengths: Vec<String> = [("min_length", t.min_length), ("max_length", t.max_length)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
            .collect();
        if !lengths.is_empty() {
            parts.push(format!("Field({})", lengths.join(", ")));
        }
        if let Some(f) = &t.format {
            let (helper, check) = match f.as_str() {
                "email" => ("email", "_email"),
                "uuid" => ("uuid", "_uuid"),
                "uri" => ("uri", "_uri"),
                "date-time" => ("dates", "_date_time"),
                "date" => ("dates", "_date"),
                "time" => ("dates", "_time"),
                "ipv4" => ("ip", "_ipv4"),
                "ipv6" => ("ip", "_ipv6"),
                "ip" => ("ip", "_ip"),
                "duration" => ("duration", "_duration"),
                other => {
                    return Err(self.err(format!(
                        "the string format {other} is not generated for Python"
                    )));
                }
            };
            self.helpers.insert(helper);
            parts.push(format!("AfterValidator({check})"));
        }
        for p in &t.patterns {
            let translated =
                py_pattern(p).map_err(|e| self.err(format!("the pattern {p:?}: {e}")))?;
            self.helpers.insert("pattern");
            parts.push(format!("_pattern({})", py_str(&translated)));
        }
        if t.content_encoding.is_some() {
            self.helpers.insert("base64");
            parts.push("AfterValidator(_base64)".to_owned());
        }
        Ok(if parts.is_empty() {
            "_Str".to_owned()
        } else {
            format!("Annotated[_Str, {}]", parts.join(", "))
        })
    }

    pub(super) fn literal(&mut self, values: &[Value]) -> String {
        let lit = format!(
            "Literal[{}]",
            values.iter().map(py_literal).collect::<Vec<_>>().join(", ")
        );
        if values.iter().all(Value::is_number) {
            self.helpers.insert("number_literal");
            format!("Annotated[{lit}, BeforeValidator(_number_literal)]")
        } else if values.iter().all(Value::is_boolean) {
            self.helpers.insert("bool_literal");
            format!("Annotated[{lit}, BeforeValidator(_bool_literal)]")
        } else {
            lit
        }
    }

    fn ty(&mut self, t: &Ty, hint: &Hint) -> Result<String, UnsupportedSchema> {
        Ok(match t {
            Ty::Any => "Any".to_owned(),
            Ty::Null => "None".to_owned(),
            Ty::Bool => "_Bool".to_owned(),
            Ty::Int(n) if n.non_negative() => {
                numeric("_UInt", n, Some((0.0, 18_446_744_073_709_551_615.0)))
            }
            Ty::Int(n) => numeric(
                "_Int",
                n,
                Some((-9_223_372_036_854_775_808.0, 9_223_372_036_854_775_807.0)),
            ),
            Ty::Number(n) => numeric("_Float", n, None),
            Ty::String(text) => self.string(text)?,
            Ty::Const(v) => self.literal(std::slice::from_ref(v)),
            Ty::Enum(values) => {
                let values: Vec<Value> = values.iter().map(|v| Value::from(v.clone())).collect();
                self.literal(&values)
            }
            Ty::NumberEnum(values) => {
                let values: Vec<Value> = values.iter().map(|v| Value::Number(v.clone())).collect();
                self.literal(&values)
            }
            Ty::Array(item, items) => {
                let inner = format!("list[{}]", self.ty(item, &hint.suffixed("Item"))?);
                let mut parts = Vec::new();
                let lengths: Vec<String> = [
                    ("min_length", items.min_items),
                    ("max_length", items.max_items),
                ]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
                .collect();
                if !lengths.is_empty() {
                    parts.push(format!("Field({})", lengths.join(", ")));
                }
                if items.unique {
                    self.helpers.insert("unique");
                    parts.push("AfterValidator(_unique)".to_owned());
                }
                if parts.is_empty() {
                    inner
                } else {
                    format!("Annotated[{inner}, {}]", parts.join(", "))
                }
            }
            Ty::Tuple(items) => {
                if items.is_empty() {
                    "tuple[()]".to_owned()
                } else {
                    let mut parts = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        parts.push(self.ty(item, &hint.suffixed(&format!("{i}")))?);
                    }
                    format!("tuple[{}]", parts.join(", "))
                }
            }
            Ty::Record(value) => format!("dict[str, {}]", self.ty(value, &hint.suffixed("Value"))?),
            Ty::Nullable(inner) => format!("{} | None", self.ty(inner, hint)?),
            Ty::AnyOf(branches) => {
                let mut parts = Vec::new();
                for (i, b) in branches.iter().enumerate() {
                    parts.push(self.ty(b, &hint.suffixed(&format!("{}", i + 1)))?);
                }
                // Zod's z.union takes the first branch that accepts.
                format!(
                    "Annotated[{}, Field(union_mode=\"left_to_right\")]",
                    parts.join(" | ")
                )
            }
            Ty::Ref(p) => match self.stack.iter().rev().find(|(ptr, _)| ptr == p) {
                Some((_, name)) => {
                    self.recursive = true;
                    name.clone()
                }
                None => {
                    return Err(
                        self.err(format!("`$ref` #{p} does not point to an enclosing object"))
                    );
                }
            },
            Ty::Object(o) => self.object(o, hint, None)?,
            Ty::Union(u) => {
                let union_name = if hint.root {
                    hint.long.clone()
                } else {
                    crate::naming::fresh(&mut self.names, &hint.long)
                };
                let mut variants = Vec::new();
                for v in &u.variants {
                    let vname = match &v.tag_value {
                        Value::Bool(true) => "True".to_owned(),
                        Value::Bool(false) => "False".to_owned(),
                        other => pascal(other.as_str().unwrap_or_default()),
                    };
                    variants.push(self.object(
                        &v.object,
                        &Hint::root(format!("{union_name}{vname}")),
                        Some((&u.tag, &v.tag_value)),
                    )?);
                }
                let joined = variants.join(" | ");
                self.items.push(format!(
                    "class {union_name}(RootModel[{joined}]):\n    root: {joined} = Field(..., discriminator={:?})\n",
                    u.tag
                ));
                self.classes.push(union_name.clone());
                union_name
            }
        })
    }

    pub(super) fn object(
        &mut self,
        o: &Object,
        hint: &Hint,
        tag: Option<(&str, &Value)>,
    ) -> Result<String, UnsupportedSchema> {
        let key = (tag.is_none() && !hint.root)
            .then(|| shapes::key(o))
            .flatten()
            .filter(|k| self.counts.get(k).copied().unwrap_or(0) > 1);
        if let Some(name) = key.as_ref().and_then(|k| self.shared.get(k)) {
            return Ok(name.clone());
        }
        let cname = match (&key, &hint.short) {
            (Some(_), Some(short)) if !self.names.contains(short) => {
                crate::naming::fresh(&mut self.names, short)
            }
            // `{Method}Params` / `{Method}Result`, reserved up front.
            _ if hint.root && tag.is_none() => hint.long.clone(),
            _ => crate::naming::fresh(&mut self.names, &hint.long),
        };
        if let Some(k) = &key {
            self.shared.insert(k.clone(), cname.clone());
        }
        self.stack.push((o.pointer.clone(), cname.clone()));
        let body = self.object_body(o, &cname, tag);
        self.stack.pop();
        let body = body?;
        self.items.push(body);
        self.classes.push(cname.clone());
        Ok(cname)
    }

    fn object_body(
        &mut self,
        o: &Object,
        cname: &str,
        tag: Option<(&str, &Value)>,
    ) -> Result<String, UnsupportedSchema> {
        let mut body = String::new();
        let mut used = BTreeSet::new();
        if let Some((wire, value)) = tag {
            // A plain Literal: pydantic allows no validator on a discriminator
            // (so `1` passes for `true` here; see docs/CONTRACTS.md).
            let attr = py_ident(&snake(wire));
            used.insert(attr.clone());
            let lit = format!("Literal[{}]", py_literal(value));
            let _ = if attr == wire {
                writeln!(body, "    {attr}: {lit}")
            } else {
                writeln!(body, "    {attr}: {lit} = Field(..., alias={wire:?})")
            };
        }
        for f in &o.fields {
            body.push_str(&self.field(f, cname, &mut used)?);
        }
        let (extra, extra_field) = match &o.extra {
            Extra::Forbid => ("forbid", String::new()),
            Extra::Allow => ("ignore", String::new()),
            Extra::Typed(t) => {
                let hint = Hint {
                    long: format!("{cname}Extra"),
                    short: None,
                    root: false,
                };
                let inner = self.ty(t, &hint)?;
                (
                    "allow",
                    format!("    __pydantic_extra__: dict[str, {inner}] = Field(init=False)\n"),
                )
            }
        };
        let doc = o
            .description
            .as_deref()
            .map(|d| format!("    {}\n\n", docstring(d)))
            .unwrap_or_default();
        Ok(format!(
            "class {cname}(BaseModel):\n{doc}    model_config = ConfigDict(\n        extra={extra:?},\n        populate_by_name=True,\n    )\n{extra_field}{body}"
        ))
    }

    pub(super) fn field(
        &mut self,
        f: &Field,
        owner: &str,
        used: &mut BTreeSet<String>,
    ) -> Result<String, UnsupportedSchema> {
        let mut attr = py_ident(&snake(&f.wire));
        while !used.insert(attr.clone()) {
            attr.push('_');
        }
        let hint = Hint {
            long: format!("{owner}{}", pascal(&f.wire)),
            short: Some(pascal(&f.wire)),
            root: false,
        };
        let optional = |ty: String| {
            if ty == "None" || ty == "Any" || ty.ends_with("| None") {
                ty
            } else {
                format!("{ty} | None")
            }
        };
        let (ty, default) = match (&f.default, f.required, &f.ty) {
            (Some(d @ (Value::Array(_) | Value::Object(_))), _, t) => (
                self.ty(t, &hint)?,
                // Mutable: a fresh copy per model, validated (a dict becomes its model).
                Some(format!(
                    "default_factory=lambda: {}, validate_default=True",
                    py_literal(d)
                )),
            ),
            (Some(d), _, t) => (self.ty(t, &hint)?, Some(py_literal(d))),
            (None, false, t) => (optional(self.ty(t, &hint)?), Some("None".to_owned())),
            (None, true, t) => (self.ty(t, &hint)?, None),
        };
        let mut args: Vec<String> = Vec::new();
        match &default {
            Some(d) if d.starts_with("default_factory") => args.push(d.clone()),
            Some(d) => args.push(d.clone()),
            None => args.push("...".to_owned()),
        }
        if attr != f.wire {
            args.push(format!("alias={:?}", f.wire));
        }
        if let Some(d) = &f.description {
            args.push(format!("description={}", py_str(d)));
        }
        Ok(
            if args.len() == 1 && !args[0].starts_with("default_factory") {
                match default {
                    Some(d) => format!("    {attr}: {ty} = {d}\n"),
                    None => format!("    {attr}: {ty}\n"),
                }
            } else {
                format!("    {attr}: {ty} = Field({})\n", args.join(", "))
            },
        )
    }
}
