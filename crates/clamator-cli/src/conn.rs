//! The inspection connection: a Redis connection for the commands that read
//! (and, for `gc`, delete) keys directly, bounded so an unreachable Redis fails
//! within seconds instead of hanging.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, FromRedisValue, Pipeline, RedisError};

use crate::error::CliError;

/// Bound on opening a connection: an unreachable host fails within it.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on one non-blocking command.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Keys SCAN is asked for per round trip.
const SCAN_COUNT: usize = 1_000;

/// A connection to Redis and the URL it came from (for error messages).
#[derive(Clone)]
pub(crate) struct Redis {
    /// The connection; cheap to clone, commands are pipelined on it.
    conn: MultiplexedConnection,
    /// Where it goes.
    url: String,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("url", &self.url).finish()
    }
}

/// Parses a Redis URL; a bad one is a usage error.
pub(crate) fn client(url: &str) -> Result<Client, CliError> {
    Client::open(url).map_err(|e| {
        CliError::Usage(format!(
            "invalid Redis URL {url:?} ({e}): use the form redis://[user:password@]host:port[/db] \
             in --redis-url or REDIS_URL"
        ))
    })
}

impl Redis {
    /// Connects with redis-rs's response timeout set to `response` (`None` for
    /// blocking reads, which we bound ourselves) and checks the link with PING.
    async fn open(url: &str, response: Option<Duration>) -> Result<Redis, CliError> {
        let client = client(url)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(response);
        let unreachable = |reason: String| CliError::Unreachable {
            url: url.to_owned(),
            reason,
        };
        let conn = match tokio::time::timeout(
            CONNECT_TIMEOUT + Duration::from_millis(500),
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Err(_) => {
                return Err(unreachable(format!(
                    "no connection within {} ms",
                    CONNECT_TIMEOUT.as_millis()
                )));
            }
            Ok(Err(e)) if e.is_timeout() => {
                return Err(unreachable(format!(
                    "no answer within {} ms ({e})",
                    CONNECT_TIMEOUT.as_millis()
                )));
            }
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Ok(Ok(conn)) => conn,
        };
        let mut redis = Redis {
            conn,
            url: url.to_owned(),
        };
        // Something may accept connections and never answer: bound the first reply too.
        match redis
            .try_query_within::<String>(&redis::cmd("PING"), CONNECT_TIMEOUT)
            .await
        {
            Ok(Ok(_)) => Ok(redis),
            Ok(Err(e)) => Err(unreachable(format!("PING failed: {e}"))),
            Err(_) => Err(unreachable(format!(
                "connected, but no answer to PING within {} ms (is it a Redis server?)",
                CONNECT_TIMEOUT.as_millis()
            ))),
        }
    }

    /// A connection for ordinary commands.
    pub(crate) async fn connect(url: &str) -> Result<Redis, CliError> {
        Redis::open(url, Some(COMMAND_TIMEOUT)).await
    }

    /// A connection of its own for blocking reads (`XREAD BLOCK`).
    pub(crate) async fn connect_blocking(url: &str) -> Result<Redis, CliError> {
        Redis::open(url, None).await
    }

    /// A failure of `doing` as a CLI error.
    pub(crate) fn error(&self, doing: &str, reason: impl std::fmt::Display) -> CliError {
        CliError::Redis {
            doing: doing.to_owned(),
            reason: reason.to_string(),
            url: self.url.clone(),
        }
    }

    /// Runs `cmd` within `bound`, keeping Redis's own error for the caller to inspect
    /// (`Ok(Err(_))`); `Err(_)` is a timeout.
    pub(crate) async fn try_query_within<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        bound: Duration,
    ) -> Result<Result<T, RedisError>, CliError> {
        match tokio::time::timeout(bound, cmd.query_async::<T>(&mut self.conn)).await {
            Ok(result) => Ok(result),
            Err(_) => Err(CliError::Redis {
                doing: command_name(cmd),
                reason: format!("no answer within {} ms", bound.as_millis()),
                url: self.url.clone(),
            }),
        }
    }

    /// Runs `cmd`, keeping Redis's own error for the caller to inspect.
    pub(crate) async fn try_query<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
    ) -> Result<Result<T, RedisError>, CliError> {
        self.try_query_within(cmd, COMMAND_TIMEOUT).await
    }

    /// Runs `cmd`; any failure is a CLI error saying it was `doing`.
    pub(crate) async fn query<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        doing: &str,
    ) -> Result<T, CliError> {
        match self.try_query(cmd).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(doing, e)),
            Err(CliError::Redis { reason, .. }) => Err(self.error(doing, reason)),
            Err(e) => Err(e),
        }
    }

    /// Runs a pipeline; any failure is a CLI error saying it was `doing`.
    pub(crate) async fn pipe<T: FromRedisValue>(
        &mut self,
        pipe: &Pipeline,
        doing: &str,
    ) -> Result<T, CliError> {
        match tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async::<T>(&mut self.conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(doing, e)),
            Err(_) => Err(self.error(
                doing,
                format!("no answer within {} ms", COMMAND_TIMEOUT.as_millis()),
            )),
        }
    }

    /// Redis's clock in Unix milliseconds: ages of entry ids are measured against it,
    /// so a skewed local clock does not skew them.
    pub(crate) async fn now_ms(&mut self) -> Result<u64, CliError> {
        let (secs, micros): (u64, u64) = self.query(&redis::cmd("TIME"), "TIME").await?;
        Ok(secs * 1_000 + micros / 1_000)
    }

    /// Every stream whose key starts with `prefix` (matched literally), sorted.
    pub(crate) async fn scan_streams(&mut self, prefix: &str) -> Result<Vec<String>, CliError> {
        let pattern = format!("{}*", glob_escape(prefix));
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .arg("TYPE")
                .arg("stream");
            let (next, batch): (u64, Vec<String>) = self
                .query(&cmd, &format!("listing keys (SCAN MATCH {pattern})"))
                .await?;
            keys.extend(batch.into_iter().filter(|k| k.starts_with(prefix)));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// The id of the last entry of a stream, `None` when it is empty or missing.
    pub(crate) async fn last_entry_id(&mut self, key: &str) -> Result<Option<String>, CliError> {
        let mut cmd = redis::cmd("XREVRANGE");
        cmd.arg(key).arg("+").arg("-").arg("COUNT").arg(1);
        let reply: redis::streams::StreamRangeReply = self
            .query(&cmd, &format!("reading the last entry of {key}"))
            .await?;
        Ok(reply.ids.into_iter().next().map(|e| e.id))
    }
}

/// The command's name, for messages.
fn command_name(cmd: &Cmd) -> String {
    cmd.args_iter()
        .next()
        .and_then(|arg| match arg {
            redis::Arg::Simple(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        })
        .unwrap_or_else(|| "a Redis command".to_owned())
}

/// The URL with its password (if any) replaced by `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let (userinfo, host) = authority.split_at(at);
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{host}{path}"),
        None => url.to_owned(),
    }
}

/// `s` with the glob characters of SCAN MATCH (`* ? [ ] \`) escaped.
pub(crate) fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A stream field's value as text.
pub(crate) fn field_text(
    map: &std::collections::HashMap<String, redis::Value>,
    field: &str,
) -> Option<String> {
    map.get(field)
        .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("redis://:pw@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact("rediss://u:p@ss@h"), "rediss://u:***@h");
        assert_eq!(redact("redis://user@h"), "redis://user@h");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
        assert_eq!(redact("nonsense"), "nonsense");
    }

    #[test]
    fn escapes_glob_characters() {
        assert_eq!(glob_escape("app:cmds:"), "app:cmds:");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
