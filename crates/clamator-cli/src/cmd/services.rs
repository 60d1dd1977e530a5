//! `clamator services`: every command stream under the prefix, its consumer
//! groups, their consumers, lag and oldest pending entry, and how many dead
//! letters the service has.

use clamator_over_redis::ops::{StreamId, keys};
use redis::streams::{StreamInfoConsumersReply, StreamInfoGroupsReply, StreamPendingReply};
use serde::Serialize;

use crate::clock;
use crate::conn::{Redis, info_field, is_no_such_key, redact};
use crate::error::CliError;
use crate::global::Global;
use crate::output;
use crate::table::Table;

/// Entries counted one by one at most when Redis does not report a group's lag.
const LAG_COUNT_LIMIT: usize = 1_000;

/// Options of `clamator services` (none besides the global ones).
#[derive(clap::Args, Debug)]
pub(crate) struct ServicesArgs {}

/// One service: its command stream and groups.
#[derive(Debug, Serialize)]
pub(crate) struct ServiceInfo {
    /// The service name.
    pub(crate) service: String,
    /// `<prefix>:cmds:<service>`.
    pub(crate) stream: String,
    /// Entries in the stream.
    pub(crate) length: usize,
    /// Entries ever added to the stream (`entries-added` of `XINFO STREAM`,
    /// Redis 7+; `null` before): requests and notifications, trimmed or not.
    pub(crate) entries_added: Option<u64>,
    /// Id of the newest entry, `null` when empty.
    pub(crate) last_entry_id: Option<String>,
    /// The consumer groups (normally one, named after the service).
    pub(crate) groups: Vec<GroupInfo>,
    /// `<prefix>:dead:<service>`: requests no worker ever acknowledged.
    pub(crate) dead_stream: String,
    /// Entries in the dead-letter stream (0 when it does not exist); `null`
    /// when the key is not a stream.
    pub(crate) dead_letters: Option<usize>,
}

impl ServiceInfo {
    /// The service's own group (named after it), the one its workers read with.
    pub(crate) fn own_group(&self) -> Option<&GroupInfo> {
        let name = keys::group(&self.service);
        self.groups.iter().find(|g| g.name == name)
    }
}

/// One consumer group on a command stream.
#[derive(Debug, Serialize)]
pub(crate) struct GroupInfo {
    /// The group name.
    pub(crate) name: String,
    /// The last entry id delivered to the group.
    pub(crate) last_delivered_id: String,
    /// Entries delivered and not acknowledged yet.
    pub(crate) pending: usize,
    /// Entries not delivered yet; `null` when unknown.
    pub(crate) lag: Option<usize>,
    /// Where `lag` comes from: `redis` (XINFO GROUPS), `counted`, or `unknown`.
    pub(crate) lag_source: &'static str,
    /// The oldest pending entry id.
    pub(crate) oldest_pending_id: Option<String>,
    /// Its age (from its id's timestamp, against Redis's clock).
    pub(crate) oldest_pending_age_ms: Option<u64>,
    /// The workers in the group.
    pub(crate) consumers: Vec<ConsumerInfo>,
}

/// One consumer (one server instance) in a group.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConsumerInfo {
    /// `<service>:<instance_id>`.
    pub(crate) name: String,
    /// Milliseconds since its last read or claim.
    pub(crate) idle_ms: usize,
    /// Entries it holds unacknowledged.
    pub(crate) pending: usize,
}

/// Every service under `prefix`, sorted by name. A command stream deleted
/// while it is being inspected is left out rather than failing the whole list.
pub(crate) async fn collect(redis: &mut Redis, prefix: &str) -> Result<Vec<ServiceInfo>, CliError> {
    let stream_prefix = keys::command_stream(prefix, "");
    let streams = redis.scan_streams(&stream_prefix).await?;
    let now = redis.now_ms().await?;
    let mut services = Vec::with_capacity(streams.len());
    for stream in streams {
        let service = stream
            .strip_prefix(&stream_prefix)
            .unwrap_or(&stream)
            .to_owned();
        let dead_stream = keys::dead_letter_stream(prefix, &service);
        if let Some(info) = inspect(redis, service, stream, dead_stream, now).await? {
            services.push(info);
        }
    }
    Ok(services)
}

/// Lists the services under the prefix.
pub(crate) async fn run(global: &Global, _args: ServicesArgs) -> Result<(), CliError> {
    let prefix = global.prefix("services")?;
    let mut redis = Redis::connect(&global.target()?).await?;
    let stream_prefix = keys::command_stream(prefix, "");
    let services = collect(&mut redis, prefix).await?;
    if global.json {
        return output::json(&services);
    }
    if services.is_empty() {
        return output::line(&format!(
            "no services under key prefix `{prefix}` (no stream matches {stream_prefix}*): \
             check the prefix (--key-prefix / CLAMATOR_KEY_PREFIX) and the Redis URL ({})",
            redact(&global.redis_url)
        ));
    }
    let mut summary = Table::new(&[
        "SERVICE",
        "STREAM",
        "LENGTH",
        "GROUP",
        "CONSUMERS",
        "PENDING",
        "LAG",
        "OLDEST PENDING",
        "DEAD",
    ])
    .right(&[2, 4, 5, 6, 7, 8]);
    let mut consumers =
        Table::new(&["SERVICE", "GROUP", "CONSUMER", "IDLE", "PENDING"]).right(&[3, 4]);
    for s in &services {
        let dead = s
            .dead_letters
            .map_or_else(|| "-".to_owned(), |n| n.to_string());
        if s.groups.is_empty() {
            summary.push(vec![
                s.service.clone(),
                s.stream.clone(),
                s.length.to_string(),
                "- (no group: never served)".to_owned(),
                "0".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                dead.clone(),
            ]);
        }
        for g in &s.groups {
            summary.push(vec![
                s.service.clone(),
                s.stream.clone(),
                s.length.to_string(),
                g.name.clone(),
                g.consumers.len().to_string(),
                g.pending.to_string(),
                g.lag.map_or_else(|| "-".to_owned(), |l| l.to_string()),
                g.oldest_pending_age_ms
                    .map_or_else(|| "-".to_owned(), clock::human),
                dead.clone(),
            ]);
            for c in &g.consumers {
                consumers.push(vec![
                    s.service.clone(),
                    g.name.clone(),
                    c.name.clone(),
                    clock::human(c.idle_ms as u64),
                    c.pending.to_string(),
                ]);
            }
        }
    }
    output::line(&summary.render())?;
    if !consumers.is_empty() {
        output::line("")?;
        output::line(&consumers.render())?;
    }
    if services.iter().any(|s| s.dead_letters.unwrap_or(0) > 0) {
        output::line("")?;
        output::line(
            "DEAD counts requests no worker ever acknowledged: `clamator dead <service>` \
             lists them and requeues them",
        )?;
    }
    Ok(())
}

