//! Finding things at run time: the workspace root, the interop directory
//! (`setup-venv.sh`, `py/`, `ts/`), the Python peer's venv, the TypeScript
//! peer's build and `arith-server`.
//!
//! Nothing is compiled in: a binary built here and run elsewhere finds the
//! checkout it is run from, or is told where it is.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::error::HarnessError;
use super::process::run_to_success;

/// Names the interop directory (`tests/interop` of a clamator-rs checkout),
/// overriding the search from the current directory.
pub const INTEROP_DIR_ENV: &str = "CLAMATOR_INTEROP_DIR";

/// Names a prebuilt `arith-server` binary (skips the cargo build).
pub const ARITH_SERVER_ENV: &str = "CLAMATOR_ARITH_SERVER";

/// Where the interop directory sits in the workspace.
const INTEROP_IN_WORKSPACE: &str = "tests/interop";

/// How long creating the venv may take (a `pip install` from PyPI).
pub const VENV_SETUP_WITHIN: Duration = Duration::from_secs(600);

/// How long building the TypeScript peer may take (a copy, `npm ci` from the
/// registry and `tsc`).
pub const TS_PEER_SETUP_WITHIN: Duration = Duration::from_secs(600);

/// The nearest directory at or above `start` whose `Cargo.toml` has a
/// `[workspace]` table.
pub fn workspace_root(start: &Path) -> Result<PathBuf, HarnessError> {
    start
        .ancestors()
        .find(|dir| is_workspace_root(dir))
        .map(Path::to_path_buf)
        .ok_or_else(|| HarnessError::WorkspaceNotFound {
            start: start.to_path_buf(),
            env: INTEROP_DIR_ENV,
        })
}

/// Whether `dir/Cargo.toml` exists and has a `[workspace]` table.
fn is_workspace_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .map(|text| text.lines().any(|l| l.trim() == "[workspace]"))
        .unwrap_or(false)
}

/// The interop suite's directory: `setup-venv.sh` and the Python drivers in `py/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteropDir {
    /// The directory (absolute when found by search).
    dir: PathBuf,
}

impl InteropDir {
    /// Finds the directory: `explicit` when given, else [`INTEROP_DIR_ENV`]
    /// when set, else `tests/interop` of the workspace found by walking up
    /// from the current directory. Fails, saying what to do, when the
    /// directory has no `setup-venv.sh`.
    pub fn locate(explicit: Option<&Path>) -> Result<InteropDir, HarnessError> {
        if let Some(dir) = explicit {
            return InteropDir::at(dir, "the interop directory given");
        }
        if let Some(dir) = std::env::var_os(INTEROP_DIR_ENV).filter(|v| !v.is_empty()) {
            return InteropDir::at(
                Path::new(&dir),
                "the interop directory named by $CLAMATOR_INTEROP_DIR",
            );
        }
        let cwd = std::env::current_dir().map_err(HarnessError::CurrentDir)?;
        let root = workspace_root(&cwd)?;
        InteropDir::at(
            &root.join(INTEROP_IN_WORKSPACE),
            "tests/interop of the workspace found from the current directory",
        )
    }

    /// `dir`, once it is checked to hold `setup-venv.sh`.
    fn at(dir: &Path, what: &'static str) -> Result<InteropDir, HarnessError> {
        let interop = InteropDir {
            dir: dir.to_path_buf(),
        };
        let script = interop.setup_script();
        if script.is_file() {
            Ok(interop)
        } else {
            Err(HarnessError::Missing {
                what,
                path: script,
                hint: format!(
                    "run from inside a clamator-rs checkout, or point {INTEROP_DIR_ENV} (or \
                     --interop-dir) at its tests/interop directory"
                ),
            })
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The workspace root above it (for `cargo build`), when there is one.
    pub fn workspace_root(&self) -> Result<PathBuf, HarnessError> {
        workspace_root(&self.dir)
    }

    /// `setup-venv.sh`.
    pub fn setup_script(&self) -> PathBuf {
        self.dir.join("setup-venv.sh")
    }

    /// `py/`: the Python drivers, which import each other (run them with it
    /// as their working directory, or by path).
    pub fn py_dir(&self) -> PathBuf {
        self.dir.join("py")
    }

    /// The Python driver `py/<name>`, once it is checked to exist.
    pub fn py_script(&self, name: &str) -> Result<PathBuf, HarnessError> {
        let path = self.py_dir().join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(HarnessError::Missing {
                what: "a Python driver of the interop suite",
                path,
                hint: "the interop directory is incomplete: check out clamator-rs again".to_owned(),
            })
        }
    }

    /// Creates (once; reused while `py/requirements.txt` is unchanged) the
    /// venv with the pinned Python peer by running `setup-venv.sh`, within
    /// [`VENV_SETUP_WITHIN`], and returns the venv's python.
    pub fn setup_venv(&self) -> Result<PathBuf, HarnessError> {
        let script = self.setup_script();
        let mut cmd = Command::new("bash");
        cmd.arg(&script);
        let stdout = run_to_success(
            &mut cmd,
            "Python venv setup (setup-venv.sh)",
            VENV_SETUP_WITHIN,
        )?;
        let printed = stdout
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default()
            .to_owned();
        let python = PathBuf::from(&printed);
        if printed.is_empty() || !python.is_file() {
            return Err(HarnessError::NoPython { script, printed });
        }
        Ok(python)
    }
}

impl InteropDir {
    /// `ts/setup-ts-peer.sh`.
    pub fn ts_setup_script(&self) -> PathBuf {
        self.dir.join("ts").join("setup-ts-peer.sh")
    }

