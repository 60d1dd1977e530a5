//! [`ConnError`]: what a failed Redis command or connect means to the
//! connection layer (transient or not, whether its connection must be
//! replaced), and what it becomes for callers ([`TransportError`] for a
//! call, [`ConnectError`] for a connect or a server's start, with what to
//! change or check).

use std::time::Duration;

use clamator_protocol::TransportError;
use redis::RedisError;

use crate::connect_error::{ConnectError, Refusal};

/// A Redis command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    /// Redis answered with an error, or the connection failed.
    #[error("{0}")]
    Redis(#[from] RedisError),
    /// No answer within our own bound.
    #[error("no answer from Redis within {} ms", .0.as_millis())]
    TimedOut(Duration),
    /// A TLS handshake failed (certificates, or a port of the other kind).
    #[error("{0}")]
    Tls(#[source] crate::tls::TlsHandshakeError),
    /// No sentinel named a primary that answered as one.
    #[cfg_attr(not(feature = "sentinel"), allow(dead_code))]
    #[error(
        "no sentinel named a reachable primary {name:?} ({source}): a failover may be in \
         progress (retrying); if this lasts, check the sentinel addresses, the primary name \
         (`sentinel monitor <name> ...`) and the credentials"
    )]
    NoPrimary {
        /// The primary's name.
        name: String,
        /// What the last sentinel or candidate said.
        #[source]
        source: RedisError,
    },
    /// A recent connect failed; the shared connection waits before the next try.
    #[error("Redis is unreachable (last connect failed: {last_error}); retrying in {} ms", .retry_in.as_millis())]
    Unreachable {
        /// What the last connect attempt said.
        last_error: String,
        /// When the next attempt is allowed.
        retry_in: Duration,
    },
}

impl ConnError {
    /// The consumer group (or its stream) does not exist: Redis lost it.
    pub(crate) fn is_no_group(&self) -> bool {
        matches!(self, ConnError::Redis(e) if e.code() == Some("NOGROUP"))
    }

    /// The group exists already (a harmless answer to XGROUP CREATE).
    pub(crate) fn is_busy_group(&self) -> bool {
        matches!(self, ConnError::Redis(e) if e.code() == Some("BUSYGROUP"))
    }

    /// Whether trying again later may succeed: the connection failed or timed
    /// out, Redis is loading its data set or not yet able to serve, or the
    /// node is no longer the primary (a failover: `READONLY`, `UNBLOCKED`,
    /// `MASTERDOWN`), Redis is out of memory under `maxmemory` (`OOM`, until
    /// memory is freed) or lacks the replicas `min-replicas-to-write` asks
    /// for (`NOREPLICAS`), or no sentinel names a primary yet.
    /// Refusals (a wrong password, a forbidden command, a key of the wrong
    /// type) are not: retrying would only hide them.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            ConnError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || matches!(
                        redis_code(e).as_deref(),
                        Some(
                            "LOADING"
                                | "MASTERDOWN"
                                | "TRYAGAIN"
                                | "CLUSTERDOWN"
                                | "BUSY"
                                | "OOM"
                                | "NOREPLICAS"
                        )
                    )
                    || is_wrong_node(e)
            }
            ConnError::NoPrimary { source, .. } => !is_refusal(source),
            ConnError::TimedOut(_) | ConnError::Unreachable { .. } => true,
            ConnError::Tls(e) => e.is_transient(),
        }
    }

    /// Whether a request whose `XADD` failed this way may be sent again
    /// (client retries): Redis may or may not have taken it (the connection
    /// failed, or no answer came), or refused it for now (everything
    /// [`is_transient`](Self::is_transient) covers: a failover, loading, out
    /// of memory), or the cluster is moving its slot or failing over
    /// (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`, by redis-rs's error kind).
    /// Refusals a retry cannot fix (`NOPERM`, `WRONGTYPE`, credentials) are not.
    pub(crate) fn may_resend(&self) -> bool {
        self.is_transient() || matches!(self, ConnError::Redis(e) if e.is_cluster_error())
    }

    /// How long the shared connection refuses commands after a failed
    /// connect (`Unreachable`); zero for other errors.
    pub(crate) fn refused_for(&self) -> std::time::Duration {
        match self {
            ConnError::Unreachable { retry_in, .. } => *retry_in,
            _ => Duration::ZERO,
        }
    }

    /// Whether the connection that produced this error must be replaced:
    /// it failed, or it is on a node that is no longer the primary (a new
    /// connection goes where Redis, or Sentinel, now says).
    pub(super) fn breaks_connection(&self) -> bool {
        match self {
            ConnError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_unrecoverable_error()
                    || e.kind() == redis::ErrorKind::Parse
                    || is_wrong_node(e)
            }
            // No answer within the bound: the connection may be half-open.
            ConnError::TimedOut(_) | ConnError::Tls(_) => true,
            ConnError::NoPrimary { .. } | ConnError::Unreachable { .. } => false,
        }
    }

    /// Whether the command surely never ran, and a retry on a fresh
    /// connection is worth one attempt: the connection dropped, or the node
    /// refused it as a replica.
    pub(super) fn is_dropped_connection(&self) -> bool {
        matches!(self, ConnError::Redis(e) if e.is_connection_dropped() || is_wrong_node(e))
    }
}

