//! What the interop suite and the benchmarks both stand on.
//!
//! - [`locate`]: the workspace root and `tests/interop` (with `setup-venv.sh`
//!   and the Python drivers in `py/`), resolved at run time: an explicit
//!   path, then [`INTEROP_DIR_ENV`], then the `tests/interop` of the
//!   workspace found by walking up from the current directory;
//!   [`InteropDir::setup_venv`] creates the peer's venv;
//!   [`InteropDir::setup_ts_peer`] builds the TypeScript peer ([`TsPeer`]);
//!   [`arith_server`] finds or builds the Rust `arith-server`.
//! - [`process`]: [`ReadyChild`], a child that prints `READY` within a
//!   bounded time and is killed when dropped; [`run_bounded`] for a child
//!   that runs to its end.
//!
//! Errors are [`HarnessError`]s, each saying what to do about it.

mod error;
pub mod locate;
pub mod process;

pub use error::HarnessError;
pub use locate::{
    ARITH_SERVER_ENV, INTEROP_DIR_ENV, InteropDir, TsPeer, arith_server, workspace_root,
};
pub use process::{Lines, ReadyChild, StdinMode, read_all, run_bounded, run_to_success};
