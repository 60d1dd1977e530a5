//! `interop-client`: drives a clamator server with a JSON list of call specs
//! read from stdin, printing one JSON object per spec, one per line, in input
//! order. The Rust twin of `py/client_driver.py`: same flags, same input, same
//! output, so one interop test body drives either language.
//!
//! Spec forms (an array of these on stdin):
//! - `{"method": "arith.add", "params": {...}, "timeoutMs": 500}`: a call
//!   through [`RedisRpcClient::call`] (`params` defaults to `{}`, `timeoutMs`
//!   to `--timeout-ms`);
//! - `{"notify": "arith.ping", "params": {...}}`: a notification;
//! - `{"typed": "add", "params": {...}}`: a call through the typed
//!   [`ArithClient`], by wire method name (params decoded into the contract's
//!   params type first);
//! - `{"raw": <envelope>, "timeoutMs": 500}`: the envelope XADDed as is to the
//!   command stream of its method's service, with `reply-to` a fresh
//!   `<prefix>:replies:raw-<uuid>` stream, which is read (`XREAD BLOCK`) for
//!   one reply and deleted after;
//! - `{"sleepMs": 100}`: waits.
//!
//! Output lines: `{"ok": <result or null>}`, `{"error": {"code", "message",
//! "data"}}` (an RPC error), `{"transportError": "<text>"}`,
//! `{"protocolError": "<text>"}`, `{"reply": <envelope>}` (raw specs), and
//! `{"otherError": "<text>"}` for anything else, as the peer's driver does: a
//! malformed spec, a bad service or method name (`ValueError: ...`), typed
//! params or a typed result that do not fit the contract (`ValidationError: ...`).

use std::process::ExitCode;
use std::time::Duration;

use clamator::redis::redis::{self, AsyncConnectionConfig};
use clamator::redis::{ClientOptions, ConnectOptions, RedisRpcClient};
use clamator::{Error, ProtocolError};
use clamator_arith::{AddParams, ArithClient, Empty, FailParams, SlowAddParams, Text};
use clamator_over_redis::ops::keys;
use clap::Parser;
use serde_json::{Value, json};

/// Drives a clamator server with a JSON array of call specs read from stdin.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Redis URL (default: $REDIS_URL, else redis://localhost:6379).
    #[arg(long, env = "REDIS_URL", default_value = "redis://localhost:6379")]
    redis_url: String,
    /// Key prefix shared with the servers.
    #[arg(long)]
    key_prefix: String,
    /// Default call timeout, and the reply wait of raw specs, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// Run all specs at once instead of one after the other.
    #[arg(long)]
    concurrent: bool,
}

/// Why one spec produced no `ok`: becomes one output line.
enum Failure {
    /// A call failed (RPC, protocol or transport error).
    Call(Error),
    /// Anything else: a malformed spec, a Redis failure in raw mode...
    Other(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Call(e)
    }
}

fn other(message: impl Into<String>) -> Failure {
    Failure::Other(message.into())
}

/// What every spec runs against.
struct Driver {
    /// The transport under test.
    client: RedisRpcClient,
    /// Opens the connections of raw specs.
    raw: redis::Client,
    /// Key prefix (names raw reply streams and command streams).
    key_prefix: String,
    /// `--timeout-ms`.
    timeout: Duration,
}

/// `"<service>.<method>"` split at the first dot (no dot: an empty method).
fn split_method(full: &str) -> (&str, &str) {
    full.split_once('.').unwrap_or((full, ""))
}

/// A millisecond count given as any JSON number.
fn millis(v: &Value, what: &str) -> Result<Duration, Failure> {
    match v.as_f64() {
        Some(ms) if ms.is_finite() && ms >= 0.0 => Ok(Duration::from_secs_f64(ms / 1000.0)),
        _ => Err(other(format!(
            "{what} must be a non-negative number of milliseconds, got {v}"
        ))),
    }
}

fn decode<T: clamator::serde::de::DeserializeOwned>(params: Value) -> Result<T, Failure> {
    serde_json::from_value(params).map_err(|e| other(format!("ValidationError: {e}")))
}

