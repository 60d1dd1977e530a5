//! Names in the generated code: PascalCase types, snake_case fields and
//! methods, and the keywords each language reserves.

/// Words of `s`: split at anything that is not a letter or digit, and
/// before an uppercase letter that follows a lowercase one or a digit.
fn words(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev = None;
            continue;
        }
        if c.is_ascii_uppercase()
            && prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
            && !cur.is_empty()
        {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
        prev = Some(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `addItem` / `not-found` / `add_item` -> `AddItem` / `NotFound` / `AddItem`.
pub(crate) fn pascal(s: &str) -> String {
    let mut out: String = words(s)
        .iter()
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &cs.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

/// `widthMm` / `not-found` -> `width_mm` / `not_found`.
pub(crate) fn snake(s: &str) -> String {
    let mut out = words(s)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'f');
    }
    out
}

/// `SCREAMING_SNAKE` of a name.
pub(crate) fn screaming(s: &str) -> String {
    snake(s).to_ascii_uppercase()
}

const RUST_KEYWORDS: [&str; 51] = [
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
];

/// A Rust identifier for `name` (`r#type` for keywords; `self_` and
/// friends where a raw identifier is not allowed).
pub(crate) fn rust_ident(name: &str) -> String {
    if matches!(name, "self" | "Self" | "super" | "crate") {
        format!("{name}_")
    } else if RUST_KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_owned()
    }
}

const PY_KEYWORDS: [&str; 38] = [
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "model_config",
    "model_fields",
    "schema",
];

/// A Python attribute name for `name` (`from_` for keywords and names pydantic reserves).
pub(crate) fn py_ident(name: &str) -> String {
    if PY_KEYWORDS.contains(&name) || name.starts_with("model_") {
        format!("{name}_")
    } else {
        name.to_owned()
    }
}

/// `want`, or `want2`, `want3`, ... if taken: a type name not in `names`,
/// which now holds it.
pub(crate) fn fresh(names: &mut std::collections::BTreeSet<String>, want: &str) -> String {
    let mut name = want.to_owned();
    let mut n = 2;
    while names.contains(&name) {
        name = format!("{want}{n}");
        n += 1;
    }
    names.insert(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert_eq!(pascal("addItem"), "AddItem");
        assert_eq!(pascal("not-found"), "NotFound");
        assert_eq!(pascal("my-svc"), "MySvc");
        assert_eq!(snake("widthMm"), "width_mm");
        assert_eq!(snake("sleepMs"), "sleep_ms");
        assert_eq!(snake("a2b"), "a2b");
        assert_eq!(screaming("addItem"), "ADD_ITEM");
        assert_eq!(rust_ident("type"), "r#type");
        assert_eq!(py_ident("from"), "from_");
    }
}
