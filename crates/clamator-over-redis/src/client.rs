//! [`RedisRpcClient`]: calls and notifications over Redis Streams, with one
//! reply stream per client instance. [`RedisRpcClient::connect`] returns a
//! connected client; [`RedisRpcClient::close`] consumes it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clamator_protocol::transport::{OutgoingCall, OutgoingNotification, PendingCalls};
use clamator_protocol::{ClientTransport, Error, Metadata, Response, TransportError};
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::commands;
use crate::conn::{BlockingConn, Connector, SharedConn};
use crate::connect_error::ConnectError;
use crate::keys;
use crate::options::{ClientOptions, ConfigError, ConnectOptions, DEFAULT_REPLY_STREAM_MAXLEN};
use crate::reply_loop::ReplyLoop;
use crate::trace;
use tracing::Instrument;

/// A client: sends requests to `<prefix>:cmds:<service>` and reads replies
/// from its own `<prefix>:replies:<instance_id>`.
///
/// Many calls may be in flight at once on one client (they share one
/// multiplexed connection). Clone it to share it: a clone is a pointer to
/// the same client (one connection, one reply stream, one reply loop), as
/// redis-rs's multiplexed connection and tonic's channel are. Dropping the
/// last clone aborts its reply loop and fails its pending calls; its reply
/// stream expires after `reply_stream_ttl`. [`close`](Self::close) on any
/// clone ends the client for every clone, and also deletes the reply
/// stream; calls made through a clone afterwards fail at once with
/// [`TransportError::Stopped`].
#[derive(Debug, Clone)]
pub struct RedisRpcClient {
    /// The client every clone shares.
    inner: Arc<ClientInner>,
    /// Metadata this handle sends with every call and notification
    /// ([`RedisRpcClient::with_metadata`]); `None`: none.
    metadata: Option<Arc<Metadata>>,
}

/// What the clones of one [`RedisRpcClient`] share.
#[derive(Debug)]
struct ClientInner {
    /// Where Redis is, the key prefix.
    conn: ConnectOptions,
    /// Default timeout, reply stream TTL.
    options: ClientOptions,
    /// Names the reply stream.
    instance_id: String,
    /// `<prefix>:replies:<instance_id>`.
    reply_stream: String,
    /// XADDs and the final DEL.
    shared: Arc<SharedConn>,
    /// Calls awaiting their replies, by id key.
    pending: PendingCalls,
    /// Fired by `close()` and when the last clone is dropped.
    shutdown: CancellationToken,
    /// The client's tasks, taken by the first `close()` to await them.
    tasks: Mutex<ClientTasks>,
    /// Frees this client's reply stream in the process-wide registry.
    _claim: ReplyStreamClaim,
}

/// The tasks of one client; each aborts when its handle is dropped.
#[derive(Debug)]
struct ClientTasks {
    /// The reply loop task.
    reply_loop: Option<AbortOnDropHandle<()>>,
    /// The task that keeps the reply stream's TTL fresh, if it has one.
    keepalive: Option<AbortOnDropHandle<()>>,
}

/// The reply streams clients of this process read, by Redis address: a
/// second client with the same instance id would read the first one's
/// replies.
static CLAIMED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// One entry of [`CLAIMED`], released on drop.
#[derive(Debug)]
struct ReplyStreamClaim(String);

impl ReplyStreamClaim {
    fn take(key: String) -> Option<ReplyStreamClaim> {
        let mut claimed = CLAIMED.lock().unwrap_or_else(|p| p.into_inner());
        // `then`, not `then_some`: a claim built eagerly and dropped here
        // when the id is taken would lock CLAIMED again (a deadlock) and
        // release the other client's claim.
        claimed
            .get_or_insert_with(HashSet::new)
            .insert(key.clone())
            .then(|| ReplyStreamClaim(key))
    }
}

impl Drop for ReplyStreamClaim {
    fn drop(&mut self) {
        let mut claimed = CLAIMED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = claimed.as_mut() {
            set.remove(&self.0);
        }
    }
}

/// Refreshes the reply stream's TTL every `period` until shutdown, and
/// re-creates the stream if it is gone (it expired while this process was
/// frozen, or someone deleted it).
async fn keep_reply_stream(
    shared: std::sync::Arc<SharedConn>,
    stream: String,
    ttl: Duration,
    maxlen: usize,
    period: Duration,
    shutdown: CancellationToken,
) {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let task = ReplyStreamKeeper {
        shared,
        stream,
        ttl,
        ttl_ms,
        maxlen,
    };
    crate::periodic::run(task, period, shutdown).await;
}

