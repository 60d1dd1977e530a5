//! TLS to Redis: `rediss://` URLs, a CA bundle to trust, a client certificate
//! for mutual TLS ([`TlsOptions`], [`ConnectOptions::tls`]), and what a failed
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
//! [`TransportError::ConnectionLost`](clamator_protocol::TransportError::ConnectionLost)
//! whose source chain holds a [`TlsHandshakeError`] saying what to change
//! ([`TlsHandshakeError::find_in`] finds it).

#[cfg(feature = "tls")]
use std::path::Path;

use std::time::Duration;

use redis::RedisError;

use crate::conn::ConnError;
use crate::options::ConfigError;
#[cfg(feature = "tls")]
use crate::options::ConnectOptions;

/// Why a TLS handshake with Redis failed, as far as the client can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The server's certificate is not signed by a CA this client trusts.
    UnknownIssuer,
    /// The server's certificate has expired, or is not valid yet.
    Expired,
    /// The server's certificate does not name the host of the URL.
    WrongName,
    /// The server refused this client's certificate, or wanted one and got none.
    ClientCertRejected,
    /// The server's certificate is unusable for another reason (a CA
    /// certificate presented as the server's own, a certificate not meant
    /// for servers, a bad encoding, a revoked one, ...).
    BadCertificate,
    /// The port does not speak TLS (a `rediss://` URL for a plain port).
    NotTls,
    /// The port closes plaintext connections unanswered, as a TLS port does
    /// (a `redis://` URL for a TLS port).
    PlainToTls,
    /// Another TLS failure (see the message).
    Other,
}

impl TlsFailure {
    /// What to do about it.
    fn advice(self) -> &'static str {
        match self {
            TlsFailure::UnknownIssuer => {
                "the server's certificate is not signed by a CA this client trusts: give the CA \
                 that signed it (TlsOptions::ca_pem_file; clamator and arith-server: --tls-ca or \
                 CLAMATOR_TLS_CA)"
            }
            TlsFailure::Expired => {
                "the server's certificate has expired or is not valid yet: renew the Redis \
                 server's certificate (tls-cert-file), or check this machine's clock"
            }
            TlsFailure::WrongName => {
                "the server's certificate does not name the host in the URL: connect with a host \
                 name (or IP) that the certificate lists"
            }
            TlsFailure::ClientCertRejected => {
                "the server refused this client's certificate or wanted one (tls-auth-clients \
                 yes): give a client certificate and key signed by a CA the server trusts \
                 (TlsOptions::client_cert_pem_files; --tls-cert and --tls-key or \
                 CLAMATOR_TLS_CERT and CLAMATOR_TLS_KEY)"
            }
            TlsFailure::BadCertificate => {
                "the server's certificate cannot be used to verify it (see the detail: e.g. \
                 a CA certificate configured as the server's own tls-cert-file, or one not \
                 issued for servers): give Redis a server certificate signed by a CA, and \
                 that CA to this client (--tls-ca or CLAMATOR_TLS_CA)"
            }
            TlsFailure::NotTls => {
                "the server does not speak TLS on this port: use redis:// for a plain port, or \
                 the port Redis serves TLS on (its tls-port)"
            }
            TlsFailure::PlainToTls => {
                "the server closed a plaintext connection unanswered, as a TLS port does: if \
                 Redis serves TLS on this port (tls-port), use a rediss:// URL"
            }
            TlsFailure::Other => {
                "check the Redis server's TLS settings (tls-port, tls-cert-file) and this \
                 client's CA and certificates"
            }
        }
    }

    /// Whether a retry could fix it: not for certificates or the wrong kind
    /// of port; an unrecognised failure (a handshake cut short by a restart)
    /// may be.
    pub(crate) fn is_transient(self) -> bool {
        matches!(self, TlsFailure::Other)
    }
}

