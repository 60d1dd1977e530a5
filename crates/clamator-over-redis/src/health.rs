//! The health of a running server: what
//! [`RedisRpcServer::health`](crate::RedisRpcServer::health) reports per
//! service ([`ServiceHealth`]), and the liveness and readiness probes built on
//! it ([`HealthProbe`], from
//! [`RedisRpcServer::health_probe`](crate::RedisRpcServer::health_probe)),
//! for Kubernetes or any orchestrator.
//!
//! - **Live** ([`HealthProbe::is_live`], `GET /healthz`): every loop of every
//!   service runs, or has been down for less than [`DEFAULT_LOOP_GRACE`] (a
//!   loop that panicked is restarted with backoff: 100 ms, doubling up to
//!   30 s). Redis is not asked about: a process that waits for Redis is
//!   alive, and restarting it would not bring Redis back.
//! - **Ready** ([`HealthProbe::is_ready`], `GET /readyz`): every loop of
//!   every service runs now, Redis answered its last check and did so within
//!   [`DEFAULT_MAX_ANSWER_AGE`], and no service's consumer group was found
//!   missing. The housekeeping loop checks once a second (`XINFO GROUPS`), so
//!   readiness turns false within about a second of Redis going away (at
//!   most `max_answer_age` when Redis hangs instead) and true again at the
//!   first check after it is back; no restart is needed.
//!
//! [`HealthProbe::respond`] maps a probe's path to an HTTP status and a JSON
//! body (below), for mounting in an HTTP server of your own (axum, hyper,
//! ...); with the `health-http` feature, `serve_http` runs a small HTTP
//! server of its own that answers them.
//!
//! # The JSON body
//! Both paths answer the same fields: `probe` names the path's probe
//! (`liveness` or `readiness`) and `status` is its outcome (`"ok"` with
//! `200`, `"unavailable"` with `503`); `live` and `ready` are both verdicts.
//!
//! ```json
//! {
//!   "live": true,
//!   "probe": "readiness",
//!   "problems": [],
//!   "ready": true,
//!   "services": [{
//!     "group": true,
//!     "live": true,
//!     "loops": {
//!       "consumer": {"down_ms": null, "restarts": 0, "running": true},
//!       "finish": {"down_ms": null, "restarts": 0, "running": true},
//!       "housekeeping": {"down_ms": null, "restarts": 0, "running": true},
//!       "lease": {"down_ms": null, "restarts": 0, "running": true},
//!       "reclaim": {"down_ms": null, "restarts": 0, "running": true}
//!     },
//!     "ready": true,
//!     "redis_answered_ms_ago": 412,
//!     "redis_answering": true,
//!     "service": "arith"
//!   }],
//!   "status": "ok"
//! }
//! ```
//!
//! `problems` says in words why a probe fails (empty when both pass);
//! `down_ms` is how long a loop has been down (`null` while it runs);
//! `group` is `null` until a check could tell. Unknown paths answer `404`.
//!
//! # Cost
//! The loops and their supervisors record health in a few atomics per
//! service (the crate's `Monitor`), written at most once per pass (never per
//! call); `health()` and the probes only read them, and send nothing to
//! Redis.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::conn::ConnError;

#[cfg(feature = "health-http")]
mod http;
mod probe;

#[cfg(feature = "health-http")]
pub use http::{HealthServer, serve_http};
pub use probe::{
    DEFAULT_LOOP_GRACE, DEFAULT_MAX_ANSWER_AGE, HealthProbe, HealthReport, Probe, ServiceReport,
};

/// A loop a server runs for each service it serves.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerLoop {
    /// Reads new entries (`XREADGROUP`) and starts their handlers.
    Consumer,
    /// Takes over entries other workers left pending too long, and moves
    /// those delivered `max_deliveries` times to the dead-letter stream.
    Reclaim,
    /// Renews the idle time of entries whose handlers run here (absent with
    /// `renew_leases(false)`).
    Lease,
    /// Once a second: reads the group (`XINFO GROUPS`), samples its
    /// metrics, flushes the poison-entry log, heals a group that skipped a
    /// backlog, and trims the command stream (when `trim_command_streams`).
    Housekeeping,
    /// Writes replies and acks.
    Finish,
}

impl ServerLoop {
    /// Every loop, in the order [`ServiceHealth::loops`] lists them.
    pub const ALL: [ServerLoop; 5] = [
        ServerLoop::Consumer,
        ServerLoop::Reclaim,
        ServerLoop::Lease,
        ServerLoop::Housekeeping,
        ServerLoop::Finish,
    ];

