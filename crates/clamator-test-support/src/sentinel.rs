//! A throwaway Redis Sentinel deployment for failover tests: one primary,
//! one replica (`replicaof`) and three sentinels (quorum 2,
//! `down-after-milliseconds 1000`, `failover-timeout 5000`), every process a
//! child on a free loopback port with its own directory (sentinels rewrite
//! their config file).
//!
//! [`SentinelSetup::start_tls`] starts the same over TLS, with a
//! [`TestPki`](crate::tls::TestPki)'s server certificate: every node serves
//! TLS on its `tls-port` (`tls-auth-clients no`) and talks TLS to the others
//! (`tls-replication yes`: replicas to their primary, sentinels to the data
//! nodes and to each other), so the sentinels name TLS ports. Each node also
//! keeps a plaintext port on 127.0.0.1 that only this harness uses for its
//! own probes (`PING`, `ROLE`, `SENTINEL ...`); every port this type hands
//! out (addresses, [`SentinelSetup::url`], the data ports) is a TLS one.
//!
//! No process outlives its test: each is killed (SIGKILL) and reaped when the
//! [`SentinelSetup`] is dropped, and each is started with
//! `PR_SET_PDEATHSIG = SIGKILL`, so the kernel kills it if the thread that
//! started it dies first (a test that panics and aborts, a killed test
//! binary). Start the setup on the test's own thread (before any runtime
//! spawns), which lives exactly as long as the test.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{StartError, free_port};

/// The name the sentinels monitor the primary under.
pub const PRIMARY_NAME: &str = "mymaster";

/// How long the deployment may take to be ready (replica synced, sentinels
/// aware of the replica and of each other).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One `redis-server` process (data node or sentinel).
#[derive(Debug)]
struct Node {
    /// Its port for clients (the TLS one with TLS), kept across restarts.
    port: u16,
    /// Its plaintext port, for the harness's probes: `port` without TLS.
    admin_port: u16,
    /// Its config file.
    conf: PathBuf,
    /// Its log (stdout and stderr).
    log: PathBuf,
    /// Started with `--sentinel`.
    sentinel: bool,
    /// The process; `None` while killed.
    child: Option<Child>,
}

impl Node {
    fn spawn(&mut self) -> Result<(), StartError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(StartError::Spawn)?;
        let log2 = log.try_clone().map_err(StartError::Spawn)?;
        let mut cmd = Command::new("redis-server");
        cmd.arg(&self.conf);
        if self.sentinel {
            cmd.arg("--sentinel");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StartError::NoBinary,
            _ => StartError::Spawn(e),
        })?;
        self.child = Some(child);
        let waited = Duration::from_secs(15);
        let deadline = Instant::now() + waited;
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(StartError::Exited {
                    status,
                    port: self.port,
                });
            }
            if matches!(command(self.admin_port, &["PING"]), Ok(Resp::Simple(s)) if s == "PONG") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        Err(StartError::NoPing {
            port: self.port,
            waited,
        })
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One primary, one replica, three sentinels; see the module docs.
#[derive(Debug)]
pub struct SentinelSetup {
    /// Every node's directory lives under it; removed on drop.
    dir: PathBuf,
    /// The data nodes: the first primary, then the replica.
    data: Vec<Node>,
    /// The sentinels.
    sentinels: Vec<Node>,
    /// The TLS lines of every node's config (certificate files), when TLS.
    tls: Option<String>,
}

impl SentinelSetup {
    /// Starts the deployment and waits until a failover could happen: the
    /// replica is in sync and every sentinel knows it and the other two
    /// sentinels. Panics with what is wrong (for example, no `redis-server`).
    pub fn start() -> SentinelSetup {
        SentinelSetup::start_with(None)
    }

    /// [`start`](Self::start), everything over TLS with `pki`'s server
    /// certificate and CA (see the module docs): connect with
    /// [`url`](Self::url) (`rediss+sentinel://`) and `pki.ca()`. `pki` must
    /// outlive the setup (the nodes read its files when they restart).
    pub fn start_tls(pki: &crate::tls::TestPki) -> SentinelSetup {
        let d = pki.dir().display();
        SentinelSetup::start_with(Some(format!(
            "tls-cert-file {d}/server.pem\ntls-key-file {d}/server.key\n\
             tls-ca-cert-file {d}/ca.pem\ntls-client-cert-file {d}/client.pem\n\
             tls-client-key-file {d}/client.key\ntls-auth-clients no\ntls-replication yes\n"
        )))
    }