/// Everything about one command stream; `None` when it no longer exists.
async fn inspect(
    redis: &mut Redis,
    service: String,
    stream: String,
    dead_stream: String,
    now: u64,
) -> Result<Option<ServiceInfo>, CliError> {
    let info: redis::Value = match redis
        .try_query(redis::cmd("XINFO").arg("STREAM").arg(&stream))
        .await?
    {
        Ok(info) => info,
        Err(e) if is_no_such_key(&e) => return Ok(None),
        Err(e) => return Err(redis.error(&format!("XINFO STREAM {stream}"), e)),
    };
    let entries_added =
        info_field(&info, "entries-added").and_then(|v| redis::from_redis_value_ref::<u64>(v).ok());
    let length: usize = redis
        .query(redis::cmd("XLEN").arg(&stream), &format!("XLEN {stream}"))
        .await?;
    let last_entry_id = redis.last_entry_id(&stream).await?;
    let groups: StreamInfoGroupsReply = redis
        .query(
            redis::cmd("XINFO").arg("GROUPS").arg(&stream),
            &format!("XINFO GROUPS {stream}"),
        )
        .await?;
    let mut out = Vec::with_capacity(groups.groups.len());
    for g in groups.groups {
        let members: StreamInfoConsumersReply = redis
            .query(
                redis::cmd("XINFO")
                    .arg("CONSUMERS")
                    .arg(&stream)
                    .arg(&g.name),
                &format!("XINFO CONSUMERS {stream} {}", g.name),
            )
            .await?;
        let summary: StreamPendingReply = redis
            .query(
                redis::cmd("XPENDING").arg(&stream).arg(&g.name),
                &format!("XPENDING {stream} {}", g.name),
            )
            .await?;
        let oldest_pending_id = match summary {
            StreamPendingReply::Data(d) if d.count > 0 => Some(d.start_id),
            _ => None,
        };
        let (lag, lag_source) = match g.lag {
            Some(lag) => (Some(lag), "redis"),
            None => match count_lag(
                redis,
                &stream,
                &g.last_delivered_id,
                last_entry_id.as_deref(),
            )
            .await?
            {
                Some(lag) => (Some(lag), "counted"),
                None => (None, "unknown"),
            },
        };
        out.push(GroupInfo {
            oldest_pending_age_ms: oldest_pending_id
                .as_deref()
                .and_then(clock::id_ms)
                .map(|ms| now.saturating_sub(ms)),
            oldest_pending_id,
            name: g.name,
            last_delivered_id: g.last_delivered_id,
            pending: g.pending,
            lag,
            lag_source,
            consumers: members
                .consumers
                .into_iter()
                .map(|c| ConsumerInfo {
                    name: c.name,
                    idle_ms: c.idle,
                    pending: c.pending,
                })
                .collect(),
        });
    }
    // XLEN is 0 for a missing key; a key of another type is not ours to count.
    let dead_letters = redis
        .try_query::<usize>(redis::cmd("XLEN").arg(&dead_stream))
        .await?
        .ok();
    Ok(Some(ServiceInfo {
        service,
        stream,
        length,
        entries_added,
        last_entry_id,
        groups: out,
        dead_stream,
        dead_letters,
    }))
}

/// The group's lag when Redis does not report it (before Redis 7, or after
/// deletions): 0 when the last entry was delivered, else the entries after the
/// last delivered one, counted up to a limit (`None` beyond it).
async fn count_lag(
    redis: &mut Redis,
    stream: &str,
    last_delivered: &str,
    last_entry: Option<&str>,
) -> Result<Option<usize>, CliError> {
    let Some(last_entry) = last_entry else {
        return Ok(Some(0));
    };
    if StreamId::parse(last_entry) <= StreamId::parse(last_delivered) {
        return Ok(Some(0));
    }
    let mut cmd = redis::cmd("XRANGE");
    cmd.arg(stream)
        .arg(format!("({last_delivered}"))
        .arg("+")
        .arg("COUNT")
        .arg(LAG_COUNT_LIMIT + 1);
    let reply: redis::streams::StreamRangeReply = redis
        .query(&cmd, &format!("counting undelivered entries of {stream}"))
        .await?;
    Ok((reply.ids.len() <= LAG_COUNT_LIMIT).then_some(reply.ids.len()))
}
