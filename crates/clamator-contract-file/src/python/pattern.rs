//! ECMAScript patterns -> Python `re`.

use std::fmt::Write as _;

/// Translates an ECMAScript pattern (no flags, as zod-to-json-schema writes
/// `regex.source`) to Python `re` with the same meaning: `\d` `\w` `\b` and
/// their negations are ASCII (`\s` is Unicode in both), `$` is the end of
/// the text (Python's `$` also matches before a final newline), named groups
/// and their backreferences use Python's spelling, `[]` / `[^]` mean never /
/// anything. `\p{...}` needs the `u` flag in JavaScript and is not in Python
/// `re`: refused.
pub fn py_pattern(source: &str) -> Result<String, String> {
    const WORD: &str = "A-Za-z0-9_";
    let mut out = String::new();
    let mut in_class = false;
    let cs: Vec<char> = source.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            '\\' => {
                let Some(&n) = cs.get(i + 1) else {
                    return Err("the pattern ends with a lone backslash".to_owned());
                };
                i += 1;
                match (n, in_class) {
                    ('d', false) => out.push_str("[0-9]"),
                    ('d', true) => out.push_str("0-9"),
                    ('D', false) => out.push_str("[^0-9]"),
                    ('w', false) => out.push_str("[A-Za-z0-9_]"),
                    ('w', true) => out.push_str(WORD),
                    ('W', false) => out.push_str("[^A-Za-z0-9_]"),
                    ('D' | 'W', true) => {
                        return Err(format!(
                            "`\\{n}` inside a character class is not translated"
                        ));
                    }
                    ('b', false) => out.push_str(
                        "(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))",
                    ),
                    ('B', false) => out.push_str(
                        "(?:(?<=[A-Za-z0-9_])(?=[A-Za-z0-9_])|(?<![A-Za-z0-9_])(?![A-Za-z0-9_]))",
                    ),
                    ('p' | 'P', _) => {
                        return Err("Unicode property escapes (`\\p{...}`) are not supported by Python `re`".to_owned());
                    }
                    ('k', false) if cs.get(i + 1) == Some(&'<') => {
                        let end = cs[i..]
                            .iter()
                            .position(|c| *c == '>')
                            .ok_or("`\\k<` without `>`")?;
                        let name: String = cs[i + 2..i + end].iter().collect();
                        let _ = write!(out, "(?P={name})");
                        i += end;
                    }
                    ('c', _) if cs.get(i + 1).is_some_and(char::is_ascii_alphabetic) => {
                        let _ = write!(out, "\\x{:02x}", (cs[i + 1] as u8) % 32);
                        i += 1;
                    }
                    ('/', _) => out.push('/'),
                    (n, _) => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' if !in_class => {
                if cs.get(i + 1) == Some(&']') {
                    out.push_str("(?!)");
                    i += 1;
                } else if cs.get(i + 1) == Some(&'^') && cs.get(i + 2) == Some(&']') {
                    out.push_str("[\\s\\S]");
                    i += 2;
                } else {
                    in_class = true;
                    out.push('[');
                    if cs.get(i + 1) == Some(&'^') {
                        out.push('^');
                        i += 1;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            // Python warns about possible set operations in a class; these are literal in ECMAScript.
            '[' | '&' | '~' | '|' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '$' if !in_class => out.push_str("\\Z"),
            '(' if !in_class
                && cs.get(i + 1) == Some(&'?')
                && cs.get(i + 2) == Some(&'<')
                && !matches!(cs.get(i + 3), Some('=' | '!')) =>
            {
                out.push_str("(?P<");
                i += 2;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}
