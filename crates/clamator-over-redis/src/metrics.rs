//! Metrics of the Redis transport, through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`, off by default).
//!
//! The library only records; the application installs a recorder (an
//! exporter such as `metrics-exporter-prometheus`). Without a recorder every
//! recording is a call into `metrics`' no-op recorder; without the feature
//! nothing of `metrics` is compiled in (every function here is empty).
//!
//! Names follow OpenTelemetry where it has one (`rpc.client.duration`,
//! `rpc.server.duration`); the rest are `clamator.*`. Prometheus exporters
//! turn the dots into underscores (`rpc_client_duration`,
//! `clamator_client_calls`). Durations are seconds.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `rpc.client.duration` | histogram (s) | `rpc.service`, `rpc.method`, `outcome` | a call, from sending to its reply or failure |
//! | `clamator.client.calls` | counter | `rpc.service`, `rpc.method`, `outcome` | calls finished: `ok`, `rpc_error`, `timeout`, `transport_error` |
//! | `clamator.client.calls_in_flight` | gauge | `rpc.service` | calls sent and not yet finished |
//! | `clamator.client.timeouts` | counter | `rpc.service`, `rpc.method` | calls that got no reply within their timeout |
//! | `clamator.client.retries` | counter | `rpc.service`, `rpc.method`, `reason` | requests sent again ([`ClientOptions::retry`](crate::ClientOptions::retry)): `send_failed` (the `XADD` failed in a way Redis may take it later), `no_reply` (no reply within `resend_after`) |
//! | `clamator.client.notifications` | counter | `rpc.service`, `rpc.method`, `outcome` | notifications sent: `ok`, `transport_error` |
//! | `rpc.server.duration` | histogram (s) | `rpc.service`, `rpc.method`, `outcome` | a handler's run (dispatch), without writing the reply |
//! | `clamator.server.requests` | counter | `rpc.service`, `rpc.method`, `outcome`, `rpc.jsonrpc.error_code` (only `rpc_error`) | requests handled: `ok`, `rpc_error`, `notification` (no reply, so no outcome to see) |
//! | `clamator.server.handlers_busy` | gauge | `rpc.service` | handler slots in use on this server |
//! | `clamator.server.reclaimed` | counter | `rpc.service` | entries taken over from another consumer and run here |
//! | `clamator.server.dead_letters` | counter | `rpc.service` | entries moved to the dead-letter stream |
//! | `clamator.server.expired_skipped` | counter | `rpc.service` | requests acked unrun because their caller's timeout had passed |
//! | `clamator.server.replies_retried` | counter | `rpc.service` | reply writes Redis refused for now (out of memory, a replica, loading, no answer) and that were kept to be written again |
//! | `clamator.server.replies_abandoned` | counter | `rpc.service` | replies given up because Redis kept refusing them until their caller's deadline passed (their entries acked) |
//! | `clamator.server.cancelled` | counter | `rpc.service`, `stage` | calls their caller cancelled: `before_start` (skipped), `running` (the handler's context signalled) |
//! | `clamator.server.deduped` | counter | `rpc.service`, `outcome` | requests the dedupe window decided: `answered` (from the stored reply, handler not run), `took_over` (a copy that waited took a lapsed claim over), `gave_up` (a copy whose caller's deadline passed while it waited) |
//! | `clamator.server.poison` | counter | `rpc.service`, `kind` | entries dropped unrun (`not-json`, `bad-reply-to`, `no-envelope`, ...) |
//! | `clamator.server.group.lag` | gauge | `rpc.service` | entries of the command stream the service's group has not been handed yet (`XINFO GROUPS` lag; not set when Redis cannot tell) |
//! | `clamator.server.group.pending` | gauge | `rpc.service` | entries delivered to the group and not yet acknowledged, by any worker |
//! | `clamator.server.group.entries_read` | gauge | `rpc.service` | entries the group has been handed since it was created (`entries-read`) |
//! | `clamator.server.loop_restarts` | counter | `rpc.service`, `loop` (`consumer`, `reclaim`, `lease`, `housekeeping`, `finish`) | server loops restarted after a panic |
//! | `clamator.redis.reconnects` | counter | `role` (`shared`, `consumer`, `reply`) | connections re-opened after a failure |
//!
//! `rpc.method` is the wire method without the service (`add` of
//! `arith.add`). On servers a method the service does not have is
//! `_unknown`, so junk sent to a command stream cannot grow the number of
//! series. The group gauges are sampled once a second by the housekeeping loop from
//! the `XINFO GROUPS` it runs anyway: every worker of a pool reports the same
//! values.

