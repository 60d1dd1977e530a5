//! Strict decoding of params and results into contract types, with the
//! problems reported as `{loc, msg, type}` objects (docs/WIRE.md §4 `data.errors`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One validation problem: where it is, what is wrong, and its kind.
///
/// Serialized as `{"loc": [...], "msg": "...", "type": "..."}`, the shape the
/// Python peer's Pydantic errors have, so clients of either language can read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationIssue {
    /// Path to the offending value: field names (strings) and list indices (integers).
    pub loc: Vec<Value>,
    /// What is wrong, for people.
    pub msg: String,
    /// What is wrong, for programs: `missing`, `extra_forbidden`, `invalid_type`,
    /// `invalid_value`, `invalid_length` or `value_error`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl ValidationIssue {
    /// The path as a dotted string (`a.b.0`), `.` for the root.
    pub fn path(&self) -> String {
        if self.loc.is_empty() {
            return ".".to_owned();
        }
        self.loc
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// `loc: msg (type); ...` for an error message.
pub fn summary(errors: &[ValidationIssue]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {} ({})", e.path(), e.msg, e.kind))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Decodes `value` into `T`, strictly: what `T` rejects (a missing field, a
/// wrong type, an unknown field where `T` denies them) becomes a [`ValidationIssue`].
pub fn decode<T: DeserializeOwned>(value: Value) -> Result<T, ValidationIssue> {
    // Tracking the path copies every key on the way; only a value that does
    // not decode needs it, for the problem's `loc`: decode first without
    // (from a reference: the value is still there to decode again).
    if let Ok(decoded) = T::deserialize(&value) {
        return Ok(decoded);
    }
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
        let mut loc: Vec<Value> = err
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Seq { index } => Some(Value::from(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Value::from(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => {
                    Some(Value::from(variant.clone()))
                }
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let msg = err.inner().to_string();
        let (kind, field) = classify(&msg);
        if let Some(field) = field {
            loc.push(Value::from(field));
        }
        ValidationIssue {
            loc,
            msg: strip_position(&msg),
            kind: kind.to_owned(),
        }
    })
}

/// Like [`decode`], for params and results, which are always JSON objects on
/// the wire: anything else (a list that serde would read positionally, null)
/// is a `model_type` problem.
pub fn decode_object<T: DeserializeOwned>(value: Value) -> Result<T, ValidationIssue> {
    if !value.is_object() {
        return Err(ValidationIssue {
            loc: Vec::new(),
            msg: format!("expected a JSON object, got {}", json_kind(&value)),
            kind: "model_type".to_owned(),
        });
    }
    decode(value)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The kind of a serde error message, and the field it names (for missing or unknown fields).
fn classify(msg: &str) -> (&'static str, Option<String>) {
    let named = |prefix: &str| {
        msg.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('`'))
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    if msg.starts_with("missing field") {
        ("missing", named("missing field "))
    } else if msg.starts_with("unknown field") {
        // serde_path_to_error already ends the path with the unknown key.
        ("extra_forbidden", None)
    } else if msg.starts_with("invalid type") {
        ("invalid_type", None)
    } else if msg.starts_with("invalid value") || msg.starts_with("unknown variant") {
        ("invalid_value", None)
    } else if msg.starts_with("invalid length") {
        ("invalid_length", None)
    } else {
        ("value_error", None)
    }
}

/// serde_json appends " at line L column C" to some messages; a Value has no lines.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_owned(),
        _ => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        x: f64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct P {
        a: f64,
        sleep_ms: Option<u64>,
        items: Vec<Inner>,
    }

    #[test]
    fn missing_field_names_the_field() {
        let e = decode::<P>(json!({"items": []})).unwrap_err();
        assert_eq!(e.kind, "missing");
        assert_eq!(e.loc, vec![json!("a")]);
        assert_eq!(e.path(), "a");
    }

    #[test]
    fn unknown_field_is_extra_forbidden() {
        let e = decode::<P>(json!({"a": 1, "items": [], "zzz": 1})).unwrap_err();
        assert_eq!(e.kind, "extra_forbidden");
        assert_eq!(e.loc, vec![json!("zzz")]);
    }

    #[test]
    fn wrong_type_in_nested_list() {
        let e = decode::<P>(json!({"a": 1, "items": [{"x": 1}, {"x": "no"}]})).unwrap_err();
        assert_eq!(e.kind, "invalid_type");
        assert_eq!(e.loc, vec![json!("items"), json!(1), json!("x")]);
        assert!(e.msg.contains("invalid type"), "{}", e.msg);
    }

    #[test]
    fn non_object_params() {
        let e = decode_object::<P>(json!([1, 2, []])).unwrap_err();
        assert_eq!(e.kind, "model_type");
        assert!(e.loc.is_empty());
        assert_eq!(e.path(), ".");
        assert!(decode_object::<P>(json!(null)).is_err());
        assert!(decode_object::<P>(json!({"a": 1, "items": []})).is_ok());
    }

    #[test]
    fn camel_case_wire_names() {
        let p = decode::<P>(json!({"a": 1, "sleepMs": 5, "items": []})).unwrap();
        assert_eq!(p.sleep_ms, Some(5));
    }
}
