//! Integral floats where a schema says integer.
//!
//! Zod's `int()` and pydantic's `int` accept `10.0`; serde's `u64` / `i64`
//! reject it ("invalid type: floating point `10.0`, expected u64"), so a
//! Rust service would refuse what the other members of the family accept.
//! Before params are decoded, the dispatcher rewrites every float with no
//! fractional part that sits where the params schema says `integer` into
//! that integer (`10.0` -> `10`); `1.5` stays a float and still fails to
//! decode (-32602). Register a contract wrapped in [`StrictIntegers`] to
//! turn this off for its service.

use std::sync::Arc;

use serde_json::{Map, Number, Value};

use crate::contract::{Contract, ContractDescriptor};
use crate::service::{HandlerFuture, Service};

/// How deep the schema walk goes: deeper values are left as they are.
const MAX_DEPTH: usize = 64;

/// Rewrites, in `value`, the integral floats that `schema` (a JSON Schema as
/// schemars or zod-to-json-schema writes it: `$ref`s into `$defs` /
/// `definitions` of the same document) places at an `integer`.
pub fn normalize(schema: &Value, value: &mut Value) {
    if has_float(value, 0) {
        walk(schema, schema, value, 0);
    }
}

/// Whether `schema` says `integer` anywhere (a `type` of `"integer"` or a
/// list of types holding it): the schemas for which [`normalize`] can change
/// anything. Dispatchers ask once per method, not per call.
pub fn mentions_integer(schema: &Value) -> bool {
    fn go(v: &Value, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            // Too deep to tell: walk it (the walk stops at the same depth).
            return true;
        }
        match v {
            Value::Object(o) => says_integer(v) || o.values().any(|x| go(x, depth + 1)),
            Value::Array(a) => a.iter().any(|x| go(x, depth + 1)),
            _ => false,
        }
    }
    go(schema, 0)
}

fn has_float(v: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(a) => a.iter().any(|x| has_float(x, depth + 1)),
        Value::Object(o) => o.values().any(|x| has_float(x, depth + 1)),
        _ => false,
    }
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let Some(r) = schema.get("$ref").and_then(Value::as_str) else {
        return schema;
    };
    let name = r
        .strip_prefix("#/$defs/")
        .map(|n| ("$defs", n))
        .or_else(|| r.strip_prefix("#/definitions/").map(|n| ("definitions", n)));
    match name {
        Some((section, n)) => root.get(section).and_then(|d| d.get(n)).unwrap_or(schema),
        None => schema,
    }
}

fn says_integer(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
        _ => false,
    }
}

fn integral(n: &Number) -> Option<Value> {
    let f = n.as_f64()?;
    if !n.is_f64() || f.fract() != 0.0 || !f.is_finite() {
        return None;
    }
    // Within the exactly representable range only: beyond 2^53 a float
    // is not a reliable integer.
    const LIMIT: f64 = 9_007_199_254_740_992.0;
    if f.abs() > LIMIT {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    Some(Value::from(f as i64))
}

fn walk(root: &Value, schema: &Value, value: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let schema = resolve(root, schema);
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(branches)) = schema.get(key) {
            for b in branches {
                walk(root, b, value, depth + 1);
            }
        }
    }
    match value {
        Value::Number(n) if says_integer(schema) => {
            if let Some(int) = integral(n) {
                *value = int;
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for item in items {
                    walk(root, item_schema, item, depth + 1);
                }
            }
        }
        Value::Object(fields) => walk_object(root, schema, fields, depth),
        _ => {}
    }
}

fn walk_object(root: &Value, schema: &Value, fields: &mut Map<String, Value>, depth: usize) {
    let props = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|s| s.is_object());
    for (key, v) in fields.iter_mut() {
        match props.and_then(|p| p.get(key)) {
            Some(s) => walk(root, s, v, depth + 1),
            None => {
                if let Some(s) = additional {
                    walk(root, s, v, depth + 1);
                }
            }
        }
    }
}

/// A contract whose service takes integers strictly: `10.0` for an integer
/// field is invalid params (-32602), as serde alone decides.
///
/// ```ignore
/// let server = bus.server().register(StrictIntegers(ArithContract), MyArith)?;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StrictIntegers<C>(pub C);

impl<C: Contract<H>, H> Contract<H> for StrictIntegers<C> {
    fn descriptor(&self) -> ContractDescriptor {
        self.0.descriptor()
    }
    fn into_service(self, handler: H) -> Arc<dyn Service> {
        Arc::new(StrictService(self.0.into_service(handler)))
    }
}

struct StrictService(Arc<dyn Service>);

impl Service for StrictService {
    fn descriptor(&self) -> &ContractDescriptor {
        self.0.descriptor()
    }
    fn call(&self, method: &str, params: Value) -> Option<HandlerFuture> {
        self.0.call(method, params)
    }
    fn lenient_integers(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "n": {"type": "integer", "format": "uint64", "minimum": 0},
                "x": {"type": "number"},
                "list": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                "opt": {"type": ["integer", "null"]},
                "map": {"type": "object", "additionalProperties": {"type": "integer"}}
            },
            "$defs": {"Item": {"type": "object", "properties": {"k": {"type": "integer"}}}}
        })
    }

    #[test]
    fn integral_floats_become_integers_where_the_schema_says_integer() {
        let mut v =
            json!({"n": 10.0, "x": 2.0, "list": [{"k": 3.0}], "opt": 4.0, "map": {"a": 5.0}});
        normalize(&schema(), &mut v);
        assert_eq!(
            v,
            json!({"n": 10, "x": 2.0, "list": [{"k": 3}], "opt": 4, "map": {"a": 5}})
        );
        assert!(v["n"].is_u64());
        assert!(v["x"].is_f64(), "a number field keeps its float");
    }

    #[test]
    fn fractions_and_huge_values_stay_floats() {
        let mut v = json!({"n": 1.5, "opt": 1e300});
        normalize(&schema(), &mut v);
        assert_eq!(v, json!({"n": 1.5, "opt": 1e300}));
    }
}
