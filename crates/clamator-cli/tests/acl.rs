//! The `clamator` CLI run as an ACL user with exactly the operator rules
//! `clamator acl operator` prints: every command works and Redis refuses
//! nothing it sends (`ACL LOG` stays empty for that user).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use assert_cmd::Command;
use clamator_arith::{ArithContract, ArithHandler};
use clamator_over_redis::ops::acl::Role;
use clamator_over_redis::ops::keys;
use clamator_over_redis::{ConnectOptions, RedisRpcServer};
use clamator_test_support::{RedisServer, unique_prefix};

/// Bound on every subprocess and await.
const WAIT: Duration = Duration::from_secs(30);

fn query<T: redis::FromRedisValue>(conn: &mut redis::Connection, cmd: &mut redis::Cmd) -> T {
    cmd.query(conn).unwrap()
}

#[test]
fn the_operator_role_runs_every_command_with_exactly_its_acl() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let mut admin = redis::Client::open(redis.url())
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();

    // The rules the CLI itself prints are the ones tested.
    let out = Command::cargo_bin("clamator")
        .unwrap()
        .args([
            "--key-prefix",
            &prefix,
            "--json",
            "acl",
            "operator",
            "--user",
            "op",
        ])
        .timeout(WAIT)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = printed["rules"].as_str().unwrap().to_owned();
    assert_eq!(rules, Role::Operator.rules(&prefix, true));
    let mut setuser = redis::cmd("ACL");
    setuser.arg("SETUSER").arg("op").arg("on").arg(">pw");
    for rule in rules.split(' ') {
        setuser.arg(rule);
    }
    let () = query(&mut admin, &mut setuser);

    // A worker (the default user) and a dead letter to list and requeue.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(async {
            tokio::time::timeout(
                WAIT,
                RedisRpcServer::builder(ConnectOptions::new(&prefix, &redis.url()).unwrap())
                    .register(ArithContract, ArithHandler::new("w1"))
                    .unwrap()
                    .start(),
            )
            .await
        })
        .unwrap()
        .unwrap();
    let dead = keys::dead_letter_stream(&prefix, "arith");
    let _: String = query(
        &mut admin,
        redis::cmd("XADD")
            .arg(&dead)
            .arg("*")
            .arg(keys::FIELD_TYPE)
            .arg(keys::TYPE_RPC)
            .arg(keys::FIELD_ENVELOPE)
            .arg(r#"{"jsonrpc":"2.0","method":"arith.ping","params":{}}"#)
            .arg(keys::FIELD_DEAD_ID)
            .arg("1-0")
            .arg(keys::FIELD_DEAD_DELIVERIES)
            .arg(10),
    );

    let url = format!("redis://op:pw@127.0.0.1:{}", redis.port());
    let run = |args: &[&str]| {
        let out = Command::cargo_bin("clamator")
            .unwrap()
            .env_remove("REDIS_URL")
            .env_remove("CLAMATOR_KEY_PREFIX")
            .args(["--redis-url", &url, "--key-prefix", &prefix])
            .args(args)
            .timeout(WAIT)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "clamator {args:?}: {out:?}");
    };
    run(&["call", "arith.add", r#"{"a": 1, "b": 2}"#]);
    run(&["notify", "arith.ping"]);
    run(&["services"]);
    run(&["pending", "arith"]);
    run(&["dead", "arith"]);
    run(&["dead", "arith", "--requeue", "--yes"]);
    run(&["replies"]);
    run(&["gc", "--older-than", "0s", "--yes"]);
    run(&["tail", "arith", "--from-start", "--count", "1"]);
    run(&["top", "--json", "--count", "2"]);

    rt.block_on(async { tokio::time::timeout(WAIT, server.stop()).await })
        .unwrap();
    let log: Vec<redis::Value> = query(&mut admin, redis::cmd("ACL").arg("LOG").arg(1000));
    let refused: Vec<Vec<(String, String)>> = log
        .into_iter()
        .map(fields)
        .filter(|f| f.iter().any(|(k, v)| k == "username" && v == "op"))
        .collect();
    assert!(
        refused.is_empty(),
        "Redis refused the operator: {refused:?}"
    );
    // ACL LOG records refusals: a command outside the rules shows up.
    let op = redis::Client::open(url.as_str()).unwrap();
    let mut op = op
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    assert!(redis::cmd("FLUSHALL").query::<()>(&mut op).is_err());
    let log: Vec<redis::Value> = query(&mut admin, redis::cmd("ACL").arg("LOG").arg(1000));
    assert!(
        log.into_iter()
            .map(fields)
            .any(|f| f.iter().any(|(k, v)| k == "object" && v == "flushall"))
    );
}

/// An `ACL LOG` entry's string fields.
fn fields(entry: redis::Value) -> Vec<(String, String)> {
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    let pairs: Vec<(redis::Value, redis::Value)> = match entry {
        redis::Value::Map(m) => m,
        redis::Value::Array(items) => items
            .chunks(2)
            .filter_map(|c| Some((c.first()?.clone(), c.get(1)?.clone())))
            .collect(),
        _ => Vec::new(),
    };
    pairs
        .iter()
        .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
        .collect()
}

#[test]
fn per_service_rules_are_printed_and_checked() {
    let run = |args: &[&str]| {
        Command::cargo_bin("clamator")
            .unwrap()
            .env_remove("REDIS_URL")
            .env_remove("CLAMATOR_KEY_PREFIX")
            .args(["--key-prefix", "myapp", "--json", "acl"])
            .args(args)
            .timeout(WAIT)
            .output()
            .unwrap()
    };
    let rules = |args: &[&str]| {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        printed["rules"].as_str().unwrap().to_owned()
    };
    use clamator_over_redis::ops::acl::ReplyStreams;
    assert_eq!(
        rules(&["client", "--services", "arith,billing", "--user", "web"]),
        Role::Client
            .rules_for("myapp", &["arith", "billing"], ReplyStreams::All, true)
            .unwrap()
    );
    assert_eq!(
        rules(&["client", "--services", "arith", "--instance-prefix", "web-"]),
        Role::Client
            .rules_for("myapp", &["arith"], ReplyStreams::Prefixed("web-"), true)
            .unwrap()
    );
    assert_eq!(
        rules(&["server", "--services", "arith", "--minimal"]),
        Role::Server
            .rules_for("myapp", &["arith"], ReplyStreams::All, false)
            .unwrap()
    );
    // Refused: the operator per service, a bad service name, an instance
    // flag without --services.
    for args in [
        &["operator", "--services", "arith"][..],
        &["client", "--services", "Arith"],
        &["client", "--instance-id", "web-1"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
}