fn encode<T: clamator::serde::Serialize>(result: &T) -> Result<Value, Failure> {
    serde_json::to_value(result).map_err(|e| other(format!("result not encodable: {e}")))
}

impl Driver {
    async fn run(&self, spec: &Value) -> Value {
        match self.run_spec(spec).await {
            Ok(out) => out,
            Err(Failure::Call(Error::Rpc(e))) => {
                json!({"error": {"code": e.code, "message": e.message, "data": e.data}})
            }
            Err(Failure::Call(Error::Transport(e))) => json!({"transportError": e.to_string()}),
            // The peer's client raises ValueError for bad names and pydantic's
            // ValidationError for a typed result that does not validate: both
            // are "otherError" in its driver, so they are here too.
            Err(Failure::Call(Error::Protocol(e @ ProtocolError::InvalidName { .. }))) => {
                json!({"otherError": format!("ValueError: {e}")})
            }
            Err(Failure::Call(Error::Protocol(
                e @ (ProtocolError::ResultDecode { .. } | ProtocolError::ParamsEncode { .. }),
            ))) => json!({"otherError": format!("ValidationError: {e}")}),
            Err(Failure::Call(Error::Protocol(e))) => json!({"protocolError": e.to_string()}),
            Err(Failure::Call(e)) => json!({"otherError": e.to_string()}),
            Err(Failure::Other(message)) => json!({"otherError": message}),
        }
    }

    async fn run_spec(&self, spec: &Value) -> Result<Value, Failure> {
        let params = spec.get("params").cloned().unwrap_or_else(|| json!({}));
        if let Some(full) = spec.get("method") {
            let full = full
                .as_str()
                .ok_or_else(|| other("method must be a string"))?;
            let (service, method) = split_method(full);
            let timeout = match spec.get("timeoutMs") {
                None | Some(Value::Null) => None,
                Some(v) => Some(millis(v, "timeoutMs")?),
            };
            let result = self.client.call(service, method, params, timeout).await?;
            return Ok(json!({ "ok": result }));
        }
        if let Some(full) = spec.get("notify") {
            let full = full
                .as_str()
                .ok_or_else(|| other("notify must be a string"))?;
            let (service, method) = split_method(full);
            self.client.notify(service, method, params).await?;
            return Ok(json!({ "ok": null }));
        }
        if let Some(method) = spec.get("typed") {
            let method = method
                .as_str()
                .ok_or_else(|| other("typed must be a string"))?;
            return Ok(json!({ "ok": self.typed(method, params).await? }));
        }
        if let Some(envelope) = spec.get("raw") {
            let timeout = match spec.get("timeoutMs") {
                None | Some(Value::Null) => self.timeout,
                Some(v) => millis(v, "timeoutMs")?,
            };
            return self.raw(envelope, timeout).await;
        }
        if let Some(ms) = spec.get("sleepMs") {
            tokio::time::sleep(millis(ms, "sleepMs")?).await;
            return Ok(json!({ "ok": null }));
        }
        Err(other(format!("ValueError: unrecognised spec: {spec}")))
    }

    /// Calls through the typed [`ArithClient`], by wire method name.
    async fn typed(&self, method: &str, params: Value) -> Result<Value, Failure> {
        let arith = ArithClient::new(&self.client);
        match method {
            "add" => encode(&arith.add(decode::<AddParams>(params)?).await?),
            "slowAdd" => encode(&arith.slow_add(decode::<SlowAddParams>(params)?).await?),
            "divide" => encode(&arith.divide(decode::<AddParams>(params)?).await?),
            "echoText" => encode(&arith.echo_text(decode::<Text>(params)?).await?),
            "ping" => {
                arith.ping(decode::<Empty>(params)?).await?;
                Ok(Value::Null)
            }
            "pingCount" => encode(&arith.ping_count(decode::<Empty>(params)?).await?),
            "fail" => encode(&arith.fail(decode::<FailParams>(params)?).await?),
            "badResult" => encode(&arith.bad_result(decode::<Empty>(params)?).await?),
            "whoami" => encode(&arith.whoami(decode::<Empty>(params)?).await?),
            _ => Err(other(format!(
                "KeyError: {method:?} is not an arith method"
            ))),
        }
    }

