//! One module per command, and what `call` and `notify` share: the target
//! `<service>.<method>`, the JSON params, and a started client.

pub(crate) mod acl;
pub(crate) mod call;
pub(crate) mod codegen;
pub(crate) mod completions;
pub(crate) mod dead;
pub(crate) mod demo;
pub(crate) mod keda;
pub(crate) mod notify;
pub(crate) mod pending;
pub(crate) mod replies;
pub(crate) mod services;
pub(crate) mod tail;
pub(crate) mod top;

use std::io::Read;
use std::time::Duration;

use clamator_over_redis::{ClientOptions, RedisRpcClient};
use clamator_protocol::names;
use serde_json::Value;

use crate::conn::CONNECT_TIMEOUT;
use crate::error::CliError;
use crate::global::Global;

/// Splits `<service>.<method>` and checks both names.
pub(crate) fn parse_target(target: &str) -> Result<(String, String), CliError> {
    let Some((service, method)) = target.split_once('.') else {
        return Err(CliError::Usage(format!(
            "{target:?} is not <service>.<method>: name the method too, e.g. arith.add"
        )));
    };
    names::check_service(service)
        .and_then(|()| names::check_method(method))
        .map_err(|e| CliError::Usage(format!("{target:?}: {e}")))?;
    Ok((service.to_owned(), method.to_owned()))
}

/// The params: `{}` when omitted, stdin for `-`, else the argument; checked to be
/// a JSON object or array.
pub(crate) fn read_params(arg: Option<&str>) -> Result<Value, CliError> {
    let (text, source) = match arg {
        None => return Ok(Value::Object(serde_json::Map::new())),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                CliError::Usage(format!(
                    "could not read the params from stdin ({e}): pipe UTF-8 JSON in, or pass \
                     the params as an argument"
                ))
            })?;
            (text, "stdin")
        }
        Some(text) => (text.to_owned(), "the params argument"),
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(describe_json_error(&text, source, &e)))?;
    match value {
        Value::Object(_) | Value::Array(_) => Ok(value),
        other => Err(CliError::Usage(format!(
            "params must be a JSON object (or array), not {}: e.g. '{{\"a\": 2, \"b\": 3}}'",
            kind_of(&other)
        ))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// "invalid JSON in ... at line L column C: what", the line, and a caret under the column.
fn describe_json_error(text: &str, source: &str, e: &serde_json::Error) -> String {
    let mut msg = format!("invalid JSON in {source}: {e}");
    if text.trim().is_empty() {
        msg.push_str("\n  the params are empty: pass a JSON object such as '{}'");
        return msg;
    }
    let line_no = e.line().max(1);
    if let Some(line) = text.lines().nth(line_no - 1) {
        // serde_json counts columns in bytes; turn that into a char position.
        let mut byte_col = e.column().saturating_sub(1).min(line.len());
        while !line.is_char_boundary(byte_col) {
            byte_col -= 1;
        }
        let col = line[..byte_col].chars().count();
        let chars: Vec<char> = line.chars().collect();
        let start = col.saturating_sub(40);
        let end = (col + 40).min(chars.len());
        let shown: String = chars[start..end]
            .iter()
            .map(|c| if c.is_control() { ' ' } else { *c })
            .collect();
        let lead = if start > 0 { "…" } else { "" };
        msg.push_str(&format!(
            "\n  {lead}{shown}\n  {}^",
            " ".repeat(col - start + lead.chars().count())
        ));
    }
    msg.push_str(
        "\nquote the params for your shell, e.g. clamator call arith.add '{\"a\": 2, \"b\": 3}'",
    );
    msg
}

/// A connected client for `global`'s Redis under `prefix`.
///
/// With a call `timeout`, connecting and each Redis command are bounded by the
/// shorter of it and [`CONNECT_TIMEOUT`], so a short call does not wait the full
/// connect bound on a Redis that accepts connections and never answers.
pub(crate) async fn start_client(
    global: &Global,
    prefix: &str,
    timeout: Option<Duration>,
) -> Result<RedisRpcClient, CliError> {
    let command_timeout = timeout.map_or(CONNECT_TIMEOUT, |t| t.min(CONNECT_TIMEOUT));
    let conn = global
        .target()?
        .connect_options(prefix)?
        .command_timeout(command_timeout);
    let mut options = ClientOptions::default();
    if let Some(t) = timeout {
        options = options.default_timeout(t);
    }
    let client = RedisRpcClient::connect_with(conn, options)
        .await
        .map_err(|e| CliError::connect(e, "connecting the client", &global.redis_url))?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("arith.slowAdd").unwrap(),
            ("arith".to_owned(), "slowAdd".to_owned())
        );
        for bad in ["arith", "Arith.add", "arith.slow-add", ".add", "arith."] {
            assert!(
                matches!(parse_target(bad), Err(CliError::Usage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn params() {
        assert_eq!(read_params(None).unwrap(), serde_json::json!({}));
        assert_eq!(
            read_params(Some(r#"{"a": 1}"#)).unwrap(),
            serde_json::json!({"a": 1})
        );
        assert!(read_params(Some("[1,2]")).is_ok());
        let Err(CliError::Usage(msg)) = read_params(Some("5")) else {
            panic!("a number is not params")
        };
        assert!(msg.contains("not a number"), "{msg}");
        let Err(CliError::Usage(msg)) = read_params(Some(r#"{"a" 1}"#)) else {
            panic!("invalid JSON")
        };
        assert!(msg.contains("line 1 column 6"), "{msg}");
        assert!(msg.contains("\n  {\"a\" 1}\n       ^"), "{msg}");
    }

    #[test]
    fn caret_after_unicode() {
        let Err(CliError::Usage(msg)) = read_params(Some(r#"{"é": x}"#)) else {
            panic!("invalid JSON")
        };
        assert!(msg.contains("\n  {\"é\": x}\n        ^"), "{msg}");
    }
}
