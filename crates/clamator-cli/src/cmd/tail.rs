//! `clamator tail <service>`: requests as they arrive on the command stream,
//! and with `--replies` the replies written for them.
//!
//! Read-only by construction: plain `XREAD` (never `XREADGROUP`), so no
//! consumer is created, nothing is acknowledged, pending lists and group
//! positions stay as they are. Replies are read from the reply streams the
//! requests name in `reply-to`, starting just before the request's own
//! timestamp (a reply is always written after its request), and only replies
//! to the requests seen here are shown.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clamator_over_redis::ops::keys;
use clamator_protocol::{Envelope, Response};
use redis::streams::{StreamId, StreamReadReply};
use serde_json::{Value, json};

use crate::clock;
use crate::cmd::pending::id_text;
use crate::conn::{COMMAND_TIMEOUT, Redis, field_text};
use crate::error::CliError;
use crate::global::Global;
use crate::output;
use crate::table::{truncate, width};

/// How long one XREAD blocks; Ctrl-C ends a wait at once anyway.
const BLOCK: Duration = Duration::from_millis(1_000);
/// On a cluster, the pause between two rounds of reads that found nothing.
const CLUSTER_POLL: Duration = Duration::from_millis(100);
/// Entries one XREAD returns at most per stream.
const READ_COUNT: usize = 100;
/// A reply not seen this long after its request is given up on.
const REPLY_WAIT: Duration = Duration::from_secs(120);
/// Reply streams watched at once at most.
const MAX_WATCHED: usize = 256;
/// Width of the params / result column in table mode.
const BODY_WIDTH: usize = 60;

/// Options of `clamator tail`.
#[derive(clap::Args, Debug)]
pub(crate) struct TailArgs {
    /// The service whose command stream to watch.
    service: String,

    /// Also show the replies written for the requests seen.
    #[arg(long)]
    replies: bool,

    /// Stop after this many entries (requests, notifications and replies).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Start with the entries already in the stream instead of only new ones.
    #[arg(long)]
    from_start: bool,
}

/// A reply stream followed for the replies to requests seen.
#[derive(Debug)]
struct Watch {
    /// The last entry id read from it.
    last_id: String,
    /// Requests awaiting their reply: id key -> (wire method, when seen).
    awaiting: HashMap<String, (String, Instant)>,
}

/// The state of one tail.
#[derive(Debug)]
struct Tail {
    /// The command stream.
    stream: String,
    /// The last entry id read from it.
    last_id: String,
    /// Reply streams followed, by key.
    watched: HashMap<String, Watch>,
    /// Whether to follow replies at all.
    replies: bool,
    /// Machine-readable output.
    json: bool,
    /// Entries still to print before stopping; `None`: no limit.
    remaining: Option<u64>,
    /// Said once that too many reply streams are in play.
    warned_watch_limit: bool,
}

/// Watches the stream until `--count` entries were shown, or Ctrl-C.
pub(crate) async fn run(global: &Global, args: TailArgs) -> Result<(), CliError> {
    let prefix = global.prefix("tail")?;
    let stream = keys::command_stream(prefix, &args.service);
    let mut redis = Redis::connect(&global.target()?).await?;
    let start = if args.from_start {
        "0-0".to_owned()
    } else {
        last_generated_id(&mut redis, &stream).await?
    };
    let mut reader = Redis::connect_blocking(&global.target()?).await?;
    let mut tail = Tail {
        stream,
        last_id: start,
        watched: HashMap::new(),
        replies: args.replies,
        json: global.json,
        remaining: args.count,
        warned_watch_limit: false,
    };
    eprintln!(
        "tailing {} after entry {}{} (plain XREAD: joins no group, acknowledges nothing); \
         Ctrl-C to stop",
        tail.stream,
        tail.last_id,
        if tail.replies { ", with replies" } else { "" }
    );
    if !tail.json {
        output::line(&row(
            "TIME (UTC)",
            "ENTRY",
            "KIND",
            "METHOD",
            "ID",
            "PARAMS / RESULT",
        ))?;
    }
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    while tail.remaining != Some(0) {
        let read = tail.read(&mut reader);
        let reply = tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            r = read => r?,
        };
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                if tail.remaining == Some(0) {
                    return Ok(());
                }
                if key.key == tail.stream {
                    tail.last_id.clone_from(&entry.id);
                    tail.on_request(entry)?;
                } else {
                    tail.on_reply(&key.key, entry)?;
                }
            }
        }
        tail.prune();
    }
    Ok(())
}

