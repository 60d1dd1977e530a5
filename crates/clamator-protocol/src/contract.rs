//! Contract descriptors: what a service offers, in a form that can be exported
//! and compared (service name, wire method names, notifications, JSON Schemas).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::service::Service;

/// A service contract: its name and methods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractDescriptor {
    /// The service name (`^[a-z][a-z0-9-]*$`).
    pub service: String,
    /// The methods, in declaration order.
    pub methods: Vec<MethodDescriptor>,
}

/// One method of a contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodDescriptor {
    /// The wire method name (`^[a-z][a-zA-Z0-9]*$`), e.g. `slowAdd`.
    pub name: String,
    /// The Rust method name, e.g. `slow_add`.
    pub rust_name: String,
    /// Whether this is a notification (fire-and-forget, never a reply).
    pub notification: bool,
    /// JSON Schema of the params.
    pub params_schema: Value,
    /// JSON Schema of the result; `None` for notifications.
    pub result_schema: Option<Value>,
    /// The params schema's JSON text as a contract file wrote it, for
    /// contracts generated from one (`clamator codegen rust`): exporting such
    /// a contract writes this text unchanged, so its family hash survives the
    /// round trip. `None` for hand-written contracts (schemars's schema).
    #[serde(skip)]
    pub params_schema_text: Option<&'static str>,
    /// The result schema's JSON text, as for [`MethodDescriptor::params_schema_text`].
    #[serde(skip)]
    pub result_schema_text: Option<&'static str>,
}

impl ContractDescriptor {
    /// The method with this wire name.
    pub fn method(&self, wire_name: &str) -> Option<&MethodDescriptor> {
        self.methods.iter().find(|m| m.name == wire_name)
    }

    /// The descriptor as JSON, for export and comparison.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A schema's JSON text, parsed (generated contracts carry their contract
/// file's text); `Value::Null` if it is not JSON, which codegen rules out.
pub fn schema_from_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// The JSON Schema of `T`, as JSON.
pub fn schema_of<T: schemars::JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null)
}

/// A typed contract that can serve handlers of type `H`.
///
/// `#[clamator::contract]` implements it on a generated unit struct
/// (`ArithContract` for `trait Arith`) for every `H: Arith`, so registering a
/// handler that does not implement the contract does not compile.
pub trait Contract<H>: Send + Sync + 'static {
    /// The contract's descriptor.
    fn descriptor(&self) -> ContractDescriptor;
    /// Wraps a handler into a type-erased [`Service`].
    fn into_service(self, handler: H) -> Arc<dyn Service>;
}
