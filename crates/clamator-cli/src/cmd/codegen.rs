//! `clamator codegen`: generate code from a contract file (docs/CONTRACTS.md),
//! or check that checked-in output is current. Connects to nothing.

use std::path::{Path, PathBuf};

use clamator_contract_file::{ContractFile, ContractFileError, Manifest, python, rust, zod};

use crate::error::CliError;

/// Options of `clamator codegen`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "With --check nothing is written: exit 1 when a file is missing or \
                        differs from what would be generated, or when --manifest disagrees \
                        with the contract file's hashes. Exit 2 for a contract file that \
                        cannot be read or uses an unsupported schema feature (the error \
                        names the JSON pointer)."
)]
pub(crate) struct CodegenArgs {
    #[command(subcommand)]
    target: Target,
}

#[derive(clap::Subcommand, Debug)]
enum Target {
    /// Rust: `#[clamator::model]` types, the `#[clamator::contract]` trait
    /// (typed client and descriptor come with it), hash constants; one
    /// module per service.
    Rust {
        #[command(flatten)]
        common: Common,
        /// The Rust file to write (stdout without it).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Accept unknown fields in every generated type (the default rejects
        /// them where the schema says `additionalProperties: false`).
        #[arg(long)]
        allow_unknown_fields: bool,
        /// The path of the clamator crate in generated code, for a renamed dependency.
        #[arg(long = "crate", value_name = "PATH", default_value = "::clamator")]
        krate: String,
    },
    /// Python: one module per service in the family's layout (pydantic v2
    /// models, `{Service}Client`, `{Service}Service`, `METHODS`,
    /// `{service}_contract`) for clamator-protocol 0.1.9.
    Python {
        #[command(flatten)]
        common: Common,
        /// The directory to write `<service>.py` into.
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
    },
    /// TypeScript: one module per service with Zod 3 schemas and a
    /// `defineContract(...)` from `@clamator/protocol`.
    Zod {
        #[command(flatten)]
        common: Common,
        /// The directory to write `<service>.ts` into.
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
    },
    /// The family's `manifest.json` (every method's params and result hash).
    Manifest {
        #[command(flatten)]
        common: Common,
        /// The manifest to write (stdout without it).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
struct Common {
    /// The contract file (from tools/contract-export, or exported from Rust).
    #[arg(long, value_name = "FILE")]
    contract: PathBuf,
    /// Write nothing; fail when the output on disk is stale.
    #[arg(long)]
    check: bool,
    /// A family `manifest.json` whose hashes the contract file must equal.
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
}

fn usage(e: ContractFileError) -> CliError {
    CliError::Usage(e.to_string())
}

fn read_manifest(path: &Path) -> Result<Manifest, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "{} is not a family manifest.json ({{generatedBy, contracts}}): {e}",
            path.display()
        ))
    })
}

/// Writes `outputs`, or with `check` compares them with what is on disk.
fn emit(outputs: Vec<(Option<PathBuf>, String)>, check: bool) -> Result<(), CliError> {
    let mut stale = Vec::new();
    for (path, text) in outputs {
        match (path, check) {
            (None, false) => print!("{text}"),
            (None, true) => {
                return Err(CliError::Usage(
                    "--check needs the output path (--out / --out-dir) to compare with".to_owned(),
                ));
            }
            (Some(p), true) => {
                if std::fs::read_to_string(&p).ok().as_deref() != Some(text.as_str()) {
                    stale.push(p.display().to_string());
                }
            }
            (Some(p), false) => {
                if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| CliError::Usage(format!("{}: {e}", dir.display())))?;
                }
                std::fs::write(&p, text)
                    .map_err(|e| CliError::Usage(format!("{}: {e}", p.display())))?;
            }
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(CliError::Stale(format!(
            "stale generated code: {} (re-run the same command without --check)",
            stale.join(", ")
        )))
    }
}

/// Runs `clamator codegen <target>`.
pub(crate) fn run(args: CodegenArgs) -> Result<(), CliError> {
    let common = match &args.target {
        Target::Rust { common, .. }
        | Target::Python { common, .. }
        | Target::Zod { common, .. }
        | Target::Manifest { common, .. } => common,
    };
    let file = ContractFile::read(&common.contract).map_err(|e| match e {
        ContractFileError::HashMismatch { .. } => CliError::Stale(e.to_string()),
        other => usage(other),
    })?;
    let origin = common.contract.display().to_string();
    if let Some(m) = &common.manifest {
        let disagreements = read_manifest(m)?.disagreements(&file);
        if !disagreements.is_empty() {
            return Err(CliError::Stale(format!(
                "{} disagrees with {origin}: {}; re-export the contract file with the same \
                 zod and zod-to-json-schema versions as the family's codegen",
                m.display(),
                disagreements.join("; ")
            )));
        }
    }
    let check = common.check;
    let outputs = match args.target {
        Target::Rust {
            out,
            allow_unknown_fields,
            krate,
            ..
        } => {
            let opts = rust::RustOptions::default()
                .allow_unknown_fields(allow_unknown_fields)
                .krate(krate);
            vec![(out, rust::generate(&file, &origin, &opts).map_err(usage)?)]
        }
        Target::Python { out_dir, .. } => python::generate_all(&file, &origin)
            .map_err(usage)?
            .into_iter()
            .map(|(name, text)| (Some(out_dir.join(name)), text))
            .collect(),
        Target::Zod { out_dir, .. } => zod::generate_all(&file, &origin)
            .map_err(usage)?
            .into_iter()
            .map(|(name, text)| (Some(out_dir.join(name)), text))
            .collect(),
        Target::Manifest { out, .. } => {
            let mut text = serde_json::to_string_pretty(&Manifest::of(&file))
                .map_err(|e| CliError::Internal(e.to_string()))?;
            text.push('\n');
            vec![(out, text)]
        }
    };
    emit(outputs, check)
}
