//! `clamator acl <role>`: prints the `ACL SETUSER` line that gives a user
//! exactly what a server, a client or this CLI needs under the key prefix.
//! Connects to nothing.

use clamator_over_redis::ops::acl::Role;
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
}

/// Prints the `ACL SETUSER` line (its password part a placeholder to replace).
pub(crate) fn run(global: &Global, args: AclArgs) -> Result<(), CliError> {
    let prefix = global.prefix("acl")?;
    // With --cluster (or several --redis-url), the cluster client's command too.
    let rules = if global.cluster {
        args.role.cluster_rules(prefix, !args.minimal)
    } else {
        args.role.rules(prefix, !args.minimal)
    };
    let line = format!("ACL SETUSER {} on >CHANGE-ME {rules}", args.user);
    if global.json {
        return output::json(&json!({
            "role": args.role.name(),
            "user": args.user,
            "rules": rules,
            "commands": args.role.commands(),
            "cluster_commands": if global.cluster { Role::CLUSTER_COMMANDS } else { &[][..] },
            "optional_commands": if args.minimal { &[][..] } else { args.role.optional_commands() },
            "acl_setuser": line,
        }));
    }
    output::line(&line)
}
