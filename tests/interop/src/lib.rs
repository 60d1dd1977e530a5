//! The cross-language peer harness of clamator-rs, shared by the interop
//! suite (`tests/interop/tests`) and the benchmarks (`bench/`).
//!
//! [`harness`] finds the interop directory and the workspace at run time,
//! creates the Python peer's virtual environment, locates or builds
//! `arith-server`, and runs child processes that announce themselves with a
//! `READY` line, with every wait bounded and every child killed on drop.
#![deny(missing_docs)]

pub mod harness;
pub mod output;
