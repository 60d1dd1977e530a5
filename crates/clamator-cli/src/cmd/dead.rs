//! `clamator dead <service>`: the requests no worker ever acknowledged, which
//! servers moved to the service's dead-letter stream after `max_deliveries`
//! deliveries; with `--requeue --yes`, puts them back on the command stream.
//!
//! Requeueing appends each dead letter's original fields (without the `dead-*`
//! fields servers added) to the command stream as a new entry, then removes
//! the dead letter. Appending first means a failure in between leaves a
//! duplicate rather than losing a request: delivery is at least once anyway.
//! The letters' format, and the commands that read, requeue and remove
//! them, are the transport's (`clamator_over_redis::ops::dead_letter`).

use clamator_over_redis::ops::dead_letter::{self, DeadLetter};
use clamator_over_redis::ops::keys;
use clamator_protocol::names;
use redis::{RedisResult, Value as RedisValue};
use serde::Serialize;
use serde_json::{Value, json};

use crate::clock;
use crate::cmd::pending::id_text;
use crate::conn::Redis;
use crate::error::CliError;
use crate::global::Global;
use crate::output;
use crate::table::{Table, truncate};

/// Width of the params column.
const PARAMS_WIDTH: usize = 40;

/// Options of `clamator dead`.
#[derive(clap::Args, Debug)]
pub(crate) struct DeadArgs {
    /// The service whose dead letters to show (or requeue).
    service: String,

    /// Show (or requeue) at most this many dead letters, oldest first.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,

    /// Put the dead letters back on the service's command stream (their
    /// original fields, as new entries) and remove them from the dead-letter
    /// stream; a dry run without --yes. Fix the handler first: a request that
    /// still crashes its workers comes back here after max_deliveries.
    #[arg(long)]
    requeue: bool,

    /// With --requeue: really requeue; without it, only list what would be requeued.
    #[arg(long, requires = "requeue")]
    yes: bool,
}

/// What people and scripts see of a dead letter.
fn info(letter: &DeadLetter) -> LetterInfo {
    let envelope: Option<Value> = letter
        .field(keys::FIELD_ENVELOPE)
        .and_then(|t| serde_json::from_slice(t).ok());
    let get = |key: &str| {
        envelope
            .as_ref()
            .and_then(|v| v.get(key))
            .filter(|v| !v.is_null())
            .cloned()
    };
    let owned = |text: Option<std::borrow::Cow<'_, str>>| text.map(|t| t.into_owned());
    LetterInfo {
        entry: letter.id().to_owned(),
        time: clock::id_ms(letter.id()).map(clock::iso_utc),
        dead_id: owned(letter.dead_id()),
        deliveries: letter.deliveries(),
        last_consumer: owned(letter.last_consumer()),
        reason: owned(letter.reason()),
        method: get("method").and_then(|m| m.as_str().map(str::to_owned)),
        request_id: get("id"),
        params: get("params"),
        reply_to: owned(letter.text(keys::FIELD_REPLY_TO)),
    }
}

/// One dead letter as listed.
#[derive(Debug, Serialize)]
struct LetterInfo {
    /// Its id in the dead-letter stream.
    entry: String,
    /// When it was dead-lettered (ISO 8601 UTC, from its id).
    time: Option<String>,
    /// The id it had on the command stream.
    dead_id: Option<String>,
    /// How many times it was delivered without being acknowledged.
    deliveries: Option<u64>,
    /// The consumer that held it last (`<service>:<instance_id>`).
    last_consumer: Option<String>,
    /// Why it was dead-lettered.
    reason: Option<String>,
    /// The wire method of the request (`null` when the envelope is not JSON).
    method: Option<String>,
    /// The JSON-RPC id (`null` for a notification).
    request_id: Option<Value>,
    /// The params.
    params: Option<Value>,
    /// Where the caller waited for its reply (`null` for a notification).
    reply_to: Option<String>,
}

/// The letters of an XRANGE reply, fields raw (a field name need not be UTF-8).
fn parse_range(reply: RedisValue) -> Result<Vec<DeadLetter>, String> {
    dead_letter::parse(reply).map_err(|e| format!("XRANGE answered: {e}"))
}

