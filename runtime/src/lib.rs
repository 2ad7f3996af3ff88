//! The command runner: [`Executor`] loads an instance, runs the pure engine
//! (`engine::Runtime`) and writes the new state with every derived row through the
//! [`store::Store`] port in one version-guarded transaction; the approval operations
//! ([`operations`]), the triggers that move instances from outside (jobs, messages, signals,
//! external tasks, [`triggers`]), follow-ups, the job executor every node runs
//! ([`job_executor`]) and the durable workers of the domain handlers ([`workers`], over the
//! ports in [`ports`]).
//!
//! What it must never do: write SQL (that is `store/`), know HTTP (that is `web/`), or let a
//! change and what follows from it land in different transactions without a job row that
//! carries the rest.

pub mod calendar;
pub mod executor;
pub mod job_executor;
pub mod operations;
pub mod ports;
mod triggers;
pub mod workers;

pub use executor::{Actor, Executor};
pub use store::MessageCorrelation;
