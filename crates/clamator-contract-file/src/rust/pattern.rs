//! ECMAScript patterns -> the `regex` crate's syntax.

/// Translates an ECMAScript pattern (what Zod writes) into the `regex`
/// crate's syntax: `\d`, `\w` and `\b` are ASCII in JavaScript and Unicode in
/// Rust; the rest of the common syntax is shared. Lookaround and
/// backreferences have no equivalent and are refused.
pub fn translate_pattern(pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    return Err("the pattern ends with a lone backslash".to_owned());
                };
                match n {
                    'd' => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                    'D' => out.push_str("[^0-9]"),
                    'w' => out.push_str(if in_class {
                        "0-9A-Za-z_"
                    } else {
                        "[0-9A-Za-z_]"
                    }),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    'b' if !in_class => out.push_str("(?-u:\\b)"),
                    'B' if !in_class => out.push_str("(?-u:\\B)"),
                    '1'..='9' => {
                        return Err(format!(
                            "backreferences (`\\{n}`) are not supported by the Rust regex crate"
                        ));
                    }
                    '/' => out.push('/'),
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                // A `]` first in a class is a literal in JavaScript.
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' => out.push_str("\\["),
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '(' if !in_class && chars.peek() == Some(&'?') => {
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("?=")
                    || rest.starts_with("?!")
                    || rest.starts_with("?<=")
                    || rest.starts_with("?<!")
                {
                    return Err("lookaround (`(?=`, `(?!`, `(?<=`, `(?<!`) is not supported by the Rust regex crate".to_owned());
                }
                out.push('(');
            }
            other => out.push(other),
        }
    }
    regex_syntax_check(&out)?;
    Ok(out)
}

fn regex_syntax_check(p: &str) -> Result<(), String> {
    regex::Regex::new(p)
        .map(|_| ())
        .map_err(|e| format!("the Rust regex crate cannot compile it: {e}"))
}
