//! Rust contract -> contract file: a [`ContractDescriptor`]'s schemas
//! (schemars, draft 2020-12 with `$defs`) rewritten as draft 7 with every
//! `$ref` inlined, the shape zod-to-json-schema writes with `$refStrategy: 'none'`.

use clamator_protocol::ContractDescriptor;
use serde_json::{Map, Value};

use crate::error::ContractFileError;
use crate::file::{Contract, ContractFile, Method, Schema};

/// The draft 7 meta-schema URL every exported schema names, as zod-to-json-schema does.
pub const DRAFT_07: &str = "http://json-schema.org/draft-07/schema#";

/// The contract file entry of a Rust contract (`ArithContract::descriptor()`),
/// methods sorted in the family's order. `source` says where it came from.
pub fn contract(
    descriptor: &ContractDescriptor,
    source: &str,
) -> Result<Contract, ContractFileError> {
    let mut methods = Vec::new();
    for m in &descriptor.methods {
        let params = Schema::from_value(&draft07(&m.params_schema)?)?;
        let result = match &m.result_schema {
            Some(r) => Some(Schema::from_value(&draft07(r)?)?),
            None => None,
        };
        methods.push(Method {
            name: m.name.clone(),
            is_notification: m.notification,
            params,
            result,
        });
    }
    let mut file = ContractFile {
        contracts: vec![Contract {
            service: descriptor.service.clone(),
            source_file: Some(source.to_owned()),
            methods,
        }],
    };
    file.sort();
    Ok(file.contracts.remove(0))
}

/// A contract file of several Rust contracts.
pub fn file(descriptors: &[(ContractDescriptor, &str)]) -> Result<ContractFile, ContractFileError> {
    let mut file = ContractFile {
        contracts: descriptors
            .iter()
            .map(|(d, source)| contract(d, source))
            .collect::<Result<_, _>>()?,
    };
    file.sort();
    Ok(file)
}

/// A schemars schema as draft 7: `$ref`s to `$defs` / `definitions` inlined,
/// those removed, `$schema` set to draft 7 and moved last (where
/// zod-to-json-schema puts it).
pub fn draft07(schema: &Value) -> Result<Value, ContractFileError> {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = inline(schema, &defs, 0)?;
    if let Value::Object(o) = &mut out {
        o.remove("$defs");
        o.remove("definitions");
        o.remove("$schema");
        o.insert("$schema".to_owned(), Value::from(DRAFT_07));
    }
    Ok(out)
}

fn inline(v: &Value, defs: &Map<String, Value>, depth: usize) -> Result<Value, ContractFileError> {
    if depth > 64 {
        return Err(ContractFileError::Invalid {
            origin: "export".to_owned(),
            msg: "a recursive type cannot be inlined: contracts across languages need \
                  non-recursive params and results"
                .to_owned(),
        });
    }
    Ok(match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                let name = r
                    .strip_prefix("#/$defs/")
                    .or_else(|| r.strip_prefix("#/definitions/"))
                    .unwrap_or(r);
                let target = defs.get(name).ok_or_else(|| ContractFileError::Invalid {
                    origin: "export".to_owned(),
                    msg: format!("the schema refers to {r}, which it does not define"),
                })?;
                let mut inlined = inline(target, defs, depth + 1)?;
                // Keywords beside the `$ref` (a description) are kept.
                if let Value::Object(t) = &mut inlined {
                    for (k, val) in o.iter().filter(|(k, _)| k.as_str() != "$ref") {
                        t.insert(k.clone(), inline(val, defs, depth + 1)?);
                    }
                }
                inlined
            } else {
                let mut m = Map::new();
                for (k, val) in o {
                    if k == "$defs" || k == "definitions" {
                        m.insert(k.clone(), val.clone());
                    } else {
                        m.insert(k.clone(), inline(val, defs, depth)?);
                    }
                }
                Value::Object(m)
            }
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| inline(x, defs, depth))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}
