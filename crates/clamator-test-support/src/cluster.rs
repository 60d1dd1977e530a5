//! A throwaway Redis Cluster: `redis-server --cluster-enabled yes` nodes on
//! free loopback ports, joined by `redis-cli --cluster create`.
//!
//! [`shared_cluster`] is one 3-primary cluster per test binary (tests keep
//! apart by key prefix, as on [`crate::shared_redis`]); a test that kills
//! nodes or moves slots starts a [`ClusterSetup`] of its own.
//!
//! Every node runs under one `sh` watchdog whose standard input is a pipe from
//! this process: when the [`ClusterSetup`] is dropped, or the process ends
//! however it ends, the pipe closes and the watchdog kills every node
//! (SIGKILL) and removes the directory (the same scheme as the shared
//! server; see [`crate::shared`]). A single node is killed by its pid, which
//! it reports in `INFO server`.

use std::collections::HashMap;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::sentinel::{Resp, command};

/// How long nodes may take to answer and the cluster to agree on its slots.
const READY_TIMEOUT: Duration = Duration::from_secs(40);

/// `cluster-node-timeout`: how long a primary may be unreachable before its
/// replica takes over (a failover completes about 2-3 times this later).
pub const NODE_TIMEOUT_MS: u64 = 1000;

/// Starts every node (`$1`: the directory, then the config files) and kills
/// them all when standard input reaches end-of-file.
const WATCHDOG: &str = r#"trap '' HUP INT TERM
dir=$1; shift
exec 3<&0
pids=""
for conf in "$@"; do
  redis-server "$conf" </dev/null >>"$conf.log" 2>&1 &
  pids="$pids $!"
done
read _ <&3
kill -9 $pids 2>/dev/null
wait
rm -rf "$dir""#;

/// A local Redis Cluster; see the module docs.
#[derive(Debug)]
pub struct ClusterSetup {
    /// The nodes' ports, primaries first as created.
    ports: Vec<u16>,
    /// With TLS, each node's TLS port (same order); clients are given these.
    tls_ports: Vec<u16>,
    /// Where the nodes' configs, logs and data are.
    dir: PathBuf,
    /// The watchdog and the write end of its standard input.
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
}

/// A port `p` with `p` and `p + 10000` (the cluster bus) free on 127.0.0.1.
fn free_cluster_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        // Map into 20000..45000 so that the bus port stays a valid port.
        let port = 20_000 + port % 25_000;
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
}

impl ClusterSetup {
    /// Starts `primaries` primaries with `replicas` replicas each and waits
    /// until every node agrees that all slots are served. Panics with what is
    /// wrong (no `redis-server` or `redis-cli`, a node that does not start).
    pub fn start(primaries: usize, replicas: usize) -> ClusterSetup {
        Self::start_with(primaries, replicas, None)
    }

    /// As [`start`](Self::start), every node also serving TLS on a port of
    /// its own with `pki`'s server certificate (`tls-cluster yes`, so the
    /// nodes name their TLS ports to TLS clients); [`seeds`](Self::seeds)
    /// are then `rediss://` URLs. The plain ports stay open for the
    /// harness's own commands.
    pub fn start_tls(primaries: usize, replicas: usize, pki: &crate::tls::TestPki) -> ClusterSetup {
        Self::start_with(primaries, replicas, Some(pki))
    }

