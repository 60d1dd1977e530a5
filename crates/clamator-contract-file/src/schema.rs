//! The schema subset the generators understand, parsed from JSON Schema
//! draft 7 into [`Ty`]. Anything else is refused with an
//! [`UnsupportedSchema`] naming the JSON pointer, never dropped silently.

use serde_json::{Map, Value};

/// A schema feature the generators do not support, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported schema at {location}{pointer}: {what}; supported are objects, integers, numbers, \
     strings, booleans, string enums, literals, arrays, records, optional/nullable/default \
     fields and discriminated unions (docs/CONTRACTS.md, \"Supported schemas\")"
)]
pub struct UnsupportedSchema {
    /// `service.method params|result`, when known.
    pub location: String,
    /// The JSON pointer inside that schema (`""` for its root).
    pub pointer: String,
    /// What is not supported.
    pub what: String,
}

/// A schema, as the generators see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// Any JSON value (`{}`, `z.any()`, `z.unknown()`).
    Any,
    /// `true` / `false`.
    Bool,
    /// A whole number; `unsigned` when the schema says `minimum: 0`.
    Int {
        /// `minimum: 0`.
        unsigned: bool,
    },
    /// Any JSON number.
    Number,
    /// A string.
    String,
    /// Exactly this value (`const`): a string or a boolean.
    Const(Value),
    /// One of these strings.
    Enum(Vec<String>),
    /// A list.
    Array(Box<Ty>),
    /// An object with any keys and values of one type.
    Record(Box<Ty>),
    /// An object with known fields.
    Object(Object),
    /// Objects told apart by a constant field.
    Union(Union),
    /// The type, or `null`.
    Nullable(Box<Ty>),
}

/// An object with known fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The fields, in schema order.
    pub fields: Vec<Field>,
    /// Unknown fields are accepted (`additionalProperties` absent or `true`).
    pub allow_unknown: bool,
}

/// One field of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The name on the wire.
    pub wire: String,
    /// Its type.
    pub ty: Ty,
    /// Listed in `required`.
    pub required: bool,
    /// Its `default`, if any (such a field may be left out).
    pub default: Option<Value>,
    /// Its `description`.
    pub description: Option<String>,
}

/// A discriminated union: every variant is an object with the `tag` field
/// set to a constant (a string, or a boolean like `ok: true / false`).
#[derive(Debug, Clone, PartialEq)]
pub struct Union {
    /// The tag field's wire name.
    pub tag: String,
    /// The variants, in schema order.
    pub variants: Vec<Variant>,
}

/// One variant of a [`Union`].
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The tag's value: a string or a boolean.
    pub tag_value: Value,
    /// The variant's fields, without the tag.
    pub object: Object,
}

/// Keys that describe without constraining; skipped.
const ANNOTATIONS: [&str; 6] = [
    "$schema",
    "title",
    "description",
    "examples",
    "$comment",
    "$id",
];

/// Parses `schema`; errors name `location` and the pointer inside it.
pub fn parse(schema: &Value, location: &str) -> Result<Ty, UnsupportedSchema> {
    Parser { location }.ty(schema, "")
}

/// Parses a params or result schema: like [`parse`], and it must be an
/// object on the wire (an object, a discriminated union or a record).
pub fn parse_message(schema: &Value, location: &str) -> Result<Ty, UnsupportedSchema> {
    match parse(schema, location)? {
        t @ (Ty::Object(_) | Ty::Union(_) | Ty::Record(_)) => Ok(t),
        _ => Err(UnsupportedSchema {
            location: location.to_owned(),
            pointer: String::new(),
            what: "params and results must be objects (z.object, z.discriminatedUnion or z.record)"
                .to_owned(),
        }),
    }
}

