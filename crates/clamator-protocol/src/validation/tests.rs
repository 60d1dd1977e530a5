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

/// The issue for `value` as `T`, after checking its text is serde_json's
/// (the wire text must not change).
fn issue<T: DeserializeOwned + std::fmt::Debug>(value: Value) -> ValidationIssue {
    let json = serde_json::from_value::<T>(value.clone()).unwrap_err();
    let e = decode::<T>(value).unwrap_err();
    assert_eq!(e.msg, strip_position(&json.to_string()));
    e
}

#[test]
fn kind_missing_pushes_the_field() {
    let e = issue::<P>(json!({"a": 1, "items": [{}]}));
    assert_eq!(e.kind, "missing");
    assert_eq!(e.loc, vec![json!("items"), json!(0), json!("x")]);
    assert_eq!(e.msg, "missing field `x`");
}

#[test]
fn kind_extra_forbidden() {
    let e = issue::<P>(json!({"a": 1, "items": [{"x": 1, "y": 2}]}));
    assert_eq!(e.kind, "extra_forbidden");
    assert_eq!(e.loc, vec![json!("items"), json!(0), json!("y")]);
    assert_eq!(e.msg, "unknown field `y`, expected `x`");
}

#[test]
fn kind_invalid_type() {
    let e = issue::<P>(json!({"a": null, "items": []}));
    assert_eq!(e.kind, "invalid_type");
    assert_eq!(e.loc, vec![json!("a")]);
    // serde_json's words: `null`, not serde's "unit value".
    assert_eq!(e.msg, "invalid type: null, expected f64");
    let e = issue::<Vec<u8>>(json!([1, 2.5]));
    assert_eq!((e.kind.as_str(), e.loc), ("invalid_type", vec![json!(1)]));
    assert_eq!(e.msg, "invalid type: floating point `2.5`, expected u8");
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
enum Shape {
    Circle { r: u8 },
    Dot,
}

#[test]
fn kind_invalid_value() {
    let e = issue::<Vec<u8>>(json!([1, 300]));
    assert_eq!((e.kind.as_str(), e.loc), ("invalid_value", vec![json!(1)]));
    assert_eq!(e.msg, "invalid value: integer `300`, expected u8");
    let e = issue::<Shape>(json!({"Square": {}}));
    assert_eq!(e.kind, "invalid_value");
    assert_eq!(
        e.msg,
        "unknown variant `Square`, expected `Circle` or `Dot`"
    );
    let e = issue::<Shape>(json!({"Circle": {"r": -1}}));
    assert_eq!(
        (e.kind.as_str(), e.loc),
        ("invalid_value", vec![json!("Circle"), json!("r")])
    );
    let e = issue::<std::collections::BTreeMap<u8, u8>>(json!({"x": 1}));
    assert_eq!(e.kind, "invalid_value");
    assert_eq!(
        e.msg,
        "invalid value: expected key to be a number in quotes"
    );
}

#[test]
fn kind_invalid_length() {
    let e = issue::<(u8, String)>(json!([1]));
    assert_eq!(e.kind, "invalid_length");
    assert_eq!(e.msg, "invalid length 1, expected a tuple of size 2");
    let e = issue::<[u8; 2]>(json!([1, 2, 3]));
    assert_eq!(e.kind, "invalid_length");
    assert_eq!(e.msg, "invalid length 3, expected fewer elements in array");
}

#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
#[allow(dead_code)]
struct Upper(String);

impl TryFrom<String> for Upper {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Upper(s))
        } else {
            Err(format!("`{s}` is not upper case"))
        }
    }
}

/// Reads a number but wants it positive, through `deserialize_with`.
fn positive<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = i64::deserialize(d)?;
    if n > 0 {
        Ok(n)
    } else {
        Err(serde::de::Error::custom("must be positive"))
    }
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Custom {
    name: Upper,
    #[serde(deserialize_with = "positive")]
    n: i64,
}

#[test]
fn kind_value_error_for_custom_errors() {
    let e = issue::<Custom>(json!({"name": "abc", "n": 1}));
    assert_eq!(
        (e.kind.as_str(), e.loc),
        ("value_error", vec![json!("name")])
    );
    assert_eq!(e.msg, "`abc` is not upper case");
    let e = issue::<Custom>(json!({"name": "ABC", "n": 0}));
    assert_eq!((e.kind.as_str(), e.loc), ("value_error", vec![json!("n")]));
    assert_eq!(e.msg, "must be positive");
    // The kind comes from the method called, not from the words: a custom
    // message that reads like a missing field is still a `value_error`.
    #[derive(Debug, Deserialize)]
    #[serde(try_from = "u8")]
    #[allow(dead_code)]
    struct Tricky(u8);
    impl TryFrom<u8> for Tricky {
        type Error = &'static str;
        fn try_from(_: u8) -> Result<Self, &'static str> {
            Err("missing field `zz`")
        }
    }
    let e = issue::<Tricky>(json!(1));
    assert_eq!((e.kind.as_str(), e.loc), ("value_error", vec![]));
}

/// Rejects serde_json alone, to reach the fallback where our deserializer
/// accepts what serde_json rejected.
#[derive(Debug)]
struct OnlyOurs;

impl<'de> Deserialize<'de> for OnlyOurs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        if std::any::type_name::<D::Error>().contains("serde_json") {
            Err(serde::de::Error::custom(
                "serde_json says no at line 1 column 2",
            ))
        } else {
            Ok(OnlyOurs)
        }
    }
}

#[test]
fn serde_json_rejection_stands() {
    let e = decode::<Vec<OnlyOurs>>(json!([1, 2])).unwrap_err();
    assert_eq!(e.kind, "value_error");
    assert_eq!(e.msg, "serde_json says no");
    assert_eq!(e.loc, vec![json!(0)]);
}
