//! Unit tests.

use super::*;
use crate::test_util::contract;
use serde_json::json;

fn obj(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

fn emit(props: Value, required: &[&str]) -> String {
    generate(&contract(&[("m", obj(props, required))]), "t").unwrap()
}

#[test]
fn strings() {
    let out = emit(
        json!({
            "sku": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": "^[A-Z]{3}-\\d+$"},
            "code": {"type": "string", "minLength": 3, "maxLength": 3},
            "email": {"type": "string", "format": "email"},
            "id": {"type": "string", "format": "uuid"},
            "site": {"type": "string", "format": "uri"},
            "at": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "clock": {"type": "string", "format": "time"},
            "v4": {"type": "string", "format": "ipv4"},
            "v6": {"type": "string", "format": "ipv6"},
            "ip": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
            "dur": {"type": "string", "format": "duration"},
            "blob": {"type": "string", "contentEncoding": "base64"},
            "two": {"type": "string", "allOf": [{"pattern": "^a"}, {"pattern": "b$"}]},
        }),
        &[],
    );
    for want in [
        r#"sku: z.string().min(1).max(32).regex(new RegExp("^[A-Z]{3}-\\d+$")).optional(),"#,
        "code: z.string().length(3).optional(),",
        "email: z.string().email().optional(),",
        "id: z.string().uuid().optional(),",
        "site: z.string().url().optional(),",
        "at: z.string().datetime().optional(),",
        "day: z.string().date().optional(),",
        "clock: z.string().time().optional(),",
        "v4: z.string().ip({ version: 'v4' }).optional(),",
        "v6: z.string().ip({ version: 'v6' }).optional(),",
        "ip: z.string().ip().optional(),",
        "dur: z.string().duration().optional(),",
        "blob: z.string().base64().optional(),",
        r#"two: z.string().regex(new RegExp("^a")).regex(new RegExp("b$")).optional(),"#,
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
}

#[test]
fn numbers_arrays_tuples_literals() {
    let out = emit(
        json!({
            "qty": {"type": "integer", "minimum": 1, "maximum": 100},
            "cents": {"type": "integer", "minimum": 0},
            "pos": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10, "multipleOf": 0.5},
            "neg": {"type": "integer", "exclusiveMaximum": 0},
            "items": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 100},
            "tags": {"type": "array", "uniqueItems": true, "items": {"type": "string"}, "maxItems": 5},
            "pair": {"type": "array", "minItems": 2, "maxItems": 2, "items": [{"type": "string"}, {"type": "number"}]},
            "five": {"type": "number", "const": 5},
            "level": {"type": "number", "enum": [1, 2, 3]},
            "one": {"type": "number", "enum": [7]},
            "mixed": {"type": ["string", "number"], "enum": ["a", 1]},
            "nothing": {"type": "null"},
            "either": {"type": ["string", "number"]},
            "maybe": {"type": ["string", "boolean", "null"]},
        }),
        &["qty", "nothing"],
    );
    for want in [
        "qty: z.number().int().gte(1).lte(100),",
        "cents: z.number().int().nonnegative().optional(),",
        "pos: z.number().positive().lt(10).multipleOf(0.5).optional(),",
        "neg: z.number().int().negative().optional(),",
        "items: z.array(z.string()).min(1).max(100).optional(),",
        "tags: uniqueItems(z.set(z.string()).max(5)).optional(),",
        "pair: z.tuple([z.string(), z.number()]).optional(),",
        "five: z.literal(5).optional(),",
        "level: z.union([z.literal(1), z.literal(2), z.literal(3)]).optional(),",
        "one: z.nativeEnum({ V0: 7 }).optional(),",
        r#"mixed: z.nativeEnum({ V0: "a", V1: 1 }).optional(),"#,
        "nothing: z.null(),",
        "either: z.union([z.string(), z.number()]).optional(),",
        "maybe: z.union([z.string(), z.boolean()]).nullable().optional(),",
        "function uniqueItems",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
}

#[test]
fn objects_defaults_descriptions_catchall() {
    let out = emit(
        json!({
            "meta": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": {"type": "number"}},
            "open": {"type": "object", "properties": {}, "additionalProperties": true},
            "page": {"type": "object", "properties": {"size": {"type": "integer", "default": 20}}, "additionalProperties": false, "description": "Paging.", "default": {"size": 10}},
            "sort": {"type": "array", "items": {"type": "string"}, "default": ["name"], "description": "Sort keys."},
            "any": {},
            "anyReq": {},
        }),
        &["meta", "anyReq"],
    );
    for want in [
        "}).catchall(z.number()),",
        "open: z.object({}).passthrough().optional(),",
        ".strict().describe(\"Paging.\").default({\"size\":10}),",
        "size: z.number().int().default(20),",
        "sort: z.array(z.string()).describe(\"Sort keys.\").default([\"name\"]),",
        "any: z.unknown().optional(),",
        "anyReq: z.unknown().refine(",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
}

#[test]
fn shared_objects_become_one_const() {
    let money = json!({"type": "object", "properties": {"cents": {"type": "integer"}, "currency": {"type": "string"}}, "required": ["cents", "currency"], "additionalProperties": false});
    let c = contract(&[
        (
            "a",
            obj(json!({"price": money, "total": money}), &["price", "total"]),
        ),
        (
            "b",
            obj(
                json!({"lines": {"type": "array", "items": money}}),
                &["lines"],
            ),
        ),
    ]);
    let out = generate(&c, "t").unwrap();
    assert_eq!(out.matches("const Price = z.object(").count(), 1, "{out}");
    assert!(out.contains("price: Price,"), "{out}");
    assert!(out.contains("total: Price,"), "{out}");
    assert!(out.contains("lines: z.array(Price),"), "{out}");
}

#[test]
fn recursion_is_a_lazy_const() {
    let c = contract(&[(
        "m",
        json!({
            "type": "object", "properties": {"root": {"$ref": "#/definitions/Tree"}}, "required": ["root"], "additionalProperties": false,
            "definitions": {"Tree": {"type": "object", "properties": {
                "value": {"type": "number"},
                "children": {"type": "array", "items": {"$ref": "#/definitions/Tree"}}},
                "required": ["value", "children"], "additionalProperties": false}}
        }),
    )]);
    let out = generate(&c, "t").unwrap();
    assert!(
        out.contains("type MParamsRoot = { children: Array<MParamsRoot>; value: number };\nconst MParamsRoot: z.ZodType<MParamsRoot, z.ZodTypeDef, unknown> = z.lazy(() =>"),
        "{out}"
    );
    assert!(out.contains("children: z.array(MParamsRoot),"), "{out}");
    assert!(out.contains("root: MParamsRoot,"), "{out}");
    // The root itself.
    let c = contract(&[(
        "m",
        json!({"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}, "required": ["next"], "additionalProperties": false}),
    )]);
    let out = generate(&c, "t").unwrap();
    assert!(out.contains("next: MParams.nullable(),"), "{out}");
    assert!(out.contains("params: MParams,"), "{out}");
}