/// The table of letters, optionally with the ids their requeued copies got.
fn table(letters: &[DeadLetter], new_ids: Option<&[String]>) -> Table {
    let mut headers = vec![
        "TIME (UTC)",
        "ORIGINAL ID",
        "DELIVERIES",
        "LAST CONSUMER",
        "METHOD",
        "ID",
        "PARAMS",
    ];
    if new_ids.is_some() {
        headers.push("REQUEUED AS");
    }
    let mut t = Table::new(&headers).right(&[2]);
    for (i, letter) in letters.iter().enumerate() {
        let info = info(letter);
        let dash = || "-".to_owned();
        let mut row = vec![
            info.time.unwrap_or_else(dash),
            info.dead_id.unwrap_or_else(dash),
            info.deliveries.map_or_else(dash, |d| d.to_string()),
            info.last_consumer.unwrap_or_else(dash),
            info.method
                .unwrap_or_else(|| "(not an envelope)".to_owned()),
            info.request_id
                .map_or_else(dash, |id| truncate(&id_text(&id), 40)),
            info.params
                .map_or_else(dash, |p| truncate(&p.to_string(), PARAMS_WIDTH)),
        ];
        if let Some(ids) = new_ids {
            row.push(ids.get(i).cloned().unwrap_or_else(dash));
        }
        t.push(row);
    }
    t
}

/// Lists (or requeues) the service's dead letters.
pub(crate) async fn run(global: &Global, args: DeadArgs) -> Result<(), CliError> {
    let prefix = global.prefix("dead")?;
    names::check_service(&args.service)
        .map_err(|e| CliError::Usage(format!("{:?}: {e}", args.service)))?;
    let dead_stream = keys::dead_letter_stream(prefix, &args.service);
    let stream = keys::command_stream(prefix, &args.service);
    let mut redis = Redis::connect(&global.target()?).await?;
    let kind: String = redis
        .query(
            redis::cmd("TYPE").arg(&dead_stream),
            &format!("TYPE {dead_stream}"),
        )
        .await?;
    let (letters, total) = match kind.as_str() {
        "none" => (Vec::new(), 0),
        "stream" => {
            let cmd = dead_letter::read_command(&dead_stream, args.count);
            let reply: RedisValue = redis.query(&cmd, &format!("XRANGE {dead_stream}")).await?;
            let letters = parse_range(reply)
                .map_err(|e| redis.error(&format!("reading {dead_stream}"), e))?;
            let total: usize = redis
                .query(
                    redis::cmd("XLEN").arg(&dead_stream),
                    &format!("XLEN {dead_stream}"),
                )
                .await?;
            (letters, total)
        }
        other => {
            return Err(CliError::NotFound(format!(
                "{dead_stream} is a {other}, not a dead-letter stream: check the key prefix \
                 (--key-prefix / CLAMATOR_KEY_PREFIX) and the service name"
            )));
        }
    };
    if args.requeue {
        return requeue(global, &mut redis, &args, &stream, &dead_stream, letters).await;
    }
    if global.json {
        for letter in &letters {
            output::json(&info(letter))?;
        }
        return Ok(());
    }
    if letters.is_empty() {
        return output::line(&format!(
            "no dead letters for `{}` ({dead_stream} is empty or missing): no request has \
             been delivered max_deliveries times without being acknowledged",
            args.service
        ));
    }
    output::line(&table(&letters, None).render())?;
    output::line(&format!(
        "{total} dead letter(s) in {dead_stream}{}; `clamator dead {} --requeue` puts them \
         back on {stream}",
        if total > letters.len() {
            format!(
                " (showing the oldest {}; raise --count for more)",
                letters.len()
            )
        } else {
            String::new()
        },
        args.service
    ))
}