    /// Builds (once; reused while the peer's source is unchanged) the
    /// TypeScript peer by running `ts/setup-ts-peer.sh`, within
    /// [`TS_PEER_SETUP_WITHIN`]. The script fails, saying what to do, when
    /// the peer's source (`../shared/peers/clamator-ts` next to the
    /// workspace, or `$CLAMATOR_TS_PEER_SRC`), `node` or `npm` is missing.
    pub fn setup_ts_peer(&self) -> Result<TsPeer, HarnessError> {
        let script = self.ts_setup_script();
        if !script.is_file() {
            return Err(HarnessError::Missing {
                what: "the TypeScript peer's setup script",
                path: script,
                hint: "the interop directory is incomplete: check out clamator-rs again".to_owned(),
            });
        }
        let mut cmd = Command::new("bash");
        cmd.arg(&script);
        let stdout = run_to_success(
            &mut cmd,
            "TypeScript peer setup (ts/setup-ts-peer.sh)",
            TS_PEER_SETUP_WITHIN,
        )?;
        let printed = stdout
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default();
        let peer = TsPeer {
            dir: PathBuf::from(printed),
        };
        let cli = peer.codegen_cli();
        if printed.is_empty() || !cli.is_file() {
            return Err(HarnessError::Missing {
                what: "the TypeScript peer's build",
                path: cli,
                hint: format!(
                    "{} printed {printed:?}; run it by hand to see why",
                    script.display()
                ),
            });
        }
        Ok(peer)
    }
}

/// The TypeScript peer built by `ts/setup-ts-peer.sh`: its directory holds
/// `node_modules` (the peer's packages, `tsx`, `zod`) and, in `interop/`,
/// copies of the suite's drivers (`tests/interop/ts/*.ts`). TypeScript that
/// imports the peer must live under it (module resolution walks up from the
/// importing file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsPeer {
    /// The build directory.
    dir: PathBuf,
}

impl TsPeer {
    /// The build directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The family's codegen CLI (`packages/codegen/dist/cli.js`).
    pub fn codegen_cli(&self) -> PathBuf {
        self.dir
            .join("packages")
            .join("codegen")
            .join("dist")
            .join("cli.js")
    }

    /// `node --import tsx <script>`, run in the build directory (where
    /// `tsx` resolves).
    pub fn node(&self, script: &Path) -> Command {
        let mut cmd = Command::new("node");
        cmd.current_dir(&self.dir)
            .args(["--import", "tsx"])
            .arg(script);
        cmd
    }

    /// `node --import tsx interop/<name>`: one of the suite's drivers, once
    /// it is checked to exist.
    pub fn driver(&self, name: &str) -> Result<Command, HarnessError> {
        let path = self.dir.join("interop").join(name);
        if path.is_file() {
            Ok(self.node(&path))
        } else {
            Err(HarnessError::Missing {
                what: "a TypeScript driver of the interop suite",
                path,
                hint: "the interop directory is incomplete (tests/interop/ts): check out \
                       clamator-rs again"
                    .to_owned(),
            })
        }
    }
}

/// The `arith-server` binary: [`ARITH_SERVER_ENV`] when set, else built
/// with `cargo build -p clamator-arith-server --bin arith-server` in
/// `workspace_root` (a no-op when up to date), into `target_dir` when given
/// (cargo's default otherwise), in release mode when `release`. The path is
/// read from cargo's own artifact messages. `$CARGO` names cargo when set.
pub fn arith_server(
    workspace_root: &Path,
    target_dir: Option<&Path>,
    release: bool,
    build_within: Duration,
) -> Result<PathBuf, HarnessError> {
    if let Some(path) = std::env::var_os(ARITH_SERVER_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(HarnessError::BadEnvPath {
                var: ARITH_SERVER_ENV,
                path,
            })
        };
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root).args([
        "build",
        "-p",
        "clamator-arith-server",
        "--bin",
        "arith-server",
        "--message-format=json-render-diagnostics",
    ]);
    if let Some(dir) = target_dir {
        cmd.arg("--target-dir").arg(dir);
    }
    if release {
        cmd.arg("--release");
    }
    let stdout = run_to_success(
        &mut cmd,
        "`cargo build -p clamator-arith-server --bin arith-server`",
        build_within,
    )?;
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "arith-server")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or(HarnessError::NoArtifact {
            env: ARITH_SERVER_ENV,
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_the_workspace_root_above_a_member() {
        let here = std::env::current_dir().unwrap();
        let root = workspace_root(&here).unwrap();
        assert!(root.join("tests/interop/setup-venv.sh").is_file());
        let found = InteropDir::locate(Some(&root.join("tests/interop"))).unwrap();
        assert!(found.py_script("arith_server.py").is_ok());
        assert!(found.ts_setup_script().is_file());
        assert!(matches!(
            found.py_script("nope.py"),
            Err(HarnessError::Missing { .. })
        ));
    }

    #[test]
    fn says_what_to_do_when_nothing_is_found() {
        let e = workspace_root(Path::new("/")).unwrap_err();
        assert!(e.to_string().contains(INTEROP_DIR_ENV), "{e}");
        let e = InteropDir::locate(Some(Path::new("/nonexistent"))).unwrap_err();
        assert!(e.to_string().contains("--interop-dir"), "{e}");
    }
}
