//! Redis Sentinel (feature `sentinel`): the primary is wherever the sentinels
//! say it is, asked again on every connect.
//!
//! ```no_run
//! use clamator_over_redis::ConnectOptions;
//! use clamator_over_redis::sentinel::SentinelOptions;
//! # fn run() -> Result<(), clamator_over_redis::ConfigError> {
//! // A URL (also from $REDIS_URL with ConnectOptions::from_env) ...
//! let a = ConnectOptions::new(
//!     "myapp",
//!     "redis+sentinel://app:secret@10.0.0.1:26379,10.0.0.2:26379,10.0.0.3/mymaster",
//! )?;
//! // ... or the same spelled out.
//! let b = ConnectOptions::sentinel(
//!     "myapp",
//!     SentinelOptions::new(["10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3"], "mymaster")
//!         .primary_username("app")
//!         .primary_password("secret"),
//! )?;
//! # let _ = (a, b); Ok(()) }
//! ```
//!
//! Every connection a server or client opens (its shared connection, and
//! each blocking loop's own, at first and at every reconnect) asks the
//! sentinels for the primary named `primary_name`, checks with `ROLE` that
//! the node it names is a primary, and connects to it. Nothing is cached
//! between connects, so after a failover each loop finds the new primary
//! the next time it connects. A connection to a node that is no longer the
//! primary is noticed and replaced: writes there fail with `READONLY`, a
//! blocking read parked there ends with `UNBLOCKED` (Redis unblocks them when
//! a primary becomes a replica) or is cut when Sentinel reconfigures the node
//! (`CLIENT KILL TYPE normal`). See the crate's `behaviour` docs, "Failover
//! (Sentinel)", for what a failover loses.
//!
//! # TLS
//!
//! `rediss+sentinel://` (or [`SentinelOptions::use_tls`]) connects to the
//! sentinels *and* to the data nodes over TLS, with the same
//! [`TlsOptions`](crate::TlsOptions) (a CA bundle, a client certificate for
//! `tls-auth-clients yes`) for both, given to
//! [`ConnectOptions::tls`]; without them the system's root certificates are
//! trusted:
//!
//! ```no_run
//! # #[cfg(feature = "tls")]
//! # fn run() -> Result<(), clamator_over_redis::ConfigError> {
//! use clamator_over_redis::{ConnectOptions, TlsOptions};
//! let redis = ConnectOptions::new(
//!     "myapp",
//!     "rediss+sentinel://app:secret@10.0.0.1:26379,10.0.0.2:26379,10.0.0.3/mymaster",
//! )?
//! .tls(TlsOptions::new().ca_pem_file("/etc/myapp/redis-ca.pem")?)?;
//! # let _ = redis; Ok(()) }
//! ```
//!
//! The sentinels must serve TLS (`tls-port`) and reach the data nodes over
//! TLS (`tls-replication yes`, which also makes replicas announce their
//! `tls-port`), so that the address they name for the primary is a TLS port.
//! The data nodes' certificates are checked against the address the
//! sentinels name (usually an IP address, unless the sentinels run with
//! `resolve-hostnames yes` and `announce-hostnames yes`): the certificates
//! must list it. TLS to only the sentinels or only the data nodes is not
//! supported; TLS settings for a `redis+sentinel://` deployment are a
//! [`ConfigError::TlsNeedsRedissSentinel`], never a silent plaintext
//! connection. A certificate problem (an unknown CA, a wrong name, a refused
//! client certificate) fails a server's `start()` and a client's `connect`
//! at once with [`ConnectError::Tls`](crate::ConnectError::Tls).

use std::fmt;

use crate::options::{ConfigError, ConnectOptions};

/// The port of a sentinel address that gives none: 26379.
pub const DEFAULT_SENTINEL_PORT: u16 = 26379;
/// The URL scheme [`ConnectOptions::new`] reads as Sentinel:
/// `redis+sentinel://[[username]:password@]host[:port][,host[:port]...]/<primary
/// name>[/<db>][?sentinel_username=<u>&sentinel_password=<p>]`. The user and
/// password before `@` are the data nodes' (an ACL user); the sentinels' go
/// in the query. Percent-encode `@`, `:`, `/`, `,`, `?`, `&` and `%` in them.
/// [`SENTINEL_TLS_URL_SCHEME`] is the same over TLS.
pub const SENTINEL_URL_SCHEME: &str = "redis+sentinel";
/// The URL scheme of a Sentinel deployment reached over TLS (feature `tls`):
/// `rediss+sentinel://`, written as [`SENTINEL_URL_SCHEME`]; the sentinels
/// and the data nodes are all connected to over TLS (see the module docs).
pub const SENTINEL_TLS_URL_SCHEME: &str = "rediss+sentinel";

