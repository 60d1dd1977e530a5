//! Redis Cluster (and Valkey cluster): [`ConnectOptions::cluster`] and
//! `$REDIS_URL` holding several comma-separated seed URLs.
//!
//! Every clamator command touches one key, so the family's key names work
//! unchanged in a cluster: no hash tags are added (they would change the keys
//! the Python and TypeScript peers use), and a mixed worker pool stays
//! possible. Each service's command stream lives on the primary that owns its
//! slot: many services spread over the primaries, one hot service does not
//! (README, "Redis Cluster").
//!
//! What changes on a cluster, inside the transport:
//! - Connections are redis-rs cluster connections: they follow `MOVED` and
//!   `ASK` and find the new primary after a failover by themselves. Each
//!   blocking loop (a server's `XREADGROUP`, a client's reply `XREAD`) has a
//!   cluster connection of its own.
//! - A server's replies (one `XADD` per reply stream, each in its own slot)
//!   and the `XACK` of entries answered earlier go as separate commands,
//!   since a pipeline may not cross slots; an entry is still acknowledged
//!   only after its reply is written. A reply refused for a transient reason
//!   is written again with backoff, as on one Redis (see `finish`).
//! - `CLIENT ID` and `CLIENT UNBLOCK` go to the primary of the blocked read's
//!   stream (client ids are per node); the id is read again before each park,
//!   since a redirect can move the read to another node.
//! - `UNBLOCKED` (a parked read's slot moved), `NOGROUP`, `MOVED`/`ASK`,
//!   `TRYAGAIN` and `CLUSTERDOWN` are transient: retried with the usual backoff.
//!
//! TLS (`rediss://` seeds, [`ConnectOptions::tls`]) and ACL users
//! (`redis://user:password@host:port` in every seed) work as with one Redis.
//! A cluster has one database: a `/<db>` other than 0 is refused.

use redis::cluster::{ClusterClient, ClusterClientBuilder};

use crate::options::{ConfigError, ConnectOptions, redact_url as redact};

/// Seeds of a cluster and the client built from them.
#[derive(Clone)]
pub(crate) struct ClusterTarget {
    /// The seed URLs, for messages (passwords redacted).
    pub(crate) seeds: Vec<String>,
    /// Opens cluster connections.
    pub(crate) client: ClusterClient,
    /// The parsed seeds, to rebuild the client with TLS settings.
    #[cfg(feature = "tls")]
    infos: Vec<redis::ConnectionInfo>,
    /// A client of the first seed: its address tells a TLS failure apart.
    pub(crate) first: redis::Client,
}

impl std::fmt::Debug for ClusterTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTarget")
            .field("seeds", &self.seeds)
            .finish_non_exhaustive()
    }
}

impl ClusterTarget {
    /// Parses and checks `seeds` (one URL each, possibly comma-separated lists).
    pub(crate) fn parse<S: AsRef<str>>(
        seeds: impl IntoIterator<Item = S>,
        from: &'static str,
    ) -> Result<ClusterTarget, ConfigError> {
        let urls: Vec<String> = seeds
            .into_iter()
            .flat_map(|s| {
                s.as_ref()
                    .split(',')
                    .map(|u| u.trim().to_owned())
                    .collect::<Vec<_>>()
            })
            .filter(|u| !u.is_empty())
            .collect();
        if urls.is_empty() {
            return Err(ConfigError::InvalidCluster(format!(
                "no seed node URL in {from}"
            )));
        }
        let mut infos = Vec::with_capacity(urls.len());
        for url in &urls {
            let lower = url.to_ascii_lowercase();
            if crate::is_sentinel_url(url) {
                return Err(ConfigError::InvalidCluster(format!(
                    "{} is a Sentinel URL; a cluster needs its nodes' URLs",
                    redact(url)
                )));
            }
            if lower.starts_with("unix:") || lower.starts_with("redis+unix:") {
                return Err(ConfigError::InvalidCluster(format!(
                    "{} is a unix socket; cluster nodes announce TCP addresses",
                    redact(url)
                )));
            }
            crate::tls::check_url(url, from)?;
            let info = redis::IntoConnectionInfo::into_connection_info(url.as_str()).map_err(
                |source| ConfigError::InvalidUrl {
                    from,
                    url: redact(url),
                    source,
                },
            )?;
            if info.redis_settings().db() != 0 {
                return Err(ConfigError::InvalidCluster(format!(
                    "{} selects database {}; a cluster has only database 0",
                    redact(url),
                    info.redis_settings().db()
                )));
            }
            infos.push(info);
        }
        let client = build(&infos, None)?;
        let first = match infos.first() {
            Some(info) => {
                redis::Client::open(info.clone()).map_err(|source| ConfigError::InvalidUrl {
                    from,
                    url: redact(&urls[0]),
                    source,
                })?
            }
            None => {
                return Err(ConfigError::InvalidCluster(format!(
                    "no seed node URL in {from}"
                )));
            }
        };
        Ok(ClusterTarget {
            seeds: urls.iter().map(|u| redact(u)).collect(),
            client,
            #[cfg(feature = "tls")]
            infos,
            first,
        })
    }

