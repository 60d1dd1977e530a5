//! Unit tests of `options`.

use super::*;

const URL: &str = "redis://127.0.0.1:1";

#[test]
fn defaults_equal_the_peer_where_the_peer_has_them() {
    let s = ServerOptions::default();
    assert_eq!(s.consumer_claim_idle, Duration::from_millis(60_000));
    assert_eq!(s.reply_stream_maxlen, 1024);
    assert_eq!(s.shutdown_grace, Duration::from_millis(5_000));
    assert_eq!(s.max_concurrency, 64);
    assert_eq!(s.reclaim_period(), Duration::from_secs(15));
    assert_eq!(s.max_deliveries, Some(10));
    assert!(s.instance_id.is_none());
    assert_ne!(s.new_instance_id(), s.new_instance_id());
    let c = ClientOptions::default();
    assert_eq!(c.default_timeout, Duration::from_millis(30_000));
    let conn = ConnectOptions::new("app", URL).unwrap();
    assert_eq!(conn.key_prefix(), "app");
    assert_eq!(conn.command_timeout, DEFAULT_COMMAND_TIMEOUT);
}

#[test]
fn short_claim_idle_reclaims_every_second() {
    let s = ServerOptions::default()
        .consumer_claim_idle(Duration::from_millis(500))
        .instance_id("fixed");
    assert_eq!(s.reclaim_period(), Duration::from_secs(1));
    assert_eq!(s.new_instance_id(), "fixed");
}

#[test]
fn loops_pass_every_second_unless_a_test_shortens_them() {
    let second = Duration::from_secs(1);
    let s = ServerOptions::default();
    assert_eq!(
        s.timing,
        Timing {
            housekeeping: second,
            reclaim_floor: second,
            block: second,
        }
    );
    let tick = Duration::from_millis(50);
    let fast = ServerOptions::default()
        .consumer_claim_idle(Duration::from_millis(400))
        .__loop_tick(tick);
    assert_eq!(fast.timing, Timing::every(tick));
    assert_eq!(fast.reclaim_period(), Duration::from_millis(100));
    assert!(fast.validate().is_ok());
    assert!(matches!(
        ServerOptions::default()
            .__loop_tick(Duration::ZERO)
            .validate(),
        Err(ConfigError::ZeroDuration("__loop_tick"))
    ));
}

#[test]
fn rejects_unusable_settings() {
    assert!(matches!(
        ConnectOptions::new("", URL),
        Err(ConfigError::EmptyKeyPrefix)
    ));
    assert!(matches!(
        ConnectOptions::new("  ", URL),
        Err(ConfigError::EmptyKeyPrefix)
    ));
    assert!(matches!(
        ConnectOptions::new(" a", URL),
        Err(ConfigError::KeyPrefixWhitespace(_))
    ));
    let e = ConnectOptions::new("a", "http://x").unwrap_err();
    assert!(matches!(e, ConfigError::InvalidUrl { .. }));
    assert!(e.to_string().contains("not a valid Redis URL"), "{e}");
    assert!(matches!(
        ConnectOptions::new("a", URL)
            .unwrap()
            .command_timeout(Duration::ZERO)
            .validate(),
        Err(ConfigError::ZeroDuration("command_timeout"))
    ));
    let server = |s: ServerOptions| s.validate().unwrap_err();
    assert!(matches!(
        server(ServerOptions::default().max_concurrency(0)),
        ConfigError::ZeroCount {
            setting: "max_concurrency",
            ..
        }
    ));
    assert!(matches!(
        server(ServerOptions::default().reply_stream_maxlen(0)),
        ConfigError::ZeroCount {
            setting: "reply_stream_maxlen",
            ..
        }
    ));
    assert!(matches!(
        server(ServerOptions::default().max_deliveries(Some(0))),
        ConfigError::ZeroCount {
            setting: "max_deliveries",
            ..
        }
    ));
    assert!(matches!(
        server(ServerOptions::default().handler_timeout(Some(Duration::ZERO))),
        ConfigError::ZeroDuration("handler_timeout")
    ));
    for ok in [None, Some(1), Some(u32::MAX)] {
        ServerOptions::default()
            .max_deliveries(ok)
            .validate()
            .unwrap();
    }
    let client = |c: ClientOptions| c.validate().unwrap_err();
    for bad_id in ["", "a:b", "x\ny", &"z".repeat(300)] {
        assert!(matches!(
            client(ClientOptions::default().instance_id(bad_id)),
            ConfigError::InvalidInstanceId(_)
        ));
        assert!(matches!(
            server(ServerOptions::default().instance_id(bad_id)),
            ConfigError::InvalidInstanceId(_)
        ));
    }
    assert!(matches!(
        client(ClientOptions::default().default_timeout(Duration::ZERO)),
        ConfigError::ZeroDuration("default_timeout")
    ));
    assert!(matches!(
        client(ClientOptions::default().reply_stream_ttl(Some(Duration::from_millis(10)))),
        ConfigError::ReplyStreamTtlTooShort(_)
    ));
}

#[test]
fn client_retries_are_off_by_default_and_checked_at_connect() {
    use crate::retry::RetryPolicy;
    assert!(ClientOptions::default().retry.is_none());
    ClientOptions::default()
        .retry(Some(RetryPolicy::default()))
        .validate()
        .unwrap();
    let client = |p: RetryPolicy| {
        ClientOptions::default()
            .retry(Some(p))
            .validate()
            .unwrap_err()
    };
    assert!(matches!(
        client(RetryPolicy::new().resend_after(Duration::ZERO)),
        ConfigError::ZeroDuration("RetryPolicy::resend_after")
    ));
    assert!(matches!(
        client(RetryPolicy::new().max_attempts(0)),
        ConfigError::ZeroCount {
            setting: "RetryPolicy::max_attempts",
            ..
        }
    ));
    assert!(matches!(
        client(
            RetryPolicy::new()
                .backoff_first(Duration::from_secs(1))
                .backoff_max(Duration::from_millis(10))
        ),
        ConfigError::RetryBackoffBelowFirst { .. }
    ));
    // `None` turns retries off again.
    assert!(
        ClientOptions::default()
            .retry(Some(RetryPolicy::default()))
            .retry(None)
            .retry
            .is_none()
    );
}
