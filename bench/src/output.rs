//! Writing to stdout: lines and JSON documents, flushed at once.

use std::io::Write;

use serde::Serialize;

/// Writes `text` and a newline to stdout and flushes it; fails when the
/// reader went away.
pub(crate) fn line(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// Writes `value` as one line of compact JSON.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> std::io::Result<()> {
    // Our values are plain data (strings, numbers, `Value`s): serializing cannot fail.
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
    line(&text)
}
