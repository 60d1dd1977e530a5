//! Service and method names (docs/WIRE.md §1).
//!
//! Service names match `^[a-z][a-z0-9-]*$`, method names `^[a-z][a-zA-Z0-9]*$`,
//! and the wire method is `"<service>.<method>"`, split at the first dot.
//!
//! The rules themselves live in `clamator-names` (re-exported here), which
//! `#[clamator::contract]` also uses, so compile-time and run-time checks agree.

pub use clamator_names::{
    METHOD_PATTERN, SERVICE_PATTERN, camel_case, is_valid_method, is_valid_service,
    split_wire_method, wire_method,
};

use crate::error::ProtocolError;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_say_what_is_wrong() {
        assert!(check_service("my-svc").is_ok());
        assert!(check_method("slowAdd").is_ok());
        let err = check_service("My_Svc").unwrap_err().to_string();
        assert!(
            err.contains("My_Svc") && err.contains(SERVICE_PATTERN),
            "{err}"
        );
        let err = check_method("slow-add").unwrap_err().to_string();
        assert!(
            err.contains("slow-add") && err.contains(METHOD_PATTERN),
            "{err}"
        );
    }
}
