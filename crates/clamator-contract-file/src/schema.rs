//! The schema subset the generators understand, parsed from JSON Schema
//! draft 7 into [`Ty`]. Anything else is refused with an
//! [`UnsupportedSchema`] naming the JSON pointer, never dropped silently.
//!
//! The subset is what the family's toolchain writes (zod 3.25 through
//! zod-to-json-schema 3.25, draft 7, `$refStrategy: 'none'`), constraints
//! included, plus `$ref` (recursive types) and `definitions`.

use serde_json::{Map, Number, Value};

/// A schema feature the generators do not support, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported schema at {location}{pointer}: {what} (docs/CONTRACTS.md, \"Supported schemas\")"
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
    /// Any JSON value (`{}`, `z.any()`, `z.unknown()`, and where the family's
    /// lowering cut a recursive `z.lazy`).
    Any,
    /// Always `null` (`z.null()`).
    Null,
    /// `true` / `false`.
    Bool,
    /// A whole number, with its bounds.
    Int(Numeric),
    /// Any JSON number, with its bounds.
    Number(Numeric),
    /// A string, with its rules.
    String(Text),
    /// Exactly this value (`const`, `z.literal`): a string, a boolean or a number.
    Const(Value),
    /// One of these strings (`z.enum`).
    Enum(Vec<String>),
    /// One of these numbers (`z.nativeEnum` of numbers, a union of numeric literals).
    NumberEnum(Vec<Number>),
    /// A list, with its rules.
    Array(Box<Ty>, Items),
    /// A fixed-length list whose positions have their own types (`z.tuple`).
    Tuple(Vec<Ty>),
    /// An object with any keys and values of one type.
    Record(Box<Ty>),
    /// An object with known fields.
    Object(Object),
    /// Objects told apart by a constant field.
    Union(Union),
    /// Any of these, tried in order (`z.union` without a tag).
    AnyOf(Vec<Ty>),
    /// The type, or `null`.
    Nullable(Box<Ty>),
    /// The schema at this JSON pointer (`#`, `#/definitions/Tree`, ...):
    /// a recursive type refers to an enclosing one.
    Ref(String),
}

/// Bounds of a number (`minimum`, `exclusiveMinimum`, ...).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Numeric {
    /// `minimum`: the value is `>=` it.
    pub minimum: Option<Number>,
    /// `exclusiveMinimum`: the value is `>` it.
    pub exclusive_minimum: Option<Number>,
    /// `maximum`: the value is `<=` it.
    pub maximum: Option<Number>,
    /// `exclusiveMaximum`: the value is `<` it.
    pub exclusive_maximum: Option<Number>,
    /// `multipleOf`.
    pub multiple_of: Option<Number>,
    /// `format` as written (`int64`, `double`, ...): informational.
    pub format: Option<String>,
}

impl Numeric {
    /// No bound at all.
    pub fn is_unbounded(&self) -> bool {
        self.minimum.is_none()
            && self.exclusive_minimum.is_none()
            && self.maximum.is_none()
            && self.exclusive_maximum.is_none()
            && self.multiple_of.is_none()
    }

    /// The lowest value allowed is 0 or more (the type can be unsigned).
    pub fn non_negative(&self) -> bool {
        let at_least = |n: &Option<Number>| {
            n.as_ref()
                .and_then(Number::as_f64)
                .is_some_and(|v| v >= 0.0)
        };
        let above = |n: &Option<Number>| {
            n.as_ref()
                .and_then(Number::as_f64)
                .is_some_and(|v| v >= -1.0)
        };
        at_least(&self.minimum) || above(&self.exclusive_minimum)
    }
}

/// Rules of a string.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Text {
    /// `minLength` (in UTF-16 code units, as JavaScript counts).
    pub min_length: Option<u64>,
    /// `maxLength`.
    pub max_length: Option<u64>,
    /// `pattern`s (ECMAScript regular expressions, unanchored); several
    /// when Zod had several `.regex()` (written as `allOf`).
    pub patterns: Vec<String>,
    /// `format`: one of [`FORMATS`], or `ip` for `anyOf` ipv4 / ipv6.
    pub format: Option<String>,
    /// `contentEncoding` (`base64`).
    pub content_encoding: Option<String>,
}

