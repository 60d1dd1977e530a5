//! A deserializer over `&serde_json::Value` whose error records what kind of
//! problem a `Deserialize` impl reported, as data.
//!
//! serde's `Deserialize` impls report problems by calling the methods of
//! [`serde::de::Error`] (`missing_field`, `unknown_field`, `invalid_type`, ...)
//! on the deserializer's error type. serde_json's error keeps only the text;
//! [`Problem`] keeps the method that was called (and, for `missing_field`, the
//! field), so [`super::decode`] classifies a failure without reading messages.
//!
//! [`ValueDe`] behaves like serde_json's `&Value` deserializer (same visitor
//! calls for the same JSON, same errors from the deserializer itself), and a
//! [`Problem`]'s text is the text serde_json's error would have for the same
//! call, since it goes on the wire.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeSeed, EnumAccess, Expected, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Number, Value};

/// What kind of problem a `Deserialize` impl (or the deserializer) reported:
/// which [`serde::de::Error`] method made the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `missing_field`: a required field is absent.
    Missing,
    /// `unknown_field`: a field the type denies (`deny_unknown_fields`).
    ExtraForbidden,
    /// `invalid_type`: a value of the wrong JSON type.
    InvalidType,
    /// `invalid_value` or `unknown_variant`: the right type, a wrong value.
    InvalidValue,
    /// `invalid_length`: too many or too few elements.
    InvalidLength,
    /// `custom` (and `duplicate_field`, which serde makes with `custom`):
    /// anything else, e.g. a `try_from` conversion's error.
    ValueError,
}

impl Kind {
    /// The wire name of the kind (`ValidationIssue::kind`).
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Kind::Missing => "missing",
            Kind::ExtraForbidden => "extra_forbidden",
            Kind::InvalidType => "invalid_type",
            Kind::InvalidValue => "invalid_value",
            Kind::InvalidLength => "invalid_length",
            Kind::ValueError => "value_error",
        }
    }
}

/// The error of [`ValueDe`]: the kind of problem, the missing field's name
/// (for [`Kind::Missing`]) and serde_json's text for it.
#[derive(Debug)]
pub(super) struct Problem {
    /// Which `serde::de::Error` method made this error.
    kind: Kind,
    /// The field `missing_field` named.
    field: Option<&'static str>,
    /// The text serde_json's error would have.
    msg: String,
}

impl Problem {
    /// A problem of `kind` whose text is `json`'s (serde_json's error made by
    /// the same `serde::de::Error` method).
    fn from_json(kind: Kind, json: serde_json::Error) -> Self {
        Problem {
            kind,
            field: None,
            msg: json.to_string(),
        }
    }

    /// The kind of problem.
    pub(super) fn kind(&self) -> Kind {
        self.kind
    }

    /// The missing field, for [`Kind::Missing`].
    pub(super) fn field(&self) -> Option<&'static str> {
        self.field
    }

    /// What is wrong, in serde_json's words.
    pub(super) fn msg(&self) -> &str {
        &self.msg
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Problem {}

// Every method records its kind and takes its text from serde_json's error made
// by the same method: serde_json words some of them differently from serde's
// defaults (`null` for the unit value, its own float format), and the text goes
// on the wire, where it must read as before.
impl de::Error for Problem {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Problem::from_json(
            Kind::ValueError,
            <serde_json::Error as de::Error>::custom(msg),
        )
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Problem::from_json(
            Kind::InvalidType,
            <serde_json::Error as de::Error>::invalid_type(unexp, exp),
        )
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Problem::from_json(
            Kind::InvalidValue,
            <serde_json::Error as de::Error>::invalid_value(unexp, exp),
        )
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        Problem::from_json(
            Kind::InvalidLength,
            <serde_json::Error as de::Error>::invalid_length(len, exp),
        )
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Problem::from_json(
            Kind::InvalidValue,
            <serde_json::Error as de::Error>::unknown_variant(variant, expected),
        )
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Problem::from_json(
            Kind::ExtraForbidden,
            <serde_json::Error as de::Error>::unknown_field(field, expected),
        )
    }

    fn missing_field(field: &'static str) -> Self {
        Problem {
            field: Some(field),
            ..Problem::from_json(
                Kind::Missing,
                <serde_json::Error as de::Error>::missing_field(field),
            )
        }
    }

    // `duplicate_field` keeps serde's default: `custom`, a `value_error`.
}

