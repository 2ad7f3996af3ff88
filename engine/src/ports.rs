//! Ports: what the engine asks of the world outside it. Service-task handlers are registered by
//! name (domain modules in `services/` provide them) and called synchronously while a command
//! runs, so their output lands in the same transaction as the rest of the command.

use std::collections::HashMap;
use std::sync::Arc;

use crate::value::Variables;

/// One service-task invocation.
pub struct ServiceCall<'a> {
    pub handler: &'a str,
    pub element_id: &'a str,
    /// The variables visible at the task.
    pub variables: &'a Variables,
}

/// Why a handler did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceError {
    /// A technical failure: becomes an incident (or a job retry when the task is async).
    Failed(String),
    /// A business error (`throw new BpmnError(code)` in Camunda): caught by an error boundary
    /// event with this code, or an incident when nothing catches it.
    Bpmn { code: String, message: Option<String> },
}

impl From<String> for ServiceError {
    fn from(message: String) -> Self {
        ServiceError::Failed(message)
    }
}

impl From<&str> for ServiceError {
    fn from(message: &str) -> Self {
        ServiceError::Failed(message.to_string())
    }
}

/// A deploy check of a layer above the engine: the problems it finds in a parsed process
/// refuse the file, like the engine's own ([`crate::parse_checked`]).
pub trait ModelCheck: Send + Sync {
    fn check(&self, model: &crate::ProcessModel) -> Vec<crate::Problem>;
}

/// Looks up and calls service-task handlers.
pub trait ServiceHandlers: Send + Sync {
    /// Whether a handler of this name exists (checked at deploy).
    fn contains(&self, name: &str) -> bool;
    /// Runs the handler; `Ok` holds variables to set.
    fn call(&self, call: &ServiceCall<'_>) -> Result<Variables, ServiceError>;
    /// The handlers' names, sorted (the editor offers them for `sy:handler`).
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

type Handler = Arc<dyn Fn(&ServiceCall<'_>) -> Result<Variables, ServiceError> + Send + Sync>;

/// A name → closure registry, the usual [`ServiceHandlers`].
#[derive(Default, Clone)]
pub struct HandlerRegistry {
    handlers: HashMap<String, Handler>,
}

impl HandlerRegistry {
    pub fn new() -> Self {
        HandlerRegistry::default()
    }

    pub fn register(
        &mut self,
        name: &str,
        handler: impl Fn(&ServiceCall<'_>) -> Result<Variables, ServiceError> + Send + Sync + 'static,
    ) {
        self.handlers.insert(name.to_string(), Arc::new(handler));
    }
}

impl ServiceHandlers for HandlerRegistry {
    fn contains(&self, name: &str) -> bool {
        self.handlers.contains_key(name)
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        names
    }

    fn call(&self, call: &ServiceCall<'_>) -> Result<Variables, ServiceError> {
        match self.handlers.get(call.handler) {
            Some(handler) => handler(call),
            None => Err(format!("no service-task handler named '{}' is registered", call.handler).into()),
        }
    }
}
