//! The parser: JSON Schema -> [`Ty`], one keyword set at a time.

use serde_json::{Map, Number, Value};

use super::{
    ANNOTATIONS, Extra, FORMATS, Field, Items, Numeric, Object, Text, Ty, Union, UnsupportedSchema,
    Variant, fits,
};

pub(super) struct Parser<'a> {
    pub(super) location: &'a str,
    pub(super) root: &'a Value,
    /// `$ref` targets being expanded: a reference to one of them is recursion.
    pub(super) expanding: Vec<String>,
}

pub(super) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn as_count(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as u64)
    })
}

impl Parser<'_> {
    pub(super) fn err(&self, pointer: &str, what: impl Into<String>) -> UnsupportedSchema {
        UnsupportedSchema {
            location: self.location.to_owned(),
            pointer: if pointer.is_empty() {
                String::new()
            } else {
                format!(" {pointer}")
            },
            what: what.into(),
        }
    }

    pub(super) fn ty(&mut self, schema: &Value, ptr: &str) -> Result<Ty, UnsupportedSchema> {
        match schema {
            Value::Bool(true) => Ok(Ty::Any),
            Value::Object(o) => {
                if let Some(all) = o.get("allOf") {
                    let merged = self.merge_all_of(o, all, ptr)?;
                    return self.map(&merged, ptr);
                }
                self.map(o, ptr)
            }
            _ => Err(self.err(ptr, "a schema must be an object")),
        }
    }

    fn map(&mut self, o: &Map<String, Value>, ptr: &str) -> Result<Ty, UnsupportedSchema> {
        // Keys this function consumes; everything else is refused below.
        let mut seen: Vec<String> = ANNOTATIONS.iter().map(|s| (*s).to_owned()).collect();
        let ty = self.ty_inner(o, ptr, &mut seen)?;
        if let Some(key) = o.keys().find(|k| !seen.iter().any(|s| s == *k)) {
            return Err(self.err(
                &format!("{ptr}/{}", escape(key)),
                format!("the keyword `{key}` is not supported here"),
            ));
        }
        Ok(ty)
    }

    fn reference(&mut self, r: &Value, ptr: &str) -> Result<Ty, UnsupportedSchema> {
        let rptr = format!("{ptr}/$ref");
        let Some(target) = r.as_str().and_then(|s| s.strip_prefix('#')) else {
            return Err(self.err(
                &rptr,
                format!("`$ref` {r} is not supported: only references inside the schema (`#...`)"),
            ));
        };
        let target = target.to_owned();
        if self.expanding.contains(&target)
            || (ptr.starts_with(&target)
                && (ptr.len() == target.len() || ptr[target.len()..].starts_with('/')))
        {
            return Ok(Ty::Ref(target));
        }
        let Some(schema) = self.root.pointer(&target) else {
            return Err(self.err(
                &rptr,
                format!("`$ref` {r} points to nothing in this schema"),
            ));
        };
        if self.expanding.len() > 32 {
            return Err(self.err(&rptr, "`$ref`s nest more than 32 deep"));
        }
        self.expanding.push(target.clone());
        let t = self.ty(schema, &target);
        self.expanding.pop();
        t
    }

    fn ty_inner(
        &mut self,
        o: &Map<String, Value>,
        ptr: &str,
        seen: &mut Vec<String>,
    ) -> Result<Ty, UnsupportedSchema> {
        if let Some(r) = o.get("$ref") {
            seen.push("$ref".to_owned());
            return self.reference(r, ptr);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = o.get(key) {
                if o.get("type") == Some(&Value::from("string")) {
                    // `z.string().ip()`: a string in one of two formats.
                    if let Some(t) = self.ip_formats(branches) {
                        seen.extend(["anyOf".to_owned(), "oneOf".to_owned()]);
                        let mut text = self.text(o, ptr, seen)?;
                        text.format = Some(t);
                        seen.push("type".to_owned());
                        return Ok(Ty::String(text));
                    }
                }
                seen.push(key.to_owned());
                return self.any_of(branches, &format!("{ptr}/{key}"));
            }
        }
        if let Some(c) = o.get("const") {
            seen.extend(["const".to_owned(), "type".to_owned()]);
            return match c {
                Value::String(_) | Value::Bool(_) | Value::Number(_) => Ok(Ty::Const(c.clone())),
                Value::Null => Ok(Ty::Null),
                _ => Err(self.err(
                    &format!("{ptr}/const"),
                    "only string, number, boolean and null constants are supported",
                )),
            };
        }
        if let Some(e) = o.get("enum") {
            seen.extend(["enum".to_owned(), "type".to_owned()]);
            let Value::Array(items) = e else {
                return Err(self.err(&format!("{ptr}/enum"), "`enum` must be a list"));
            };
            let mut strings = Vec::new();
            let mut numbers = Vec::new();
            let mut nullable = false;
            for v in items {
                match v {
                    Value::String(s) => strings.push(s.clone()),
                    Value::Number(n) => numbers.push(n.clone()),
                    Value::Null => nullable = true,
                    _ => {
                        return Err(self.err(
                            &format!("{ptr}/enum"),
                            "only enums of strings and numbers are supported",
                        ));
                    }
                }
            }
            let t = match (strings.is_empty(), numbers.is_empty()) {
                (false, true) => Ty::Enum(strings),
                (true, false) => Ty::NumberEnum(numbers),
                (false, false) => Ty::AnyOf(vec![Ty::Enum(strings), Ty::NumberEnum(numbers)]),
                (true, true) => Ty::Null,
            };
            return Ok(if nullable && t != Ty::Null {
                Ty::Nullable(Box::new(t))
            } else {
                t
            });
        }
        let Some(ty) = o.get("type") else {
            if o.contains_key("properties") || o.contains_key("additionalProperties") {
                // An object schema without `type` (an `allOf` branch merged).
                return self.object(o, ptr, seen);
            }
            // `{}`: anything.
            return Ok(Ty::Any);
        };
        seen.push("type".to_owned());
        match ty {
            Value::String(s) => self.typed(s, o, ptr, seen),
            Value::Array(list) => {
                let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                if names.len() != list.len() || names.is_empty() {
                    return Err(self.err(&format!("{ptr}/type"), "`type` must list type names"));
                }
                let nullable = names.contains(&"null");
                let mut branches = Vec::new();
                for n in names.iter().filter(|n| **n != "null") {
                    branches.push(self.typed(n, o, ptr, seen)?);
                }
                let t = match branches.len() {
                    0 => Ty::Null,
                    1 => branches.remove(0),
                    _ => Ty::AnyOf(branches),
                };
                Ok(if nullable && t != Ty::Null {
                    Ty::Nullable(Box::new(t))
                } else {
                    t
                })
            }
            _ => Err(self.err(&format!("{ptr}/type"), "`type` must be a string or a list")),
        }
    }

    fn ip_formats(&self, branches: &Value) -> Option<String> {
        let list = branches.as_array()?;
        let formats: Vec<&str> = list
            .iter()
            .map(|b| {
                let o = b.as_object()?;
                (o.len() == 1).then(|| o.get("format")?.as_str())?
            })
            .collect::<Option<_>>()?;
        let mut sorted = formats.clone();
        sorted.sort_unstable();
        (sorted == ["ipv4", "ipv6"]).then(|| "ip".to_owned())
    }

    fn typed(
        &mut self,
        name: &str,
        o: &Map<String, Value>,
        ptr: &str,
        seen: &mut Vec<String>,
    ) -> Result<Ty, UnsupportedSchema> {
        Ok(match name {
            "boolean" => Ty::Bool,
            "null" => Ty::Null,
            "string" => Ty::String(self.text(o, ptr, seen)?),
            "number" => Ty::Number(self.numeric(o, ptr, seen)?),
            "integer" => Ty::Int(self.numeric(o, ptr, seen)?),
            "array" => self.array(o, ptr, seen)?,
            "object" => self.object(o, ptr, seen)?,
            other => {
                return Err(self.err(&format!("{ptr}/type"), format!("unknown type {other:?}")));
            }
        })
    }

    pub(super) fn numeric(
        &self,
        o: &Map<String, Value>,
        ptr: &str,
        seen: &mut Vec<String>,
    ) -> Result<Numeric, UnsupportedSchema> {
        let mut n = Numeric::default();
        for (key, slot) in [
            ("minimum", &mut n.minimum),
            ("exclusiveMinimum", &mut n.exclusive_minimum),
            ("maximum", &mut n.maximum),
            ("exclusiveMaximum", &mut n.exclusive_maximum),
            ("multipleOf", &mut n.multiple_of),
        ] {
            if let Some(v) = o.get(key) {
                seen.push(key.to_owned());
                match v {
                    Value::Number(x) => *slot = Some(x.clone()),
                    _ => {
                        return Err(self.err(
                            &format!("{ptr}/{key}"),
                            format!("`{key}` must be a number (draft 7)"),
                        ));
                    }
                }
            }
        }
        if n.multiple_of
            .as_ref()
            .and_then(Number::as_f64)
            .is_some_and(|m| m <= 0.0)
        {
            return Err(self.err(&format!("{ptr}/multipleOf"), "`multipleOf` must be above 0"));
        }
        if let Some(f) = o.get("format") {
            seen.push("format".to_owned());
            n.format = f.as_str().map(str::to_owned);
        }
        Ok(n)
    }

    fn text(
        &self,
        o: &Map<String, Value>,
        ptr: &str,
        seen: &mut Vec<String>,
    ) -> Result<Text, UnsupportedSchema> {
        let mut t = Text::default();
        for (key, slot) in [
            ("minLength", &mut t.min_length),
            ("maxLength", &mut t.max_length),
        ] {
            if let Some(v) = o.get(key) {
                seen.push(key.to_owned());
                *slot = Some(as_count(v).ok_or_else(|| {
                    self.err(
                        &format!("{ptr}/{key}"),
                        format!("`{key}` must be a whole number"),
                    )
                })?);
            }
        }
        if let Some(p) = o.get("pattern") {
            seen.push("pattern".to_owned());
            let list = match p {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => Vec::new(),
            };
            if list.is_empty() {
                return Err(self.err(&format!("{ptr}/pattern"), "`pattern` must be a string"));
            }
            t.patterns = list;
        }
        if let Some(f) = o.get("format") {
            seen.push("format".to_owned());
            let Some(f) = f.as_str().filter(|f| FORMATS.contains(f)) else {
                return Err(self.err(
                    &format!("{ptr}/format"),
                    format!(
                        "the string format {f} is not supported (supported: {})",
                        FORMATS.join(", ")
                    ),
                ));
            };
            t.format = Some(f.to_owned());
        }
        if let Some(e) = o.get("contentEncoding") {
            seen.push("contentEncoding".to_owned());
            if e != "base64" {
                return Err(self.err(
                    &format!("{ptr}/contentEncoding"),
                    "only `contentEncoding: base64` is supported",
                ));
            }
            t.content_encoding = Some("base64".to_owned());
        }
        Ok(t)
    }

    pub(super) fn array(
        &mut self,
        o: &Map<String, Value>,
        ptr: &str,
        seen: &mut Vec<String>,
    ) -> Result<Ty, UnsupportedSchema> {
        seen.extend(
            [
                "items",
                "minItems",
                "maxItems",
                "uniqueItems",
                "additionalItems",
            ]
            .map(str::to_owned),
        );
        let count = |key: &str| -> Result<Option<u64>, UnsupportedSchema> {
            o.get(key)
                .map(|v| {
                    as_count(v).ok_or_else(|| {
                        self.err(
                            &format!("{ptr}/{key}"),
                            format!("`{key}` must be a whole number"),
                        )
                    })
                })
                .transpose()
        };
        let items = Items {
            min_items: count("minItems")?,
            max_items: count("maxItems")?,
            unique: match o.get("uniqueItems") {
                None | Some(Value::Bool(false)) => false,
                Some(Value::Bool(true)) => true,
                Some(_) => {
                    return Err(self.err(
                        &format!("{ptr}/uniqueItems"),
                        "`uniqueItems` must be a boolean",
                    ));
                }
            },
        };
        match o.get("items") {
            Some(Value::Array(list)) => {
                if o.get("additionalItems")
                    .is_some_and(|a| a != &Value::Bool(false))
                {
                    return Err(self.err(
                        &format!("{ptr}/additionalItems"),
                        "tuples with a rest element (`z.tuple([...]).rest(T)`) are not supported",
                    ));
                }
                let n = list.len() as u64;
                if items.min_items.unwrap_or(0) != n
                    || items.max_items.is_some_and(|m| m != n)
                    || items.unique
                {
                    return Err(self.err(
                        ptr,
                        "a tuple must have exactly its listed items (minItems = maxItems = the number of items)",
                    ));
                }
                let mut tys = Vec::new();
                for (i, s) in list.iter().enumerate() {
                    tys.push(self.ty(s, &format!("{ptr}/items/{i}"))?);
                }
                Ok(Ty::Tuple(tys))
            }
            Some(items_schema @ (Value::Object(_) | Value::Bool(true))) => {
                if o.contains_key("additionalItems") {
                    return Err(self.err(
                        &format!("{ptr}/additionalItems"),
                        "`additionalItems` needs `items` as a list",
                    ));
                }
                let item = self.ty(items_schema, &format!("{ptr}/items"))?;
                Ok(Ty::Array(Box::new(item), items))
            }
            None => Ok(Ty::Array(Box::new(Ty::Any), items)),
            Some(_) => Err(self.err(
                &format!("{ptr}/items"),
                "`items` must be a schema or a list of schemas",
            )),
        }
    }

    pub(super) fn object(
        &mut self,
        o: &Map<String, Value>,
        ptr: &str,
        seen: &mut Vec<String>,
    ) -> Result<Ty, UnsupportedSchema> {
        seen.extend(["properties", "required", "additionalProperties"].map(str::to_owned));
        let additional = o.get("additionalProperties");
        let description = o
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let Some(props) = o.get("properties") else {
            return Ok(match additional {
                Some(v @ Value::Object(_)) => Ty::Record(Box::new(
                    self.ty(v, &format!("{ptr}/additionalProperties"))?,
                )),
                // No fields: `{}` only, or (additionalProperties absent
                // or true) an empty struct that allows unknown fields.
                Some(Value::Bool(false)) => Ty::Object(Object {
                    fields: Vec::new(),
                    extra: Extra::Forbid,
                    description,
                    pointer: ptr.to_owned(),
                }),
                _ => Ty::Object(Object {
                    fields: Vec::new(),
                    extra: Extra::Allow,
                    description,
                    pointer: ptr.to_owned(),
                }),
            });
        };
        let Value::Object(props) = props else {
            return Err(self.err(
                &format!("{ptr}/properties"),
                "`properties` must be an object",
            ));
        };
        let extra = match additional {
            None | Some(Value::Bool(true)) => Extra::Allow,
            Some(Value::Bool(false)) => Extra::Forbid,
            Some(v) => Extra::Typed(Box::new(
                self.ty(v, &format!("{ptr}/additionalProperties"))?,
            )),
        };
        let required: Vec<&str> = o
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut fields = Vec::new();
        for (key, schema) in props {
            let fptr = format!("{ptr}/properties/{}", escape(key));
            let (default, description, stripped) = match schema {
                Value::Object(s) => {
                    let mut s = s.clone();
                    let default = s.remove("default");
                    let description = s
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    (default, description, Value::Object(s))
                }
                other => (None, None, other.clone()),
            };
            let ty = self.ty(&stripped, &fptr)?;
            if let Some(d) = &default
                && !fits(&ty, d)
            {
                return Err(self.err(
                    &format!("{fptr}/default"),
                    format!("the default {d} does not fit the field's own schema"),
                ));
            }
            fields.push(Field {
                wire: key.clone(),
                ty,
                required: required.contains(&key.as_str()),
                default,
                description,
            });
        }
        Ok(Ty::Object(Object {
            fields,
            extra,
            description,
            pointer: ptr.to_owned(),
        }))
    }

    fn any_of(&mut self, branches: &Value, ptr: &str) -> Result<Ty, UnsupportedSchema> {
        let Value::Array(list) = branches else {
            return Err(self.err(ptr, "must be a list"));
        };
        let mut tys = Vec::new();
        let mut nullable = false;
        for (i, v) in list.iter().enumerate() {
            match self.ty(v, &format!("{ptr}/{i}"))? {
                Ty::Null => nullable = true,
                t => tys.push(t),
            }
        }
        let t = match tys.len() {
            0 => Ty::Null,
            1 => tys.remove(0),
            _ if tys.iter().all(|t| matches!(t, Ty::Object(_))) => {
                let objects: Vec<Object> = tys
                    .iter()
                    .filter_map(|t| match t {
                        Ty::Object(o) => Some(o.clone()),
                        _ => None,
                    })
                    .collect();
                match self.union(objects, ptr)? {
                    Some(u) => Ty::Union(u),
                    None => Ty::AnyOf(tys),
                }
            }
            _ => Ty::AnyOf(tys),
        };
        Ok(if nullable && t != Ty::Null {
            Ty::Nullable(Box::new(t))
        } else {
            t
        })
    }

    /// A discriminated union when every object has the same required
    /// constant field (`None` when there is no such field).
    pub(super) fn union(
        &self,
        objects: Vec<Object>,
        ptr: &str,
    ) -> Result<Option<Union>, UnsupportedSchema> {
        let is_tag = |o: &Object, name: &str| {
            o.fields.iter().any(|f| {
                f.wire == name
                    && f.required
                    && matches!(&f.ty, Ty::Const(Value::String(_) | Value::Bool(_)))
            })
        };
        let Some(tag) = objects.first().and_then(|first| {
            first
                .fields
                .iter()
                .map(|f| f.wire.clone())
                .find(|name| objects.iter().all(|o| is_tag(o, name)))
        }) else {
            return Ok(None);
        };
        let mut variants: Vec<Variant> = Vec::new();
        for mut object in objects {
            let Some(pos) = object.fields.iter().position(|f| f.wire == tag) else {
                continue;
            };
            let field = object.fields.remove(pos);
            let Ty::Const(tag_value) = field.ty else {
                continue;
            };
            if variants.iter().any(|v| v.tag_value == tag_value) {
                return Err(self.err(
                    ptr,
                    format!("two branches have the tag {tag} = {tag_value}"),
                ));
            }
            variants.push(Variant { tag_value, object });
        }
        Ok(Some(Union { tag, variants }))
    }
}
