//! [`HealthProbe`]: liveness and readiness of a running server, judged from
//! its services' [`Monitor`]s, and the status and JSON body each probe
//! answers (see the module docs of `health` for the definitions).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::{Monitor, ServiceHealth};
use crate::server::RedisRpcServer;

/// How long a loop may be down (restarting after a panic, with backoff)
/// before the server is no longer live: 10 s, longer than the first seven
/// restart delays (100 ms doubling to 6.4 s), so only a loop that keeps
/// panicking fails liveness.
pub const DEFAULT_LOOP_GRACE: Duration = Duration::from_secs(10);

/// How long ago Redis may have last answered a check for the server to be
/// ready: 5 s. The housekeeping loop checks once a second; a check that
/// Redis never answers fails after `command_timeout`, and this bound turns
/// readiness off before then.
pub const DEFAULT_MAX_ANSWER_AGE: Duration = Duration::from_secs(5);

/// One of the two probes.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    /// Whether the process and its loops are fine (`GET /healthz`).
    Liveness,
    /// Whether it serves: live, Redis answers, every group exists (`GET /readyz`).
    Readiness,
}

impl Probe {
    /// The probe a request path asks for: `/healthz` (or `/livez`) and
    /// `/readyz`, a query string ignored; `None` for any other path.
    pub fn from_path(path: &str) -> Option<Probe> {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        match path {
            "/healthz" | "/livez" => Some(Probe::Liveness),
            "/readyz" => Some(Probe::Readiness),
            _ => None,
        }
    }

    /// Its path: `/healthz` or `/readyz`.
    pub fn path(self) -> &'static str {
        match self {
            Probe::Liveness => "/healthz",
            Probe::Readiness => "/readyz",
        }
    }

    /// Its name in the JSON body: `liveness` or `readiness`.
    pub fn name(self) -> &'static str {
        match self {
            Probe::Liveness => "liveness",
            Probe::Readiness => "readiness",
        }
    }
}

/// A cheap, cloneable handle on a running server's health, from
/// [`RedisRpcServer::health_probe`]: it borrows nothing from the server, so
/// an HTTP handler or a task can keep it (a clone is a reference count).
/// After the server stopped, its loops are down: the probe turns not ready at
/// once and not live after the loop grace.
///
/// Reading it reads a few atomics per service; nothing is sent to Redis.
#[derive(Debug, Clone)]
pub struct HealthProbe {
    /// Each service's name and monitor, in the server's order.
    services: Arc<[(String, Arc<Monitor>)]>,
    /// How long a loop may be down and the server still live.
    loop_grace: Duration,
    /// How long ago Redis may have last answered and the server still be ready.
    max_answer_age: Duration,
}

impl RedisRpcServer {
    /// A probe of this server's liveness and readiness, to keep beyond a
    /// borrow of the server (an HTTP handler, `serve_http` with the
    /// `health-http` feature). See [`crate::health`] for what each means.
    pub fn health_probe(&self) -> HealthProbe {
        HealthProbe::new(
            self.runners
                .iter()
                .map(|r| (r.service().to_owned(), Arc::clone(r.monitor())))
                .collect(),
        )
    }
}

impl HealthProbe {
    /// A probe of these services, with the default bounds.
    pub(crate) fn new(services: Vec<(String, Arc<Monitor>)>) -> HealthProbe {
        HealthProbe {
            services: services.into(),
            loop_grace: DEFAULT_LOOP_GRACE,
            max_answer_age: DEFAULT_MAX_ANSWER_AGE,
        }
    }

    /// How long a loop may be down before the server is no longer live
    /// (default [`DEFAULT_LOOP_GRACE`]).
    #[must_use]
    pub fn loop_grace(mut self, grace: Duration) -> Self {
        self.loop_grace = grace;
        self
    }

    /// How long ago Redis may have last answered a check for the server to
    /// be ready (default [`DEFAULT_MAX_ANSWER_AGE`]); keep it above the
    /// housekeeping period (1 s).
    #[must_use]
    pub fn max_answer_age(mut self, age: Duration) -> Self {
        self.max_answer_age = age;
        self
    }

    /// Each service's health, as [`RedisRpcServer::health`] reports it.
    pub fn health(&self) -> Vec<ServiceHealth> {
        self.services
            .iter()
            .map(|(service, monitor)| monitor.snapshot(service))
            .collect()
    }

