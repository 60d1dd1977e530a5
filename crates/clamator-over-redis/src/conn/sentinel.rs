//! Where the primary is, asked of the sentinels at every connect (never
//! cached, so a reconnect after a failover finds the new primary).

use std::time::Duration;

use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Client, ConnectionAddr, RedisError};

use super::ConnError;

/// Asks the sentinels where the primary is, at every connect.
pub(super) struct SentinelResolver {
    /// The sentinels, the primary's name, the credentials.
    pub(super) target: crate::sentinel::SentinelTarget,
    /// Built at the first connect; keeps its connections to the sentinels
    /// (never the primary's address). Locked while one loop resolves, so the
    /// loops of one server or client ask one at a time.
    client: tokio::sync::Mutex<Option<SentinelClient>>,
}

impl std::fmt::Debug for SentinelResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelResolver")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl SentinelResolver {
    /// A resolver for `target`; its Sentinel client is built at the first
    /// connect.
    pub(super) fn new(target: crate::sentinel::SentinelTarget) -> Self {
        SentinelResolver {
            target,
            client: tokio::sync::Mutex::new(None),
        }
    }

    fn build(&self) -> Result<SentinelClient, RedisError> {
        let t = &self.target;
        #[cfg(feature = "tls")]
        let insecure = t
            .tls_options()
            .is_some_and(crate::TlsOptions::accepts_invalid_certs);
        #[cfg(not(feature = "tls"))]
        let insecure = false;
        let addrs = t.addrs.iter().map(|(host, port)| match t.is_tls() {
            true => ConnectionAddr::TcpTls {
                host: host.clone(),
                port: *port,
                insecure,
                tls_params: None,
            },
            false => ConnectionAddr::Tcp(host.clone(), *port),
        });
        let mut b =
            SentinelClientBuilder::new(addrs, t.primary_name(), SentinelServerType::Master)?;
        if t.is_tls() {
            // The same settings for the sentinels and for the data nodes: the
            // data nodes' addresses are the ones the sentinels name.
            b = b.set_client_to_redis_tls_mode(match insecure {
                true => redis::TlsMode::Insecure,
                false => redis::TlsMode::Secure,
            });
            #[cfg(feature = "tls")]
            if let Some(tls) = t.tls_options() {
                let certificates = tls.clone().certificates();
                b = b
                    .set_client_to_sentinel_certificates(certificates.clone())
                    .set_client_to_redis_certificates(certificates);
            }
        }
        if let Some(user) = t.primary_username() {
            b = b.set_client_to_redis_username(user);
        }
        if let Some(password) = t.primary_password() {
            b = b.set_client_to_redis_password(password);
        }
        if t.db() != 0 {
            b = b.set_client_to_redis_db(t.db());
        }
        if let Some(user) = t.sentinel_username() {
            b = b.set_client_to_sentinel_username(user);
        }
        if let Some(password) = t.sentinel_password() {
            b = b.set_client_to_sentinel_password(password);
        }
        b.build()
    }

    /// A client of the current primary: asks the sentinels (`SENTINEL
    /// MASTERS`), skips a primary they flag down, and checks with `ROLE` that
    /// the node named is a primary. Cancel-safe (redis-rs caches only
    /// verified sentinel connections).
    pub(super) async fn primary(&self) -> Result<Client, ConnError> {
        let no_primary = |source| ConnError::NoPrimary {
            name: self.target.primary_name().to_owned(),
            source,
        };
        let mut guard = self.client.lock().await;
        if guard.is_none() {
            *guard = Some(self.build().map_err(no_primary)?);
        }
        let Some(sentinels) = guard.as_mut() else {
            return Err(ConnError::Unreachable {
                last_error: "the Sentinel client was not built".to_owned(),
                retry_in: Duration::ZERO,
            });
        };
        let client = sentinels
            .async_get_client()
            .await
            .map_err(|e| self.explain(e))?;
        tracing::debug!(primary = ?client.get_connection_info().addr(),
            name = self.target.primary_name(), "Sentinel named the primary");
        Ok(client)
    }

    /// Why the sentinels named no usable primary: with TLS, a failed
    /// handshake (with a sentinel or with the node it named) becomes
    /// [`ConnError::Tls`], which says what to change and is not retried.
    fn explain(&self, error: RedisError) -> ConnError {
        if self.target.is_tls()
            && let Some(tls) = crate::tls::explain_tls_failure(&self.target.label(), &error)
        {
            return ConnError::Tls(tls);
        }
        ConnError::NoPrimary {
            name: self.target.primary_name().to_owned(),
            source: error,
        }
    }
}