/// One refresh of the reply stream's TTL (the keep-alive's tick).
#[derive(Debug)]
struct ReplyStreamKeeper {
    /// `PEXPIRE` and the re-creation go over the shared connection.
    shared: std::sync::Arc<SharedConn>,
    /// The reply stream.
    stream: String,
    /// Its TTL.
    ttl: Duration,
    /// Its TTL in ms, for `PEXPIRE`.
    ttl_ms: u64,
    /// `MAXLEN ~` of a re-created stream.
    maxlen: usize,
}

impl crate::periodic::Periodic for ReplyStreamKeeper {
    const NAME: &'static str = "reply stream keep-alive";
    const LOUDNESS: crate::periodic::Loudness = crate::periodic::Loudness::Quiet;
    const FAILED: &'static str = "refreshing the reply stream's TTL failed; retrying next period";

    fn subject(&self) -> crate::periodic::Subject<'_> {
        crate::periodic::Subject::ReplyStream(&self.stream)
    }

    async fn tick(
        &mut self,
        _shutdown: &CancellationToken,
    ) -> Result<crate::periodic::Flow, crate::conn::ConnError> {
        let (shared, stream) = (&self.shared, &self.stream);
        let mut cmd = redis::cmd("PEXPIRE");
        cmd.arg(stream).arg(self.ttl_ms);
        if shared.query::<i64>(&cmd, shared.command_timeout()).await? != 1 {
            tracing::warn!(reply_stream = %stream,
                "reply stream was gone (expired while this process was frozen, or \
                 deleted); re-creating it");
            let pipe = commands::open_reply_stream(stream, self.ttl, self.maxlen);
            if let Err(error) = shared
                .query_pipeline::<()>(&pipe, shared.command_timeout())
                .await
            {
                tracing::warn!(reply_stream = %stream, %error,
                    "re-creating the reply stream failed; retrying next period");
            }
        }
        Ok(crate::periodic::Flow::Continue)
    }
}

impl RedisRpcClient {
    /// Connects with [`ClientOptions::default`]; see [`connect_with`](Self::connect_with).
    pub async fn connect(conn: ConnectOptions) -> Result<RedisRpcClient, ConnectError> {
        Self::connect_with(conn, ClientOptions::default()).await
    }

