//! The family's `manifest.json`: every method's params and result hash.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::file::ContractFile;

/// What `@clamator/codegen --manifest` writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The generator, e.g. `@clamator/codegen v0.1.0`.
    pub generated_by: String,
    /// Service -> method -> hashes.
    pub contracts: BTreeMap<String, BTreeMap<String, MethodHashes>>,
}

/// The hashes of one method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodHashes {
    /// The params schema's hash.
    pub params_hash: String,
    /// The result schema's hash; `null` for notifications.
    pub result_hash: Option<String>,
}

impl Manifest {
    /// The manifest of a contract file.
    pub fn of(file: &ContractFile) -> Manifest {
        let contracts = file
            .contracts
            .iter()
            .map(|c| {
                let methods = c
                    .methods
                    .iter()
                    .map(|m| {
                        (
                            m.name.clone(),
                            MethodHashes {
                                params_hash: m.params.hash.clone(),
                                result_hash: m.result.as_ref().map(|r| r.hash.clone()),
                            },
                        )
                    })
                    .collect();
                (c.service.clone(), methods)
            })
            .collect();
        Manifest {
            generated_by: "@clamator/codegen v0.1.0".to_owned(),
            contracts,
        }
    }

    /// Every disagreement between this manifest (the family's) and `file`,
    /// for the services and methods the file holds, as sentences.
    pub fn disagreements(&self, file: &ContractFile) -> Vec<String> {
        let mut out = Vec::new();
        let ours = Manifest::of(file);
        for (service, methods) in &ours.contracts {
            let Some(theirs) = self.contracts.get(service) else {
                out.push(format!("service {service:?} is not in the manifest"));
                continue;
            };
            for (name, h) in methods {
                match theirs.get(name) {
                    None => out.push(format!("{service}.{name} is not in the manifest")),
                    Some(t) if t != h => out.push(format!(
                        "{service}.{name}: the manifest has params {} / result {}, the contract file \
                         params {} / result {}",
                        t.params_hash,
                        t.result_hash.as_deref().unwrap_or("null"),
                        h.params_hash,
                        h.result_hash.as_deref().unwrap_or("null"),
                    )),
                    Some(_) => {}
                }
            }
            for name in theirs.keys().filter(|n| !methods.contains_key(*n)) {
                out.push(format!(
                    "{service}.{name} is in the manifest but not in the contract file"
                ));
            }
        }
        out
    }
}
