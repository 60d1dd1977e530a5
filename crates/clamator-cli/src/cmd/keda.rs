//! `clamator keda <service>`: prints a KEDA `ScaledObject` (and, for a
//! password, its `TriggerAuthentication`) that scales a service's workers on
//! its command stream's consumer group, with KEDA's `redis-streams` scaler
//! (`redis-cluster-streams` with `--cluster`).
//!
//! The stream and group are the ones servers use (`keys::command_stream`,
//! `keys::group`), under the global key prefix; the Redis address comes from
//! the global `--redis-url` unless `--address` names the one KEDA reaches.
//! Connects to nothing, unless `--check` reads the group's `lag` on Redis.
//!
//! The YAML is written by hand: every value the user gives is a
//! double-quoted scalar (a JSON string, which YAML reads the same), and KEDA's
//! trigger metadata values are strings, so numbers there are quoted too.

use std::fmt::Write as _;

use clamator_over_redis::ops::keys;
use clamator_protocol::names;
use redis::streams::StreamInfoGroupsReply;
use redis::{ConnectionAddr, IntoConnectionInfo};

use crate::conn::{Redis, is_no_such_key, redact};
use crate::error::CliError;
use crate::global::Global;
use crate::output;

/// Options of `clamator keda`.
#[derive(clap::Args, Debug)]
pub(crate) struct KedaArgs {
    /// The service whose workers to scale (its stream is `<prefix>:cmds:<service>`,
    /// its consumer group `<service>`).
    #[arg(value_name = "SERVICE")]
    service: String,
    /// The Deployment (or other scale target) running the service's workers.
    #[arg(long, value_name = "NAME")]
    deployment: String,
    /// The Kubernetes namespace of the Deployment (and of the objects printed).
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// The fewest replicas; 0 lets KEDA scale the workers away when nothing waits
    /// (needs the lag trigger).
    #[arg(long, default_value_t = 0, value_name = "N")]
    min_replicas: u32,
    /// The most replicas.
    #[arg(long, default_value_t = 10, value_name = "N")]
    max_replicas: u32,
    /// Target entries not yet delivered per replica (`lagCount`: XINFO GROUPS
    /// `lag`, Redis 7+). Default 10; left out when only --pending-count is
    /// given (then --min-replicas must be at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    lag_count: Option<u64>,
    /// Also (or instead) scale on delivered, unacknowledged entries per replica
    /// (`pendingEntriesCount`: XPENDING); cannot wake a service scaled to zero.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pending_count: Option<u64>,
    /// Lag above which a service at zero replicas is woken (`activationLagCount`;
    /// KEDA's default 0: the first waiting request).
    #[arg(long, value_name = "N")]
    activation_lag: Option<u64>,
    /// How often KEDA reads the group, in seconds (`pollingInterval`).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    polling_interval: u32,
    /// How long after the last activity KEDA waits before scaling to zero, in
    /// seconds (`cooldownPeriod`).
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    cooldown_period: u32,
    /// The `host:port` KEDA reaches Redis at, when it differs from --redis-url's
    /// (give it several times, or comma-separated, for cluster nodes).
    #[arg(long, value_delimiter = ',', value_name = "HOST:PORT")]
    address: Vec<String>,
    /// TLS to Redis (`enableTLS`); implied by a `rediss://` URL.
    #[arg(long)]
    tls: bool,
    /// A Kubernetes Secret holding the Redis password: prints a
    /// TriggerAuthentication reading it, and references it.
    #[arg(long, value_name = "SECRET")]
    password_secret: Option<String>,
    /// The key of the password in --password-secret.
    #[arg(
        long,
        default_value = "password",
        value_name = "KEY",
        requires = "password_secret"
    )]
    password_key: String,
    /// The key in --password-secret holding the ACL user name (a `clamator acl`
    /// user; without it KEDA authenticates as `default`).
    #[arg(long, value_name = "KEY", requires = "password_secret")]
    username_key: Option<String>,
    /// Also read the group on Redis now and warn (on stderr) when KEDA could not
    /// scale on it: no stream or group yet, or a `lag` Redis does not report.
    #[arg(long)]
    check: bool,
}

/// What KEDA is told, checked: every value the YAML prints.
#[derive(Debug)]
struct Plan {
    /// `<prefix>:cmds:<service>`.
    stream: String,
    /// `<service>`.
    group: String,
    /// `host:port` of each node (one unless a cluster).
    addresses: Vec<String>,
    /// `redis-cluster-streams` with `addresses`, else `redis-streams` with `address`.
    cluster: bool,
    /// `enableTLS`.
    tls: bool,
    /// `databaseIndex` (never on a cluster).
    db: i64,
    /// `lagCount`.
    lag_count: Option<u64>,
    /// Whether the URL carries a password (KEDA needs it too).
    url_has_password: bool,
}