/// Requeues `letters` (or, without `--yes`, says what would be requeued).
async fn requeue(
    global: &Global,
    redis: &mut Redis,
    args: &DeadArgs,
    stream: &str,
    dead_stream: &str,
    letters: Vec<DeadLetter>,
) -> Result<(), CliError> {
    let service = &args.service;
    // Entries added to a stream without the service's group would never be
    // delivered (servers create the group at `$`, after them).
    let groups: RedisResult<redis::streams::StreamInfoGroupsReply> = redis
        .try_query(redis::cmd("XINFO").arg("GROUPS").arg(stream))
        .await?;
    let has_group = groups.is_ok_and(|g| g.groups.iter().any(|g| g.name == keys::group(service)));
    if !has_group && !letters.is_empty() {
        return Err(CliError::NotFound(format!(
            "{stream} has no consumer group `{}`: no server has served `{service}` there, \
             and requeued requests would never be delivered; start a server for `{service}` \
             first",
            keys::group(service),
        )));
    }
    // Each letter with its `XADD`; a letter without an original field has none.
    let mut requeueable = Vec::with_capacity(letters.len());
    let mut empty = Vec::new();
    for letter in letters {
        match letter.requeue_command(stream) {
            Some(add) => requeueable.push((letter, add)),
            None => empty.push(letter),
        }
    }
    let (letters, adds): (Vec<DeadLetter>, Vec<redis::Cmd>) = requeueable.into_iter().unzip();
    if !args.yes {
        if global.json {
            for letter in &letters {
                let mut line = json!(info(letter));
                line["action"] = json!("would_requeue");
                output::json(&line)?;
            }
            return Ok(());
        }
        if letters.is_empty() {
            return output::line(&format!(
                "nothing to requeue: no dead letters for `{service}` in {dead_stream}"
            ));
        }
        output::line(&format!(
            "dry run: would requeue {} dead letter(s) from {dead_stream} to {stream}; run again \
             with --yes to requeue them:",
            letters.len()
        ))?;
        return output::line(&table(&letters, None).render());
    }
    let mut new_ids = Vec::new();
    let mut requeued = Vec::new();
    if !letters.is_empty() {
        let mut add = redis::pipe();
        add.ignore_errors();
        for cmd in adds {
            add.add_command(cmd);
        }
        let added: Vec<RedisResult<String>> =
            redis.pipe(&add, &format!("requeueing to {stream}")).await?;
        let mut failure = None;
        for (letter, result) in letters.iter().zip(added) {
            match result {
                Ok(id) => {
                    new_ids.push(id);
                    requeued.push(letter.clone());
                }
                Err(e) => failure = Some(e),
            }
        }
        if !requeued.is_empty() {
            let del = dead_letter::remove_command(dead_stream, requeued.iter().map(DeadLetter::id));
            let _: usize = redis
                .query(
                    &del,
                    &format!(
                        "removing {} requeued dead letter(s) from {dead_stream} (they are \
                         requeued already: delete them by hand, or they may be requeued twice)",
                        requeued.len()
                    ),
                )
                .await?;
        }
        if let Some(e) = failure {
            return Err(redis.error(
                &format!(
                    "requeueing to {stream} ({} of {} requeued)",
                    requeued.len(),
                    letters.len()
                ),
                e,
            ));
        }
    }
    if global.json {
        for (letter, new_id) in requeued.iter().zip(&new_ids) {
            let mut line = json!(info(letter));
            line["action"] = json!("requeued");
            line["new_id"] = json!(new_id);
            output::json(&line)?;
        }
        return Ok(());
    }
    if !empty.is_empty() {
        eprintln!(
            "note: left {} dead letter(s) alone that carry no original field to requeue",
            empty.len()
        );
    }
    if requeued.is_empty() {
        return output::line(&format!(
            "nothing requeued: no dead letters for `{service}` in {dead_stream}"
        ));
    }
    output::line(&format!(
        "requeued {} dead letter(s) to {stream} and removed them from {dead_stream}:",
        requeued.len()
    ))?;
    output::line(&table(&requeued, Some(&new_ids)).render())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bs(s: &[u8]) -> RedisValue {
        RedisValue::BulkString(s.to_vec())
    }

    #[test]
    fn parses_raw_entries_and_strips_dead_fields() {
        let reply = RedisValue::Array(vec![RedisValue::Array(vec![
            bs(b"1700000000000-0"),
            RedisValue::Array(vec![
                bs(b"type"),
                bs(b"rpc"),
                bs(b"envelope"),
                bs(br#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1},"id":7}"#),
                bs(b"\xff"),
                bs(b"x"),
                bs(b"dead-id"),
                bs(b"5-0"),
                bs(b"dead-deliveries"),
                bs(b"10"),
            ]),
        ])]);
        let letters = parse_range(reply).unwrap();
        assert_eq!(letters.len(), 1);
        let originals: Vec<&[u8]> = letters[0].original_fields().map(|(k, _)| k).collect();
        assert_eq!(originals, vec![&b"type"[..], b"envelope", b"\xff"]);
        let info = info(&letters[0]);
        assert_eq!(info.dead_id.as_deref(), Some("5-0"));
        assert_eq!(info.deliveries, Some(10));
        assert_eq!(info.method.as_deref(), Some("arith.add"));
        assert_eq!(info.request_id, Some(json!(7)));
        assert_eq!(info.params, Some(json!({"a": 1})));
        assert_eq!(info.time.as_deref(), Some("2023-11-14T22:13:20.000Z"));
        assert!(parse_range(RedisValue::Int(1)).is_err());
    }
}
