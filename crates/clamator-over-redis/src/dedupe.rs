//! The dedupe window (`ServerOptions::dedupe_window`): a request whose call
//! (its `reply-to` and JSON-RPC id) was answered within the window is
//! answered again from the stored reply instead of running its handler, and
//! a copy that arrives while the first still runs waits for that reply.
//!
//! One record per call, a plain string key under the prefix:
//! `<prefix>:dedupe:<service>:<caller instance id>:<s|i><id>`, holding
//! either `running <entry id>` (a handler runs it now: set with
//! `SET ... NX GET PX <lease>` before the handler starts, its TTL renewed by
//! the lease loop while it runs) or the reply's envelope text (a JSON object,
//! so it never starts like a claim), written with `SET ... PX <window>` in
//! the finish loop's round trip *with* the reply and before the entry's
//! `XACK`, which always goes in a later round trip (so also on a cluster,
//! where the three keys may live on different primaries).
//!
//! What a request finds:
//! - nothing: it claims the call and runs;
//! - a reply: answered from it, handler not run;
//! - `running <its own entry id>`: its entry was reclaimed from a worker that
//!   died while running it: it takes the call over and runs it;
//! - `running <another entry id>`: a copy (a retry, a duplicate XADD) whose
//!   first runs elsewhere: it waits, polling with backoff, for the reply (or
//!   for the claim to lapse: the first's worker died; then it claims and
//!   runs), up to its caller's deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clamator_protocol::Id;
use redis::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::conn::{ConnError, SharedConn};

/// What a claim record's value starts with (a reply starts with `{`).
const RUNNING: &str = "running ";
/// The first and the longest wait between two looks at a record a copy waits on.
const POLL_FIRST: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(500);
/// The first and the longest wait before trying a claim Redis failed again.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// A call's record key and how long its reply is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// `<prefix>:dedupe:<service>:<instance>:<id>`.
    pub(crate) key: String,
    /// The window, ms: the reply's record expires then.
    pub(crate) window_ms: u64,
}

impl Record {
    /// `SET <key> <reply> PX <window>`: the call's answer, kept for the window.
    pub(crate) fn command(&self, reply: &str) -> redis::Cmd {
        let mut cmd = redis::Cmd::with_capacity(5, 16 + self.key.len() + reply.len());
        cmd.arg("SET")
            .arg(&self.key)
            .arg(reply)
            .arg("PX")
            .arg(self.window_ms);
        cmd
    }
}

/// What became of a request's claim.
#[derive(Debug)]
pub(crate) enum Claim {
    /// Run the handler; write its reply to the record.
    Run(Record),
    /// The call was answered before (or by a copy meanwhile): its reply.
    Answered(String),
    /// The caller's deadline passed while a copy waited: ack, no reply.
    GaveUp,
    /// The server is abandoning its handlers: leave the entry pending.
    Leave,
    /// Redis refused the record for good (an ACL, a key of another type):
    /// run without dedupe (said in the log).
    Unrecorded,
}

/// The dedupe window of one service on one server.
#[derive(Debug)]
pub(crate) struct Dedupe {
    /// The service (metrics, logs).
    service: String,
    /// `<prefix>:dedupe:<service>:`.
    base: String,
    /// `<prefix>:replies:` (the caller's instance id follows in `reply-to`).
    replies: String,
    /// How long a reply is kept, ms.
    window_ms: u64,
    /// The TTL of a running claim, ms (the claim idle: renewed every third of it).
    running_ms: u64,
    /// Records and replies go over the shared connection.
    shared: Arc<SharedConn>,
    /// The claims held by handlers running here, by entry id (renewed by the lease loop).
    held: Mutex<HashMap<String, String>>,
}