/// A TLS handshake with Redis failed. Found in the source chain of the
/// `TransportError::ConnectionLost` that a failed connect returns.
#[derive(Debug, thiserror::Error)]
#[error("TLS handshake with Redis at {addr} failed ({detail}): {}", .kind.advice())]
pub struct TlsHandshakeError {
    /// Why, as far as the client can tell.
    kind: TlsFailure,
    /// `host:port`.
    addr: String,
    /// What the TLS library (or the connection) said.
    detail: String,
    /// What the connection said.
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl TlsHandshakeError {
    /// Why the handshake failed.
    pub fn kind(&self) -> TlsFailure {
        self.kind
    }

    /// The first `TlsHandshakeError` in `error`'s source chain (`error`
    /// included), e.g. in a `TransportError` from `start()` or `connect`.
    pub fn find_in<'a>(
        error: &'a (dyn std::error::Error + 'static),
    ) -> Option<&'a TlsHandshakeError> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<TlsHandshakeError>() {
                return Some(found);
            }
            next = e.source();
        }
        None
    }

    /// Explains why a connection that `client` opened outside this crate
    /// (tools with connections of their own, as the `clamator` CLI) failed:
    /// `Some` when TLS, or connecting to a port of the other kind, is why.
    /// May probe the port with a plaintext `PING` for up to `limit` (at most
    /// 1 s).
    pub async fn explain(
        client: &redis::Client,
        error: &RedisError,
        limit: Duration,
    ) -> Option<TlsHandshakeError> {
        match explain_connect_failure(client, ConnError::Redis(error.clone()), limit).await {
            ConnError::Tls(tls) => Some(tls),
            _ => None,
        }
    }

    /// Whether a retry could fix it.
    pub(crate) fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }
}

/// Explains a failure to open a connection to `client`'s address: a TLS
/// failure (or a port of the other kind, found by a short probe of at most
/// `limit`) becomes [`ConnError::Tls`]; anything else is returned as is.
pub(crate) async fn explain_connect_failure(
    client: &redis::Client,
    error: ConnError,
    limit: Duration,
) -> ConnError {
    let addr = client.get_connection_info().addr();
    let found = match addr {
        redis::ConnectionAddr::TcpTls { host, port, .. } => match &error {
            ConnError::Redis(e) if tls_failure(e).is_some() => tls_failure(e),
            // A plain Redis waits for the end of a line that a TLS
            // ClientHello never sends: the handshake times out.
            e if is_silence(e) => match probe(host, *port, limit).await {
                Probe::Resp => Some((
                    TlsFailure::NotTls,
                    format!("{error}; the port answers a plaintext PING"),
                )),
                _ => None,
            },
            _ => None,
        },
        redis::ConnectionAddr::Tcp(host, port) => {
            let suspect = is_silence(&error)
                || matches!(&error, ConnError::Redis(e)
                    if e.kind() == redis::ErrorKind::Parse || e.is_connection_dropped());
            // A TLS port closes a plaintext connection (or answers it with a
            // TLS alert); a Redis answers PING.
            match suspect {
                true => match probe(host, *port, limit).await {
                    Probe::Closed | Probe::Tls => Some((
                        TlsFailure::PlainToTls,
                        format!("{error}; the port closes a plaintext PING unanswered"),
                    )),
                    _ => None,
                },
                false => None,
            }
        }
        _ => None,
    };
    match found {
        Some((kind, detail)) => ConnError::Tls(TlsHandshakeError {
            kind,
            addr: addr.to_string(),
            detail,
            source: Box::new(error),
        }),
        None => error,
    }
}

/// Whether `error` is a connect that got no answer in time.
fn is_silence(error: &ConnError) -> bool {
    match error {
        ConnError::TimedOut(_) => true,
        ConnError::Redis(e) => e.is_timeout(),
        _ => false,
    }
}

/// What a port does with a plaintext `PING`.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    /// Answered in RESP: a plain Redis.
    Resp,
    /// Answered with a TLS record (an alert).
    Tls,
    /// Accepted the connection and closed it without a reply.
    Closed,
    /// Anything else: refused, silent, something unknown.
    Unknown,
}

/// Sends a plaintext `PING` to `host:port` and looks at the first byte back,
/// all within `limit` (at most 1 s): only to explain a failed connect.
async fn probe(host: &str, port: u16, limit: Duration) -> Probe {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        stream.write_all(b"PING\r\n").await.ok()?;
        let mut first = [0u8; 1];
        Some(match stream.read(&mut first).await {
            Ok(0) => Probe::Closed,
            Ok(_) if matches!(first[0], b'+' | b'-') => Probe::Resp,
            Ok(_) if matches!(first[0], 0x15 | 0x16) => Probe::Tls,
            Ok(_) => Probe::Unknown,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Probe::Closed,
            Err(_) => Probe::Unknown,
        })
    };
    tokio::time::timeout(limit.min(Duration::from_secs(1)), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(Probe::Unknown)
}