    fn start_with(tls: Option<String>) -> SentinelSetup {
        let dir = std::env::temp_dir().join(format!(
            "clamator-sentinel-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let mut setup = SentinelSetup {
            dir,
            data: Vec::new(),
            sentinels: Vec::new(),
            tls,
        };
        let primary = free_port();
        setup.add_data_node(primary, None);
        let replica = free_port();
        setup.add_data_node(replica, Some(primary));
        setup.wait_until("the replica is in sync", |s| s.is_synced_replica(replica));
        for _ in 0..3 {
            setup.add_sentinel(primary);
        }
        setup.wait_until(
            "every sentinel knows the replica and the other sentinels",
            |s| {
                s.sentinels.iter().all(|n| {
                    let info = sentinel_master(n.admin_port);
                    let num =
                        |k: &str| info.get(k).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
                    num("num-slaves") >= 1 && num("num-other-sentinels") >= 2
                })
            },
        );
        setup
    }

    fn node_dir(&self, port: u16) -> PathBuf {
        let d = self.dir.join(port.to_string());
        std::fs::create_dir_all(&d).expect("create a node directory");
        d
    }

    /// The ports of a new node: (for clients, plaintext), and the config
    /// lines that set them (and TLS).
    fn ports(&self, port: u16) -> (u16, u16, String) {
        match &self.tls {
            None => (port, port, format!("port {port}\n")),
            Some(tls) => {
                let admin = loop {
                    let p = free_port();
                    if p != port {
                        break p;
                    }
                };
                (port, admin, format!("port {admin}\ntls-port {port}\n{tls}"))
            }
        }
    }

    fn add_data_node(&mut self, port: u16, replica_of: Option<u16>) {
        let d = self.node_dir(port);
        let (port, admin, ports) = self.ports(port);
        let mut conf = format!(
            "{ports}bind 127.0.0.1\nsave \"\"\nappendonly no\ndir {}\n\
             repl-diskless-sync-delay 0\nloglevel notice\n",
            d.display()
        );
        if let Some(p) = replica_of {
            conf.push_str(&format!("replicaof 127.0.0.1 {p}\n"));
        }
        self.data.push(start_node(port, admin, &d, conf, false));
    }

    fn add_sentinel(&mut self, primary: u16) {
        let port = free_port();
        let d = self.node_dir(port);
        let (port, admin, ports) = self.ports(port);
        let conf = format!(
            "{ports}bind 127.0.0.1\ndir {}\nloglevel notice\n\
             sentinel monitor {PRIMARY_NAME} 127.0.0.1 {primary} 2\n\
             sentinel down-after-milliseconds {PRIMARY_NAME} 1000\n\
             sentinel failover-timeout {PRIMARY_NAME} 5000\n\
             sentinel parallel-syncs {PRIMARY_NAME} 1\n",
            d.display()
        );
        self.sentinels.push(start_node(port, admin, &d, conf, true));
    }

    fn wait_until(&self, what: &str, ready: impl Fn(&SentinelSetup) -> bool) {
        let deadline = Instant::now() + READY_TIMEOUT;
        while !ready(self) {
            assert!(
                Instant::now() < deadline,
                "Sentinel test setup: not ready within {READY_TIMEOUT:?}: {what} (logs in {})",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:<port>` of each sentinel.
    pub fn sentinel_addrs(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect()
    }

    /// `redis+sentinel://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>/mymaster`
    /// (`rediss+sentinel://...` with TLS).
    pub fn url(&self) -> String {
        let scheme = match self.tls {
            Some(_) => "rediss+sentinel",
            None => "redis+sentinel",
        };
        format!(
            "{scheme}://{}/{PRIMARY_NAME}",
            self.sentinel_addrs().join(",")
        )
    }

    /// The plaintext port of the node (data node or sentinel) whose client
    /// port is `port`; `port` itself when there is none.
    fn admin_port(&self, port: u16) -> u16 {
        self.data
            .iter()
            .chain(self.sentinels.iter())
            .find(|n| n.port == port)
            .map_or(port, |n| n.admin_port)
    }

    /// The ports of the data nodes: the first primary, then the replica.
    pub fn data_ports(&self) -> Vec<u16> {
        self.data.iter().map(|n| n.port).collect()
    }

    /// The primary's port as the first sentinel that answers names it
    /// (`SENTINEL GET-MASTER-ADDR-BY-NAME`).
    pub fn primary_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|n| {
            match command(
                n.admin_port,
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", PRIMARY_NAME],
            ) {
                Ok(Resp::Array(Some(items))) => match items.get(1) {
                    Some(Resp::Bulk(Some(port))) => port.parse().ok(),
                    _ => None,
                },
                _ => None,
            }
        })
    }

    /// `ROLE` of the data node on `port`: `master`, `slave`, or `None` when it
    /// does not answer.
    pub fn role(&self, port: u16) -> Option<String> {
        match command(self.admin_port(port), &["ROLE"]) {
            Ok(Resp::Array(Some(items))) => match items.first() {
                Some(Resp::Bulk(Some(role))) => Some(role.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether the data node on `port` is a replica whose link to its primary is up.
    pub fn is_synced_replica(&self, port: u16) -> bool {
        match command(self.admin_port(port), &["INFO", "replication"]) {
            Ok(Resp::Bulk(Some(info))) => {
                info.contains("role:slave") && info.contains("master_link_status:up")
            }
            _ => false,
        }
    }

    /// Kills the data node on `port` at once (SIGKILL), as a crash would.
    pub fn kill_data_node(&mut self, port: u16) {
        if let Some(n) = self.data.iter_mut().find(|n| n.port == port) {
            n.kill();
        }
    }

    /// Waits until every sentinel names a primary other than `old` and that
    /// node answers `ROLE` as a primary; returns its port, or `None` after `limit`.
    pub fn wait_for_new_primary(&self, old: u16, limit: Duration) -> Option<u16> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let named: Vec<Option<u16>> = self
                .sentinels
                .iter()
                .map(|n| {
                    match command(
                        n.admin_port,
                        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", PRIMARY_NAME],
                    ) {
                        Ok(Resp::Array(Some(items))) => match items.get(1) {
                            Some(Resp::Bulk(Some(p))) => p.parse().ok(),
                            _ => None,
                        },
                        _ => None,
                    }
                })
                .collect();
            if let Some(Some(new)) = named.first()
                && *new != old
                && named.iter().all(|p| *p == Some(*new))
                && self.role(*new).as_deref() == Some("master")
            {
                return Some(*new);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Asks a sentinel for a failover now (`SENTINEL FAILOVER mymaster`),
    /// with the primary alive: it is demoted to a replica of the promoted one.
    pub fn failover(&self) -> Result<(), String> {
        let port = self.sentinels.first().map(|n| n.admin_port).unwrap_or(0);
        match command(port, &["SENTINEL", "FAILOVER", PRIMARY_NAME]) {
            Ok(Resp::Simple(_)) => Ok(()),
            Ok(other) => Err(format!("SENTINEL FAILOVER answered {other:?}")),
            Err(e) => Err(format!("SENTINEL FAILOVER failed: {e}")),
        }
    }

    /// Where the nodes' directories and logs are.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for SentinelSetup {
    fn drop(&mut self) {
        for n in self.sentinels.iter_mut().chain(self.data.iter_mut()) {
            n.kill();
        }
        if std::thread::panicking() {
            eprintln!("Sentinel test logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn start_node(
    port: u16,
    admin_port: u16,
    dir: &std::path::Path,
    conf: String,
    sentinel: bool,
) -> Node {
    let conf_path = dir.join(if sentinel {
        "sentinel.conf"
    } else {
        "redis.conf"
    });
    std::fs::write(&conf_path, conf).expect("write a node config");
    let mut node = Node {
        port,
        admin_port,
        conf: conf_path,
        log: dir.join("log"),
        sentinel,
        child: None,
    };
    if let Err(e) = node.spawn() {
        panic!(
            "could not start redis-server{} on port {port}: {e} (log: {})",
            if sentinel { " --sentinel" } else { "" },
            node.log.display()
        );
    }
    node
}

/// `SENTINEL MASTER mymaster` on the sentinel at `port`, as a map.
fn sentinel_master(port: u16) -> HashMap<String, String> {
    let mut map = HashMap::new();
    if let Ok(Resp::Array(Some(items))) = command(port, &["SENTINEL", "MASTER", PRIMARY_NAME]) {
        for pair in items.chunks(2) {
            if let [Resp::Bulk(Some(k)), Resp::Bulk(Some(v))] = pair {
                map.insert(k.clone(), v.clone());
            }
        }
    }
    map
}

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    /// `+...`
    Simple(String),
    /// `-...`
    Error(String),
    /// `:...`
    Int(i64),
    /// `$...`
    Bulk(Option<String>),
    /// `*...`
    Array(Option<Vec<Resp>>),
}

/// Sends one command to 127.0.0.1:`port` on a fresh connection and reads its
/// reply (500 ms bounds on connect and reads).
pub fn command(port: u16, args: &[&str]) -> std::io::Result<Resp> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes())?;
    read_resp(&mut BufReader::new(s))
}

fn read_resp(r: &mut impl BufRead) -> std::io::Result<Resp> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut line = String::new();
    r.read_line(&mut line)?;
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at_checked(1).ok_or_else(|| bad("empty reply"))?;
    let num = || rest.parse::<i64>().map_err(|_| bad("bad length"));
    Ok(match kind {
        "+" => Resp::Simple(rest.to_owned()),
        "-" => Resp::Error(rest.to_owned()),
        ":" => Resp::Int(num()?),
        "$" => {
            let n = num()?;
            if n < 0 {
                Resp::Bulk(None)
            } else {
                let mut buf = vec![0u8; usize::try_from(n).map_err(|_| bad("length"))? + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(buf.len() - 2);
                Resp::Bulk(Some(String::from_utf8_lossy(&buf).into_owned()))
            }
        }
        "*" => {
            let n = num()?;
            if n < 0 {
                Resp::Array(None)
            } else {
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(read_resp(r)?);
                }
                Resp::Array(Some(items))
            }
        }
        _ => return Err(bad("unknown reply type")),
    })
}
