//! Throwaway TLS `redis-server`s and the certificates they use, made at run
//! time with rcgen (no openssl binary needed): a CA, a server certificate for
//! `127.0.0.1` and `localhost`, an expired one, a client certificate, and a
//! second CA that signed none of them.
//!
//! A [`TlsRedisServer`] listens on a TLS port and, on the same process, a
//! plain port (used to check it is up, and by tests that need a port that
//! does not speak TLS). It is killed when dropped; and because a server kept
//! in a `static` (one per test binary) is never dropped, every server is
//! spawned with `PR_SET_PDEATHSIG(SIGKILL)` from a spawner thread that lives
//! as long as the test process: the kernel kills the server when that thread
//! ends, which is when the process ends, however it ends. (The death signal
//! follows the *thread* that forked, so spawning from a test's own thread
//! would kill a shared server when that test finishes.)

use crate::server::{free_port, ping};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// How long a server may take to answer PING on its plain port.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The certificates of one test run, as PEM files in a directory of their
/// own (removed on drop).
#[derive(Debug)]
pub struct TestPki {
    /// Where the files are.
    dir: PathBuf,
}

impl TestPki {
    /// Makes a CA, server certificates (valid and expired) for `127.0.0.1`
    /// and `localhost`, a client certificate, and an unrelated CA.
    pub fn generate() -> TestPki {
        let dir =
            std::env::temp_dir().join(format!("clamator-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create a directory for test certificates");
        let pki = TestPki { dir };
        let ca = make_ca("clamator test CA");
        let other = make_ca("some other CA");
        pki.write("ca.pem", &ca.cert_pem);
        pki.write("other-ca.pem", &other.cert_pem);
        let now = time::OffsetDateTime::now_utc();
        let day = time::Duration::days(1);
        for (name, not_before, not_after) in [
            ("server", now - day, now + 30 * day),
            ("expired", now - 30 * day, now - day),
        ] {
            let mut params =
                CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                    .expect("server certificate params");
            params
                .distinguished_name
                .push(DnType::CommonName, "clamator test redis");
            params.not_before = not_before;
            params.not_after = not_after;
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            let (cert, key) = ca.sign(&params);
            pki.write(&format!("{name}.pem"), &cert);
            pki.write(&format!("{name}.key"), &key);
        }
        // A CA certificate that names the server and signs itself.
        let key = KeyPair::generate().expect("generate a key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("self-signed CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "clamator self-signed CA as server");
        params.not_before = now - day;
        params.not_after = now + 30 * day;
        let cert = params.self_signed(&key).expect("self-sign");
        pki.write("self-signed-ca.pem", &cert.pem());
        pki.write("self-signed-ca.key", &key.serialize_pem());
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(DnType::CommonName, "clamator test client");
        params.not_before = now - day;
        params.not_after = now + 30 * day;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let (cert, key) = ca.sign(&params);
        pki.write("client.pem", &cert);
        pki.write("client.key", &key);
        pki
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.dir.join(name), contents).expect("write a test certificate");
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA that signed the server and client certificates.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A CA that signed none of them.
    pub fn other_ca(&self) -> PathBuf {
        self.dir.join("other-ca.pem")
    }

    /// The self-signed CA certificate a [`ServerCert::SelfSignedCa`] server presents.
    pub fn self_signed_ca(&self) -> PathBuf {
        self.dir.join("self-signed-ca.pem")
    }

    /// The client certificate (signed by [`ca`](Self::ca)).
    pub fn client_cert(&self) -> PathBuf {
        self.dir.join("client.pem")
    }

    /// The client certificate's key.
    pub fn client_key(&self) -> PathBuf {
        self.dir.join("client.key")
    }

    fn server_files(&self, cert: ServerCert) -> (PathBuf, PathBuf) {
        let name = match cert {
            ServerCert::Valid => "server",
            ServerCert::Expired => "expired",
            ServerCert::SelfSignedCa => "self-signed-ca",
        };
        (
            self.dir.join(format!("{name}.pem")),
            self.dir.join(format!("{name}.key")),
        )
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA: its certificate and what signs with it.
struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn make_ca(name: &str) -> Ca {
    let key = KeyPair::generate().expect("generate a CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(60);
    params.not_after = now + time::Duration::days(60);
    let cert = params.self_signed(&key).expect("self-sign the CA");
    Ca {
        cert_pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

impl Ca {
    /// A certificate for `params` with a fresh key: (certificate PEM, key PEM).
    fn sign(&self, params: &CertificateParams) -> (String, String) {
        let key = KeyPair::generate().expect("generate a key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign a certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// Which certificate a TLS server presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerCert {
    /// Valid for 30 days, for `127.0.0.1` and `localhost`.
    Valid,
    /// Expired yesterday.
    Expired,
    /// A self-signed CA certificate (for `127.0.0.1` and `localhost`)
    /// presented as the server's own: what `tls-cert-file` pointing at a CA
    /// looks like (rustls: `CaUsedAsEndEntity`).
    SelfSignedCa,
}

/// How a [`TlsRedisServer`] runs.
#[derive(Debug, Clone, Copy)]
pub struct TlsServerConfig {
    /// The certificate it presents.
    pub cert: ServerCert,
    /// Whether clients must present a certificate signed by the test CA
    /// (`--tls-auth-clients yes`).
    pub require_client_cert: bool,
}

impl Default for TlsServerConfig {
    fn default() -> Self {
        TlsServerConfig {
            cert: ServerCert::Valid,
            require_client_cert: false,
        }
    }
}

/// A `redis-server` with a TLS port and a plain port, persistence off.
/// Killed when dropped, and when the test process ends (see the module docs).
#[derive(Debug)]
pub struct TlsRedisServer {
    /// The running process; `None` while killed.
    child: Option<Child>,
    /// The TLS port.
    tls_port: u16,
    /// The plain port (kept across restarts, like the TLS port).
    plain_port: u16,
    /// Working directory, removed on drop.
    dir: PathBuf,
    /// Its redis-server arguments but the ports.
    args: Vec<String>,
}

impl TlsRedisServer {
    /// Starts a server with `config`'s certificates from `pki` and waits
    /// until it answers; panics saying why it cannot (no redis-server, or one
    /// built without TLS).
    pub fn start(pki: &TestPki, config: TlsServerConfig) -> TlsRedisServer {
        let dir =
            std::env::temp_dir().join(format!("clamator-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create a directory for redis-server");
        let (cert, key) = pki.server_files(config.cert);
        let path = |p: &Path| p.to_str().expect("temp paths are UTF-8").to_owned();
        let args = vec![
            "--bind".to_owned(),
            "127.0.0.1".to_owned(),
            "--save".to_owned(),
            String::new(),
            "--appendonly".to_owned(),
            "no".to_owned(),
            "--dir".to_owned(),
            path(&dir),
            "--loglevel".to_owned(),
            "warning".to_owned(),
            "--tls-cert-file".to_owned(),
            path(&cert),
            "--tls-key-file".to_owned(),
            path(&key),
            "--tls-ca-cert-file".to_owned(),
            path(&pki.ca()),
            "--tls-auth-clients".to_owned(),
            if config.require_client_cert {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
        ];
        let mut last = String::new();
        for _ in 0..5 {
            let mut server = TlsRedisServer {
                child: None,
                tls_port: free_port(),
                plain_port: free_port(),
                dir: dir.clone(),
                args: args.clone(),
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => {
                    last = e;
                    server.kill();
                    std::mem::forget(server); // keep the directory for the next try
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("could not start a TLS redis-server: {last}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new("redis-server");
        cmd.args(&self.args)
            .args([
                "--port",
                &self.plain_port.to_string(),
                "--tls-port",
                &self.tls_port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = spawn_dying_with_process(cmd).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                "no redis-server binary on PATH: install it (Debian: apt-get install \
                 redis-server; it must be built with TLS, as Debian's is)"
                    .to_owned()
            }
            _ => format!("spawning redis-server failed: {e}"),
        })?;
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                return Err(format!(
                    "redis-server exited at start ({status}; ports {} and {} may be taken, or \
                     it has no TLS support): {stderr}",
                    self.tls_port, self.plain_port
                ));
            }
            if ping(self.plain_port) {
                self.child = Some(child);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!(
            "redis-server on port {} did not answer PING within {START_TIMEOUT:?}",
            self.plain_port
        ))
    }

    /// `rediss://127.0.0.1:<tls port>`.
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls_port)
    }

    /// `redis://127.0.0.1:<tls port>`: plaintext to the TLS port.
    pub fn plain_url_to_tls_port(&self) -> String {
        format!("redis://127.0.0.1:{}", self.tls_port)
    }

    /// `redis://127.0.0.1:<plain port>`.
    pub fn plain_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.plain_port)
    }

    /// `rediss://127.0.0.1:<plain port>`: TLS to a port that does not speak it.
    pub fn tls_url_to_plain_port(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.plain_port)
    }

    /// Kills the server at once (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same ports (empty) and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn() {
                Ok(()) => return,
                // The old sockets may linger for a moment.
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("restarting the TLS redis-server failed: {e}"),
            }
        }
    }

    /// Whether it answers PING on its plain port now.
    pub fn is_up(&self) -> bool {
        ping(self.plain_port)
    }
}

impl Drop for TlsRedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A spawn request: the command and where to send the child.
type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `cmd` from a thread that lives as long as the process, with
/// `PR_SET_PDEATHSIG(SIGKILL)` on Linux: the child dies with the process.
fn spawn_dying_with_process(mut cmd: Command) -> std::io::Result<Child> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the hook runs in the child between fork and exec and only
        // calls prctl, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("redis-spawner".to_owned())
            // The sender lives in a static, so this loop (and thread) ends
            // only with the process.
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("start the redis-server spawner thread");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, tx))
        .expect("the spawner thread runs");
    rx.recv().expect("the spawner thread answers")
}
