//! The `arith` contract every member of the family serves in the interop
//! suite, with the reference handler [`ArithHandler`].
//!
//! Numbers are `f64` (a Zod `number`, a Python `float`); unknown fields are
//! invalid params (`#[clamator::model]`), while results accept them
//! (`allow_unknown_fields`), as they always have here. Besides arithmetic the
//! contract has test hooks the interop suite needs: `fail` (an unexpected
//! handler failure), `badResult` (a result that breaks the contract),
//! `pingCount` and `whoami`.
#![deny(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clamator::schemars::JsonSchema;
use clamator::serde::{self, Deserialize, Serialize, Serializer};
use clamator::{Context, RpcError};

/// `add` / `divide` params.
#[clamator::model]
#[derive(Debug, Clone)]
pub struct AddParams {
    /// Left operand.
    pub a: f64,
    /// Right operand.
    pub b: f64,
}

/// `slowAdd` params.
#[clamator::model]
#[derive(Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SlowAddParams {
    /// Left operand.
    pub a: f64,
    /// Right operand.
    pub b: f64,
    /// How long to sleep before answering, in milliseconds.
    pub sleep_ms: f64,
}

/// `add` / `slowAdd` result.
#[clamator::model(allow_unknown_fields)]
#[derive(Debug, Clone, PartialEq)]
pub struct SumResult {
    /// `a + b`.
    pub sum: f64,
}

/// `divide` result.
#[clamator::model(allow_unknown_fields)]
#[derive(Debug, Clone, PartialEq)]
pub struct QuotientResult {
    /// `a / b`.
    pub q: f64,
}

/// `echoText` params and result.
#[clamator::model]
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    /// The text.
    pub text: String,
}

/// Params of methods that take none.
#[clamator::model]
#[derive(Debug, Clone, Default)]
pub struct Empty {}

/// `fail` params.
#[clamator::model]
#[derive(Debug, Clone)]
pub struct FailParams {
    /// The message of the failure.
    pub message: String,
}

/// `pingCount` result.
#[clamator::model(allow_unknown_fields)]
#[derive(Debug, Clone, PartialEq)]
pub struct Count {
    /// Pings this server process handled.
    pub count: u64,
}

/// `whoami` result.
#[clamator::model(allow_unknown_fields)]
#[derive(Debug, Clone, PartialEq)]
pub struct Whoami {
    /// `"rust:<instance id>"`.
    pub server: String,
}

/// A number that must be finite to be encoded: JSON has no NaN or infinity,
/// so encoding one fails and the server answers "Result validation failed".
///
/// Its `Serialize` is written by hand, so it cannot take `#[clamator::model]`
/// (which derives one) and spells out the other derives instead.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(crate = "clamator::serde")]
#[schemars(crate = "clamator::schemars")]
pub struct Finite(pub f64);

impl Serialize for Finite {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0)
        } else {
            Err(serde::ser::Error::custom(format!(
                "{} is not a finite number",
                self.0
            )))
        }
    }
}

/// `badResult` result.
#[clamator::model(allow_unknown_fields)]
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedSum {
    /// Must be finite.
    pub sum: Finite,
}

/// The interop contract.
#[clamator::contract(service = "arith")]
pub trait Arith {
    /// `a + b`.
    async fn add(&self, params: AddParams) -> Result<SumResult, RpcError>;
    /// `a + b` after sleeping `sleepMs`; stops early (-32603 `Cancelled`)
    /// when the request's context is cancelled (its caller gave up).
    async fn slow_add(&self, params: SlowAddParams, ctx: &Context) -> Result<SumResult, RpcError>;
    /// `a / b`; `b == 0` is error -32000 "division by zero" with data `{"a": a}`.
    async fn divide(&self, params: AddParams) -> Result<QuotientResult, RpcError>;
    /// Returns its text unchanged.
    async fn echo_text(&self, params: Text) -> Result<Text, RpcError>;
    /// Counts pings.
    #[clamator(notification)]
    async fn ping(&self, params: Empty);
    /// How many pings this server process handled.
    async fn ping_count(&self, params: Empty) -> Result<Count, RpcError>;
    /// Fails unexpectedly (panics) with `message`.
    async fn fail(&self, params: FailParams) -> Result<Empty, RpcError>;
    /// Returns a result that breaks the contract (a NaN sum).
    async fn bad_result(&self, params: Empty) -> Result<CheckedSum, RpcError>;
    /// Which server answered.
    async fn whoami(&self, params: Empty) -> Result<Whoami, RpcError>;
}

