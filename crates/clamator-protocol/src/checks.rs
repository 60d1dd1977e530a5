//! Constraint checks on decoded params and results: the bridge from
//! [`garde`] (the validation crate contract types use) to the wire's
//! `{loc, msg, type}` problems, and the checks garde does not have
//! (exclusive bounds, `multipleOf`, numeric enums, unique items, the string
//! formats of the family's schemas).
//!
//! A contract type opts in by deriving `garde::Validate`; schemars 1 reads
//! the same `#[garde(...)]` attributes into the JSON Schema, so one attribute
//! gives both the schema keyword and the check:
//!
//! ```ignore
//! #[clamator::model]
//! #[derive(garde::Validate)]
//! struct PutItem {
//!     #[garde(length(chars, min = 1, max = 64))] // minLength / maxLength, checked
//!     sku: String,
//!     #[garde(range(min = 0))]                    // minimum, checked
//!     qty: i64,
//!     #[garde(custom(clamator::checks::greater_than(0.0)))] // checked (add the schema keyword
//!     price: f64,                                 // with #[schemars(extend("exclusiveMinimum" = 0))])
//! }
//! ```
//!
//! Types that do not derive it are not checked beyond decoding (nothing to
//! check). The checks in this module are for `#[garde(custom(...))]`:
//! `#[garde(custom(clamator::checks::greater_than(0.0)))]`. Each reports a
//! message with the pydantic error type it corresponds to, so a Python
//! client reads the same `type` from a Rust server as from a Python one.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;
use serde_json::Value;

use crate::validation::ValidationIssue;

/// A value a numeric check can read (integers, floats, and `Option`s of
/// them: `None` passes, as garde's own rules do).
pub trait NumberLike {
    /// The value as `f64`; `None` when absent.
    fn number(&self) -> Option<f64>;
}

macro_rules! number_like {
    ($($t:ty),*) => {$(
        impl NumberLike for $t {
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn number(&self) -> Option<f64> {
                Some(*self as f64)
            }
        }
    )*};
}
number_like!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64);

impl<T: NumberLike> NumberLike for Option<T> {
    fn number(&self) -> Option<f64> {
        self.as_ref().and_then(NumberLike::number)
    }
}

/// A value a string check can read (`String`, `str`, and `Option`s).
pub trait TextLike {
    /// The text; `None` when absent.
    fn text(&self) -> Option<&str>;
}

impl TextLike for String {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}

impl TextLike for str {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}

impl<T: TextLike> TextLike for Option<T> {
    fn text(&self) -> Option<&str> {
        self.as_ref().and_then(TextLike::text)
    }
}

/// A value a list check can read (`Vec`, and `Option`s of it).
pub trait ListLike {
    /// The item type.
    type Item;
    /// The items; `None` when absent.
    fn items(&self) -> Option<&[Self::Item]>;
}

impl<T> ListLike for Vec<T> {
    type Item = T;
    fn items(&self) -> Option<&[T]> {
        Some(self)
    }
}

impl<L: ListLike> ListLike for Option<L> {
    type Item = L::Item;
    fn items(&self) -> Option<&[L::Item]> {
        self.as_ref().and_then(ListLike::items)
    }
}

/// A failed check: `[type] message`, read back by [`issues`].
fn fail(kind: &str, msg: impl std::fmt::Display) -> garde::Error {
    garde::Error::new(format!("[{kind}] {msg}"))
}

fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        x.to_string()
    }
}

/// `exclusiveMinimum`: the value must be above `bound`.
pub fn greater_than<T: NumberLike + ?Sized>(bound: f64) -> impl Fn(&T, &()) -> garde::Result {
    move |v, ()| match v.number() {
        Some(x) if x <= bound => Err(fail(
            "greater_than",
            format_args!("Input should be greater than {}", num(bound)),
        )),
        _ => Ok(()),
    }
}

/// `exclusiveMaximum`: the value must be below `bound`.
pub fn less_than<T: NumberLike + ?Sized>(bound: f64) -> impl Fn(&T, &()) -> garde::Result {
    move |v, ()| match v.number() {
        Some(x) if x >= bound => Err(fail(
            "less_than",
            format_args!("Input should be less than {}", num(bound)),
        )),
        _ => Ok(()),
    }
}

