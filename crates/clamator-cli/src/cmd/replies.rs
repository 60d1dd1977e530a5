//! `clamator replies` lists the reply streams under the prefix; `clamator gc`
//! deletes those idle longer than a threshold (a dry run without `--yes`).
//!
//! A reply stream belongs to one client instance, which deletes it at stop; a
//! client that crashed leaves it behind. Only keys that are streams, named
//! `<prefix>:replies:<instance>`, and have no consumer group (command streams
//! always have one) are ever deleted, and each deletion re-checks that in one
//! atomic script together with "no entry was added since it was listed".

use std::time::Duration;

use clamator_over_redis::ops::keys;
use serde::Serialize;

use crate::clock;
use crate::conn::{Redis, is_no_such_key};
use crate::error::CliError;
use crate::global::Global;
use crate::output;
use crate::table::Table;

/// Options of `clamator replies` (none besides the global ones).
#[derive(clap::Args, Debug)]
pub(crate) struct RepliesArgs {}

/// Options of `clamator gc`.
#[derive(clap::Args, Debug)]
pub(crate) struct GcArgs {
    /// Delete reply streams whose last entry is older than this (`30s`, `10m`, `1h`, `2d`);
    /// empty reply streams always qualify.
    #[arg(long, value_name = "DURATION", default_value = "1h",
          value_parser = clock::parse_duration)]
    older_than: Duration,

    /// Really delete; without it, only list what would be deleted.
    #[arg(long)]
    yes: bool,
}

/// One reply stream.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReplyStream {
    /// The key.
    pub(crate) stream: String,
    /// The client instance it belongs to.
    pub(crate) instance: String,
    /// Entries in it.
    pub(crate) length: usize,
    /// The newest entry id, `null` when empty.
    pub(crate) last_entry_id: Option<String>,
    /// Milliseconds since the newest entry was written (Redis's clock), `null` when empty.
    pub(crate) idle_ms: Option<u64>,
}

impl ReplyStream {
    /// Whether nothing was written to it for longer than `threshold_ms`
    /// (an empty stream always is): what `gc` would delete.
    pub(crate) fn idle_longer_than(&self, threshold_ms: u64) -> bool {
        self.idle_ms.is_none_or(|ms| ms > threshold_ms)
    }
}

/// Deletes `KEYS[1]` only if it is a stream without consumer groups whose last
/// entry id is still `ARGV[1]` (`""` for empty); returns 1 when deleted.
const DELETE_IF_UNCHANGED: &str = r"
local t = redis.call('TYPE', KEYS[1])
if t['ok'] ~= 'stream' then return 0 end
if #redis.call('XINFO', 'GROUPS', KEYS[1]) > 0 then return 0 end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local last_id = ''
if #last > 0 then last_id = last[1][1] end
if last_id ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
";

/// The reply streams under `prefix`, with their activity. A stream deleted
/// while it is being listed (its client stopped) is left out.
pub(crate) async fn list(redis: &mut Redis, prefix: &str) -> Result<Vec<ReplyStream>, CliError> {
    let stream_prefix = keys::reply_stream(prefix, "");
    let keys = redis.scan_streams(&stream_prefix).await?;
    let now = redis.now_ms().await?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(instance) = key.strip_prefix(&stream_prefix) else {
            continue;
        };
        let groups: redis::streams::StreamInfoGroupsReply = match redis
            .try_query(redis::cmd("XINFO").arg("GROUPS").arg(&key))
            .await?
        {
            Ok(groups) => groups,
            Err(e) if is_no_such_key(&e) => continue,
            Err(e) => return Err(redis.error(&format!("XINFO GROUPS {key}"), e)),
        };
        if !groups.groups.is_empty() {
            // A stream with a consumer group is a command stream (another
            // prefix's, e.g. `<prefix>:replies` used as a prefix): never ours.
            continue;
        }
        let length: usize = redis
            .query(redis::cmd("XLEN").arg(&key), &format!("XLEN {key}"))
            .await?;
        let last_entry_id = redis.last_entry_id(&key).await?;
        out.push(ReplyStream {
            idle_ms: last_entry_id
                .as_deref()
                .and_then(clock::id_ms)
                .map(|ms| now.saturating_sub(ms)),
            instance: instance.to_owned(),
            stream: key,
            length,
            last_entry_id,
        });
    }
    Ok(out)
}

