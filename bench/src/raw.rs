//! The floor: the round trip clamator makes, done with the bare `redis` crate
//! and nothing else (no JSON handling, no ids, no validation, no bookkeeping).
//!
//! Per call, the same Redis commands as a clamator call:
//! 1. the client `XADD`s a request entry (`type`, `envelope`, `reply-to`, and
//!    `cid`, a call number the floor uses instead of parsing the envelope) to
//!    `<prefix>:cmds:raw` on a shared multiplexed connection;
//! 2. the server, a second process, reads it with `XREADGROUP ... COUNT 16
//!    BLOCK 1000` on a connection of its own;
//! 3. the server sends `XADD <reply-to> MAXLEN ~ 1024 * ...` and `XACK` as one
//!    pipeline on its shared connection;
//! 4. the client's reply reader, parked in `XREAD BLOCK` on its reply stream
//!    on a connection of its own, gets the reply and wakes the caller.
//!
//! That is the shape of a clamator client (one reply stream and one reader
//! per client, C calls in flight on it). A first version had each caller
//! send `XREAD BLOCK` itself after its `XADD` returned, on a reply stream and
//! connection of its own: it was slower than clamator (the read went out only
//! after the XADD's round trip, and at concurrency C every reply needed its
//! own XREAD), so it was no floor. The envelopes carried are fixed texts of
//! the size of clamator's `arith.add` envelopes and are never parsed; the
//! reply echoes the call number in a `cid` field.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::streams::StreamReadReply;
use redis::{AsyncConnectionConfig, Client, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::drive::Caller;

/// The service name of the floor's command stream.
const SERVICE: &str = "raw";
/// The consumer group and consumer of the floor's server.
const GROUP: &str = "raw";
const CONSUMER: &str = "raw:1";
/// How long one blocking read waits (as clamator's loops).
const BLOCK_MS: u64 = 1_000;
/// Entries one `XREADGROUP` fetches at most (as clamator's consumer loop).
const COUNT: usize = 16;
/// `MAXLEN ~` of reply streams (as clamator's default).
const REPLY_MAXLEN: usize = 1_024;
/// A request envelope of the size of clamator's `arith.add` request.
const REQUEST: &str = r#"{"jsonrpc":"2.0","method":"raw.add","params":{"a":1.0,"b":2.0},"id":"00000000-0000-4000-8000-000000000000"}"#;
/// A reply envelope of the size of clamator's `arith.add` reply.
const REPLY: &str =
    r#"{"jsonrpc":"2.0","id":"00000000-0000-4000-8000-000000000000","result":{"sum":3.0}}"#;
/// The field carrying the call number.
const FIELD_CID: &str = "cid";

/// Opens a multiplexed connection without redis-rs's 500 ms response
/// timeout (blocking reads need longer), bounded by `limit`.
pub(crate) async fn connect(
    client: &Client,
    limit: Duration,
) -> Result<MultiplexedConnection, String> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(limit))
        .set_response_timeout(None);
    match tokio::time::timeout(
        limit,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("connecting to Redis failed: {e}")),
        Err(_) => Err(format!(
            "connecting to Redis took over {} s",
            limit.as_secs()
        )),
    }
}

/// The command stream of the floor under `prefix`.
fn command_stream(prefix: &str) -> String {
    clamator_over_redis::ops::keys::command_stream(prefix, SERVICE)
}

/// Serves the floor until `stop` resolves: prints `READY` once its group exists.
pub(crate) async fn serve(
    redis_url: &str,
    prefix: &str,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let client =
        Client::open(redis_url).map_err(|e| format!("bad Redis URL {redis_url:?}: {e}"))?;
    let limit = Duration::from_secs(5);
    let mut reader = connect(&client, limit).await?;
    let shared = connect(&client, limit).await?;
    let stream = command_stream(prefix);
    let created: Result<Value, _> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg(GROUP)
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut shared.clone())
        .await;
    if let Err(e) = created
        && e.code() != Some("BUSYGROUP")
    {
        return Err(format!("creating the floor's consumer group failed: {e}"));
    }
    println!("READY");
    tokio::pin!(stop);
    loop {
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP")
            .arg(GROUP)
            .arg(CONSUMER)
            .arg("COUNT")
            .arg(COUNT)
            .arg("BLOCK")
            .arg(BLOCK_MS)
            .arg("STREAMS")
            .arg(&stream)
            .arg(">");
        let reply: Option<StreamReadReply> = tokio::select! {
            () = &mut stop => break,
            r = read.query_async(&mut reader) => r.map_err(|e| format!("XREADGROUP failed: {e}"))?,
        };
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                let Some(reply_to) = entry.get::<Vec<u8>>("reply-to") else {
                    continue;
                };
                let cid = entry.get::<Vec<u8>>(FIELD_CID).unwrap_or_default();
                let mut pipe = redis::pipe();
                pipe.cmd("XADD")
                    .arg(reply_to)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(REPLY_MAXLEN)
                    .arg("*")
                    .arg("type")
                    .arg("rpc")
                    .arg("envelope")
                    .arg(REPLY)
                    .arg(FIELD_CID)
                    .arg(cid)
                    .ignore()
                    .cmd("XACK")
                    .arg(&stream)
                    .arg(GROUP)
                    .arg(&entry.id)
                    .ignore();
                let mut conn = shared.clone();
                // One task per entry, as clamator's server runs each handler on its own task.
                tokio::spawn(async move {
                    if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                        eprintln!("raw floor server: XADD+XACK failed: {e}");
                    }
                });
            }
        }
    }
    Ok(())
}

