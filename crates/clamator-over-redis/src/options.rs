//! What a server or client needs to know, one type per role:
//! [`ConnectOptions`] (where Redis is, the key prefix: shared by both roles),
//! [`ServerOptions`] and [`ClientOptions`], and the [`ConfigError`] that
//! says what is wrong with them.
//!
//! Settings the peer also has default to the peer's values (key names, claim
//! idle, reply stream length, call timeout); the ones that go beyond the peer
//! say their own default. Settings are checked when a server starts or a
//! client connects, never silently corrected.

use std::time::Duration;

use crate::retry::RetryPolicy;

/// The Redis URL [`ConnectOptions::from_env`] uses when `$REDIS_URL` is unset.
pub(crate) const DEFAULT_REDIS_URL: &str = "redis://localhost:6379";
/// The environment variable [`ConnectOptions::from_env`] reads.
pub(crate) const REDIS_URL_ENV: &str = "REDIS_URL";
/// Default idle time after which another worker reclaims a pending entry: 60 s (the peer's).
pub(crate) const DEFAULT_CONSUMER_CLAIM_IDLE: Duration = Duration::from_millis(60_000);
/// Default approximate cap on a reply stream's length: 1024 entries (the peer's).
pub(crate) const DEFAULT_REPLY_STREAM_MAXLEN: usize = 1024;
/// Default call timeout: 30 s (the peer's).
pub(crate) const DEFAULT_CALL_TIMEOUT: Duration = clamator_protocol::DEFAULT_TIMEOUT;
/// Default time `stop()` gives in-flight handlers to finish: 5 s.
pub(crate) const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_millis(5_000);
/// Default number of handlers of one service running at once on one server: 64.
pub(crate) const DEFAULT_MAX_CONCURRENCY: usize = 64;
/// Default bound on one Redis command (and on opening a connection): 5 s.
pub(crate) const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(5_000);
/// Default number of deliveries after which an entry no worker acknowledged is
/// dead-lettered instead of delivered again: 10.
pub(crate) const DEFAULT_MAX_DELIVERIES: u32 = 10;
/// Approximate cap on a dead-letter stream's length (`MAXLEN ~`): 10000 entries.
pub(crate) const DEAD_LETTER_MAXLEN: usize = 10_000;
/// Default time to live of a Rust client's reply stream, refreshed while the
/// client runs: 60 s.
pub(crate) const DEFAULT_REPLY_STREAM_TTL: Duration = Duration::from_secs(60);

/// How often a server's periodic loops pass and how long its reads block.
/// Not a setting: every server runs with [`Timing::DEFAULT`]; only tests
/// shorten it (through the hidden [`ServerOptions::__loop_tick`]), so they
/// wait for a pass rather than a second. Read once, when a loop starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timing {
    /// The housekeeping loop's period.
    pub(crate) housekeeping: Duration,
    /// The reclaim loop's shortest period: it runs every
    /// `max(reclaim_floor, consumer_claim_idle / 4)`.
    pub(crate) reclaim_floor: Duration,
    /// How long one `XREADGROUP` of the consumer loop blocks.
    pub(crate) block: Duration,
}

impl Timing {
    /// What every server runs with: each 1 s (docs/WIRE.md §7 for the reclaim floor).
    pub(crate) const DEFAULT: Timing = Timing {
        housekeeping: crate::housekeeping::PERIOD,
        reclaim_floor: Duration::from_secs(1),
        block: crate::consumer::BLOCK,
    };

    /// Every period and block `tick` long.
    pub(crate) fn every(tick: Duration) -> Timing {
        Timing {
            housekeeping: tick,
            reclaim_floor: tick,
            block: tick,
        }
    }
}