/// The TLS failure in `error`, with what the TLS library said.
fn tls_failure(error: &RedisError) -> Option<(TlsFailure, String)> {
    #[cfg(feature = "tls")]
    if let Some(e) = find_rustls_error(error) {
        return Some((classify_rustls(e), e.to_string()));
    }
    // An error the TLS library gave only as text (the chain lost its type).
    let text = error.to_string();
    let has = |s: &str| text.contains(s);
    if has("InvalidContentType") || has("corrupt message") || has("wrong version number") {
        return Some((TlsFailure::NotTls, text));
    }
    // Every verdict on a certificate is permanent: retrying cannot change it.
    if has("invalid peer certificate") {
        return Some((TlsFailure::BadCertificate, text));
    }
    if has("received fatal alert") || has("tls handshake eof") {
        return Some((TlsFailure::Other, text));
    }
    if error.kind() == redis::ErrorKind::Parse {
        // Decrypted junk cannot come from a TLS port; plaintext read as TLS can.
        return Some((TlsFailure::NotTls, text));
    }
    None
}

/// The rustls error inside a redis-rs error: redis-rs keeps the I/O error
/// (which holds the rustls error) behind an `Arc`, and `io::Error::source`
/// skips the error it wraps, so the chain is searched by hand.
#[cfg(feature = "tls")]
fn find_rustls_error(error: &RedisError) -> Option<&rustls::Error> {
    type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        let inner: Option<&(dyn std::error::Error + 'static)> =
            if let Some(arc) = e.downcast_ref::<Shared>() {
                Some(&**arc)
            } else if let Some(io) = e.downcast_ref::<std::io::Error>() {
                io.get_ref()
                    .map(|inner| inner as &(dyn std::error::Error + 'static))
            } else {
                None
            };
        if let Some(inner) = inner {
            if let Some(found) = inner.downcast_ref::<rustls::Error>() {
                return Some(found);
            }
            if let Some(io) = inner.downcast_ref::<std::io::Error>()
                && let Some(found) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
            {
                return Some(found);
            }
        }
        next = e.source();
    }
    None
}

#[cfg(feature = "tls")]
fn classify_rustls(error: &rustls::Error) -> TlsFailure {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match error {
        E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => TlsFailure::UnknownIssuer,
        E::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => TlsFailure::Expired,
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            TlsFailure::WrongName
        }
        E::AlertReceived(
            A::CertificateRequired
            | A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::CertificateExpired
            | A::CertificateRevoked
            | A::UnsupportedCertificate
            | A::AccessDenied,
        ) => TlsFailure::ClientCertRejected,
        E::InvalidMessage(_) | E::PeerIncompatible(_) | E::PeerSentOversizedRecord => {
            TlsFailure::NotTls
        }
        // Any other verdict on the server's certificate (CaUsedAsEndEntity,
        // a wrong key usage, a bad encoding, revocation, ...) is as permanent
        // as the ones above: a retry gets the same certificate.
        E::InvalidCertificate(_) | E::NoCertificatesPresented | E::InvalidCertRevocationList(_) => {
            TlsFailure::BadCertificate
        }
        _ => TlsFailure::Other,
    }
}

/// Checks that `client` can connect: a `rediss://` address needs this
/// crate's `tls` feature; with it, makes sure rustls has a crypto provider.
pub(crate) fn check_client(client: &redis::Client, from: &'static str) -> Result<(), ConfigError> {
    if !matches!(
        client.get_connection_info().addr(),
        redis::ConnectionAddr::TcpTls { .. }
    ) {
        return Ok(());
    }
    #[cfg(feature = "tls")]
    {
        let _ = from;
        install_crypto_provider();
        Ok(())
    }
    #[cfg(not(feature = "tls"))]
    Err(ConfigError::TlsNotEnabled { from })
}

/// Whether `url` asks for TLS (`rediss://` or `valkeys://`), which needs this
/// crate's `tls` feature.
pub(crate) fn check_url(url: &str, from: &'static str) -> Result<(), ConfigError> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if cfg!(feature = "tls") || !matches!(scheme.as_deref(), Some("rediss" | "valkeys")) {
        return Ok(());
    }
    Err(ConfigError::TlsNotEnabled { from })
}

/// Makes *ring* the process's rustls crypto provider unless one is set:
/// redis-rs builds its rustls configs with the process default, and rustls
/// cannot pick one by itself when a program links more than one.
#[cfg(feature = "tls")]
pub(crate) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: there is a provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// PEM bytes and where they came from (for messages).
#[cfg(feature = "tls")]
#[derive(Clone)]
struct Pem {
    /// The bytes.
    bytes: Vec<u8>,
    /// `file "path"` or `bytes`.
    origin: String,
}

/// What to trust and what to present when connecting over TLS (`rediss://`):
/// a CA bundle instead of the system's root certificates, a client
/// certificate for mutual TLS. Set on [`ConnectOptions::tls`]; every file is
/// read and checked here, so a bad one fails before any connection is tried.
#[cfg(feature = "tls")]
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// CA certificates to trust instead of the system's roots.
    ca: Option<Pem>,
    /// Client certificate chain and key.
    client: Option<(Pem, Pem)>,
    /// Certificates are not verified at all.
    accept_invalid_certs: bool,
}