/// The id after which new entries of `stream` will come (`0-0` if it does not exist yet).
async fn last_generated_id(redis: &mut Redis, stream: &str) -> Result<String, CliError> {
    let info: Result<HashMap<String, redis::Value>, _> = redis
        .try_query(redis::cmd("XINFO").arg("STREAM").arg(stream))
        .await?;
    match info {
        Ok(info) => Ok(info
            .get("last-generated-id")
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
            .unwrap_or_else(|| "0-0".to_owned())),
        // No such key: everything that comes is new.
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) => {
            Ok("0-0".to_owned())
        }
        Err(e) => Err(redis.error(&format!("XINFO STREAM {stream}"), e)),
    }
}

/// One table row with fixed column widths (rows are printed as they come).
fn row(time: &str, entry: &str, kind: &str, method: &str, id: &str, body: &str) -> String {
    let pad = |s: &str, w: usize| {
        let s = truncate(s, w);
        let fill = w.saturating_sub(width(&s));
        format!("{s}{}", " ".repeat(fill))
    };
    format!(
        "{}  {}  {}  {}  {}  {}",
        pad(time, 12),
        pad(entry, 18),
        pad(kind, 6),
        pad(method, 22),
        pad(id, 36),
        truncate(body, BODY_WIDTH)
    )
    .trim_end()
    .to_owned()
}

impl Tail {
    /// The next entries: one blocking `XREAD` of every stream; on a cluster,
    /// where one read may not cross slots, a read of each stream without
    /// blocking, then a pause of [`CLUSTER_POLL`] when none had anything.
    async fn read(&self, reader: &mut Redis) -> Result<Option<StreamReadReply>, CliError> {
        let doing = format!("XREAD {}", self.stream);
        if !reader.is_cluster() {
            let cmd = self.read_command();
            return reader
                .try_query_within::<Option<StreamReadReply>>(&cmd, BLOCK + COMMAND_TIMEOUT)
                .await?
                .map_err(|e| reader.error(&doing, e));
        }
        let mut all = StreamReadReply { keys: Vec::new() };
        let streams = std::iter::once((&self.stream, &self.last_id))
            .chain(self.watched.iter().map(|(k, w)| (k, &w.last_id)));
        for (key, after) in streams {
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("COUNT")
                .arg(READ_COUNT)
                .arg("STREAMS")
                .arg(key)
                .arg(after);
            let reply = reader
                .try_query::<Option<StreamReadReply>>(&cmd)
                .await?
                .map_err(|e| reader.error(&format!("XREAD {key}"), e))?;
            all.keys.extend(reply.map(|r| r.keys).unwrap_or_default());
        }
        if all.keys.iter().all(|k| k.ids.is_empty()) {
            tokio::time::sleep(CLUSTER_POLL).await;
            return Ok(None);
        }
        Ok(Some(all))
    }