/// A setting that cannot work. Each message says what to set instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key prefix is empty.
    #[error(
        "key prefix is empty: set a non-empty prefix shared by every server and client \
         of the application, e.g. \"myapp\""
    )]
    EmptyKeyPrefix,
    /// The key prefix starts or ends with whitespace.
    #[error(
        "key prefix {0:?} starts or ends with whitespace: remove it, peers would not find \
         each other's keys"
    )]
    KeyPrefixWhitespace(String),
    /// The Redis URL does not parse.
    #[error(
        "{from} {url:?} is not a valid Redis URL ({source}): use the form \
         redis://[user:password@]host:port[/db]"
    )]
    InvalidUrl {
        /// Where the URL came from (`the URL`, `$REDIS_URL`, ...).
        from: &'static str,
        /// The URL.
        url: String,
        /// What the `redis` crate said.
        #[source]
        source: redis::RedisError,
    },
    /// A Sentinel setting or `redis+sentinel://` URL that cannot work (never
    /// echoes a password).
    #[error("Sentinel: {0}; use {form}", form = SENTINEL_FORM)]
    InvalidSentinel(String),
    /// A `redis+sentinel://` URL, but this build has no Sentinel support.
    #[error(
        "{0} is a redis+sentinel:// URL, but clamator-over-redis was built without its \
         `sentinel` feature: enable it (the `clamator` crate enables it by default)"
    )]
    SentinelNotEnabled(&'static str),
    /// A Redis Cluster seed list that cannot work (never echoes a password).
    #[error("Redis Cluster: {0}; give {form}", form = crate::options::CLUSTER_FORM)]
    InvalidCluster(String),
    /// Cluster mode was asked for, and this build has no cluster support.
    #[error(
        "{0} asks for Redis Cluster, but clamator-over-redis was built without its `cluster` \
         feature: enable it (the `clamator` crate enables it by default)"
    )]
    ClusterNotEnabled(&'static str),
    /// An instance id that servers would not reply to.
    #[error(
        "instance id {0:?} is empty, contains ':' or a control character, or is longer than \
         {max} bytes: servers reply only to <prefix>:replies:<id> with such an id; use \
         letters, digits, '-', '_' or '.', or leave it unset for a random UUID",
        max = crate::keys::MAX_INSTANCE_ID_LEN
    )]
    InvalidInstanceId(String),
    /// A duration that must be positive is zero.
    #[error("{0} is zero: set a positive duration")]
    ZeroDuration(&'static str),
    /// A count that must be at least 1 is 0.
    #[error("{setting} is 0, {why}: set at least 1")]
    ZeroCount {
        /// The setting.
        setting: &'static str,
        /// What 0 would do.
        why: &'static str,
    },
    /// A [`RetryPolicy`](crate::RetryPolicy) whose longest backoff is below its first.
    #[error(
        "RetryPolicy::backoff_max ({max:?}) is below RetryPolicy::backoff_first ({first:?}): set \
         backoff_max at least backoff_first (defaults 1 s and 50 ms)"
    )]
    RetryBackoffBelowFirst {
        /// `backoff_first`.
        first: Duration,
        /// `backoff_max`.
        max: Duration,
    },
    /// The reply stream TTL is too short to be refreshed in time.
    #[error(
        "reply_stream_ttl is {0:?}, under 1 s: a client's reply stream could expire between \
         two refreshes; set at least 1 s (default 60 s), or None"
    )]
    ReplyStreamTtlTooShort(Duration),
    /// The server has nothing to serve.
    #[error("no service is registered: register at least one before starting the server")]
    NoServices,
    /// Another client uses this instance id (and so this reply stream).
    #[error(
        "instance id {id:?} is in use by another client ({where_}): two clients with one \
         id read each other's replies; give each client its own id, or leave it unset for a \
         random UUID"
    )]
    InstanceIdInUse {
        /// The id.
        id: String,
        /// How it was found in use.
        where_: &'static str,
    },
    /// A TLS file (CA bundle, client certificate or key) cannot be read.
    #[error(
        "cannot read the {what} {path:?} ({source}): check the path and that this process may \
         read the file"
    )]
    TlsFileUnreadable {
        /// `CA bundle`, `client certificate` or `client key`.
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// What reading it said.
        #[source]
        source: std::io::Error,
    },
    /// A CA bundle, client certificate or key does not hold what it should.
    #[error(
        "the {what} from {origin} is not usable: {problem}; give a PEM file as written by \
         openssl (the CA bundle and certificate: -----BEGIN CERTIFICATE----- blocks; the key: \
         -----BEGIN PRIVATE KEY-----)"
    )]
    TlsInvalidPem {
        /// `CA bundle`, `client certificate` or `client key`.
        what: &'static str,
        /// `file "<path>"` or `bytes`.
        origin: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The client key is not the key of the client certificate.
    #[error(
        "the client key ({key}) is not the key of the client certificate ({cert}): give the key \
         the certificate was issued for"
    )]
    TlsKeyMismatch {
        /// Where the certificate came from.
        cert: String,
        /// Where the key came from.
        key: String,
    },
    /// TLS settings for a Redis address that does not use TLS.
    #[error(
        "TLS settings were given for redis://{addr}, a plain (non-TLS) address: use a rediss:// \
         URL for a Redis that serves TLS, e.g. rediss://{addr}"
    )]
    TlsNeedsRediss {
        /// `host:port`.
        addr: String,
    },
    /// TLS settings for a Sentinel deployment reached without TLS
    /// (`redis+sentinel://`): TLS goes to the sentinels and the data nodes
    /// together, or to neither.
    #[error(
        "TLS settings were given for the Sentinel deployment {deployment}, which is reached \
         without TLS (redis+sentinel://): use a rediss+sentinel:// URL (or \
         SentinelOptions::use_tls) to connect to the sentinels and the data nodes over TLS; \
         TLS to only the sentinels or only the data nodes is not supported"
    )]
    TlsNeedsRedissSentinel {
        /// The deployment: its primary's name and its sentinels.
        deployment: String,
    },
    /// A `rediss://` (or `rediss+sentinel://`) URL, and this build has no TLS.
    #[error(
        "{from} uses TLS (rediss:// or rediss+sentinel://), and clamator-over-redis was built \
         without its `tls` feature: enable it (the `clamator` crate's `tls` feature, on by \
         default)"
    )]
    TlsNotEnabled {
        /// Where the URL came from.
        from: &'static str,
    },
}