#[cfg(feature = "metrics")]
pub(crate) use on::*;

#[cfg(not(feature = "metrics"))]
pub(crate) use off::*;

/// What a reply text says: `Ok(())` for a result, `Err(code)` for an error,
/// `None` when it cannot tell. Cheap: replies are built by
/// `clamator_protocol::envelope` as `{"jsonrpc":"2.0","id":..,"result":..}`
/// or `{..,"id":..,"error":{"code":N,..}}`, and `,"` never occurs inside a
/// JSON string (a quote there is escaped), so the first `,"result":` or
/// `,"error":{"code":` after the id is the member itself.
#[cfg_attr(not(any(feature = "metrics", test)), allow(dead_code))]
fn reply_outcome(text: &str) -> Option<Result<(), i64>> {
    const ERROR: &str = ",\"error\":{\"code\":";
    let result = text.find(",\"result\":");
    let error = text.find(ERROR);
    match (result, error) {
        (Some(r), Some(e)) if r < e => Some(Ok(())),
        (Some(_), None) => Some(Ok(())),
        (_, Some(e)) => {
            let rest = &text[e + ERROR.len()..];
            let end = rest
                .find(|c: char| c != '-' && !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[..end].parse().ok().map(Err)
        }
        (None, None) => None,
    }
}

#[cfg(feature = "metrics")]
mod on {
    use std::collections::HashMap;
    use std::future::Future;
    use std::sync::Arc;
    use std::time::Instant;

    use clamator_protocol::{Dispatcher, Error, Request, Response, TransportError};
    use metrics::{Label, SharedString, Unit, counter, gauge, histogram};
    use redis::streams::StreamInfoGroupsReply;

    const CLIENT_DURATION: &str = "rpc.client.duration";
    const CLIENT_CALLS: &str = "clamator.client.calls";
    const CLIENT_IN_FLIGHT: &str = "clamator.client.calls_in_flight";
    const CLIENT_TIMEOUTS: &str = "clamator.client.timeouts";
    const CLIENT_NOTIFICATIONS: &str = "clamator.client.notifications";
    const CLIENT_RETRIES: &str = "clamator.client.retries";
    const SERVER_DURATION: &str = "rpc.server.duration";
    const SERVER_REQUESTS: &str = "clamator.server.requests";
    const SERVER_BUSY: &str = "clamator.server.handlers_busy";
    const SERVER_RECLAIMED: &str = "clamator.server.reclaimed";
    const SERVER_DEAD: &str = "clamator.server.dead_letters";
    const SERVER_EXPIRED: &str = "clamator.server.expired_skipped";
    const SERVER_CANCELLED: &str = "clamator.server.cancelled";
    const SERVER_DEDUPED: &str = "clamator.server.deduped";
    const SERVER_POISON: &str = "clamator.server.poison";
    const SERVER_RETRIED: &str = "clamator.server.replies_retried";
    const SERVER_ABANDONED: &str = "clamator.server.replies_abandoned";
    const GROUP_LAG: &str = "clamator.server.group.lag";
    const GROUP_PENDING: &str = "clamator.server.group.pending";
    const GROUP_READ: &str = "clamator.server.group.entries_read";
    const RECONNECTS: &str = "clamator.redis.reconnects";
    const LOOP_RESTARTS: &str = "clamator.server.loop_restarts";

    const SERVICE: &str = "rpc.service";
    const METHOD: &str = "rpc.method";
    const OUTCOME: &str = "outcome";
    const ERROR_CODE: &str = "rpc.jsonrpc.error_code";
    /// The method label of a method the service does not have.
    const UNKNOWN: &str = "_unknown";

    /// Describes every metric to the recorder installed at the first use
    /// (units and help texts; a recorder installed later only lacks them).
    fn describe() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            use metrics::{describe_counter, describe_gauge, describe_histogram};
            describe_histogram!(
                CLIENT_DURATION,
                Unit::Seconds,
                "Duration of RPC calls made by this process, from sending to the reply or failure"
            );
            describe_counter!(CLIENT_CALLS, "RPC calls made by this process, by outcome");
            describe_gauge!(CLIENT_IN_FLIGHT, "RPC calls sent and not yet finished");
            describe_counter!(
                CLIENT_TIMEOUTS,
                "RPC calls that got no reply within their timeout"
            );
            describe_counter!(
                CLIENT_RETRIES,
                "Requests sent again by this process (client retries), by reason"
            );
            describe_counter!(
                CLIENT_NOTIFICATIONS,
                "Notifications sent by this process, by outcome"
            );
            describe_histogram!(
                SERVER_DURATION,
                Unit::Seconds,
                "Duration of handler runs on this server"
            );
            describe_counter!(
                SERVER_REQUESTS,
                "Requests and notifications handled on this server, by outcome"
            );
            describe_gauge!(SERVER_BUSY, "Handler slots in use on this server");
            describe_counter!(
                SERVER_RECLAIMED,
                "Entries taken over from another consumer and run here"
            );
            describe_counter!(SERVER_DEAD, "Entries moved to the dead-letter stream");
            describe_counter!(
                SERVER_EXPIRED,
                "Requests acknowledged unrun because their caller had given up"
            );
            describe_counter!(
                SERVER_CANCELLED,
                "Calls their caller cancelled: skipped before they started, or a running \
                 handler's context signalled, by stage"
            );
            describe_counter!(
                SERVER_DEDUPED,
                "Requests the dedupe window decided: answered from a stored reply, a copy \
                 that took a lapsed claim over, a copy whose caller gave up while it waited"
            );
            describe_counter!(SERVER_POISON, "Entries dropped unrun, by kind");
            describe_counter!(
                SERVER_RETRIED,
                "Reply writes Redis refused for now, kept to be written again"
            );
            describe_counter!(
                SERVER_ABANDONED,
                "Replies Redis refused until their caller's deadline passed"
            );
            describe_gauge!(
                GROUP_LAG,
                "Command-stream entries not yet handed to the service's consumer group"
            );
            describe_gauge!(
                GROUP_PENDING,
                "Entries delivered to the service's group and not yet acknowledged"
            );
            describe_gauge!(
                GROUP_READ,
                "Entries handed to the service's group since it was created"
            );
            describe_counter!(
                RECONNECTS,
                "Redis connections re-opened after a failure, by role"
            );
            describe_counter!(
                LOOP_RESTARTS,
                "Server loops restarted after a panic, by loop"
            );
        });
    }

    /// One call of a client, from sending to its outcome; counted in flight
    /// until dropped.
    #[derive(Debug)]
    pub(crate) struct ClientCall {
        service: SharedString,
        method: SharedString,
        started: Instant,
    }

    impl ClientCall {
        /// A call of `service` with this request envelope, now in flight.
        pub(crate) fn start(service: &str, method: &str) -> ClientCall {
            describe();
            let call = ClientCall {
                service: SharedString::from_owned(service.to_owned()),
                method: SharedString::from_owned(method.to_owned()),
                started: Instant::now(),
            };
            gauge!(CLIENT_IN_FLIGHT, SERVICE => call.service.clone()).increment(1.0);
            call
        }

        /// Records the call's outcome (the in-flight gauge goes down on drop).
        pub(crate) fn finish(self, result: &Result<Response, Error>) {
            let outcome = match result {
                Ok(Response::Success { .. }) => "ok",
                Ok(Response::Error { .. }) => "rpc_error",
                Err(Error::Transport(TransportError::Timeout { .. })) => "timeout",
                Err(_) => "transport_error",
            };
            let labels = [
                Label::new(SERVICE, self.service.clone()),
                Label::new(METHOD, self.method.clone()),
                Label::from_static_parts(OUTCOME, outcome),
            ];
            histogram!(CLIENT_DURATION, labels.iter()).record(self.started.elapsed().as_secs_f64());
            counter!(CLIENT_CALLS, labels.iter()).increment(1);
            if outcome == "timeout" {
                counter!(CLIENT_TIMEOUTS, labels[..2].iter()).increment(1);
            }
        }
    }

    impl Drop for ClientCall {
        fn drop(&mut self) {
            gauge!(CLIENT_IN_FLIGHT, SERVICE => self.service.clone()).decrement(1.0);
        }
    }

    /// A request of `service.method` was sent again, for `reason`
    /// (`send_failed`, `no_reply`).
    pub(crate) fn client_retry(service: &str, method: &str, reason: &'static str) {
        describe();
        counter!(CLIENT_RETRIES, SERVICE => service.to_owned(), METHOD => method.to_owned(),
            "reason" => reason)
        .increment(1);
    }

    /// One notification of a client.
    #[derive(Debug)]
    pub(crate) struct ClientNote {
        service: SharedString,
        method: SharedString,
    }

    impl ClientNote {
        /// A notification of `service` with this envelope.
        pub(crate) fn start(service: &str, method: &str) -> ClientNote {
            describe();
            ClientNote {
                service: SharedString::from_owned(service.to_owned()),
                method: SharedString::from_owned(method.to_owned()),
            }
        }

        /// Counts the notification by outcome.
        pub(crate) fn finish(self, result: &Result<(), Error>) {
            let outcome = if result.is_ok() {
                "ok"
            } else {
                "transport_error"
            };
            counter!(CLIENT_NOTIFICATIONS, SERVICE => self.service, METHOD => self.method,
                OUTCOME => outcome)
            .increment(1);
        }
    }

    /// The metrics of one service on one server: its labels, made once.
    #[derive(Debug)]
    pub(crate) struct ServiceMetrics {
        service: SharedString,
        /// The service's wire methods, as labels.
        methods: HashMap<String, SharedString>,
    }

    impl ServiceMetrics {
        /// For `service` as served by `dispatcher`.
        pub(crate) fn new(service: &str, dispatcher: &Dispatcher) -> ServiceMetrics {
            describe();
            let methods = dispatcher
                .descriptors()
                .filter(|d| d.service == service)
                .flat_map(|d| d.methods.iter())
                .map(|m| {
                    (
                        m.name.clone(),
                        SharedString::from(Arc::<str>::from(m.name.as_str())),
                    )
                })
                .collect();
            ServiceMetrics {
                service: SharedString::from(Arc::<str>::from(service)),
                methods,
            }
        }

        fn service(&self) -> Label {
            Label::new(SERVICE, self.service.clone())
        }

        /// A request about to be dispatched.
        pub(crate) fn request(&self, request: &Request) -> Handled {
            let method = self
                .methods
                .get(&request.method)
                .cloned()
                .unwrap_or(SharedString::const_str(UNKNOWN));
            Handled {
                service: self.service.clone(),
                method,
                started: Instant::now(),
            }
        }

        /// A handler started.
        pub(crate) fn handler_started(&self) {
            gauge!(SERVER_BUSY, [self.service()].iter()).increment(1.0);
        }

        /// A handler ended (finished, or abandoned).
        pub(crate) fn handler_ended(&self) {
            gauge!(SERVER_BUSY, [self.service()].iter()).decrement(1.0);
        }

        /// An entry was taken over from another consumer to run here.
        pub(crate) fn reclaimed(&self) {
            counter!(SERVER_RECLAIMED, [self.service()].iter()).increment(1);
        }

        /// An entry was moved to the dead-letter stream.
        pub(crate) fn dead_lettered(&self) {
            counter!(SERVER_DEAD, [self.service()].iter()).increment(1);
        }

        /// A request was acked unrun: its caller had given up.
        pub(crate) fn expired(&self) {
            counter!(SERVER_EXPIRED, [self.service()].iter()).increment(1);
        }

        /// The service's own group in a `XINFO GROUPS` reply, as gauges.
        pub(crate) fn group_info(&self, groups: &StreamInfoGroupsReply, group: &str) {
            let Some(own) = groups.groups.iter().find(|g| g.name == group) else {
                return;
            };
            let labels = [self.service()];
            if let Some(lag) = own.lag {
                gauge!(GROUP_LAG, labels.iter()).set(lag as f64);
            }
            gauge!(GROUP_PENDING, labels.iter()).set(own.pending as f64);
            if let Some(read) = own.entries_read {
                gauge!(GROUP_READ, labels.iter()).set(read as f64);
            }
        }
    }

    /// One request being handled.
    #[derive(Debug)]
    pub(crate) struct Handled {
        service: SharedString,
        method: SharedString,
        started: Instant,
    }

    impl Handled {
        /// The dispatch, recording its outcome (read from the reply) when
        /// it ends. A future written by hand: an `async fn` would hold the
        /// dispatch's future twice in every handler's task.
        pub(crate) fn wrap<F>(self, dispatch: F) -> Recorded<F>
        where
            F: Future<Output = Option<String>> + Send,
        {
            Recorded {
                dispatch,
                handled: Some(self),
            }
        }

        /// Records the outcome of a dispatch that answered `reply`.
        fn record(self, reply: Option<&str>) {
            let elapsed = self.started.elapsed().as_secs_f64();
            let (outcome, code) = match reply.map(super::reply_outcome) {
                None => ("notification", None),
                Some(Some(Ok(()))) => ("ok", None),
                Some(Some(Err(code))) => ("rpc_error", Some(code)),
                Some(None) => ("rpc_error", None),
            };
            let labels = [
                Label::new(SERVICE, self.service),
                Label::new(METHOD, self.method),
                Label::from_static_parts(OUTCOME, outcome),
            ];
            histogram!(SERVER_DURATION, labels.iter()).record(elapsed);
            match code {
                None => counter!(SERVER_REQUESTS, labels.iter()).increment(1),
                Some(code) => {
                    let mut labels = labels.to_vec();
                    labels.push(Label::new(ERROR_CODE, code.to_string()));
                    counter!(SERVER_REQUESTS, labels).increment(1);
                }
            }
        }
    }

    pin_project_lite::pin_project! {
        /// A dispatch whose outcome is recorded when it ends ([`Handled::wrap`]).
        pub(crate) struct Recorded<F> {
            #[pin]
            dispatch: F,
            handled: Option<Handled>,
        }
    }

    impl<F: Future<Output = Option<String>>> Future for Recorded<F> {
        type Output = Option<String>;

        fn poll(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<String>> {
            let this = self.project();
            let reply = std::task::ready!(this.dispatch.poll(cx));
            if let Some(handled) = this.handled.take() {
                handled.record(reply.as_deref());
            }
            std::task::Poll::Ready(reply)
        }
    }

    /// An entry of `service` was dropped unrun as poison of this kind.
    pub(crate) fn poison(service: &str, kind: &'static str) {
        counter!(SERVER_POISON, SERVICE => service.to_owned(), "kind" => kind).increment(1);
    }

    /// `n` calls of `service` cancelled by their callers at `stage`
    /// (`before_start`: skipped; `running`: the handler's context signalled).
    pub(crate) fn cancelled(service: &str, stage: &'static str, n: usize) {
        counter!(SERVER_CANCELLED, SERVICE => service.to_owned(), "stage" => stage)
            .increment(n as u64);
    }

    /// A request of `service` the dedupe window decided (`answered`,
    /// `took_over`, `gave_up`).
    pub(crate) fn deduped(service: &str, outcome: &'static str) {
        describe();
        counter!(SERVER_DEDUPED, SERVICE => service.to_owned(), "outcome" => outcome).increment(1);
    }

    /// A connection of this role (`shared`, `consumer`, `reply`) was re-opened.
    pub(crate) fn reconnect(role: &str) {
        counter!(RECONNECTS, "role" => role.to_owned()).increment(1);
    }

    /// `n` replies of `service` were refused for now and kept to write again.
    pub(crate) fn replies_retried(service: &str, n: usize) {
        describe();
        counter!(SERVER_RETRIED, SERVICE => service.to_owned()).increment(n as u64);
    }

    /// A reply of `service` was given up at its caller's deadline.
    pub(crate) fn reply_abandoned(service: &str) {
        describe();
        counter!(SERVER_ABANDONED, SERVICE => service.to_owned()).increment(1);
    }

    /// A loop (`consumer`, `reclaim`, ...) of `service` was restarted after a panic.
    pub(crate) fn loop_restarted(service: &str, which: &'static str) {
        describe();
        counter!(LOOP_RESTARTS, SERVICE => service.to_owned(), "loop" => which).increment(1);
    }
}