/// The error code Redis answered with (`OOM`, `READONLY`, ...), also when
/// the error is a pipeline's (redis-rs then gives no code of its own: the
/// first failed command's is taken).
pub(crate) fn redis_code(e: &RedisError) -> Option<std::borrow::Cow<'_, str>> {
    if let Some(code) = e.code() {
        return Some(std::borrow::Cow::Borrowed(code));
    }
    let errors = e.clone().into_server_errors()?;
    errors
        .first()
        .map(|(_, s)| std::borrow::Cow::Owned(s.code().to_owned()))
}

/// The node is no longer (or not) the primary: writes and `XREADGROUP` there
/// fail with `READONLY`, a read parked there when it was demoted ends with
/// `UNBLOCKED`, and a replica whose primary is unreachable answers
/// `MASTERDOWN`. Also `UNBLOCKED` when a parked read's stream was deleted;
/// a reconnect is harmless then.
fn is_wrong_node(e: &RedisError) -> bool {
    matches!(
        redis_code(e).as_deref(),
        Some("READONLY" | "UNBLOCKED" | "MASTERDOWN")
    )
}

/// Errors a retry cannot fix: bad credentials, a forbidden command, a
/// configuration redis-rs rejects.
fn is_refusal(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        redis::ErrorKind::AuthenticationFailed | redis::ErrorKind::InvalidClientConfig
    ) || matches!(
        redis_code(e).as_deref(),
        Some("WRONGPASS" | "NOAUTH" | "NOPERM")
    )
}

/// Why Redis refused a command, by redis-rs's error kind and Redis's error
/// code; `None` for failures that are not refusals.
fn refusal_of(e: &RedisError) -> Option<Refusal> {
    if e.kind() == redis::ErrorKind::AuthenticationFailed {
        return Some(Refusal::Credentials);
    }
    match redis_code(e)?.as_ref() {
        "NOPERM" => Some(Refusal::Permission),
        "NOAUTH" | "WRONGPASS" => Some(Refusal::Credentials),
        "WRONGTYPE" => Some(Refusal::WrongType),
        "READONLY" => Some(Refusal::Replica),
        _ => None,
    }
}

