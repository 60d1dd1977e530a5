//! [`ConnectError`]: why connecting a client, starting a server or opening a
//! connection failed, typed so that a caller matches what it can act on
//! (the configuration, an unreachable Redis, a refusal, a TLS handshake)
//! without walking source chains or reading messages.

use crate::options::ConfigError;
use crate::tls::TlsHandshakeError;

/// Connecting to Redis failed: what
/// [`RedisRpcClient::connect`](crate::RedisRpcClient::connect),
/// [`RedisRpcClient::connect_with`](crate::RedisRpcClient::connect_with),
/// [`RedisServerBuilder::start`](crate::RedisServerBuilder::start) and
/// [`ops::Conn::open`](crate::ops::Conn::open) fail with.
///
/// Each variant says what to change or check. A call on a connected client
/// fails with a [`TransportError`](clamator_protocol::TransportError)
/// instead.
///
/// ```no_run
/// use clamator_over_redis::{ConnectError, ConnectOptions, RedisRpcClient, Refusal};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let redis = ConnectOptions::new("myapp", "rediss://redis.internal:6380")?;
/// match RedisRpcClient::connect(redis).await {
///     Ok(client) => client.close().await,
///     Err(ConnectError::Tls(tls)) => eprintln!("fix TLS ({:?}): {tls}", tls.kind()),
///     Err(ConnectError::Refused { reason: Refusal::Credentials, .. }) => {
///         eprintln!("wrong password")
///     }
///     Err(e) => return Err(e.into()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The options are unusable, no service is registered, or the instance
    /// id is in use; nothing was sent. Retrying does not help: change the
    /// configuration (the [`ConfigError`] says what).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// Redis could not be reached: the connection was refused or dropped,
    /// nothing answered within `command_timeout`, or no sentinel named a
    /// reachable primary. A server's `start()` retries this until its
    /// `start_timeout`; a client's `connect` fails at once.
    #[error(
        "{doing} failed: Redis at {addr} is unreachable ({source}); check that Redis runs \
         there and that this host can reach it"
    )]
    Unreachable {
        /// Where the connection went: `host:port`, the Sentinel deployment
        /// or the cluster's seeds.
        addr: String,
        /// What was being done.
        doing: String,
        /// The socket's failure: its [`kind`](std::io::Error::kind) is
        /// `ConnectionRefused`, `ConnectionReset` (dropped), `TimedOut`
        /// (nothing answered in time), `NotConnected` (a recent connect
        /// failed and the connection waits before the next), or `Other`
        /// (name resolution, no sentinel named a primary); its source is
        /// what the connection said.
        #[source]
        source: std::io::Error,
    },
    /// A TLS handshake failed: certificates (an unknown CA, an expired or
    /// misnamed certificate, a refused client certificate), or a port of
    /// the other kind (`rediss://` to a plain port, `redis://` to a TLS
    /// port). [`TlsHandshakeError::kind`] says which; not retried.
    #[error("{0}")]
    Tls(#[source] TlsHandshakeError),
    /// Redis refused a command: wrong credentials, an ACL user without a
    /// permission, a key of the wrong type, a replica. Retrying does not
    /// help; the message names the command and what to change.
    #[error("{doing} was refused by Redis at {addr}: {source}; {}", .reason.hint())]
    Refused {
        /// Where the connection went.
        addr: String,
        /// What was being done (names the command).
        doing: String,
        /// Why, from Redis's error code.
        reason: Refusal,
        /// What Redis answered.
        #[source]
        source: redis::RedisError,
    },
    /// Redis is reachable but refuses for now: loading its data set, out of
    /// memory (`maxmemory` with `noeviction`), busy with a script, lacking
    /// replicas, or a failover in progress. Trying again later may succeed
    /// (a server's `start()` retries until its `start_timeout`).
    #[error("{doing} was refused for now by Redis at {addr}: {source}; {hint}")]
    Unavailable {
        /// Where the connection went.
        addr: String,
        /// What was being done (names the command).
        doing: String,
        /// What to check.
        hint: &'static str,
        /// What Redis answered (its [`code`](redis::RedisError::code):
        /// `LOADING`, `OOM`, `BUSY`, ...).
        #[source]
        source: redis::RedisError,
    },
    /// Something else failed: Redis answered with an error this transport
    /// has no advice for, or what answered does not speak Redis's protocol.
    #[error(
        "{doing} failed at {addr}: {source}; check that the address is a Redis (or a \
         Sentinel / Cluster node as the URL says) and see its log"
    )]
    Failed {
        /// Where the connection went.
        addr: String,
        /// What was being done.
        doing: String,
        /// What redis-rs said.
        #[source]
        source: redis::RedisError,
    },
}

/// Why Redis refused a command ([`ConnectError::Refused`]), from its error
/// code or redis-rs's error kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Wrong username or password, or none where Redis wants one
    /// (`WRONGPASS`, `NOAUTH`, a failed `AUTH`).
    Credentials,
    /// The ACL user lacks the command or key (`NOPERM`).
    Permission,
    /// A key clamator uses holds another type (`WRONGTYPE`): the command
    /// stream is not a stream, say, when creating the consumer group.
    WrongType,
    /// This Redis is a replica (`READONLY`): connect to the primary.
    Replica,
}

impl Refusal {
    /// What to change.
    pub fn hint(self) -> &'static str {
        match self {
            Refusal::Credentials => {
                "check the username and password (in the URL, redis://user:password@host); \
                 a wrong password is not retried"
            }
            Refusal::Permission => {
                "grant the ACL user this command or key (README, \"Production Redis\": \
                 the minimal ACL per role)"
            }
            Refusal::WrongType => {
                "the key holds another type: pick another key prefix, or remove the key if \
                 it is a leftover"
            }
            Refusal::Replica => "this Redis is a replica: connect to the primary",
        }
    }
}
