//! Agreement with serde_json's `&Value` deserializer: for each (type, JSON)
//! pair both accept or both reject, decode to the same value when they
//! accept and report the same words when they reject.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::ValueDe;
use crate::validation::strip_position;

/// Asserts that serde_json and [`ValueDe`] agree on every case as `T`;
/// returns how many cases each accepted, to check a list covers both.
fn agree<T: DeserializeOwned + PartialEq + Debug>(cases: &[Value]) -> (usize, usize) {
    let (mut accepted, mut rejected) = (0, 0);
    for case in cases {
        let name = std::any::type_name::<T>();
        match (T::deserialize(case), T::deserialize(ValueDe(case))) {
            (Ok(json), Ok(ours)) => {
                assert_eq!(json, ours, "{case} as {name}");
                accepted += 1;
            }
            (Err(json), Err(ours)) => {
                // The wire text drops serde_json's positions (from map keys it parses).
                let json = strip_position(&json.to_string());
                assert_eq!(json, strip_position(&ours.to_string()), "{case} as {name}");
                rejected += 1;
            }
            (json, ours) => panic!("{case} as {name}: serde_json {json:?}, ours {ours:?}"),
        }
    }
    (accepted, rejected)
}

/// Like [`agree`], and checks the cases include both verdicts.
fn agree_both<T: DeserializeOwned + PartialEq + Debug>(cases: &[Value]) {
    let (accepted, rejected) = agree::<T>(cases);
    let name = std::any::type_name::<T>();
    assert!(accepted > 0, "no case of {name} was accepted");
    assert!(rejected > 0, "no case of {name} was rejected");
}

