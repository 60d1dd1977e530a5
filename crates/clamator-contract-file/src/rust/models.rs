//! Types -> Rust items: structs, enums, aliases, fields and defaults.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

use crate::naming::{pascal, rust_ident, snake};
use crate::schema::{self, Extra, Field, Object, Ty, UnsupportedSchema};

use super::constraints::float_lit;
use super::contract::{has_constraints, shape_key};
use super::{Gen, raw_str};

impl Gen<'_> {
    fn fresh(&mut self, want: &str) -> String {
        crate::naming::fresh(&mut self.names, want)
    }

    pub(super) fn unsupported(&self, owner: &str, what: impl Into<String>) -> UnsupportedSchema {
        UnsupportedSchema {
            location: self.loc.clone(),
            pointer: String::new(),
            what: format!("{} (in the Rust type {owner})", what.into()),
        }
    }

    /// A params or result type: a named type (struct or enum), or an alias.
    pub(super) fn top_level(
        &mut self,
        t: &Ty,
        name: &str,
        loc: &str,
    ) -> Result<String, UnsupportedSchema> {
        self.prop = None;
        loc.clone_into(&mut self.loc);
        let object_like = match t {
            Ty::AnyOf(b) => b.iter().all(Ty::is_object_like),
            other => other.is_object_like(),
        };
        if object_like {
            self.at_top = true;
            let out = self.ty(t, name);
            self.at_top = false;
            out
        } else {
            Err(UnsupportedSchema {
                location: loc.to_owned(),
                pointer: String::new(),
                what:
                    "params and results must be objects (z.object, a union of objects or z.record)"
                        .to_owned(),
            })
        }
    }

    fn model_attr(&self, allow_unknown: bool) -> String {
        let mut out = if allow_unknown || self.opts.allow_unknown_fields {
            format!(
                "#[{}::model(allow_unknown_fields{})]",
                self.krate,
                self.crate_arg()
            )
        } else if self.crate_arg().is_empty() {
            format!("#[{}::model]", self.krate)
        } else {
            format!("#[{}::model(crate = {:?})]", self.krate, self.krate)
        };
        if self.checked {
            out.push_str("\n#[derive(::garde::Validate)]");
        }
        out
    }

    fn crate_arg(&self) -> String {
        if self.krate == "::clamator" {
            String::new()
        } else {
            format!(", crate = {:?}", self.krate)
        }
    }

    /// The Rust type for `t`; named types get `name`.
    pub(super) fn ty(&mut self, t: &Ty, name: &str) -> Result<String, UnsupportedSchema> {
        let k = self.krate.clone();
        Ok(match t {
            Ty::Any => format!("{k}::serde_json::Value"),
            Ty::Null => "()".to_owned(),
            Ty::Bool => "bool".to_owned(),
            Ty::Int(n) if n.non_negative() => "u64".to_owned(),
            Ty::Int(_) => "i64".to_owned(),
            Ty::Number(_) => "f64".to_owned(),
            Ty::String(_) => "::std::string::String".to_owned(),
            Ty::Const(Value::Bool(true)) => format!("{k}::protocol::literal::True"),
            Ty::Const(Value::Bool(false)) => format!("{k}::protocol::literal::False"),
            // `type: number` in Zod's lowering: `1.0` is `1` there, so a
            // float, checked against the values.
            Ty::Const(Value::Number(_)) | Ty::NumberEnum(_) => "f64".to_owned(),
            Ty::Const(v) => {
                let s = v.as_str().unwrap_or_default().to_owned();
                self.string_enum(name, std::slice::from_ref(&s))
            }
            Ty::Enum(values) => self.string_enum(name, values),
            Ty::Array(item, _) => format!(
                "::std::vec::Vec<{}>",
                self.ty_unboxed(item, &format!("{name}Item"))?
            ),
            Ty::Tuple(items) => self.tuple(items, name)?,
            Ty::Record(value) => format!(
                "::std::collections::BTreeMap<::std::string::String, {}>",
                self.ty_unboxed(value, &format!("{name}Value"))?
            ),
            Ty::Nullable(inner) => format!("::core::option::Option<{}>", self.ty(inner, name)?),
            Ty::Object(o) => self.object(o, name, None)?,
            Ty::Ref(pointer) => {
                let target = self.by_pointer.get(pointer).cloned().ok_or_else(|| {
                    self.unsupported(
                        name,
                        format!("a `$ref` to #{pointer}, which is not an object the schema defines around it"),
                    )
                })?;
                format!("::std::boxed::Box<{target}>")
            }
            Ty::AnyOf(branches) => self.any_of(branches, name)?,
            Ty::Union(u) => {
                let enum_name = self.fresh(name);
                let string_tags = u.variants.iter().all(|v| v.tag_value.is_string());
                let mut variants = String::new();
                for v in &u.variants {
                    let vname = match &v.tag_value {
                        Value::Bool(true) => "True".to_owned(),
                        Value::Bool(false) => "False".to_owned(),
                        other => pascal(other.as_str().unwrap_or_default()),
                    };
                    let tag_field = (!string_tags).then_some((u.tag.as_str(), &v.tag_value));
                    self.prop = None;
                    let sname =
                        self.object(&v.object, &format!("{enum_name}{vname}"), tag_field)?;
                    if string_tags {
                        let _ = writeln!(
                            variants,
                            "    #[serde(rename = {:?})]",
                            v.tag_value.as_str().unwrap_or_default()
                        );
                    }
                    let garde = if self.checked {
                        if has_constraints(&Ty::Object(v.object.clone())) {
                            "#[garde(dive)] "
                        } else {
                            "#[garde(skip)] "
                        }
                    } else {
                        ""
                    };
                    let _ = writeln!(variants, "    {vname}({garde}{sname}),");
                }
                let serde_attr = if string_tags {
                    format!("#[serde(tag = {:?})]", u.tag)
                } else {
                    // serde's internal tagging takes only string tags: a
                    // boolean tag is a field of a literal type in each
                    // variant, and the variant that accepts the input wins.
                    "#[serde(untagged)]".to_owned()
                };
                self.items.push(format!(
                    "/// Told apart by `{tag}`.\n{model}\n#[derive(Debug, Clone, PartialEq)]\n{serde_attr}\npub enum {enum_name} {{\n{variants}}}\n",
                    tag = u.tag,
                    model = self.model_attr(true),
                ));
                enum_name
            }
        })
    }

    /// Like [`Gen::ty`], where a container already gives indirection (a
    /// recursive `$ref` needs no `Box` inside a `Vec` or a map).
    fn ty_unboxed(&mut self, t: &Ty, name: &str) -> Result<String, UnsupportedSchema> {
        match t {
            Ty::Ref(pointer) => {
                let boxed = self.ty(&Ty::Ref(pointer.clone()), name)?;
                Ok(boxed
                    .trim_start_matches("::std::boxed::Box<")
                    .trim_end_matches('>')
                    .to_owned())
            }
            other => self.ty(other, name),
        }
    }

    fn tuple(&mut self, items: &[Ty], name: &str) -> Result<String, UnsupportedSchema> {
        let tname = self.fresh(name);
        let mut elems = Vec::new();
        for (i, t) in items.iter().enumerate() {
            let ty = self.ty(t, &format!("{tname}{i}"))?;
            let garde = self
                .garde_attr(t, false, &tname)?
                .map(|g| format!("{g} "))
                .unwrap_or_default();
            elems.push(format!("{garde}pub {ty}"));
        }
        self.items.push(format!(
            "/// A tuple: a list of exactly {} items.\n{model}\n#[derive(Debug, Clone, PartialEq)]\npub struct {tname}({});\n",
            items.len(),
            elems.join(", "),
            model = self.model_attr(true),
        ));
        Ok(tname)
    }

    fn any_of(&mut self, branches: &[Ty], name: &str) -> Result<String, UnsupportedSchema> {
        let enum_name = self.fresh(name);
        let mut used = BTreeSet::new();
        let mut variants = String::new();
        for (i, b) in branches.iter().enumerate() {
            let base = match b {
                Ty::String(_) => "String".to_owned(),
                Ty::Int(_) => "Integer".to_owned(),
                Ty::Number(_) => "Number".to_owned(),
                Ty::Bool => "Bool".to_owned(),
                Ty::Array(..) => "List".to_owned(),
                Ty::Tuple(_) => "Tuple".to_owned(),
                Ty::Record(_) => "Map".to_owned(),
                Ty::Enum(_) => "Enum".to_owned(),
                Ty::NumberEnum(_) | Ty::Const(Value::Number(_)) => "NumberValue".to_owned(),
                Ty::Const(v) => pascal(&v.to_string()),
                _ => format!("V{}", i + 1),
            };
            let mut vname = base.clone();
            let mut n = 2;
            while !used.insert(vname.clone()) {
                vname = format!("{base}{n}");
                n += 1;
            }
            self.prop = None;
            let ty = self.ty(b, &format!("{enum_name}{vname}"))?;
            let garde = self
                .garde_attr(b, false, &enum_name)?
                .map(|g| format!("{g} "))
                .unwrap_or_default();
            let _ = writeln!(variants, "    {vname}({garde}{ty}),");
        }
        self.items.push(format!(
            "/// Any of these, tried in order (a union without a tag field).\n{model}\n#[derive(Debug, Clone, PartialEq)]\n#[serde(untagged)]\npub enum {enum_name} {{\n{variants}}}\n",
            model = self.model_attr(true),
        ));
        Ok(enum_name)
    }

    fn string_enum(&mut self, name: &str, values: &[String]) -> String {
        let enum_name = self.fresh(name);
        let mut variants = String::new();
        let mut used = BTreeSet::new();
        for v in values {
            let mut vname = pascal(v);
            while !used.insert(vname.clone()) {
                vname.push('_');
            }
            let _ = writeln!(variants, "    #[serde(rename = {v:?})]\n    {vname},");
        }
        let mut model = self.model_attr(true);
        if self.checked {
            // Nothing to check in a value of a string enum.
            model = model.replace("\n#[derive(::garde::Validate)]", "");
        }
        self.items.push(format!(
            "{model}\n#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\npub enum {enum_name} {{\n{variants}}}\n",
        ));
        enum_name
    }

    /// A struct for `o`; `tag` is a literal first field (boolean-tagged unions).
    pub(super) fn object(
        &mut self,
        o: &Object,
        name: &str,
        tag: Option<(&str, &Value)>,
    ) -> Result<String, UnsupportedSchema> {
        let top = std::mem::take(&mut self.at_top);
        let key = (tag.is_none() && !top).then(|| shape_key(o));
        let shared = key
            .as_ref()
            .is_some_and(|k| self.shape_count.get(k).copied().unwrap_or(0) > 1);
        if shared && let Some(existing) = key.as_ref().and_then(|k| self.shared.get(k)) {
            return Ok(existing.clone());
        }
        let want = match (&self.prop, shared) {
            // A shape used in several places is named after its property
            // (`item` -> `Item`), as the family's Python codegen does.
            (Some(prop), true) => pascal(prop),
            _ => name.to_owned(),
        };
        let sname = self.fresh(&want);
        if let (true, Some(k)) = (shared, key) {
            self.shared.insert(k, sname.clone());
        }
        self.by_pointer.insert(o.pointer.clone(), sname.clone());
        let mut fields = String::new();
        let mut used = BTreeSet::new();
        if let Some((wire, value)) = tag {
            let t = self.ty(
                &Ty::Const(value.clone()),
                &format!("{sname}{}", pascal(wire)),
            )?;
            let ident = self.field_ident(wire, &mut used);
            let garde = if self.checked {
                "\n    #[garde(skip)]"
            } else {
                ""
            };
            let _ = writeln!(
                fields,
                "    #[serde(rename = {wire:?})]{garde}\n    pub {ident}: {t},"
            );
        }
        for f in &o.fields {
            fields.push_str(&self.field(f, &sname, &mut used)?);
        }
        if let Extra::Typed(t) = &o.extra {
            let ident = self.field_ident("extra", &mut used);
            self.prop = None;
            let ty = self.ty_unboxed(t, &format!("{sname}Extra"))?;
            let garde = match self.garde_attr(t, false, &sname)? {
                Some(g) if g.contains("dive") => "\n    #[garde(dive)]",
                Some(g) if g != "#[garde(skip)]" => {
                    return Err(self.unsupported(
                        &sname,
                        "constraints on the extra fields of `.catchall()` are not supported; use an object type",
                    ));
                }
                Some(_) => "\n    #[garde(skip)]",
                None => "",
            };
            let _ = writeln!(
                fields,
                "    /// The fields not listed above (`.catchall()`).\n    #[serde(flatten)]{garde}\n    pub {ident}: ::std::collections::BTreeMap<::std::string::String, {ty}>,"
            );
        }
        let doc = o
            .description
            .as_deref()
            .map(|d| d.lines().map(|l| format!("/// {l}\n")).collect::<String>())
            .unwrap_or_default();
        self.items.push(format!(
            "{doc}{model}\n#[derive(Debug, Clone, PartialEq)]\npub struct {sname} {{\n{fields}}}\n",
            model = self.model_attr(o.allow_unknown()),
        ));
        Ok(sname)
    }

    fn field_ident(&self, wire: &str, used: &mut BTreeSet<String>) -> String {
        let mut ident = snake(wire);
        while !used.insert(ident.clone()) {
            ident.push('_');
        }
        rust_ident(&ident)
    }

    pub(super) fn field(
        &mut self,
        f: &Field,
        owner: &str,
        used: &mut BTreeSet<String>,
    ) -> Result<String, UnsupportedSchema> {
        let ident = self.field_ident(&f.wire, used);
        let mut attrs: Vec<String> = Vec::new();
        let mut extra: Vec<String> = Vec::new();
        let renamed = ident.trim_start_matches("r#") != f.wire;
        if renamed {
            attrs.push(format!("rename = {:?}", f.wire));
        }
        let hint = format!("{owner}{}", pascal(&f.wire));
        let k = self.krate.clone();
        self.prop = Some(f.wire.clone());
        let (ty, optional) = match (&f.default, f.required, &f.ty) {
            (Some(default), _, t) => {
                let ty = self.ty(t, &hint)?;
                let expr = default_expr(t, default, &ty, &k).ok_or_else(|| UnsupportedSchema {
                    location: owner.to_owned(),
                    pointer: format!(" /properties/{}/default", f.wire),
                    what: format!("the default {default} does not fit the field"),
                })?;
                let fname = format!("__default_{}_{}", snake(owner), snake(&f.wire));
                let allow = if expr.contains(".expect(") {
                    "#[allow(clippy::expect_used)]\n"
                } else {
                    ""
                };
                self.items
                    .push(format!("{allow}fn {fname}() -> {ty} {{\n    {expr}\n}}\n"));
                attrs.push(format!("default = {fname:?}"));
                (ty, false)
            }
            (None, false, t) => {
                let inner = match t {
                    Ty::Nullable(inner) => inner.as_ref(),
                    other => other,
                };
                attrs.push(
                    "default, skip_serializing_if = \"::core::option::Option::is_none\"".to_owned(),
                );
                (
                    format!("::core::option::Option<{}>", self.ty(inner, &hint)?),
                    true,
                )
            }
            (None, true, Ty::Nullable(inner)) => {
                // Required but may be null: serde would read a missing
                // Option as None; this keeps the key required.
                attrs.push(format!(
                    "deserialize_with = \"{k}::protocol::literal::required_nullable\""
                ));
                // schemars leaves every Option out of `required`; the
                // schema keeps the null and the key stays required.
                let inner = self.ty(inner, &hint)?;
                extra.push(format!(
                    "#[schemars(schema_with = \"{k}::protocol::literal::nullable_schema::<{inner}>\")]"
                ));
                (format!("::core::option::Option<{inner}>"), false)
            }
            (None, true, t) => (self.ty(t, &hint)?, false),
        };
        self.prop = None;
        let rule_ty = match (&f.ty, optional) {
            (Ty::Nullable(inner), true) => inner.as_ref(),
            (t, _) => t,
        };
        if let Some(g) = self.garde_attr(rule_ty, optional, owner)? {
            extra.push(g);
        }
        let mut out = String::new();
        if let Some(d) = &f.description {
            for line in d.lines() {
                let _ = writeln!(out, "    /// {line}");
            }
        }
        if !attrs.is_empty() {
            let _ = writeln!(out, "    #[serde({})]", attrs.join(", "));
        }
        for e in &extra {
            let _ = writeln!(out, "    {e}");
        }
        let _ = writeln!(out, "    pub {ident}: {ty},");
        Ok(out)
    }
}

