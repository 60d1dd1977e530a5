//! The inspection connection: a Redis connection for the commands that read
//! (and, for `gc`, delete) keys directly, bounded so an unreachable Redis fails
//! within seconds instead of hanging.

use std::path::Path;
use std::time::Duration;

use clamator_over_redis::ops::Conn;
use clamator_over_redis::{ConfigError, ConnectError, ConnectOptions};
#[cfg(feature = "cluster")]
use redis::Value;
use redis::{Cmd, FromRedisValue, Pipeline, RedisError};

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
    conn: Conn,
    /// Where it goes.
    url: String,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("url", &self.url).finish()
    }
}

/// Where Redis is and how to reach it: the URL and, for `rediss://`, the TLS
/// settings. Every connection of a command, the client's and the inspection
/// ones, is opened from the [`ConnectOptions`] it builds.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The URL, for messages (shown redacted); with a cluster, the seeds
    /// comma-separated.
    pub(crate) url: String,
    /// Whether `url` names the seeds of a Redis Cluster (refused when built
    /// without the `cluster` feature, so then never read).
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    cluster: bool,
    /// TLS settings from --tls-ca / --tls-cert / --tls-key.
    #[cfg(feature = "tls")]
    tls: Option<clamator_over_redis::TlsOptions>,
}

