//! The family's schema hash: lowercase hex sha256 of the schema's compact
//! JSON text, keys in the order they were written (what JavaScript's
//! `JSON.stringify` gives for the object zod-to-json-schema built).

use sha2::{Digest, Sha256};

/// `text` without the whitespace between tokens: the `JSON.stringify` form
/// of a document that `JSON.stringify(value, null, 2)` (or any other
/// indentation) wrote. Strings are copied byte for byte.
pub fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

/// The family hash of a schema given as JSON text (any indentation).
pub fn schema_hash(text: &str) -> String {
    let digest = Sha256::digest(compact(text).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_keeps_strings_and_order() {
        let text = "{\n  \"b\": \"x y\\\" z\",\n  \"a\": [ 1, 2 ]\n}";
        assert_eq!(compact(text), "{\"b\":\"x y\\\" z\",\"a\":[1,2]}");
    }

    #[test]
    fn hash_of_known_text() {
        // sha256 of `{}`, as `echo -n '{}' | sha256sum` prints it.
        assert_eq!(
            schema_hash("{ }"),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
