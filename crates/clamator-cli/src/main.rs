//! `clamator`: the command-line companion of clamator-rs.
//!
//! Call and notify services, inspect the Redis streams of an application
//! (services, pending entries, reply streams, dead letters), clean up reply
//! streams left by crashed clients, requeue dead letters, watch requests go
//! by, watch every service live (`top`), run a self-contained demo, and
//! generate Rust, Python or Zod from a contract file (`codegen`).
//!
//! # Exit codes
//! 0 success; 1 the call was answered with an RPC error; 2 usage error (bad
//! arguments, bad JSON, missing key prefix, unknown service); 3 transport
//! failure (Redis unreachable, no reply in time); 130 when Ctrl-C interrupts
//! `call` or `demo` (Ctrl-C is the normal end of `tail`: 0). `codegen --check`
//! exits 1 when generated output is stale or a manifest disagrees.
//!
//! # Layout
//! - `global`: the options every command takes ([`global::Global`]).
//! - `error`: [`error::CliError`] and its exit codes.
//! - `conn`: the bounded Redis connection of the inspection commands.
//! - `cmd`: one module per command.
//! - `table`, `output`, `clock`: plain-text tables, stdout, times and durations.

mod clock;
mod cmd;
mod conn;
mod error;
mod global;
mod output;
mod table;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;
use crate::global::Global;

/// Typed JSON-RPC over Redis Streams: call services, inspect and clean up their streams.
#[derive(Parser, Debug)]
#[command(
    name = "clamator",
    version,
    propagate_version = true,
    after_help = "Exit codes: 0 success, 1 the call was answered with an RPC error, 2 usage \
                  error, 3 transport failure (Redis unreachable, no reply in time), 130 interrupted."
)]
struct Cli {
    #[command(flatten)]
    global: Global,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Call `<service>.<method>` with JSON params and print the result.
    Call(cmd::call::CallArgs),
    /// Send a notification (no reply) to `<service>.<method>`.
    Notify(cmd::notify::NotifyArgs),
    /// List the services under the key prefix: streams, groups, consumers, lag, pending.
    Services(cmd::services::ServicesArgs),
    /// List a service's pending (delivered, unacknowledged) entries.
    Pending(cmd::pending::PendingArgs),
    /// List a service's dead letters (requests no worker ever acknowledged), or requeue them.
    Dead(cmd::dead::DeadArgs),
    /// List the reply streams under the key prefix and their last activity.
    Replies(cmd::replies::RepliesArgs),
    /// Delete reply streams idle longer than --older-than (a dry run without --yes).
    Gc(cmd::replies::GcArgs),
    /// Watch requests (and with --replies, their replies) arrive, without consuming them.
    Tail(cmd::tail::TailArgs),
    /// Watch every service live: calls/s, pending, lag, consumers, dead letters, reply streams.
    Top(cmd::top::TopArgs),
    /// Run a worker pool and a client against Redis and show what clamator does.
    Demo(cmd::demo::DemoArgs),
    /// Print the Redis ACL (`ACL SETUSER ...`) a server, client or operator needs under the prefix.
    Acl(cmd::acl::AclArgs),
    /// Print a KEDA ScaledObject that scales a service's workers on its consumer group's lag.
    Keda(cmd::keda::KedaArgs),
    /// Generate Rust, Python or TypeScript/Zod from a contract file, or check checked-in output.
    Codegen(cmd::codegen::CodegenArgs),
    /// Print a shell completion script: `clamator completions bash > /etc/bash_completion.d/clamator`.
    Completions(cmd::completions::CompletionsArgs),
    /// Print the man page (roff): `clamator man > ~/.local/share/man/man1/clamator.1`;
    /// `clamator man call` prints `clamator-call(1)`.
    Man(cmd::completions::ManArgs),
}

async fn dispatch(global: &Global, command: Command) -> Result<(), CliError> {
    match command {
        Command::Call(args) => cmd::call::run(global, args).await,
        Command::Notify(args) => cmd::notify::run(global, args).await,
        Command::Services(args) => cmd::services::run(global, args).await,
        Command::Pending(args) => cmd::pending::run(global, args).await,
        Command::Dead(args) => cmd::dead::run(global, args).await,
        Command::Replies(args) => cmd::replies::run_replies(global, args).await,
        Command::Gc(args) => cmd::replies::run_gc(global, args).await,
        Command::Tail(args) => cmd::tail::run(global, args).await,
        Command::Top(args) => cmd::top::run(global, args).await,
        Command::Demo(args) => cmd::demo::run(global, args).await,
        Command::Acl(args) => cmd::acl::run(global, args),
        Command::Keda(args) => cmd::keda::run(global, args).await,
        Command::Codegen(args) => cmd::codegen::run(args),
        Command::Completions(args) => cmd::completions::run(args),
        Command::Man(args) => cmd::completions::man(args),
    }
}

fn main() -> ExitCode {
    // clap exits 2 on usage errors and 0 for --help / --version.
    let cli = Cli::parse();
    let global = cli.global.normalized();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(error::EXIT_TRANSPORT);
        }
    };
    let outcome = runtime.block_on(dispatch(&global, cli.command));
    // Background tasks (a stopped client's leftovers) must not delay the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match outcome {
        Ok(()) => ExitCode::from(error::EXIT_OK),
        Err(CliError::StdoutClosed) => ExitCode::from(error::EXIT_OK),
        Err(e) => {
            eprintln!("error: {e}");
            e.to_exit_code()
        }
    }
}