    /// Checks the options, connects, opens the reply stream and starts the
    /// reply loop. Fails with [`ConnectError::Config`] (holding a
    /// [`ConfigError`]) for unusable options or an instance id another
    /// client uses, [`ConnectError::Unreachable`] when Redis is unreachable,
    /// [`ConnectError::Tls`] when a TLS handshake failed,
    /// [`ConnectError::Refused`] when Redis refused the credentials or a
    /// command (an ACL user without a permission), and
    /// [`ConnectError::Unavailable`] when Redis refuses for now (loading,
    /// out of memory); it does not retry.
    pub async fn connect_with(
        conn: ConnectOptions,
        options: ClientOptions,
    ) -> Result<RedisRpcClient, ConnectError> {
        let config = ConnectError::Config;
        conn.validate()?;
        options.validate()?;
        let instance_id = options.new_instance_id();
        let reply_stream = keys::reply_stream(&conn.key_prefix, &instance_id);
        let in_use = || {
            config(ConfigError::InstanceIdInUse {
                id: instance_id.clone(),
                where_: "another client of this process reads its reply stream",
            })
        };
        let connector = Connector::new(&conn);
        let addr = connector.label();
        let claim = ReplyStreamClaim::take(format!("{addr}/{reply_stream}")).ok_or_else(in_use)?;
        let mut blocking = BlockingConn::never_unblocked(connector.clone());
        blocking
            .connect()
            .await
            .map_err(|e| e.into_connect("opening the reply connection", &addr))?;
        if options.instance_id.is_some()
            && let Some(ttl) = options.reply_stream_ttl
        {
            Self::check_not_live(&mut blocking, &reply_stream, ttl, conn.command_timeout)
                .await
                .map_err(|e| match e {
                    Some(failed) => failed.into_connect("checking the reply stream (PTTL)", &addr),
                    None => config(ConfigError::InstanceIdInUse {
                        id: instance_id.clone(),
                        where_: "a live Rust client keeps its reply stream's TTL fresh",
                    }),
                })?;
        }
        let shared = Arc::new(match options.reply_stream_ttl {
            // Every new connection (the first, and each after Redis restarted)
            // re-creates the reply stream before a request can be sent on it:
            // Rust servers reply with NOMKSTREAM to clients that keep a TTL.
            Some(ttl) => SharedConn::with_on_connect(
                connector,
                commands::open_reply_stream(&reply_stream, ttl, DEFAULT_REPLY_STREAM_MAXLEN),
            ),
            None => SharedConn::new(connector),
        });
        // Open the shared connection now too, so a bad address fails here.
        shared
            .query::<String>(&redis::cmd("PING"), conn.command_timeout)
            .await
            .map_err(|e| {
                e.into_connect(
                    "connecting to Redis and opening the reply stream (XADD type=open, PEXPIRE, PING)",
                    &addr,
                )
            })?;
        let pending = PendingCalls::new();
        let shutdown = CancellationToken::new();
        let reply_loop = AbortOnDropHandle::new(tokio::spawn(
            ReplyLoop {
                conn: blocking,
                stream: reply_stream.clone(),
                pending: pending.clone(),
                last_id: "0-0".to_owned(),
                shutdown: shutdown.clone(),
            }
            .run(),
        ));
        let keepalive = match (options.reply_stream_ttl, options.reply_stream_refresh()) {
            (Some(ttl), Some(period)) => {
                Some(AbortOnDropHandle::new(tokio::spawn(keep_reply_stream(
                    Arc::clone(&shared),
                    reply_stream.clone(),
                    ttl,
                    DEFAULT_REPLY_STREAM_MAXLEN,
                    period,
                    shutdown.clone(),
                ))))
            }
            _ => None,
        };
        tracing::debug!(%reply_stream, "Redis RPC client connected");
        Ok(RedisRpcClient {
            metadata: None,
            inner: Arc::new(ClientInner {
                conn,
                options,
                instance_id,
                reply_stream,
                shared,
                pending,
                shutdown,
                tasks: Mutex::new(ClientTasks {
                    reply_loop: Some(reply_loop),
                    keepalive,
                }),
                _claim: claim,
            }),
        })
    }

    /// Fails with `Err(None)` when `reply_stream` looks owned by a live Rust
    /// client: it exists and its TTL was refreshed within the last refresh
    /// period (a live client refreshes every third of the TTL; the stream of
    /// one that crashed stops being refreshed and soon looks free).
    async fn check_not_live(
        conn: &mut BlockingConn,
        reply_stream: &str,
        ttl: Duration,
        limit: Duration,
    ) -> Result<(), Option<crate::conn::ConnError>> {
        let mut pttl = redis::cmd("PTTL");
        pttl.arg(reply_stream);
        let left: i64 = conn.query(&pttl, limit).await.map_err(Some)?;
        let fresh_from = ttl.saturating_sub(ttl / 3 + Duration::from_secs(1));
        match u64::try_from(left) {
            Ok(ms) if Duration::from_millis(ms) > fresh_from => Err(None),
            _ => Ok(()),
        }
    }

    /// This client's instance id.
    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    /// The key of this client's reply stream.
    pub fn reply_stream(&self) -> &str {
        &self.inner.reply_stream
    }