/// What to check when Redis refuses a command for now (it may pass), by
/// its error code; `None` for anything else.
fn for_now_hint_of(e: &RedisError) -> Option<&'static str> {
    match redis_code(e)?.as_ref() {
        "OOM" => Some(
            "Redis is full (used_memory above maxmemory, policy noeviction): free memory, \
             raise maxmemory, or let the backlog drain; the request was not sent",
        ),
        "LOADING" => Some("Redis is loading its data set after a restart; try again shortly"),
        "BUSY" => Some("Redis is busy running a script or function; try again shortly"),
        "NOREPLICAS" => {
            Some("Redis has fewer replicas than min-replicas-to-write asks for; check its replicas")
        }
        "MASTERDOWN" => {
            Some("this replica lost its primary (a failover in progress?); try again shortly")
        }
        "TRYAGAIN" | "CLUSTERDOWN" => {
            Some("the cluster is moving slots or failing over; try again shortly")
        }
        _ => None,
    }
}

/// The kind of socket failure a redis-rs I/O error is, from redis-rs's
/// typed predicates; `None` when it is no I/O error.
fn io_kind_of(e: &RedisError) -> Option<std::io::ErrorKind> {
    use std::io::ErrorKind;
    if e.is_connection_refusal() {
        Some(ErrorKind::ConnectionRefused)
    } else if e.is_timeout() {
        Some(ErrorKind::TimedOut)
    } else if e.is_connection_dropped() {
        Some(ErrorKind::ConnectionReset)
    } else if e.is_io_error() {
        Some(ErrorKind::Other)
    } else {
        None
    }
}

impl ConnError {
    /// Why Redis refused a command, by its error code; `None` for failures
    /// that are not refusals.
    fn refusal(&self) -> Option<Refusal> {
        match self {
            ConnError::Redis(e) => refusal_of(e),
            _ => None,
        }
    }

    /// What to check when Redis refuses a command for now (it may pass),
    /// by its error code; `None` for anything else.
    fn for_now_hint(&self) -> Option<&'static str> {
        match self {
            ConnError::Redis(e) => for_now_hint_of(e),
            _ => None,
        }
    }

    /// As a transport error, saying what was being done: a refusal for now
    /// ([`TransportError::Unavailable`]: Redis is full, loading, ...), a
    /// refusal ([`TransportError::Refused`], with what to change) or a lost
    /// connection.
    pub(crate) fn into_transport(self, doing: &str) -> TransportError {
        if let Some(hint) = self.for_now_hint() {
            return TransportError::Unavailable {
                doing: doing.to_owned(),
                message: self.to_string(),
                hint,
                source: Some(Box::new(self)),
            };
        }
        match self.refusal() {
            Some(refusal) => TransportError::Refused {
                doing: doing.to_owned(),
                message: self.to_string(),
                hint: refusal.hint(),
                source: Some(Box::new(self)),
            },
            None => TransportError::connection_lost(format!("{doing} failed: {self}"), self),
        }
    }
}

