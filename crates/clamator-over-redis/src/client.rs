//! [`RedisRpcClient`]: calls and notifications over Redis Streams, with one
//! reply stream per client instance.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use clamator_protocol::client::{prepare_call, prepare_notification};
use clamator_protocol::{ClientTransport, Error, PendingCalls, TransportError};
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::RedisConfig;
use crate::conn::{BlockingConn, Connector, SharedConn};
use crate::keys;
use crate::reply_loop::ReplyLoop;

/// `phase` values.
const IDLE: u8 = 0;
const RUNNING: u8 = 1;
const STOPPED: u8 = 2;

/// A client: sends requests to `<prefix>:cmds:<service>` and reads replies
/// from its own `<prefix>:replies:<instance_id>`.
///
/// Many calls may be in flight at once on one client (they share one
/// multiplexed connection). Dropping a running client aborts its reply loop.
#[derive(Debug)]
pub struct RedisRpcClient {
    /// Settings (key prefix, default timeout, ...).
    config: RedisConfig,
    /// Names the reply stream.
    instance_id: String,
    /// `<prefix>:replies:<instance_id>`.
    reply_stream: String,
    /// Opens the reply loop's own connection.
    connector: Connector,
    /// XADDs and the final DEL.
    shared: std::sync::Arc<SharedConn>,
    /// Calls awaiting their replies, by id key.
    pending: PendingCalls,
    /// IDLE, RUNNING or STOPPED; read by every call without locking.
    phase: AtomicU8,
    /// The reply loop while running; an async lock so `stop()` is serialised.
    run: tokio::sync::Mutex<Option<Running>>,
}

/// What a running client owns.
#[derive(Debug)]
struct Running {
    /// Fired by `stop()`.
    shutdown: CancellationToken,
    /// The reply loop task.
    reply_loop: JoinHandle<()>,
    /// The task that keeps the reply stream's TTL fresh, if it has one.
    keepalive: Option<JoinHandle<()>>,
}

/// `XADD <reply stream> MAXLEN ~ <maxlen> * type open` then `PEXPIRE <reply
/// stream> <ttl>`: creates the reply stream (or adds a harmless entry to it;
/// the reply loop skips entries without an envelope) and sets its TTL.
fn open_reply_stream(stream: &str, ttl: Duration, maxlen: usize) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd("XADD")
        .arg(stream)
        .arg("MAXLEN")
        .arg("~")
        .arg(maxlen)
        .arg("*")
        .arg(keys::FIELD_TYPE)
        .arg(keys::TYPE_OPEN)
        .ignore();
    pipe.cmd("PEXPIRE")
        .arg(stream)
        .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
        .ignore();
    pipe
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
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let mut cmd = redis::cmd("PEXPIRE");
        cmd.arg(&stream).arg(ttl_ms);
        match shared.query::<i64>(&cmd, shared.command_timeout()).await {
            Ok(1) => {}
            Ok(_) => {
                tracing::warn!(reply_stream = %stream,
                    "reply stream was gone (expired while this process was frozen, or \
                     deleted); re-creating it");
                let pipe = open_reply_stream(&stream, ttl, maxlen);
                if let Err(error) = shared
                    .query_pipeline::<()>(&pipe, shared.command_timeout())
                    .await
                {
                    tracing::warn!(reply_stream = %stream, %error,
                        "re-creating the reply stream failed; retrying next period");
                }
            }
            Err(error) => tracing::debug!(reply_stream = %stream, %error,
                "refreshing the reply stream's TTL failed; retrying next period"),
        }
    }
}

impl RedisRpcClient {
    /// A client; nothing happens before [`start`](Self::start).
    pub fn new(config: RedisConfig) -> RedisRpcClient {
        let connector = Connector::new(config.redis_client().clone(), config.command_timeout());
        let instance_id = config.new_instance_id();
        let reply_stream = keys::reply_stream(config.key_prefix(), &instance_id);
        let shared = match config.reply_stream_ttl() {
            // Every new connection (the first, and each after Redis restarted)
            // re-creates the reply stream before a request can be sent on it:
            // Rust servers reply with NOMKSTREAM to clients that keep a TTL.
            Some(ttl) => SharedConn::with_on_connect(
                connector.clone(),
                open_reply_stream(&reply_stream, ttl, config.reply_stream_maxlen()),
            ),
            None => SharedConn::new(connector.clone()),
        };
        RedisRpcClient {
            reply_stream,
            instance_id,
            shared: std::sync::Arc::new(shared),
            connector,
            config,
            pending: PendingCalls::new(),
            phase: AtomicU8::new(IDLE),
            run: tokio::sync::Mutex::new(None),
        }
    }