/// Where Redis is and the key prefix of the application: what every server
/// and client of one application shares. The [`redis::Client`] inside only
/// opens connections; each server and client opens its own.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Prefix of every key (`<prefix>:cmds:<service>`, `<prefix>:replies:<id>`).
    pub(crate) key_prefix: String,
    /// Opens connections; never a connection itself, so every loop gets its own.
    pub(crate) client: redis::Client,
    /// Bound on one non-blocking command and on opening a connection.
    pub(crate) command_timeout: Duration,
    /// When set, connections go to the primary these sentinels name, asked
    /// again at every connect (`client` is then a client of the first sentinel).
    #[cfg(feature = "sentinel")]
    pub(crate) sentinel: Option<crate::sentinel::SentinelTarget>,
    /// When set, a Redis Cluster reached through these seeds (`client` is
    /// then a client of the first seed).
    #[cfg(feature = "cluster")]
    pub(crate) cluster: Option<crate::cluster::ClusterTarget>,
}

impl ConnectOptions {
    /// Redis at `url` (`redis://[user:password@]host:port[/db]`, `rediss://`
    /// with the `redis` crate's TLS features, or with feature `sentinel` a
    /// `redis+sentinel://` URL: see the `sentinel` module), keys under `key_prefix`.
    pub fn new(key_prefix: impl Into<String>, url: &str) -> Result<ConnectOptions, ConfigError> {
        Self::open(key_prefix.into(), url, "the URL")
    }

    /// Redis at `$REDIS_URL`, or `redis://localhost:6379` when it is unset or
    /// empty. The only place the environment is read.
    pub fn from_env(key_prefix: impl Into<String>) -> Result<ConnectOptions, ConfigError> {
        match std::env::var(REDIS_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => Self::open(key_prefix.into(), &url, "$REDIS_URL"),
            _ => Self::open(key_prefix.into(), DEFAULT_REDIS_URL, "the default URL"),
        }
    }

    /// Connections opened from a client the caller made (custom TLS or
    /// connection settings). The caller keeps owning it.
    pub fn from_client(
        key_prefix: impl Into<String>,
        client: redis::Client,
    ) -> Result<ConnectOptions, ConfigError> {
        crate::tls::check_client(&client, "the redis::Client")?;
        Self::from_parts(key_prefix.into(), client)
    }

    /// Options of one address, `client`, after checking the prefix.
    pub(crate) fn from_parts(
        key_prefix: String,
        client: redis::Client,
    ) -> Result<ConnectOptions, ConfigError> {
        check_prefix(&key_prefix)?;
        Ok(ConnectOptions {
            key_prefix,
            client,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            #[cfg(feature = "sentinel")]
            sentinel: None,
            #[cfg(feature = "cluster")]
            cluster: None,
        })
    }