    /// Liveness and readiness now, per service and overall, with the
    /// problems in words.
    pub fn report(&self) -> HealthReport {
        let bounds = Bounds {
            now: Instant::now(),
            loop_grace: self.loop_grace,
            max_answer_age: self.max_answer_age,
        };
        HealthReport::judge(self.health(), bounds)
    }

    /// Whether the server is live: every loop of every service runs, or has
    /// been down for less than the loop grace.
    pub fn is_live(&self) -> bool {
        self.report().live
    }

    /// Whether the server is ready: every loop runs now, Redis answered the
    /// last check and within `max_answer_age`, and no group is missing.
    pub fn is_ready(&self) -> bool {
        self.report().ready
    }

    /// The HTTP answer to a request for `path`: the status (`200` when the
    /// probe passes, `503` when not) and the JSON body (see
    /// [`crate::health`]); `None` when `path` is no probe's
    /// ([`Probe::from_path`]). For mounting the probes in an HTTP server of
    /// your own; the body's content type is `application/json`.
    ///
    /// ```no_run
    /// # fn handler(probe: &clamator_over_redis::health::HealthProbe, path: &str) {
    /// let (status, body) = probe.respond(path).unwrap_or((404, String::new()));
    /// # let _ = (status, body); }
    /// ```
    pub fn respond(&self, path: &str) -> Option<(u16, String)> {
        let probe = Probe::from_path(path)?;
        let report = self.report();
        Some((report.status_code(probe), report.to_json(probe).to_string()))
    }
}

/// What a report is judged against.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    /// When.
    now: Instant,
    /// See [`HealthProbe::loop_grace`].
    loop_grace: Duration,
    /// See [`HealthProbe::max_answer_age`].
    max_answer_age: Duration,
}

/// Liveness and readiness of a server at one moment, from
/// [`HealthProbe::report`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// When it was judged.
    pub at: Instant,
    /// Every service is live.
    pub live: bool,
    /// Every service is ready.
    pub ready: bool,
    /// Each service, in the server's order.
    pub services: Vec<ServiceReport>,
    /// Why a probe fails, in words, one line per cause (empty when both pass).
    pub problems: Vec<String>,
}

/// One service in a [`HealthReport`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceReport {
    /// Its health as [`RedisRpcServer::health`] reports it.
    pub health: ServiceHealth,
    /// Every loop runs, or has been down for less than the loop grace.
    pub live: bool,
    /// Every loop runs, Redis answered the last check and recently enough,
    /// and the group is not missing.
    pub ready: bool,
    /// How long ago Redis last answered a check of this service.
    pub redis_answered_ago: Duration,
}

impl HealthReport {
    /// Judges each service's health against `bounds`.
    fn judge(services: Vec<ServiceHealth>, bounds: Bounds) -> HealthReport {
        let mut problems = Vec::new();
        let services: Vec<ServiceReport> = services
            .into_iter()
            .map(|health| ServiceReport::judge(health, bounds, &mut problems))
            .collect();
        HealthReport {
            at: bounds.now,
            live: services.iter().all(|s| s.live),
            ready: services.iter().all(|s| s.ready),
            services,
            problems,
        }
    }

    /// Whether `probe` passes.
    pub fn passes(&self, probe: Probe) -> bool {
        match probe {
            Probe::Liveness => self.live,
            Probe::Readiness => self.ready,
        }
    }

    /// The HTTP status `probe` answers: `200` when it passes, else `503`.
    pub fn status_code(&self, probe: Probe) -> u16 {
        if self.passes(probe) { 200 } else { 503 }
    }

    /// The JSON body `probe` answers (see [`crate::health`]).
    pub fn to_json(&self, probe: Probe) -> Value {
        let status = if self.passes(probe) {
            "ok"
        } else {
            "unavailable"
        };
        json!({
            "status": status,
            "probe": probe.name(),
            "live": self.live,
            "ready": self.ready,
            "problems": self.problems,
            "services": self.services.iter().map(|s| s.to_json(self.at)).collect::<Vec<_>>(),
        })
    }
}