    fn start_with(
        primaries: usize,
        replicas: usize,
        pki: Option<&crate::tls::TestPki>,
    ) -> ClusterSetup {
        let dir = std::env::temp_dir().join(format!(
            "clamator-cluster-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let n = primaries * (1 + replicas);
        let mut ports = Vec::with_capacity(n);
        let mut tls_ports = Vec::new();
        let mut confs = Vec::with_capacity(n);
        while ports.len() < n {
            let port = free_cluster_port();
            if ports.contains(&port) {
                continue;
            }
            let node_dir = dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("create a node directory");
            let conf = node_dir.join("redis.conf");
            let mut text = format!(
                "port {port}\nbind 127.0.0.1\ncluster-enabled yes\n\
                 cluster-config-file {nd}/nodes.conf\ncluster-node-timeout {NODE_TIMEOUT_MS}\n\
                 save \"\"\nappendonly no\ndir {nd}\nloglevel warning\n",
                nd = node_dir.display()
            );
            if let Some(pki) = pki {
                // With tls-cluster the bus port is the TLS port + 10000.
                let tls_port = loop {
                    let p = free_cluster_port();
                    if p != port && !ports.contains(&p) && !tls_ports.contains(&p) {
                        break p;
                    }
                };
                // Nodes authenticate each other on the bus: they present the
                // client certificate (the server one is for servers only).
                let dir = pki.dir().display();
                text.push_str(&format!(
                    "tls-port {tls_port}\ntls-cert-file {dir}/server.pem\n\
                     tls-key-file {dir}/server.key\ntls-ca-cert-file {dir}/ca.pem\n\
                     tls-client-cert-file {dir}/client.pem\ntls-client-key-file {dir}/client.key\n\
                     tls-auth-clients no\ntls-cluster yes\ntls-replication yes\n"
                ));
                tls_ports.push(tls_port);
            }
            std::fs::write(&conf, text).expect("write a node config");
            ports.push(port);
            confs.push(conf);
        }
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("clamator-cluster-watchdog")
            .arg(&dir)
            .args(&confs)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start sh (the cluster watchdog)");
        let stdin = child.stdin.take().expect("piped stdin");
        let setup = ClusterSetup {
            ports,
            tls_ports,
            dir,
            watchdog: Mutex::new(Some((child, stdin))),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        for &port in &setup.ports {
            while !matches!(command(port, &["PING"]), Ok(Resp::Simple(ref s)) if s == "PONG") {
                assert!(
                    Instant::now() < deadline,
                    "cluster node {port} did not answer PING (is redis-server installed? logs \
                     in {})",
                    setup.dir.display()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let mut create = Command::new("redis-cli");
        if let Some(pki) = pki {
            create
                .arg("--tls")
                .arg("--cacert")
                .arg(pki.ca())
                .arg("-p")
                .arg(setup.tls_ports[0].to_string());
        }
        create.arg("--cluster").arg("create");
        let create_ports = if pki.is_some() {
            &setup.tls_ports
        } else {
            &setup.ports
        };
        for port in create_ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        create
            .arg("--cluster-replicas")
            .arg(replicas.to_string())
            .arg("--cluster-yes")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // It waits for the nodes to join without a bound of its own.
        let mut creating = create
            .spawn()
            .expect("run redis-cli --cluster create (is redis-tools installed?)");
        let status = loop {
            if let Some(status) = creating.try_wait().expect("wait for redis-cli") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = creating.kill();
                let _ = creating.wait();
                panic!(
                    "redis-cli --cluster create did not finish within {READY_TIMEOUT:?} (logs                      in {})",
                    setup.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = creating.wait_with_output().expect("redis-cli output");
        assert!(
            status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        setup.await_ready(deadline, primaries * (1 + replicas));
        setup
    }

    /// Waits until every node says `cluster_state:ok` and knows every other
    /// node, and every replica is in sync.
    fn await_ready(&self, deadline: Instant, nodes: usize) {
        loop {
            let ready = self.ports.iter().all(|&port| {
                let info = self.info(port, "CLUSTER", &["INFO"]);
                let known =
                    info.get("cluster_known_nodes").map(String::as_str) == Some(&nodes.to_string());
                let ok = info.get("cluster_state").map(String::as_str) == Some("ok");
                let repl = self.info(port, "INFO", &["replication"]);
                let synced = match repl.get("role").map(String::as_str) {
                    Some("slave") => {
                        repl.get("master_link_status").map(String::as_str) == Some("up")
                    }
                    _ => true,
                };
                known && ok && synced
            });
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not become ready (logs in {})",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `key:value` lines of an `INFO`-style reply as a map.
    fn info(&self, port: u16, cmd: &str, args: &[&str]) -> HashMap<String, String> {
        let mut all = vec![cmd];
        all.extend_from_slice(args);
        match command(port, &all) {
            Ok(Resp::Bulk(Some(text))) => text
                .lines()
                .filter_map(|l| l.trim().split_once(':'))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            _ => HashMap::new(),
        }
    }

    /// Every node's port.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Seed URLs, one per node (`rediss://` to the TLS ports with TLS).
    pub fn seeds(&self) -> Vec<String> {
        if !self.tls_ports.is_empty() {
            return self
                .tls_ports
                .iter()
                .map(|p| format!("rediss://127.0.0.1:{p}"))
                .collect();
        }
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// The seeds comma-separated, as `$REDIS_URL` takes them.
    pub fn url(&self) -> String {
        self.seeds().join(",")
    }

    /// The slot of `key` (`CLUSTER KEYSLOT`).
    pub fn slot_of(&self, key: &str) -> u16 {
        for &port in &self.ports {
            if let Ok(Resp::Int(slot)) = command(port, &["CLUSTER", "KEYSLOT", key]) {
                return u16::try_from(slot).expect("a slot fits u16");
            }
        }
        panic!("no node answered CLUSTER KEYSLOT");
    }

    /// The port of the primary that serves `slot`, as the live nodes see it
    /// (`CLUSTER SLOTS` of the first node that answers), if any.
    pub fn primary_of_slot(&self, slot: u16) -> Option<u16> {
        self.ports
            .iter()
            .find_map(|&port| slot_map(port))
            .and_then(|ranges| owner(&ranges, slot))
    }

    /// The port of the primary that holds `key`.
    pub fn primary_of(&self, key: &str) -> Option<u16> {
        self.primary_of_slot(self.slot_of(key))
    }

    /// The primaries' ports, as the first node that answers sees them.
    pub fn primaries(&self) -> Vec<u16> {
        let mut out: Vec<u16> = self
            .ports
            .iter()
            .filter(|&&p| {
                self.info(p, "INFO", &["replication"])
                    .get("role")
                    .map(String::as_str)
                    == Some("master")
            })
            .copied()
            .collect();
        out.sort_unstable();
        out
    }

    /// Kills the node on `port` (SIGKILL) and waits until it no longer answers.
    pub fn kill_node(&self, port: u16) {
        let pid = self
            .info(port, "INFO", &["server"])
            .get("process_id")
            .and_then(|p| p.parse::<i32>().ok())
            .expect("the node reports its process_id");
        // SAFETY: kill(2) with a pid read from the node itself.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while command(port, &["PING"]).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until a primary other than `old` serves `slot` and says
    /// `cluster_state:ok`; returns its port.
    pub fn await_new_primary(&self, slot: u16, old: u16, limit: Duration) -> Option<u16> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            for &port in self.ports.iter().filter(|&&p| p != old) {
                let Some(ranges) = slot_map(port) else {
                    continue;
                };
                let info = self.info(port, "CLUSTER", &["INFO"]);
                if info.get("cluster_state").map(String::as_str) != Some("ok") {
                    continue;
                }
                if let Some(p) = owner(&ranges, slot)
                    && p != old
                {
                    return Some(p);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn node_id(port: u16) -> String {
        match command(port, &["CLUSTER", "MYID"]) {
            Ok(Resp::Bulk(Some(id))) => id,
            other => panic!("CLUSTER MYID on {port} answered {other:?}"),
        }
    }

    /// Moves `slot` and its keys from primary `from` to primary `to`, as
    /// `redis-cli --cluster reshard` does: IMPORTING/MIGRATING, `MIGRATE`
    /// the keys a batch at a time, then `SETSLOT NODE` on every primary.
    /// Returns the number of keys moved. Clients see `ASK` and then `MOVED`
    /// meanwhile; a read parked on a migrated key ends with `UNBLOCKED`.
    pub fn move_slot(&self, slot: u16, from: u16, to: u16) -> usize {
        let slot_s = slot.to_string();
        let from_id = Self::node_id(from);
        let to_id = Self::node_id(to);
        let ok = |port: u16, args: &[&str]| match command(port, args) {
            Ok(Resp::Simple(_)) => {}
            other => panic!("{args:?} on {port} answered {other:?}"),
        };
        ok(to, &["CLUSTER", "SETSLOT", &slot_s, "IMPORTING", &from_id]);
        ok(from, &["CLUSTER", "SETSLOT", &slot_s, "MIGRATING", &to_id]);
        let mut moved = 0;
        loop {
            let keys = match command(from, &["CLUSTER", "GETKEYSINSLOT", &slot_s, "100"]) {
                Ok(Resp::Array(Some(keys))) => keys
                    .into_iter()
                    .filter_map(|k| match k {
                        Resp::Bulk(Some(k)) => Some(k),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
                other => panic!("CLUSTER GETKEYSINSLOT answered {other:?}"),
            };
            if keys.is_empty() {
                break;
            }
            let to_s = to.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", &to_s, "", "0", "5000", "KEYS"];
            args.extend(keys.iter().map(String::as_str));
            match command(from, &args) {
                Ok(Resp::Simple(_)) => moved += keys.len(),
                other => panic!("MIGRATE answered {other:?}"),
            }
        }
        for port in self.primaries() {
            let _ = command(port, &["CLUSTER", "SETSLOT", &slot_s, "NODE", &to_id]);
        }
        moved
    }

    /// Where the nodes' configs and logs are.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for ClusterSetup {
    fn drop(&mut self) {
        let taken = self
            .watchdog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((mut child, stdin)) = taken {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// The slot ranges node `port` knows (`CLUSTER SLOTS`), if it answers.
fn slot_map(port: u16) -> Option<Vec<Resp>> {
    match command(port, &["CLUSTER", "SLOTS"]) {
        Ok(Resp::Array(Some(ranges))) => Some(ranges),
        _ => None,
    }
}

/// The port of the primary that serves `slot` in a `CLUSTER SLOTS` reply:
/// ranges of `[from, to, [host, port, id], replicas...]`.
fn owner(ranges: &[Resp], slot: u16) -> Option<u16> {
    ranges.iter().find_map(|range| {
        let Resp::Array(Some(items)) = range else {
            return None;
        };
        match (items.first(), items.get(1), items.get(2)) {
            (Some(Resp::Int(from)), Some(Resp::Int(to)), Some(Resp::Array(Some(node))))
                if (*from..=*to).contains(&i64::from(slot)) =>
            {
                match node.get(1) {
                    Some(Resp::Int(p)) => u16::try_from(*p).ok(),
                    _ => None,
                }
            }
            _ => None,
        }
    })
}

/// The 3-primary cluster shared by every test of this test binary, started
/// on first use; it dies with the process.
pub fn shared_cluster() -> &'static ClusterSetup {
    static SHARED: OnceLock<ClusterSetup> = OnceLock::new();
    SHARED.get_or_init(|| ClusterSetup::start(3, 0))
}
