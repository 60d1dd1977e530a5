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
        // A contract generated from a contract file carries its schemas'
        // text: written back unchanged, they keep the family's hashes.
        let params = match m.params_schema_text {
            Some(text) => Schema::from_text(text)?,
            None => Schema::from_value(&draft07(&m.params_schema)?)?,
        };
        let result = match (&m.result_schema, m.result_schema_text) {
            (Some(_), Some(text)) => Some(Schema::from_text(text)?),
            (Some(r), None) => Some(Schema::from_value(&draft07(r)?)?),
            (None, _) => None,
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
/// zod-to-json-schema puts it). A recursive type cannot be inlined: its
/// definition stays under `definitions` and refers to itself with
/// `$ref: "#/definitions/<Name>"` (what zod-to-json-schema writes for a
/// `z.lazy` with a `definitions` option), which every generator reads.
pub fn draft07(schema: &Value) -> Result<Value, ContractFileError> {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let recursive: Vec<String> = defs
        .keys()
        .filter(|name| reaches(&defs, name, name, &mut Vec::new()))
        .cloned()
        .collect();
    let mut out = inline(schema, &defs, &recursive, 0)?;
    if let Value::Object(o) = &mut out {
        o.remove("$defs");
        o.remove("definitions");
        o.remove("$schema");
        if !recursive.is_empty() {
            let mut kept = Map::new();
            for name in &recursive {
                if let Some(def) = defs.get(name) {
                    kept.insert(name.clone(), inline(def, &defs, &recursive, 0)?);
                }
            }
            o.insert("definitions".to_owned(), Value::Object(kept));
        }
        o.insert("$schema".to_owned(), Value::from(DRAFT_07));
    }
    Ok(out)
}

fn ref_name(r: &str) -> &str {
    r.strip_prefix("#/$defs/")
        .or_else(|| r.strip_prefix("#/definitions/"))
        .unwrap_or(r)
}

/// Whether the definition `from` refers (directly or not) to `target`.
fn reaches(defs: &Map<String, Value>, from: &str, target: &str, seen: &mut Vec<String>) -> bool {
    if seen.iter().any(|s| s == from) {
        return false;
    }
    seen.push(from.to_owned());
    let mut refs = Vec::new();
    if let Some(d) = defs.get(from) {
        collect_refs(d, &mut refs);
    }
    refs.iter()
        .any(|r| r == target || reaches(defs, r, target, seen))
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                out.push(ref_name(r).to_owned());
            }
            o.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

fn inline(
    v: &Value,
    defs: &Map<String, Value>,
    recursive: &[String],
    depth: usize,
) -> Result<Value, ContractFileError> {
    if depth > 64 {
        return Err(ContractFileError::Invalid {
            origin: "export".to_owned(),
            msg: "the schema's references nest more than 64 deep".to_owned(),
        });
    }
    Ok(match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                let name = ref_name(r);
                let target = defs.get(name).ok_or_else(|| ContractFileError::Invalid {
                    origin: "export".to_owned(),
                    msg: format!("the schema refers to {r}, which it does not define"),
                })?;
                if recursive.iter().any(|n| n == name) {
                    // Kept as a reference; keywords beside it are kept too.
                    let mut m = Map::new();
                    m.insert(
                        "$ref".to_owned(),
                        Value::from(format!("#/definitions/{name}")),
                    );
                    for (k, val) in o.iter().filter(|(k, _)| k.as_str() != "$ref") {
                        m.insert(k.clone(), inline(val, defs, recursive, depth + 1)?);
                    }
                    return Ok(Value::Object(m));
                }
                let mut inlined = inline(target, defs, recursive, depth + 1)?;
                // Keywords beside the `$ref` (a description) are kept.
                if let Value::Object(t) = &mut inlined {
                    for (k, val) in o.iter().filter(|(k, _)| k.as_str() != "$ref") {
                        t.insert(k.clone(), inline(val, defs, recursive, depth + 1)?);
                    }
                }
                inlined
            } else {
                let mut m = Map::new();
                for (k, val) in o {
                    if k == "$defs" || k == "definitions" {
                        m.insert(k.clone(), val.clone());
                    } else {
                        m.insert(k.clone(), inline(val, defs, recursive, depth)?);
                    }
                }
                Value::Object(m)
            }
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| inline(x, defs, recursive, depth))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recursive_definitions_stay_as_references() {
        let s = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"root": {"$ref": "#/$defs/Node"}, "meta": {"$ref": "#/$defs/Meta"}},
            "$defs": {
                "Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}},
                "Meta": {"type": "object", "properties": {"at": {"type": "string"}}}
            }
        });
        let out = draft07(&s).unwrap();
        assert_eq!(
            out["properties"]["root"],
            json!({"$ref": "#/definitions/Node"})
        );
        assert_eq!(
            out["properties"]["meta"]["properties"]["at"]["type"],
            json!("string")
        );
        assert_eq!(
            out["definitions"]["Node"]["properties"]["children"]["items"],
            json!({"$ref": "#/definitions/Node"})
        );
        assert!(out.get("$defs").is_none());
        // And every generator reads it.
        crate::schema::parse(&out, "t").unwrap();
    }
}