impl ConnError {
    /// As the error of a connect or a server's start, saying what was being
    /// done and where: TLS, a refusal for now, a refusal, an unreachable
    /// Redis, or another failure; classified by redis-rs's error kinds and
    /// Redis's error codes.
    pub(crate) fn into_connect(self, doing: &str, addr: &str) -> ConnectError {
        use std::io::{Error, ErrorKind};
        let (doing, addr) = (doing.to_owned(), addr.to_owned());
        let unreachable = |kind: ErrorKind, error: ConnError| ConnectError::Unreachable {
            addr: addr.clone(),
            doing: doing.clone(),
            source: Error::new(kind, error),
        };
        match self {
            ConnError::Tls(tls) => ConnectError::Tls(tls),
            ConnError::TimedOut(_) => unreachable(ErrorKind::TimedOut, self),
            ConnError::Unreachable { .. } => unreachable(ErrorKind::NotConnected, self),
            ConnError::NoPrimary { name, source } => match refusal_of(&source) {
                Some(reason) => ConnectError::Refused {
                    addr,
                    doing,
                    reason,
                    source,
                },
                None => {
                    let kind = io_kind_of(&source).unwrap_or(ErrorKind::Other);
                    unreachable(kind, ConnError::NoPrimary { name, source })
                }
            },
            ConnError::Redis(source) => {
                if let Some(hint) = for_now_hint_of(&source) {
                    return ConnectError::Unavailable {
                        addr,
                        doing,
                        hint,
                        source,
                    };
                }
                if let Some(reason) = refusal_of(&source) {
                    return ConnectError::Refused {
                        addr,
                        doing,
                        reason,
                        source,
                    };
                }
                match io_kind_of(&source) {
                    Some(kind) => unreachable(kind, ConnError::Redis(source)),
                    None => ConnectError::Failed {
                        addr,
                        doing,
                        source,
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error Redis answers with `line` (`-CODE message`).
    fn answered(line: &str) -> ConnError {
        let value = redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).unwrap();
        ConnError::Redis(value.extract_error().unwrap_err())
    }

    fn io(kind: std::io::ErrorKind) -> ConnError {
        ConnError::Redis(RedisError::from(std::io::Error::from(kind)))
    }

    #[test]
    fn a_dropped_connection_is_replaced_and_retried() {
        let e = io(std::io::ErrorKind::ConnectionReset);
        assert!(e.is_transient());
        assert!(e.breaks_connection());
        assert!(e.is_dropped_connection());
    }

    #[test]
    fn a_demoted_primary_is_left_for_the_new_one() {
        for line in [
            "READONLY You can't write against a read only replica.",
            "UNBLOCKED force unblock from blocking operation",
            "MASTERDOWN Link with MASTER is down",
        ] {
            let e = answered(line);
            assert!(e.is_transient(), "{line}");
            assert!(e.breaks_connection(), "{line}");
            assert!(e.is_dropped_connection(), "{line}");
        }
    }

    #[test]
    fn silence_replaces_the_connection_but_is_not_retried() {
        let e = ConnError::TimedOut(Duration::from_millis(1500));
        assert!(e.is_transient());
        assert!(e.breaks_connection());
        assert!(!e.is_dropped_connection(), "the command may have run");
        assert_eq!(e.to_string(), "no answer from Redis within 1500 ms");
    }

    #[test]
    fn refusals_for_now_keep_the_connection_and_say_so() {
        let e = answered("OOM command not allowed when used memory > 'maxmemory'.");
        assert!(e.is_transient());
        assert!(!e.breaks_connection());
        assert!(!e.is_dropped_connection());
        let t = e.into_transport("sending arith.add");
        assert!(
            matches!(&t, TransportError::Unavailable { doing, .. } if doing == "sending arith.add"),
            "{t}"
        );
        assert!(t.to_string().contains("maxmemory"), "{t}");
    }

    #[test]
    fn refusals_are_not_retried_and_say_what_to_change() {
        let e = answered("NOPERM User app has no permissions to run the 'xadd' command");
        assert!(!e.is_transient());
        assert!(!e.breaks_connection());
        let t = e.into_transport("sending arith.add");
        assert!(matches!(t, TransportError::Refused { .. }), "{t}");
        assert!(t.to_string().contains("ACL"), "{t}");

        let e = answered("WRONGTYPE Operation against a key holding the wrong kind of value");
        assert!(!e.is_transient());
        assert!(e.into_transport("x").to_string().contains("key prefix"));
    }

    #[test]
    fn a_request_is_resent_only_when_redis_may_take_it_later() {
        for line in [
            "READONLY You can't write against a read only replica.",
            "MASTERDOWN Link with MASTER is down",
            "LOADING Redis is loading the dataset in memory",
            "OOM command not allowed when used memory > 'maxmemory'.",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "CLUSTERDOWN The cluster is down",
            "MOVED 3999 127.0.0.1:6381",
            "ASK 3999 127.0.0.1:6381",
        ] {
            assert!(answered(line).may_resend(), "{line}");
        }
        assert!(io(std::io::ErrorKind::ConnectionReset).may_resend());
        assert!(ConnError::TimedOut(Duration::from_secs(1)).may_resend());
        let unreachable = ConnError::Unreachable {
            last_error: "connection refused".to_owned(),
            retry_in: Duration::from_millis(300),
        };
        assert!(unreachable.may_resend());
        assert_eq!(unreachable.refused_for(), Duration::from_millis(300));
        for line in [
            "NOPERM User app has no permissions to run the 'xadd' command",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            "NOAUTH Authentication required.",
            "ERR syntax error",
        ] {
            assert!(!answered(line).may_resend(), "{line}");
        }
    }

    #[test]
    fn a_lost_group_and_an_existing_one_are_told_apart() {
        assert!(answered("NOGROUP No such key 'k' or consumer group 'g'").is_no_group());
        assert!(answered("BUSYGROUP Consumer Group name already exists").is_busy_group());
        assert!(!answered("BUSYGROUP Consumer Group name already exists").is_no_group());
    }

    #[test]
    fn a_failed_connect_is_typed_by_error_code_and_io_kind() {
        use std::io::ErrorKind;
        let at = |e: ConnError| e.into_connect("connecting to Redis", "127.0.0.1:6379");
        for (line, want) in [
            (
                "NOPERM User app has no permissions to run the 'xgroup' command",
                Refusal::Permission,
            ),
            (
                "WRONGPASS invalid username-password pair",
                Refusal::Credentials,
            ),
            ("NOAUTH Authentication required.", Refusal::Credentials),
            (
                "WRONGTYPE Operation against a key holding the wrong kind of value",
                Refusal::WrongType,
            ),
            (
                "READONLY You can't write against a read only replica.",
                Refusal::Replica,
            ),
        ] {
            let e = at(answered(line));
            assert!(
                matches!(&e, ConnectError::Refused { reason, addr, .. }
                    if *reason == want && addr == "127.0.0.1:6379"),
                "{line}: {e:?}"
            );
            assert!(e.to_string().contains(want.hint()), "{e}");
        }
        for line in [
            "LOADING Redis is loading the dataset in memory",
            "OOM command not allowed when used memory > 'maxmemory'.",
            "BUSY Redis is busy running a script.",
        ] {
            let e = at(answered(line));
            assert!(
                matches!(e, ConnectError::Unavailable { .. }),
                "{line}: {e:?}"
            );
        }
        for (error, want) in [
            (
                io(std::io::ErrorKind::ConnectionRefused),
                ErrorKind::ConnectionRefused,
            ),
            (
                io(std::io::ErrorKind::ConnectionReset),
                ErrorKind::ConnectionReset,
            ),
            (io(std::io::ErrorKind::TimedOut), ErrorKind::TimedOut),
            (
                ConnError::TimedOut(Duration::from_secs(1)),
                ErrorKind::TimedOut,
            ),
            (
                ConnError::Unreachable {
                    last_error: "connection refused".to_owned(),
                    retry_in: Duration::from_secs(1),
                },
                ErrorKind::NotConnected,
            ),
        ] {
            let e = at(error);
            match &e {
                ConnectError::Unreachable { source, doing, .. } => {
                    assert_eq!(source.kind(), want, "{e}");
                    assert_eq!(doing, "connecting to Redis");
                }
                other => panic!("expected Unreachable, got {other:?}"),
            }
        }
        let e = at(answered("ERR unknown command 'XGROUP'"));
        assert!(matches!(e, ConnectError::Failed { .. }), "{e:?}");
    }

    #[test]
    fn other_failures_are_a_lost_connection() {
        let t = io(std::io::ErrorKind::ConnectionRefused).into_transport("connecting to Redis");
        assert!(matches!(t, TransportError::ConnectionLost { .. }), "{t}");
        assert!(t.to_string().contains("connecting to Redis failed"), "{t}");
    }
}