    /// This client's instance id.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The key of this client's reply stream.
    pub fn reply_stream(&self) -> &str {
        &self.reply_stream
    }

    /// Connects and starts the reply loop. Calling it again while running does
    /// nothing; after `stop()` it fails with [`TransportError::Stopped`]; when
    /// Redis is unreachable it fails with [`TransportError::ConnectionLost`]
    /// and the client stays startable.
    pub async fn start(&self) -> Result<(), TransportError> {
        let mut run = self.run.lock().await;
        match self.phase.load(Ordering::SeqCst) {
            RUNNING => return Ok(()),
            STOPPED => return Err(TransportError::Stopped),
            _ => {}
        }
        let mut conn = BlockingConn::new(self.connector.clone());
        conn.connect()
            .await
            .map_err(|e| e.into_transport("opening the reply connection"))?;
        // Open the shared connection now too, so a bad address fails here.
        self.shared
            .query::<String>(&redis::cmd("PING"), self.config.command_timeout())
            .await
            .map_err(|e| e.into_transport("connecting to Redis"))?;
        let shutdown = CancellationToken::new();
        let reply_loop = tokio::spawn(
            ReplyLoop {
                conn,
                stream: self.reply_stream.clone(),
                pending: self.pending.clone(),
                last_id: "0-0".to_owned(),
                shutdown: shutdown.clone(),
            }
            .run(),
        );
        let keepalive = match (
            self.config.reply_stream_ttl(),
            self.config.reply_stream_refresh(),
        ) {
            (Some(ttl), Some(period)) => Some(tokio::spawn(keep_reply_stream(
                std::sync::Arc::clone(&self.shared),
                self.reply_stream.clone(),
                ttl,
                self.config.reply_stream_maxlen(),
                period,
                shutdown.clone(),
            ))),
            _ => None,
        };
        *run = Some(Running {
            shutdown,
            reply_loop,
            keepalive,
        });
        self.phase.store(RUNNING, Ordering::SeqCst);
        tracing::debug!(reply_stream = %self.reply_stream, "Redis RPC client started");
        Ok(())
    }

