//! `clamator completions <shell>` and `clamator man`: what an installed
//! command needs around it, generated from the same clap definition as the
//! command itself (so they cannot drift from it).

use std::io::Write;

use clap::CommandFactory;

use crate::error::CliError;

/// `clamator completions <shell>`.
#[derive(clap::Args, Debug)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Prints the completion script for `args.shell`.
pub(crate) fn run(args: CompletionsArgs) -> Result<(), CliError> {
    let mut cmd = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "clamator", &mut script);
    write_out(&script)
}

/// `clamator man [<subcommand>]`.
#[derive(clap::Args, Debug)]
pub(crate) struct ManArgs {
    /// A subcommand's page (`clamator-call(1)`, ...) instead of `clamator(1)`.
    subcommand: Option<String>,
}

/// Prints the man page (roff) of `clamator` or of one of its subcommands.
pub(crate) fn man(args: ManArgs) -> Result<(), CliError> {
    let top = crate::Cli::command();
    let man = match &args.subcommand {
        None => clap_mangen::Man::new(top),
        Some(name) => top
            .find_subcommand(name)
            .map(|sub| clap_mangen::Man::new(sub.clone()).title(format!("clamator-{name}")))
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "no subcommand {name:?}; `clamator --help` lists them"
                ))
            })?,
    };
    let mut page = Vec::new();
    man.render(&mut page)
        .map_err(|e| CliError::Internal(format!("rendering the man page failed: {e}")))?;
    write_out(&page)
}

/// Writes `bytes` to stdout; a closed stdout ends quietly.
fn write_out(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|_| CliError::StdoutClosed)
}
