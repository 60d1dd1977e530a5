//! What [`RedisRpcServer::health`](crate::RedisRpcServer::health) reports per
//! service ([`ServiceHealth`]), and the [`Monitor`] the loops and their
//! supervisors record it in: a few atomics per service, written by the loops
//! at most once per pass (never per call) and read by `health()`.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::conn::ConnError;

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
        }
    }

    /// The status of loop `which`.
    fn status(&self, which: ServerLoop) -> &LoopStatus {
        &self.loops[which.index()]
    }

    /// Records whether loop `which` runs now.
    pub(crate) fn set_running(&self, which: ServerLoop, running: bool) {
        self.status(which).running.store(running, Ordering::Relaxed);
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
            let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.last_answer_ms.store(ms, Ordering::Relaxed);
        }
        self.answering.store(answered, Ordering::Relaxed);
    }

    /// Records whether the service's group exists.
    pub(crate) fn group_seen(&self, exists: bool) {
        let v = if exists { GROUP_EXISTS } else { GROUP_MISSING };
        self.group.store(v, Ordering::Relaxed);
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
            .map(|(which, s)| LoopHealth {
                which,
                running: s.running.load(Ordering::Relaxed),
                restarts: s.restarts.load(Ordering::Relaxed),
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