#[cfg(not(feature = "metrics"))]
mod off {
    //! The same API, empty: call sites need no `cfg`.
    use std::future::Future;

    use clamator_protocol::{Dispatcher, Error, Request, Response};
    use redis::streams::StreamInfoGroupsReply;

    /// Nothing.
    #[derive(Debug)]
    pub(crate) struct ClientCall;

    impl ClientCall {
        #[inline(always)]
        pub(crate) fn start(_service: &str, _method: &str) -> ClientCall {
            ClientCall
        }

        #[inline(always)]
        pub(crate) fn finish(self, _result: &Result<Response, Error>) {}
    }

    #[inline(always)]
    pub(crate) fn client_retry(_service: &str, _method: &str, _reason: &'static str) {}

    /// Nothing.
    #[derive(Debug)]
    pub(crate) struct ClientNote;

    impl ClientNote {
        #[inline(always)]
        pub(crate) fn start(_service: &str, _method: &str) -> ClientNote {
            ClientNote
        }

        #[inline(always)]
        pub(crate) fn finish(self, _result: &Result<(), Error>) {}
    }

    /// Nothing.
    #[derive(Debug)]
    pub(crate) struct ServiceMetrics;

    impl ServiceMetrics {
        #[inline(always)]
        pub(crate) fn new(_service: &str, _dispatcher: &Dispatcher) -> ServiceMetrics {
            ServiceMetrics
        }

        #[inline(always)]
        pub(crate) fn request(&self, _request: &Request) -> Handled {
            Handled
        }

        #[inline(always)]
        pub(crate) fn handler_started(&self) {}

        #[inline(always)]
        pub(crate) fn handler_ended(&self) {}

        #[inline(always)]
        pub(crate) fn reclaimed(&self) {}

        #[inline(always)]
        pub(crate) fn dead_lettered(&self) {}

        #[inline(always)]
        pub(crate) fn expired(&self) {}

        #[inline(always)]
        pub(crate) fn group_info(&self, _groups: &StreamInfoGroupsReply, _group: &str) {}
    }

    /// Nothing.
    #[derive(Debug)]
    pub(crate) struct Handled;

    impl Handled {
        #[inline(always)]
        pub(crate) fn wrap<F: Future>(self, dispatch: F) -> F {
            dispatch
        }
    }

    #[inline(always)]
    pub(crate) fn poison(_service: &str, _kind: &'static str) {}

    #[inline(always)]
    pub(crate) fn cancelled(_service: &str, _stage: &'static str, _n: usize) {}

    #[inline(always)]
    pub(crate) fn deduped(_service: &str, _outcome: &'static str) {}

    #[inline(always)]
    pub(crate) fn reconnect(_role: &str) {}

    #[inline(always)]
    pub(crate) fn replies_retried(_service: &str, _n: usize) {}

    #[inline(always)]
    pub(crate) fn reply_abandoned(_service: &str) {}

    #[inline(always)]
    pub(crate) fn loop_restarted(_service: &str, _which: &'static str) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use clamator_protocol::Id;
    use clamator_protocol::RpcError;
    use clamator_protocol::transport::{build_error, build_success};
    use serde_json::json;

    #[test]
    fn reads_the_outcome_of_replies_built_by_the_protocol() {
        let tricky = Id::Str(r#","result":1,"error":{"code":5}"#.to_owned());
        for id in [Id::Str("x".to_owned()), Id::Int(7), tricky] {
            let ok = build_success(&id, &json!({"error": {"code": 3}, "a": ",\"error\":"}));
            assert_eq!(reply_outcome(&ok), Some(Ok(())), "{ok}");
            let err = build_error(Some(&id), &RpcError::method_not_found());
            assert_eq!(reply_outcome(&err), Some(Err(-32601)), "{err}");
        }
        let no_id = build_error(None, &RpcError::new(-32700, "Parse error"));
        assert_eq!(reply_outcome(&no_id), Some(Err(-32700)));
        assert_eq!(reply_outcome("{junk"), None);
    }
}
