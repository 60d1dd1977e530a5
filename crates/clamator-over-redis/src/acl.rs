//! The Redis ACL each role needs: exactly the commands it sends, on the
//! keys of its prefix. The tests in `tests/acl.rs` run every role with
//! exactly these rules and check that Redis refused nothing (`ACL LOG`), so
//! this list cannot drift from what the code sends. `clamator acl <role>`
//! prints the `ACL SETUSER` line.
//!
//! [`Role::rules`] covers every key of the prefix; [`Role::rules_for`]
//! limits a server or a client to some services' streams with the key
//! permissions of Redis 7 (`%R~`, `%W~`), each stream getting only the
//! access its commands need (verified on Redis 7.0):
//!
//! | stream | server | client |
//! |---|---|---|
//! | `<prefix>:cmds:<service>` | read and write (`~`): `XGROUP`, `XACK`, `XCLAIM`, `XTRIM` write; `XREADGROUP`, `XPENDING`, `XINFO`, `XRANGE` read | write only (`%W~`): `XADD`, so it cannot read other callers' requests |
//! | `<prefix>:cancel:<service>` | read only (`%R~`): `XREAD` | write only (`%W~`): `XADD` |
//! | `<prefix>:dead:<service>` | write only (`%W~`): `XADD` | none |
//! | `<prefix>:dedupe:<service>:*` | read and write (`~`): `SET ... NX GET`, `SET`, `PEXPIRE` (the dedupe window's records) | none |
//! | `<prefix>:replies:<instance id>` | write only (`%W~`): `XADD` | read and write (`~`): `XREAD`, `PTTL` read; `XADD`, `PEXPIRE`, `DEL` write |
//!
//! Which reply streams is [`ReplyStreams`]: a client with a fresh UUID per
//! process cannot be pinned to its own, so by default a client may read
//! every reply stream of the prefix (other callers' replies too); give
//! clients a fixed instance id, or ids with a common start, to narrow it.

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
                // The dedupe window's records (`dedupe.rs`): `SET ... NX GET`,
                // `SET ... PX`, and their renewal.
                "set",
                "pexpire",
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
        let mut rules = format!("resetkeys ~{}:*", escape_glob(key_prefix));
        self.push_commands(&mut rules, optional);
        rules
    }

    /// The ACL rules for a user of this role limited to `services` under
    /// `key_prefix` (Redis 7 key permissions; the table in the [module
    /// docs](crate::ops::acl) says which stream gets which):
    ///
    /// - a [`Client`](Role::Client) may add requests and cancels to the
    ///   services' command and cancel streams (`%W~`: write only, so it
    ///   cannot read other callers' requests), and read and write the reply
    ///   streams `replies` names (its own);
    /// - a [`Server`](Role::Server) may read and write the services' command
    ///   streams, read their cancel streams (`%R~`), add to their dead-letter
    ///   streams and to the reply streams `replies` names (`%W~`: it answers
    ///   callers but cannot read their replies). For a server, `replies`
    ///   narrows the callers it may answer: keep [`ReplyStreams::All`]
    ///   unless every caller's instance id is known.
    ///
    /// No channels, no command but the role's (and, with `optional`, the
    /// optional ones). Calls to other services are refused by Redis: a
    /// client's call fails at once with `TransportError::Refused` (`NOPERM`
    /// on its `XADD`), a server registering another service fails to start
    /// with `ConnectError::Refused`.
    ///
    /// # Errors
    ///
    /// [`ScopeError`] when `services` is empty or names an invalid service,
    /// when the instance id (prefix) in `replies` is not a valid instance id
    /// or contains whitespace, and for the [`Operator`](Role::Operator),
    /// which inspects every service (use [`rules`](Self::rules)).
    pub fn rules_for(
        self,
        key_prefix: &str,
        services: &[&str],
        replies: ReplyStreams<'_>,
        optional: bool,
    ) -> Result<String, ScopeError> {
        if self == Role::Operator {
            return Err(ScopeError::Operator);
        }
        if services.is_empty() {
            return Err(ScopeError::NoServices);
        }
        if let Some(bad) = services
            .iter()
            .find(|s| !clamator_protocol::names::is_valid_service(s))
        {
            return Err(ScopeError::InvalidService((*bad).to_owned()));
        }
        let prefix = escape_glob(key_prefix);
        let replies = match replies {
            ReplyStreams::All => format!("{prefix}:replies:*"),
            ReplyStreams::Prefixed(start) => {
                check_instance(start)?;
                format!("{prefix}:replies:{}*", escape_glob(start))
            }
            ReplyStreams::Only(id) => {
                check_instance(id)?;
                format!("{prefix}:replies:{}", escape_glob(id))
            }
        };
        let mut rules = String::from("resetkeys");
        let mut key = |permission: &str, kind: &str, service: &str| {
            rules.push(' ');
            rules.push_str(permission);
            rules.push_str(&prefix);
            rules.push(':');
            rules.push_str(kind);
            rules.push(':');
            rules.push_str(service);
        };
        for service in services {
            match self {
                Role::Client => {
                    key("%W~", "cmds", service);
                    key("%W~", "cancel", service);
                }
                Role::Server | Role::Operator => {
                    key("~", "cmds", service);
                    key("%R~", "cancel", service);
                    key("%W~", "dead", service);
                    key("~", "dedupe", &format!("{service}:*"));
                }
            }
        }
        rules.push_str(match self {
            Role::Client => " ~",
            Role::Server | Role::Operator => " %W~",
        });
        rules.push_str(&replies);
        self.push_commands(&mut rules, optional);
        Ok(rules)
    }

    /// [`rules_for`](Self::rules_for) plus
    /// [`CLUSTER_COMMANDS`](Self::CLUSTER_COMMANDS), for a user on a Redis
    /// Cluster (create it on every node).
    ///
    /// # Errors
    ///
    /// As [`rules_for`](Self::rules_for).
    pub fn cluster_rules_for(
        self,
        key_prefix: &str,
        services: &[&str],
        replies: ReplyStreams<'_>,
        optional: bool,
    ) -> Result<String, ScopeError> {
        let mut rules = self.rules_for(key_prefix, services, replies, optional)?;
        for command in Self::CLUSTER_COMMANDS {
            rules.push_str(" +");
            rules.push_str(command);
        }
        Ok(rules)
    }

    /// `resetchannels -@all` and the role's commands.
    fn push_commands(self, rules: &mut String, optional: bool) {
        rules.push_str(" resetchannels -@all");
        let extra = if optional {
            self.optional_commands()
        } else {
            &[]
        };
        for command in self.commands().iter().chain(extra) {
            rules.push_str(" +");
            rules.push_str(command);
        }
    }
}