    /// This handle (a clone: the connection and reply stream stay shared),
    /// sending `metadata` with every call and notification: an auth token,
    /// a tenant, for the server's middleware and handlers
    /// ([`clamator_protocol::Context::metadata`]). Each pair travels as a
    /// stream field `meta-<name>`, which the Python and TypeScript peers
    /// ignore. Metadata a client middleware layer sets on a call wins over
    /// this for the same name.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> RedisRpcClient {
        self.metadata = (!metadata.is_empty()).then(|| Arc::new(metadata));
        self
    }

    /// The metadata this handle sends ([`with_metadata`](Self::with_metadata)).
    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_deref()
    }

    /// What goes with a request: the call's own metadata, then this
    /// handle's for names the call does not set.
    fn metadata_for(&self, mut own: Metadata) -> Metadata {
        if let Some(defaults) = &self.metadata {
            own.merge_missing(defaults);
        }
        own
    }

    /// Fails pending calls with [`TransportError::Stopped`], stops the reply
    /// loop and deletes the reply stream: the client ends for every clone.
    /// Cancel-safe: dropping this future aborts what is left (the reply
    /// stream then expires by its TTL).
    pub async fn close(self) {
        let inner = &self.inner;
        inner.pending.fail_all();
        inner.shutdown.cancel();
        let (keepalive, reply_loop) = {
            let mut tasks = inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
            (tasks.keepalive.take(), tasks.reply_loop.take())
        };
        if let Some(mut keepalive) = keepalive
            && tokio::time::timeout(inner.conn.command_timeout, &mut keepalive)
                .await
                .is_err()
        {
            tracing::debug!("the reply stream's keepalive did not stop in time; aborted");
        }
        if let Some(mut reply_loop) = reply_loop {
            let _ = tokio::time::timeout(Duration::from_secs(1), &mut reply_loop).await;
        }
        let mut del = redis::cmd("DEL");
        del.arg(&inner.reply_stream);
        if let Err(error) = inner
            .shared
            .query::<i64>(&del, inner.conn.command_timeout)
            .await
        {
            tracing::warn!(reply_stream = %inner.reply_stream, %error,
                "deleting the reply stream at close failed; it is left behind");
        }
        tracing::debug!(reply_stream = %inner.reply_stream, "Redis RPC client closed");
    }

    /// Calls `service.method` with JSON params and waits for its JSON
    /// result, up to `timeout` (`None`: the configured default). Typed
    /// clients (`XClient::new(&client)`) are the usual way to call.
    ///
    /// Fails with [`Error::Rpc`] when the server answers with an error, and
    /// with a [`TransportError`] when the request could not be sent
    /// (`ConnectionLost`) or no reply came in time (`Timeout`).
    pub async fn call(
        &self,
        service: &str,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        clamator_protocol::transport::call(self, service, method, &params, timeout).await
    }

    /// Sends a notification (`type` and `envelope`, no `reply-to`); returns
    /// once Redis has accepted it. No reply ever comes.
    pub async fn notify(&self, service: &str, method: &str, params: Value) -> Result<(), Error> {
        clamator_protocol::transport::notify(self, service, method, &params).await
    }

    /// Registers the call, XADDs it and waits for its response, in the
    /// call's client span (`clamator.call`, see `trace`), counted by the
    /// metrics (feature `metrics`).
    ///
    /// What it holds while waiting is what a call in flight costs the
    /// client (BENCHMARKS.md): the send is boxed and freed once Redis took
    /// the request.
    fn send(&self, call: OutgoingCall, timeout: Option<Duration>) -> CallFuture<'_> {
        let timeout = timeout.unwrap_or(self.inner.options.default_timeout);
        let deadline = Instant::now() + timeout;
        let (metrics, span, waiting, send, service) = self.prepare(call, deadline, timeout);
        let (sending, retrying) = match send {
            Sender::Once(sending) => (Some(sending), None),
            Sender::Retrying(retrying) => (None, Some(retrying)),
        };
        let cancel = CancelOnDrop(
            self.inner
                .options
                .cancel_abandoned_calls
                .then(|| (Arc::clone(&self.inner), service, Arc::clone(waiting.key()))),
        );
        CallFuture {
            sending,
            retrying,
            waiting,
            sleep: tokio::time::sleep_until(deadline),
            timeout,
            span,
            metrics: Some(metrics),
            cancel,
        }
    }

    /// Starts the call's metrics and span, registers it, and returns the
    /// boxed send of its request (with retries on, the boxed sender that
    /// also sends it again).
    #[allow(clippy::type_complexity)]
    fn prepare(
        &self,
        call: OutgoingCall,
        deadline: Instant,
        timeout: Duration,
    ) -> (
        crate::metrics::ClientCall,
        tracing::Span,
        clamator_protocol::transport::PendingCall,
        Sender<'_>,
        String,
    ) {
        let metrics = crate::metrics::ClientCall::start(&call.service, &call.method);
        let stream = keys::command_stream(&self.inner.conn.key_prefix, &call.service);
        let span = trace::client_span(&call.service, &call.method, &stream, Some(&call.key));
        let waiting = self.inner.pending.register(call.key);
        let metadata = self.metadata_for(call.metadata);
        if let Some(policy) = &self.inner.options.retry {
            let request = Resendable {
                stream,
                envelope: call.envelope,
                metadata,
                method: call.method,
            };
            let retrying = Box::pin(
                self.send_retrying(
                    policy,
                    request,
                    call.service.clone(),
                    deadline,
                    timeout,
                    span.clone(),
                )
                .instrument(span.clone()),
            );
            return (
                metrics,
                span,
                waiting,
                Sender::Retrying(Box::new(retrying)),
                call.service,
            );
        }
        let sending = Box::pin(
            self.send_request(
                stream,
                call.envelope,
                metadata,
                deadline,
                timeout,
                span.clone(),
            )
            .instrument(span.clone()),
        );
        (metrics, span, waiting, Sender::Once(sending), call.service)
    }

    /// The `XADD` of a request to `stream` with this client's `reply-to`
    /// and the caller's `timeout` (`timeout-ms`).
    fn request_command(
        &self,
        stream: &str,
        envelope: &str,
        timeout: Duration,
        context: Option<&trace::Outgoing>,
        metadata: &Metadata,
    ) -> redis::Cmd {
        commands::add_request(
            stream,
            envelope,
            Some(commands::ReplyTo {
                stream: &self.inner.reply_stream,
                timeout_ms: Some(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)),
                nomkstream: self.inner.options.reply_stream_ttl.is_some(),
            }),
            context.map(trace::Outgoing::fields),
            metadata,
        )
    }

    /// XADDs a request envelope with this client's `reply-to` to `stream`,
    /// within the call's deadline (a command queued behind others waits as
    /// long as Redis keeps answering; see `SharedConn`).
    async fn send_request(
        &self,
        stream: String,
        envelope: String,
        metadata: Metadata,
        deadline: Instant,
        timeout: Duration,
        span: tracing::Span,
    ) -> Result<(), Error> {
        // Closed through another clone: nothing would read the reply.
        if self.inner.shutdown.is_cancelled() {
            return Err(TransportError::Stopped.into());
        }
        let context = trace::outgoing(&span);
        let xadd = self.request_command(&stream, &envelope, timeout, context.as_ref(), &metadata);
        drop(envelope);
        match self
            .inner
            .shared
            .query_until::<redis::Value>(&xadd, self.inner.conn.command_timeout, Some(deadline))
            .await
        {
            Ok(id) => {
                trace::record_message_id(&span, &id);
                Ok(())
            }
            Err(_) if Instant::now() >= deadline => Err(TransportError::Timeout { timeout }.into()),
            // The stream named: an ACL user limited to some services learns which.
            Err(e) => Err(e
                .into_transport(&format!("sending the request to {stream} (XADD)"))
                .into()),
        }
    }

    /// Sends a request (retries on: `ClientOptions::retry`), and sends it
    /// again, the same envelope to the same stream with the same
    /// `reply-to`: after an `XADD` that failed in a way Redis may take
    /// later (backoff with jitter), and every `resend_after` while no reply
    /// comes (the call drops this future when its reply comes), within the
    /// policy's attempts and the call's deadline.
    ///
    /// Fails only while Redis has taken no copy yet: with a refusal a
    /// retry cannot fix, or the last error once attempts or time run out
    /// (`Timeout` at the deadline). Once a copy was taken it ends `Ok` when
    /// there is nothing left to send, and the call waits for the reply.
    async fn send_retrying(
        &self,
        policy: &crate::retry::RetryPolicy,
        request: Resendable,
        service: String,
        deadline: Instant,
        timeout: Duration,
        span: tracing::Span,
    ) -> Result<(), Error> {
        if self.inner.shutdown.is_cancelled() {
            return Err(TransportError::Stopped.into());
        }
        let context = trace::outgoing(&span);
        let mut backoff = policy.backoff();
        // Whether Redis took a copy.
        let mut sent = false;
        let mut attempt: u32 = 1;
        loop {
            // A copy's `timeout-ms` is what is left of the call's timeout:
            // servers skip it once the caller gave up.
            let left = match attempt {
                1 => timeout,
                _ => deadline.saturating_duration_since(Instant::now()),
            };
            let xadd = self.request_command(
                &request.stream,
                &request.envelope,
                left.max(Duration::from_millis(1)),
                context.as_ref(),
                &request.metadata,
            );
            let outcome = self
                .inner
                .shared
                .query_until::<redis::Value>(&xadd, self.inner.conn.command_timeout, Some(deadline))
                .await;
            drop(xadd);
            let reason = match outcome {
                Ok(id) => {
                    trace::record_message_id(&span, &id);
                    sent = true;
                    backoff.reset();
                    let at = Instant::now() + policy.next_resend();
                    if attempt >= policy.max_attempts || at >= deadline {
                        return Ok(());
                    }
                    tokio::time::sleep_until(at).await;
                    "no_reply"
                }
                Err(error) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return match sent {
                            true => Ok(()),
                            false => Err(TransportError::Timeout { timeout }.into()),
                        };
                    }
                    let at = now + backoff.next_delay().max(error.refused_for());
                    if !error.may_resend() || attempt >= policy.max_attempts || at >= deadline {
                        if sent {
                            tracing::debug!(%error, attempt,
                                "sending a copy of the request failed; waiting for the reply \
                                 of the copy Redis took");
                            return Ok(());
                        }
                        // The stream named: an ACL user limited to some services learns which.
                        return Err(error
                            .into_transport(&format!(
                                "sending the request to {} (XADD, attempt {attempt} of {})",
                                request.stream, policy.max_attempts
                            ))
                            .into());
                    }
                    tracing::debug!(%error, attempt,
                        "sending the request failed in a way Redis may take it later; \
                         sending it again after a backoff");
                    tokio::time::sleep_until(at).await;
                    "send_failed"
                }
            };
            // Closed through another clone: nothing would read the reply
            // (the call itself fails with `Stopped`).
            if self.inner.shutdown.is_cancelled() {
                return match sent {
                    true => Ok(()),
                    false => Err(TransportError::Stopped.into()),
                };
            }
            trace::record_retries(&span, attempt);
            crate::metrics::client_retry(&service, &request.method, reason);
            attempt += 1;
        }
    }

    /// XADDs a notification envelope (no `reply-to`), in its client span
    /// (`clamator.notify`).
    async fn send_note(&self, notification: OutgoingNotification) -> Result<(), Error> {
        if self.inner.shutdown.is_cancelled() {
            return Err(TransportError::Stopped.into());
        }
        let metrics =
            crate::metrics::ClientNote::start(&notification.service, &notification.method);
        let stream = keys::command_stream(&self.inner.conn.key_prefix, &notification.service);
        let span = trace::client_span(&notification.service, &notification.method, &stream, None);
        let context = trace::outgoing(&span);
        let metadata = self.metadata_for(notification.metadata);
        let xadd = commands::add_request(
            &stream,
            &notification.envelope,
            None,
            context.as_ref().map(trace::Outgoing::fields),
            &metadata,
        );
        let outcome = self
            .inner
            .shared
            .query::<redis::Value>(&xadd, self.inner.conn.command_timeout)
            .instrument(span.clone())
            .await
            .map(|id| trace::record_message_id(&span, &id))
            .map_err(|e| {
                e.into_transport(&format!("sending the notification to {stream} (XADD)"))
                    .into()
            });
        if let Err(error) = &outcome {
            trace::record_error(&span, error);
        }
        metrics.finish(&outcome);
        outcome
    }
}

