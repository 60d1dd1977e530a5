//! [`TestArith`]: the `arith` interop contract ([`clamator_arith::Arith`])
//! served by the reference handler, with probes tests await instead of
//! sleeping: which calls ran, which `slowAdd` handlers started, still run
//! or were cancelled (their future dropped), how many pings came.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clamator_arith::{
    AddParams, Arith, ArithContract, ArithHandler, CheckedSum, Count, Empty, FailParams,
    QuotientResult, SlowAddParams, SumResult, Text, Whoami,
};
use clamator_protocol::{Context, Dispatcher, RpcError};
use tokio::sync::{Notify, watch};

/// Bound on any single wait of a test.
pub const WAIT: Duration = Duration::from_secs(10);

/// An instrumented `arith` handler. Clones share their probes: register one
/// clone and keep another to look at what the handler saw.
#[derive(Clone, Debug, Default)]
pub struct TestArith {
    /// What the handler observed.
    probes: Arc<Probes>,
}

/// What the handlers of one [`TestArith`] observed.
#[derive(Debug)]
struct Probes {
    /// Does the arithmetic, the failures and the ping count.
    reference: ArithHandler,
    /// The `a` of every `add` / `slowAdd` that ran to the end, in order.
    handled: Mutex<Vec<f64>>,
    /// `slowAdd` handlers started.
    slow_started: AtomicUsize,
    /// `slowAdd` handlers running now.
    slow_running: AtomicUsize,
    /// `slowAdd` handlers whose future was dropped before they finished.
    slow_cancelled: AtomicUsize,
    /// `slowAdd` handlers whose context signal fired while they ran (they
    /// run on to the end regardless).
    slow_signalled: AtomicUsize,
    /// `ping` notifications handled.
    pings: AtomicUsize,
    /// While `true`, `ping` handlers wait before counting.
    pings_held: watch::Sender<bool>,
    /// Woken whenever a probe changes.
    changed: Notify,
}

impl Default for Probes {
    fn default() -> Self {
        Probes {
            reference: ArithHandler::new("test"),
            handled: Mutex::default(),
            slow_started: AtomicUsize::new(0),
            slow_running: AtomicUsize::new(0),
            slow_cancelled: AtomicUsize::new(0),
            slow_signalled: AtomicUsize::new(0),
            pings: AtomicUsize::new(0),
            pings_held: watch::Sender::new(false),
            changed: Notify::new(),
        }
    }
}

/// Counts a `slowAdd` handler out when it ends, and as cancelled when its
/// future is dropped before it finished.
struct SlowGuard {
    probes: Arc<Probes>,
    finished: bool,
}

impl Drop for SlowGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.probes.slow_cancelled.fetch_add(1, Ordering::SeqCst);
        }
        self.probes.slow_running.fetch_sub(1, Ordering::SeqCst);
        self.probes.changed.notify_waiters();
    }
}

impl TestArith {
    /// A handler with fresh probes.
    pub fn new() -> TestArith {
        TestArith::default()
    }

    /// A dispatcher serving this handler (shares its probes).
    pub fn dispatcher(&self) -> Dispatcher {
        self.dispatcher_builder().build()
    }

    /// A dispatcher builder with this handler registered, for a test that
    /// adds middleware layers before building it.
    pub fn dispatcher_builder(&self) -> clamator_protocol::DispatcherBuilder {
        Dispatcher::builder()
            .register(ArithContract, self.clone())
            .expect("one service")
    }

    /// The `a` of every `add` / `slowAdd` that ran to the end, in order.
    pub fn handled(&self) -> Vec<f64> {
        self.probes.handled.lock().unwrap().clone()
    }

    /// `slowAdd` handlers started so far.
    pub fn slow_started(&self) -> usize {
        self.probes.slow_started.load(Ordering::SeqCst)
    }

    /// `slowAdd` handlers running now.
    pub fn slow_running(&self) -> usize {
        self.probes.slow_running.load(Ordering::SeqCst)
    }

    /// `slowAdd` handlers whose future was dropped before they finished.
    pub fn slow_cancelled(&self) -> usize {
        self.probes.slow_cancelled.load(Ordering::SeqCst)
    }

