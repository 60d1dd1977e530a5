//! Service and method names (WIRE.md §1).
//!
//! Service names match `^[a-z][a-z0-9-]*$`, method names `^[a-z][a-zA-Z0-9]*$`,
//! and the wire method is `"<service>.<method>"`, split at the first dot.

use crate::error::ProtocolError;

/// Whether `name` is a valid service name (`^[a-z][a-z0-9-]*$`).
pub fn is_valid_service(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
}

/// Whether `name` is a valid method name (`^[a-z][a-zA-Z0-9]*$`).
pub fn is_valid_method(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z')) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Checks a service name, saying what is wrong with it.
pub fn check_service(name: &str) -> Result<(), ProtocolError> {
    if is_valid_service(name) {
        Ok(())
    } else {
        Err(ProtocolError::InvalidName {
            name: name.to_owned(),
            reason: "a service name must match ^[a-z][a-z0-9-]*$ (lowercase letter first, then lowercase letters, digits or '-')",
        })
    }
}

/// Checks a method name, saying what is wrong with it.
pub fn check_method(name: &str) -> Result<(), ProtocolError> {
    if is_valid_method(name) {
        Ok(())
    } else {
        Err(ProtocolError::InvalidName {
            name: name.to_owned(),
            reason: "a method name must match ^[a-z][a-zA-Z0-9]*$ (lowercase letter first, then letters or digits)",
        })
    }
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
        for ok in ["arith", "a", "my-svc", "svc2", "a-1-b"] {
            assert!(is_valid_service(ok), "{ok} should be valid");
        }
        for bad in ["", "Arith", "1abc", "-a", "a_b", "a.b", "aé", "a b"] {
            assert!(!is_valid_service(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn method_names() {
        for ok in ["add", "slowAdd", "a1", "echoText"] {
            assert!(is_valid_method(ok), "{ok} should be valid");
        }
        for bad in ["", "Add", "slow-add", "slow_add", "1a", "a.b"] {
            assert!(!is_valid_method(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn split() {
        assert_eq!(split_wire_method("arith.add"), Some(("arith", "add")));
        assert_eq!(split_wire_method("arith.add.x"), None);
        assert_eq!(split_wire_method("arith"), None);
        assert_eq!(split_wire_method(".add"), None);
        assert_eq!(split_wire_method("arith."), None);
    }

    #[test]
    fn camel() {
        assert_eq!(camel_case("slow_add"), "slowAdd");
        assert_eq!(camel_case("add"), "add");
        assert_eq!(camel_case("echo_text_now"), "echoTextNow");
        assert_eq!(camel_case("_private"), "private");
    }
}