    fn open(key_prefix: String, url: &str, from: &'static str) -> Result<Self, ConfigError> {
        check_prefix(&key_prefix)?;
        if is_sentinel_url(url) {
            crate::tls::check_url(url, from)?;
            #[cfg(feature = "sentinel")]
            return Self::sentinel(key_prefix, crate::sentinel::SentinelOptions::from_url(url)?);
            #[cfg(not(feature = "sentinel"))]
            return Err(ConfigError::SentinelNotEnabled(from));
        }
        if url.contains(',') {
            // Several URLs: the seeds of a Redis Cluster.
            #[cfg(feature = "cluster")]
            return Self::cluster_from(key_prefix, [url], from);
            #[cfg(not(feature = "cluster"))]
            return Err(ConfigError::ClusterNotEnabled(from));
        }
        crate::tls::check_url(url, from)?;
        let client = redis::Client::open(url).map_err(|source| ConfigError::InvalidUrl {
            from,
            url: url.to_owned(),
            source,
        })?;
        crate::tls::check_client(&client, from)?;
        Self::from_parts(key_prefix, client)
    }

    /// Bound on one Redis command and on opening a connection. Default 5 s.
    #[must_use]
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Whether these options name a Redis Cluster (`ConnectOptions::cluster` with feature `cluster`,
    /// or several comma-separated URLs).
    pub fn is_cluster(&self) -> bool {
        #[cfg(feature = "cluster")]
        return self.cluster.is_some();
        #[cfg(not(feature = "cluster"))]
        return false;
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The client connections are opened from. With Sentinel, a client of
    /// the first sentinel: the transport's connections go to the primary the
    /// sentinels name at each connect.
    pub fn redis_client(&self) -> &redis::Client {
        &self.client
    }

    /// Checks what a setter could not.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.command_timeout.is_zero() {
            return Err(ConfigError::ZeroDuration("command_timeout"));
        }
        Ok(())
    }
}

/// `url` with its password (if any) replaced by `***`, for messages; each
/// URL of a comma-separated list (cluster seeds) alike. Never fails: text
/// that is not a URL comes back as it is.
pub fn redact_url(url: &str) -> String {
    if url.contains(',') {
        return url.split(',').map(redact_one).collect::<Vec<_>>().join(",");
    }
    redact_one(url)
}

fn redact_one(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let (userinfo, host) = authority.split_at(at);
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{host}{path}"),
        None => url.to_owned(),
    }
}

/// Whether `url` names a Sentinel deployment (`redis+sentinel://`,
/// `rediss+sentinel://`, any case): its comma-separated hosts are the
/// sentinels of one URL, not the seed nodes of a cluster.
pub fn is_sentinel_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("redis+sentinel://") || lower.starts_with("rediss+sentinel://")
}

/// How a cluster seed list is written, for [`ConfigError::InvalidCluster`].
pub(crate) const CLUSTER_FORM: &str = "one or more seed node URLs, \
    redis://[user:password@]host:port (rediss:// for TLS), comma-separated in $REDIS_URL \
    or --redis-url given several times, every seed with the same credentials and scheme; \
    or ConnectOptions::cluster";

/// How a Sentinel URL is written, for [`ConfigError::InvalidSentinel`].
const SENTINEL_FORM: &str = "redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/\
     <primary name>[/<db>][?sentinel_username=...&sentinel_password=...] (port 26379 by \
     default; rediss+sentinel:// for TLS), or ConnectOptions::sentinel";

fn check_prefix(prefix: &str) -> Result<(), ConfigError> {
    if prefix.trim().is_empty() {
        return Err(ConfigError::EmptyKeyPrefix);
    }
    if prefix.trim() != prefix {
        return Err(ConfigError::KeyPrefixWhitespace(prefix.to_owned()));
    }
    Ok(())
}

fn check_instance_id(id: Option<&String>) -> Result<(), ConfigError> {
    match id {
        Some(id) if !crate::keys::is_valid_instance_id(id) => {
            Err(ConfigError::InvalidInstanceId(id.clone()))
        }
        _ => Ok(()),
    }
}

