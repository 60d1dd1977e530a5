//! [`Connector`]: where a server's or client's connections go (one address,
//! the primary Sentinel names, or a Redis Cluster) and how one is opened:
//! bounded by the command timeout, a TLS failure explained.

#[cfg(feature = "sentinel")]
use std::sync::Arc;
use std::time::Duration;

use redis::{AsyncConnectionConfig, Client, RedisError};

#[cfg(feature = "sentinel")]
use super::sentinel::SentinelResolver;
use super::{Conn, ConnError};
use crate::backoff::Backoff;
use crate::options::ConnectOptions;

/// With Sentinel, the longest a blocking loop waits between two reconnects:
/// an attempt only asks the sentinels, and a failover completes seconds
/// after `down-after-milliseconds`, so loops resume promptly after it.
#[cfg(feature = "sentinel")]
const SENTINEL_RECONNECT_MAX: Duration = Duration::from_secs(1);

/// Where a [`Connector`] connects.
#[derive(Debug, Clone)]
enum Target {
    /// One address: a URL, or a client the caller made.
    Direct(Box<Client>),
    /// A Redis Cluster, through its seeds.
    #[cfg(feature = "cluster")]
    Cluster(Box<crate::cluster::ClusterTarget>),
    /// The primary the sentinels name at each connect.
    #[cfg(feature = "sentinel")]
    Sentinel(Arc<SentinelResolver>),
}

/// Opens connections: to one address, or to the primary Sentinel names.
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    /// Where connections go.
    target: Target,
    /// Bound on opening a connection and on one non-blocking command.
    command_timeout: Duration,
}

impl Connector {
    /// A connector for `options` (a fresh Sentinel client per connector:
    /// one per server or client, shared by its loops).
    pub(crate) fn new(options: &ConnectOptions) -> Self {
        #[cfg(feature = "sentinel")]
        if let Some(target) = &options.sentinel {
            return Connector {
                target: Target::Sentinel(Arc::new(SentinelResolver::new(target.clone()))),
                command_timeout: options.command_timeout,
            };
        }
        #[cfg(feature = "cluster")]
        if let Some(target) = &options.cluster {
            return Connector {
                target: Target::Cluster(Box::new(target.clone())),
                command_timeout: options.command_timeout,
            };
        }
        Connector {
            target: Target::Direct(Box::new(options.client.clone())),
            command_timeout: options.command_timeout,
        }
    }