    /// Fails pending calls with [`TransportError::Stopped`], stops the reply
    /// loop and deletes the reply stream. Calling it again does nothing more.
    pub async fn stop(&self) {
        let mut run = self.run.lock().await;
        let previous = self.phase.swap(STOPPED, Ordering::SeqCst);
        self.pending.fail_all();
        let Some(Running {
            shutdown,
            reply_loop,
            keepalive,
        }) = run.take()
        else {
            return;
        };
        debug_assert_eq!(previous, RUNNING);
        shutdown.cancel();
        if let Some(keepalive) = keepalive {
            let abort = keepalive.abort_handle();
            if tokio::time::timeout(self.config.command_timeout(), keepalive)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        let abort = reply_loop.abort_handle();
        if tokio::time::timeout(Duration::from_secs(1), reply_loop)
            .await
            .is_err()
        {
            abort.abort();
        }
        let mut del = redis::cmd("DEL");
        del.arg(&self.reply_stream);
        if let Err(error) = self
            .shared
            .query::<i64>(&del, self.config.command_timeout())
            .await
        {
            tracing::warn!(reply_stream = %self.reply_stream, %error,
                "deleting the reply stream at stop failed; it is left behind");
        }
        tracing::debug!(reply_stream = %self.reply_stream, "Redis RPC client stopped");
    }

    fn check_running(&self) -> Result<(), TransportError> {
        match self.phase.load(Ordering::SeqCst) {
            RUNNING => Ok(()),
            IDLE => Err(TransportError::NotStarted),
            _ => Err(TransportError::Stopped),
        }
    }

    /// Calls `service.method` and waits for its result, up to `timeout`
    /// (`None`: the configured default).
    ///
    /// Fails with [`Error::Rpc`] when the server answers with an error, and
    /// with a [`TransportError`] when the request could not be sent
    /// (`ConnectionLost`), no reply came in time (`Timeout`), or the client
    /// is not running (`NotStarted`, `Stopped`).
    pub async fn call(
        &self,
        service: &str,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        self.check_running()?;
        let timeout = timeout.unwrap_or(self.config.default_timeout());
        let deadline = Instant::now() + timeout;
        let call = prepare_call(service, method, &params)?;
        drop(params);
        let mut waiting = self.pending.register(call.key);
        // stop() marks the phase before failing pending calls: a call
        // registered after that must see the phase here.
        self.check_running()?;
        // Boxed, and the envelope moved into it: the XADD's state is freed once
        // sent instead of living in this future for the whole wait (this
        // halves the client's memory per call in flight; BENCHMARKS.md).
        Box::pin(self.send_request(service, call.envelope, deadline, timeout)).await?;
        match tokio::time::timeout_at(deadline, waiting.reply()).await {
            Err(_) => Err(TransportError::Timeout { timeout }.into()),
            Ok(None) => Err(TransportError::Stopped.into()),
            Ok(Some(response)) => response.into_result().map_err(Error::Rpc),
        }
    }

    /// XADDs a request envelope with this client's `reply-to`, within the
    /// call's deadline.
    async fn send_request(
        &self,
        service: &str,
        envelope: String,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), Error> {
        let mut xadd = redis::cmd("XADD");
        xadd.arg(keys::command_stream(self.config.key_prefix(), service))
            .arg("*")
            .arg(keys::FIELD_TYPE)
            .arg(keys::TYPE_RPC)
            .arg(keys::FIELD_ENVELOPE)
            .arg(envelope)
            .arg(keys::FIELD_REPLY_TO)
            .arg(&self.reply_stream)
            .arg(keys::FIELD_TIMEOUT_MS)
            .arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        if self.config.reply_stream_ttl().is_some() {
            xadd.arg(keys::FIELD_REPLY_NOMKSTREAM).arg("1");
        }
        let limit = self
            .config
            .command_timeout()
            .min(deadline.saturating_duration_since(Instant::now()));
        match self.shared.query::<redis::Value>(&xadd, limit).await {
            Ok(_) => Ok(()),
            Err(_) if Instant::now() >= deadline => Err(TransportError::Timeout { timeout }.into()),
            Err(e) => Err(e.into_transport("sending the request (XADD)").into()),
        }
    }

    /// Sends a notification (`type` and `envelope`, no `reply-to`); returns
    /// once Redis has accepted it. No reply ever comes.
    pub async fn notify(&self, service: &str, method: &str, params: Value) -> Result<(), Error> {
        self.check_running()?;
        let envelope = prepare_notification(service, method, &params)?;
        let mut xadd = redis::cmd("XADD");
        xadd.arg(keys::command_stream(self.config.key_prefix(), service))
            .arg("*")
            .arg(keys::FIELD_TYPE)
            .arg(keys::TYPE_RPC)
            .arg(keys::FIELD_ENVELOPE)
            .arg(&envelope);
        self.shared
            .query::<redis::Value>(&xadd, self.config.command_timeout())
            .await
            .map_err(|e| e.into_transport("sending the notification (XADD)"))?;
        Ok(())
    }
}

impl ClientTransport for RedisRpcClient {
    fn call_value<'a>(
        &'a self,
        service: &'a str,
        method: &'a str,
        params: Value,
        timeout: Option<Duration>,
    ) -> BoxFuture<'a, Result<Value, Error>> {
        Box::pin(self.call(service, method, params, timeout))
    }

    fn notify_value<'a>(
        &'a self,
        service: &'a str,
        method: &'a str,
        params: Value,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.notify(service, method, params))
    }
}

impl Drop for RedisRpcClient {
    fn drop(&mut self) {
        if let Some(running) = self.run.get_mut().take() {
            running.shutdown.cancel();
            running.reply_loop.abort();
            if let Some(keepalive) = running.keepalive {
                keepalive.abort();
            }
        }
    }
}
