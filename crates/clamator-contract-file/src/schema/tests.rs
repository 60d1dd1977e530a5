//! Unit tests.

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
    let t = parse(
        &json!({"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 5, "multipleOf": 0.5}),
        "",
    )
    .unwrap();
    let Ty::Number(n) = t else { panic!() };
    assert_eq!(n.exclusive_minimum, Some(1.into()));
    let t = parse(
        &json!({"type": "array", "uniqueItems": true, "items": {"type": "string"}, "minItems": 1}),
        "",
    )
    .unwrap();
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
