//! `clamator keda`: the KEDA objects it prints (compared line by line: the
//! YAML's lines are exact, and nothing here parses YAML), its refusals, and
//! `--check` against a throwaway redis-server.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use assert_cmd::Command;
use clamator_over_redis::ops::keys;
use clamator_test_support::{RedisServer, unique_prefix};

/// Bound on every subprocess.
const PROC_TIMEOUT: Duration = Duration::from_secs(30);

/// The binary with no inherited configuration and a time bound.
fn bare_cli() -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("clamator");
    cmd.env_remove("REDIS_URL")
        .env_remove("CLAMATOR_KEY_PREFIX")
        .env_remove("CLAMATOR_CLUSTER")
        .timeout(PROC_TIMEOUT);
    cmd
}

/// Runs the binary with `args`; asserts exit 0 and returns stdout's lines,
/// trimmed (the YAML's indentation is checked where it matters).
fn yaml(args: &[&str]) -> (String, Vec<String>) {
    let out = bare_cli().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines = text.lines().map(|l| l.trim().to_owned()).collect();
    (text, lines)
}

fn has(lines: &[String], line: &str, text: &str) {
    assert!(
        lines.iter().any(|l| l == line),
        "no line {line:?} in:\n{text}"
    );
}

fn lacks(lines: &[String], start: &str, text: &str) {
    assert!(
        !lines.iter().any(|l| l.starts_with(start)),
        "a line starting {start:?} in:\n{text}"
    );
}

#[test]
fn scaled_object_names_the_stream_group_and_thresholds() {
    let (text, lines) = yaml(&[
        "--redis-url",
        "redis://redis.prod.svc:6380/2",
        "--key-prefix",
        "shop",
        "keda",
        "arith",
        "--deployment",
        "arith-worker",
        "--namespace",
        "prod",
        "--max-replicas",
        "7",
        "--lag-count",
        "20",
        "--activation-lag",
        "3",
    ]);
    let stream = keys::command_stream("shop", "arith");
    assert_eq!(stream, "shop:cmds:arith");
    for line in [
        "apiVersion: keda.sh/v1alpha1",
        "kind: ScaledObject",
        "name: \"arith-worker\"",
        "namespace: \"prod\"",
        "minReplicaCount: 0",
        "maxReplicaCount: 7",
        "pollingInterval: 30",
        "cooldownPeriod: 300",
        "- type: redis-streams",
        "address: \"redis.prod.svc:6380\"",
        &format!("stream: \"{stream}\""),
        &format!("consumerGroup: \"{}\"", keys::group("arith")),
        "lagCount: \"20\"",
        "activationLagCount: \"3\"",
        "enableTLS: \"false\"",
        "databaseIndex: \"2\"",
    ] {
        has(&lines, line, &text);
    }
    assert!(
        text.contains("spec:\n  scaleTargetRef:\n    name: \"arith-worker\"\n"),
        "{text}"
    );
    assert!(
        text.contains("  triggers:\n    - type: redis-streams\n      metadata:\n"),
        "{text}"
    );
    for absent in [
        "pendingEntriesCount",
        "TriggerAuthentication",
        "authenticationRef",
        "---",
    ] {
        lacks(&lines, absent, &text);
    }
    assert!(!text.contains("TriggerAuthentication"), "{text}");
}

#[test]
fn defaults_and_a_second_trigger_on_pending() {
    // The lag trigger by default (the one that scales from zero), at 10.
    let (text, lines) = yaml(&[
        "--key-prefix",
        "app",
        "keda",
        "billing",
        "--deployment",
        "billing",
    ]);
    has(&lines, "lagCount: \"10\"", &text);
    has(&lines, "address: \"localhost:6379\"", &text);
    has(&lines, "enableTLS: \"false\"", &text);
    lacks(&lines, "pendingEntriesCount", &text);
    lacks(&lines, "databaseIndex", &text);
    lacks(&lines, "namespace", &text);
    lacks(&lines, "activationLagCount", &text);

    // Both: two triggers, each with the stream and group.
    let (text, lines) = yaml(&[
        "--key-prefix",
        "app",
        "keda",
        "billing",
        "--deployment",
        "billing",
        "--lag-count",
        "10",
        "--pending-count",
        "40",
        "--tls",
    ]);
    has(&lines, "lagCount: \"10\"", &text);
    has(&lines, "pendingEntriesCount: \"40\"", &text);
    has(&lines, "enableTLS: \"true\"", &text);
    let stream_line = format!("stream: \"{}\"", keys::command_stream("app", "billing"));
    assert_eq!(
        lines.iter().filter(|l| **l == stream_line).count(),
        2,
        "{text}"
    );

    // Pending alone, above zero replicas: only that trigger.
    let (text, lines) = yaml(&[
        "--key-prefix",
        "app",
        "keda",
        "billing",
        "--deployment",
        "billing",
        "--pending-count",
        "40",
        "--min-replicas",
        "1",
    ]);
    has(&lines, "pendingEntriesCount: \"40\"", &text);
    has(&lines, "minReplicaCount: 1", &text);
    lacks(&lines, "lagCount", &text);
}

