//! The dead-letter format (docs/WIRE.md §8), written, read and requeued
//! here and nowhere else: the transport's reclaim loop writes letters with
//! [`write_command`], `clamator dead` reads them with [`read_command`] and
//! [`parse`] and puts them back with [`DeadLetter::requeue_command`] and
//! [`remove_command`].
//!
//! A dead letter is an entry of `<prefix>:dead:<service>`
//! ([`keys::dead_letter_stream`]): every field of the original
//! entry in its order (except any already named like one of
//! [`keys::DEAD_LETTER_FIELDS`]), then `dead-id` (its id on the command
//! stream), `dead-deliveries`, `dead-consumer` (the consumer that held it
//! last) and `dead-reason` (a sentence for people). The stream is capped at
//! about [`MAXLEN`] letters and has no consumer group.
//!
//! ```
//! use clamator_over_redis::ops::RawEntry;
//! use clamator_over_redis::ops::dead_letter::{self, DeadLetter};
//!
//! // What a server moved to the dead-letter stream, as `XRANGE` returns it.
//! let letter = DeadLetter::from_entry(RawEntry {
//!     id: "1700000000000-0".to_owned(),
//!     fields: vec![
//!         (b"type".to_vec(), b"rpc".to_vec()),
//!         (b"envelope".to_vec(), br#"{"jsonrpc":"2.0","method":"arith.ping","params":{}}"#.to_vec()),
//!         (b"dead-id".to_vec(), b"5-0".to_vec()),
//!         (b"dead-deliveries".to_vec(), b"10".to_vec()),
//!     ],
//! });
//! assert_eq!(letter.dead_id().as_deref(), Some("5-0"));
//! assert_eq!(letter.deliveries(), Some(10));
//! // Requeueing adds the original fields back as a new entry.
//! let requeue = letter.requeue_command("myapp:cmds:arith");
//! assert!(requeue.is_some());
//! let remove = dead_letter::remove_command("myapp:dead:arith", [letter.id()]);
//! # let _ = remove;
//! ```

use std::borrow::Cow;

use redis::Value;

use crate::entry::{RawEntry, ShapeError, parse_entries};
use crate::keys;

/// `data.name` of the -32603 error a dead-lettered request's caller receives.
pub const ERROR_NAME: &str = "DeadLetter";

/// About how many letters a dead-letter stream keeps (`XADD ... MAXLEN ~`):
/// the oldest go first.
pub const MAXLEN: usize = crate::options::DEAD_LETTER_MAXLEN;

/// Whether `name` is one of the fields a dead letter adds
/// ([`keys::DEAD_LETTER_FIELDS`]) rather than a field of the original entry.
pub fn is_letter_field(name: &[u8]) -> bool {
    keys::DEAD_LETTER_FIELDS
        .iter()
        .any(|f| f.as_bytes() == name)
}

/// "1 time", "3 times".
pub(crate) fn times(n: usize) -> String {
    if n == 1 {
        "1 time".to_owned()
    } else {
        format!("{n} times")
    }
}

/// The `dead-reason` of a letter: "delivered 3 times without being
/// acknowledged (max_deliveries 3); its handler probably crashes or hangs
/// the worker".
pub fn reason(deliveries: usize, max_deliveries: u32) -> String {
    format!(
        "delivered {} without being acknowledged (max_deliveries {max_deliveries}); its \
         handler probably crashes or hangs the worker",
        times(deliveries)
    )
}

/// `XADD <dead stream> MAXLEN ~ 10000 * <original fields> dead-id <id>
/// dead-deliveries <n> dead-consumer <consumer> dead-reason <sentence>`:
/// the dead letter of `entry` (as claimed from the command stream, every
/// field), delivered `deliveries` times and held last by `last_consumer`,
/// dead-lettered at the delivery limit `max_deliveries`.
///
/// An original field named like one of the letter's own fields is left out:
/// it would make the letter ambiguous.
pub fn write_command(
    dead_stream: &str,
    entry: &RawEntry,
    deliveries: usize,
    last_consumer: &str,
    max_deliveries: u32,
) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(dead_stream)
        .arg("MAXLEN")
        .arg("~")
        .arg(MAXLEN)
        .arg("*");
    for (k, v) in &entry.fields {
        if !is_letter_field(k) {
            cmd.arg(k.as_slice()).arg(v.as_slice());
        }
    }
    cmd.arg(keys::FIELD_DEAD_ID)
        .arg(&entry.id)
        .arg(keys::FIELD_DEAD_DELIVERIES)
        .arg(deliveries)
        .arg(keys::FIELD_DEAD_CONSUMER)
        .arg(last_consumer)
        .arg(keys::FIELD_DEAD_REASON)
        .arg(reason(deliveries, max_deliveries));
    cmd
}