/// Calls waiting for their replies, by call number.
type Waiting = Arc<Mutex<HashMap<u64, oneshot::Sender<()>>>>;

/// The floor's client: one reply stream read by one task parked in
/// `XREAD BLOCK` on a connection of its own (as clamator's reply loop), and
/// requests sent on a shared multiplexed connection.
#[derive(Debug)]
pub(crate) struct RawClient {
    /// For the request `XADD`s (and the final `DEL`).
    shared: MultiplexedConnection,
    /// `<prefix>:cmds:raw`.
    command_stream: String,
    /// This client's reply stream.
    reply_stream: String,
    /// Calls waiting for their replies.
    waiting: Waiting,
    /// Numbers the calls (a call number is the `cid` echoed in its reply).
    next_cid: AtomicU64,
    /// How long one call may take.
    timeout: Duration,
    /// The reply reader task.
    reader: JoinHandle<()>,
}

impl RawClient {
    /// Connects and starts the reply reader.
    pub(crate) async fn start(
        client: &Client,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Arc<RawClient>, String> {
        let limit = Duration::from_secs(5);
        let shared = connect(client, limit).await?;
        let mut reader_conn = connect(client, limit).await?;
        let reply_stream =
            clamator_over_redis::ops::keys::reply_stream(prefix, &uuid::Uuid::new_v4().to_string());
        let waiting: Waiting = Arc::default();
        let reader = {
            let (stream, waiting) = (reply_stream.clone(), Arc::clone(&waiting));
            tokio::spawn(async move {
                let mut last_id = "0-0".to_owned();
                loop {
                    let mut read = redis::cmd("XREAD");
                    read.arg("BLOCK")
                        .arg(BLOCK_MS)
                        .arg("STREAMS")
                        .arg(&stream)
                        .arg(&last_id);
                    let reply: Option<StreamReadReply> =
                        match read.query_async(&mut reader_conn).await {
                            Ok(r) => r,
                            Err(e) => {
                                eprintln!("raw floor client: XREAD failed: {e}");
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                continue;
                            }
                        };
                    for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                        last_id.clone_from(&entry.id);
                        let cid = entry.get::<u64>(FIELD_CID);
                        let tx = cid.and_then(|cid| {
                            waiting
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(&cid)
                        });
                        if let Some(tx) = tx {
                            let _ = tx.send(());
                        }
                    }
                }
            })
        };
        Ok(Arc::new(RawClient {
            shared,
            command_stream: command_stream(prefix),
            reply_stream,
            waiting,
            next_cid: AtomicU64::new(0),
            timeout,
            reader,
        }))
    }

    /// Stops the reader and deletes the reply stream.
    pub(crate) async fn stop(&self) {
        self.reader.abort();
        let _: Result<i64, _> = redis::cmd("DEL")
            .arg(&self.reply_stream)
            .query_async(&mut self.shared.clone())
            .await;
    }

    /// One round trip.
    async fn call(&self) -> Result<(), String> {
        let cid = self.next_cid.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cid, tx);
        let sent: Result<Value, _> = redis::cmd("XADD")
            .arg(&self.command_stream)
            .arg("*")
            .arg("type")
            .arg("rpc")
            .arg("envelope")
            .arg(REQUEST)
            .arg("reply-to")
            .arg(&self.reply_stream)
            .arg(FIELD_CID)
            .arg(cid)
            .query_async(&mut self.shared.clone())
            .await;
        let outcome = match sent {
            Err(e) => Err(format!("XADD failed: {e}")),
            Ok(_) => match tokio::time::timeout(self.timeout, rx).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err("the reply reader stopped".to_owned()),
                Err(_) => Err(format!("no reply within {} ms", self.timeout.as_millis())),
            },
        };
        if outcome.is_err() {
            self.waiting
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&cid);
        }
        outcome
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// One call slot of the floor.
#[derive(Debug)]
pub(crate) struct RawCaller {
    /// The shared floor client.
    client: Arc<RawClient>,
}

impl RawCaller {
    /// `concurrency` call slots sharing `client`.
    pub(crate) fn many(client: &Arc<RawClient>, concurrency: usize) -> Vec<RawCaller> {
        (0..concurrency)
            .map(|_| RawCaller {
                client: Arc::clone(client),
            })
            .collect()
    }
}

impl Caller for RawCaller {
    async fn call(&mut self, _n: usize) -> Result<(), String> {
        self.client.call().await
    }
}
