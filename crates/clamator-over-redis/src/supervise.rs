//! Supervision of a service's loops: each runs as a task of its own under a
//! supervising task, which notices when it ended by a panic (its
//! `JoinHandle`'s result), logs the panic's message, counts it (health and
//! the `clamator.server.loop_restarts` metric) and starts the loop again
//! with backoff, until the loop's stop signal fired.
//!
//! A loop that ends normally (after its stop signal) is not restarted.
//! Dropping or aborting the supervisor aborts the loop it runs.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::backoff::Backoff;
use crate::health::{Monitor, ServerLoop};
use crate::service_keys::ServiceKeys;

/// After running this long, a loop that panics is restarted after the
/// shortest delay again.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// One loop under supervision.
#[derive(Debug)]
pub(crate) struct Supervised {
    /// Which loop, for logs and health.
    pub(crate) which: ServerLoop,
    /// The service, for logs and metrics.
    pub(crate) keys: Arc<ServiceKeys>,
    /// Where running and restarts are recorded.
    pub(crate) monitor: Arc<Monitor>,
    /// The loop's own stop signal: no restart once it fired.
    pub(crate) stop: CancellationToken,
}

impl Supervised {
    /// Spawns the supervisor: runs `make()`'s loop, and a new one after each
    /// panic. The handle aborts the supervisor, and so the loop, when dropped.
    pub(crate) fn spawn<F, Fut>(self, make: F) -> AbortOnDropHandle<()>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        AbortOnDropHandle::new(tokio::spawn(self.run(make)))
    }

    /// The supervisor's task.
    async fn run<F, Fut>(self, mut make: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let service = self.keys.service.as_str();
        let mut backoff = Backoff::default();
        loop {
            self.monitor.set_running(self.which, true);
            let started = tokio::time::Instant::now();
            let mut task = AbortOnDropHandle::new(tokio::spawn(make()));
            let ended = (&mut task).await;
            self.monitor.set_running(self.which, false);
            let panic = match ended {
                Ok(()) => return,
                Err(e) if e.is_panic() => panic_message(e.into_panic()),
                Err(_) => return, // aborted: the runner is going away
            };
            if self.stop.is_cancelled() {
                tracing::error!(%service, task = %self.which, %panic,
                    "a server loop panicked while stopping; not restarted");
                return;
            }
            if started.elapsed() >= HEALTHY_RUN {
                backoff.reset();
            }
            let delay = backoff.next_delay();
            tracing::error!(%service, task = %self.which, %panic,
                restart_in_ms = delay.as_millis() as u64,
                "a server loop panicked; restarting it");
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            self.monitor.restarted(self.which);
            crate::metrics::loop_restarted(service, self.which.name());
        }
    }
}

/// The message a panic was raised with (`panic!("...")`), or a placeholder.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast_ref::<&'static str>() {
            Some(s) => (*s).to_owned(),
            None => "a panic without a message".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_panic_messages() {
        assert_eq!(panic_message(Box::new("static")), "static");
        assert_eq!(panic_message(Box::new(String::from("owned"))), "owned");
        assert_eq!(panic_message(Box::new(7u8)), "a panic without a message");
    }
}
