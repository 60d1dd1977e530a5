//! Every `clamator` command against a Redis Cluster of 3 primaries (the test
//! binary's shared cluster), with an `arith` worker in the test process:
//! `services`, `replies` and `gc` must see the streams of every primary.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use assert_cmd::Command;
use clamator_arith::{ArithContract, ArithHandler};
use clamator_over_redis::ops::keys;
use clamator_over_redis::{ConnectOptions, RedisRpcServer, ServerOptions};
use clamator_test_support::cluster::{ClusterSetup, shared_cluster};
use clamator_test_support::unique_prefix;
use serde_json::{Value, json};

const PROC_TIMEOUT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(10);

/// `clamator --cluster --redis-url <one seed> --key-prefix <prefix>`.
fn cli(cluster: &ClusterSetup, prefix: &str) -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("clamator");
    let seed = cluster.seeds().pop().unwrap();
    cmd.env_remove("REDIS_URL")
        .env_remove("CLAMATOR_CLUSTER")
        .env_remove("CLAMATOR_KEY_PREFIX")
        .timeout(PROC_TIMEOUT)
        .args(["--cluster", "--redis-url", &seed, "--key-prefix", prefix]);
    cmd
}

fn json_out(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// XADDs a reply-stream entry with id `id` to `key` (through the cluster).
fn xadd_reply(conn: &mut redis::cluster::ClusterConnection, key: &str, id: &str) {
    let _: String = redis::cmd("XADD")
        .arg(key)
        .arg(id)
        .arg(keys::FIELD_TYPE)
        .arg(keys::TYPE_RPC)
        .arg(keys::FIELD_ENVELOPE)
        .arg(r#"{"jsonrpc":"2.0","id":"x","result":{}}"#)
        .query(conn)
        .unwrap();
}

#[test]
fn every_command_works_on_a_cluster() {
    let cluster = shared_cluster();
    let prefix = unique_prefix();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let conn = ConnectOptions::cluster(&prefix, cluster.seeds()).unwrap();
    let server = rt
        .block_on(async {
            tokio::time::timeout(
                WAIT,
                RedisRpcServer::builder(conn)
                    .options(ServerOptions::default().instance_id("t1"))
                    .register(ArithContract, ArithHandler::new("t1"))
                    .unwrap()
                    .start(),
            )
            .await
        })
        .unwrap()
        .unwrap();

    // call, notify.
    let v = json_out(cli(cluster, &prefix).args(["call", "arith.add", r#"{"a":2,"b":3}"#]));
    assert_eq!(v, json!({"sum": 5.0}));
    cli(cluster, &prefix)
        .args(["notify", "arith.ping", "{}"])
        .assert()
        .success();
    // Several seeds in $REDIS_URL (comma-separated) imply a cluster.
    let mut by_env = assert_cmd::cargo::cargo_bin_cmd!("clamator");
    by_env
        .env("REDIS_URL", cluster.url())
        .env_remove("CLAMATOR_CLUSTER")
        .env("CLAMATOR_KEY_PREFIX", &prefix)
        .timeout(PROC_TIMEOUT)
        .args(["call", "arith.add", r#"{"a":1,"b":1}"#]);
    assert_eq!(json_out(&mut by_env), json!({"sum": 2.0}));

    // Reply streams on every primary: one per primary, idle (old ids), plus a fresh one.
    let client = redis::cluster::ClusterClient::new(cluster.seeds()).unwrap();
    let mut raw = client.get_connection().unwrap();
    let mut idle = std::collections::BTreeMap::new();
    for i in 0.. {
        let key = keys::reply_stream(&prefix, &format!("old{i}"));
        let primary = cluster.primary_of(&key).unwrap();
        if let std::collections::btree_map::Entry::Vacant(e) = idle.entry(primary) {
            xadd_reply(&mut raw, &key, "1000-0");
            e.insert(format!("old{i}"));
        }
        if idle.len() == 3 {
            break;
        }
    }
    xadd_reply(&mut raw, &keys::reply_stream(&prefix, "fresh"), "*");

    // services: arith, its group and consumer.
    let v = json_out(cli(cluster, &prefix).args(["--json", "services"]));
    let text = v.to_string();
    assert!(
        text.contains("\"arith\"") && text.contains("arith:t1"),
        "{v}"
    );
    // pending: nothing.
    let v = json_out(cli(cluster, &prefix).args(["--json", "pending", "arith"]));
    assert!(
        v.to_string().contains("[]") || v.as_array().is_some_and(Vec::is_empty),
        "{v}"
    );
    // dead: nothing.
    cli(cluster, &prefix)
        .args(["--json", "dead", "arith"])
        .assert()
        .success();
    // replies: the streams of all three primaries.
    let v = json_out(cli(cluster, &prefix).args(["--json", "replies"]));
    let names: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["instance"].as_str().unwrap().to_owned())
        .collect();
    for instance in idle.values() {
        assert!(
            names.contains(instance),
            "{instance} missing from {names:?}"
        );
    }
    assert!(names.contains(&"fresh".to_owned()), "{names:?}");
    // gc: deletes the idle ones on every primary, keeps the fresh one.
    cli(cluster, &prefix)
        .args(["gc", "--older-than", "1h", "--yes"])
        .assert()
        .success();
    for instance in idle.values() {
        let exists: bool = redis::cmd("EXISTS")
            .arg(keys::reply_stream(&prefix, instance))
            .query(&mut raw)
            .unwrap();
        assert!(!exists, "{instance} survived gc");
    }
    let fresh: bool = redis::cmd("EXISTS")
        .arg(keys::reply_stream(&prefix, "fresh"))
        .query(&mut raw)
        .unwrap();
    assert!(fresh);
    // tail: the requests made above (their CLI clients deleted their reply
    // streams on exit), and one from a client still running, with its reply.
    let client = rt
        .block_on(async {
            tokio::time::timeout(
                WAIT,
                clamator_over_redis::RedisRpcClient::connect(
                    ConnectOptions::cluster(&prefix, cluster.seeds()).unwrap(),
                ),
            )
            .await
        })
        .unwrap()
        .unwrap();
    let v = rt
        .block_on(client.call("arith", "add", json!({"a": 7, "b": 1}), None))
        .unwrap();
    assert_eq!(v, json!({"sum": 8.0}));
    let out = cli(cluster, &prefix)
        .args([
            "--json",
            "tail",
            "arith",
            "--from-start",
            "--replies",
            "--count",
            "5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["request", "notification", "request", "request", "reply"],
        "{lines:?}"
    );
    // top: one sample.
    cli(cluster, &prefix)
        .args(["--json", "top", "--count", "1"])
        .assert()
        .success();
    // acl: needs no connection.
    cli(cluster, &prefix)
        .args(["acl", "server"])
        .assert()
        .success();

    rt.block_on(async { tokio::time::timeout(WAIT, client.close()).await })
        .unwrap();
    rt.block_on(async { tokio::time::timeout(WAIT, server.stop()).await })
        .unwrap();
}
