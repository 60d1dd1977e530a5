//! `clamator demo`: a worker pool, a client and every kind of exchange, in
//! one process, against a real Redis, in a few seconds; then it cleans up.
//!
//! It uses the Redis at `--redis-url` when one answers PING within a second,
//! else starts a throwaway `redis-server` on a free port. Everything lives
//! under a fresh key prefix that is deleted at the end, so it is safe to run
//! against a Redis that other applications use.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clamator_arith::{
    AddParams, ArithClient, ArithContract, ArithHandler, Empty, SlowAddParams, Text,
};
use clamator_over_redis::ops::keys;
use clamator_over_redis::ops::throwaway::{StartError, ThrowawayRedis};
use clamator_over_redis::{
    ClientOptions, ConnectOptions, RedisRpcClient, RedisRpcServer, ServerOptions,
};
use clamator_protocol::{Error, RpcError};
use serde::Serialize;
use serde_json::{Value, json};

use crate::conn::{CONNECT_TIMEOUT, Redis, Target, redact};
use crate::error::CliError;
use crate::global::Global;
use crate::output;

/// How long the Redis at `--redis-url` has to answer PING.
const PING_WAIT: Duration = Duration::from_secs(1);
/// Call timeout of the demo's client.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Handlers one worker runs at once: small, so the pool visibly shares the work.
const WORKER_CONCURRENCY: usize = 4;
/// Calls of the pool-split step.
const WHOAMI_CALLS: usize = 40;
/// Concurrent slowAdds of the parallelism step, and how long each sleeps.
const SLOW_CALLS: usize = 8;
const SLOW_MS: f64 = 200.0;
/// Text with accents, symbols, CJK and an emoji: it must come back unchanged.
const UNICODE_TEXT: &str = "héllo wörld — ünïcode ✓ 日本語 👋";

/// Options of `clamator demo` (none besides `--redis-url` and `--json`).
#[derive(clap::Args, Debug)]
pub(crate) struct DemoArgs {}

/// Prints the narrative, or collects it for `--json`.
#[derive(Debug)]
struct Narrator {
    /// Print nothing as we go; print `report` at the end.
    json: bool,
    /// What happened, for `--json`.
    report: serde_json::Map<String, Value>,
}

impl Narrator {
    fn say(&self, text: &str) -> Result<(), CliError> {
        if self.json {
            Ok(())
        } else {
            output::line(text)
        }
    }

    fn record(&mut self, key: &str, value: Value) {
        self.report.insert(key.to_owned(), value);
    }
}

/// Compact JSON of a value (for the narrative).
fn js<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1_000.0)
}

