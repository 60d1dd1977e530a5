//! The Redis ACL each role needs: exactly the commands it sends, on the
//! keys of its prefix. The tests in `tests/acl.rs` run every role with
//! exactly these rules and check that Redis refused nothing (`ACL LOG`), so
//! this list cannot drift from what the code sends. `clamator acl <role>`
//! prints the `ACL SETUSER` line.

/// Who connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// A [`RedisRpcServer`](crate::RedisRpcServer): a worker of the pool.
    Server,
    /// A [`RedisRpcClient`](crate::RedisRpcClient): makes calls.
    Client,
    /// The `clamator` operator CLI (inspects, requeues dead letters, deletes
    /// idle reply streams, makes calls).
    Operator,
}

impl Role {
    /// Every role, in the order above.
    pub const ALL: [Role; 3] = [Role::Server, Role::Client, Role::Operator];

    /// The role's name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
            Role::Operator => "operator",
        }
    }

    /// The commands the role sends (subcommands as `command|sub`).
    pub fn commands(self) -> &'static [&'static str] {
        match self {
            Role::Server => &[
                "xgroup|create",
                "xgroup|setid",
                "xreadgroup",
                // The callers' cancels (`cancel.rs`).
                "xread",
                "xack",
                "xadd",
                "xpending",
                "xclaim",
                "xinfo|groups",
                "xtrim",
                "xrange",
                "time",
                "ping",
            ],
            Role::Client => &["xadd", "xread", "pexpire", "pttl", "del", "ping"],
            Role::Operator => &[
                // What `call` / `notify` send (a client's commands).
                "xadd",
                "xread",
                "pexpire",
                "pttl",
                "del",
                "ping",
                // What the inspecting commands send.
                "xrange",
                "xrevrange",
                "xlen",
                "xinfo|groups",
                "xinfo|stream",
                "xinfo|consumers",
                "xpending",
                "xdel",
                "type",
                "time",
                // `services`, `replies`, `gc` list the prefix's streams.
                "scan",
                // `gc` deletes a reply stream only if it did not change
                // (a script: its commands are checked as well).
                "eval",
            ],
        }
    }

    /// Commands the role uses when it may, with a deliberate fallback when
    /// refused: a server ends its parked reads at stop with `CLIENT
    /// UNBLOCK` (learning their ids with `CLIENT ID`); without them a stop
    /// waits up to 1 s for the reads to time out, said once in the log.
    /// Note that `client|unblock` lets the user unblock any connection whose
    /// id it knows.
    pub fn optional_commands(self) -> &'static [&'static str] {
        match self {
            Role::Server => &["client|id", "client|unblock"],
            Role::Client | Role::Operator => &[],
        }
    }

    /// What every role also needs on a Redis Cluster: the cluster client
    /// reads the slot map with `CLUSTER SLOTS` (at connect, after a
    /// redirect or a failover).
    pub const CLUSTER_COMMANDS: &'static [&'static str] = &["cluster|slots"];

    /// [`rules`](Self::rules) plus [`CLUSTER_COMMANDS`](Self::CLUSTER_COMMANDS),
    /// for a user on a Redis Cluster (create it on every node).
    pub fn cluster_rules(self, key_prefix: &str, optional: bool) -> String {
        let mut rules = self.rules(key_prefix, optional);
        for command in Self::CLUSTER_COMMANDS {
            rules.push_str(" +");
            rules.push_str(command);
        }
        rules
    }

    /// The ACL rules for a user of this role under `key_prefix`: its keys
    /// only (`~<prefix>:*`), no channels, no command but the role's (and,
    /// with `optional`, the optional ones). For
    /// `ACL SETUSER <user> on >password <rules>`.
    pub fn rules(self, key_prefix: &str, optional: bool) -> String {
        let mut rules = format!("resetkeys ~{key_prefix}:* resetchannels -@all");
        let extra = if optional {
            self.optional_commands()
        } else {
            &[]
        };
        for command in self.commands().iter().chain(extra) {
            rules.push_str(" +");
            rules.push_str(command);
        }
        rules
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown role {s:?}: use server, client or operator"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_name_the_prefix_and_every_command() {
        let r = Role::Server.rules("myapp", true);
        assert!(r.starts_with("resetkeys ~myapp:* resetchannels -@all +xgroup|create"));
        assert!(r.ends_with("+client|id +client|unblock"), "{r}");
        assert!(!Role::Server.rules("myapp", false).contains("client|"));
        assert_eq!("operator".parse::<Role>(), Ok(Role::Operator));
        assert!("admin".parse::<Role>().is_err());
        assert!(
            Role::Client
                .cluster_rules("myapp", true)
                .ends_with("+ping +cluster|slots")
        );
    }
}