/// `XRANGE <dead stream> - + COUNT <count>`: the oldest `count` letters;
/// read its reply with [`parse`].
pub fn read_command(dead_stream: &str, count: u64) -> redis::Cmd {
    let mut cmd = redis::cmd("XRANGE");
    cmd.arg(dead_stream)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(count);
    cmd
}

/// The letters of an `XRANGE` (or `XREAD`) reply of a dead-letter stream,
/// every field raw (a field name or value need not be UTF-8).
///
/// # Errors
/// [`ShapeError`] when the reply is not a list of stream entries (the key
/// is not a stream, or a proxy answered something else).
pub fn parse(reply: Value) -> Result<Vec<DeadLetter>, ShapeError> {
    Ok(parse_entries(reply)?
        .into_iter()
        .map(DeadLetter::from_entry)
        .collect())
}

/// `XDEL <dead stream> <id>...`: removes the letters with these ids (their
/// [`DeadLetter::id`]), once they are requeued.
pub fn remove_command<'a>(dead_stream: &str, ids: impl IntoIterator<Item = &'a str>) -> redis::Cmd {
    let mut cmd = redis::cmd("XDEL");
    cmd.arg(dead_stream);
    for id in ids {
        cmd.arg(id);
    }
    cmd
}

/// One entry of a dead-letter stream: the original entry's fields and what
/// the server that dead-lettered it recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The letter as stored; its id is its id in the dead-letter stream.
    entry: RawEntry,
}

impl DeadLetter {
    /// A letter from an entry of the dead-letter stream.
    pub fn from_entry(entry: RawEntry) -> DeadLetter {
        DeadLetter { entry }
    }

    /// Its id in the dead-letter stream (the time it was dead-lettered).
    pub fn id(&self) -> &str {
        &self.entry.id
    }

    /// The letter as stored: its id and every field, the `dead-*` ones too.
    pub fn entry(&self) -> &RawEntry {
        &self.entry
    }

