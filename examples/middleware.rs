//! Middleware with tower: a server that checks a caller's token and limits
//! each method's rate, and a client with a timeout layer. Over the
//! in-process transport; with Redis the same layers go on
//! `RedisRpcServer::builder(..).layer(..)` and the token travels as a
//! `meta-authorization` stream field.
//! Run it with `cargo run -p clamator-examples --example middleware`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clamator::memory::MemoryBus;
use clamator::middleware::{Call, LayeredClient};
use clamator::{Metadata, RpcError};
use tower::ServiceBuilder;
use tower::filter::FilterLayer;

/// Params and result of `upper`.
#[clamator::model]
#[derive(Debug)]
pub struct Word {
    /// The word.
    pub text: String,
}

/// The contract.
#[clamator::contract(service = "shout")]
pub trait Shout {
    /// Upper-cases a word.
    async fn upper(&self, params: Word) -> Result<Word, RpcError>;
}

struct Loud;

impl Shout for Loud {
    async fn upper(&self, w: Word) -> Result<Word, RpcError> {
        Ok(Word {
            text: w.text.to_uppercase(),
        })
    }
}

/// Auth: a call without the right `authorization` metadata is answered
/// -32001 before any handler (or "method not found") runs.
fn check_token(call: Call) -> Result<Call, RpcError> {
    match call.metadata().get("authorization") {
        Some("Bearer let-me-in") => Ok(call),
        _ => Err(RpcError::application(
            -32001,
            "unauthorized: send metadata authorization: Bearer <token>",
            serde_json::Value::Null,
        )),
    }
}

/// A per-method rate limit: at most `per_second` calls of each method per
/// second, then -32029. The counts are shared by every request (an `Arc`).
#[derive(Clone)]
struct RateLimit {
    per_second: u32,
    windows: Arc<Mutex<HashMap<String, (Instant, u32)>>>,
}

impl RateLimit {
    fn check(&self, call: Call) -> Result<Call, RpcError> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (start, count) = windows.entry(call.method().to_owned()).or_insert((now, 0));
        if now.duration_since(*start) >= Duration::from_secs(1) {
            (*start, *count) = (now, 0);
        }
        *count += 1;
        if *count > self.per_second {
            return Err(RpcError::application(
                -32029,
                "rate limited",
                serde_json::json!({"method": call.method(), "per_second": self.per_second}),
            ));
        }
        Ok(call)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let limit = RateLimit {
        per_second: 3,
        windows: Arc::default(),
    };
    let bus = MemoryBus::new();
    let server = bus
        .server()
        .register(ShoutContract, Loud)?
        .layer(FilterLayer::new(move |call| limit.check(call)))
        // Added last, so it runs first: unauthorized calls do not count.
        .layer(FilterLayer::new(check_token))
        .start()
        .await?;

    let anonymous = ShoutClient::new(bus.client());
    match anonymous.upper(Word { text: "hi".into() }).await {
        Ok(w) => println!("without a token: {} (not refused?)", w.text),
        Err(e) => println!("without a token: {e}"),
    }

    // The token goes with every call of this client; a timeout layer
    // bounds each call on the client side.
    let token = Metadata::new().with("authorization", "Bearer let-me-in")?;
    let client = Arc::new(bus.client().with_metadata(token));
    let stack = ServiceBuilder::new().timeout(Duration::from_secs(2));
    let shout = ShoutClient::new(LayeredClient::new(client, stack));
    for i in 1..=4 {
        match shout
            .upper(Word {
                text: format!("call {i}"),
            })
            .await
        {
            Ok(w) => println!("{i}: {}", w.text),
            Err(e) => println!("{i}: {e}"),
        }
    }

    server.stop().await;
    Ok(())
}