    /// The same seeds with these TLS settings; every seed must be `rediss://`.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls(&self, tls: crate::TlsOptions) -> Result<ClusterTarget, ConfigError> {
        for info in &self.infos {
            if !matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
                return Err(ConfigError::TlsNeedsRediss {
                    addr: info.addr().to_string(),
                });
            }
        }
        let infos: Vec<redis::ConnectionInfo> = self
            .infos
            .iter()
            .map(|info| match info.addr() {
                redis::ConnectionAddr::TcpTls {
                    host,
                    port,
                    insecure,
                    ..
                } => {
                    let addr = redis::ConnectionAddr::TcpTls {
                        host: host.clone(),
                        port: *port,
                        insecure: *insecure || tls.accepts_invalid_certs(),
                        tls_params: None,
                    };
                    info.clone().set_addr(addr)
                }
                _ => info.clone(),
            })
            .collect();
        crate::tls::install_crypto_provider();
        let client = build(&infos, Some(tls))?;
        Ok(ClusterTarget {
            client,
            infos,
            seeds: self.seeds.clone(),
            first: self.first.clone(),
        })
    }
}

/// A cluster client of `infos`: no response timeout of redis-rs's own (every
/// command is bounded by ours; blocking reads need more), TLS settings if given.
fn build(
    infos: &[redis::ConnectionInfo],
    #[cfg(feature = "tls")] tls: Option<crate::TlsOptions>,
    #[cfg(not(feature = "tls"))] _tls: Option<()>,
) -> Result<ClusterClient, ConfigError> {
    let mut builder = ClusterClientBuilder::new(infos.to_vec());
    #[cfg(feature = "tls")]
    if let Some(tls) = tls {
        builder = builder.certs(tls.certificates());
    }
    builder = builder.overall_response_timeout(None);
    builder
        .build()
        .map_err(|e| ConfigError::InvalidCluster(e.to_string()))
}

impl ConnectOptions {
    /// A Redis Cluster reached through `seeds` (node URLs,
    /// `redis://[user:password@]host:port`, `rediss://` for TLS; one is
    /// enough, more survive a seed being down; an item may hold several,
    /// comma-separated), keys under `key_prefix`. See the `cluster` module
    /// for what changes on a cluster.
    pub fn cluster<S: AsRef<str>>(
        key_prefix: impl Into<String>,
        seeds: impl IntoIterator<Item = S>,
    ) -> Result<ConnectOptions, ConfigError> {
        Self::cluster_from(key_prefix.into(), seeds, "the seed list")
    }

    /// A Redis Cluster whose seed URLs are in `$REDIS_URL` (comma-separated),
    /// or `redis://localhost:6379` when it is unset or empty.
    pub fn cluster_from_env(key_prefix: impl Into<String>) -> Result<ConnectOptions, ConfigError> {
        match std::env::var(crate::options::REDIS_URL_ENV) {
            Ok(urls) if !urls.trim().is_empty() => {
                Self::cluster_from(key_prefix.into(), [urls], "$REDIS_URL")
            }
            _ => Self::cluster_from(
                key_prefix.into(),
                [crate::options::DEFAULT_REDIS_URL],
                "the default URL",
            ),
        }
    }

    pub(crate) fn cluster_from<S: AsRef<str>>(
        key_prefix: String,
        seeds: impl IntoIterator<Item = S>,
        from: &'static str,
    ) -> Result<ConnectOptions, ConfigError> {
        let target = ClusterTarget::parse(seeds, from)?;
        // `redis_client()` of cluster options: the first seed's client.
        let client = target.first.clone();
        let mut options = ConnectOptions::from_parts(key_prefix, client)?;
        options.cluster = Some(target);
        Ok(options)
    }

    /// The cluster client connections are opened from, when these options
    /// name a Redis Cluster (for tools that inspect it directly).
    pub fn cluster_client(&self) -> Option<&ClusterClient> {
        self.cluster.as_ref().map(|c| &c.client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seed_lists() {
        let t = ClusterTarget::parse(
            [
                "redis://u:pw@127.0.0.1:7000, redis://u:pw@127.0.0.1:7001",
                "",
            ],
            "x",
        )
        .unwrap();
        assert_eq!(
            t.seeds,
            [
                "redis://u:***@127.0.0.1:7000",
                "redis://u:***@127.0.0.1:7001"
            ]
        );
        assert!(format!("{t:?}").contains("***"));
        assert!(!format!("{t:?}").contains("pw"));
    }

    #[test]
    fn refuses_what_a_cluster_cannot_use() {
        for (seeds, want) in [
            (vec![""], "no seed"),
            (vec!["redis://127.0.0.1:7000/2"], "database 0"),
            (vec!["redis+sentinel://127.0.0.1/mymaster"], "Sentinel"),
            (vec!["unix:///tmp/x.sock"], "unix socket"),
            (
                vec!["redis://a:x@127.0.0.1:7000", "redis://b:x@127.0.0.1:7001"],
                "username",
            ),
        ] {
            let e = ClusterTarget::parse(seeds.iter(), "x").unwrap_err();
            assert!(e.to_string().contains(want), "{seeds:?}: {e}");
        }
        let e = ClusterTarget::parse(["not a url"], "x").unwrap_err();
        assert!(matches!(e, ConfigError::InvalidUrl { .. }), "{e}");
    }
}
