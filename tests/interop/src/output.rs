//! Checks of the JSON lines the interop drivers print (`{"ok": ...}` or
//! `{"error": ...}`), shared by the suites, with messages that show what
//! arrived (shortened: a 1 MiB echo must not flood them).

use serde_json::Value;

/// Returns `Err(message)` from the enclosing function unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// A JSON value shortened for messages.
pub fn short(v: &Value) -> String {
    short_str(&v.to_string())
}

/// Text shortened for messages: at most 400 bytes, then its length.
pub fn short_str(s: &str) -> String {
    const MAX: usize = 400;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

/// The `ok` value of an output line.
pub fn ok<'a>(out: &'a Value, what: &str) -> Result<&'a Value, String> {
    out.get("ok")
        .ok_or_else(|| format!("{what}: expected {{\"ok\": ...}}, got {}", short(out)))
}

/// A number field of the `ok` value.
pub fn ok_num(out: &Value, field: &str, what: &str) -> Result<f64, String> {
    ok(out, what)?
        .get(field)
        .and_then(Value::as_f64)
        .ok_or_else(|| {
            format!(
                "{what}: expected a number at ok.{field}, got {}",
                short(out)
            )
        })
}

/// Checks `ok.<field>` equals `want`.
pub fn expect_num(out: &Value, field: &str, want: f64, what: &str) -> Result<(), String> {
    let got = ok_num(out, field, what)?;
    check!(
        got == want,
        "{what}: expected ok.{field} == {want}, got {got}"
    );
    Ok(())
}

/// The `error` object of an output line, checked to carry `code`, `message`
/// and a `data` member.
pub fn rpc_error<'a>(
    out: &'a Value,
    code: i64,
    message: &str,
    what: &str,
) -> Result<&'a Value, String> {
    let err = out
        .get("error")
        .ok_or_else(|| format!("{what}: expected an RPC error {code}, got {}", short(out)))?;
    check!(
        err["code"].as_i64() == Some(code) && err["message"] == message,
        "{what}: expected error {code} {message:?}, got {}",
        short(out)
    );
    check!(
        err.get("data").is_some(),
        "{what}: the error has no data member (must be present, null when empty): {}",
        short(out)
    );
    Ok(err)
}