/// The string formats the generators check.
pub const FORMATS: [&str; 10] = [
    "email",
    "uuid",
    "uri",
    "date-time",
    "date",
    "time",
    "ipv4",
    "ipv6",
    "ip",
    "duration",
];

/// Rules of a list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Items {
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `maxItems`.
    pub max_items: Option<u64>,
    /// `uniqueItems: true` (`z.set`).
    pub unique: bool,
}

/// What an object does with fields it does not list.
#[derive(Debug, Clone, PartialEq)]
pub enum Extra {
    /// Refused (`additionalProperties: false`, `.strict()`, Zod's default lowering).
    Forbid,
    /// Accepted and kept (`additionalProperties` absent or `true`, `.passthrough()`).
    Allow,
    /// Accepted when they are of this type (`.catchall(T)`).
    Typed(Box<Ty>),
}

/// An object with known fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The fields, in schema order.
    pub fields: Vec<Field>,
    /// Fields not listed.
    pub extra: Extra,
    /// Its `description`.
    pub description: Option<String>,
    /// Where it is, as a JSON pointer from the schema's root (`$ref` targets).
    pub pointer: String,
}

impl Object {
    /// Unknown fields are accepted (not [`Extra::Forbid`]).
    pub fn allow_unknown(&self) -> bool {
        !matches!(self.extra, Extra::Forbid)
    }
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

impl Ty {
    /// The type without constraints: what decides the shape in a host
    /// language (`Int` bounds and string rules dropped).
    pub fn is_object_like(&self) -> bool {
        matches!(self, Ty::Object(_) | Ty::Union(_) | Ty::Record(_))
    }
}

/// Keys that describe without constraining; skipped.
const ANNOTATIONS: [&str; 8] = [
    "$schema",
    "title",
    "description",
    "examples",
    "$comment",
    "$id",
    "definitions",
    "$defs",
];

/// Parses `schema`; errors name `location` and the pointer inside it.
pub fn parse(schema: &Value, location: &str) -> Result<Ty, UnsupportedSchema> {
    let mut p = Parser {
        location,
        root: schema,
        expanding: Vec::new(),
    };
    p.ty(schema, "")
}

/// Parses a params or result schema: like [`parse`], and it must be an
/// object on the wire (an object, a discriminated union or a record).
pub fn parse_message(schema: &Value, location: &str) -> Result<Ty, UnsupportedSchema> {
    let t = parse(schema, location)?;
    let object_like = match &t {
        Ty::AnyOf(branches) => branches.iter().all(Ty::is_object_like),
        other => other.is_object_like(),
    };
    if object_like {
        Ok(t)
    } else {
        Err(UnsupportedSchema {
            location: location.to_owned(),
            pointer: String::new(),
            what: "params and results must be objects (z.object, a union of objects or z.record)"
                .to_owned(),
        })
    }
}

struct Parser<'a> {
    location: &'a str,
    root: &'a Value,
    /// `$ref` targets being expanded: a reference to one of them is recursion.
    expanding: Vec<String>,
}