/// Where the sentinels are, the name of the primary they watch, and the
/// credentials for the data nodes and for the sentinels. Checked by
/// [`ConnectOptions::sentinel`].
#[derive(Clone, Default)]
pub struct SentinelOptions {
    /// `host:port` (or `host`, or `[v6]:port`) of each sentinel, as given.
    sentinels: Vec<String>,
    /// The name the sentinels monitor the primary under (`sentinel monitor <name> ...`).
    primary_name: String,
    /// ACL user on the primary.
    primary_username: Option<String>,
    /// Password on the primary.
    primary_password: Option<String>,
    /// ACL user on the sentinels.
    sentinel_username: Option<String>,
    /// Password on the sentinels.
    sentinel_password: Option<String>,
    /// The database on the primary.
    db: i64,
    /// TLS to the sentinels and the data nodes.
    tls: bool,
}

impl fmt::Debug for SentinelOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentinelOptions")
            .field("sentinels", &self.sentinels)
            .field("primary_name", &self.primary_name)
            .field("primary_username", &self.primary_username)
            .field("primary_password", &redacted(&self.primary_password))
            .field("sentinel_username", &self.sentinel_username)
            .field("sentinel_password", &redacted(&self.sentinel_password))
            .field("db", &self.db)
            .field("tls", &self.tls)
            .finish()
    }
}

fn redacted(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| "<redacted>")
}

impl SentinelOptions {
    /// The sentinels at `sentinels` (`host:port`, `host` for port 26379, or
    /// `[v6addr]:port`), watching the primary named `primary_name`. Without
    /// credentials; the primary's database 0.
    pub fn new<I, S>(sentinels: I, primary_name: impl Into<String>) -> SentinelOptions
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        SentinelOptions {
            sentinels: sentinels
                .into_iter()
                .map(|s| s.as_ref().to_owned())
                .collect(),
            primary_name: primary_name.into(),
            ..SentinelOptions::default()
        }
    }

    /// The ACL user to authenticate as on the primary (with [`primary_password`](Self::primary_password)).
    #[must_use]
    pub fn primary_username(mut self, username: impl Into<String>) -> Self {
        self.primary_username = Some(username.into());
        self
    }

    /// The password of the primary (`requirepass`, or the ACL user's).
    #[must_use]
    pub fn primary_password(mut self, password: impl Into<String>) -> Self {
        self.primary_password = Some(password.into());
        self
    }

    /// The ACL user to authenticate as on the sentinels.
    #[must_use]
    pub fn sentinel_username(mut self, username: impl Into<String>) -> Self {
        self.sentinel_username = Some(username.into());
        self
    }

    /// The sentinels' password (their `requirepass`, or the ACL user's).
    #[must_use]
    pub fn sentinel_password(mut self, password: impl Into<String>) -> Self {
        self.sentinel_password = Some(password.into());
        self
    }

    /// The database to select on the primary. Default 0.
    #[must_use]
    pub fn db(mut self, db: i64) -> Self {
        self.db = db;
        self
    }

    /// Connects to the sentinels and to the data nodes over TLS (what a
    /// `rediss+sentinel://` URL means; needs feature `tls`). Give a CA bundle
    /// or a client certificate with [`ConnectOptions::tls`]; without them
    /// the system's root certificates are trusted.
    #[must_use]
    pub fn use_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Whether the sentinels and the data nodes are connected to over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Reads a `redis+sentinel://` or `rediss+sentinel://` URL
    /// ([`SENTINEL_URL_SCHEME`], [`SENTINEL_TLS_URL_SCHEME`]).
    pub fn from_url(url: &str) -> Result<SentinelOptions, ConfigError> {
        parse_url(url).map_err(ConfigError::InvalidSentinel)
    }

    /// Checks every setting; never echoes a password.
    fn check(&self) -> Result<SentinelTarget, ConfigError> {
        let invalid = |why: String| ConfigError::InvalidSentinel(why);
        if self.sentinels.is_empty() {
            return Err(invalid("no sentinel address is given".to_owned()));
        }
        let addrs = self
            .sentinels
            .iter()
            .map(|a| parse_addr(a).map_err(invalid))
            .collect::<Result<Vec<_>, _>>()?;
        if self.primary_name.trim().is_empty() || self.primary_name.trim() != self.primary_name {
            return Err(invalid(format!(
                "the primary name {:?} is empty or starts or ends with whitespace: give the \
                 name of `sentinel monitor <name> ...`",
                self.primary_name
            )));
        }
        if self.db < 0 {
            return Err(invalid(format!("database {} is negative", self.db)));
        }
        if self.tls && !cfg!(feature = "tls") {
            return Err(ConfigError::TlsNotEnabled {
                from: "the Sentinel options (rediss+sentinel://)",
            });
        }
        Ok(SentinelTarget {
            addrs,
            options: self.clone(),
            #[cfg(feature = "tls")]
            tls: None,
        })
    }
}