impl ServiceReport {
    /// Judges one service's health, adding what fails to `problems`.
    fn judge(health: ServiceHealth, bounds: Bounds, problems: &mut Vec<String>) -> ServiceReport {
        let service = health.service.as_str();
        let (mut live, mut ready) = (true, true);
        for l in &health.loops {
            let Some(since) = l.down_since else { continue };
            let down = bounds.now.saturating_duration_since(since);
            ready = false;
            let state = if down >= bounds.loop_grace {
                live = false;
                "down"
            } else {
                "restarting"
            };
            problems.push(format!(
                "{service}: the {} loop is {state} (for {} ms, {} restarts so far)",
                l.which,
                down.as_millis(),
                l.restarts
            ));
        }
        let ago = bounds
            .now
            .saturating_duration_since(health.last_redis_answer);
        if !health.redis_answering {
            ready = false;
            problems.push(format!(
                "{service}: Redis did not answer the last check (last answer {} ms ago)",
                ago.as_millis()
            ));
        } else if ago > bounds.max_answer_age {
            ready = false;
            problems.push(format!(
                "{service}: Redis last answered {} ms ago (more than {} ms)",
                ago.as_millis(),
                bounds.max_answer_age.as_millis()
            ));
        }
        if health.group_exists == Some(false) {
            ready = false;
            problems.push(format!(
                "{service}: its consumer group is missing (Redis lost it; it is recreated \
                 by the next read)"
            ));
        }
        ServiceReport {
            health,
            live,
            ready,
            redis_answered_ago: ago,
        }
    }

