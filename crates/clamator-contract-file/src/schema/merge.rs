//! `allOf`: merging the branches of an intersection into one schema.

use serde_json::{Map, Value};

use super::parser::{Parser, escape};
use super::{ANNOTATIONS, UnsupportedSchema};

impl Parser<'_> {
    /// `allOf` (`z.intersection`, `.and()`, several `.regex()`, `.pipe()`):
    /// the branches merged into one schema. Several patterns are kept as a
    /// list under `pattern`; other keywords must agree.
    pub(super) fn merge_all_of(
        &self,
        o: &Map<String, Value>,
        all: &Value,
        ptr: &str,
    ) -> Result<Map<String, Value>, UnsupportedSchema> {
        let Value::Array(branches) = all else {
            return Err(self.err(&format!("{ptr}/allOf"), "`allOf` must be a list"));
        };
        let mut merged: Map<String, Value> = o.clone();
        merged.remove("allOf");
        let mut patterns: Vec<Value> = Vec::new();
        if let Some(p) = merged.remove("pattern") {
            patterns.push(p);
        }
        for (i, b) in branches.iter().enumerate() {
            let bptr = format!("{ptr}/allOf/{i}");
            let Value::Object(b) = b else {
                return Err(self.err(&bptr, "an `allOf` branch must be an object schema"));
            };
            if b.contains_key("allOf") || b.contains_key("$ref") || b.contains_key("anyOf") {
                return Err(self.err(
                    &bptr,
                    "nested `allOf`, `anyOf` or `$ref` inside `allOf` is not supported",
                ));
            }
            for (k, v) in b {
                match k.as_str() {
                    "pattern" => patterns.push(v.clone()),
                    "properties" => {
                        let Value::Object(props) = v else {
                            return Err(self.err(
                                &format!("{bptr}/properties"),
                                "`properties` must be an object",
                            ));
                        };
                        let target = merged
                            .entry("properties")
                            .or_insert_with(|| Value::Object(Map::new()));
                        let Value::Object(target) = target else {
                            return Err(self.err(&bptr, "`properties` must be an object"));
                        };
                        for (name, s) in props {
                            match target.get(name) {
                                Some(existing) if existing != s => {
                                    return Err(self.err(
                                        &format!("{bptr}/properties/{}", escape(name)),
                                        format!("the field `{name}` has different schemas in two `allOf` branches"),
                                    ));
                                }
                                _ => {
                                    target.insert(name.clone(), s.clone());
                                }
                            }
                        }
                    }
                    "required" => {
                        let list = merged
                            .entry("required")
                            .or_insert_with(|| Value::Array(Vec::new()));
                        if let (Value::Array(list), Value::Array(add)) = (list, v) {
                            for r in add {
                                if !list.contains(r) {
                                    list.push(r.clone());
                                }
                            }
                        }
                    }
                    "additionalProperties" => {
                        // Each branch of an intersection judges only its own
                        // fields; the merged object takes what any branch does.
                        let open = merged.get("additionalProperties") == Some(&Value::Bool(false))
                            || !merged.contains_key("additionalProperties");
                        if open && v != &Value::Bool(false) {
                            merged.insert(k.clone(), v.clone());
                        }
                    }
                    _ if ANNOTATIONS.contains(&k.as_str()) => {}
                    _ => {
                        match merged.get(k) {
                            Some(existing) if existing != v => {
                                return Err(self.err(
                                &format!("{bptr}/{}", escape(k)),
                                format!("`{k}` differs between `allOf` branches ({existing} and {v})"),
                            ));
                            }
                            _ => {
                                merged.insert(k.clone(), v.clone());
                            }
                        }
                    }
                }
            }
        }
        // An intersection of objects: a field listed by one branch is known.
        if merged.get("additionalProperties") == Some(&Value::Bool(false))
            && branches.len() > 1
            && merged.contains_key("properties")
        {
            merged.remove("additionalProperties");
        }
        match patterns.len() {
            0 => {}
            1 => {
                merged.insert("pattern".to_owned(), patterns.remove(0));
            }
            _ => {
                merged.insert("pattern".to_owned(), Value::Array(patterns));
            }
        }
        Ok(merged)
    }
}