/// Checked [`SentinelOptions`], what the connection layer uses.
#[derive(Clone, Debug)]
pub(crate) struct SentinelTarget {
    /// Each sentinel's host and port.
    pub(crate) addrs: Vec<(String, u16)>,
    /// The rest, as given.
    options: SentinelOptions,
    /// The CA bundle and client certificate for the sentinels and the data
    /// nodes, when given ([`ConnectOptions::tls`]).
    #[cfg(feature = "tls")]
    tls: Option<crate::TlsOptions>,
}

impl SentinelTarget {
    /// The primary's name.
    pub(crate) fn primary_name(&self) -> &str {
        &self.options.primary_name
    }
    /// The primary's ACL user.
    pub(crate) fn primary_username(&self) -> Option<&str> {
        self.options.primary_username.as_deref()
    }
    /// The primary's password.
    pub(crate) fn primary_password(&self) -> Option<&str> {
        self.options.primary_password.as_deref()
    }
    /// The sentinels' ACL user.
    pub(crate) fn sentinel_username(&self) -> Option<&str> {
        self.options.sentinel_username.as_deref()
    }
    /// The sentinels' password.
    pub(crate) fn sentinel_password(&self) -> Option<&str> {
        self.options.sentinel_password.as_deref()
    }
    /// The primary's database.
    pub(crate) fn db(&self) -> i64 {
        self.options.db
    }
    /// Whether the sentinels and the data nodes are reached over TLS.
    pub(crate) fn is_tls(&self) -> bool {
        self.options.tls
    }
    /// The TLS settings given with [`ConnectOptions::tls`], if any.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_options(&self) -> Option<&crate::TlsOptions> {
        self.tls.as_ref()
    }
    /// With `tls` as the TLS settings of the sentinels and the data nodes:
    /// refused unless the deployment is reached over TLS.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls(&self, tls: crate::TlsOptions) -> Result<SentinelTarget, ConfigError> {
        if !self.options.tls {
            return Err(ConfigError::TlsNeedsRedissSentinel {
                deployment: self.label(),
            });
        }
        let mut target = self.clone();
        target.tls = Some(tls);
        Ok(target)
    }
    /// Names the deployment in logs and in the registry of reply streams in use.
    pub(crate) fn label(&self) -> String {
        let addrs: Vec<String> = self
            .addrs
            .iter()
            .map(|(h, p)| {
                if h.contains(':') {
                    format!("[{h}]:{p}")
                } else {
                    format!("{h}:{p}")
                }
            })
            .collect();
        let scheme = if self.options.tls {
            "sentinel+tls"
        } else {
            "sentinel"
        };
        format!("{scheme}:{}@{}", self.options.primary_name, addrs.join(","))
    }
}

