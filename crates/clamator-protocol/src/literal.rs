//! Field types for contracts generated from other languages' schemas: the
//! boolean literals `true` / `false` (a boolean union tag like `ok: true`,
//! which serde's internal tagging cannot express), and a required field
//! that may be `null`.

use serde::de::{Deserialize, Deserializer, Error as _};
use serde::ser::{Serialize, Serializer};

macro_rules! bool_literal {
    ($name:ident, $value:literal) => {
        #[doc = concat!("Exactly `", stringify!($value), "` on the wire; anything else does not deserialize.")]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name;

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bool($value)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                match bool::deserialize(d)? {
                    $value => Ok($name),
                    other => Err(D::Error::custom(format!(
                        concat!("invalid value: boolean `{}`, expected `", stringify!($value), "`"),
                        other
                    ))),
                }
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "boolean", "const": $value})
            }
        }
    };
}

bool_literal!(True, true);
bool_literal!(False, false);

/// `#[serde(deserialize_with = "...")]` for an `Option<T>` field that must be
/// present but may be `null` (a Zod `.nullable()`, a pydantic `T | None`
/// without default): serde alone would read a missing `Option` as `None`.
pub fn required_nullable<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

/// `#[schemars(schema_with = "...")]` for the same field: the schema of
/// `Option<T>` (the value may be `null`) while the field stays listed in
/// `required`, which schemars leaves out for every `Option` otherwise.
pub fn nullable_schema<T: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    generator.subschema_for::<Option<T>>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_accept_only_their_value() {
        assert_eq!(serde_json::from_str::<True>("true").ok(), Some(True));
        assert!(serde_json::from_str::<True>("false").is_err());
        assert!(serde_json::from_str::<False>("0").is_err());
        assert_eq!(serde_json::to_string(&False).ok().as_deref(), Some("false"));
    }
}