/// Runs the demo.
pub(crate) async fn run(global: &Global, _args: DemoArgs) -> Result<(), CliError> {
    let started = Instant::now();
    let mut n = Narrator {
        json: global.json,
        report: serde_json::Map::new(),
    };
    let (target, throwaway) = pick_redis(global.target()?).await?;
    let url = target.url.clone();
    let prefix = format!(
        "clamator-demo-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    n.say("clamator demo: typed JSON-RPC over Redis Streams")?;
    match &throwaway {
        None => n.say(&format!("  Redis:      {} (answered PING)", redact(&url)))?,
        Some(_) => n.say(&format!(
            "  Redis:      nothing answered at {} within {} ms, so started a throwaway \
             redis-server at {url} (stopped at the end)",
            redact(&global.redis_url),
            PING_WAIT.as_millis()
        ))?,
    }
    n.say(&format!(
        "  Key prefix: {prefix} (fresh; everything under it is deleted at the end)"
    ))?;
    n.record("redis_url", json!(redact(&url)));
    n.record("throwaway_redis", json!(throwaway.is_some()));
    n.record("key_prefix", json!(prefix));

    let mut demo = Demo {
        target,
        prefix: prefix.clone(),
        workers: Vec::new(),
        client: None,
    };
    let outcome = tokio::select! {
        outcome = demo.steps(&mut n) => outcome,
        _ = tokio::signal::ctrl_c() => Err(CliError::Interrupted(format!(
            "the demo was stopped and the keys under {prefix} deleted"
        ))),
    };
    let removed = demo.cleanup().await;
    let removed = match (outcome, removed) {
        (Err(e), _) | (Ok(()), Err(e)) => return Err(e),
        (Ok(()), Ok(removed)) => removed,
    };
    n.say("")?;
    n.say(&format!(
        "6. Cleanup: stopped the client (it deleted its reply stream) and both workers; \
         deleted {removed} more key(s) under {prefix}"
    ))?;
    n.record("deleted_keys", json!(removed));
    if let Some(server) = throwaway {
        drop(server);
        n.say("   Stopped the throwaway redis-server.")?;
    }
    let took = started.elapsed();
    n.record("elapsed_ms", json!(took.as_millis() as u64));
    n.say(&format!("Done in {:.1} s.", took.as_secs_f64()))?;
    if global.json {
        output::json(&Value::Object(n.report))?;
    }
    Ok(())
}

/// The Redis to use: `target` if it answers PING quickly, else a throwaway one.
async fn pick_redis(target: Target) -> Result<(Target, Option<ThrowawayRedis>), CliError> {
    // (`target` is checked already: a malformed URL is a usage error, not "unreachable".)
    match tokio::time::timeout(PING_WAIT, Redis::connect(&target)).await {
        Ok(Ok(_)) => return Ok((target, None)),
        // A TLS failure is a setting to fix, not a Redis to replace.
        Ok(Err(e @ CliError::Tls { .. })) => return Err(e),
        _ => {}
    }
    let url = target.url.as_str();
    let started = tokio::task::spawn_blocking(ThrowawayRedis::start)
        .await
        .map_err(|e| CliError::Internal(format!("starting redis-server: {e}")))?;
    match started {
        Ok(server) => Ok((Target::plain(&server.url()), Some(server))),
        Err(e @ StartError::NoBinary) => Err(CliError::NoRedisServer {
            url: url.to_owned(),
            detail: e.to_string(),
        }),
        Err(detail) => Err(CliError::Unreachable {
            url: url.to_owned(),
            reason: format!(
                "nothing answered, and starting a throwaway redis-server failed: {detail}"
            ),
        }),
    }
}

/// What the demo started, so cleanup can stop and delete it all.
#[derive(Debug)]
struct Demo {
    /// The Redis in use.
    target: Target,
    /// The fresh key prefix.
    prefix: String,
    /// The workers started so far.
    workers: Vec<RedisRpcServer>,
    /// The client, once started.
    client: Option<RedisRpcClient>,
}

impl Demo {
    /// Where the demo's Redis is, under its prefix.
    fn conn(&self) -> Result<ConnectOptions, CliError> {
        Ok(self
            .target
            .connect_options(&self.prefix)?
            .command_timeout(CONNECT_TIMEOUT))
    }

    /// Starts a worker serving `arith` with instance id `name`.
    async fn start_worker(&mut self, name: &str) -> Result<(), CliError> {
        let options = ServerOptions::default()
            .instance_id(name)
            .max_concurrency(WORKER_CONCURRENCY)
            .shutdown_grace(Duration::from_secs(2));
        let server = RedisRpcServer::builder(self.conn()?)
            .options(options)
            .register(ArithContract, ArithHandler::new(name))
            .map_err(|e| CliError::Internal(format!("registering arith: {e}")))?
            .start()
            .await
            .map_err(|e| CliError::connect(e, &format!("starting {name}"), &self.target.url))?;
        self.workers.push(server);
        Ok(())
    }

    /// The narrated steps 1 to 5.
    async fn steps(&mut self, n: &mut Narrator) -> Result<(), CliError> {
        let stream = keys::command_stream(&self.prefix, "arith");
        n.say("")?;
        n.say("1. A worker serves `arith`")?;
        self.start_worker("worker-1").await?;
        n.say(&format!(
            "   worker-1 reads {stream} as consumer {} of group `{}`",
            keys::consumer("arith", "worker-1"),
            keys::group("arith")
        ))?;

        let client = RedisRpcClient::connect_with(
            self.conn()?,
            ClientOptions::default().default_timeout(CALL_TIMEOUT),
        )
        .await
        .map_err(|e| CliError::connect(e, "connecting the client", &self.target.url))?;
        let reply_stream = keys::reply_stream(&self.prefix, client.instance_id());
        let client = self.client.insert(client);
        let arith = ArithClient::new(&*client);
        let (prefix, url) = (self.prefix.clone(), self.target.url.clone());
        let fail = |method: &str, e: Error| CliError::from_call(e, "arith", method, &prefix, &url);

        n.say("")?;
        n.say(&format!(
            "2. Calls: the client XADDs each request to {stream} and reads the reply from {reply_stream}"
        ))?;
        let mut calls = Vec::new();
        let p = AddParams { a: 2.0, b: 3.0 };
        let t = Instant::now();
        let r = arith.add(p.clone()).await.map_err(|e| fail("add", e))?;
        n.say(&format!(
            "   arith.add      {} -> {}   ({})",
            js(&p),
            js(&r),
            ms(t.elapsed())
        ))?;
        calls.push(json!({"method": "arith.add", "params": p, "result": r}));

        let p = Text {
            text: UNICODE_TEXT.to_owned(),
        };
        let t = Instant::now();
        let r = arith
            .echo_text(p.clone())
            .await
            .map_err(|e| fail("echoText", e))?;
        let same = if r == p { "unchanged" } else { "CHANGED" };
        n.say(&format!(
            "   arith.echoText {} -> {} ({same}, {})",
            js(&p),
            js(&r),
            ms(t.elapsed())
        ))?;
        calls.push(
            json!({"method": "arith.echoText", "params": p, "result": r, "unchanged": r == p}),
        );

        let p = SlowAddParams {
            a: 1.0,
            b: 2.0,
            sleep_ms: 300.0,
        };
        let t = Instant::now();
        let r = arith
            .slow_add(p.clone())
            .await
            .map_err(|e| fail("slowAdd", e))?;
        n.say(&format!(
            "   arith.slowAdd  {} -> {}   ({})",
            js(&p),
            js(&r),
            ms(t.elapsed())
        ))?;
        calls.push(json!({"method": "arith.slowAdd", "params": p, "result": r}));
        n.record("calls", Value::Array(calls));

        n.say("")?;
        n.say("3. Errors are replies too (code, message, data)")?;
        let p = AddParams { a: 1.0, b: 0.0 };
        let e = expect_rpc_error(arith.divide(p.clone()).await.map(|r| json!(r)), "divide")?;
        n.say(&format!(
            "   arith.divide {} -> error {} {:?}, data {}",
            js(&p),
            e.code,
            e.message,
            js(&e.data)
        ))?;
        let bad = json!({"a": 1, "b": "two"});
        let e2 = expect_rpc_error(client.call("arith", "add", bad.clone(), None).await, "add")?;
        n.say(&format!(
            "   arith.add {} -> error {} {:?}, data.errors:",
            js(&bad),
            e2.code,
            e2.message
        ))?;
        for issue in e2
            .data
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            n.say(&format!(
                "       at {}: {} ({})",
                js(issue.get("loc").unwrap_or(&Value::Null)),
                issue.get("msg").and_then(Value::as_str).unwrap_or("?"),
                issue.get("type").and_then(Value::as_str).unwrap_or("?"),
            ))?;
        }
        n.record(
            "errors",
            json!([
                {"method": "arith.divide", "params": p, "error": e},
                {"method": "arith.add", "params": bad, "error": e2},
            ]),
        );

        n.say("")?;
        n.say("4. Notifications: fire-and-forget, no reply")?;
        const PINGS: u64 = 3;
        for _ in 0..PINGS {
            arith.ping(Empty {}).await.map_err(|e| fail("ping", e))?;
        }
        // Notifications are not awaited: ask until the worker has handled them all.
        let deadline = Instant::now() + Duration::from_secs(2);
        let count = loop {
            let c = arith
                .ping_count(Empty {})
                .await
                .map_err(|e| fail("pingCount", e))?;
            if c.count >= PINGS || Instant::now() >= deadline {
                break c;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        n.say(&format!(
            "   arith.ping x{PINGS} sent (no reply comes); arith.pingCount -> {}",
            js(&count)
        ))?;
        n.record(
            "notifications",
            json!({"pings_sent": PINGS, "ping_count": count.count}),
        );

        n.say("")?;
        n.say("5. Scaling out: worker-2 joins the same consumer group, nothing to configure")?;
        self.start_worker("worker-2").await?;
        let Some(client) = self.client.as_ref() else {
            return Err(CliError::Internal("the client vanished".to_owned()));
        };
        let arith = ArithClient::new(client);
        let answers =
            futures::future::join_all((0..WHOAMI_CALLS).map(|_| arith.whoami(Empty {}))).await;
        let mut tally: BTreeMap<String, usize> = BTreeMap::new();
        for a in answers {
            *tally
                .entry(a.map_err(|e| fail("whoami", e))?.server)
                .or_default() += 1;
        }
        n.say(&format!(
            "   {WHOAMI_CALLS} concurrent arith.whoami calls, answered by:"
        ))?;
        let name_width = tally.keys().map(|k| k.chars().count()).max().unwrap_or(0);
        for (server, count) in &tally {
            n.say(&format!(
                "     {server:<name_width$}  {count:>3}  {}",
                "#".repeat(*count)
            ))?;
        }
        let p = SlowAddParams {
            a: 1.0,
            b: 1.0,
            sleep_ms: SLOW_MS,
        };
        let t = Instant::now();
        let slow =
            futures::future::join_all((0..SLOW_CALLS).map(|_| arith.slow_add(p.clone()))).await;
        let took = t.elapsed();
        for r in slow {
            r.map_err(|e| fail("slowAdd", e))?;
        }
        n.say(&format!(
            "   {SLOW_CALLS} concurrent arith.slowAdd ({SLOW_MS} ms each) took {:.2} s \
             ({:.1} s one after another): {} workers x {WORKER_CONCURRENCY} handlers each",
            took.as_secs_f64(),
            SLOW_CALLS as f64 * SLOW_MS / 1_000.0,
            self.workers.len()
        ))?;
        n.record(
            "pool",
            json!({
                "whoami_calls": WHOAMI_CALLS,
                "answered_by": tally,
                "slow_calls": SLOW_CALLS,
                "slow_ms_each": SLOW_MS,
                "slow_elapsed_ms": took.as_millis() as u64,
            }),
        );
        Ok(())
    }

    /// Stops the client and the workers and deletes every key under the prefix;
    /// returns how many keys were deleted.
    async fn cleanup(&mut self) -> Result<usize, CliError> {
        if let Some(client) = self.client.take() {
            client.close().await; // deletes its reply stream
        }
        futures::future::join_all(self.workers.drain(..).map(RedisRpcServer::stop)).await;
        let mut redis = Redis::connect(&self.target).await?;
        let mut doomed = vec![keys::command_stream(&self.prefix, "arith")];
        doomed.extend(redis.scan_streams(&format!("{}:", self.prefix)).await?);
        doomed.sort();
        doomed.dedup();
        let mut del = redis::cmd("DEL");
        for k in &doomed {
            del.arg(k);
        }
        let removed: usize = redis
            .query(
                &del,
                &format!("deleting the demo's keys under {}", self.prefix),
            )
            .await?;
        Ok(removed)
    }
}

/// The RPC error a call must fail with; anything else is reported.
fn expect_rpc_error(outcome: Result<Value, Error>, method: &str) -> Result<RpcError, CliError> {
    match outcome {
        Err(Error::Rpc(e)) => Ok(e),
        Err(e) => Err(CliError::from_call(e, "arith", method, "", "")),
        Ok(v) => Err(CliError::Internal(format!(
            "arith.{method} should have failed but returned {v}"
        ))),
    }
}