    /// Its name in logs and metric labels: `consumer`, `reclaim`, `lease`,
    /// `housekeeping`, `finish`.
    pub fn name(self) -> &'static str {
        match self {
            ServerLoop::Consumer => "consumer",
            ServerLoop::Reclaim => "reclaim",
            ServerLoop::Lease => "lease",
            ServerLoop::Housekeeping => "housekeeping",
            ServerLoop::Finish => "finish",
        }
    }

    /// Its index in [`ServerLoop::ALL`].
    fn index(self) -> usize {
        match self {
            ServerLoop::Consumer => 0,
            ServerLoop::Reclaim => 1,
            ServerLoop::Lease => 2,
            ServerLoop::Housekeeping => 3,
            ServerLoop::Finish => 4,
        }
    }
}

impl fmt::Display for ServerLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One loop of one service, as [`ServiceHealth`] reports it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopHealth {
    /// Which loop.
    pub which: ServerLoop,
    /// Whether it runs now: `false` after it panicked, until it is restarted
    /// (with backoff: 100 ms, doubling up to 30 s), and after `stop()`.
    pub running: bool,
    /// How often it was restarted after a panic since the server started.
    pub restarts: u64,
    /// Since when it has not been running (`None` while it runs).
    pub down_since: Option<Instant>,
}

/// The health of one service on a running server, from
/// [`RedisRpcServer::health`](crate::RedisRpcServer::health).
///
/// Redis's side is what the housekeeping loop saw at its last pass (once a
/// second, an `XINFO GROUPS` bounded by `command_timeout`), so it is at most
/// about `1 s + command_timeout` old.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceHealth {
    /// The service.
    pub service: String,
    /// Each loop the service runs (the lease loop only with `renew_leases`),
    /// in the order of [`ServerLoop::ALL`].
    pub loops: Vec<LoopHealth>,
    /// Restarts of this service's loops after a panic, all loops together.
    pub restarts: u64,
    /// Whether Redis answered the last check (an error reply counts as an
    /// answer; a refused connection or no answer within `command_timeout`
    /// does not). `true` at start, which needed Redis.
    pub redis_answering: bool,
    /// When Redis last answered a check (at first: when the service started).
    pub last_redis_answer: Instant,
    /// Whether the service's consumer group exists, as of the last check
    /// that could tell (`None`: none could yet). A group that Redis lost is
    /// recreated by the next read or reclaim.
    pub group_exists: Option<bool>,
}

impl ServiceHealth {
    /// The health of loop `which`, unless the service does not run it.
    pub fn loop_health(&self, which: ServerLoop) -> Option<&LoopHealth> {
        self.loops.iter().find(|l| l.which == which)
    }

    /// Whether everything is as it should be: every loop runs, Redis
    /// answered the last check, and the group was not found missing.
    pub fn is_healthy(&self) -> bool {
        self.loops.iter().all(|l| l.running)
            && self.redis_answering
            && self.group_exists != Some(false)
    }
}

/// `group_exists` as stored: not known yet.
const GROUP_UNKNOWN: u8 = 0;
/// `group_exists` as stored: it exists.
const GROUP_EXISTS: u8 = 1;
/// `group_exists` as stored: it was missing.
const GROUP_MISSING: u8 = 2;

/// What the supervisor and the fault hook keep of one loop.
#[derive(Debug, Default)]
struct LoopStatus {
    /// Whether the service runs this loop at all.
    enabled: bool,
    /// Whether its task runs now.
    running: AtomicBool,
    /// Restarts after a panic.
    restarts: AtomicU64,
    /// Ms after `Monitor::started` when it last stopped running (0: it has
    /// not run yet).
    down_since_ms: AtomicU64,
    /// Set by the fault-injection hook: the loop panics at its next pass.
    panic_next: AtomicBool,
}

/// The health of one service as its loops record it; read by `health()`.
#[derive(Debug)]
pub(crate) struct Monitor {
    /// When the service started: the base of `last_answer_ms`.
    started: Instant,
    /// By [`ServerLoop::index`].
    loops: [LoopStatus; 5],
    /// Ms after `started` when Redis last answered a check.
    last_answer_ms: AtomicU64,
    /// Whether Redis answered the last check.
    answering: AtomicBool,
    /// `GROUP_UNKNOWN`, `GROUP_EXISTS` or `GROUP_MISSING`.
    group: AtomicU8,
    /// What this process knows the group delivered (the heal looks above it).
    delivered: crate::group::Delivered,
}