#[test]
fn cluster_variant_lists_the_nodes() {
    let (text, lines) = yaml(&[
        "--redis-url",
        "redis://node-a:7000,redis://node-b:7001",
        "--key-prefix",
        "app",
        "keda",
        "arith",
        "--deployment",
        "arith",
        "--cluster",
    ]);
    has(&lines, "- type: redis-cluster-streams", &text);
    has(&lines, "addresses: \"node-a:7000, node-b:7001\"", &text);
    has(&lines, "stream: \"app:cmds:arith\"", &text);
    lacks(&lines, "address:", &text);
    lacks(&lines, "- type: redis-streams", &text);

    // --address names what KEDA reaches instead of --redis-url's hosts.
    let (text, lines) = yaml(&[
        "--key-prefix",
        "app",
        "keda",
        "arith",
        "--deployment",
        "arith",
        "--cluster",
        "--address",
        "redis-0.redis:6379,redis-1.redis:6379",
    ]);
    has(
        &lines,
        "addresses: \"redis-0.redis:6379, redis-1.redis:6379\"",
        &text,
    );
}

#[test]
fn password_secret_adds_a_trigger_authentication() {
    let (text, lines) = yaml(&[
        "--redis-url",
        "redis://:hunter2@redis:6379",
        "--key-prefix",
        "app",
        "keda",
        "arith",
        "--deployment",
        "arith-worker",
        "--password-secret",
        "redis-auth",
        "--password-key",
        "redis-password",
        "--username-key",
        "redis-user",
    ]);
    assert!(
        !text.contains("hunter2"),
        "the URL's password never prints:\n{text}"
    );
    let expected_auth = "apiVersion: keda.sh/v1alpha1\n\
         kind: TriggerAuthentication\n\
         metadata:\n  name: \"arith-worker-redis\"\n\
         spec:\n  secretTargetRef:\n\
         \x20   - parameter: username\n      name: \"redis-auth\"\n      key: \"redis-user\"\n\
         \x20   - parameter: password\n      name: \"redis-auth\"\n      key: \"redis-password\"\n\
         ---\n";
    assert!(text.contains(expected_auth), "{text}");
    assert!(
        text.contains("      authenticationRef:\n        name: \"arith-worker-redis\"\n"),
        "{text}"
    );
    has(&lines, "kind: ScaledObject", &text);

    // A password in the URL and no secret: KEDA would be refused; said on stderr.
    let out = bare_cli()
        .args([
            "--redis-url",
            "redis://:hunter2@redis:6379",
            "--key-prefix",
            "app",
        ])
        .args(["keda", "arith", "--deployment", "arith-worker"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--password-secret"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"));
}

#[test]
fn refusals_are_usage_errors() {
    for (args, says) in [
        (
            &[
                "--key-prefix",
                "app",
                "keda",
                "arith",
                "--deployment",
                "a",
                "--pending-count",
                "5",
            ][..],
            "cannot scale up from zero",
        ),
        (
            &[
                "--key-prefix",
                "app",
                "keda",
                "arith",
                "--deployment",
                "a",
                "--min-replicas",
                "3",
                "--max-replicas",
                "2",
            ][..],
            "--min-replicas 3 is above --max-replicas 2",
        ),
        (
            &["--key-prefix", "app", "keda", "Arith", "--deployment", "a"][..],
            "Arith",
        ),
        (&["keda", "arith", "--deployment", "a"][..], "--key-prefix"),
        (
            &[
                "--key-prefix",
                "app",
                "keda",
                "arith",
                "--deployment",
                "a",
                "--password-key",
                "k",
            ][..],
            "--password-secret",
        ),
    ] {
        let out = bare_cli().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn check_warns_until_the_group_exists() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let stream = keys::command_stream(&prefix, "arith");
    let check = || {
        let out = bare_cli()
            .args(["--redis-url", &redis.url(), "--key-prefix", &prefix])
            .args(["keda", "arith", "--deployment", "arith", "--check"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("kind: ScaledObject"));
        String::from_utf8(out.stderr).unwrap()
    };

    let stderr = check();
    assert!(stderr.contains("warning: the stream"), "{stderr}");
    assert!(
        stderr.contains(&format!("XGROUP CREATE {stream} arith 0 MKSTREAM")),
        "{stderr}"
    );

    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    for _ in 0..3 {
        let _: String = redis::cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("type")
            .arg("rpc")
            .query(&mut conn)
            .unwrap();
    }
    let stderr = check();
    assert!(stderr.contains("has no consumer group arith"), "{stderr}");

    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("arith")
        .arg("0")
        .query(&mut conn)
        .unwrap();
    let stderr = check();
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(stderr.contains("lag 3"), "{stderr}");
}
