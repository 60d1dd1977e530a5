//! `clamator acl <role>`: prints the `ACL SETUSER` line that gives a user
//! exactly what a server, a client or this CLI needs under the key prefix,
//! or (`--services`) only on some services' streams. Connects to nothing.

use clamator_over_redis::ops::acl::{ReplyStreams, Role};
use serde_json::json;

use crate::error::CliError;
use crate::global::Global;
use crate::output;

/// Options of `clamator acl`.
#[derive(clap::Args, Debug)]
pub(crate) struct AclArgs {
    /// The role: `server` (a worker), `client` (makes calls) or `operator` (this CLI).
    #[arg(value_name = "ROLE")]
    role: Role,
    /// The ACL user name.
    #[arg(long, default_value = "clamator")]
    user: String,
    /// Leave out the optional commands (`client|id`, `client|unblock`: a
    /// server's prompt stop; without them a stop waits up to 1 s).
    #[arg(long)]
    minimal: bool,
    /// Limit a server or a client to these services' streams
    /// (comma-separated; Redis 7 key permissions): a client may only add
    /// requests and cancels to them, a server only serve them.
    #[arg(long, value_name = "SERVICE", value_delimiter = ',')]
    services: Vec<String>,
    /// With --services: only the reply streams of instance ids starting
    /// with this (`web-` gives `<prefix>:replies:web-*`); the clients must
    /// use such fixed ids. Without it (or --instance-id), a client may read
    /// every reply stream of the prefix, other callers' replies too, since a
    /// fresh UUID per process cannot be known in advance. For a server: the
    /// callers it may answer.
    #[arg(long, value_name = "START", requires = "services")]
    instance_prefix: Option<String>,
    /// With --services: only the reply stream of this one fixed instance id.
    #[arg(
        long,
        value_name = "ID",
        requires = "services",
        conflicts_with = "instance_prefix"
    )]
    instance_id: Option<String>,
}

/// Prints the `ACL SETUSER` line (its password part a placeholder to replace).
pub(crate) fn run(global: &Global, args: AclArgs) -> Result<(), CliError> {
    let prefix = global.prefix("acl")?;
    let services: Vec<&str> = args.services.iter().map(String::as_str).collect();
    let replies = match (&args.instance_id, &args.instance_prefix) {
        (Some(id), _) => ReplyStreams::Only(id),
        (None, Some(start)) => ReplyStreams::Prefixed(start),
        (None, None) => ReplyStreams::All,
    };
    // With --cluster (or several --redis-url), the cluster client's command too.
    let rules = match (services.is_empty(), global.cluster) {
        (true, true) => args.role.cluster_rules(prefix, !args.minimal),
        (true, false) => args.role.rules(prefix, !args.minimal),
        (false, true) => args
            .role
            .cluster_rules_for(prefix, &services, replies, !args.minimal)
            .map_err(|e| CliError::Usage(format!("--services: {e}")))?,
        (false, false) => args
            .role
            .rules_for(prefix, &services, replies, !args.minimal)
            .map_err(|e| CliError::Usage(format!("--services: {e}")))?,
    };
    let line = format!("ACL SETUSER {} on >CHANGE-ME {rules}", args.user);
    if global.json {
        return output::json(&json!({
            "role": args.role.name(),
            "user": args.user,
            "services": args.services,
            "rules": rules,
            "commands": args.role.commands(),
            "cluster_commands": if global.cluster { Role::CLUSTER_COMMANDS } else { &[][..] },
            "optional_commands": if args.minimal { &[][..] } else { args.role.optional_commands() },
            "acl_setuser": line,
        }));
    }
    output::line(&line)
}
