//! The options every command takes: where Redis is, the key prefix, and the output format.

use std::path::PathBuf;

use crate::conn::Target;
use crate::error::CliError;

/// The Redis URL used when neither `--redis-url` nor `$REDIS_URL` is given.
pub(crate) const DEFAULT_REDIS_URL: &str = "redis://localhost:6379";

/// Options shared by every command; they may stand before or after the command name.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Global {
    /// Where Redis is (`redis://[user:password@]host:port[/db]`; `redis+sentinel://h1,h2/name`
    /// for Sentinel, `rediss://` / `rediss+sentinel://` for TLS). With --cluster, a seed
    /// node of the cluster: give it several times (or comma-separated) for more seeds.
    #[arg(
        long = "redis-url",
        global = true,
        env = "REDIS_URL",
        hide_env_values = true, // it may hold a password
        default_value = DEFAULT_REDIS_URL,
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub(crate) redis_urls: Vec<String>,

    /// Redis Cluster: the --redis-url given (or $REDIS_URL, comma-separated) are seed nodes;
    /// `services`, `replies` and `gc` scan every primary. Several URLs imply it.
    #[arg(long, global = true, env = "CLAMATOR_CLUSTER")]
    pub(crate) cluster: bool,

    /// The URLs given, comma-joined (set by [`Global::normalized`]).
    #[arg(skip)]
    pub(crate) redis_url: String,

    /// The key prefix your servers and clients share (keys are `<prefix>:cmds:<service>`,
    /// `<prefix>:replies:<instance>`); required by every command but `demo`.
    #[arg(
        long,
        global = true,
        env = "CLAMATOR_KEY_PREFIX",
        value_name = "PREFIX"
    )]
    pub(crate) key_prefix: Option<String>,

    /// Machine-readable output: JSON documents (JSON lines for `tail` and `dead`) instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// TLS (with a `rediss://` URL): trust only the CA certificates in this PEM file
    /// instead of the system's root certificates.
    #[arg(long, global = true, env = "CLAMATOR_TLS_CA", value_name = "FILE")]
    pub(crate) tls_ca: Option<PathBuf>,

    /// TLS: present this client certificate (PEM), for Redis with `tls-auth-clients yes`;
    /// needs --tls-key.
    #[arg(long, global = true, env = "CLAMATOR_TLS_CERT", value_name = "FILE")]
    pub(crate) tls_cert: Option<PathBuf>,

    /// TLS: the private key (PEM) of --tls-cert.
    #[arg(long, global = true, env = "CLAMATOR_TLS_KEY", value_name = "FILE")]
    pub(crate) tls_key: Option<PathBuf>,
}

impl Global {
    /// Turns empty values (an exported but empty variable) into their defaults.
    pub(crate) fn normalized(mut self) -> Global {
        self.redis_urls.retain(|u| !u.trim().is_empty());
        if self.redis_urls.is_empty() {
            self.redis_urls.push(DEFAULT_REDIS_URL.to_owned());
        }
        self.redis_url = self.redis_urls.join(",");
        // A Sentinel URL lists its sentinels comma-separated
        // (`redis+sentinel://h1,h2,h3/name`): the pieces are one URL, not
        // cluster seeds.
        let sentinel = clamator_over_redis::is_sentinel_url(&self.redis_urls[0]);
        if self.redis_urls.len() > 1 && !sentinel {
            self.cluster = true;
        }
        if self.key_prefix.as_deref().is_some_and(|p| p.is_empty()) {
            self.key_prefix = None;
        }
        for file in [&mut self.tls_ca, &mut self.tls_cert, &mut self.tls_key] {
            if file.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
                *file = None;
            }
        }
        self
    }

    /// Where Redis is and how to reach it (TLS files read and checked here).
    pub(crate) fn target(&self) -> Result<Target, CliError> {
        Target::new(
            &self.redis_url,
            self.cluster,
            self.tls_ca.as_deref(),
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
        )
    }

    /// The key prefix, or a usage error naming `command` and saying how to give one.
    pub(crate) fn prefix(&self, command: &'static str) -> Result<&str, CliError> {
        match self.key_prefix.as_deref() {
            Some(p) if p.trim() == p => Ok(p),
            Some(p) => Err(CliError::Usage(format!(
                "the key prefix {p:?} starts or ends with whitespace; servers and clients \
                 would not find each other's keys: pass the exact prefix with --key-prefix"
            ))),
            None => Err(CliError::MissingPrefix { command }),
        }
    }
}