/// How a call's request is sent: once (the send is polled to completion
/// before the reply is awaited), or with retries (`ClientOptions::retry`).
enum Sender<'a> {
    /// One `XADD`.
    Once(BoxFuture<'a, Result<(), Error>>),
    /// `RedisRpcClient::send_retrying`, polled beside the reply (a thin
    /// pointer: a call without retries pays one word for it).
    Retrying(Box<BoxFuture<'a, Result<(), Error>>>),
}

/// What a call's request needs to be sent again (only with retries on;
/// without, the envelope is dropped once it is in the `XADD`).
#[derive(Debug)]
struct Resendable {
    /// The command stream.
    stream: String,
    /// The request envelope (one id for every copy).
    envelope: String,
    /// The metadata fields.
    metadata: Metadata,
    /// The method, for the retry metric.
    method: String,
}

pin_project_lite::pin_project! {
    /// One call: sends its request (boxed, freed once Redis took it), then
    /// waits for the reply until the deadline. Written by hand rather than
    /// as an `async fn`, which would keep copies of its state: this is what
    /// every call in flight costs the client (BENCHMARKS.md). With retries
    /// on, the boxed sender in `retrying` (which sends the request again
    /// while no reply comes) is polled beside the reply instead, and
    /// dropped with it.
    struct CallFuture<'a> {
        sending: Option<BoxFuture<'a, Result<(), Error>>>,
        retrying: Option<Box<BoxFuture<'a, Result<(), Error>>>>,
        waiting: clamator_protocol::transport::PendingCall,
        #[pin]
        sleep: tokio::time::Sleep,
        timeout: Duration,
        span: tracing::Span,
        metrics: Option<crate::metrics::ClientCall>,
        cancel: CancelOnDrop,
    }
}