#[cfg(feature = "tls")]
impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca", &self.ca.as_ref().map(|p| &p.origin))
            .field("client_cert", &self.client.as_ref().map(|(c, _)| &c.origin))
            .field("client_key", &self.client.as_ref().map(|_| "<redacted>"))
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}

#[cfg(feature = "tls")]
impl TlsOptions {
    /// The certificates in redis-rs's form.
    pub(crate) fn certificates(self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self.client.map(|(cert, key)| redis::ClientTlsConfig {
                client_cert: cert.bytes,
                client_key: key.bytes,
            }),
            root_cert: self.ca.map(|ca| ca.bytes),
        }
    }

    /// Whether certificates are not checked at all.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub(crate) fn accepts_invalid_certs(&self) -> bool {
        self.accept_invalid_certs
    }

    /// No CA bundle (the system's roots), no client certificate.
    pub fn new() -> TlsOptions {
        TlsOptions::default()
    }

    /// Trusts only the CA certificates in this PEM file (one or more
    /// `BEGIN CERTIFICATE` blocks), instead of the system's roots.
    pub fn ca_pem_file(self, path: impl AsRef<Path>) -> Result<TlsOptions, ConfigError> {
        let pem = read_pem("CA bundle", path.as_ref())?;
        self.with_ca(pem)
    }

    /// Trusts only the CA certificates in these PEM bytes, instead of the
    /// system's roots.
    pub fn ca_pem(self, pem: impl Into<Vec<u8>>) -> Result<TlsOptions, ConfigError> {
        self.with_ca(Pem {
            bytes: pem.into(),
            origin: "bytes".to_owned(),
        })
    }

    fn with_ca(mut self, pem: Pem) -> Result<TlsOptions, ConfigError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let invalid = |problem: String| ConfigError::TlsInvalidPem {
            what: "CA bundle",
            origin: pem.origin.clone(),
            problem,
        };
        let certs = CertificateDer::pem_slice_iter(&pem.bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("its PEM does not parse ({e})")))?;
        if certs.is_empty() {
            return Err(invalid(
                "it holds no certificate (no -----BEGIN CERTIFICATE----- block)".to_owned(),
            ));
        }
        let mut roots = rustls::RootCertStore::empty();
        for (i, cert) in certs.into_iter().enumerate() {
            roots.add(cert).map_err(|e| {
                invalid(format!(
                    "certificate {} of the bundle is not a usable CA certificate ({e})",
                    i + 1
                ))
            })?;
        }
        self.ca = Some(pem);
        Ok(self)
    }

    /// Presents this certificate (chain) and private key, PEM files, for
    /// mutual TLS (Redis with `tls-auth-clients yes`).
    pub fn client_cert_pem_files(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsOptions, ConfigError> {
        let cert = read_pem("client certificate", cert.as_ref())?;
        let key = read_pem("client key", key.as_ref())?;
        self.with_client(cert, key)
    }

    /// Presents this certificate (chain) and private key, PEM bytes, for
    /// mutual TLS.
    pub fn client_cert_pem(
        self,
        cert: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Result<TlsOptions, ConfigError> {
        let pem = |bytes: Vec<u8>| Pem {
            bytes,
            origin: "bytes".to_owned(),
        };
        self.with_client(pem(cert.into()), pem(key.into()))
    }

    fn with_client(mut self, cert: Pem, key: Pem) -> Result<TlsOptions, ConfigError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_slice_iter(&cert.bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::TlsInvalidPem {
                what: "client certificate",
                origin: cert.origin.clone(),
                problem: format!("its PEM does not parse ({e})"),
            })?;
        if chain.is_empty() {
            return Err(ConfigError::TlsInvalidPem {
                what: "client certificate",
                origin: cert.origin.clone(),
                problem: "it holds no certificate (no -----BEGIN CERTIFICATE----- block)"
                    .to_owned(),
            });
        }
        let invalid_key = |problem: String| ConfigError::TlsInvalidPem {
            what: "client key",
            origin: key.origin.clone(),
            problem,
        };
        let der = PrivateKeyDer::from_pem_slice(&key.bytes).map_err(|e| {
            invalid_key(format!(
                "it holds no usable private key (a -----BEGIN PRIVATE KEY----- (PKCS#8), RSA \
                 PRIVATE KEY or EC PRIVATE KEY block) ({e})"
            ))
        })?;
        let provider = rustls::crypto::ring::default_provider();
        let signing = provider
            .key_provider
            .load_private_key(der)
            .map_err(|e| invalid_key(format!("the key is not supported ({e})")))?;
        match rustls::sign::CertifiedKey::new(chain, signing).keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(_)) => {
                return Err(ConfigError::TlsKeyMismatch {
                    cert: cert.origin,
                    key: key.origin,
                });
            }
            Err(e) => {
                return Err(ConfigError::TlsInvalidPem {
                    what: "client certificate",
                    origin: cert.origin,
                    problem: format!("its first certificate does not parse ({e})"),
                });
            }
        }
        self.client = Some((cert, key));
        Ok(self)
    }

    /// **For development only.** Accepts any server certificate: no CA, no
    /// expiry and no name is checked, so anyone between this process and
    /// Redis can read and change everything. The connection is still
    /// encrypted. (Same as a `rediss://host/#insecure` URL.)
    #[must_use]
    pub fn danger_accept_invalid_certs(mut self) -> TlsOptions {
        self.accept_invalid_certs = true;
        self
    }
}

