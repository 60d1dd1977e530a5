//! Cancellation: a Rust client tells the servers when it stops waiting for a
//! call (its timeout passed, or its future was dropped), and a server stops
//! what it can.
//!
//! The carrier is a stream per service, `<prefix>:cancel:<service>`
//! (docs/WIRE.md §2): the client adds
//! `type cancel envelope {"jsonrpc":"2.0","method":"$cancelRequest","params":{"id":<id>}} reply-to <its reply stream>`,
//! capped near [`CANCEL_STREAM_MAXLEN`](keys::CANCEL_STREAM_MAXLEN) entries.
//! Every Rust server of the service reads it with a plain `XREAD` in its
//! housekeeping pass (once a second; no group: every worker sees every
//! entry), so a cancel reaches the worker running the call whichever it is.
//! The Python and TypeScript peers never read the stream: they are not
//! affected, and their calls are never cancelled.
//!
//! What a server does with a cancel of `(reply-to, id)`:
//! - a handler running here that takes a [`Context`] gets its signal
//!   ([`Context::cancelled`]); stopping is its choice;
//! - a request not started yet is remembered for [`REMEMBER`], and skipped
//!   (acknowledged, not run, no reply: its caller is gone) if it comes;
//! - a handler without a context runs to its end, as before.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clamator_protocol::{Context, Id};

use crate::conn::{ConnError, SharedConn};
use crate::keys;

/// How long a cancel of a request not seen yet is remembered.
pub(crate) const REMEMBER: Duration = Duration::from_secs(300);
/// At most this many cancels of requests not seen yet are remembered (the
/// oldest are forgotten first).
const MAX_REMEMBERED: usize = 4096;
/// At most this many cancel entries are read per pass.
const READ_COUNT: usize = 512;

/// A call as a cancel names it: its caller's reply stream and its id key.
type CallKey = (String, String);

/// The cancels of one service on one server.
#[derive(Debug)]
pub(crate) struct Cancels {
    /// The cancel stream read.
    stream: String,
    /// The id of the last entry read (the first read starts [`REMEMBER`]
    /// ago, so cancels of requests still queued are seen).
    cursor: Mutex<String>,
    /// Cancels of requests not running here: key -> when added.
    remembered: Mutex<HashMap<CallKey, Instant>>,
    /// Whether `remembered` may hold anything (checked by every request
    /// without taking the lock).
    any_remembered: AtomicBool,
    /// Handlers running here that take a context, by call.
    running: Mutex<HashMap<CallKey, Context>>,
}

/// Keeps a running handler's context where cancels find it; removes it
/// when dropped (the handler ended).
#[derive(Debug)]
pub(crate) struct Registration<'a> {
    /// Where it is registered.
    cancels: &'a Cancels,
    /// Under which call.
    key: Option<CallKey>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            lock(&self.cancels.running).remove(&key);
        }
    }
}

/// What a pass did with the cancels it read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Passed {
    /// Running handlers signalled.
    pub(crate) signalled: usize,
    /// Cancels remembered for requests not running here.
    pub(crate) remembered: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Cancels {
    /// The cancels read from `stream`, starting [`REMEMBER`] ago by this
    /// host's clock.
    pub(crate) fn new(stream: String) -> Cancels {
        let since = std::time::SystemTime::now()
            .checked_sub(REMEMBER)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis());
        Cancels {
            stream,
            cursor: Mutex::new(format!("{since}-0")),
            remembered: Mutex::new(HashMap::new()),
            any_remembered: AtomicBool::new(false),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the call `(reply_to, id)` was cancelled before it started
    /// here; forgets the cancel (a request is skipped once).
    pub(crate) fn take_cancelled(&self, reply_to: &str, id: &Id) -> bool {
        if !self.any_remembered.load(Ordering::Relaxed) {
            return false;
        }
        let mut remembered = lock(&self.remembered);
        let found = remembered
            .remove(&(reply_to.to_owned(), id.key()))
            .is_some();
        self.any_remembered
            .store(!remembered.is_empty(), Ordering::Relaxed);
        found
    }

    /// Registers the context of a handler about to run, so a cancel of its
    /// call fires its signal.
    pub(crate) fn register(&self, reply_to: &str, id: &Id, ctx: &Context) -> Registration<'_> {
        let key = (reply_to.to_owned(), id.key());
        lock(&self.running).insert(key.clone(), ctx.clone());
        Registration {
            cancels: self,
            key: Some(key),
        }
    }

    /// Applies one cancel: signals the handler running the call here, or
    /// remembers it for a request not started yet.
    fn cancel(&self, key: CallKey, passed: &mut Passed) {
        if let Some(ctx) = lock(&self.running).get(&key) {
            ctx.cancel();
            passed.signalled += 1;
            return;
        }
        let now = Instant::now();
        let mut remembered = lock(&self.remembered);
        remembered.retain(|_, added| now.duration_since(*added) < REMEMBER);
        if remembered.len() >= MAX_REMEMBERED
            && let Some(oldest) = remembered
                .iter()
                .min_by_key(|(_, added)| **added)
                .map(|(k, _)| k.clone())
        {
            remembered.remove(&oldest);
        }
        remembered.insert(key, now);
        self.any_remembered.store(true, Ordering::Relaxed);
        passed.remembered += 1;
    }

    /// Reads the cancel entries added since the last pass and applies them.
    /// Entries that are not cancels (another type, an envelope that is not
    /// `$cancelRequest` with an id, no reply-to) are skipped.
    pub(crate) async fn pass(&self, shared: &SharedConn) -> Result<Passed, ConnError> {
        let cursor = lock(&self.cursor).clone();
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_COUNT)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(&cursor);
        let reply: redis::Value = shared.query(&cmd, shared.command_timeout()).await?;
        let mut passed = Passed::default();
        let entries = match crate::entry::parse_read(reply) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(stream = %self.stream, error = %e, "cancel stream read skipped");
                return Ok(passed);
            }
        };
        let Some(last) = entries.last() else {
            return Ok(passed);
        };
        *lock(&self.cursor) = last.id.clone();
        for entry in &entries {
            if let Some(key) = cancel_of(entry) {
                self.cancel(key, &mut passed);
            }
        }
        Ok(passed)
    }
}