    /// The bound on one non-blocking command.
    pub(crate) fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// Whether connections go to a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        match &self.target {
            #[cfg(feature = "cluster")]
            Target::Cluster(_) => true,
            _ => false,
        }
    }

    /// Names where connections go: the address, or the Sentinel deployment.
    pub(crate) fn label(&self) -> String {
        match &self.target {
            Target::Direct(client) => client.get_connection_info().addr().to_string(),
            #[cfg(feature = "sentinel")]
            Target::Sentinel(resolver) => resolver.target.label(),
            #[cfg(feature = "cluster")]
            Target::Cluster(target) => format!("Redis Cluster {}", target.seeds.join(",")),
        }
    }

    /// Whether `CLIENT UNBLOCK` must go to the blocking read's own node
    /// rather than over the shared connection: with Sentinel the two may be
    /// on different nodes for a moment after a failover.
    pub(super) fn unblock_on_own_node(&self) -> bool {
        match &self.target {
            Target::Direct(_) => false,
            // Routed by the read's stream key instead.
            #[cfg(feature = "cluster")]
            Target::Cluster(_) => false,
            #[cfg(feature = "sentinel")]
            Target::Sentinel(_) => true,
        }
    }

    /// The backoff of a blocking loop's reconnects.
    pub(super) fn reconnect_backoff(&self) -> Backoff {
        match &self.target {
            Target::Direct(_) => Backoff::default(),
            #[cfg(feature = "cluster")]
            Target::Cluster(_) => Backoff::default(),
            #[cfg(feature = "sentinel")]
            Target::Sentinel(_) => Backoff::new(crate::backoff::INITIAL, SENTINEL_RECONNECT_MAX),
        }
    }

    /// The options of every connection: redis-rs's own response timeout
    /// disabled, since we bound every command ourselves with a budget that
    /// fits it (a blocking read needs more than 500 ms).
    fn config(&self) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.command_timeout))
            .set_response_timeout(None)
    }

    /// Opens a connection (with Sentinel, to the primary named now; on a
    /// cluster, a cluster connection); returns it and, for one node, a
    /// client of the node it is on.
    pub(super) async fn open(&self) -> Result<(Conn, Option<Client>), ConnError> {
        let config = self.config();
        let opening = async {
            let client = match &self.target {
                Target::Direct(client) => (**client).clone(),
                #[cfg(feature = "sentinel")]
                // Boxed: redis-rs's lookup is a deep future type, and
                // callers' futures would otherwise carry it inline.
                Target::Sentinel(resolver) => Box::pin(resolver.primary()).await?,
                #[cfg(feature = "cluster")]
                Target::Cluster(target) => {
                    // No response timeout (the cluster client's default):
                    // we bound every command ourselves.
                    let config = redis::cluster::ClusterConfig::new()
                        .set_connection_timeout(self.command_timeout);
                    let conn =
                        Box::pin(target.client.get_async_connection_with_config(config)).await?;
                    return Ok::<_, ConnError>((Conn::Cluster(conn), None));
                }
            };
            let conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            Ok::<_, ConnError>((Conn::Single(conn), Some(client)))
        };
        // Opening has been seen to hang: bound it here too.
        let opened = match tokio::time::timeout(self.command_timeout, opening).await {
            Ok(result) => result,
            Err(_) => Err(ConnError::TimedOut(self.command_timeout)),
        };
        match (opened, &self.target) {
            (Ok(opened), _) => Ok(opened),
            // Says so when TLS (or the lack of it) is why.
            (Err(e), Target::Direct(client)) => {
                Err(crate::tls::explain_connect_failure(client, e, self.command_timeout).await)
            }
            // The resolver explains its own failures; a TLS failure with
            // the primary it named is explained here.
            #[cfg(feature = "sentinel")]
            (Err(ConnError::Redis(e)), Target::Sentinel(resolver)) if resolver.target.is_tls() => {
                Err(
                    match crate::tls::explain_tls_failure(&resolver.target.label(), &e) {
                        Some(tls) => ConnError::Tls(tls),
                        None => ConnError::Redis(e),
                    },
                )
            }
            #[cfg(feature = "sentinel")]
            (Err(e), Target::Sentinel(_)) => Err(e),
            // Says so when TLS is why (judged on the first seed's address).
            #[cfg(feature = "cluster")]
            (Err(e), Target::Cluster(t)) => {
                Err(crate::tls::explain_connect_failure(&t.first, e, self.command_timeout).await)
            }
        }
    }
}

/// Runs a command under a time bound.
pub(super) async fn bounded<T, F>(limit: Duration, fut: F) -> Result<T, ConnError>
where
    F: std::future::Future<Output = Result<T, RedisError>>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ConnError::TimedOut(limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_is_labelled_by_it_and_backs_off_up_to_30_s() {
        let options = ConnectOptions::new("t", "redis://127.0.0.1:7001")
            .unwrap()
            .command_timeout(Duration::from_millis(1500));
        let c = Connector::new(&options);
        assert_eq!(c.label(), "127.0.0.1:7001");
        assert_eq!(c.command_timeout(), Duration::from_millis(1500));
        assert!(!c.is_cluster());
        assert!(!c.unblock_on_own_node());
        let mut backoff = c.reconnect_backoff();
        let delays: Vec<Duration> = (0..20).map(|_| backoff.next_delay()).collect();
        assert!(delays[0] <= crate::backoff::INITIAL);
        assert!(delays.iter().all(|d| *d <= crate::backoff::MAX));
        assert!(delays[19] >= crate::backoff::MAX / 2);
    }

    #[cfg(feature = "sentinel")]
    #[test]
    fn with_sentinel_loops_retry_within_a_second_and_unblock_on_their_node() {
        let options =
            ConnectOptions::new("t", "redis+sentinel://127.0.0.1:26379/mymaster").unwrap();
        let c = Connector::new(&options);
        assert!(c.unblock_on_own_node());
        let mut backoff = c.reconnect_backoff();
        assert!((0..20).all(|_| backoff.next_delay() <= SENTINEL_RECONNECT_MAX));
    }
}
