//! `#[clamator::model]`: what the derives it adds accept and reject, and the
//! schemas they produce. The user crate names neither serde nor schemars.
#![allow(missing_docs, unreachable_pub)]

use clamator::serde_json::{self, json};

/// Params: unknown fields are rejected by default.
#[clamator::model]
#[derive(Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Params {
    pub sleep_ms: u64,
    #[serde(default)]
    pub label: Option<String>,
}

/// A result a newer peer may extend.
#[clamator::model(allow_unknown_fields)]
#[derive(Debug, PartialEq)]
pub struct Lenient {
    pub sum: f64,
}

/// `deny_unknown_fields` written out as well is kept, not repeated.
#[clamator::model]
#[derive(Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SaidTwice {
    pub a: u8,
}

/// Generic types get the bounds serde and schemars infer.
#[clamator::model]
#[derive(Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Enums: unknown fields of struct variants are rejected too.
#[clamator::model]
#[derive(Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Shape {
    Circle { radius: f64 },
    Dot,
}

#[clamator::model]
#[derive(Debug, PartialEq)]
pub struct Meters(pub f64);

#[clamator::model]
#[derive(Debug, PartialEq, Default)]
pub struct Unit;

fn schema<T: clamator::schemars::JsonSchema>() -> serde_json::Value {
    clamator::protocol::contract::schema_of::<T>()
}

#[test]
fn params_reject_unknown_fields() {
    let p: Params = serde_json::from_value(json!({"sleepMs": 5})).unwrap();
    assert_eq!(
        p,
        Params {
            sleep_ms: 5,
            label: None
        }
    );
    let err = serde_json::from_value::<Params>(json!({"sleepMs": 5, "x": 1})).unwrap_err();
    assert!(err.to_string().contains("unknown field `x`"), "{err}");
    assert_eq!(schema::<Params>()["additionalProperties"], false);
    assert!(schema::<Params>()["properties"].get("sleepMs").is_some());

    let err = serde_json::from_value::<SaidTwice>(json!({"a": 1, "b": 2})).unwrap_err();
    assert!(err.to_string().contains("unknown field `b`"), "{err}");
}

#[test]
fn allow_unknown_fields_accepts_them() {
    let r: Lenient = serde_json::from_value(json!({"sum": 1.5, "extra": true})).unwrap();
    assert_eq!(r, Lenient { sum: 1.5 });
    assert!(schema::<Lenient>().get("additionalProperties").is_none());
}

#[test]
fn generics_enums_and_tuple_structs() {
    let page: Page<Meters> =
        serde_json::from_value(json!({"items": [1.0, 2.5], "next": null})).unwrap();
    assert_eq!(page.items, [Meters(1.0), Meters(2.5)]);
    assert!(
        serde_json::from_value::<Page<Meters>>(json!({"items": [], "next": null, "z": 0})).is_err()
    );

    let s: Shape = serde_json::from_value(json!({"kind": "circle", "radius": 2.0})).unwrap();
    assert_eq!(s, Shape::Circle { radius: 2.0 });
    assert!(
        serde_json::from_value::<Shape>(json!({"kind": "circle", "radius": 2.0, "r": 1})).is_err()
    );
    assert_eq!(
        serde_json::to_value(Shape::Dot).unwrap(),
        json!({"kind": "dot"})
    );

    assert_eq!(serde_json::to_value(Unit).unwrap(), json!(null));
}