fn table(streams: &[ReplyStream]) -> Table {
    let mut t = Table::new(&["STREAM", "LENGTH", "LAST ACTIVITY", "LAST ENTRY"]).right(&[1, 2]);
    for s in streams {
        t.push(vec![
            s.stream.clone(),
            s.length.to_string(),
            s.idle_ms
                .map_or_else(|| "-".to_owned(), |ms| format!("{} ago", clock::human(ms))),
            s.last_entry_id.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    t
}

/// Lists the reply streams under the prefix.
pub(crate) async fn run_replies(global: &Global, _args: RepliesArgs) -> Result<(), CliError> {
    let prefix = global.prefix("replies")?;
    let mut redis = Redis::connect(&global.target()?).await?;
    let streams = list(&mut redis, prefix).await?;
    if global.json {
        return output::json(&streams);
    }
    if streams.is_empty() {
        return output::line(&format!(
            "no reply streams under key prefix `{prefix}` (none matches {}*)",
            keys::reply_stream(prefix, "")
        ));
    }
    output::line(&table(&streams).render())
}

/// Deletes (or with no `--yes`, lists) the reply streams idle longer than `--older-than`.
pub(crate) async fn run_gc(global: &Global, args: GcArgs) -> Result<(), CliError> {
    let prefix = global.prefix("gc")?;
    let mut redis = Redis::connect(&global.target()?).await?;
    let threshold = u64::try_from(args.older_than.as_millis()).unwrap_or(u64::MAX);
    let (idle, kept): (Vec<_>, Vec<_>) = list(&mut redis, prefix)
        .await?
        .into_iter()
        .partition(|s| s.idle_longer_than(threshold));
    let older_than = clock::human(threshold);
    let mut deleted = Vec::new();
    let mut changed = Vec::new();
    if args.yes {
        for s in &idle {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(DELETE_IF_UNCHANGED)
                .arg(1)
                .arg(&s.stream)
                .arg(s.last_entry_id.as_deref().unwrap_or(""));
            let n: i64 = redis.query(&cmd, &format!("deleting {}", s.stream)).await?;
            if n == 1 {
                deleted.push(s.clone());
            } else {
                changed.push(s.clone());
            }
        }
    }
    if global.json {
        return output::json(&serde_json::json!({
            "dry_run": !args.yes,
            "older_than_ms": threshold,
            "would_delete": if args.yes { Vec::new() } else { idle.clone() },
            "deleted": deleted,
            "skipped_changed": changed,
            "kept": kept.len(),
        }));
    }
    if !args.yes {
        if idle.is_empty() {
            return output::line(&format!(
                "nothing to delete: no reply stream under `{prefix}` is idle longer than \
                 {older_than} ({} kept)",
                kept.len()
            ));
        }
        output::line(&format!(
            "dry run: would delete {} reply stream(s) idle longer than {older_than} ({} kept); \
             run again with --yes to delete them:",
            idle.len(),
            kept.len()
        ))?;
        return output::line(&table(&idle).render());
    }
    if deleted.is_empty() && changed.is_empty() {
        return output::line(&format!(
            "nothing deleted: no reply stream under `{prefix}` is idle longer than {older_than} \
             ({} kept)",
            kept.len()
        ));
    }
    output::line(&format!(
        "deleted {} reply stream(s) idle longer than {older_than} ({} kept):",
        deleted.len(),
        kept.len()
    ))?;
    output::line(&table(&deleted).render())?;
    if !changed.is_empty() {
        output::line(&format!(
            "left {} stream(s) alone that received entries (or changed) since they were listed",
            changed.len()
        ))?;
    }
    Ok(())
}
