//! [`RedisConfig`]: where Redis is, the key prefix, and the knobs of servers and
//! clients, with defaults equal to the peer's (WIRE.md §5, §6).

use std::time::Duration;

use clamator_protocol::TransportError;

/// The Redis URL used when neither `redis_url`, `redis_client` nor `$REDIS_URL` is set.
pub const DEFAULT_REDIS_URL: &str = "redis://localhost:6379";
/// The environment variable read for the Redis URL when none is configured.
pub const REDIS_URL_ENV: &str = "REDIS_URL";
/// Default idle time after which another worker reclaims a pending entry: 60 s.
pub const DEFAULT_CONSUMER_CLAIM_IDLE: Duration = Duration::from_millis(60_000);
/// Default approximate cap on a reply stream's length: 1024 entries.
pub const DEFAULT_REPLY_STREAM_MAXLEN: usize = 1024;
/// Default call timeout: 30 s.
pub const DEFAULT_CALL_TIMEOUT: Duration = clamator_protocol::DEFAULT_TIMEOUT;
/// Default time `stop()` gives in-flight handlers to finish: 5 s.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_millis(5_000);
/// Default number of handlers of one service running at once on one server: 64.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;
/// Default bound on one Redis command (and on opening a connection): 5 s.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(5_000);
/// Default number of deliveries after which an entry no worker acknowledged is
/// dead-lettered instead of delivered again: 10.
pub const DEFAULT_MAX_DELIVERIES: u32 = 10;
/// Approximate cap on a dead-letter stream's length (`MAXLEN ~`): 10000 entries.
pub const DEAD_LETTER_MAXLEN: usize = 10_000;
/// Default time to live of a Rust client's reply stream, refreshed while the
/// client runs: 60 s.
pub const DEFAULT_REPLY_STREAM_TTL: Duration = Duration::from_secs(60);

/// Configuration of a [`RedisRpcServer`](crate::RedisRpcServer) or
/// [`RedisRpcClient`](crate::RedisRpcClient). Build it with [`RedisConfig::builder`].
///
/// One config may serve several servers and clients: each of them draws its
/// own random instance id unless one was set.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisConfig {
    /// Prefix of every key (`<prefix>:cmds:<service>`, `<prefix>:replies:<id>`).
    key_prefix: String,
    /// Opens connections; never a connection itself, so every loop gets its own.
    client: redis::Client,
    /// The fixed instance id, or `None` for a fresh UUID v4 per server / client.
    instance_id: Option<String>,
    /// Idle time after which the reclaim loop takes over another consumer's entry.
    consumer_claim_idle: Duration,
    /// `MAXLEN ~` of reply streams.
    reply_stream_maxlen: usize,
    /// Call timeout when a call gives none.
    default_timeout: Duration,
    /// How long `stop()` waits for in-flight handlers.
    shutdown_grace: Duration,
    /// Handlers of one service running at once on one server.
    max_concurrency: usize,
    /// Bound on one non-blocking command and on opening a connection.
    command_timeout: Duration,
    /// Whether running handlers' entries have their idle time renewed.
    renew_leases: bool,
    /// Whether servers trim delivered and acknowledged command-stream entries.
    trim_command_streams: bool,
    /// Deliveries after which an unacknowledged entry is dead-lettered; `None`: never.
    max_deliveries: Option<u32>,
    /// Whether servers skip requests whose caller's timeout has passed.
    skip_expired: bool,
    /// How long a handler may run before it is cancelled; `None`: no limit.
    handler_timeout: Option<Duration>,
    /// How long `RedisRpcServer::start` retries while Redis is unreachable; `None`: until it answers.
    start_timeout: Option<Duration>,
    /// Time to live of a client's reply stream, refreshed while it runs; `None`: no TTL.
    reply_stream_ttl: Option<Duration>,
}

