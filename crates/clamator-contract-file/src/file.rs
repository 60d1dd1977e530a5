//! The contract file: its types, reading, writing and the hash check.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::ContractFileError;
use crate::hash::schema_hash;

/// A contract file: one contract, or a list of them (one file per directory
/// of TypeScript contracts). Always written as a list.
#[derive(Debug, Clone)]
pub struct ContractFile {
    /// The contracts, sorted by service.
    pub contracts: Vec<Contract>,
}

/// One contract in the family's intermediate shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Contract {
    /// The service name (`^[a-z][a-z0-9-]*$`).
    pub service: String,
    /// Where the contract came from (a `.ts` file name, or `rust:<crate path>`), for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_file: Option<String>,
    /// The methods, sorted by name (the family's `localeCompare` order).
    pub methods: Vec<Method>,
}

/// One method of a contract.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Method {
    /// The wire method name (`^[a-z][a-zA-Z0-9]*$`).
    pub name: String,
    /// Fire-and-forget: no result, never a reply.
    pub is_notification: bool,
    /// The params schema.
    pub params: Schema,
    /// The result schema; `null` for notifications.
    pub result: Option<Schema>,
}

/// A JSON Schema (draft 7) and its family hash.
///
/// The schema's text is kept as written, so the key order (which the hash
/// depends on) survives reading and writing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Schema {
    /// The schema, as written.
    pub json_schema: Box<RawValue>,
    /// Lowercase hex sha256 of the schema's compact text.
    pub hash: String,
}

impl Schema {
    /// A schema from its JSON text, with its hash computed.
    pub fn from_text(text: &str) -> Result<Schema, ContractFileError> {
        let compact = crate::hash::compact(text);
        let json_schema = RawValue::from_string(compact).map_err(|e| ContractFileError::Json {
            what: "a schema".to_owned(),
            source: e,
        })?;
        let hash = schema_hash(json_schema.get());
        Ok(Schema { json_schema, hash })
    }

    /// A schema from a JSON value (keys in the value's own order).
    pub fn from_value(value: &Value) -> Result<Schema, ContractFileError> {
        let text = serde_json::to_string(value).map_err(|e| ContractFileError::Json {
            what: "a schema".to_owned(),
            source: e,
        })?;
        Schema::from_text(&text)
    }

    /// The schema parsed.
    pub fn value(&self) -> Result<Value, ContractFileError> {
        serde_json::from_str(self.json_schema.get()).map_err(|e| ContractFileError::Json {
            what: "a schema".to_owned(),
            source: e,
        })
    }

    /// The hash of the schema as written now (compare with [`Schema::hash`]).
    pub fn computed_hash(&self) -> String {
        schema_hash(self.json_schema.get())
    }
}

impl ContractFile {
    /// Parses a contract file's text (`origin` names it in errors) and checks
    /// it: names, method order, notifications without results, and every
    /// stored hash against the schema it belongs to.
    pub fn parse(text: &str, origin: &str) -> Result<ContractFile, ContractFileError> {
        let json_err = |e| ContractFileError::Json {
            what: format!(
                "{origin} (a contract file is a list of {{service, methods}} objects, \
                 see docs/CONTRACTS.md)"
            ),
            source: e,
        };
        // One contract or a list; decided by the first character, because
        // serde's untagged enums cannot hold the raw schema text.
        let contracts = if text.trim_start().starts_with('{') {
            vec![serde_json::from_str::<Contract>(text).map_err(json_err)?]
        } else {
            serde_json::from_str::<Vec<Contract>>(text).map_err(json_err)?
        };
        let file = ContractFile { contracts };
        file.check(origin)?;
        Ok(file)
    }

    /// Reads and parses a contract file.
    pub fn read(path: &std::path::Path) -> Result<ContractFile, ContractFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ContractFileError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        ContractFile::parse(&text, &path.display().to_string())
    }

    /// The file's text: a list, two-space indented, schemas compact, newline at the end.
    pub fn to_text(&self) -> String {
        let mut out = serde_json::to_string_pretty(&self.contracts).unwrap_or_default();
        out.push('\n');
        out
    }

    /// The contract of `service`.
    pub fn contract(&self, service: &str) -> Option<&Contract> {
        self.contracts.iter().find(|c| c.service == service)
    }

    fn check(&self, origin: &str) -> Result<(), ContractFileError> {
        let invalid = |msg: String| ContractFileError::Invalid {
            origin: origin.to_owned(),
            msg,
        };
        for c in &self.contracts {
            if !clamator_names::is_valid_service(&c.service) {
                return Err(invalid(format!(
                    "service name {:?} must match {}",
                    c.service,
                    clamator_names::SERVICE_PATTERN
                )));
            }
            for (i, m) in c.methods.iter().enumerate() {
                if !clamator_names::is_valid_method(&m.name) {
                    return Err(invalid(format!(
                        "method name {}.{} must match {}",
                        c.service,
                        m.name,
                        clamator_names::METHOD_PATTERN
                    )));
                }
                if i > 0 && c.methods[i - 1].name == m.name {
                    return Err(invalid(format!(
                        "method {}.{} appears twice",
                        c.service, m.name
                    )));
                }
                match (&m.result, m.is_notification) {
                    (Some(_), true) => {
                        return Err(invalid(format!(
                            "{}.{} is a notification with a result; set result to null",
                            c.service, m.name
                        )));
                    }
                    (None, false) => {
                        return Err(invalid(format!(
                            "{}.{} has no result; give it one or set isNotification to true",
                            c.service, m.name
                        )));
                    }
                    _ => {}
                }
                let schemas = std::iter::once(("params", &m.params))
                    .chain(m.result.as_ref().map(|r| ("result", r)));
                for (which, s) in schemas {
                    let computed = s.computed_hash();
                    if computed != s.hash {
                        return Err(ContractFileError::HashMismatch {
                            origin: origin.to_owned(),
                            what: format!("{}.{} {which}", c.service, m.name),
                            stored: s.hash.clone(),
                            computed,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Sorts contracts by service and methods by name, in the family's order.
    pub fn sort(&mut self) {
        self.contracts
            .sort_by(|a, b| locale_order(&a.service, &b.service));
        for c in &mut self.contracts {
            c.methods.sort_by(|a, b| locale_order(&a.name, &b.name));
        }
    }
}

/// The order JavaScript's `localeCompare` gives names made of ASCII letters,
/// digits and `-` (the only characters service and method names have):
/// case-insensitive first (punctuation, then digits, then letters), then
/// lowercase before uppercase.
pub fn locale_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn primary(c: char) -> (u8, char) {
        match c {
            '0'..='9' => (1, c),
            c if c.is_ascii_alphabetic() => (2, c.to_ascii_lowercase()),
            _ => (0, c),
        }
    }
    let pa: Vec<_> = a.chars().map(primary).collect();
    let pb: Vec<_> = b.chars().map(primary).collect();
    pa.cmp(&pb).then_with(|| {
        // Tertiary: lowercase first.
        let ta = a.chars().map(|c| c.is_ascii_uppercase());
        let tb = b.chars().map(|c| c.is_ascii_uppercase());
        ta.cmp(tb)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_order_is_case_insensitive_first() {
        let mut names = vec!["zeta", "Beta", "alpha", "beta", "a2", "a10"];
        names.sort_by(|a, b| locale_order(a, b));
        assert_eq!(names, ["a10", "a2", "alpha", "beta", "Beta", "zeta"]);
    }
}