/// Cancels a call on the servers (see `crate::cancel`) when dropped armed:
/// the call timed out, or its future was dropped before the reply came.
/// Holds the client, the service and the call's id key; empty when the
/// client does not cancel (`ClientOptions::cancel_abandoned_calls`).
#[derive(Debug)]
struct CancelOnDrop(Option<(Arc<ClientInner>, String, Arc<str>)>);

impl CancelOnDrop {
    /// The call got its answer (or never left): nothing to cancel.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some((inner, service, key)) = self.0.take() else {
            return;
        };
        // Closed: its reply stream is gone, nobody waits; no runtime: none to send on.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if inner.shutdown.is_cancelled() {
            return;
        }
        runtime.spawn(async move {
            let stream = keys::cancel_stream(&inner.conn.key_prefix, &service);
            let id = clamator_protocol::Id::Str(key.to_string());
            let xadd = crate::cancel::add_cancel(&stream, &inner.reply_stream, &id);
            if let Err(e) = inner
                .shared
                .query::<redis::Value>(&xadd, inner.conn.command_timeout)
                .await
            {
                tracing::debug!(%service, error = %e, "could not cancel an abandoned call");
            }
        });
    }
}

impl std::future::Future for CallFuture<'_> {
    type Output = Result<Response, Error>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let this = self.project();
        if let Some(sending) = this.sending.as_mut() {
            match sending.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => *this.sending = None,
                Poll::Ready(Err(e)) => {
                    *this.sending = None;
                    this.cancel.disarm();
                    return Poll::Ready(finish(this.span, this.metrics, Err(e)));
                }
            }
        }
        let outcome = match this.waiting.poll_reply(cx) {
            Poll::Ready(Some(response)) => {
                this.cancel.disarm();
                Ok(response)
            }
            Poll::Ready(None) => {
                this.cancel.disarm();
                Err(TransportError::Stopped.into())
            }
            Poll::Pending => match poll_retrying(this.retrying, cx) {
                Poll::Ready(e) => {
                    this.cancel.disarm();
                    return Poll::Ready(finish(this.span, this.metrics, Err(e)));
                }
                Poll::Pending => match this.sleep.poll(cx) {
                    // The cancel goes now (dropping the armed guard), not when
                    // the caller drops this future.
                    Poll::Ready(()) => {
                        drop(std::mem::replace(this.cancel, CancelOnDrop(None)));
                        Err(TransportError::Timeout {
                            timeout: *this.timeout,
                        }
                        .into())
                    }
                    Poll::Pending => return Poll::Pending,
                },
            },
        };
        // The reply came (or the call ended): no copy is sent any more.
        *this.retrying = None;
        Poll::Ready(finish(this.span, this.metrics, outcome))
    }
}

