//! Data-driven integration tests of the engine core: BPMN text and commands in, event transcripts
//! and state out. No database, no I/O besides reading fixture files.

mod harness;

mod approval;
mod events;
mod multi_instance;

mod gateways;
mod limits;
mod miwg;
mod parse_errors;
mod scopes;
mod tasks;
mod workloads;
