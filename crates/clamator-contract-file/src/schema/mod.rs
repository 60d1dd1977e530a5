//! The schema subset the generators understand, parsed from JSON Schema
//! draft 7 into [`Ty`]. Anything else is refused with an
//! [`UnsupportedSchema`] naming the JSON pointer, never dropped silently.
//!
//! The subset is what the family's toolchain writes (zod 3.25 through
//! zod-to-json-schema 3.25, draft 7, `$refStrategy: 'none'`), constraints
//! included, plus `$ref` (recursive types) and `definitions`.

mod fits;
mod merge;
mod parser;
#[cfg(test)]
mod tests;

pub use fits::fits;
use parser::Parser;

use serde_json::{Number, Value};

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
