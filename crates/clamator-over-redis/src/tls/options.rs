//! TLS settings: [`TlsOptions`] (the CA bundle to trust, the client
//! certificate for mutual TLS, each read and checked when given),
//! [`ConnectOptions::tls`], and the checks that a `rediss://` address can be
//! served by this build.

#[cfg(feature = "tls")]
use std::path::Path;

use crate::options::ConfigError;
#[cfg(feature = "tls")]
use crate::options::ConnectOptions;

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

/// Whether `url` asks for TLS (`rediss://`, `valkeys://` or
/// `rediss+sentinel://`), which needs this crate's `tls` feature.
pub(crate) fn check_url(url: &str, from: &'static str) -> Result<(), ConfigError> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if cfg!(feature = "tls")
        || !matches!(
            scheme.as_deref(),
            Some("rediss" | "valkeys" | "rediss+sentinel")
        )
    {
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
    /// With Sentinel (feature `sentinel`) the settings apply to the
    /// sentinels and to the data nodes alike, and the deployment must be
    /// reached over TLS (`rediss+sentinel://`, or `SentinelOptions::use_tls`):
    /// else [`ConfigError::TlsNeedsRedissSentinel`].
    pub fn tls(mut self, tls: TlsOptions) -> Result<ConnectOptions, ConfigError> {
        #[cfg(feature = "cluster")]
        if let Some(cluster) = &self.cluster {
            self.cluster = Some(cluster.with_tls(tls)?);
            return Ok(self);
        }
        // The sentinels' and the data nodes' settings; then `self.client`, a
        // client of the first sentinel (TLS here), as below.
        #[cfg(feature = "sentinel")]
        if let Some(target) = &self.sentinel {
            self.sentinel = Some(target.with_tls(tls.clone())?);
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