impl ConnectOptions {
    /// The primary that the sentinels of `options` watch, keys under
    /// `key_prefix`. Every connection asks the sentinels where the primary is
    /// when it opens (again after each failure), so servers and clients
    /// follow a failover without restarting. A `redis+sentinel://` URL given
    /// to [`ConnectOptions::new`] or `$REDIS_URL` is the same thing.
    pub fn sentinel(
        key_prefix: impl Into<String>,
        options: SentinelOptions,
    ) -> Result<ConnectOptions, ConfigError> {
        let target = options.check()?;
        // Only opens connections, and only for `redis_client()`: every
        // connection of the transport goes to the primary the sentinels name.
        let (host, port) = target.addrs[0].clone();
        let addr = if target.is_tls() {
            redis::ConnectionAddr::TcpTls {
                host,
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            redis::ConnectionAddr::Tcp(host, port)
        };
        let first_sentinel = redis::Client::open(addr).map_err(|e| {
            ConfigError::InvalidSentinel(format!("the first sentinel address is unusable: {e}"))
        })?;
        let mut conn = ConnectOptions::from_client(key_prefix, first_sentinel)?;
        conn.sentinel = Some(target);
        Ok(conn)
    }

    /// The sentinels and the primary's name, when these options use Sentinel.
    pub fn sentinel_options(&self) -> Option<&SentinelOptions> {
        self.sentinel.as_ref().map(|t| &t.options)
    }
}

/// Parses a `redis+sentinel://` URL; the error says what is wrong, without the URL
/// (it may hold a password).
fn parse_url(url: &str) -> Result<SentinelOptions, String> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("not a redis+sentinel:// URL".to_owned());
    };
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "redis+sentinel" => false,
        "rediss+sentinel" => true,
        other => {
            return Err(format!(
                "scheme {other:?} is not redis+sentinel (or rediss+sentinel for TLS)"
            ));
        }
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, p),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let mut options = SentinelOptions {
        tls,
        ..SentinelOptions::default()
    };
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        let user = percent_decode(user).map_err(|e| format!("the user name {e}"))?;
        if !user.is_empty() {
            options.primary_username = Some(user);
        }
        if let Some(p) = password {
            options.primary_password =
                Some(percent_decode(p).map_err(|e| format!("the password {e}"))?);
        }
    }
    options.sentinels = hosts.split(',').map(str::to_owned).collect();
    let mut segments = path.split('/');
    let name = segments.next().unwrap_or("");
    options.primary_name = percent_decode(name).map_err(|e| format!("the primary name {e}"))?;
    if options.primary_name.is_empty() {
        return Err("no primary name after the sentinel addresses (…/mymaster)".to_owned());
    }
    if let Some(db) = segments.next().filter(|s| !s.is_empty()) {
        options.db = db
            .parse()
            .map_err(|_| format!("database {db:?} is not a number"))?;
    }
    if segments.any(|s| !s.is_empty()) {
        return Err("the path has more than /<primary name>/<db>".to_owned());
    }
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value).map_err(|e| format!("the value of {key} {e}"))?;
        match key {
            "sentinel_username" => options.sentinel_username = Some(value),
            "sentinel_password" => options.sentinel_password = Some(value),
            other => {
                return Err(format!(
                    "unknown query parameter {other:?} (known: sentinel_username, \
                     sentinel_password)"
                ));
            }
        }
    }
    Ok(options)
}

/// `host:port`, `host` (port 26379), `[v6]:port` or `[v6]`.
fn parse_addr(addr: &str) -> Result<(String, u16), String> {
    let bad = |why: &str| format!("sentinel address {addr:?} {why}");
    let addr_t = addr.trim();
    let (host, port) = if let Some(rest) = addr_t.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("has no closing ']'"))?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(bad("has junk after ']'")),
        }
    } else {
        match addr_t.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err(bad(
                    "is an IPv6 address without brackets: write [addr]:port",
                ));
            }
            Some((h, p)) => (h, Some(p)),
            None => (addr_t, None),
        }
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    let port = match port {
        None => DEFAULT_SENTINEL_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => return Err(bad("has no valid port (1-65535)")),
        },
    };
    Ok((host.to_owned(), port))
}