/// Which reply streams (`<prefix>:replies:<instance id>`) a user of
/// [`Role::rules_for`] may touch: a client reads and writes its own, a server
/// writes its callers'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyStreams<'a> {
    /// Every reply stream of the prefix (`<prefix>:replies:*`). What a
    /// client with a fresh UUID per process needs, since its id is not known
    /// in advance; it also lets the client read other callers' replies.
    All,
    /// The reply streams of instance ids starting with this text
    /// (`web-` gives `<prefix>:replies:web-*`): for clients configured with
    /// such ids (`ClientOptions::instance_id`).
    Prefixed(&'a str),
    /// Exactly one instance's reply stream: a client with this fixed
    /// instance id.
    Only(&'a str),
}

/// Why [`Role::rules_for`] cannot give rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// No service was named.
    #[error("name at least one service")]
    NoServices,
    /// A service name that does not match `^[a-z][a-z0-9-]*$`.
    #[error(
        "invalid service name {0:?}: a service name must match ^[a-z][a-z0-9-]*$ \
         (lowercase letter first, then lowercase letters, digits or '-')"
    )]
    InvalidService(String),
    /// An instance id (or the start of one) that is empty, longer than
    /// [`MAX_INSTANCE_ID_LEN`](crate::keys::MAX_INSTANCE_ID_LEN), or has a
    /// `:`, a control character or whitespace.
    #[error(
        "invalid instance id {0:?}: it must be non-empty, at most 256 bytes, \
         without ':', whitespace or control characters"
    )]
    InvalidInstance(String),
    /// The operator inspects every service; it has no per-service rules.
    #[error("the operator role is not limited to services: use the rules of the whole prefix")]
    Operator,
}

fn check_instance(id: &str) -> Result<(), ScopeError> {
    if crate::keys::is_valid_instance_id(id) && !id.chars().any(char::is_whitespace) {
        Ok(())
    } else {
        Err(ScopeError::InvalidInstance(id.to_owned()))
    }
}

/// `text` as a Redis glob pattern matching only itself (`*`, `?`, `[`, `]`
/// and `\` escaped with `\`).
fn escape_glob(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['*', '?', '[', ']', '\\']) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    std::borrow::Cow::Owned(escaped)
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

    #[test]
    fn rules_for_services_give_each_stream_only_what_the_role_needs() {
        let client = Role::Client
            .rules_for("myapp", &["arith", "billing"], ReplyStreams::All, true)
            .unwrap();
        assert_eq!(
            client,
            "resetkeys %W~myapp:cmds:arith %W~myapp:cancel:arith %W~myapp:cmds:billing \
             %W~myapp:cancel:billing ~myapp:replies:* resetchannels -@all +xadd +xread \
             +pexpire +pttl +del +ping"
        );
        let server = Role::Server
            .rules_for("myapp", &["arith"], ReplyStreams::All, false)
            .unwrap();
        assert!(
            server.starts_with(
                "resetkeys ~myapp:cmds:arith %R~myapp:cancel:arith %W~myapp:dead:arith \
                 ~myapp:dedupe:arith:* %W~myapp:replies:* resetchannels -@all +xgroup|create"
            ),
            "{server}"
        );
        let web = Role::Client
            .rules_for("myapp", &["arith"], ReplyStreams::Prefixed("web-"), false)
            .unwrap();
        assert!(web.contains(" ~myapp:replies:web-* "), "{web}");
        let one = Role::Client
            .cluster_rules_for("a*p", &["arith"], ReplyStreams::Only("w[1]"), false)
            .unwrap();
        assert!(one.starts_with("resetkeys %W~a\\*p:cmds:arith "), "{one}");
        assert!(one.contains(" ~a\\*p:replies:w\\[1\\] "), "{one}");
        assert!(one.ends_with("+ping +cluster|slots"), "{one}");
        assert_eq!(
            Role::Server.rules("a?", false).split(' ').nth(1),
            Some("~a\\?:*")
        );

        let err = |role: Role, services: &[&str], replies| {
            role.rules_for("myapp", services, replies, false)
                .unwrap_err()
        };
        assert_eq!(
            err(Role::Client, &[], ReplyStreams::All),
            ScopeError::NoServices
        );
        assert_eq!(
            err(Role::Client, &["Arith"], ReplyStreams::All),
            ScopeError::InvalidService("Arith".into())
        );
        for bad in ["", "a:b", "a b", "a\n"] {
            assert!(matches!(
                err(Role::Client, &["arith"], ReplyStreams::Prefixed(bad)),
                ScopeError::InvalidInstance(_)
            ));
        }
        assert_eq!(
            err(Role::Operator, &["arith"], ReplyStreams::All),
            ScopeError::Operator
        );
    }
}