/// A Rust expression for a default value.
fn default_expr(t: &Ty, v: &Value, ty: &str, k: &str) -> Option<String> {
    Some(match (t, v) {
        (Ty::Nullable(_), Value::Null) => "::core::option::Option::None".to_owned(),
        (Ty::Bool, Value::Bool(b)) => b.to_string(),
        (Ty::Int(n), Value::Number(x)) if n.non_negative() => format!("{}_u64", x.as_u64()?),
        (Ty::Int(_), Value::Number(x)) => format!("{}_i64", x.as_i64()?),
        (Ty::Number(_), Value::Number(x)) => format!("{}_f64", float_lit(x)),
        (Ty::String(_), Value::String(s)) => format!("::std::string::String::from({s:?})"),
        (Ty::Enum(values), Value::String(s)) if values.contains(s) => {
            format!("{ty}::{}", pascal(s))
        }
        (Ty::Array(_, _), Value::Array(a)) if a.is_empty() => "::std::vec::Vec::new()".to_owned(),
        (Ty::Record(_), Value::Object(o)) if o.is_empty() => {
            "::std::collections::BTreeMap::new()".to_owned()
        }
        // Anything else (objects, lists with items, literals): decoded from
        // its JSON, which codegen checked against the field's schema.
        (t, v) if schema::fits(t, v) => format!(
            "{k}::serde_json::from_str::<{ty}>({}).expect(\"clamator codegen checked this default against the field's schema\")",
            raw_str(&v.to_string())
        ),
        _ => return None,
    })
}