#[derive(Debug, PartialEq, Deserialize)]
enum External {
    A,
    B(u8),
    C { x: u8 },
    D(u8, u8),
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "t")]
enum Internal {
    A { x: u8 },
    B,
    C(Inner),
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "t", content = "c")]
enum Adjacent {
    A(u8),
    B,
    C { x: Option<u8> },
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(untagged)]
enum Untagged {
    N(u8),
    S(String),
    V { x: Vec<u8> },
    L(Vec<Inner>),
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Color {
    Red,
    DarkBlue,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Inner {
    x: u8,
    #[serde(default)]
    y: Option<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Flat {
    a: u8,
    #[serde(flatten)]
    rest: HashMap<String, u8>,
}

#[derive(Debug, PartialEq, Deserialize)]
struct FlatStruct {
    a: u8,
    #[serde(flatten)]
    inner: Inner2,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Inner2 {
    b: Vec<u8>,
    #[serde(rename = "cee", alias = "c")]
    c: Option<Color>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Outer {
    items: Vec<Inner>,
    by_name: BTreeMap<String, Vec<i32>>,
    #[serde(default)]
    color: Option<Color>,
    pair: Option<(u8, String)>,
    #[serde(skip)]
    skipped: u8,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Pair {
    a: u8,
    b: String,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Newtype(u32);

#[derive(Debug, PartialEq, Deserialize)]
struct Unit;

#[derive(Debug, PartialEq, Deserialize)]
struct TupleStruct(u8, bool);

#[derive(Debug, PartialEq, Deserialize)]
#[serde(try_from = "i64")]
struct Even(i64);

impl TryFrom<i64> for Even {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        if n % 2 == 0 {
            Ok(Even(n))
        } else {
            Err(format!("{n} is odd"))
        }
    }
}

/// Bytes read with `deserialize_bytes` (from a string or a list of numbers).
#[derive(Debug, PartialEq)]
struct Bytes(Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Collects bytes however they come.
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Bytes, E> {
                Ok(Bytes(v.as_bytes().to_vec()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Bytes, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(Bytes(out))
            }
        }
        d.deserialize_bytes(V)
    }
}

#[test]
fn options() {
    agree_both::<Option<u8>>(&[json!(null), json!(5), json!(300), json!("x"), json!([])]);
    agree_both::<Option<Option<String>>>(&[json!(null), json!("a"), json!(1)]);
    agree_both::<Option<Inner>>(&[json!(null), json!({"x": 1}), json!({"x": null})]);
}

#[test]
fn enums() {
    agree_both::<External>(&[
        json!("A"),
        json!({"A": null}),
        json!({"A": 1}),
        json!({"B": 1}),
        json!({"B": 300}),
        json!({"B": "x"}),
        json!("B"),
        json!({"C": {"x": 1}}),
        json!({"C": {"x": 1, "z": 2}}),
        json!({"C": [1]}),
        json!({"C": 1}),
        json!("C"),
        json!({"D": [1, 2]}),
        json!({"D": [1]}),
        json!({"D": [1, 2, 3]}),
        json!({"D": []}),
        json!({"D": 1}),
        json!("D"),
        json!("Z"),
        json!({"Z": 1}),
        json!({"B": 1, "A": null}),
        json!({}),
        json!(5),
        json!(null),
        json!([]),
    ]);
    agree_both::<Internal>(&[
        json!({"t": "A", "x": 1}),
        json!({"x": 1, "t": "A"}),
        json!({"t": "A"}),
        json!({"t": "A", "x": "no"}),
        json!({"t": "B"}),
        json!({"t": "B", "extra": 1}),
        json!({"t": "C", "x": 2}),
        json!({"t": "C", "x": 2, "zz": 3}),
        json!({"t": "Z"}),
        json!({"x": 1}),
        json!({"t": 1}),
        json!(["A", 1]),
        json!("A"),
    ]);
    agree_both::<Adjacent>(&[
        json!({"t": "A", "c": 1}),
        json!({"c": 1, "t": "A"}),
        json!({"t": "A", "c": "x"}),
        json!({"t": "A"}),
        json!({"t": "B"}),
        json!({"t": "B", "c": null}),
        json!({"t": "C", "c": {"x": null}}),
        json!({"t": "C", "c": {}}),
        json!({"t": "Z", "c": 1}),
        json!({"c": 1}),
        json!({"t": "A", "c": 1, "d": 2}),
        json!(["A", 1]),
    ]);
    agree_both::<Untagged>(&[
        json!(1),
        json!(300),
        json!(-1),
        json!("s"),
        json!({"x": [1, 2]}),
        json!({"x": [1, 300]}),
        json!([{"x": 1}]),
        json!([{"x": 1, "q": 1}]),
        json!(true),
        json!(null),
    ]);
    agree_both::<Color>(&[json!("red"), json!("dark_blue"), json!("Red"), json!(1)]);
    agree_both::<BTreeMap<Color, u8>>(&[json!({"red": 1, "dark_blue": 2}), json!({"green": 1})]);
}

#[test]
fn flatten() {
    agree_both::<Flat>(&[
        json!({"a": 1}),
        json!({"a": 1, "b": 2, "c": 3}),
        json!({"a": 1, "b": "x"}),
        json!({"b": 2}),
        json!({"a": "1"}),
    ]);
    agree_both::<FlatStruct>(&[
        json!({"a": 1, "b": [1]}),
        json!({"a": 1, "b": [1], "cee": "red", "other": 1}),
        json!({"a": 1, "b": [1], "c": "dark_blue"}),
        json!({"a": 1, "b": [1], "c": "green"}),
        json!({"a": 1}),
        json!({"a": 1, "b": [300]}),
        json!({"a": 1, "b": {}}),
    ]);
}

#[test]
fn nested_structs_lists_and_maps() {
    agree_both::<Outer>(&[
        json!({"items": [], "byName": {}}),
        json!({
            "items": [{"x": 1}, {"x": 2, "y": "two"}],
            "byName": {"a": [1, -2], "b": []},
            "color": "red",
            "pair": [1, "one"],
            "skipped": 9,
        }),
        json!({"items": [{"x": 1}, {"x": "no"}], "byName": {}}),
        json!({"items": [{"x": 1}, {}], "byName": {}}),
        json!({"items": [{"x": 1, "w": 0}], "byName": {}}),
        json!({"items": [], "byName": {"a": [1, 2.5]}}),
        json!({"items": [], "byName": {"a": 1}}),
        json!({"items": [], "byName": {}, "pair": [1]}),
        json!({"items": [], "byName": {}, "pair": [1, "a", 2]}),
        json!({"items": {}, "byName": {}}),
        json!({"items": []}),
        json!([[], {}]),
        json!([[], {}, null, null, 1]),
        json!(null),
    ]);
    agree_both::<Pair>(&[
        json!({"a": 1, "b": "x"}),
        json!([1, "x"]),
        json!([1]),
        json!([1, "x", 3]),
        json!({"a": 1, "b": "x", "c": 3}),
        json!("ab"),
    ]);
    agree_both::<Vec<Vec<u8>>>(&[json!([[1], []]), json!([[1], [-1]]), json!([1])]);
    agree_both::<HashMap<String, Inner>>(&[
        json!({"k": {"x": 1}}),
        json!({"k": {"x": 1, "y": 2}}),
        json!([]),
    ]);
}

#[test]
fn map_keys() {
    agree_both::<BTreeMap<u8, u8>>(&[
        json!({"1": 2, "0": 0}),
        json!({"300": 1}),
        json!({"-1": 1}),
        json!({"1.5": 1}),
        json!({"x": 1}),
        json!({"1 ": 1}),
        json!({"300 ": 1}),
        json!({" 1": 1}),
        json!({"1x": 1}),
        json!({"-": 1}),
        json!({"": 1}),
        json!({"1e2": 1}),
    ]);
    agree_both::<BTreeMap<i64, u8>>(&[json!({"-5": 1}), json!({"99999999999999999999": 1})]);
    agree_both::<BTreeMap<String, u8>>(&[json!({"-5": 1}), json!({"a": "b"})]);
    agree_both::<HashMap<bool, u8>>(&[json!({"true": 1, "false": 0}), json!({"yes": 1})]);
    agree_both::<Vec<(f64, u8)>>(&[json!([[1.5, 1], [2, 2]]), json!([[1, -1]])]);
    agree::<HashMap<u64, f32>>(&[json!({"2": 1.5, "3": 2})]);
}

#[test]
fn tuples_and_arrays() {
    agree_both::<(u8, String)>(&[
        json!([1, "a"]),
        json!([1]),
        json!([1, "a", 2]),
        json!([]),
        json!({"0": 1}),
    ]);
    agree_both::<[u8; 3]>(&[json!([1, 2, 3]), json!([1, 2]), json!([1, 2, 3, 4])]);
    agree_both::<TupleStruct>(&[json!([1, true]), json!([1]), json!([1, 1])]);
    agree_both::<()>(&[json!(null), json!(1), json!([])]);
    agree_both::<Unit>(&[json!(null), json!({})]);
    agree_both::<Newtype>(&[json!(7), json!(-7), json!([7])]);
}

#[test]
fn integers_and_floats() {
    let numbers = [
        json!(0),
        json!(1),
        json!(-1),
        json!(127),
        json!(128),
        json!(255),
        json!(256),
        json!(300),
        json!(-129),
        json!(65536),
        json!(4_294_967_296_u64),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1.0),
        json!(1.5),
        json!(-0.5),
        json!(1e300),
        json!("1"),
        json!(null),
        json!(true),
    ];
    agree_both::<u8>(&numbers);
    agree_both::<i8>(&numbers);
    agree_both::<u16>(&numbers);
    agree_both::<i16>(&numbers);
    agree_both::<u32>(&numbers);
    agree_both::<i32>(&numbers);
    agree_both::<u64>(&numbers);
    agree_both::<i64>(&numbers);
    agree_both::<u128>(&numbers);
    agree_both::<i128>(&numbers);
    agree_both::<f32>(&numbers);
    agree_both::<f64>(&numbers);
    agree_both::<Even>(&[json!(2), json!(3), json!(2.0), json!("2")]);
}

#[test]
fn strings_bools_bytes_and_any() {
    agree_both::<String>(&[json!("a"), json!(1), json!(null), json!(["a"])]);
    agree_both::<char>(&[json!("a"), json!("ab"), json!(""), json!(1)]);
    agree_both::<bool>(&[json!(true), json!(false), json!("true"), json!(0)]);
    agree_both::<Bytes>(&[
        json!("ab"),
        json!([1, 2]),
        json!([1, 300]),
        json!(1),
        json!({}),
    ]);
    let any = json!({
        "n": null, "b": true, "u": 1, "i": -1, "f": 1.5, "s": "x",
        "l": [1, [2, {"k": null}]], "o": {"p": {}},
    });
    agree::<Value>(&[any.clone(), json!(null), json!([]), json!(u64::MAX)]);
    agree::<serde::de::IgnoredAny>(&[any]);
}
