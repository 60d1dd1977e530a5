//! Writing to stdout: lines and JSON documents, stopping quietly when the
//! reader went away (`clamator tail | head`).

use std::io::Write;

use serde::Serialize;

use crate::error::CliError;

/// Writes `text` and a newline to stdout, flushing it (so `tail` shows entries at once).
pub(crate) fn line(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|_| CliError::StdoutClosed)
}

/// Writes `value` as one line of compact JSON.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    // Our values are plain data (strings, numbers, `Value`s): serializing cannot fail.
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
    line(&text)
}

/// Writes `value` as indented JSON, for people.
pub(crate) fn json_pretty<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_owned());
    line(&text)
}
