//! What a failed TLS handshake (or a connect to a port of the other kind)
//! says: rustls's verdicts, and a short plaintext probe of the port, turned
//! into a [`TlsHandshakeError`] that names what to change.

use std::time::Duration;

use redis::RedisError;

use crate::conn::ConnError;

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

/// A TLS handshake with Redis failed: what
/// [`ConnectError::Tls`](crate::ConnectError::Tls) holds when a connect or
/// a server's `start()` failed so.
///
/// ```no_run
/// use clamator_over_redis::{ConnectError, ConnectOptions, RedisRpcClient, TlsFailure};
/// # async fn run(redis: ConnectOptions) {
/// if let Err(ConnectError::Tls(tls)) = RedisRpcClient::connect(redis).await {
///     if tls.kind() == TlsFailure::UnknownIssuer {
///         eprintln!("give the CA that signed Redis's certificate: {tls}");
///     }
/// }
/// # }
/// ```
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
    /// included): for an error boxed further up (`Box<dyn Error>`,
    /// `anyhow::Error`) that a [`ConnectError`](crate::ConnectError) went
    /// into. A `ConnectError` itself is matched directly
    /// ([`ConnectError::Tls`](crate::ConnectError::Tls)).
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

/// The TLS failure in `error`, a connect over TLS to `addr` (a host and
/// port, or a deployment's label) that failed, as a [`TlsHandshakeError`];
/// `None` when TLS is not why. No probe: for connections opened elsewhere
/// (redis-rs's Sentinel client).
#[cfg_attr(not(feature = "sentinel"), allow(dead_code))]
pub(crate) fn explain_tls_failure(addr: &str, error: &RedisError) -> Option<TlsHandshakeError> {
    let (kind, detail) = tls_failure(error)?;
    Some(TlsHandshakeError {
        kind,
        addr: addr.to_owned(),
        detail,
        source: Box::new(error.clone()),
    })
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