    /// The value of the first field called `name`, raw.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.entry.field(name)
    }

    /// The value of the first field called `name` as text (bytes that are not
    /// UTF-8 replaced).
    pub fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        self.field(name).map(String::from_utf8_lossy)
    }

    /// The fields of the original entry, in their order: every field but
    /// the `dead-*` ones.
    pub fn original_fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entry
            .fields
            .iter()
            .filter(|(k, _)| !is_letter_field(k))
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// The id the entry had on the command stream (`dead-id`).
    pub fn dead_id(&self) -> Option<Cow<'_, str>> {
        self.text(keys::FIELD_DEAD_ID)
    }

    /// How many times it was delivered without being acknowledged
    /// (`dead-deliveries`; `None` when missing or not a number).
    pub fn deliveries(&self) -> Option<u64> {
        self.text(keys::FIELD_DEAD_DELIVERIES)?.parse().ok()
    }

    /// The consumer that held it last (`dead-consumer`, `<service>:<instance id>`).
    pub fn last_consumer(&self) -> Option<Cow<'_, str>> {
        self.text(keys::FIELD_DEAD_CONSUMER)
    }

    /// Why it was dead-lettered (`dead-reason`, for people).
    pub fn reason(&self) -> Option<Cow<'_, str>> {
        self.text(keys::FIELD_DEAD_REASON)
    }

    /// `XADD <command stream> * <original fields>`: the original entry again,
    /// as a new entry of `command_stream`; `None` when the letter has no
    /// original field (nothing to requeue).
    ///
    /// Add it before removing the letter ([`remove_command`]): a failure in
    /// between then leaves a duplicate rather than losing the request
    /// (delivery is at least once anyway).
    pub fn requeue_command(&self, command_stream: &str) -> Option<redis::Cmd> {
        let mut fields = self.original_fields().peekable();
        fields.peek()?;
        let mut cmd = redis::cmd("XADD");
        cmd.arg(command_stream).arg("*");
        for (k, v) in fields {
            cmd.arg(k).arg(v);
        }
        Some(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(id: &str, fields: &[(&[u8], &[u8])]) -> RawEntry {
        RawEntry {
            id: id.to_owned(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect(),
        }
    }

    /// The arguments of a command, as bytes.
    fn args(cmd: &redis::Cmd) -> Vec<Vec<u8>> {
        cmd.args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => b.to_vec(),
                _ => b"<not simple>".to_vec(),
            })
            .collect()
    }

    fn strs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    /// What a letter looks like in Redis: the XADD's fields as an entry.
    fn stored(cmd: &redis::Cmd, id: &str) -> RawEntry {
        let a = args(cmd);
        // XADD <stream> MAXLEN ~ <n> * then pairs.
        let pairs = a[6..]
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect();
        RawEntry {
            id: id.to_owned(),
            fields: pairs,
        }
    }

    #[test]
    fn a_letter_keeps_the_original_fields_and_adds_its_own() {
        let original = raw(
            "5-0",
            &[
                (b"type", b"rpc"),
                (b"envelope", b"{}"),
                (b"\xff", b"x"),
                (b"dead-id", b"forged"),
                (b"reply-to", b"p:replies:c"),
            ],
        );
        let cmd = write_command("p:dead:arith", &original, 3, "arith:w1", 3);
        let a = args(&cmd);
        assert_eq!(
            a[..6],
            strs(&["XADD", "p:dead:arith", "MAXLEN", "~", "10000", "*"])[..]
        );
        let letter = DeadLetter::from_entry(stored(&cmd, "9-0"));
        let originals: Vec<(&[u8], &[u8])> = letter.original_fields().collect();
        assert_eq!(
            originals,
            vec![
                (&b"type"[..], &b"rpc"[..]),
                (b"envelope", b"{}"),
                (b"\xff", b"x"),
                (b"reply-to", b"p:replies:c"),
            ],
            "every original field in its order, the forged dead-id left out"
        );
        assert_eq!(letter.id(), "9-0");
        assert_eq!(letter.dead_id().as_deref(), Some("5-0"));
        assert_eq!(letter.deliveries(), Some(3));
        assert_eq!(letter.last_consumer().as_deref(), Some("arith:w1"));
        assert_eq!(
            letter.reason().as_deref(),
            Some(
                "delivered 3 times without being acknowledged (max_deliveries 3); its handler \
                 probably crashes or hangs the worker"
            )
        );
    }

    #[test]
    fn requeueing_adds_the_original_fields_back() {
        let letter = DeadLetter::from_entry(raw(
            "9-0",
            &[
                (b"type", b"rpc"),
                (b"dead-id", b"5-0"),
                (b"envelope", b"{}"),
                (b"dead-deliveries", b"10"),
            ],
        ));
        let cmd = letter.requeue_command("p:cmds:arith").unwrap();
        assert_eq!(
            args(&cmd),
            strs(&["XADD", "p:cmds:arith", "*", "type", "rpc", "envelope", "{}"])
        );
        let remove = remove_command("p:dead:arith", [letter.id(), "10-0"]);
        assert_eq!(
            args(&remove),
            strs(&["XDEL", "p:dead:arith", "9-0", "10-0"])
        );
        let only_ours = DeadLetter::from_entry(raw("9-1", &[(b"dead-id", b"5-0")]));
        assert!(only_ours.requeue_command("p:cmds:arith").is_none());
        assert_eq!(only_ours.deliveries(), None);
    }

    #[test]
    fn reads_letters_from_a_range_reply() {
        let bs = |s: &[u8]| Value::BulkString(s.to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            bs(b"1700000000000-0"),
            Value::Array(vec![
                bs(b"type"),
                bs(b"rpc"),
                bs(b"dead-deliveries"),
                bs(b"x"),
            ]),
        ])]);
        let letters = parse(reply).unwrap();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].id(), "1700000000000-0");
        assert_eq!(letters[0].deliveries(), None, "not a number");
        assert!(parse(Value::Int(1)).is_err());
        assert_eq!(
            args(&read_command("p:dead:arith", 5)),
            strs(&["XRANGE", "p:dead:arith", "-", "+", "COUNT", "5"])
        );
        assert_eq!(times(1), "1 time");
    }
}
