//! Checking a value (a default) against a [`Ty`].

use serde_json::{Map, Value};

use super::{Extra, Object, Ty};

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