impl RedisConfig {
    /// A builder for a config whose keys start with `key_prefix`.
    pub fn builder(key_prefix: impl Into<String>) -> RedisConfigBuilder {
        RedisConfigBuilder {
            key_prefix: key_prefix.into(),
            redis_url: None,
            redis_client: None,
            instance_id: None,
            consumer_claim_idle: DEFAULT_CONSUMER_CLAIM_IDLE,
            reply_stream_maxlen: DEFAULT_REPLY_STREAM_MAXLEN,
            default_timeout: DEFAULT_CALL_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            renew_leases: true,
            trim_command_streams: true,
            skip_expired: true,
            handler_timeout: None,
            max_deliveries: Some(DEFAULT_MAX_DELIVERIES),
            start_timeout: None,
            reply_stream_ttl: Some(DEFAULT_REPLY_STREAM_TTL),
        }
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The Redis client connections are opened from.
    pub fn redis_client(&self) -> &redis::Client {
        &self.client
    }

    /// The fixed instance id, if one was set.
    pub fn instance_id(&self) -> Option<&str> {
        self.instance_id.as_deref()
    }

    /// Idle time after which a pending entry is reclaimed by another worker.
    pub fn consumer_claim_idle(&self) -> Duration {
        self.consumer_claim_idle
    }

    /// Approximate maximum length of reply streams.
    pub fn reply_stream_maxlen(&self) -> usize {
        self.reply_stream_maxlen
    }

    /// The call timeout used when a call gives none.
    pub fn default_timeout(&self) -> Duration {
        self.default_timeout
    }

    /// How long `stop()` lets in-flight handlers finish.
    pub fn shutdown_grace(&self) -> Duration {
        self.shutdown_grace
    }

    /// Handlers of one service running at once on one server.
    pub fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    /// The bound on one Redis command and on opening a connection.
    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// Whether a server renews the leases of entries whose handlers still run.
    pub fn renew_leases(&self) -> bool {
        self.renew_leases
    }

    /// How long a handler may run before it is cancelled; `None`: no limit.
    pub fn handler_timeout(&self) -> Option<Duration> {
        self.handler_timeout
    }

    /// Whether servers skip requests whose caller's timeout has passed.
    pub fn skip_expired(&self) -> bool {
        self.skip_expired
    }

    /// Whether servers trim delivered and acknowledged command-stream entries.
    pub fn trim_command_streams(&self) -> bool {
        self.trim_command_streams
    }

    /// How many deliveries an entry gets before a server moves it to the
    /// service's dead-letter stream; `None` when entries are redelivered forever.
    pub fn max_deliveries(&self) -> Option<u32> {
        self.max_deliveries
    }

    /// How long a server's `start()` keeps retrying while Redis is
    /// unreachable; `None`: until Redis answers.
    pub fn start_timeout(&self) -> Option<Duration> {
        self.start_timeout
    }

    /// The time to live a client keeps on its reply stream; `None`: none.
    pub fn reply_stream_ttl(&self) -> Option<Duration> {
        self.reply_stream_ttl
    }

    /// How often a client refreshes its reply stream's TTL: a third of it (at least 100 ms).
    pub(crate) fn reply_stream_refresh(&self) -> Option<Duration> {
        self.reply_stream_ttl
            .map(|ttl| (ttl / 3).max(Duration::from_millis(100)))
    }

    /// The period of lease renewal: a third of the claim idle time (at least 100 ms).
    pub(crate) fn lease_period(&self) -> Duration {
        (self.consumer_claim_idle / 3).max(Duration::from_millis(100))
    }

    /// The period of the reclaim loop: `max(1 s, consumer_claim_idle / 4)` (WIRE.md §5).
    pub(crate) fn reclaim_period(&self) -> Duration {
        (self.consumer_claim_idle / 4).max(Duration::from_secs(1))
    }

    /// The instance id to use for a new server or client.
    pub(crate) fn new_instance_id(&self) -> String {
        self.instance_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    }
}

/// Builds a [`RedisConfig`]. Settings the peer also has default to the
/// peer's values (key names, claim idle, reply stream length, timeouts,
/// shutdown grace); the ones that go beyond the peer say their default.
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisConfigBuilder {
    key_prefix: String,
    redis_url: Option<String>,
    redis_client: Option<redis::Client>,
    instance_id: Option<String>,
    consumer_claim_idle: Duration,
    reply_stream_maxlen: usize,
    default_timeout: Duration,
    shutdown_grace: Duration,
    max_concurrency: usize,
    command_timeout: Duration,
    renew_leases: bool,
    trim_command_streams: bool,
    max_deliveries: Option<u32>,
    skip_expired: bool,
    handler_timeout: Option<Duration>,
    start_timeout: Option<Duration>,
    reply_stream_ttl: Option<Duration>,
}

impl RedisConfigBuilder {
    /// The Redis URL (`redis://host:port/db`). Default: `$REDIS_URL`, else
    /// `redis://localhost:6379`. Exclusive with [`redis_client`](Self::redis_client).
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(url.into());
        self
    }