    /// `slowAdd` handlers whose context signal (`Context::cancelled`) fired
    /// while they ran: their caller's deadline passed, or it cancelled.
    pub fn slow_signalled(&self) -> usize {
        self.probes.slow_signalled.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `n` `slowAdd` handlers were signalled.
    pub async fn slow_signalled_at_least(&self, n: usize) {
        self.until(&format!("{n} slowAdd handler(s) signalled"), |a| {
            a.slow_signalled() >= n
        })
        .await;
    }

    /// `ping` notifications handled so far.
    pub fn pings(&self) -> usize {
        self.probes.pings.load(Ordering::SeqCst)
    }

    /// Makes `ping` handlers wait until [`release_pings`](Self::release_pings).
    pub fn hold_pings(&self) {
        self.probes.pings_held.send_replace(true);
    }

    /// Lets held `ping` handlers go on.
    pub fn release_pings(&self) {
        self.probes.pings_held.send_replace(false);
    }

    /// Waits, at most [`WAIT`], until `check` holds; panics saying `what` otherwise.
    pub async fn until(&self, what: &str, check: impl Fn(&TestArith) -> bool) {
        let wait = async {
            loop {
                let changed = self.probes.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if check(self) {
                    return;
                }
                changed.await;
            }
        };
        if tokio::time::timeout(WAIT, wait).await.is_err() {
            panic!("never happened within {WAIT:?}: {what}");
        }
    }

    /// Waits until `n` `slowAdd` handlers have started.
    pub async fn slow_started_at_least(&self, n: usize) {
        self.until(&format!("{n} slowAdd handler(s) started"), |a| {
            a.slow_started() >= n
        })
        .await;
    }

    /// Waits until `n` pings were handled.
    pub async fn pinged_at_least(&self, n: usize) {
        self.until(&format!("{n} ping(s) handled"), |a| a.pings() >= n)
            .await;
    }

    fn record(&self, a: f64) {
        self.probes.handled.lock().unwrap().push(a);
        self.probes.changed.notify_waiters();
    }
}

impl Arith for TestArith {
    async fn add(&self, p: AddParams) -> Result<SumResult, RpcError> {
        let a = p.a;
        let sum = self.probes.reference.add(p).await?;
        self.record(a);
        Ok(sum)
    }

    async fn slow_add(&self, p: SlowAddParams, ctx: &Context) -> Result<SumResult, RpcError> {
        self.probes.slow_started.fetch_add(1, Ordering::SeqCst);
        self.probes.slow_running.fetch_add(1, Ordering::SeqCst);
        let mut guard = SlowGuard {
            probes: Arc::clone(&self.probes),
            finished: false,
        };
        self.probes.changed.notify_waiters();
        let a = p.a;
        // The reference with a context nothing cancels: test handlers run
        // to their end whatever happens to their caller; the signal is
        // only counted.
        let quiet = Context::new("arith", "slowAdd", None);
        let run = self.probes.reference.slow_add(p, &quiet);
        tokio::pin!(run);
        let sum = tokio::select! {
            biased;
            out = &mut run => out?,
            () = ctx.cancelled() => {
                self.probes.slow_signalled.fetch_add(1, Ordering::SeqCst);
                self.probes.changed.notify_waiters();
                run.await?
            }
        };
        self.record(a);
        guard.finished = true;
        Ok(sum)
    }

    async fn divide(&self, p: AddParams) -> Result<QuotientResult, RpcError> {
        self.probes.reference.divide(p).await
    }

    async fn echo_text(&self, p: Text) -> Result<Text, RpcError> {
        self.probes.reference.echo_text(p).await
    }

    async fn ping(&self, p: Empty) {
        let mut held = self.probes.pings_held.subscribe();
        let _ = held.wait_for(|held| !held).await;
        self.probes.reference.ping(p).await;
        self.probes.pings.fetch_add(1, Ordering::SeqCst);
        self.probes.changed.notify_waiters();
    }

    async fn ping_count(&self, p: Empty) -> Result<Count, RpcError> {
        self.probes.reference.ping_count(p).await
    }

    async fn fail(&self, p: FailParams) -> Result<Empty, RpcError> {
        self.probes.reference.fail(p).await
    }

    async fn bad_result(&self, p: Empty) -> Result<CheckedSum, RpcError> {
        self.probes.reference.bad_result(p).await
    }

    async fn whoami(&self, p: Empty) -> Result<Whoami, RpcError> {
        self.probes.reference.whoami(p).await
    }
}
