//! [`CliError`]: everything a command can fail with, and the exit code of each.

use std::process::ExitCode;
use std::time::Duration;

use clamator_over_redis::ConnectError;
use clamator_protocol::{ProtocolError, RpcError, TransportError};

use crate::conn::redact;

/// The command ran and succeeded.
pub(crate) const EXIT_OK: u8 = 0;
/// The call was answered with a JSON-RPC error.
pub(crate) const EXIT_RPC: u8 = 1;
/// The command line is wrong (as clap's own errors).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Redis could not be reached or did not answer in time.
pub(crate) const EXIT_TRANSPORT: u8 = 3;
/// Interrupted by Ctrl-C (128 + SIGINT, as shells report it).
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// How a command failed. Every message says what happened and what to try.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The server answered with an error object; printed on stdout, exit 1.
    #[error("{}: the server answered with error {} {:?}", .method, .error.code, .error.message)]
    Rpc {
        /// `<service>.<method>`.
        method: String,
        /// The error object.
        error: RpcError,
    },

    /// Wrong arguments or input.
    #[error("{0}")]
    Usage(String),

    /// `codegen --check`: generated output is stale, or hashes disagree; exit 1.
    #[error("{0}")]
    Stale(String),

    /// A command that needs the key prefix got none.
    #[error(
        "`clamator {command}` needs the key prefix your services use: pass --key-prefix PREFIX \
         or set CLAMATOR_KEY_PREFIX"
    )]
    MissingPrefix {
        /// The command.
        command: &'static str,
    },

    /// What the user named does not exist.
    #[error("{0}")]
    NotFound(String),

    /// Redis did not accept a connection (refused, unknown host, timed out, auth).
    #[error(
        "cannot reach Redis at {}: {reason}; check that Redis runs there and pass \
         --redis-url (or set REDIS_URL)", redact(.url)
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What failed.
        reason: String,
    },

    /// The TLS handshake with Redis failed (certificates, or a port of the other kind).
    #[error("TLS with Redis at {} failed: {reason}", redact(.url))]
    Tls {
        /// The URL tried.
        url: String,
        /// What failed and what to do (names the flags to pass).
        reason: String,
    },

    /// A Redis command failed or did not answer in time.
    #[error(
        "{doing} failed: {reason}; check that Redis at {} is up and reachable, then retry",
        redact(.url)
    )]
    Redis {
        /// What was being done.
        doing: String,
        /// What Redis or the connection said.
        reason: String,
        /// The URL in use.
        url: String,
    },

    /// A call got no reply in time.
    #[error(
        "{method}: no reply within {} ms. Is a server for `{service}` running under key prefix \
         `{prefix}`? `clamator services` lists its consumers; if the method is just slow, raise \
         --timeout-ms",
        .timeout.as_millis()
    )]
    CallTimeout {
        /// `<service>.<method>`.
        method: String,
        /// The service.
        service: String,
        /// The key prefix used.
        prefix: String,
        /// The timeout that ran out.
        timeout: Duration,
    },

    /// The transport failed in another way.
    #[error("{doing}: {source}")]
    Transport {
        /// What was being done.
        doing: String,
        /// The transport's error.
        #[source]
        source: TransportError,
    },

    /// Connecting or starting failed in another way (Redis refused, or
    /// refuses for now).
    #[error("{doing}: {source}")]
    Connect {
        /// What was being done.
        doing: String,
        /// The transport's error.
        #[source]
        source: ConnectError,
    },

    /// A reply or request broke the protocol.
    #[error("{doing}: {source}")]
    Protocol {
        /// What was being done.
        doing: String,
        /// The protocol error.
        #[source]
        source: ProtocolError,
    },

    /// The demo needs a redis-server binary and found none.
    #[error(
        "no Redis answered at {} and there is no redis-server binary to start a throwaway \
         one: install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install \
         redis) or pass --redis-url of a running Redis ({detail})",
        redact(.url)
    )]
    NoRedisServer {
        /// The URL tried first.
        url: String,
        /// What starting one said.
        detail: String,
    },

    /// Something that should not happen did; a bug.
    #[error("internal error: {0}; please report this as a bug")]
    Internal(String),

    /// Ctrl-C arrived; what was started has been cleaned up.
    #[error("interrupted: {0}")]
    Interrupted(String),

    /// Stdout was closed (`clamator tail | head`): stop quietly.
    #[error("stdout closed")]
    StdoutClosed,
}

impl CliError {
    /// The process exit code for this error.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Rpc { .. } | CliError::Stale(_) => EXIT_RPC,
            CliError::Usage(_) | CliError::MissingPrefix { .. } | CliError::NotFound(_) => {
                EXIT_USAGE
            }
            CliError::Unreachable { .. }
            | CliError::Tls { .. }
            | CliError::Redis { .. }
            | CliError::CallTimeout { .. }
            | CliError::Transport { .. }
            | CliError::Connect { .. }
            | CliError::Protocol { .. }
            | CliError::NoRedisServer { .. }
            | CliError::Internal(_) => EXIT_TRANSPORT,
            CliError::Interrupted(_) => EXIT_INTERRUPTED,
            CliError::StdoutClosed => EXIT_OK,
        }
    }

    /// As a process exit code.
    pub(crate) fn to_exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit_code())
    }

    /// A failed call of `<service>.<method>` as a CLI error.
    pub(crate) fn from_call(
        error: clamator_protocol::Error,
        service: &str,
        method: &str,
        prefix: &str,
        url: &str,
    ) -> CliError {
        let wire = format!("{service}.{method}");
        match error {
            clamator_protocol::Error::Rpc(error) => CliError::Rpc {
                method: wire,
                error,
            },
            clamator_protocol::Error::Transport(TransportError::Timeout { timeout }) => {
                CliError::CallTimeout {
                    method: wire,
                    service: service.to_owned(),
                    prefix: prefix.to_owned(),
                    timeout,
                }
            }
            clamator_protocol::Error::Transport(source) => CliError::transport(source, &wire, url),
            clamator_protocol::Error::Protocol(source) => CliError::Protocol {
                doing: format!("calling {wire}"),
                source,
            },
            other => CliError::Redis {
                doing: format!("calling {wire}"),
                reason: other.to_string(),
                url: url.to_owned(),
            },
        }
    }

    /// A failed connect or server start while doing `doing`: TLS with what
    /// to change, an unreachable Redis as "cannot reach Redis", options as a
    /// usage error.
    pub(crate) fn connect(source: ConnectError, doing: &str, url: &str) -> CliError {
        match source {
            ConnectError::Tls(tls) => CliError::Tls {
                url: url.to_owned(),
                reason: format!("{doing}: {tls}"),
            },
            ConnectError::Unreachable { source, .. } => CliError::Unreachable {
                url: url.to_owned(),
                reason: format!("{doing}: {source}"),
            },
            ConnectError::Config(error) => CliError::Usage(error.to_string()),
            source => CliError::Connect {
                doing: doing.to_owned(),
                source,
            },
        }
    }

    /// A failed call's transport error while doing `doing`; a lost
    /// connection reads as "cannot reach Redis".
    pub(crate) fn transport(source: TransportError, doing: &str, url: &str) -> CliError {
        match source {
            TransportError::ConnectionLost { message, .. } => CliError::Unreachable {
                url: url.to_owned(),
                reason: format!("{doing}: {message}"),
            },
            source => CliError::Transport {
                doing: doing.to_owned(),
                source,
            },
        }
    }
}