/// The serde `Unexpected` for a JSON value, as serde_json reports it.
fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => number_unexpected(n),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// The serde `Unexpected` for a JSON number.
fn number_unexpected(n: &Number) -> Unexpected<'static> {
    if let Some(u) = n.as_u64() {
        Unexpected::Unsigned(u)
    } else if let Some(i) = n.as_i64() {
        Unexpected::Signed(i)
    } else {
        Unexpected::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Hands a JSON number to `visitor` as serde_json does: non-negative
/// integers as `u64`, negative ones as `i64`, the rest as `f64`.
fn visit_number<'de, V: Visitor<'de>>(n: &Number, visitor: V) -> Result<V::Value, Problem> {
    if let Some(u) = n.as_u64() {
        visitor.visit_u64(u)
    } else if let Some(i) = n.as_i64() {
        visitor.visit_i64(i)
    } else if let Some(f) = n.as_f64() {
        visitor.visit_f64(f)
    } else {
        // Without serde_json's `arbitrary_precision` every number is one of the above.
        Err(de::Error::custom("number out of range"))
    }
}

/// Hands an array to `visitor` as a sequence; items the visitor leaves are an
/// `invalid_length` problem, as with serde_json.
fn visit_array<'de, V: Visitor<'de>>(array: &'de [Value], visitor: V) -> Result<V::Value, Problem> {
    let len = array.len();
    let mut seq = SeqDe { iter: array.iter() };
    let out = visitor.visit_seq(&mut seq)?;
    if seq.iter.len() == 0 {
        Ok(out)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in array"))
    }
}

/// Hands an object to `visitor` as a map; entries the visitor leaves are an
/// `invalid_length` problem, as with serde_json.
fn visit_object<'de, V: Visitor<'de>>(
    object: &'de Map<String, Value>,
    visitor: V,
) -> Result<V::Value, Problem> {
    let len = object.len();
    let mut map = MapDe {
        iter: object.iter(),
        value: None,
    };
    let out = visitor.visit_map(&mut map)?;
    if map.iter.len() == 0 {
        Ok(out)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in map"))
    }
}

/// A deserializer over a borrowed JSON value, like serde_json's `&Value`
/// deserializer but with [`Problem`] as its error.
#[derive(Debug, Clone, Copy)]
pub(super) struct ValueDe<'de>(pub(super) &'de Value);

impl<'de> ValueDe<'de> {
    /// The `invalid_type` problem of this value where `exp` was expected.
    fn invalid_type(self, exp: &dyn Expected) -> Problem {
        de::Error::invalid_type(unexpected(self.0), exp)
    }
}

/// The number methods: a JSON number goes to the visitor as
/// [`visit_number`] does (the visitor rejects a number of the wrong sign,
/// width or kind), anything else is an `invalid_type` problem.
macro_rules! number_methods {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
                match self.0 {
                    Value::Number(n) => visit_number(n, visitor),
                    _ => Err(self.invalid_type(&visitor)),
                }
            }
        )*
    };
}

