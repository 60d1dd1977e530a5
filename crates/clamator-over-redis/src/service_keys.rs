//! [`ServiceKeys`]: the names one service on one server works with, made
//! once at start and shared read-only by its loops and handlers.

use crate::keys;

/// The keys and names of one service on one server (docs/WIRE.md §1, §2).
/// Never changes after start: loops share it behind an `Arc`, without locks.
#[derive(Debug)]
pub(crate) struct ServiceKeys {
    /// The key prefix: replies go only to `<prefix>:replies:<id>`.
    pub(crate) key_prefix: String,
    /// The service name.
    pub(crate) service: String,
    /// Its command stream (`<prefix>:cmds:<service>`).
    pub(crate) stream: String,
    /// The consumer group (the service name).
    pub(crate) group: String,
    /// This server's consumer in the group (`<service>:<instance id>`).
    pub(crate) consumer: String,
    /// Where entries no worker acknowledged go (`<prefix>:dead:<service>`).
    pub(crate) dead_stream: String,
    /// Where callers' cancel entries come (`<prefix>:cancel:<service>`).
    pub(crate) cancel_stream: String,
}

impl ServiceKeys {
    /// The names of `service` served by the server `instance_id` under `key_prefix`.
    pub(crate) fn new(key_prefix: &str, service: &str, instance_id: &str) -> ServiceKeys {
        ServiceKeys {
            key_prefix: key_prefix.to_owned(),
            service: service.to_owned(),
            stream: keys::command_stream(key_prefix, service),
            group: keys::group(service),
            consumer: keys::consumer(service, instance_id),
            dead_stream: keys::dead_letter_stream(key_prefix, service),
            cancel_stream: keys::cancel_stream(key_prefix, service),
        }
    }
}