impl Monitor {
    /// A monitor for a service that runs the lease loop or not.
    pub(crate) fn new(lease: bool) -> Monitor {
        let loops = ServerLoop::ALL.map(|which| LoopStatus {
            enabled: which != ServerLoop::Lease || lease,
            ..LoopStatus::default()
        });
        Monitor {
            started: Instant::now(),
            loops,
            last_answer_ms: AtomicU64::new(0),
            answering: AtomicBool::new(true),
            group: AtomicU8::new(GROUP_UNKNOWN),
            delivered: crate::group::Delivered::default(),
        }
    }

    /// The status of loop `which`.
    fn status(&self, which: ServerLoop) -> &LoopStatus {
        &self.loops[which.index()]
    }

    /// Ms since the service started.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Records whether loop `which` runs now.
    pub(crate) fn set_running(&self, which: ServerLoop, running: bool) {
        let status = self.status(which);
        if !running {
            status.down_since_ms.store(self.now_ms(), Ordering::Relaxed);
        }
        status.running.store(running, Ordering::Relaxed);
    }

    /// Counts a restart of loop `which` after a panic.
    pub(crate) fn restarted(&self, which: ServerLoop) {
        self.status(which).restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the outcome of a check sent to Redis: answered (an error
    /// reply is an answer), or not.
    pub(crate) fn checked<T>(&self, outcome: &Result<T, ConnError>) {
        let answered = match outcome {
            Ok(_) => true,
            Err(ConnError::Redis(e)) => e.code().is_some(),
            Err(_) => false,
        };
        if answered {
            self.last_answer_ms.store(self.now_ms(), Ordering::Relaxed);
        }
        self.answering.store(answered, Ordering::Relaxed);
    }

    /// Records whether the service's group exists.
    pub(crate) fn group_seen(&self, exists: bool) {
        if !exists {
            self.delivered.forget();
        }
        let v = if exists { GROUP_EXISTS } else { GROUP_MISSING };
        self.group.store(v, Ordering::Relaxed);
    }

    /// What this process knows the service's group delivered.
    pub(crate) fn delivered(&self) -> &crate::group::Delivered {
        &self.delivered
    }

    /// Makes loop `which` panic at its next pass (the fault-injection hook).
    pub(crate) fn inject_panic(&self, which: ServerLoop) {
        self.status(which).panic_next.store(true, Ordering::Relaxed);
    }

    /// Panics if a panic was injected into loop `which`; one relaxed load
    /// otherwise. Loops call it once per pass.
    #[inline]
    pub(crate) fn trip(&self, which: ServerLoop) {
        let flag = &self.status(which).panic_next;
        if flag.load(Ordering::Relaxed) && flag.swap(false, Ordering::Relaxed) {
            injected_panic(which);
        }
    }

    /// What `health()` reports for `service`.
    pub(crate) fn snapshot(&self, service: &str) -> ServiceHealth {
        let loops: Vec<LoopHealth> = ServerLoop::ALL
            .iter()
            .map(|&which| (which, self.status(which)))
            .filter(|(_, s)| s.enabled)
            .map(|(which, s)| {
                let running = s.running.load(Ordering::Relaxed);
                let down = Duration::from_millis(s.down_since_ms.load(Ordering::Relaxed));
                LoopHealth {
                    which,
                    running,
                    restarts: s.restarts.load(Ordering::Relaxed),
                    down_since: (!running).then(|| self.started + down),
                }
            })
            .collect();
        let last = Duration::from_millis(self.last_answer_ms.load(Ordering::Relaxed));
        ServiceHealth {
            service: service.to_owned(),
            restarts: loops.iter().map(|l| l.restarts).sum(),
            loops,
            redis_answering: self.answering.load(Ordering::Relaxed),
            last_redis_answer: self.started + last,
            group_exists: match self.group.load(Ordering::Relaxed) {
                GROUP_EXISTS => Some(true),
                GROUP_MISSING => Some(false),
                _ => None,
            },
        }
    }
}

/// The injected panic, out of the loops' way.
#[cold]
#[inline(never)]
fn injected_panic(which: ServerLoop) -> ! {
    panic!("fault injected into the {which} loop")
}