impl Dedupe {
    /// The window of `service` under `key_prefix`.
    pub(crate) fn new(
        key_prefix: &str,
        service: &str,
        window: Duration,
        claim_idle: Duration,
        shared: Arc<SharedConn>,
    ) -> Dedupe {
        Dedupe {
            service: service.to_owned(),
            base: format!("{key_prefix}:dedupe:{service}:"),
            replies: format!("{key_prefix}:replies:"),
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1),
            running_ms: u64::try_from(claim_idle.as_millis())
                .unwrap_or(u64::MAX)
                .max(1000),
            shared,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The record key of the call `(reply_to, id)` (`reply_to` already checked
    /// by [`crate::keys::reply_target`]).
    pub(crate) fn key(&self, reply_to: &str, id: &Id) -> String {
        let instance = reply_to.strip_prefix(&self.replies).unwrap_or(reply_to);
        let mut key = String::with_capacity(self.base.len() + instance.len() + 48);
        key.push_str(&self.base);
        key.push_str(instance);
        key.push(':');
        match id {
            Id::Str(s) => {
                key.push('s');
                key.push_str(s);
            }
            other => {
                key.push('i');
                key.push_str(&other.to_string());
            }
        }
        key
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks at start that Redis lets this server keep records (an ACL
    /// without the `dedupe` keys or `SET` fails `start()`).
    pub(crate) async fn check(&self) -> Result<(), ConnError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}-start-check", self.base))
            .arg(RUNNING)
            .arg("NX")
            .arg("GET")
            .arg("PX")
            .arg(1000);
        self.shared
            .query::<Value>(&cmd, self.shared.command_timeout())
            .await
            .map(drop)
    }

    /// Claims the call of `key` for entry `entry_id`, or finds its reply, or
    /// waits for the copy that runs it (see the module docs).
    pub(crate) async fn claim(
        &self,
        key: String,
        entry_id: &str,
        give_up_at: Option<Instant>,
        abandoned: impl Fn() -> CancellationToken,
    ) -> Claim {
        let mine = format!("{RUNNING}{entry_id}");
        let mut poll = Backoff::new(POLL_FIRST, POLL_MAX);
        let mut retry = Backoff::new(RETRY_FIRST, RETRY_MAX);
        let mut waited = false;
        // Only a copy that waits needs the abandon signal.
        let mut abandon: Option<CancellationToken> = None;
        loop {
            let mut cmd = redis::cmd("SET");
            cmd.arg(&key)
                .arg(&mine)
                .arg("NX")
                .arg("GET")
                .arg("PX")
                .arg(self.running_ms);
            let wait = match self
                .shared
                .query::<Option<Vec<u8>>>(&cmd, self.shared.command_timeout())
                .await
            {
                // Set: ours now.
                Ok(None) => return self.run(key, entry_id, waited),
                Ok(Some(found)) => match String::from_utf8(found) {
                    Ok(text) if text == mine => return self.run(key, entry_id, waited),
                    Ok(text) if text.starts_with(RUNNING) => {
                        retry.reset();
                        waited = true;
                        poll.next_delay()
                    }
                    Ok(text) if text.starts_with('{') => {
                        crate::metrics::deduped(self.service(), "answered");
                        return Claim::Answered(text);
                    }
                    _ => {
                        tracing::warn!(record = %key,
                            "a dedupe record holds something this server did not write; \
                             running the request and overwriting the record");
                        return self.run(key, entry_id, waited);
                    }
                },
                Err(error) if error.is_transient() => {
                    tracing::warn!(record = %key, %error,
                        "reading the call's dedupe record failed for now; trying again \
                         (the request waits, pending)");
                    retry.next_delay()
                }
                Err(error) => {
                    tracing::warn!(record = %key, %error,
                        "Redis refused the call's dedupe record; running the request \
                         without dedupe (grant the server the dedupe keys: clamator acl server)");
                    return Claim::Unrecorded;
                }
            };
            let until = Instant::now() + wait;
            if give_up_at.is_some_and(|at| at <= until) {
                crate::metrics::deduped(self.service(), "gave_up");
                return Claim::GaveUp;
            }
            let abandon = abandon.get_or_insert_with(&abandoned);
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                () = abandon.cancelled() => return Claim::Leave,
            }
        }
    }

    /// The claim of `key` is this entry's: renewed while it runs here.
    fn run(&self, key: String, entry_id: &str, waited: bool) -> Claim {
        if waited {
            crate::metrics::deduped(self.service(), "took_over");
        }
        self.held().insert(entry_id.to_owned(), key.clone());
        Claim::Run(Record {
            key,
            window_ms: self.window_ms,
        })
    }

    /// The handler of `entry_id` ended (its reply is written or the entry
    /// left pending): its claim is no longer renewed.
    pub(crate) fn release(&self, entry_id: &str) {
        self.held().remove(entry_id);
    }

    /// Renews the TTL of the claims of the handlers running here (the lease
    /// loop); a failure is logged (the next pass tries again, and a claim
    /// lasts the whole claim idle).
    pub(crate) async fn renew(&self) {
        let cmds: Vec<redis::Cmd> = self
            .held()
            .values()
            .map(|key| {
                let mut cmd = redis::cmd("PEXPIRE");
                cmd.arg(key).arg(self.running_ms);
                cmd
            })
            .collect();
        let answers = self.shared.each(cmds, self.shared.command_timeout()).await;
        if let Some(Err(error)) = answers.iter().find(|a| a.is_err()) {
            tracing::warn!(service = %self.service(), %error,
                "renewing the dedupe claims of running handlers failed; if this lasts past \
                 consumer_claim_idle, a copy of such a call may run again");
        }
    }

    /// The service's name, for metrics.
    fn service(&self) -> &str {
        &self.service
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_key_names_the_caller_and_the_id_apart() {
        let options = crate::ConnectOptions::new("app", "redis://127.0.0.1:1").unwrap();
        let shared = Arc::new(SharedConn::new(crate::conn::Connector::new(&options)));
        let d = Dedupe::new(
            "app",
            "arith",
            Duration::from_secs(60),
            Duration::from_secs(60),
            shared,
        );
        assert_eq!(
            d.key("app:replies:c-1", &Id::Str("7".into())),
            "app:dedupe:arith:c-1:s7"
        );
        assert_eq!(
            d.key("app:replies:c-1", &Id::Int(7)),
            "app:dedupe:arith:c-1:i7"
        );
        assert_ne!(
            d.key("app:replies:c-1", &Id::Int(7)),
            d.key("app:replies:c-2", &Id::Int(7))
        );
        assert_eq!(d.service(), "arith");
        assert!(
            Record {
                key: "k".into(),
                window_ms: 5
            }
            .command("{}")
            .args_iter()
            .count()
                == 5
        );
    }
}