fn new_instance_id(fixed: Option<&String>) -> String {
    fixed
        .cloned()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// How a server serves: concurrency, leases, trimming, dead letters,
/// deadlines, shutdown. `ServerOptions::default()` is what most servers want.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The fixed instance id, or `None` for a fresh UUID v4.
    pub(crate) instance_id: Option<String>,
    /// Idle time after which the reclaim loop takes over another consumer's entry.
    pub(crate) consumer_claim_idle: Duration,
    /// `MAXLEN ~` of the reply streams replies are written to.
    pub(crate) reply_stream_maxlen: usize,
    /// How long `stop()` waits for in-flight handlers.
    pub(crate) shutdown_grace: Duration,
    /// Handlers of one service running at once on one server.
    pub(crate) max_concurrency: usize,
    /// Whether running handlers' entries have their idle time renewed.
    pub(crate) renew_leases: bool,
    /// Whether servers trim delivered and acknowledged command-stream entries.
    pub(crate) trim_command_streams: bool,
    /// Deliveries after which an unacknowledged entry is dead-lettered; `None`: never.
    pub(crate) max_deliveries: Option<u32>,
    /// Whether requests whose caller's timeout has passed are skipped.
    pub(crate) skip_expired: bool,
    /// How long a handler may run before it is cancelled; `None`: no limit.
    pub(crate) handler_timeout: Option<Duration>,
    /// How long `start()` retries while Redis is unreachable; `None`: until it answers.
    pub(crate) start_timeout: Option<Duration>,
    /// How long a call's reply is kept to answer copies of it; `None`: no dedupe.
    pub(crate) dedupe_window: Option<Duration>,
    /// The loops' periods and read block: [`Timing::DEFAULT`] but in tests.
    pub(crate) timing: Timing,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            instance_id: None,
            consumer_claim_idle: DEFAULT_CONSUMER_CLAIM_IDLE,
            reply_stream_maxlen: DEFAULT_REPLY_STREAM_MAXLEN,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            renew_leases: true,
            trim_command_streams: true,
            max_deliveries: Some(DEFAULT_MAX_DELIVERIES),
            skip_expired: true,
            handler_timeout: None,
            start_timeout: None,
            dedupe_window: None,
            timing: Timing::DEFAULT,
        }
    }
}

impl ServerOptions {
    /// A fixed instance id (names the server's consumers
    /// `<service>:<instance_id>`). Default: a fresh UUID v4 per server.
    #[must_use]
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// Idle time after which another worker reclaims a pending entry. Default
    /// 60 s, as the peer.
    #[must_use]
    pub fn consumer_claim_idle(mut self, idle: Duration) -> Self {
        self.consumer_claim_idle = idle;
        self
    }

    /// Approximate maximum length of the reply streams replies are written to
    /// (`MAXLEN ~`). Default 1024, as the peer.
    #[must_use]
    pub fn reply_stream_maxlen(mut self, maxlen: usize) -> Self {
        self.reply_stream_maxlen = maxlen;
        self
    }