/// Decodes `%XX` escapes (UTF-8).
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "has a '%' not followed by two hex digits".to_owned())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "is not UTF-8 once percent-decoded".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_urls() {
        let o = SentinelOptions::from_url(
            "redis+sentinel://app:p%40ss@10.0.0.1:26380,sentinel-b,[::1]:5000/my%2Dmaster/3\
             ?sentinel_password=s3&sentinel_username=watch",
        )
        .unwrap();
        assert_eq!(o.sentinels, ["10.0.0.1:26380", "sentinel-b", "[::1]:5000"]);
        assert_eq!(o.primary_name, "my-master");
        assert_eq!(o.primary_username.as_deref(), Some("app"));
        assert_eq!(o.primary_password.as_deref(), Some("p@ss"));
        assert_eq!(o.sentinel_username.as_deref(), Some("watch"));
        assert_eq!(o.sentinel_password.as_deref(), Some("s3"));
        assert_eq!(o.db, 3);
        let t = o.check().unwrap();
        assert_eq!(
            t.addrs,
            [
                ("10.0.0.1".to_owned(), 26380),
                ("sentinel-b".to_owned(), 26379),
                ("::1".to_owned(), 5000)
            ]
        );
        assert_eq!(
            t.label(),
            "sentinel:my-master@10.0.0.1:26380,sentinel-b:26379,[::1]:5000"
        );
        assert!(!format!("{o:?}").contains("p@ss"), "{o:?}");

        let plain = SentinelOptions::from_url("redis+sentinel://h/mymaster").unwrap();
        assert_eq!(plain.primary_password, None);
        assert_eq!(plain.db, 0);
        assert!(!plain.is_tls());
        let tls = SentinelOptions::from_url("REDISS+SENTINEL://h:26380,h2/mymaster/1").unwrap();
        assert!(tls.is_tls());
        assert_eq!(tls.sentinels, ["h:26380", "h2"]);
        assert_eq!(tls.db, 1);
        #[cfg(feature = "tls")]
        assert_eq!(
            tls.check().unwrap().label(),
            "sentinel+tls:mymaster@h:26380,h2:26379"
        );
        let pw_only = SentinelOptions::from_url("redis+sentinel://:pw@h/m").unwrap();
        assert_eq!(pw_only.primary_username, None);
        assert_eq!(pw_only.primary_password.as_deref(), Some("pw"));
    }

    #[test]
    fn connect_options_from_a_sentinel_url() {
        let c = ConnectOptions::new("app", "redis+sentinel://127.0.0.1:1,127.0.0.1:2/mm").unwrap();
        let o = c.sentinel_options().unwrap();
        assert_eq!(o.primary_name, "mm");
        assert!(
            ConnectOptions::new("app", "redis://127.0.0.1:1")
                .unwrap()
                .sentinel_options()
                .is_none()
        );
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn rediss_sentinel_needs_the_tls_feature() {
        for e in [
            ConnectOptions::new("app", "rediss+sentinel://h/m").unwrap_err(),
            ConnectOptions::sentinel("app", SentinelOptions::new(["h"], "m").use_tls())
                .unwrap_err(),
        ] {
            assert!(matches!(e, ConfigError::TlsNotEnabled { .. }), "{e:?}");
        }
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_settings_need_rediss_sentinel() {
        let plain = ConnectOptions::new("app", "redis+sentinel://127.0.0.1:1/mm").unwrap();
        let e = plain.tls(crate::TlsOptions::new()).unwrap_err();
        assert!(
            matches!(e, ConfigError::TlsNeedsRedissSentinel { .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("rediss+sentinel://"), "{e}");
        let tls = ConnectOptions::new("app", "rediss+sentinel://127.0.0.1:1/mm")
            .unwrap()
            .tls(crate::TlsOptions::new().danger_accept_invalid_certs())
            .unwrap();
        let target = tls.sentinel.as_ref().unwrap();
        assert!(target.is_tls());
        assert!(target.tls_options().is_some());
        assert!(matches!(
            tls.redis_client().get_connection_info().addr(),
            redis::ConnectionAddr::TcpTls { insecure: true, .. }
        ));
        let spelled =
            ConnectOptions::sentinel("app", SentinelOptions::new(["127.0.0.1:1"], "mm").use_tls())
                .unwrap();
        assert!(spelled.sentinel_options().unwrap().is_tls());
    }

    #[test]
    fn rejects_what_cannot_work_without_echoing_passwords() {
        for (url, says) in [
            ("redis+sentinel://h", "no primary name"),
            ("redis+sentinel://h/", "no primary name"),
            ("redis+sentinel://u:secret@h:0/m", "valid port"),
            ("redis+sentinel://u:secret@h:x/m", "valid port"),
            ("redis+sentinel://u:secret@/m", "no host"),
            ("redis+sentinel://h,,h2/m", "no host"),
            ("redis+sentinel://::1:5/m", "without brackets"),
            ("redis+sentinel://h/m/x", "not a number"),
            ("redis+sentinel://h/m/1/2", "more than"),
            ("redis+sentinel://h/m?password=secret", "unknown query"),
            ("redis+sentinel://u:secret%zz@h/m", "hex digits"),
        ] {
            let e = ConnectOptions::new("app", url).unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, ConfigError::InvalidSentinel(_)), "{url}: {e:?}");
            assert!(text.contains(says), "{url}: {text}");
            assert!(text.contains("redis+sentinel://[[user]"), "{url}: {text}");
            assert!(!text.contains("secret"), "{url}: {text}");
        }
        assert!(matches!(
            ConnectOptions::sentinel("app", SentinelOptions::new(Vec::<String>::new(), "m")),
            Err(ConfigError::InvalidSentinel(_))
        ));
        assert!(matches!(
            ConnectOptions::sentinel("app", SentinelOptions::new(["h"], " m")),
            Err(ConfigError::InvalidSentinel(_))
        ));
        assert!(matches!(
            ConnectOptions::sentinel("", SentinelOptions::new(["h"], "m")),
            Err(ConfigError::EmptyKeyPrefix)
        ));
    }
}
