//! [`HarnessError`]: what can go wrong preparing or running a peer process.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Why the harness could not prepare or run something. Every message says
/// what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The current directory could not be read.
    #[error("cannot read the current directory: {0}")]
    CurrentDir(#[source] std::io::Error),

    /// No `Cargo.toml` with a `[workspace]` table at or above `start`.
    #[error(
        "no Cargo.toml with a [workspace] table in {} or any directory above it: run from \
         inside a clamator-rs checkout, or set {env} to its tests/interop directory",
        .start.display()
    )]
    WorkspaceNotFound {
        /// Where the search started.
        start: PathBuf,
        /// The environment variable that names the directory instead.
        env: &'static str,
    },

    /// A file the harness needs is not there.
    #[error("{} is missing ({what}): {hint}", .path.display())]
    Missing {
        /// What the file is.
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
        /// What to do.
        hint: String,
    },

    /// A child process could not be started.
    #[error("starting the {what} failed: {source}")]
    Spawn {
        /// What the child is.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// Waiting for a child process failed.
    #[error("waiting for the {what} failed: {source}")]
    Wait {
        /// What the child is.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A child exited (or closed its stdout) before printing `READY`.
    #[error("the {what} exited before printing READY ({status}); its stderr:\n{stderr}")]
    ExitedBeforeReady {
        /// What the child is.
        what: String,
        /// Its exit status, or "still running" when only its stdout closed.
        status: String,
        /// The last lines of its stderr.
        stderr: String,
    },

    /// A child did not print `READY` in time (it was killed).
    #[error("the {what} did not print READY within {limit:?} (killed); its stderr:\n{stderr}")]
    NotReady {
        /// What the child is.
        what: String,
        /// How long it had.
        limit: Duration,
        /// The last lines of its stderr.
        stderr: String,
    },

    /// A child did not finish in time (it was killed).
    #[error("the {what} did not finish within {limit:?} (killed); its stderr:\n{stderr}")]
    Timeout {
        /// What the child is.
        what: String,
        /// How long it had.
        limit: Duration,
        /// The last lines of its stderr.
        stderr: String,
    },

    /// A child exited unsuccessfully.
    #[error("the {what} failed ({status}); its stderr:\n{stderr}")]
    Failed {
        /// What the child is.
        what: String,
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of its stderr.
        stderr: String,
    },

    /// `setup-venv.sh` ran but did not print the path of an existing python.
    #[error(
        "{} printed no usable python path (got {printed:?}); run it by hand to see why",
        .script.display()
    )]
    NoPython {
        /// The script.
        script: PathBuf,
        /// Its last line of stdout.
        printed: String,
    },

    /// A path given in an environment variable is not a file.
    #[error("{var}={} is not a file: unset it or point it at the binary", .path.display())]
    BadEnvPath {
        /// The variable.
        var: &'static str,
        /// Its value.
        path: PathBuf,
    },

    /// `cargo build` succeeded but reported no executable for `arith-server`.
    #[error("cargo built arith-server but reported no executable; set {env} to the binary")]
    NoArtifact {
        /// The environment variable that names the binary instead.
        env: &'static str,
    },
}