/// Prints the YAML; with `--check`, then reads the group and warns.
pub(crate) async fn run(global: &Global, args: KedaArgs) -> Result<(), CliError> {
    let prefix = global.prefix("keda")?;
    let plan = plan(global, prefix, &args)?;
    if plan.url_has_password && args.password_secret.is_none() {
        eprintln!(
            "warning: the Redis URL has a password; KEDA needs it too: put it in a Secret and \
             pass --password-secret <name> (and --password-key if its key is not `password`)"
        );
    }
    output::line(render(&args, &plan).trim_end())?;
    if args.check {
        for warning in check(global, &plan).await? {
            eprintln!("warning: {warning}");
        }
    }
    Ok(())
}

/// Checks the arguments and works out the stream, group and addresses.
fn plan(global: &Global, prefix: &str, args: &KedaArgs) -> Result<Plan, CliError> {
    names::check_service(&args.service).map_err(|e| CliError::Usage(format!("{e}")))?;
    if args.min_replicas > args.max_replicas {
        return Err(CliError::Usage(format!(
            "--min-replicas {} is above --max-replicas {}",
            args.min_replicas, args.max_replicas
        )));
    }
    if args.max_replicas == 0 {
        return Err(CliError::Usage(
            "--max-replicas 0 would never run a worker: give at least 1".to_owned(),
        ));
    }
    // Only the lag trigger wakes a service at zero replicas: with none waiting,
    // nothing is pending, and KEDA never activates on pendingEntriesCount.
    let lag_count = match (args.lag_count, args.pending_count) {
        (Some(lag), _) => Some(lag),
        (None, None) => Some(10),
        (None, Some(_)) if args.min_replicas == 0 => {
            return Err(CliError::Usage(
                "--pending-count alone cannot scale up from zero replicas (nothing is pending \
                 while no worker runs): add --lag-count N, or pass --min-replicas 1"
                    .to_owned(),
            ));
        }
        (None, Some(_)) => None,
    };
    if args.activation_lag.is_some() && lag_count.is_none() {
        return Err(CliError::Usage(
            "--activation-lag needs the lag trigger: add --lag-count N".to_owned(),
        ));
    }

    let mut addresses = Vec::new();
    let mut tls = args.tls;
    let mut db = 0;
    let mut url_has_password = false;
    for url in &global.redis_urls {
        let info = url
            .as_str()
            .into_connection_info()
            .map_err(|e| CliError::Usage(format!("--redis-url {}: {e}", redact(url))))?;
        let (host, port) = match info.addr() {
            ConnectionAddr::Tcp(host, port) => (host, port),
            ConnectionAddr::TcpTls { host, port, .. } => {
                tls = true;
                (host, port)
            }
            _ => {
                if args.address.is_empty() {
                    return Err(CliError::Usage(format!(
                        "--redis-url {} is not a TCP address KEDA can reach: pass --address \
                         HOST:PORT",
                        redact(url)
                    )));
                }
                continue;
            }
        };
        addresses.push(if host.contains(':') {
            format!("[{host}]:{port}") // IPv6
        } else {
            format!("{host}:{port}")
        });
        db = info.redis_settings().db();
        url_has_password |= info.redis_settings().password().is_some();
    }
    if !args.address.is_empty() {
        addresses = args
            .address
            .iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
    }
    if addresses.is_empty() {
        return Err(CliError::Usage(
            "no Redis address: pass --address HOST:PORT".to_owned(),
        ));
    }
    if !global.cluster && addresses.len() > 1 {
        return Err(CliError::Usage(format!(
            "{} addresses for one Redis: pass --cluster for a Redis Cluster, or one --address",
            addresses.len()
        )));
    }
    Ok(Plan {
        stream: keys::command_stream(prefix, &args.service),
        group: keys::group(&args.service),
        addresses,
        cluster: global.cluster,
        tls,
        db: if global.cluster { 0 } else { db },
        lag_count,
        url_has_password,
    })
}

