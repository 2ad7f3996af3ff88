//! The BPMN engine core: parse → validate → executable model, and the pure state machine that
//! turns (instance state, command) into (new state, events).
//!
//! Architecture invariant: this crate does no I/O — no database, no network, no clock, no files.
//! It is tested with BPMN text and commands in, events and state out.
//!
//! What it must never do: know the 双拥 domain or its approval rules. Layers above add their
//! own deploy checks through [`ModelCheck`] (`parse_checked`), and their own service-task
//! handlers through [`ServiceHandlers`]; the engine only runs BPMN.

pub mod model;
pub mod parse;
pub mod ports;
pub mod runtime;
pub mod script;
pub mod state;
pub mod timer;
pub mod value;

pub use model::{Definitions, FormField, FormFieldKind, ProcessModel};
pub use parse::{ParseError, Parsed, Problem, parse, parse_checked, process_ids};
pub use ports::{HandlerRegistry, ModelCheck, ServiceCall, ServiceError, ServiceHandlers};
pub use runtime::{Event, Runtime, TaskSpec};
pub use script::{RUNTIME_STACK_BYTES, Scripting};
pub use state::{InstanceState, InstanceStatus, TokenId, Wait, WaitTrigger};
pub use value::{MAX_NAME_CHARS, MAX_VALUE_BYTES, MAX_VALUE_DEPTH, Value, Variables, check_variables};

/// Errors of commands given to the runtime. Failures *inside* a process are not errors: they
/// become incidents on the instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidCommand(String),
}