    /// How long `stop()` lets in-flight handlers finish. Default 5 s.
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Handlers of one service running at once on one server. Default 64;
    /// 1 processes one entry at a time, as the peer does.
    #[must_use]
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n;
        self
    }

    /// Whether a server keeps the entries of handlers that run longer than
    /// `consumer_claim_idle` from being reclaimed (and run a second time) by
    /// other workers, by renewing their idle time every claim idle / 3 with
    /// `XCLAIM ... JUSTID` (only entries it still owns). Default `true`;
    /// `false` behaves like the peer, where such a handler runs again on
    /// another worker.
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
    pub fn handler_timeout(mut self, limit: Option<Duration>) -> Self {
        self.handler_timeout = limit;
        self
    }

    /// How long `start()` keeps retrying, with backoff, while Redis is
    /// unreachable (workers often start before Redis does). Default `None`:
    /// until Redis answers, logging a warning per attempt. With `Some(limit)`
    /// it fails with [`ConnectError::Unreachable`](crate::ConnectError::Unreachable)
    /// once the next attempt would come after `limit`. Errors that a retry cannot fix (a refused
    /// command, a key of the wrong type) fail at once either way.
    #[must_use]
    pub fn start_timeout(mut self, limit: Option<Duration>) -> Self {
        self.start_timeout = limit;
        self
    }

    /// Effectively once within a window (default `None`: off, at-least-once
    /// as the peers). With `Some(window)`, a request is one call per
    /// `(reply-to, JSON-RPC id)`, whoever sent it (Rust, Python or
    /// TypeScript callers):
    ///
    /// - a copy of a call answered within the last `window` (a client's
    ///   retry, an entry `XADD`ed twice, an entry redelivered after its ack
    ///   was lost) is answered with the stored reply, its handler not run;
    /// - a copy that arrives while the first still runs, on this worker or
    ///   another, is not started: it waits for the first's reply (up to its
    ///   caller's deadline) and answers with it;
    /// - another caller's request with the same id is a call of its own.
    ///
    /// The record is a string key `<prefix>:dedupe:<service>:<caller>:<id>`
    /// (under the prefix: `clamator acl server` grants it): `running <entry>`
    /// while a handler runs (set with `SET NX` before the handler starts,
    /// TTL `consumer_claim_idle`, renewed with the lease), then the reply
    /// itself, kept for `window`, written in the same round trip as the
    /// reply and always before the entry's `XACK`. The cost: one more
    /// command per call before the handler, one more in the reply's round
    /// trip, and Redis memory of about (calls per second × window × reply
    /// size) (BENCHMARKS.md). Which crashes can still run a handler twice is
    /// in the README, "What is guaranteed". The window must be at least
    /// 1 ms; make it longer than a caller's timeout plus its retries.
    #[must_use]
    pub fn dedupe_window(mut self, window: Option<Duration>) -> Self {
        self.dedupe_window = window;
        self
    }

    /// For clamator's own tests only, not a setting (unstable: it may change
    /// or go away in any release): the housekeeping loop passes every `tick`,
    /// the reclaim loop every `max(tick, consumer_claim_idle / 4)`, and each
    /// `XREADGROUP` blocks for `tick`, instead of 1 s each, so a test waits
    /// for a pass rather than a second. Must be positive (a zero `BLOCK`
    /// would block forever).
    #[doc(hidden)]
    #[must_use]
    pub fn __loop_tick(mut self, tick: Duration) -> Self {
        self.timing = Timing::every(tick);
        self
    }

    /// Checks every setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check_instance_id(self.instance_id.as_ref())?;
        if self.timing.block.is_zero() {
            return Err(ConfigError::ZeroDuration("__loop_tick"));
        }
        if self.max_concurrency == 0 {
            return Err(ConfigError::ZeroCount {
                setting: "max_concurrency",
                why: "so no handler could ever run (1 handles one entry at a time)",
            });
        }
        if self.max_deliveries == Some(0) {
            return Err(ConfigError::ZeroCount {
                setting: "max_deliveries",
                why: "so no entry could ever be delivered (Some(1) never redelivers, None \
                      redelivers forever)",
            });
        }
        if self.reply_stream_maxlen == 0 {
            return Err(ConfigError::ZeroCount {
                setting: "reply_stream_maxlen",
                why: "which would trim every reply away (default 1024)",
            });
        }
        if self.handler_timeout.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::ZeroDuration("handler_timeout"));
        }
        if self.consumer_claim_idle.is_zero() {
            return Err(ConfigError::ZeroDuration("consumer_claim_idle"));
        }
        if self
            .dedupe_window
            .is_some_and(|w| w < Duration::from_millis(1))
        {
            return Err(ConfigError::ZeroDuration("dedupe_window"));
        }
        Ok(())
    }

    /// The instance id of a new server.
    pub(crate) fn new_instance_id(&self) -> String {
        new_instance_id(self.instance_id.as_ref())
    }

    /// The period of lease renewal: a third of the claim idle time (at least 100 ms).
    pub(crate) fn lease_period(&self) -> Duration {
        (self.consumer_claim_idle / 3).max(Duration::from_millis(100))
    }

    /// The period of the reclaim loop: `max(1 s, consumer_claim_idle / 4)` (docs/WIRE.md §7).
    pub(crate) fn reclaim_period(&self) -> Duration {
        (self.consumer_claim_idle / 4).max(self.timing.reclaim_floor)
    }
}