/// A YAML double-quoted scalar (a JSON string reads the same in YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The YAML documents: the TriggerAuthentication (with a secret), then the
/// ScaledObject.
fn render(args: &KedaArgs, plan: &Plan) -> String {
    let auth_name = format!("{}-redis", args.deployment);
    let namespace = args
        .namespace
        .as_deref()
        .map(|ns| format!("  namespace: {}\n", q(ns)))
        .unwrap_or_default();
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# clamator keda {}: scale the workers of service {} on the consumer group {}\n\
         # of {} (KEDA's lagCount reads XINFO GROUPS lag, Redis 7+).",
        args.service,
        q(&args.service),
        q(&plan.group),
        q(&plan.stream)
    );
    if let Some(secret) = &args.password_secret {
        let _ = write!(
            y,
            "apiVersion: keda.sh/v1alpha1\n\
             kind: TriggerAuthentication\n\
             metadata:\n  name: {}\n{namespace}\
             spec:\n  secretTargetRef:\n",
            q(&auth_name)
        );
        if let Some(key) = &args.username_key {
            let _ = write!(
                y,
                "    - parameter: username\n      name: {}\n      key: {}\n",
                q(secret),
                q(key)
            );
        }
        let _ = write!(
            y,
            "    - parameter: password\n      name: {}\n      key: {}\n---\n",
            q(secret),
            q(&args.password_key)
        );
    }
    let _ = write!(
        y,
        "apiVersion: keda.sh/v1alpha1\n\
         kind: ScaledObject\n\
         metadata:\n  name: {}\n{namespace}\
         spec:\n  scaleTargetRef:\n    name: {}\n\
         \x20 minReplicaCount: {}\n  maxReplicaCount: {}\n\
         \x20 pollingInterval: {}\n  cooldownPeriod: {}\n  triggers:\n",
        q(&args.deployment),
        q(&args.deployment),
        args.min_replicas,
        args.max_replicas,
        args.polling_interval,
        args.cooldown_period,
    );
    let mut triggers = Vec::new();
    if let Some(lag) = plan.lag_count {
        let mut m = format!("        lagCount: {}\n", q(&lag.to_string()));
        if let Some(activation) = args.activation_lag {
            let _ = writeln!(
                m,
                "        activationLagCount: {}",
                q(&activation.to_string())
            );
        }
        triggers.push(m);
    }
    if let Some(pending) = args.pending_count {
        triggers.push(format!(
            "        pendingEntriesCount: {}\n",
            q(&pending.to_string())
        ));
    }
    for threshold in triggers {
        let (kind, address) = if plan.cluster {
            (
                "redis-cluster-streams",
                format!("addresses: {}", q(&plan.addresses.join(", "))),
            )
        } else {
            (
                "redis-streams",
                format!("address: {}", q(&plan.addresses.join(""))),
            )
        };
        let _ = write!(
            y,
            "    - type: {kind}\n      metadata:\n        {address}\n\
             \x20       stream: {}\n        consumerGroup: {}\n{threshold}\
             \x20       enableTLS: {}\n",
            q(&plan.stream),
            q(&plan.group),
            q(&plan.tls.to_string()),
        );
        if plan.db != 0 {
            let _ = writeln!(y, "        databaseIndex: {}", q(&plan.db.to_string()));
        }
        if args.password_secret.is_some() {
            let _ = writeln!(
                y,
                "      authenticationRef:\n        name: {}",
                q(&auth_name)
            );
        }
    }
    y
}

/// Reads the group on Redis: what would keep KEDA from scaling on it.
async fn check(global: &Global, plan: &Plan) -> Result<Vec<String>, CliError> {
    let mut redis = Redis::connect(&global.target()?).await?;
    let create = format!("XGROUP CREATE {} {} 0 MKSTREAM", plan.stream, plan.group);
    let groups: StreamInfoGroupsReply = match redis
        .try_query(redis::cmd("XINFO").arg("GROUPS").arg(&plan.stream))
        .await?
    {
        Ok(groups) => groups,
        Err(e) if is_no_such_key(&e) => {
            return Ok(vec![format!(
                "the stream {} does not exist yet: KEDA's scaler fails on it (and never wakes \
                 workers at zero) until a server of the service has started once, or you run \
                 `{create}`",
                plan.stream
            )]);
        }
        Err(e) => return Err(redis.error(&format!("XINFO GROUPS {}", plan.stream), e)),
    };
    let Some(group) = groups.groups.iter().find(|g| g.name == plan.group) else {
        return Ok(vec![format!(
            "{} has no consumer group {}: KEDA's scaler fails on it until a server of the \
             service has started once, or you run `{create}`",
            plan.stream, plan.group
        )]);
    };
    let mut warnings = Vec::new();
    match group.lag {
        Some(lag) => eprintln!(
            "check: group {} on {}: lag {lag}, pending {} (KEDA's lagCount reads the lag)",
            plan.group, plan.stream, group.pending
        ),
        None if plan.lag_count.is_some() => warnings.push(format!(
            "Redis reports no lag for group {} on {} (Redis before 7.0, or entries after the \
             group's last-delivered id {} were deleted with XDEL): KEDA's lagCount trigger \
             cannot read it until the group has read past them",
            plan.group, plan.stream, group.last_delivered_id
        )),
        None => {}
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_is_yaml_double_quoted() {
        assert_eq!(q("app:cmds:arith"), "\"app:cmds:arith\"");
        assert_eq!(q("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