    /// `XREAD COUNT n BLOCK ms STREAMS <cmds> <replies...> <ids...>`.
    fn read_command(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.stream);
        let watched: Vec<(&String, &Watch)> = self.watched.iter().collect();
        for (key, _) in &watched {
            cmd.arg(*key);
        }
        cmd.arg(&self.last_id);
        for (_, w) in &watched {
            cmd.arg(&w.last_id);
        }
        cmd
    }

    /// Counts one printed entry.
    fn printed(&mut self) {
        if let Some(n) = self.remaining.as_mut() {
            *n = n.saturating_sub(1);
        }
    }

    /// Shows a request or notification, and follows its reply stream.
    fn on_request(&mut self, entry: StreamId) -> Result<(), CliError> {
        let ms = clock::id_ms(&entry.id).unwrap_or(0);
        let reply_to = field_text(&entry.map, keys::FIELD_REPLY_TO);
        let text = field_text(&entry.map, keys::FIELD_ENVELOPE);
        let parsed = text.as_deref().map(|t| Envelope::parse(t.as_bytes()));
        let Some(Ok(Envelope::Request(req))) = parsed else {
            let why = match parsed {
                None => "no envelope field".to_owned(),
                Some(Err(e)) => e.to_string(),
                Some(Ok(Envelope::Response(_))) => "a response on a command stream".to_owned(),
                Some(Ok(Envelope::Request(_))) => String::new(),
            };
            self.printed();
            return if self.json {
                output::json(&json!({
                    "time": clock::iso_utc(ms),
                    "stream": self.stream,
                    "entry": entry.id,
                    "kind": "invalid",
                    "problem": why,
                    "envelope": text,
                }))
            } else {
                output::line(&row(
                    &clock::time_of_day(ms),
                    &entry.id,
                    "junk",
                    "-",
                    "-",
                    &format!("{why}: {}", text.unwrap_or_default()),
                ))
            };
        };
        let wire = format!("{}.{}", req.service, req.method);
        let kind = if req.id.is_some() { "call" } else { "notify" };
        self.printed();
        if self.json {
            output::json(&json!({
                "time": clock::iso_utc(ms),
                "stream": self.stream,
                "entry": entry.id,
                "kind": if req.id.is_some() { "request" } else { "notification" },
                "method": wire,
                "id": req.id.as_ref().map(clamator_protocol::Id::to_value),
                "params": req.params,
                "reply_to": reply_to,
            }))?;
        } else {
            output::line(&row(
                &clock::time_of_day(ms),
                &entry.id,
                kind,
                &wire,
                &req.id
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |id| id_text(&id.to_value())),
                &req.params.to_string(),
            ))?;
        }
        if let (true, Some(id), Some(reply_to)) = (self.replies, req.id, reply_to) {
            self.follow(reply_to, id.key(), wire, ms);
        }
        Ok(())
    }

    /// Starts (or keeps) following `reply_to` for the reply with this id key.
    fn follow(&mut self, reply_to: String, key: String, wire: String, request_ms: u64) {
        if !self.watched.contains_key(&reply_to) && self.watched.len() >= MAX_WATCHED {
            if !self.warned_watch_limit {
                eprintln!(
                    "note: following {MAX_WATCHED} reply streams already; replies to requests \
                     from further clients are not shown"
                );
                self.warned_watch_limit = true;
            }
            return;
        }
        let watch = self.watched.entry(reply_to).or_insert_with(|| Watch {
            // Replies are written after their request: start a millisecond before it.
            last_id: format!("{}-0", request_ms.saturating_sub(1)),
            awaiting: HashMap::new(),
        });
        watch.awaiting.insert(key, (wire, Instant::now()));
    }

    /// Shows a reply if it answers a request seen here.
    fn on_reply(&mut self, stream: &str, entry: StreamId) -> Result<(), CliError> {
        let Some(watch) = self.watched.get_mut(stream) else {
            return Ok(());
        };
        watch.last_id.clone_from(&entry.id);
        let Some(text) = field_text(&entry.map, keys::FIELD_ENVELOPE) else {
            return Ok(());
        };
        let Ok(Envelope::Response(resp)) = Envelope::parse(text.as_bytes()) else {
            return Ok(());
        };
        let Some(id) = resp.id() else {
            return Ok(());
        };
        let Some((wire, _)) = watch.awaiting.remove(&id.key()) else {
            return Ok(());
        };
        let id_value = id.to_value();
        if watch.awaiting.is_empty() {
            self.watched.remove(stream);
        }
        let ms = clock::id_ms(&entry.id).unwrap_or(0);
        self.printed();
        if self.json {
            let mut line = json!({
                "time": clock::iso_utc(ms),
                "stream": stream,
                "entry": entry.id,
                "kind": "reply",
                "method": wire,
                "id": id_value,
            });
            match resp {
                Response::Success { result, .. } => line["result"] = result,
                Response::Error { error, .. } => line["error"] = json!(error),
            }
            output::json(&line)
        } else {
            let body = match resp {
                Response::Success { result, .. } => result.to_string(),
                Response::Error { error, .. } => format!(
                    "error {} {}{}",
                    error.code,
                    error.message,
                    if error.data == Value::Null {
                        String::new()
                    } else {
                        format!(" {}", error.data)
                    }
                ),
            };
            output::line(&row(
                &clock::time_of_day(ms),
                &entry.id,
                "reply",
                &wire,
                &id_text(&id_value),
                &body,
            ))
        }
    }

    /// Forgets requests whose reply never came.
    fn prune(&mut self) {
        self.watched.retain(|_, w| {
            w.awaiting
                .retain(|_, (_, seen)| seen.elapsed() < REPLY_WAIT);
            !w.awaiting.is_empty()
        });
    }
}