    /// A Redis client the caller made (for TLS or custom settings). The caller
    /// keeps owning it; the transport only opens connections from it.
    /// Exclusive with [`redis_url`](Self::redis_url).
    pub fn redis_client(mut self, client: redis::Client) -> Self {
        self.redis_client = Some(client);
        self
    }

    /// A fixed instance id (names the reply stream and the consumer). Default:
    /// a fresh UUID v4 per server or client. It must be non-empty and must not
    /// contain `:` or control characters: Rust servers reply only to
    /// `<prefix>:replies:<id>` keys of that shape.
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// Idle time after which another worker reclaims a pending entry. Default 60 s.
    pub fn consumer_claim_idle(mut self, idle: Duration) -> Self {
        self.consumer_claim_idle = idle;
        self
    }

    /// Approximate maximum length of reply streams (`MAXLEN ~`). Default 1024.
    pub fn reply_stream_maxlen(mut self, maxlen: usize) -> Self {
        self.reply_stream_maxlen = maxlen;
        self
    }

    /// Call timeout when a call gives none. Default 30 s.
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// How long `stop()` lets in-flight handlers finish. Default 5 s.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Handlers of one service running at once on one server. Default 64;
    /// 1 processes one entry at a time, as the peer does.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n;
        self
    }

    /// Whether a server keeps the entries of handlers that run longer than
    /// `consumer_claim_idle` from being reclaimed (and run a second time) by
    /// other workers, by renewing their idle time every claim idle / 3 with
    /// `XCLAIM ... JUSTID`. Default `true`; `false` behaves like the peer, where
    /// such a handler runs again on another worker.
    pub fn renew_leases(mut self, on: bool) -> Self {
        self.renew_leases = on;
        self
    }

    /// Whether a server removes, once a second, the command-stream entries that
    /// every consumer group has delivered and acknowledged (`XTRIM MINID ~`),
    /// so command streams stay small. Pending and undelivered entries are never
    /// removed, whichever worker (Rust or Python) holds them. Default `true`;
    /// `false` keeps every entry, as the peer does (e.g. to audit with
    /// `clamator tail --from-start`).
    pub fn trim_command_streams(mut self, on: bool) -> Self {
        self.trim_command_streams = on;
        self
    }

    /// How many times an entry may be delivered without being acknowledged
    /// before a server moves it to the dead-letter stream
    /// `<prefix>:dead:<service>` instead of handing it to yet another worker.
    /// Default `Some(10)`.
    ///
    /// An entry that crashes (or hangs until it is killed) every worker that
    /// runs it is otherwise reclaimed and run again forever, one worker after
    /// another. Once it has been delivered `n` times and is again left idle
    /// for `consumer_claim_idle`, a server's reclaim loop records it in the
    /// dead-letter stream, answers the caller (if it waits for a reply) with
    /// -32603 "Internal error", `data.name` `"DeadLetter"`, and acknowledges
    /// it. `Some(1)` never redelivers; `None` redelivers forever, as the peer
    /// does. Entries whose handler still runs (with renewed leases) are never
    /// dead-lettered. `clamator dead <service>` lists and requeues dead letters.
    pub fn max_deliveries(mut self, max: Option<u32>) -> Self {
        self.max_deliveries = max;
        self
    }

    /// Whether a server skips (acks without running) a request whose caller
    /// has already given up: Rust clients send their timeout in a `timeout-ms`
    /// field, and a request that starts more than 500 ms after the entry's time
    /// plus that timeout (after a backlog, or reclaimed from a crashed worker)
    /// would only produce a reply nobody reads. Requests from the Python peer
    /// carry no timeout and always run. Default `true`; `false` runs every
    /// request, as the peer does.
    pub fn skip_expired(mut self, on: bool) -> Self {
        self.skip_expired = on;
        self
    }

    /// How long one handler may run. A handler still running then is cancelled
    /// (its future dropped at its next await), its caller gets -32603
    /// "Internal error" with `data.name` "HandlerTimeout", and the entry is
    /// acknowledged. Default `None`: no limit. Set it when a handler can hang:
    /// lease renewal keeps a hung handler's entry from being reclaimed, so
    /// without a limit it holds the entry and a handler slot until the server
    /// stops.
    pub fn handler_timeout(mut self, limit: Option<Duration>) -> Self {
        self.handler_timeout = limit;
        self
    }

    /// Bound on one Redis command and on opening a connection. Default 5 s.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How long a server's `start()` keeps retrying, with backoff, while
    /// Redis is unreachable (workers often start before Redis does). Default
    /// `None`: until Redis answers, logging a warning per attempt. With
    /// `Some(limit)` it fails with `TransportError::ConnectionLost` once the
    /// next attempt would come after `limit`. Errors that a retry cannot fix
    /// (a refused command, a key of the wrong type) fail at once either way.
    pub fn start_timeout(mut self, limit: Option<Duration>) -> Self {
        self.start_timeout = limit;
        self
    }

    /// The time to live a client keeps on its reply stream (`PEXPIRE`,
    /// refreshed every third of it while the client runs), so the reply
    /// stream of a client that crashed goes away by itself. Rust clients also
    /// ask Rust servers (extra field `reply-nomkstream`) to reply with
    /// `NOMKSTREAM`, so a late reply never re-creates the stream of a client
    /// that is gone. Default `Some(60 s)`; `None` leaves reply streams without
    /// TTL, as the peer does (`clamator gc` removes leftovers).
    pub fn reply_stream_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.reply_stream_ttl = ttl;
        self
    }

    /// Checks the settings and builds the config.
    pub fn build(self) -> Result<RedisConfig, TransportError> {
        let bad = |msg: String| Err(TransportError::Config(msg));
        if self.key_prefix.trim().is_empty() {
            return bad(
                "key_prefix is empty: set a non-empty prefix shared by every \
                        server and client of the application, e.g. \"myapp\""
                    .to_owned(),
            );
        }
        if self.key_prefix.trim() != self.key_prefix {
            return bad(format!(
                "key_prefix {:?} starts or ends with whitespace: remove it, peers would \
                 not find each other's keys",
                self.key_prefix
            ));
        }
        if let Some(id) = &self.instance_id {
            if id.trim().is_empty() {
                return bad(
                    "instance_id is empty: leave it unset for a random UUID, or set a \
                            unique non-empty id"
                        .to_owned(),
                );
            }
            if !crate::keys::is_valid_instance_id(id) {
                return bad(format!(
                    "instance_id {id:?} contains ':' or a control character, or is longer \
                     than {} bytes: servers would not reply to such a reply stream; use \
                     letters, digits, '-', '_' or '.'",
                    crate::keys::MAX_INSTANCE_ID_LEN
                ));
            }
        }
        if self
            .reply_stream_ttl
            .is_some_and(|t| t < Duration::from_secs(1))
        {
            return bad(
                "reply_stream_ttl is under 1 s: a client's reply stream could expire \
                 between two refreshes; set at least 1 s (default 60 s), or None"
                    .to_owned(),
            );
        }
        if self.max_concurrency == 0 {
            return bad(
                "max_concurrency is 0, so no handler could ever run: set at least 1 \
                 (1 handles one entry at a time)"
                    .to_owned(),
            );
        }
        if self.max_deliveries == Some(0) {
            return bad(
                "max_deliveries is Some(0), so no entry could ever be delivered: set at \
                 least Some(1) (1 never redelivers), or None to redeliver forever"
                    .to_owned(),
            );
        }
        if self.handler_timeout.is_some_and(|t| t.is_zero()) {
            return bad(
                "handler_timeout is zero, so every handler would be cancelled at once: \
                 set a positive duration, or None for no limit"
                    .to_owned(),
            );
        }
        if self.reply_stream_maxlen == 0 {
            return bad(
                "reply_stream_maxlen is 0, which would trim every reply away: \
                        set at least 1 (default 1024)"
                    .to_owned(),
            );
        }
        for (name, value) in [
            ("consumer_claim_idle", self.consumer_claim_idle),
            ("default_timeout", self.default_timeout),
            ("command_timeout", self.command_timeout),
        ] {
            if value.is_zero() {
                return bad(format!("{name} is zero: set a positive duration"));
            }
        }
        let client = match (self.redis_client, self.redis_url) {
            (Some(_), Some(_)) => {
                return bad(
                    "both redis_url and redis_client are set: set only one of them".to_owned(),
                );
            }
            (Some(client), None) => client,
            (None, url) => {
                let (url, from) = match url {
                    Some(url) => (url, "redis_url"),
                    None => match std::env::var(REDIS_URL_ENV) {
                        Ok(url) if !url.trim().is_empty() => (url, "$REDIS_URL"),
                        _ => (DEFAULT_REDIS_URL.to_owned(), "the default URL"),
                    },
                };
                match redis::Client::open(url.as_str()) {
                    Ok(client) => client,
                    Err(e) => {
                        return bad(format!(
                            "{from} {url:?} is not a valid Redis URL ({e}): use the form \
                             redis://[user:password@]host:port[/db]"
                        ));
                    }
                }
            }
        };
        Ok(RedisConfig {
            key_prefix: self.key_prefix,
            client,
            instance_id: self.instance_id,
            consumer_claim_idle: self.consumer_claim_idle,
            reply_stream_maxlen: self.reply_stream_maxlen,
            default_timeout: self.default_timeout,
            shutdown_grace: self.shutdown_grace,
            max_concurrency: self.max_concurrency,
            command_timeout: self.command_timeout,
            renew_leases: self.renew_leases,
            trim_command_streams: self.trim_command_streams,
            skip_expired: self.skip_expired,
            handler_timeout: self.handler_timeout,
            max_deliveries: self.max_deliveries,
            start_timeout: self.start_timeout,
            reply_stream_ttl: self.reply_stream_ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(b: RedisConfigBuilder) -> String {
        match b.build() {
            Err(TransportError::Config(msg)) => msg,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_equal_the_peer() {
        let c = RedisConfig::builder("app")
            .redis_url("redis://127.0.0.1:1")
            .build()
            .unwrap();
        assert_eq!(c.key_prefix(), "app");
        assert_eq!(c.consumer_claim_idle(), Duration::from_millis(60_000));
        assert_eq!(c.reply_stream_maxlen(), 1024);
        assert_eq!(c.default_timeout(), Duration::from_millis(30_000));
        assert_eq!(c.shutdown_grace(), Duration::from_millis(5_000));
        assert_eq!(c.max_concurrency(), 64);
        assert_eq!(c.reclaim_period(), Duration::from_secs(15));
        assert_eq!(c.max_deliveries(), Some(10));
        assert!(c.instance_id().is_none());
        assert_ne!(c.new_instance_id(), c.new_instance_id());
    }

    #[test]
    fn short_claim_idle_reclaims_every_second() {
        let c = RedisConfig::builder("app")
            .redis_url("redis://127.0.0.1:1")
            .consumer_claim_idle(Duration::from_millis(500))
            .instance_id("fixed")
            .build()
            .unwrap();
        assert_eq!(c.reclaim_period(), Duration::from_secs(1));
        assert_eq!(c.new_instance_id(), "fixed");
    }

    #[test]
    fn rejects_unusable_settings() {
        let url = "redis://127.0.0.1:1";
        assert!(err(RedisConfig::builder("").redis_url(url)).contains("key_prefix"));
        assert!(err(RedisConfig::builder("  ").redis_url(url)).contains("key_prefix"));
        assert!(err(RedisConfig::builder(" a").redis_url(url)).contains("whitespace"));
        assert!(
            err(RedisConfig::builder("a").redis_url(url).max_concurrency(0))
                .contains("max_concurrency")
        );
        assert!(
            err(RedisConfig::builder("a")
                .redis_url(url)
                .reply_stream_maxlen(0))
            .contains("reply_stream_maxlen")
        );
        assert!(
            err(RedisConfig::builder("a")
                .redis_url(url)
                .default_timeout(Duration::ZERO))
            .contains("default_timeout")
        );
        assert!(
            err(RedisConfig::builder("a").redis_url(url).instance_id("")).contains("instance_id")
        );
        for bad_id in ["a:b", "x\ny", &"z".repeat(300)] {
            assert!(
                err(RedisConfig::builder("a").redis_url(url).instance_id(bad_id))
                    .contains("instance_id")
            );
        }
        assert!(
            err(RedisConfig::builder("a")
                .redis_url(url)
                .reply_stream_ttl(Some(Duration::from_millis(10))))
            .contains("reply_stream_ttl")
        );
        assert!(
            err(RedisConfig::builder("a")
                .redis_url(url)
                .max_deliveries(Some(0)))
            .contains("max_deliveries")
        );
        for ok in [None, Some(1), Some(u32::MAX)] {
            let c = RedisConfig::builder("a")
                .redis_url(url)
                .max_deliveries(ok)
                .build()
                .unwrap();
            assert_eq!(c.max_deliveries(), ok);
        }
        assert!(
            err(RedisConfig::builder("a").redis_url("http://x")).contains("not a valid Redis URL")
        );
        let client = redis::Client::open(url).unwrap();
        assert!(
            err(RedisConfig::builder("a")
                .redis_url(url)
                .redis_client(client))
            .contains("only one")
        );
    }
}
