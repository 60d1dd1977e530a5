//! Strict decoding of params and results into contract types, with the
//! problems reported as `{loc, msg, type}` objects (docs/WIRE.md §4 `data.errors`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod value_de;

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
    let json_err = match T::deserialize(&value) {
        Ok(decoded) => return Ok(decoded),
        Err(err) => err,
    };
    // Decode again through our own deserializer, whose error records which
    // `serde::de::Error` method reported the problem (the kind, the missing
    // field), with the path tracked for `loc`.
    match serde_path_to_error::deserialize::<_, T>(value_de::ValueDe(&value)) {
        Err(err) => {
            let mut loc = path_loc(err.path());
            let problem = err.inner();
            if let Some(field) = problem.field() {
                loc.push(Value::from(field));
            }
            Err(ValidationIssue {
                loc,
                msg: strip_position(problem.msg()),
                kind: problem.kind().as_str().to_owned(),
            })
        }
        // Our deserializer accepted what serde_json rejected (they should
        // agree): serde_json's verdict stands, in its words, of no known kind.
        Ok(_) => {
            let loc = serde_path_to_error::deserialize::<_, T>(&value)
                .err()
                .map(|err| path_loc(err.path()))
                .unwrap_or_default();
            Err(ValidationIssue {
                loc,
                msg: strip_position(&json_err.to_string()),
                kind: "value_error".to_owned(),
            })
        }
    }
}

/// A tracked path as `loc` items: field names and variant names as strings,
/// list indices as integers.
fn path_loc(path: &serde_path_to_error::Path) -> Vec<Value> {
    path.iter()
        .filter_map(|seg| match seg {
            serde_path_to_error::Segment::Seq { index } => Some(Value::from(*index)),
            serde_path_to_error::Segment::Map { key } => Some(Value::from(key.clone())),
            serde_path_to_error::Segment::Enum { variant } => Some(Value::from(variant.clone())),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect()
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

/// How [`decode_object`] names the JSON type of what it got instead of an object.
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

/// serde_json appends " at line L column C" to some messages; a Value has no lines.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_owned(),
        _ => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests;
