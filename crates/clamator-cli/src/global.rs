//! The options every command takes: where Redis is, the key prefix, and the output format.

use crate::error::CliError;

/// The Redis URL used when neither `--redis-url` nor `$REDIS_URL` is given.
pub(crate) const DEFAULT_REDIS_URL: &str = "redis://localhost:6379";

/// Options shared by every command; they may stand before or after the command name.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Global {
    /// Where Redis is (`redis://[user:password@]host:port[/db]`).
    #[arg(
        long,
        global = true,
        env = "REDIS_URL",
        hide_env_values = true, // it may hold a password
        default_value = DEFAULT_REDIS_URL,
        value_name = "URL"
    )]
    pub(crate) redis_url: String,

    /// The key prefix your servers and clients share (keys are `<prefix>:cmds:<service>`,
    /// `<prefix>:replies:<instance>`); required by every command but `demo`.
    #[arg(
        long,
        global = true,
        env = "CLAMATOR_KEY_PREFIX",
        value_name = "PREFIX"
    )]
    pub(crate) key_prefix: Option<String>,

    /// Machine-readable output: JSON documents (JSON lines for `tail` and `dead`) instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

impl Global {
    /// Turns empty values (an exported but empty variable) into their defaults.
    pub(crate) fn normalized(mut self) -> Global {
        if self.redis_url.trim().is_empty() {
            DEFAULT_REDIS_URL.clone_into(&mut self.redis_url);
        }
        if self.key_prefix.as_deref().is_some_and(|p| p.is_empty()) {
            self.key_prefix = None;
        }
        self
    }

    /// The key prefix, or a usage error naming `command` and saying how to give one.
    pub(crate) fn prefix(&self, command: &'static str) -> Result<&str, CliError> {
        match self.key_prefix.as_deref() {
            Some(p) if p.trim() == p => Ok(p),
            Some(p) => Err(CliError::Usage(format!(
                "the key prefix {p:?} starts or ends with whitespace; servers and clients \
                 would not find each other's keys: pass the exact prefix with --key-prefix"
            ))),
            None => Err(CliError::MissingPrefix { command }),
        }
    }
}