#[cfg(feature = "tls")]
fn read_pem(what: &'static str, path: &Path) -> Result<Pem, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::TlsFileUnreadable {
        what,
        path: path.to_owned(),
        source,
    })?;
    Ok(Pem {
        bytes,
        origin: format!("file {:?}", path.display().to_string()),
    })
}

#[cfg(feature = "tls")]
impl ConnectOptions {
    /// Connects over TLS with these settings (a CA bundle, a client
    /// certificate, ...), replacing any given before. The URL (or client) must
    /// be `rediss://`: TLS settings on a `redis://` URL are a
    /// [`ConfigError::TlsNeedsRediss`], never a silent plaintext connection.
    pub fn tls(mut self, tls: TlsOptions) -> Result<ConnectOptions, ConfigError> {
        #[cfg(feature = "cluster")]
        if let Some(cluster) = &self.cluster {
            self.cluster = Some(cluster.with_tls(tls)?);
            return Ok(self);
        }
        let info = self.client.get_connection_info().clone();
        let (host, port, insecure) = match info.addr() {
            redis::ConnectionAddr::TcpTls {
                host,
                port,
                insecure,
                ..
            } => (host.clone(), *port, *insecure),
            other => {
                return Err(ConfigError::TlsNeedsRediss {
                    addr: other.to_string(),
                });
            }
        };
        let info = info.set_addr(redis::ConnectionAddr::TcpTls {
            host,
            port,
            insecure: insecure || tls.accept_invalid_certs,
            tls_params: None,
        });
        let certificates = tls.certificates();
        install_crypto_provider();
        self.client = redis::Client::build_with_tls(info, certificates).map_err(|e| {
            ConfigError::TlsInvalidPem {
                what: "TLS settings",
                origin: "redis".to_owned(),
                problem: e.to_string(),
            }
        })?;
        Ok(self)
    }
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_need_rediss() {
        let e = ConnectOptions::new("a", "redis://127.0.0.1:1")
            .unwrap()
            .tls(TlsOptions::new())
            .unwrap_err();
        assert!(matches!(e, ConfigError::TlsNeedsRediss { .. }), "{e}");
        assert!(e.to_string().contains("rediss://"), "{e}");
        ConnectOptions::new("a", "rediss://127.0.0.1:1")
            .unwrap()
            .tls(TlsOptions::new().danger_accept_invalid_certs())
            .unwrap();
    }

    #[test]
    fn rejects_files_that_are_not_what_they_should_be() {
        let missing = TlsOptions::new()
            .ca_pem_file("/nonexistent/ca.pem")
            .unwrap_err();
        assert!(
            matches!(missing, ConfigError::TlsFileUnreadable { .. }),
            "{missing}"
        );
        assert!(
            missing.to_string().contains("/nonexistent/ca.pem"),
            "{missing}"
        );
        let empty = TlsOptions::new().ca_pem("hello").unwrap_err();
        assert!(empty.to_string().contains("no certificate"), "{empty}");
        let junk = TlsOptions::new()
            .ca_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .unwrap_err();
        assert!(matches!(junk, ConfigError::TlsInvalidPem { .. }), "{junk}");
        let no_key = TlsOptions::new()
            .client_cert_pem(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "",
            )
            .unwrap_err();
        assert!(
            matches!(no_key, ConfigError::TlsInvalidPem { .. }),
            "{no_key}"
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let t = TlsOptions::new().danger_accept_invalid_certs();
        let text = format!("{t:?}");
        assert!(text.contains("accept_invalid_certs: true"), "{text}");
    }
}
