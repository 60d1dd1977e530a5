//! The clamator naming rules (docs/WIRE.md §1), in the one place both the protocol
//! (checking names at run time) and `#[clamator::contract]` (checking them at
//! compile time) read them from.
//!
//! Service names match [`SERVICE_PATTERN`], method names [`METHOD_PATTERN`],
//! and the wire method is `"<service>.<method>"`, split at the first dot.
//!
//! The crate has no dependencies so the proc-macro crate can use it without
//! pulling in the protocol's serde / schemars stack.
#![deny(missing_docs)]

/// The pattern every service name matches.
pub const SERVICE_PATTERN: &str = "^[a-z][a-z0-9-]*$";

/// The pattern every method name matches (no hyphen since clamator 0.1.6).
pub const METHOD_PATTERN: &str = "^[a-z][a-zA-Z0-9]*$";

/// Whether `name` is a valid service name ([`SERVICE_PATTERN`]).
pub fn is_valid_service(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
}

/// Whether `name` is a valid method name ([`METHOD_PATTERN`]).
pub fn is_valid_method(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z')) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Splits a wire method `"<service>.<method>"` at its first dot and checks both parts.
///
/// Returns `None` when there is no dot or either part is invalid.
pub fn split_wire_method(wire: &str) -> Option<(&str, &str)> {
    let (service, method) = wire.split_once('.')?;
    (is_valid_service(service) && is_valid_method(method)).then_some((service, method))
}

/// Joins a service and a method into the wire method `"<service>.<method>"`.
pub fn wire_method(service: &str, method: &str) -> String {
    let mut out = String::with_capacity(service.len() + 1 + method.len());
    out.push_str(service);
    out.push('.');
    out.push_str(method);
    out
}

/// The camelCase wire name of a Rust snake_case method name (`slow_add` -> `slowAdd`).
///
/// Leading underscores are dropped; the result is not checked, pass it to
/// [`is_valid_method`] for that.
pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        for ok in ["arith", "a", "my-svc", "svc2", "a-1-b", "a-"] {
            assert!(is_valid_service(ok), "{ok} should be valid");
        }
        for bad in ["", "Arith", "1abc", "-a", "a_b", "a.b", "aé", "a b"] {
            assert!(!is_valid_service(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn method_names() {
        for ok in ["add", "slowAdd", "a1", "echoText", "aBC"] {
            assert!(is_valid_method(ok), "{ok} should be valid");
        }
        for bad in ["", "Add", "slow-add", "slow_add", "1a", "a.b", "aé"] {
            assert!(!is_valid_method(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn split() {
        assert_eq!(split_wire_method("arith.add"), Some(("arith", "add")));
        assert_eq!(
            split_wire_method("my-svc.slowAdd"),
            Some(("my-svc", "slowAdd"))
        );
        assert_eq!(split_wire_method("arith.add.x"), None);
        assert_eq!(split_wire_method("arith"), None);
        assert_eq!(split_wire_method(".add"), None);
        assert_eq!(split_wire_method("arith."), None);
    }

    #[test]
    fn join() {
        assert_eq!(wire_method("arith", "slowAdd"), "arith.slowAdd");
    }

    #[test]
    fn camel() {
        assert_eq!(camel_case("slow_add"), "slowAdd");
        assert_eq!(camel_case("add"), "add");
        assert_eq!(camel_case("echo_text_now"), "echoTextNow");
        assert_eq!(camel_case("_private"), "private");
        assert_eq!(camel_case("a__b"), "aB");
    }
}