    /// This service in the JSON body, as of `now`.
    fn to_json(&self, now: Instant) -> Value {
        let loops: Map<String, Value> = self
            .health
            .loops
            .iter()
            .map(|l| {
                let down_ms = l
                    .down_since
                    .map(|since| now.saturating_duration_since(since).as_millis());
                let v = json!({"running": l.running, "restarts": l.restarts, "down_ms": down_ms});
                (l.which.name().to_owned(), v)
            })
            .collect();
        json!({
            "service": self.health.service,
            "live": self.live,
            "ready": self.ready,
            "loops": loops,
            "redis_answering": self.health.redis_answering,
            "redis_answered_ms_ago": self.redis_answered_ago.as_millis(),
            "group": self.health.group_exists,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{LoopHealth, ServerLoop};

    const SECOND: Duration = Duration::from_secs(1);

    /// A healthy service at `now`: every loop runs, Redis answered 100 ms ago.
    fn healthy(now: Instant) -> ServiceHealth {
        ServiceHealth {
            service: "arith".to_owned(),
            loops: ServerLoop::ALL
                .iter()
                .map(|&which| LoopHealth {
                    which,
                    running: true,
                    restarts: 0,
                    down_since: None,
                })
                .collect(),
            restarts: 0,
            redis_answering: true,
            last_redis_answer: now - Duration::from_millis(100),
            group_exists: Some(true),
        }
    }

    fn judge(now: Instant, health: ServiceHealth) -> HealthReport {
        let bounds = Bounds {
            now,
            loop_grace: 10 * SECOND,
            max_answer_age: 5 * SECOND,
        };
        HealthReport::judge(vec![health], bounds)
    }

    /// `(live, ready)` and the `/healthz` and `/readyz` statuses.
    fn verdict(report: &HealthReport) -> (bool, bool, u16, u16) {
        (
            report.live,
            report.ready,
            report.status_code(Probe::Liveness),
            report.status_code(Probe::Readiness),
        )
    }

    #[test]
    fn paths_name_the_probes() {
        assert_eq!(Probe::from_path("/healthz"), Some(Probe::Liveness));
        assert_eq!(Probe::from_path("/livez"), Some(Probe::Liveness));
        assert_eq!(Probe::from_path("/readyz?verbose"), Some(Probe::Readiness));
        assert_eq!(Probe::from_path("/"), None);
        assert_eq!(Probe::from_path("/readyz/x"), None);
        assert_eq!(Probe::Readiness.path(), "/readyz");
    }

    #[test]
    fn a_healthy_server_is_live_and_ready() {
        let now = Instant::now() + 10 * SECOND;
        let report = judge(now, healthy(now));
        assert_eq!(verdict(&report), (true, true, 200, 200));
        assert!(report.problems.is_empty());
        let body = report.to_json(Probe::Readiness);
        assert_eq!(body["status"], "ok");
        assert_eq!(body["probe"], "readiness");
        assert_eq!(body["problems"], json!([]));
        let service = &body["services"][0];
        assert_eq!(service["service"], "arith");
        assert_eq!(service["group"], true);
        assert_eq!(service["redis_answering"], true);
        assert_eq!(service["redis_answered_ms_ago"], 100);
        assert_eq!(
            service["loops"]["consumer"],
            json!({"running": true, "restarts": 0, "down_ms": null})
        );
        assert_eq!(service["loops"].as_object().unwrap().len(), 5);
    }

    #[test]
    fn redis_away_is_not_ready_but_live() {
        let now = Instant::now() + 10 * SECOND;
        let mut h = healthy(now);
        h.redis_answering = false;
        let report = judge(now, h);
        assert_eq!(verdict(&report), (true, false, 200, 503));
        assert!(report.problems[0].contains("did not answer"), "{report:?}");
        let body = report.to_json(Probe::Readiness);
        assert_eq!(body["status"], "unavailable");
        assert_eq!(report.to_json(Probe::Liveness)["status"], "ok");

        // Answering, but not recently (a check that hangs).
        let mut h = healthy(now);
        h.last_redis_answer = now - 6 * SECOND;
        let report = judge(now, h);
        assert_eq!(verdict(&report), (true, false, 200, 503));
        assert!(report.problems[0].contains("6000 ms ago"), "{report:?}");
    }

    #[test]
    fn a_missing_group_is_not_ready_and_an_unknown_one_is() {
        let now = Instant::now() + 10 * SECOND;
        let mut h = healthy(now);
        h.group_exists = Some(false);
        let report = judge(now, h);
        assert_eq!(verdict(&report), (true, false, 200, 503));
        assert_eq!(
            report.to_json(Probe::Readiness)["services"][0]["group"],
            false
        );

        let mut h = healthy(now);
        h.group_exists = None;
        let report = judge(now, h);
        assert_eq!(verdict(&report), (true, true, 200, 200));
        assert_eq!(
            report.to_json(Probe::Readiness)["services"][0]["group"],
            Value::Null
        );
    }

    #[test]
    fn a_restarting_loop_is_not_ready_and_a_dead_one_not_live() {
        let now = Instant::now() + 60 * SECOND;
        let mut h = healthy(now);
        h.loops[0].running = false;
        h.loops[0].restarts = 2;
        h.loops[0].down_since = Some(now - SECOND);
        let report = judge(now, h.clone());
        assert_eq!(verdict(&report), (true, false, 200, 503));
        assert!(
            report.problems[0].contains("consumer loop is restarting"),
            "{report:?}"
        );

        h.loops[0].down_since = Some(now - 11 * SECOND);
        let report = judge(now, h);
        assert_eq!(verdict(&report), (false, false, 503, 503));
        assert!(
            report.problems[0].contains("consumer loop is down"),
            "{report:?}"
        );
        let body = report.to_json(Probe::Liveness);
        assert_eq!(body["status"], "unavailable");
        assert_eq!(body["services"][0]["loops"]["consumer"]["running"], false);
        assert!(body["services"][0]["loops"]["consumer"]["down_ms"].as_u64() >= Some(11_000));
    }

    #[test]
    fn one_bad_service_fails_the_server() {
        let now = Instant::now() + 10 * SECOND;
        let mut bad = healthy(now);
        bad.service = "other".to_owned();
        bad.redis_answering = false;
        let bounds = Bounds {
            now,
            loop_grace: 10 * SECOND,
            max_answer_age: 5 * SECOND,
        };
        let report = HealthReport::judge(vec![healthy(now), bad], bounds);
        assert_eq!(verdict(&report), (true, false, 200, 503));
        assert!(report.services[0].ready && !report.services[1].ready);
        assert!(report.problems[0].starts_with("other: "), "{report:?}");
    }

    #[test]
    fn a_probe_on_monitors_answers_each_path() {
        let monitor = Arc::new(Monitor::new(false));
        let probe = HealthProbe::new(vec![("arith".to_owned(), Arc::clone(&monitor))]);
        // Not started yet: every loop is down, within the grace.
        let (status, body) = probe.respond("/healthz").unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(probe.respond("/readyz").unwrap().0, 503);
        assert_eq!(probe.respond("/metrics"), None);

        for which in ServerLoop::ALL {
            monitor.set_running(which, true);
        }
        monitor.group_seen(true);
        let (status, body) = probe.respond("/readyz").unwrap();
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        // No lease loop without `renew_leases`.
        assert_eq!(body["services"][0]["loops"].as_object().unwrap().len(), 4);
        assert!(probe.is_live() && probe.is_ready());

        monitor.set_running(ServerLoop::Finish, false);
        assert!(probe.is_live() && !probe.is_ready());
        assert!(!probe.clone().loop_grace(Duration::ZERO).is_live());
        monitor.set_running(ServerLoop::Finish, true);
        assert!(!probe.clone().max_answer_age(Duration::ZERO).is_ready());
        assert_eq!(probe.health().len(), 1);
    }
}
