//! `clamator codegen`: generation and `--check` against the test contract of
//! crates/clamator-contract-file (exported from TypeScript by tools/contract-export).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;

const TIMEOUT: Duration = Duration::from_secs(30);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clamator-contract-file/tests")
}

fn clamator() -> Command {
    let mut c = Command::cargo_bin("clamator").unwrap();
    c.timeout(TIMEOUT);
    c
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clamator-codegen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn check_passes_on_the_checked_in_rust_and_the_family_manifest() {
    let f = fixtures();
    clamator()
        .current_dir(f.join(".."))
        .args([
            "codegen",
            "rust",
            "--contract",
            "tests/contracts/inventory.json",
        ])
        .args(["--out", "tests/generated/inventory.rs", "--check"])
        .args(["--manifest", "tests/contracts/manifest.json"])
        .assert()
        .success();
}

#[test]
fn check_fails_on_a_stale_file_and_writing_fixes_it() {
    let dir = scratch("stale");
    let contract = fixtures().join("contracts/inventory.json");
    let out = dir.join("inventory.rs");
    std::fs::write(&out, "// old\n").unwrap();
    let run = |check: bool| {
        let mut c = clamator();
        c.args(["codegen", "rust", "--contract"])
            .arg(&contract)
            .arg("--out")
            .arg(&out);
        if check {
            c.arg("--check");
        }
        c.assert()
    };
    run(true)
        .code(1)
        .stderr(predicate::str::contains("stale generated code"));
    run(false).success();
    run(true).success();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("pub trait Inventory"), "{text}");
}

#[test]
fn check_fails_when_a_schema_no_longer_matches_its_hash() {
    let dir = scratch("hash");
    let text = std::fs::read_to_string(fixtures().join("contracts/inventory.json")).unwrap();
    // Edit a schema without re-exporting: the stored hash no longer fits.
    let edited = text.replacen(
        "\"sku\": {\n                \"type\": \"string\"",
        "\"sku\": {\n                \"type\": \"number\"",
        1,
    );
    assert_ne!(edited, text);
    let contract = dir.join("inventory.json");
    std::fs::write(&contract, edited).unwrap();
    clamator()
        .args(["codegen", "manifest", "--contract"])
        .arg(&contract)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("hashes to"));
}

#[test]
fn check_fails_when_the_family_manifest_disagrees() {
    let dir = scratch("manifest");
    let manifest = std::fs::read_to_string(fixtures().join("contracts/manifest.json")).unwrap();
    let wrong = manifest.replacen("\"paramsHash\": \"3f5f", "\"paramsHash\": \"0000", 1);
    assert_ne!(wrong, manifest);
    let path = dir.join("manifest.json");
    std::fs::write(&path, wrong).unwrap();
    clamator()
        .args(["codegen", "manifest", "--contract"])
        .arg(fixtures().join("contracts/inventory.json"))
        .arg("--manifest")
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("inventory.addItem"));
}

#[test]
fn manifest_equals_the_family_one() {
    let out = clamator()
        .args(["codegen", "manifest", "--contract"])
        .arg(fixtures().join("contracts/inventory.json"))
        .assert()
        .success();
    let want = std::fs::read_to_string(fixtures().join("contracts/manifest.json")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), want);
}

#[test]
fn unsupported_schema_names_the_pointer() {
    let dir = scratch("unsupported");
    let schema = r#"{"type":"object","properties":{"name":{"type":"string","format":"hostname"}},"required":["name"],"additionalProperties":false}"#;
    let hash = clamator_contract_file::hash::schema_hash(schema);
    let file = format!(
        r#"[{{"service":"svc","methods":[{{"name":"hello","isNotification":true,"params":{{"jsonSchema":{schema},"hash":"{hash}"}},"result":null}}]}}]"#
    );
    let contract = dir.join("svc.json");
    std::fs::write(&contract, file).unwrap();
    clamator()
        .args(["codegen", "rust", "--contract"])
        .arg(&contract)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "svc.hello params /properties/name/format",
        ));
}

#[test]
fn python_and_zod_write_one_module_per_service() {
    let dir = scratch("py");
    for target in ["python", "zod"] {
        clamator()
            .args(["codegen", target, "--contract"])
            .arg(fixtures().join("contracts/inventory.json"))
            .arg("--out-dir")
            .arg(&dir)
            .assert()
            .success();
    }
    let py = std::fs::read_to_string(dir.join("inventory.py")).unwrap();
    assert!(
        py.contains("class InventoryClient:") && py.contains("inventory_contract = Contract("),
        "{py}"
    );
    let ts = std::fs::read_to_string(dir.join("inventory.ts")).unwrap();
    assert!(ts.contains("z.discriminatedUnion(\"ok\""), "{ts}");
}

#[test]
fn crate_option_names_a_renamed_dependency() {
    let out = clamator()
        .args(["codegen", "rust", "--crate", "::renamed", "--contract"])
        .arg(fixtures().join("contracts/inventory.json"))
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("#[::renamed::contract(service = \"inventory\", crate = \"::renamed\")]"),
        "{text}"
    );
    assert!(
        text.contains("#[::renamed::model(crate = \"::renamed\")]"),
        "{text}"
    );
    assert!(!text.contains("::clamator::"), "{text}");
}