    /// XADDs `envelope` as is and waits for one reply on a private stream.
    async fn raw(&self, envelope: &Value, timeout: Duration) -> Result<Value, Failure> {
        let full = envelope
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| other("KeyError: a raw envelope needs a string \"method\""))?;
        let (service, _) = split_method(full);
        let stream = keys::command_stream(&self.key_prefix, service);
        let reply_to =
            keys::reply_stream(&self.key_prefix, &format!("raw-{}", uuid::Uuid::new_v4()));
        // A connection of its own with no response timeout: XREAD BLOCK may
        // outlast redis-rs's 500 ms default.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(None);
        let mut conn = self
            .raw
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| other(format!("ConnectionError: {e}")))?;
        let sent = redis::cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg(keys::FIELD_TYPE)
            .arg(keys::TYPE_RPC)
            .arg(keys::FIELD_ENVELOPE)
            .arg(envelope.to_string())
            .arg(keys::FIELD_REPLY_TO)
            .arg(&reply_to)
            .query_async::<redis::Value>(&mut conn)
            .await;
        let read = match sent {
            Ok(_) => {
                // BLOCK 0 would wait forever; the peer passes its timeout through
                // the same way, so a zero timeout waits at least 1 ms here.
                let block = u64::try_from(timeout.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1);
                redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(1)
                    .arg("BLOCK")
                    .arg(block)
                    .arg("STREAMS")
                    .arg(&reply_to)
                    .arg("0")
                    .query_async::<Option<redis::streams::StreamReadReply>>(&mut conn)
                    .await
            }
            Err(e) => Err(e),
        };
        let deleted = redis::cmd("DEL")
            .arg(&reply_to)
            .query_async::<i64>(&mut conn)
            .await;
        let read = read.map_err(|e| other(format!("RedisError: {e}")))?;
        deleted.map_err(|e| other(format!("RedisError: {e}")))?;
        let Some(entry) = read
            .and_then(|r| r.keys.into_iter().next())
            .and_then(|k| k.ids.into_iter().next())
        else {
            return Ok(json!({ "transportError": "call timeout" }));
        };
        let text: Vec<u8> = match entry.map.get(keys::FIELD_ENVELOPE) {
            Some(v) => redis::from_redis_value_ref(v)
                .map_err(|e| other(format!("reply envelope field unreadable: {e}")))?,
            None => return Err(other("KeyError: the reply entry has no envelope field")),
        };
        let reply: Value = serde_json::from_slice(&text)
            .map_err(|e| other(format!("JSONDecodeError: reply envelope: {e}")))?;
        Ok(json!({ "reply": reply }))
    }
}

fn emit(out: &Value) {
    // One line per spec, flushed at once (println! on stdout is line-buffered).
    println!("{out}");
}

async fn drive(args: Args, specs: Vec<Value>) -> Result<(), String> {
    let conn =
        ConnectOptions::new(args.key_prefix.clone(), &args.redis_url).map_err(|e| e.to_string())?;
    let options =
        ClientOptions::default().default_timeout(Duration::from_millis(args.timeout_ms.max(1)));
    let raw = conn.redis_client().clone();
    let client = RedisRpcClient::connect_with(conn, options)
        .await
        .map_err(|e| format!("connecting the client failed: {e}"))?;
    let driver = Driver {
        client,
        raw,
        key_prefix: args.key_prefix,
        timeout: Duration::from_millis(args.timeout_ms),
    };
    if args.concurrent {
        let outs = futures::future::join_all(specs.iter().map(|s| driver.run(s))).await;
        outs.iter().for_each(emit);
    } else {
        for spec in &specs {
            emit(&driver.run(spec).await);
        }
    }
    driver.client.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let specs = match serde_json::from_reader::<_, Value>(std::io::stdin().lock()) {
        Ok(Value::Array(specs)) => specs,
        Ok(_) => {
            eprintln!("stdin must hold a JSON array of call specs");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("stdin is not JSON ({e}); it must hold a JSON array of call specs");
            return ExitCode::FAILURE;
        }
    };
    match drive(args, specs).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("interop-client: {e}");
            ExitCode::FAILURE
        }
    }
}