impl Target {
    /// `url` with these TLS files (read and checked now); a bad file, or TLS
    /// files for a `redis://` URL, is a usage error.
    pub(crate) fn new(
        url: &str,
        cluster: bool,
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Target, CliError> {
        let wants_tls = ca.is_some() || cert.is_some() || key.is_some();
        #[cfg(feature = "tls")]
        let tls = match wants_tls {
            false => None,
            true => {
                let usage = |e: ConfigError| CliError::Usage(e.to_string());
                let mut tls = clamator_over_redis::TlsOptions::new();
                if let Some(ca) = ca {
                    tls = tls.ca_pem_file(ca).map_err(usage)?;
                }
                match (cert, key) {
                    (Some(cert), Some(key)) => {
                        tls = tls.client_cert_pem_files(cert, key).map_err(usage)?;
                    }
                    (None, None) => {}
                    (Some(_), None) | (None, Some(_)) => {
                        return Err(CliError::Usage(
                            "--tls-cert and --tls-key go together: pass the client certificate \
                             and its key (or CLAMATOR_TLS_CERT and CLAMATOR_TLS_KEY)"
                                .to_owned(),
                        ));
                    }
                }
                Some(tls)
            }
        };
        #[cfg(not(feature = "tls"))]
        if wants_tls {
            return Err(CliError::Usage(
                "this clamator was built without TLS: rebuild it with its `tls` feature (on by \
                 default) to use --tls-ca, --tls-cert and --tls-key"
                    .to_owned(),
            ));
        }
        #[cfg(not(feature = "cluster"))]
        if cluster || (url.contains(',') && !clamator_over_redis::is_sentinel_url(url)) {
            return Err(CliError::Usage(
                "this clamator was built without Redis Cluster support: rebuild it with its \
                 `cluster` feature (on by default) to use --cluster or several --redis-url"
                    .to_owned(),
            ));
        }
        let target = Target {
            url: url.to_owned(),
            cluster,
            #[cfg(feature = "tls")]
            tls,
        };
        target.connect_options("clamator")?; // a bad URL is a usage error now
        Ok(target)
    }

    /// A plain URL without TLS settings (the demo's throwaway Redis).
    pub(crate) fn plain(url: &str) -> Target {
        Target {
            url: url.to_owned(),
            cluster: false,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Connect options for `prefix`; a bad URL or TLS setting is a usage error.
    pub(crate) fn connect_options(&self, prefix: &str) -> Result<ConnectOptions, CliError> {
        let usage = |e: ConfigError| {
            CliError::Usage(format!(
                "{e} (in --redis-url or REDIS_URL: redis://[user:password@]host:port[/db], or \
                 rediss:// for TLS)"
            ))
        };
        #[cfg(feature = "cluster")]
        let conn = if self.cluster {
            ConnectOptions::cluster(prefix, [self.url.as_str()]).map_err(usage)?
        } else {
            ConnectOptions::new(prefix, &self.url).map_err(usage)?
        };
        #[cfg(not(feature = "cluster"))]
        let conn = ConnectOptions::new(prefix, &self.url).map_err(usage)?;
        #[cfg(feature = "tls")]
        let conn = match &self.tls {
            Some(tls) => conn
                .tls(tls.clone())
                .map_err(|e| CliError::Usage(e.to_string()))?,
            None => conn,
        };
        Ok(conn)
    }
}

impl Redis {
    /// Opens a connection the way servers and clients do
    /// ([`Conn::open`]: one Redis, Sentinel's primary or a cluster; TLS
    /// failures explained), within [`CONNECT_TIMEOUT`], and checks the link
    /// with PING. No response timeout of its own: every command here is
    /// bounded by ours.
    async fn open(target: &Target) -> Result<Redis, CliError> {
        let options = target
            .connect_options("clamator")?
            .command_timeout(CONNECT_TIMEOUT);
        let url = target.url.as_str();
        let conn = Conn::open(&options)
            .await
            .map_err(|e| open_failed(url, options.is_cluster(), &e))?;
        Redis {
            conn,
            url: url.to_owned(),
        }
        .checked()
        .await
    }

    /// Checks the link with PING, bounded.
    async fn checked(self) -> Result<Redis, CliError> {
        let mut redis = self;
        let url = redis.url.clone();
        let unreachable = |reason: String| CliError::Unreachable {
            url: url.clone(),
            reason,
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
    pub(crate) async fn connect(target: &Target) -> Result<Redis, CliError> {
        Redis::open(target).await
    }

    /// A connection of its own for blocking reads (`XREAD BLOCK`): not
    /// shared with other commands, which would wait behind the read.
    pub(crate) async fn connect_blocking(target: &Target) -> Result<Redis, CliError> {
        Redis::open(target).await
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

    /// Whether this is a cluster connection.
    pub(crate) fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
    }

    /// Every stream whose key starts with `prefix` (matched literally),
    /// sorted; on a cluster, of every primary.
    pub(crate) async fn scan_streams(&mut self, prefix: &str) -> Result<Vec<String>, CliError> {
        #[cfg(feature = "cluster")]
        if let Conn::Cluster(conn) = &self.conn {
            let mut conn = conn.clone();
            let mut keys = Vec::new();
            for (host, port) in self.primaries().await? {
                let mut cursor = 0;
                loop {
                    let (next, batch) = self
                        .scan_page(&mut conn, (&host, port), prefix, cursor)
                        .await?;
                    keys.extend(batch);
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
            keys.sort();
            keys.dedup();
            return Ok(keys);
        }
        let pattern = format!("{}*", glob_escape(prefix));
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let cmd = scan_command(cursor, &pattern);
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

    /// The primaries of the cluster, as `CLUSTER SLOTS` names them.
    #[cfg(feature = "cluster")]
    pub(crate) async fn primaries(&mut self) -> Result<Vec<(String, u16)>, CliError> {
        let slots: Vec<Value> = self
            .query(
                redis::cmd("CLUSTER").arg("SLOTS"),
                "listing the cluster's primaries (CLUSTER SLOTS)",
            )
            .await?;
        let mut out = Vec::new();
        for range in slots {
            let Value::Array(items) = range else { continue };
            let Some(Value::Array(node)) = items.get(2) else {
                continue;
            };
            let host = node
                .first()
                .and_then(|v| redis::from_redis_value_ref::<String>(v).ok());
            let port = node
                .get(1)
                .and_then(|v| redis::from_redis_value_ref::<u16>(v).ok());
            if let (Some(host), Some(port)) = (host, port)
                && !out.contains(&(host.clone(), port))
            {
                out.push((host, port));
            }
        }
        out.sort();
        Ok(out)
    }

    /// One `SCAN` page of stream keys under `prefix`, on the node at `at` (a
    /// cluster primary).
    #[cfg(feature = "cluster")]
    async fn scan_page(
        &self,
        conn: &mut redis::cluster_async::ClusterConnection,
        (host, port): (&str, u16),
        prefix: &str,
        cursor: u64,
    ) -> Result<(u64, Vec<String>), CliError> {
        use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
        let pattern = format!("{}*", glob_escape(prefix));
        let cmd = scan_command(cursor, &pattern);
        let route = SingleNodeRoutingInfo::ByAddress {
            host: host.to_owned(),
            port,
        };
        let doing = format!("listing keys (SCAN MATCH {pattern}) on {host}:{port}");
        let value = match tokio::time::timeout(
            COMMAND_TIMEOUT,
            conn.route_command(cmd, RoutingInfo::SingleNode(route)),
        )
        .await
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Err(self.error(&doing, e)),
            Err(_) => {
                return Err(self.error(
                    &doing,
                    format!("no answer within {} ms", COMMAND_TIMEOUT.as_millis()),
                ));
            }
        };
        let (next, batch): (u64, Vec<String>) =
            redis::from_redis_value(value).map_err(|e| self.error(&doing, e))?;
        Ok((
            next,
            batch
                .into_iter()
                .filter(|k| k.starts_with(prefix))
                .collect(),
        ))
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

/// Why opening a connection to `url` failed, as a CLI error: a TLS failure
/// with what to change, or Redis unreachable with the reason.
fn open_failed(url: &str, cluster: bool, error: &ConnectError) -> CliError {
    let reason = match error {
        ConnectError::Tls(tls) => {
            return CliError::Tls {
                url: url.to_owned(),
                reason: tls.to_string(),
            };
        }
        ConnectError::Config(error) => return CliError::Usage(error.to_string()),
        // The transport's own wording ("...; check that Redis runs there")
        // repeats what the CLI message says: keep the cause.
        ConnectError::Unreachable { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    CliError::Unreachable {
        url: url.to_owned(),
        reason: match cluster {
            true => format!("{reason} (as a Redis Cluster)"),
            false => reason,
        },
    }
}

/// `SCAN <cursor> MATCH <pattern> COUNT <n> TYPE stream`.
fn scan_command(cursor: u64, pattern: &str) -> Cmd {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(SCAN_COUNT)
        .arg("TYPE")
        .arg("stream");
    cmd
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

/// The URL with its password (if any) replaced by `***`, for messages; each
/// of a comma-separated list of URLs (cluster seeds).
pub(crate) fn redact(url: &str) -> String {
    clamator_over_redis::ops::redact_url(url)
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

/// Whether Redis refused a command because its key does not exist (`XINFO`
/// on a stream deleted since it was listed).
pub(crate) fn is_no_such_key(e: &RedisError) -> bool {
    e.to_string().to_ascii_lowercase().contains("no such key")
}

/// A field of an `XINFO` reply: a map in RESP3, a flat list of name, value
/// pairs in RESP2.
pub(crate) fn info_field<'a>(info: &'a redis::Value, name: &str) -> Option<&'a redis::Value> {
    let is_name =
        |k: &redis::Value| redis::from_redis_value_ref::<String>(k).is_ok_and(|k| k == name);
    match info {
        redis::Value::Map(pairs) => pairs.iter().find(|(k, _)| is_name(k)).map(|(_, v)| v),
        redis::Value::Array(items) => items
            .chunks(2)
            .find(|pair| pair.first().is_some_and(is_name))
            .and_then(|pair| pair.get(1)),
        _ => None,
    }
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
        assert_eq!(
            redact("redis://u:p@h:1,redis://u:p@h:2"),
            "redis://u:***@h:1,redis://u:***@h:2"
        );
    }

    #[test]
    fn escapes_glob_characters() {
        assert_eq!(glob_escape("app:cmds:"), "app:cmds:");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