/// `multipleOf`: the value divided by `step` is a whole number (within
/// floating-point rounding, as JavaScript decides `0.3` is a multiple of `0.1`).
pub fn multiple_of<T: NumberLike + ?Sized>(step: f64) -> impl Fn(&T, &()) -> garde::Result {
    move |v, ()| match v.number() {
        Some(x) if !is_multiple(x, step) => Err(fail(
            "multiple_of",
            format_args!("Input should be a multiple of {}", num(step)),
        )),
        _ => Ok(()),
    }
}

fn is_multiple(x: f64, step: f64) -> bool {
    if step <= 0.0 || !x.is_finite() {
        return false;
    }
    let q = x / step;
    (q - q.round()).abs() <= 1e-9 * q.abs().max(1.0)
}

/// `const` / `enum` of numbers: the value is one of `allowed`.
pub fn one_of<T: NumberLike + ?Sized>(
    allowed: &'static [f64],
) -> impl Fn(&T, &()) -> garde::Result {
    move |v, ()| match v.number() {
        Some(x) if !allowed.contains(&x) => Err(fail(
            "literal_error",
            format_args!(
                "Input should be {}",
                allowed
                    .iter()
                    .map(|a| num(*a))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        )),
        _ => Ok(()),
    }
}

/// `uniqueItems`: no two items are equal.
pub fn unique<T: ListLike + ?Sized>(v: &T, (): &()) -> garde::Result
where
    T::Item: PartialEq,
{
    let Some(items) = v.items() else {
        return Ok(());
    };
    for (i, a) in items.iter().enumerate() {
        if items[..i].contains(a) {
            return Err(fail(
                "unique_items",
                format_args!("List should have unique items (item {i} repeats an earlier one)"),
            ));
        }
    }
    Ok(())
}

/// Every pattern matches somewhere in the text (JSON Schema `pattern`s are
/// unanchored). Patterns are the `regex` crate's syntax: `clamator codegen`
/// translates the ECMAScript ones Zod writes.
pub fn patterns<T: TextLike + ?Sized>(
    list: &'static [&'static str],
) -> impl Fn(&T, &()) -> garde::Result {
    move |v, ()| {
        let Some(s) = v.text() else { return Ok(()) };
        for p in list {
            match regex_for(p) {
                Some(re) if re.is_match(s) => {}
                Some(_) => {
                    return Err(fail(
                        "string_pattern_mismatch",
                        format_args!("String should match pattern '{p}'"),
                    ));
                }
                None => {
                    return Err(fail(
                        "value_error",
                        format_args!(
                            "the contract's pattern '{p}' is not a valid regular expression"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn regex_for(pattern: &'static str) -> Option<regex::Regex> {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Option<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.entry(pattern)
        .or_insert_with(|| regex::Regex::new(pattern).ok())
        .clone()
}

fn text_check<T: TextLike + ?Sized>(
    v: &T,
    ok: fn(&str) -> bool,
    kind: &str,
    what: &str,
) -> garde::Result {
    match v.text() {
        Some(s) if !ok(s) => Err(fail(kind, format_args!("Input should be {what}"))),
        _ => Ok(()),
    }
}

/// `format: uuid`: 8-4-4-4-12 hexadecimal digits (any version, as Zod).
pub fn uuid<T: TextLike + ?Sized>(v: &T, (): &()) -> garde::Result {
    text_check(
        v,
        is_uuid,
        "uuid_parsing",
        "a valid UUID (8-4-4-4-12 hexadecimal digits)",
    )
}

/// `format: date-time`, as Zod's `.datetime()` decides: `YYYY-MM-DDTHH:MM[:SS[.fff]]Z`
/// (UTC: zod-to-json-schema writes the same `format` for `.datetime({offset: true})`,
/// so the contract cannot say offsets are allowed; Zod's default refuses them).
pub fn date_time<T: TextLike + ?Sized>(v: &T, (): &()) -> garde::Result {
    text_check(
        v,
        is_date_time,
        "datetime_parsing",
        "a valid date-time (YYYY-MM-DDTHH:MM[:SS[.fff]]Z)",
    )
}

/// `format: date`: `YYYY-MM-DD`, a day that exists.
pub fn date<T: TextLike + ?Sized>(v: &T, (): &()) -> garde::Result {
    text_check(v, is_date, "date_parsing", "a valid date (YYYY-MM-DD)")
}

/// `format: time`: `HH:MM[:SS[.fff]]` (Zod's `.time()`: no offset).
pub fn time<T: TextLike + ?Sized>(v: &T, (): &()) -> garde::Result {
    text_check(
        v,
        is_time,
        "time_parsing",
        "a valid time (HH:MM[:SS[.fff]])",
    )
}

/// `format: duration`: ISO 8601 as Zod's `.duration()` takes it (`P3DT4H`,
/// `PT0.5S`, `P2W`, signs allowed, units in order, a fraction only on the
/// last number).
pub fn duration<T: TextLike + ?Sized>(v: &T, (): &()) -> garde::Result {
    text_check(
        v,
        is_duration,
        "time_delta_parsing",
        "a valid ISO 8601 duration (PnYnMnWnDTnHnMnS)",
    )
}

/// `format: email`, as Zod's `.email()` decides: an ASCII local part of
/// `A-Z a-z 0-9 _ ' + - .` not starting or ending with a dot, no two dots in
/// a row anywhere, a dotted domain of letters, digits and hyphens (labels not
/// starting with a hyphen) and a top level of 2 or more letters.
pub fn email<T: TextLike + ?Sized>(v: &T, (): &()) -> garde::Result {
    text_check(v, is_email, "value_error", "a valid email address")
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_'+-.".contains(&b))
        && local
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.split_last().is_some_and(|(tld, rest)| {
            tld.len() >= 2
                && tld.bytes().all(|b| b.is_ascii_alphabetic())
                && rest.iter().all(|l| {
                    l.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        });
    local_ok && domain_ok && !s.contains("..")
}

/// `contentEncoding: base64`: the standard alphabet, padded.
pub fn base64<T: TextLike + ?Sized>(v: &T, (): &()) -> garde::Result {
    text_check(
        v,
        is_base64,
        "base64_decode",
        "valid base64 (standard alphabet, padded)",
    )
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (digits(&s[0..4]), digits(&s[5..7]), digits(&s[8..10]))
    else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

fn is_time(s: &str) -> bool {
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    if frac.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let parts: Vec<&str> = main.split(':').collect();
    let two = |p: &str, max: u32| p.len() == 2 && digits(p).is_some_and(|x| x < max);
    match parts.as_slice() {
        [h, m] => frac.is_none() && two(h, 24) && two(m, 60),
        [h, m, sec] => two(h, 24) && two(m, 60) && two(sec, 60),
        _ => false,
    }
}

fn is_date_time(s: &str) -> bool {
    let Some((date, rest)) = s.split_once('T') else {
        return false;
    };
    is_date(date) && rest.strip_suffix('Z').is_some_and(is_time)
}

fn is_duration(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let Some(body) = body.strip_prefix('P') else {
        return false;
    };
    let (date, time) = match body.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    if time.is_some_and(str::is_empty) {
        return false;
    }
    // Every `<number><unit>`, in order; numbers may carry a sign and a
    // fraction (`.` or `,`), only the very last one a fraction.
    let mut numbers: Vec<bool> = Vec::new();
    for (part, units) in [(date, "YMWD"), (time.unwrap_or(""), "HMS")] {
        let mut rest = part;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let Some(end) = rest.find(|c: char| c.is_ascii_uppercase()) else {
                return false;
            };
            let (n, tail) = rest.split_at(end);
            let Some(pos) = units[next_unit..].find(&tail[..1]) else {
                return false;
            };
            next_unit += pos + 1;
            let n = n.strip_prefix(['-', '+']).unwrap_or(n);
            let (int, frac) = match n.split_once(['.', ',']) {
                Some((i, f)) => (i, Some(f)),
                None => (n, None),
            };
            let all_digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
            if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
                return false;
            }
            numbers.push(frac.is_some());
            rest = &tail[1..];
        }
    }
    match numbers.split_last() {
        Some((_, before)) => !before.iter().any(|has_frac| *has_frac),
        None => false,
    }
}

fn is_base64(s: &str) -> bool {
    if !s.len().is_multiple_of(4) {
        return false;
    }
    let body = s.trim_end_matches('=');
    s.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// garde's report on `value` as wire problems: `loc` in wire names, `type`
/// the pydantic error type where one exists.
///
/// garde's paths name Rust fields (`request_id`); each is matched to the key
/// of the serialized value it stands for (`requestId`: the same letters and
/// digits, ignoring case and `_`), so `loc` says what the caller sent.
pub fn issues<T: Serialize + ?Sized>(value: &T, report: &garde::Report) -> Vec<ValidationIssue> {
    let json = serde_json::to_value(value).unwrap_or(Value::Null);
    report
        .iter()
        .map(|(path, error)| {
            let mut loc = Vec::new();
            let mut at = Some(&json);
            for seg in path_loc(path) {
                match (seg, at) {
                    (Value::String(k), Some(Value::Object(o))) => {
                        let key = wire_key(o, &k).unwrap_or(k);
                        at = o.get(&key);
                        loc.push(Value::from(key));
                    }
                    (Value::Number(n), Some(Value::Array(a))) => {
                        at = n.as_u64().and_then(|i| a.get(usize::try_from(i).ok()?));
                        loc.push(Value::Number(n));
                    }
                    (seg, _) => {
                        at = None;
                        loc.push(seg);
                    }
                }
            }
            let (kind, msg) = classify(error.message(), at);
            ValidationIssue { loc, msg, kind }
        })
        .collect()
}

/// The key of `o` a Rust field name stands for.
fn wire_key(o: &serde_json::Map<String, Value>, rust: &str) -> Option<String> {
    let rust = rust.strip_prefix("r#").unwrap_or(rust);
    if o.contains_key(rust) {
        return Some(rust.to_owned());
    }
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let want = norm(rust);
    o.keys().find(|k| norm(k) == want).cloned()
}

fn path_loc(path: &garde::Path) -> Vec<Value> {
    // With garde's `serde` feature a path is a list of `[kind, component]`,
    // root first.
    let Ok(Value::Array(parts)) = serde_json::to_value(path) else {
        return Vec::new();
    };
    parts
        .into_iter()
        .filter_map(|p| {
            let Value::Array(kc) = p else { return None };
            match (
                kc.first().and_then(Value::as_str),
                kc.get(1).and_then(Value::as_str),
            ) {
                (Some("key"), Some(k)) => Some(Value::from(k)),
                (Some("index"), Some(i)) => i.parse::<u64>().ok().map(Value::from),
                _ => None,
            }
        })
        .collect()
}

/// garde's English messages (and ours, `[type] message`) as pydantic types.
fn classify(message: &str, at: Option<&Value>) -> (String, String) {
    if let Some(rest) = message.strip_prefix('[')
        && let Some((kind, msg)) = rest.split_once("] ")
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return (kind.to_owned(), msg.to_owned());
    }
    let is_list = matches!(at, Some(Value::Array(_)) | Some(Value::Object(_)));
    let after = |prefix: &str| message.strip_prefix(prefix).map(str::trim);
    if let Some(n) = after("length is lower than") {
        return if is_list {
            (
                "too_short".into(),
                format!("List should have at least {n} items"),
            )
        } else {
            (
                "string_too_short".into(),
                format!("String should have at least {n} characters"),
            )
        };
    }
    if let Some(n) = after("length is greater than") {
        return if is_list {
            (
                "too_long".into(),
                format!("List should have at most {n} items"),
            )
        } else {
            (
                "string_too_long".into(),
                format!("String should have at most {n} characters"),
            )
        };
    }
    if let Some(n) = after("lower than") {
        return (
            "greater_than_equal".into(),
            format!("Input should be greater than or equal to {n}"),
        );
    }
    if let Some(n) = after("greater than") {
        return (
            "less_than_equal".into(),
            format!("Input should be less than or equal to {n}"),
        );
    }
    if let Some(p) = after("does not match pattern") {
        let p = p.trim_start_matches('/').trim_end_matches('/');
        return (
            "string_pattern_mismatch".into(),
            format!("String should match pattern '{p}'"),
        );
    }
    if message.starts_with("not a valid email") {
        return ("value_error".into(), format!("value is {message}"));
    }
    if message.starts_with("not a valid url") {
        return (
            "url_parsing".into(),
            format!("Input should be a valid URL: {message}"),
        );
    }
    if message.starts_with("not a valid ipv4") || message.starts_with("not a valid IPv4") {
        return (
            "ip_v4_address".into(),
            "Input is not a valid IPv4 address".into(),
        );
    }
    if message.starts_with("not a valid ipv6") || message.starts_with("not a valid IPv6") {
        return (
            "ip_v6_address".into(),
            "Input is not a valid IPv6 address".into(),
        );
    }
    if message.starts_with("not a valid") && message.ends_with("address") {
        return (
            "ip_any_address".into(),
            "Input is not a valid IPv4 or IPv6 address".into(),
        );
    }
    ("value_error".into(), message.to_owned())
}

/// Runs a type's garde checks, if it has any: the generated contract code
/// calls `(&Checker(&value)).clamator_check()` with [`CheckByGarde`] and
/// [`CheckNothing`] in scope, which picks garde's `Validate` when the type
/// derives it and does nothing otherwise.
#[doc(hidden)]
pub struct Checker<'a, T: ?Sized>(pub &'a T);

impl<T: ?Sized> std::fmt::Debug for Checker<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checker")
    }
}

/// See [`Checker`]: the type derives `garde::Validate`.
#[doc(hidden)]
pub trait CheckByGarde {
    /// The problems found, if any.
    fn clamator_check(&self) -> Result<(), Vec<ValidationIssue>>;
}

impl<T> CheckByGarde for Checker<'_, T>
where
    T: garde::Validate + Serialize + ?Sized,
    T::Context: Default,
{
    fn clamator_check(&self) -> Result<(), Vec<ValidationIssue>> {
        match self.0.validate_with(&T::Context::default()) {
            Ok(()) => Ok(()),
            Err(report) => Err(issues(self.0, &report)),
        }
    }
}

/// See [`Checker`]: the type has nothing to check.
#[doc(hidden)]
pub trait CheckNothing {
    /// Always fine.
    fn clamator_check(&self) -> Result<(), Vec<ValidationIssue>> {
        Ok(())
    }
}

impl<T: ?Sized> CheckNothing for &Checker<'_, T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid("123e4567e89b12d3a456426614174000"));
        assert!(is_date("2024-02-29") && !is_date("2023-02-29") && !is_date("2024-13-01"));
        assert!(is_time("23:59:59") && is_time("00:00:00.123") && is_time("12:00"));
        assert!(!is_time("24:00:00") && !is_time("9:00") && !is_time("12:00.5"));
        assert!(is_date_time("2026-12-06T14:30:00Z") && is_date_time("2024-02-29T12:30Z"));
        assert!(!is_date_time("2026-12-06T14:30:00.5+01:00"));
        assert!(!is_date_time("2026-12-06 14:30:00Z") && !is_date_time("2026-12-06T14:30:00"));
        assert!(is_duration("P3DT4H") && is_duration("PT0.5S") && is_duration("P2W"));
        assert!(is_duration("PT1.5H") && is_duration("-P1D") && is_duration("P1Y2M3DT4H5M6.5S"));
        assert!(!is_duration("P") && !is_duration("PT") && !is_duration("P1H"));
        assert!(!is_duration("P1.5DT1H") && !is_duration("P1M1Y"));
        assert!(is_email("ann@example.com") && is_email("a.b+c@x-y.example.org"));
        assert!(!is_email("ann..x@example.com") && !is_email(".ann@example.com"));
        assert!(!is_email("ann@example.c") && !is_email("ann@") && !is_email("ann.@example.com"));
        assert!(is_base64("aGk=") && !is_base64("aGk") && !is_base64("a$=="));
    }

    #[test]
    fn numbers() {
        assert!(greater_than::<f64>(0.0)(&0.0, &()).is_err());
        assert!(greater_than::<f64>(0.0)(&0.1, &()).is_ok());
        assert!(less_than::<Option<i64>>(0.0)(&None, &()).is_ok());
        assert!(multiple_of::<f64>(0.1)(&0.3, &()).is_ok());
        assert!(multiple_of::<i64>(5.0)(&12, &()).is_err());
        assert!(one_of::<u64>(&[1.0, 2.0])(&3, &()).is_err());
        assert!(unique(&vec![1, 2, 1], &()).is_err());
    }

    #[test]
    fn messages_map_to_pydantic_types() {
        let s = Value::from("x");
        let l = Value::from(vec![1]);
        assert_eq!(
            classify("length is lower than 1", Some(&s)).0,
            "string_too_short"
        );
        assert_eq!(
            classify("length is greater than 100", Some(&l)).0,
            "too_long"
        );
        assert_eq!(classify("lower than 0", None).0, "greater_than_equal");
        assert_eq!(
            classify("[multiple_of] Input should be a multiple of 5", None),
            (
                "multiple_of".into(),
                "Input should be a multiple of 5".into()
            )
        );
    }
}