struct Parser<'a> {
    location: &'a str,
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Parser<'_> {
    fn err(&self, pointer: &str, what: impl Into<String>) -> UnsupportedSchema {
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

    fn ty(&self, schema: &Value, ptr: &str) -> Result<Ty, UnsupportedSchema> {
        let obj = match schema {
            Value::Bool(true) => return Ok(Ty::Any),
            Value::Object(o) => o,
            _ => return Err(self.err(ptr, "a schema must be an object")),
        };
        // Keys this function consumes; everything else is refused below.
        let mut seen: Vec<&str> = ANNOTATIONS.to_vec();
        let ty = self.ty_inner(obj, ptr, &mut seen)?;
        if let Some(key) = obj.keys().find(|k| !seen.contains(&k.as_str())) {
            return Err(self.err(
                &format!("{ptr}/{}", escape(key)),
                format!("the keyword `{key}` is not supported here"),
            ));
        }
        Ok(ty)
    }

    fn ty_inner<'k>(
        &self,
        o: &'k Map<String, Value>,
        ptr: &str,
        seen: &mut Vec<&'k str>,
    ) -> Result<Ty, UnsupportedSchema> {
        if let Some(r) = o.get("$ref") {
            return Err(self.err(
                &format!("{ptr}/$ref"),
                format!("`$ref` ({r}) is not supported: inline the schema ($refStrategy: 'none')"),
            ));
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = o.get(key) {
                seen.push(if key == "anyOf" { "anyOf" } else { "oneOf" });
                return self.any_of(branches, &format!("{ptr}/{key}"));
            }
        }
        if let Some(c) = o.get("const") {
            seen.extend(["const", "type"]);
            return match c {
                Value::String(_) | Value::Bool(_) => Ok(Ty::Const(c.clone())),
                _ => Err(self.err(
                    &format!("{ptr}/const"),
                    "only string and boolean constants are supported",
                )),
            };
        }
        if let Some(e) = o.get("enum") {
            seen.extend(["enum", "type"]);
            let Value::Array(items) = e else {
                return Err(self.err(&format!("{ptr}/enum"), "`enum` must be a list"));
            };
            let mut strings = Vec::new();
            let mut nullable = false;
            for v in items {
                match v {
                    Value::String(s) => strings.push(s.clone()),
                    Value::Null => nullable = true,
                    _ => {
                        return Err(self.err(
                            &format!("{ptr}/enum"),
                            "only enums of strings are supported",
                        ));
                    }
                }
            }
            let t = Ty::Enum(strings);
            return Ok(if nullable {
                Ty::Nullable(Box::new(t))
            } else {
                t
            });
        }
        let Some(ty) = o.get("type") else {
            // `{}`: anything.
            return Ok(Ty::Any);
        };
        seen.push("type");
        let (name, nullable) = match ty {
            Value::String(s) => (s.as_str(), false),
            Value::Array(list) => {
                let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                let non_null: Vec<&str> = names.iter().copied().filter(|n| *n != "null").collect();
                match non_null.as_slice() {
                    [one] if names.len() == 2 => (*one, true),
                    _ => {
                        return Err(self.err(
                            &format!("{ptr}/type"),
                            format!("a union of types {names:?} is not supported (only one type, or one type and null)"),
                        ));
                    }
                }
            }
            _ => return Err(self.err(&format!("{ptr}/type"), "`type` must be a string or a list")),
        };
        let t = match name {
            "boolean" => Ty::Bool,
            "string" => Ty::String,
            "number" => {
                seen.push("format");
                Ty::Number
            }
            "integer" => {
                seen.push("format");
                let unsigned = match o.get("minimum") {
                    None => false,
                    Some(m) if m.as_f64() == Some(0.0) => {
                        seen.push("minimum");
                        true
                    }
                    Some(_) => false,
                };
                Ty::Int { unsigned }
            }
            "array" => {
                seen.push("items");
                match o.get("items") {
                    Some(items @ (Value::Object(_) | Value::Bool(true))) => {
                        Ty::Array(Box::new(self.ty(items, &format!("{ptr}/items"))?))
                    }
                    None => Ty::Array(Box::new(Ty::Any)),
                    Some(_) => {
                        return Err(self.err(
                            &format!("{ptr}/items"),
                            "tuples (`items` as a list) are not supported",
                        ));
                    }
                }
            }
            "object" => self.object(o, ptr, seen)?,
            "null" => {
                return Err(self.err(
                    &format!("{ptr}/type"),
                    "a field that is always null is not supported",
                ));
            }
            other => {
                return Err(self.err(&format!("{ptr}/type"), format!("unknown type {other:?}")));
            }
        };
        Ok(if nullable {
            Ty::Nullable(Box::new(t))
        } else {
            t
        })
    }

    fn object<'k>(
        &self,
        o: &'k Map<String, Value>,
        ptr: &str,
        seen: &mut Vec<&'k str>,
    ) -> Result<Ty, UnsupportedSchema> {
        seen.extend(["properties", "required", "additionalProperties"]);
        let additional = o.get("additionalProperties");
        let Some(props) = o.get("properties") else {
            return Ok(match additional {
                Some(v @ Value::Object(_)) => Ty::Record(Box::new(
                    self.ty(v, &format!("{ptr}/additionalProperties"))?,
                )),
                // No fields: `{}` only, or (additionalProperties absent
                // or true) an empty struct that allows unknown fields.
                Some(Value::Bool(false)) => Ty::Object(Object {
                    fields: Vec::new(),
                    allow_unknown: false,
                }),
                _ => Ty::Object(Object {
                    fields: Vec::new(),
                    allow_unknown: true,
                }),
            });
        };
        let Value::Object(props) = props else {
            return Err(self.err(
                &format!("{ptr}/properties"),
                "`properties` must be an object",
            ));
        };
        let allow_unknown = match additional {
            None | Some(Value::Bool(true)) => true,
            Some(Value::Bool(false)) => false,
            Some(_) => {
                return Err(self.err(
                    &format!("{ptr}/additionalProperties"),
                    "known fields plus extra fields of a schema (`.catchall()`) are not supported",
                ));
            }
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
                && !default_supported(&ty, d)
            {
                return Err(self.err(
                    &format!("{fptr}/default"),
                    format!(
                        "the default {d} is not supported (only scalars, enum values, null, [] and {{}})"
                    ),
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
            allow_unknown,
        }))
    }

    fn any_of(&self, branches: &Value, ptr: &str) -> Result<Ty, UnsupportedSchema> {
        let Value::Array(list) = branches else {
            return Err(self.err(ptr, "must be a list"));
        };
        let is_null = |v: &Value| v.get("type") == Some(&Value::from("null"));
        let non_null: Vec<(usize, &Value)> = list
            .iter()
            .enumerate()
            .filter(|(_, v)| !is_null(v))
            .collect();
        let nullable = non_null.len() < list.len();
        let t = if non_null.len() == 1 {
            let (i, v) = non_null[0];
            self.ty(v, &format!("{ptr}/{i}"))?
        } else {
            let mut objects = Vec::new();
            for (i, v) in &non_null {
                match self.ty(v, &format!("{ptr}/{i}"))? {
                    Ty::Object(o) => objects.push(o),
                    _ => {
                        return Err(self.err(
                            &format!("{ptr}/{i}"),
                            "a union of anything but objects with a constant tag field is not supported",
                        ));
                    }
                }
            }
            Ty::Union(self.union(objects, ptr)?)
        };
        Ok(if nullable {
            Ty::Nullable(Box::new(t))
        } else {
            t
        })
    }

    fn union(&self, objects: Vec<Object>, ptr: &str) -> Result<Union, UnsupportedSchema> {
        let is_tag = |o: &Object, name: &str| {
            o.fields
                .iter()
                .any(|f| f.wire == name && f.required && matches!(f.ty, Ty::Const(_)))
        };
        let Some(tag) = objects.first().and_then(|first| {
            first
                .fields
                .iter()
                .map(|f| f.wire.clone())
                .find(|name| objects.iter().all(|o| is_tag(o, name)))
        }) else {
            return Err(self.err(
                ptr,
                "a union without a field that is a required constant in every branch (use z.discriminatedUnion)",
            ));
        };
        let mut variants: Vec<Variant> = Vec::new();
        for mut object in objects {
            let pos = object
                .fields
                .iter()
                .position(|f| f.wire == tag)
                .unwrap_or_default();
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
        Ok(Union { tag, variants })
    }
}

/// Whether every generator can write `value` as a default of a `ty` field.
fn default_supported(ty: &Ty, value: &Value) -> bool {
    match (ty, value) {
        (Ty::Nullable(_), Value::Null) => true,
        (Ty::Nullable(inner), v) => default_supported(inner, v),
        (Ty::Bool, Value::Bool(_))
        | (Ty::Number, Value::Number(_))
        | (Ty::String, Value::String(_)) => true,
        (Ty::Int { unsigned: true }, Value::Number(n)) => n.is_u64(),
        (Ty::Int { unsigned: false }, Value::Number(n)) => n.is_i64(),
        (Ty::Enum(values), Value::String(s)) => values.contains(s),
        (Ty::Array(_), Value::Array(a)) => a.is_empty(),
        (Ty::Record(_), Value::Object(o)) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refuses_with_the_pointer() {
        let err = parse(
            &json!({"type": "object", "properties": {"name": {"type": "string", "minLength": 1}}}),
            "svc.m params",
        )
        .unwrap_err();
        assert_eq!(err.pointer, " /properties/name/minLength");
        assert!(err.to_string().contains("`minLength`"), "{err}");
    }

    #[test]
    fn unsupported_default_names_the_field() {
        let err = parse(
            &json!({"type": "object", "properties": {"d": {"type": "object", "properties": {}, "default": {"a": 1}}}}),
            "svc.m params",
        )
        .unwrap_err();
        assert_eq!(err.pointer, " /properties/d/default");
        assert_eq!(err.location, "svc.m params");
    }

    #[test]
    fn bool_tagged_union() {
        let t = parse(
            &json!({"anyOf": [
                {"type": "object", "properties": {"ok": {"type": "boolean", "const": true}, "v": {"type": "integer"}}, "required": ["ok", "v"], "additionalProperties": false},
                {"type": "object", "properties": {"ok": {"type": "boolean", "const": false}}, "required": ["ok"], "additionalProperties": false}
            ]}),
            "",
        )
        .unwrap();
        let Ty::Union(u) = t else { panic!("{t:?}") };
        assert_eq!(u.tag, "ok");
        assert_eq!(u.variants[0].tag_value, json!(true));
        assert_eq!(u.variants[0].object.fields.len(), 1);
    }

    #[test]
    fn nullable_forms() {
        assert_eq!(
            parse(&json!({"type": ["string", "null"]}), "").unwrap(),
            Ty::Nullable(Box::new(Ty::String))
        );
        assert_eq!(
            parse(
                &json!({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}),
                ""
            )
            .unwrap(),
            Ty::Nullable(Box::new(Ty::Int { unsigned: true }))
        );
    }
}