/// How a client calls: its default timeout, its instance id, its reply
/// stream's lifetime. `ClientOptions::default()` is what most clients want.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The fixed instance id, or `None` for a fresh UUID v4.
    pub(crate) instance_id: Option<String>,
    /// Call timeout when a call gives none.
    pub(crate) default_timeout: Duration,
    /// Time to live of the reply stream, refreshed while the client runs; `None`: no TTL.
    pub(crate) reply_stream_ttl: Option<Duration>,
    /// Whether a call that times out or is dropped is cancelled on the servers.
    pub(crate) cancel_abandoned_calls: bool,
    /// When requests are sent again; `None`: each is sent once.
    pub(crate) retry: Option<RetryPolicy>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            instance_id: None,
            default_timeout: DEFAULT_CALL_TIMEOUT,
            reply_stream_ttl: Some(DEFAULT_REPLY_STREAM_TTL),
            cancel_abandoned_calls: true,
            retry: None,
        }
    }
}

impl ClientOptions {
    /// Whether a call this client stops waiting for (its timeout passed, or
    /// its future was dropped before the reply came) is cancelled on the
    /// servers (default on): one `XADD` to the service's cancel stream
    /// `<prefix>:cancel:<service>`, sent in the background. A Rust server
    /// then skips the request if it has not started, or fires the running
    /// handler's `Context::cancelled()` signal; Python and TypeScript servers
    /// do not read the stream. Off: nothing is sent.
    #[must_use]
    pub fn cancel_abandoned_calls(mut self, on: bool) -> Self {
        self.cancel_abandoned_calls = on;
        self
    }

    /// A fixed instance id: the client reads replies from
    /// `<prefix>:replies:<instance_id>`. Default: a fresh UUID v4 per client.
    /// Two clients must never share one: `connect` fails with
    /// [`ConfigError::InstanceIdInUse`] when another client of this process,
    /// or a live Rust client elsewhere (its reply stream's TTL is fresh), has it.
    #[must_use]
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// Call timeout when a call gives none. Default 30 s, as the peer.
    #[must_use]
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// The time to live a client keeps on its reply stream (`PEXPIRE`,
    /// refreshed every third of it while the client runs), so the reply
    /// stream of a client that crashed goes away by itself. Rust clients also
    /// ask Rust servers (extra field `reply-nomkstream`) to reply with
    /// `NOMKSTREAM`, so a late reply never re-creates the stream of a client
    /// that is gone. Default `Some(60 s)`; `None` leaves reply streams without
    /// TTL, as the peer does (`clamator gc` removes leftovers).
    #[must_use]
    pub fn reply_stream_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.reply_stream_ttl = ttl;
        self
    }

    /// Whether (and when) a call's request is sent again, with the same
    /// JSON-RPC id, within the call's timeout: after an `XADD` Redis may or
    /// may not have taken (a lost connection, no answer) or refused for now
    /// (a failover, out of memory, a slot moving), and when no reply came
    /// for a while (a request Redis lost in a failover); see
    /// [`RetryPolicy`]. Default `None`: each request is
    /// sent once.
    ///
    /// **Safe only against servers that dedupe** (Rust servers with
    /// `ServerOptions::dedupe_window`) **or with idempotent handlers**: a
    /// resent request may otherwise run its handler again.
    #[must_use]
    pub fn retry(mut self, policy: Option<RetryPolicy>) -> Self {
        self.retry = policy;
        self
    }

    /// Checks every setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check_instance_id(self.instance_id.as_ref())?;
        if let Some(policy) = &self.retry {
            policy.validate()?;
        }
        if self.default_timeout.is_zero() {
            return Err(ConfigError::ZeroDuration("default_timeout"));
        }
        if let Some(ttl) = self.reply_stream_ttl
            && ttl < Duration::from_secs(1)
        {
            return Err(ConfigError::ReplyStreamTtlTooShort(ttl));
        }
        Ok(())
    }

    /// The instance id of a new client.
    pub(crate) fn new_instance_id(&self) -> String {
        new_instance_id(self.instance_id.as_ref())
    }

    /// How often the reply stream's TTL is refreshed: a third of it (at least 100 ms).
    pub(crate) fn reply_stream_refresh(&self) -> Option<Duration> {
        self.reply_stream_ttl
            .map(|ttl| (ttl / 3).max(Duration::from_millis(100)))
    }
}

#[cfg(test)]
mod tests;