/// The reference `arith` handler.
#[derive(Debug, Default)]
pub struct ArithHandler {
    /// Reported by `whoami`.
    instance: String,
    /// Pings handled.
    pings: AtomicU64,
    /// Print `CALL <method>` per handled call (the interop suite counts
    /// them), and `CANCELLED <method>` when a handler stops because its
    /// caller gave up.
    trace_calls: bool,
}

impl ArithHandler {
    /// A handler reporting `instance` from `whoami`.
    pub fn new(instance: impl Into<String>) -> Self {
        Self {
            instance: instance.into(),
            ..Self::default()
        }
    }

    /// The same handler printing `CALL <wire method>` on stdout for every call.
    #[must_use]
    pub fn with_trace_calls(mut self, on: bool) -> Self {
        self.trace_calls = on;
        self
    }

    fn trace(&self, method: &str) {
        if self.trace_calls {
            println!("CALL arith.{method}");
        }
    }

    /// Pings handled so far.
    pub fn pings(&self) -> u64 {
        self.pings.load(Ordering::SeqCst)
    }
}

impl Arith for ArithHandler {
    async fn add(&self, p: AddParams) -> Result<SumResult, RpcError> {
        self.trace("add");
        Ok(SumResult { sum: p.a + p.b })
    }

    async fn slow_add(&self, p: SlowAddParams, ctx: &Context) -> Result<SumResult, RpcError> {
        self.trace("slowAdd");
        let ms = if p.sleep_ms.is_finite() && p.sleep_ms > 0.0 {
            p.sleep_ms
        } else {
            0.0
        };
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs_f64(ms / 1000.0)) => {}
            () = ctx.cancelled() => {
                if self.trace_calls {
                    println!("CANCELLED arith.slowAdd");
                }
                return Err(RpcError::internal(
                    "Cancelled",
                    "the caller gave up (cancelled or past its deadline); slowAdd stopped",
                ));
            }
        }
        Ok(SumResult { sum: p.a + p.b })
    }

    async fn divide(&self, p: AddParams) -> Result<QuotientResult, RpcError> {
        self.trace("divide");
        if p.b == 0.0 {
            return Err(RpcError::application(
                -32000,
                "division by zero",
                serde_json::json!({ "a": p.a }),
            ));
        }
        Ok(QuotientResult { q: p.a / p.b })
    }

    async fn echo_text(&self, p: Text) -> Result<Text, RpcError> {
        self.trace("echoText");
        Ok(p)
    }

    async fn ping(&self, _: Empty) {
        self.trace("ping");
        self.pings.fetch_add(1, Ordering::SeqCst);
    }

    async fn ping_count(&self, _: Empty) -> Result<Count, RpcError> {
        self.trace("pingCount");
        Ok(Count {
            count: self.pings(),
        })
    }

    #[allow(clippy::panic)]
    async fn fail(&self, p: FailParams) -> Result<Empty, RpcError> {
        self.trace("fail");
        panic!("{}", p.message)
    }

    async fn bad_result(&self, _: Empty) -> Result<CheckedSum, RpcError> {
        self.trace("badResult");
        Ok(CheckedSum {
            sum: Finite(f64::NAN),
        })
    }

    async fn whoami(&self, _: Empty) -> Result<Whoami, RpcError> {
        self.trace("whoami");
        Ok(Whoami {
            server: format!("rust:{}", self.instance),
        })
    }
}