impl<'de> Deserializer<'de> for ValueDe<'de> {
    type Error = Problem;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => visit_number(n, visitor),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(a) => visit_array(a, visitor),
            Value::Object(o) => visit_object(o, visitor),
        }
    }

    number_methods!(
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    );

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.0 {
            Value::Bool(b) => visitor.visit_bool(*b),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.0 {
            Value::String(s) => visitor.visit_borrowed_str(s),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.0 {
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(a) => visit_array(a, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Problem> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Problem> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.0 {
            Value::Array(a) => visit_array(a, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Problem> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Problem> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.0 {
            Value::Object(o) => visit_object(o, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Problem> {
        // Like serde_json: a struct also reads from an array, positionally.
        match self.0 {
            Value::Array(a) => visit_array(a, visitor),
            Value::Object(o) => visit_object(o, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Problem> {
        match self.0 {
            // A unit variant by name.
            Value::String(variant) => visitor.visit_enum(EnumDe {
                variant,
                value: None,
            }),
            // `{"Variant": content}`, exactly one key.
            Value::Object(o) => {
                let mut entries = o.iter();
                match (entries.next(), entries.next()) {
                    (Some((variant, value)), None) => visitor.visit_enum(EnumDe {
                        variant,
                        value: Some(value),
                    }),
                    _ => Err(de::Error::invalid_value(
                        Unexpected::Map,
                        &"map with a single key",
                    )),
                }
            }
            other => Err(de::Error::invalid_type(unexpected(other), &"string or map")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        visitor.visit_unit()
    }
}

/// The items of an array, for `Visitor::visit_seq`.
struct SeqDe<'de> {
    /// The items not yet handed out.
    iter: std::slice::Iter<'de, Value>,
}

impl<'de> SeqAccess<'de> for SeqDe<'de> {
    type Error = Problem;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Problem> {
        match self.iter.next() {
            Some(value) => seed.deserialize(ValueDe(value)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// The entries of an object, for `Visitor::visit_map`.
struct MapDe<'de> {
    /// The entries not yet handed out.
    iter: serde_json::map::Iter<'de>,
    /// The value of the key last handed out, until it is asked for.
    value: Option<&'de Value>,
}

impl<'de> MapAccess<'de> for MapDe<'de> {
    type Error = Problem;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Problem> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(KeyDe(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Problem> {
        match self.value.take() {
            Some(value) => seed.deserialize(ValueDe(value)),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// An enum's variant name and content (none for a bare string), for `Visitor::visit_enum`.
struct EnumDe<'de> {
    /// The variant's name.
    variant: &'de str,
    /// The variant's content: the value under the single key.
    value: Option<&'de Value>,
}

impl<'de> EnumAccess<'de> for EnumDe<'de> {
    type Error = Problem;
    type Variant = VariantDe<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantDe<'de>), Problem> {
        let variant =
            seed.deserialize(IntoDeserializer::<Problem>::into_deserializer(self.variant))?;
        Ok((variant, VariantDe { value: self.value }))
    }
}

/// An enum variant's content, for `EnumAccess`.
struct VariantDe<'de> {
    /// The content, none when the variant was given as a bare string.
    value: Option<&'de Value>,
}

impl<'de> VariantAccess<'de> for VariantDe<'de> {
    type Error = Problem;

    fn unit_variant(self) -> Result<(), Problem> {
        match self.value {
            Some(value) => <()>::deserialize(ValueDe(value)),
            None => Ok(()),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Problem> {
        match self.value {
            Some(value) => seed.deserialize(ValueDe(value)),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Problem> {
        match self.value {
            Some(Value::Array(a)) if a.is_empty() => visitor.visit_unit(),
            Some(Value::Array(a)) => visit_array(a, visitor),
            Some(other) => Err(de::Error::invalid_type(unexpected(other), &"tuple variant")),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Problem> {
        match self.value {
            Some(Value::Object(o)) => visit_object(o, visitor),
            Some(other) => Err(de::Error::invalid_type(
                unexpected(other),
                &"struct variant",
            )),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
    }
}

/// A map key (always a string in JSON), like serde_json's: a string to most
/// types, parsed for numbers and booleans.
struct KeyDe<'de>(&'de str);

impl KeyDe<'_> {
    /// The key as a JSON number, for the number methods, and whether more
    /// follows the number in the key. A key that does not start like a number
    /// is serde_json's `invalid_value` "expected key to be a number in quotes";
    /// a malformed number is serde_json's syntax error, a `value_error`.
    fn number(&self) -> Result<(Number, bool), Problem> {
        let key = self.0;
        let numeric_start = matches!(key.as_bytes().first(), Some(b'0'..=b'9' | b'-'));
        if !numeric_start {
            return Err(key_problem(Kind::InvalidValue, key));
        }
        let mut json = serde_json::Deserializer::from_str(key);
        let number = match Number::deserialize(&mut json) {
            Ok(n) => n,
            Err(_) => return Err(key_problem(Kind::ValueError, key)),
        };
        // serde_json wants the number to end the key: no trailing whitespace either.
        let trailing = key.ends_with([' ', '\t', '\n', '\r']) || json.end().is_err();
        Ok((number, trailing))
    }
}

/// The problem for a map key that serde_json cannot read as a number, with
/// serde_json's own words for it (it has no public way to make that error
/// but reading such a key).
fn key_problem(kind: Kind, key: &str) -> Problem {
    let mut object = Map::new();
    object.insert(key.to_owned(), Value::Null);
    let object = Value::Object(object);
    let msg = match std::collections::BTreeMap::<u64, de::IgnoredAny>::deserialize(&object) {
        Err(e) => e.to_string(),
        Ok(_) => "invalid value: expected key to be a number in quotes".to_owned(),
    };
    Problem {
        kind,
        field: None,
        msg,
    }
}

/// The number methods of [`KeyDe`]: the key parsed as a number, handed to the
/// visitor as [`visit_number`] does. Like serde_json, more after the number is
/// a problem found after the visitor has seen the number (so its own problem
/// comes first, and a path tracker has recorded the key).
macro_rules! key_number_methods {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
                let (number, trailing) = self.number()?;
                let value = visit_number(&number, visitor)?;
                if trailing {
                    return Err(key_problem(Kind::InvalidValue, self.0));
                }
                Ok(value)
            }
        )*
    };
}

impl<'de> Deserializer<'de> for KeyDe<'de> {
    type Error = Problem;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        visitor.visit_borrowed_str(self.0)
    }

    key_number_methods!(
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    );

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.0 {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            other => Err(de::Error::invalid_type(Unexpected::Str(other), &visitor)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        // Map keys cannot be null.
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Problem> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Problem> {
        // A key names a unit variant.
        BorrowedStrDeserializer::<Problem>::new(self.0).deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple tuple_struct
        map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests;