/// Polls a call's retrying sender, if it has one: `Ready(error)` when the
/// call fails with it; `Pending` otherwise (a sender that has nothing left
/// to send is dropped, and the call waits for its reply).
fn poll_retrying(
    retrying: &mut Option<Box<BoxFuture<'_, Result<(), Error>>>>,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<Error> {
    use std::pin::Pin;
    use std::task::Poll;
    let Some(sender) = retrying.as_mut() else {
        return Poll::Pending;
    };
    match Pin::as_mut(sender).poll(cx) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Ok(())) => {
            *retrying = None;
            Poll::Pending
        }
        Poll::Ready(Err(e)) => {
            *retrying = None;
            Poll::Ready(e)
        }
    }
}

/// Records how a call ended on its span and in the metrics.
fn finish(
    span: &tracing::Span,
    metrics: &mut Option<crate::metrics::ClientCall>,
    outcome: Result<Response, Error>,
) -> Result<Response, Error> {
    trace::record_call_outcome(span, &outcome);
    if let Some(metrics) = metrics.take() {
        metrics.finish(&outcome);
    }
    outcome
}

impl ClientTransport for RedisRpcClient {
    fn send_call(
        &self,
        call: OutgoingCall,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<Response, Error>> {
        Box::pin(self.send(call, timeout))
    }

    fn send_notification(
        &self,
        notification: OutgoingNotification,
    ) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(self.send_note(notification))
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        // The last clone is gone. The tasks abort with their handles;
        // callers still waiting (on another task, through a reference that
        // outlived a scope) are told.
        self.shutdown.cancel();
        self.pending.fail_all();
    }
}