fn escape(key: &str) -> String {
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

    fn ty(&mut self, schema: &Value, ptr: &str) -> Result<Ty, UnsupportedSchema> {
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

    /// `allOf` (`z.intersection`, `.and()`, several `.regex()`, `.pipe()`):
    /// the branches merged into one schema. Several patterns are kept as a
    /// list under `pattern`; other keywords must agree.
    fn merge_all_of(
        &self,
        o: &Map<String, Value>,
        all: &Value,
        ptr: &str,
    ) -> Result<Map<String, Value>, UnsupportedSchema> {
        let Value::Array(branches) = all else {
            return Err(self.err(&format!("{ptr}/allOf"), "`allOf` must be a list"));
        };
        let mut merged: Map<String, Value> = o.clone();
        merged.remove("allOf");
        let mut patterns: Vec<Value> = Vec::new();
        if let Some(p) = merged.remove("pattern") {
            patterns.push(p);
        }
        for (i, b) in branches.iter().enumerate() {
            let bptr = format!("{ptr}/allOf/{i}");
            let Value::Object(b) = b else {
                return Err(self.err(&bptr, "an `allOf` branch must be an object schema"));
            };
            if b.contains_key("allOf") || b.contains_key("$ref") || b.contains_key("anyOf") {
                return Err(self.err(
                    &bptr,
                    "nested `allOf`, `anyOf` or `$ref` inside `allOf` is not supported",
                ));
            }
            for (k, v) in b {
                match k.as_str() {
                    "pattern" => patterns.push(v.clone()),
                    "properties" => {
                        let Value::Object(props) = v else {
                            return Err(self.err(
                                &format!("{bptr}/properties"),
                                "`properties` must be an object",
                            ));
                        };
                        let target = merged
                            .entry("properties")
                            .or_insert_with(|| Value::Object(Map::new()));
                        let Value::Object(target) = target else {
                            return Err(self.err(&bptr, "`properties` must be an object"));
                        };
                        for (name, s) in props {
                            match target.get(name) {
                                Some(existing) if existing != s => {
                                    return Err(self.err(
                                        &format!("{bptr}/properties/{}", escape(name)),
                                        format!("the field `{name}` has different schemas in two `allOf` branches"),
                                    ));
                                }
                                _ => {
                                    target.insert(name.clone(), s.clone());
                                }
                            }
                        }
                    }
                    "required" => {
                        let list = merged
                            .entry("required")
                            .or_insert_with(|| Value::Array(Vec::new()));
                        if let (Value::Array(list), Value::Array(add)) = (list, v) {
                            for r in add {
                                if !list.contains(r) {
                                    list.push(r.clone());
                                }
                            }
                        }
                    }
                    "additionalProperties" => {
                        // Each branch of an intersection judges only its own
                        // fields; the merged object takes what any branch does.
                        let open = merged.get("additionalProperties") == Some(&Value::Bool(false))
                            || !merged.contains_key("additionalProperties");
                        if open && v != &Value::Bool(false) {
                            merged.insert(k.clone(), v.clone());
                        }
                    }
                    _ if ANNOTATIONS.contains(&k.as_str()) => {}
                    _ => {
                        match merged.get(k) {
                            Some(existing) if existing != v => {
                                return Err(self.err(
                                &format!("{bptr}/{}", escape(k)),
                                format!("`{k}` differs between `allOf` branches ({existing} and {v})"),
                            ));
                            }
                            _ => {
                                merged.insert(k.clone(), v.clone());
                            }
                        }
                    }
                }
            }
        }
        // An intersection of objects: a field listed by one branch is known.
        if merged.get("additionalProperties") == Some(&Value::Bool(false))
            && branches.len() > 1
            && merged.contains_key("properties")
        {
            merged.remove("additionalProperties");
        }
        match patterns.len() {
            0 => {}
            1 => {
                merged.insert("pattern".to_owned(), patterns.remove(0));
            }
            _ => {
                merged.insert("pattern".to_owned(), Value::Array(patterns));
            }
        }
        Ok(merged)
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

    fn numeric(
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

    fn array(
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

    fn object(
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
    fn union(&self, objects: Vec<Object>, ptr: &str) -> Result<Option<Union>, UnsupportedSchema> {
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

/// Whether `value` is a valid `ty` (for defaults; constraints on strings
/// and numbers are not checked here, the generated code checks them).
pub fn fits(ty: &Ty, value: &Value) -> bool {
    match (ty, value) {
        (Ty::Any | Ty::Ref(_), _) => true,
        (Ty::Null, Value::Null) => true,
        (Ty::Nullable(_), Value::Null) => true,
        (Ty::Nullable(inner), v) => fits(inner, v),
        (Ty::Bool, Value::Bool(_))
        | (Ty::Number(_), Value::Number(_))
        | (Ty::String(_), Value::String(_)) => true,
        (Ty::Int(_), Value::Number(n)) => n.is_i64() || n.is_u64(),
        (Ty::Const(c), v) => c == v,
        (Ty::Enum(values), Value::String(s)) => values.contains(s),
        (Ty::NumberEnum(values), Value::Number(n)) => {
            values.iter().any(|x| x.as_f64() == n.as_f64())
        }
        (Ty::Array(item, _), Value::Array(a)) => a.iter().all(|v| fits(item, v)),
        (Ty::Tuple(items), Value::Array(a)) => {
            items.len() == a.len() && items.iter().zip(a).all(|(t, v)| fits(t, v))
        }
        (Ty::Record(value_ty), Value::Object(o)) => o.values().all(|v| fits(value_ty, v)),
        (Ty::Object(obj), Value::Object(o)) => object_fits(obj, o),
        (Ty::Union(u), Value::Object(o)) => u.variants.iter().any(|var| {
            o.get(&u.tag) == Some(&var.tag_value) && {
                let mut rest = o.clone();
                rest.remove(&u.tag);
                object_fits(&var.object, &rest)
            }
        }),
        (Ty::AnyOf(branches), v) => branches.iter().any(|b| fits(b, v)),
        _ => false,
    }
}

fn object_fits(obj: &Object, o: &Map<String, Value>) -> bool {
    obj.fields.iter().all(|f| match o.get(&f.wire) {
        Some(v) => fits(&f.ty, v),
        None => !f.required || f.default.is_some(),
    }) && o.keys().all(|k| {
        obj.fields.iter().any(|f| &f.wire == k)
            || match &obj.extra {
                Extra::Forbid => false,
                Extra::Allow => true,
                Extra::Typed(t) => o.get(k).is_some_and(|v| fits(t, v)),
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refuses_with_the_pointer() {
        let err = parse(
            &json!({"type": "object", "properties": {"name": {"type": "string", "format": "hostname"}}}),
            "svc.m params",
        )
        .unwrap_err();
        assert_eq!(err.pointer, " /properties/name/format");
        assert!(err.to_string().contains("hostname"), "{err}");
        let err = parse(
            &json!({"type": "string", "minProperties": 1}),
            "svc.m params",
        )
        .unwrap_err();
        assert!(err.to_string().contains("`minProperties`"), "{err}");
    }

    #[test]
    fn default_must_fit() {
        let err = parse(
            &json!({"type": "object", "properties": {"d": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false, "default": {"a": 1}}}}),
            "svc.m params",
        )
        .unwrap_err();
        assert_eq!(err.pointer, " /properties/d/default");
        assert_eq!(err.location, "svc.m params");
        let ok = parse(
            &json!({"type": "object", "properties": {"o": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false, "default": {"a": "x"}}, "l": {"type": "array", "items": {"type": "number"}, "default": [1, 2]}}, "additionalProperties": false}),
            "",
        );
        assert!(ok.is_ok(), "{ok:?}");
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
            Ty::Nullable(Box::new(Ty::String(Text::default())))
        );
        let t = parse(
            &json!({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}),
            "",
        )
        .unwrap();
        let Ty::Nullable(inner) = t else {
            panic!("{t:?}")
        };
        let Ty::Int(n) = *inner else { panic!() };
        assert!(n.non_negative());
    }

    #[test]
    fn constraints_are_read() {
        let t = parse(&json!({"type": "string", "minLength": 1, "maxLength": 10, "allOf": [{"pattern": "^a"}, {"pattern": "b$"}]}), "").unwrap();
        assert_eq!(
            t,
            Ty::String(Text {
                min_length: Some(1),
                max_length: Some(10),
                patterns: vec!["^a".into(), "b$".into()],
                ..Text::default()
            })
        );
        let t = parse(
            &json!({"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}),
            "",
        )
        .unwrap();
        assert!(
            matches!(t, Ty::String(Text { format: Some(ref f), .. }) if f == "ip"),
            "{t:?}"
        );
        let t = parse(&json!({"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 5, "multipleOf": 0.5}), "").unwrap();
        let Ty::Number(n) = t else { panic!() };
        assert_eq!(n.exclusive_minimum, Some(1.into()));
        let t = parse(&json!({"type": "array", "uniqueItems": true, "items": {"type": "string"}, "minItems": 1}), "").unwrap();
        assert!(
            matches!(
                t,
                Ty::Array(
                    _,
                    Items {
                        min_items: Some(1),
                        unique: true,
                        ..
                    }
                )
            ),
            "{t:?}"
        );
    }

    #[test]
    fn tuples_unions_literals() {
        let t = parse(&json!({"type": "array", "minItems": 2, "maxItems": 2, "items": [{"type": "string"}, {"type": "number"}]}), "").unwrap();
        assert!(matches!(t, Ty::Tuple(ref v) if v.len() == 2), "{t:?}");
        let err = parse(&json!({"type": "array", "minItems": 1, "items": [{"type": "string"}], "additionalItems": {"type": "number"}}), "").unwrap_err();
        assert!(err.what.contains("rest"), "{err}");
        let t = parse(&json!({"type": ["string", "number", "null"]}), "").unwrap();
        assert!(
            matches!(t, Ty::Nullable(ref i) if matches!(**i, Ty::AnyOf(ref b) if b.len() == 2)),
            "{t:?}"
        );
        assert_eq!(
            parse(&json!({"type": "number", "const": 5}), "").unwrap(),
            Ty::Const(json!(5))
        );
        assert_eq!(
            parse(&json!({"type": "number", "enum": [0, 1]}), "").unwrap(),
            Ty::NumberEnum(vec![0.into(), 1.into()])
        );
        let t = parse(&json!({"anyOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false},
            {"type": "object", "properties": {"b": {"type": "number"}}, "required": ["b"], "additionalProperties": false}]}), "").unwrap();
        assert!(matches!(t, Ty::AnyOf(ref b) if b.len() == 2), "{t:?}");
        assert_eq!(parse(&json!({"type": "null"}), "").unwrap(), Ty::Null);
    }

    #[test]
    fn intersections_and_catchall() {
        let t = parse(
            &json!({"allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"type": "object", "properties": {"b": {"type": "number"}}, "required": ["b"]}]}),
            "",
        )
        .unwrap();
        let Ty::Object(o) = t else { panic!("{t:?}") };
        assert_eq!(o.fields.len(), 2);
        assert!(o.fields.iter().all(|f| f.required));
        let t = parse(&json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": {"type": "number"}}), "").unwrap();
        let Ty::Object(o) = t else { panic!("{t:?}") };
        assert!(matches!(o.extra, Extra::Typed(_)));
    }

    #[test]
    fn recursive_refs() {
        let t = parse(
            &json!({
                "type": "object",
                "properties": {"root": {"$ref": "#/definitions/Tree"}},
                "required": ["root"],
                "additionalProperties": false,
                "definitions": {"Tree": {"type": "object", "properties": {
                    "value": {"type": "number"},
                    "children": {"type": "array", "items": {"$ref": "#/definitions/Tree"}}},
                    "required": ["value", "children"], "additionalProperties": false}}
            }),
            "",
        )
        .unwrap();
        let Ty::Object(o) = t else { panic!() };
        let Ty::Object(tree) = &o.fields[0].ty else {
            panic!("{:?}", o.fields[0].ty)
        };
        assert_eq!(tree.pointer, "/definitions/Tree");
        let children = tree.fields.iter().find(|f| f.wire == "children").unwrap();
        let Ty::Array(item, _) = &children.ty else {
            panic!()
        };
        assert_eq!(**item, Ty::Ref("/definitions/Tree".into()));
        // zod-to-json-schema's root strategy points at an ancestor.
        let t = parse(&json!({"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}, "required": ["next"]}), "").unwrap();
        let Ty::Object(o) = t else { panic!() };
        assert_eq!(
            o.fields[0].ty,
            Ty::Nullable(Box::new(Ty::Ref(String::new())))
        );
    }
}