/// The call a cancel entry names: its `reply-to` and the id in its
/// `$cancelRequest` envelope.
fn cancel_of(entry: &crate::entry::Entry) -> Option<CallKey> {
    let reply_to = std::str::from_utf8(entry.reply_to.as_deref()?).ok()?;
    let envelope: serde_json::Value = serde_json::from_slice(entry.envelope.as_deref()?).ok()?;
    if envelope.get("method")?.as_str()? != keys::CANCEL_METHOD {
        return None;
    }
    let id = match envelope.get("params")?.get("id")? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return None,
    };
    Some((reply_to.to_owned(), id))
}

/// `XADD <cancel stream> MAXLEN ~ 1024 * type cancel envelope <$cancelRequest> reply-to <reply stream>`.
pub(crate) fn add_cancel(stream: &str, reply_to: &str, id: &Id) -> redis::Cmd {
    let envelope = serde_json::json!({
        "jsonrpc": "2.0",
        "method": keys::CANCEL_METHOD,
        "params": {"id": id.to_value()},
    })
    .to_string();
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream)
        .arg("MAXLEN")
        .arg("~")
        .arg(keys::CANCEL_STREAM_MAXLEN)
        .arg("*")
        .arg(keys::FIELD_TYPE)
        .arg(keys::TYPE_CANCEL)
        .arg(keys::FIELD_ENVELOPE)
        .arg(envelope)
        .arg(keys::FIELD_REPLY_TO)
        .arg(reply_to);
    cmd
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    fn entry(envelope: &str, reply_to: Option<&str>) -> crate::entry::Entry {
        let mut fields = vec![
            (b"type".to_vec(), b"cancel".to_vec()),
            (b"envelope".to_vec(), envelope.as_bytes().to_vec()),
        ];
        if let Some(to) = reply_to {
            fields.push((b"reply-to".to_vec(), to.as_bytes().to_vec()));
        }
        crate::entry::RawEntry {
            id: "1-0".into(),
            fields,
        }
        .into_entry()
    }

    #[test]
    fn cancel_entries_are_read_and_junk_is_skipped() {
        let ok = r#"{"jsonrpc":"2.0","method":"$cancelRequest","params":{"id":"c1"}}"#;
        assert_eq!(
            cancel_of(&entry(ok, Some("p:replies:x"))),
            Some(("p:replies:x".into(), "c1".into()))
        );
        let int = r#"{"jsonrpc":"2.0","method":"$cancelRequest","params":{"id":7}}"#;
        assert_eq!(
            cancel_of(&entry(int, Some("r"))),
            Some(("r".into(), "7".into()))
        );
        assert_eq!(cancel_of(&entry(ok, None)), None);
        for junk in [
            "",
            "{}",
            r#"{"method":"arith.add","params":{"id":"c1"}}"#,
            r#"{"method":"$cancelRequest","params":{}}"#,
            r#"{"method":"$cancelRequest","params":{"id":[1]}}"#,
        ] {
            assert_eq!(cancel_of(&entry(junk, Some("r"))), None, "{junk}");
        }
    }

    #[test]
    fn a_cancel_signals_a_running_handler_or_is_remembered_once() {
        let cancels = Cancels::new("s".into());
        let id = Id::Str("c1".into());
        assert!(!cancels.take_cancelled("r", &id));
        let ctx = Context::new("arith", "slowAdd", Some(id.clone()));
        let mut passed = Passed::default();
        {
            let _running = cancels.register("r", &id, &ctx);
            cancels.cancel(("r".into(), "c1".into()), &mut passed);
            assert!(ctx.is_cancelled());
        }
        assert_eq!(passed.signalled, 1);
        assert!(lock(&cancels.running).is_empty(), "unregistered on drop");
        cancels.cancel(("r".into(), "c2".into()), &mut passed);
        assert_eq!(passed.remembered, 1);
        let c2 = Id::Str("c2".into());
        assert!(!cancels.take_cancelled("other", &c2), "another caller's id");
        assert!(cancels.take_cancelled("r", &c2));
        assert!(!cancels.take_cancelled("r", &c2), "skipped once");
    }

    #[test]
    fn remembered_cancels_are_bounded() {
        let cancels = Cancels::new("s".into());
        let mut passed = Passed::default();
        for i in 0..MAX_REMEMBERED + 10 {
            cancels.cancel(("r".into(), i.to_string()), &mut passed);
        }
        assert_eq!(lock(&cancels.remembered).len(), MAX_REMEMBERED);
    }
}
