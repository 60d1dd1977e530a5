//! `Conn::open`: the one way tools open a connection from `ConnectOptions`
//! (the `clamator` CLI uses it): a usable connection to a real Redis, and
//! errors that say what failed when there is none.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use clamator_over_redis::ops::Conn;
use clamator_over_redis::{ConfigError, ConnectError, ConnectOptions, Refusal};
use clamator_test_support::{ClosedPort, RedisServer};

/// Bound on every await.
const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn opens_a_connection_that_runs_commands() {
    let redis = RedisServer::start();
    let options = ConnectOptions::new("open", &redis.url()).unwrap();
    let mut conn = tokio::time::timeout(WAIT, Conn::open(&options))
        .await
        .expect("opened in time")
        .expect("opened");
    assert!(!conn.is_cluster());
    let pong: String = tokio::time::timeout(WAIT, redis::cmd("PING").query_async(&mut conn))
        .await
        .expect("answered in time")
        .unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn nothing_listening_is_unreachable_within_the_timeout() {
    let closed = ClosedPort::reserve();
    let url = closed.url();
    let options = ConnectOptions::new("open", &url)
        .unwrap()
        .command_timeout(Duration::from_secs(1));
    let e = tokio::time::timeout(WAIT, Conn::open(&options))
        .await
        .expect("fails in time")
        .expect_err("nothing listens there");
    match &e {
        ConnectError::Unreachable { addr, source, .. } => {
            assert_eq!(addr, &url["redis://".len()..], "{e}");
            assert!(
                matches!(
                    source.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::TimedOut
                ),
                "{source:?}"
            );
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(e.to_string().contains("connecting to Redis"), "{e}");
}

#[tokio::test]
async fn a_wrong_password_is_a_refusal_that_says_what_to_check() {
    let redis = RedisServer::start();
    let url = redis.url().replacen("redis://", "redis://nobody:wrong@", 1);
    let options = ConnectOptions::new("open", &url).unwrap();
    let e = tokio::time::timeout(WAIT, Conn::open(&options))
        .await
        .expect("fails in time")
        .expect_err("the user does not exist");
    assert!(
        matches!(
            e,
            ConnectError::Refused {
                reason: Refusal::Credentials,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("password"), "{e}");
}

#[tokio::test]
async fn a_zero_timeout_is_a_configuration_error() {
    let options = ConnectOptions::new("open", "redis://127.0.0.1:1")
        .unwrap()
        .command_timeout(Duration::ZERO);
    let e = Conn::open(&options).await.expect_err("zero timeout");
    assert!(
        matches!(
            e,
            ConnectError::Config(ConfigError::ZeroDuration("command_timeout"))
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("command_timeout"), "{e}");
}
