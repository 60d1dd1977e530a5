//! `clamator pending <service>`: the entries a group's consumers took and have
//! not acknowledged, with owner, idle time and delivery count.

use clamator_over_redis::ops::keys;
use redis::streams::{StreamPendingCountReply, StreamPendingReply, StreamRangeReply};
use serde::Serialize;
use serde_json::Value;

use crate::clock;
use crate::conn::{Redis, field_text};
use crate::error::CliError;
use crate::global::Global;
use crate::output;
use crate::table::{Table, truncate};

/// Options of `clamator pending`.
#[derive(clap::Args, Debug)]
pub(crate) struct PendingArgs {
    /// The service whose command stream to look at.
    service: String,

    /// The consumer group (default: the service name, as clamator servers use).
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,

    /// Show at most this many entries (oldest first).
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
}

/// One pending entry.
#[derive(Debug, Serialize)]
struct PendingEntry {
    /// The stream entry id.
    id: String,
    /// The consumer holding it (`<service>:<instance_id>`).
    owner: String,
    /// Milliseconds since it was last delivered.
    idle_ms: usize,
    /// How many times it was delivered (more than 1: it was reclaimed).
    deliveries: usize,
    /// Its age, from its id's timestamp against Redis's clock.
    age_ms: Option<u64>,
    /// The wire method of the request, when the entry still exists.
    method: Option<String>,
    /// The JSON-RPC id of the request (`null` for a notification).
    request_id: Option<Value>,
    /// Whether the entry was deleted from the stream while pending.
    deleted: bool,
}

/// Lists the pending entries of the service's group.
pub(crate) async fn run(global: &Global, args: PendingArgs) -> Result<(), CliError> {
    let prefix = global.prefix("pending")?;
    let stream = keys::command_stream(prefix, &args.service);
    let group = args.group.unwrap_or_else(|| keys::group(&args.service));
    let mut redis = Redis::connect(&global.target()?).await?;
    let kind: String = redis
        .query(redis::cmd("TYPE").arg(&stream), &format!("TYPE {stream}"))
        .await?;
    if kind != "stream" {
        return Err(CliError::NotFound(format!(
            "no command stream {stream} (key type: {kind}): `clamator services` lists the \
             services under key prefix `{prefix}`"
        )));
    }
    let summary: StreamPendingReply = match redis
        .try_query(redis::cmd("XPENDING").arg(&stream).arg(&group))
        .await?
    {
        Ok(s) => s,
        Err(e) if e.code() == Some("NOGROUP") => {
            return Err(CliError::NotFound(format!(
                "stream {stream} has no consumer group `{group}`: no server has served \
                 `{}` yet (`clamator services` shows the groups; pass --group for another)",
                args.service
            )));
        }
        Err(e) => return Err(redis.error(&format!("XPENDING {stream} {group}"), e)),
    };
    let total = summary.count();
    let listed: StreamPendingCountReply = redis
        .query(
            redis::cmd("XPENDING")
                .arg(&stream)
                .arg(&group)
                .arg("-")
                .arg("+")
                .arg(args.count),
            &format!("XPENDING {stream} {group} - + {}", args.count),
        )
        .await?;
    let now = redis.now_ms().await?;
    let mut pipe = redis::pipe();
    for p in &listed.ids {
        pipe.cmd("XRANGE").arg(&stream).arg(&p.id).arg(&p.id);
    }
    let bodies: Vec<StreamRangeReply> = if listed.ids.is_empty() {
        Vec::new()
    } else {
        redis
            .pipe(&pipe, &format!("reading the pending entries of {stream}"))
            .await?
    };
    let entries: Vec<PendingEntry> = listed
        .ids
        .into_iter()
        .zip(
            bodies
                .into_iter()
                .map(Some)
                .chain(std::iter::repeat_with(|| None)),
        )
        .map(|(p, body)| {
            let entry = body.and_then(|b| b.ids.into_iter().next());
            let envelope: Option<Value> = entry
                .as_ref()
                .and_then(|e| field_text(&e.map, keys::FIELD_ENVELOPE))
                .and_then(|t| serde_json::from_str(&t).ok());
            PendingEntry {
                age_ms: clock::id_ms(&p.id).map(|ms| now.saturating_sub(ms)),
                method: envelope
                    .as_ref()
                    .and_then(|v| v.get("method"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                request_id: envelope.as_ref().and_then(|v| v.get("id")).cloned(),
                deleted: entry.is_none(),
                id: p.id,
                owner: p.consumer,
                idle_ms: p.last_delivered_ms,
                deliveries: p.times_delivered,
            }
        })
        .collect();
    if global.json {
        return output::json(&serde_json::json!({
            "service": args.service,
            "stream": stream,
            "group": group,
            "total": total,
            "entries": entries,
        }));
    }
    if entries.is_empty() {
        return output::line(&format!(
            "no pending entries in group `{group}` of {stream}: every delivered request was acknowledged"
        ));
    }
    let mut table = Table::new(&[
        "ENTRY",
        "AGE",
        "OWNER",
        "IDLE",
        "DELIVERIES",
        "METHOD",
        "ID",
    ])
    .right(&[1, 3, 4]);
    for e in &entries {
        table.push(vec![
            e.id.clone(),
            e.age_ms.map_or_else(|| "-".to_owned(), clock::human),
            e.owner.clone(),
            clock::human(e.idle_ms as u64),
            e.deliveries.to_string(),
            match (&e.method, e.deleted) {
                (_, true) => "(entry deleted)".to_owned(),
                (Some(m), false) => m.clone(),
                (None, false) => "(not an envelope)".to_owned(),
            },
            e.request_id
                .as_ref()
                .map_or_else(|| "-".to_owned(), |id| truncate(&id_text(id), 40)),
        ]);
    }
    output::line(&table.render())?;
    output::line(&format!(
        "{total} pending in group `{group}` of {stream}{}",
        if total > entries.len() {
            format!(
                " (showing the oldest {}; raise --count for more)",
                entries.len()
            )
        } else {
            String::new()
        }
    ))
}

/// A JSON-RPC id as shown in tables: strings without quotes.
pub(crate) fn id_text(id: &Value) -> String {
    id.as_str().map_or_else(|| id.to_string(), str::to_owned)
}
