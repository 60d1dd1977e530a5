//! The three states a server or client goes through, in this order only.

use std::sync::{Mutex, MutexGuard};

/// Where a server or client is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// Built, `start()` not called yet.
    Created,
    /// Started and serving (or calling).
    Running,
    /// Stopped for good; a new instance is needed to run again.
    Stopped,
}

/// Locks a lifecycle mutex, shrugging off poisoning: the state is a plain
/// `Copy` value, so a panic elsewhere cannot have left it half-written.
pub(crate) fn lock(state: &Mutex<Lifecycle>) -> MutexGuard<'_, Lifecycle> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}
