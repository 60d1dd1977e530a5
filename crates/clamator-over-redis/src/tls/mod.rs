//! TLS to Redis: `rediss://` URLs, a CA bundle to trust, a client certificate
//! for mutual TLS ([`TlsOptions`],
//! [`ConnectOptions::tls`](crate::ConnectOptions::tls)), and what a failed
//! handshake says ([`TlsHandshakeError`]).
//!
//! `ConnectOptions::new(prefix, "rediss://host:6380")` alone trusts the
//! system's root certificates (what `redis-cli --tls` and `openssl` trust
//! here; `SSL_CERT_FILE` / `SSL_CERT_DIR` point elsewhere). A Redis whose
//! certificate comes from a private CA needs that CA:
//!
//! ```no_run
//! # #[cfg(feature = "tls")]
//! # fn run() -> Result<(), clamator_over_redis::ConfigError> {
//! use clamator_over_redis::{ConnectOptions, TlsOptions};
//! let redis = ConnectOptions::new("myapp", "rediss://redis.internal:6380")?.tls(
//!     TlsOptions::new()
//!         .ca_pem_file("/etc/myapp/redis-ca.pem")?
//!         // only when Redis runs with tls-auth-clients yes:
//!         .client_cert_pem_files("/etc/myapp/client.pem", "/etc/myapp/client.key")?,
//! )?;
//! # let _ = redis; Ok(()) }
//! ```
//!
//! The TLS stack is rustls (through redis-rs's `tokio-rustls-comp`) with the
//! *ring* crypto provider, behind this crate's `tls` feature. The server's
//! name is checked against the host of the URL (redis-rs has no separate
//! server-name setting): connect with a name the certificate lists.
//!
//! A handshake that fails because of certificates (an unknown CA, an expired
//! or misnamed certificate, a client certificate the server refuses) or
//! because the port does not speak TLS is not retried: a server's `start()`
//! and a client's `connect` fail at once with
//! [`ConnectError::Tls`](crate::ConnectError::Tls), holding a
//! [`TlsHandshakeError`] that says what to change
//! ([`TlsHandshakeError::kind`] says which failure it is).
//!
//! # Layout
//! - `options`: [`TlsOptions`] and
//!   [`ConnectOptions::tls`](crate::ConnectOptions::tls), the checks that a
//!   `rediss://` address can be used, the crypto provider.
//! - `diagnosis`: [`TlsHandshakeError`] and [`TlsFailure`], what a failed
//!   handshake means and what to change.

mod diagnosis;
mod options;

pub(crate) use diagnosis::explain_connect_failure;
#[cfg(feature = "sentinel")]
pub(crate) use diagnosis::explain_tls_failure;
pub use diagnosis::{TlsFailure, TlsHandshakeError};
#[cfg(feature = "tls")]
pub use options::TlsOptions;
#[cfg(all(feature = "tls", feature = "cluster"))]
pub(crate) use options::install_crypto_provider;
pub(crate) use options::{check_client, check_url};
