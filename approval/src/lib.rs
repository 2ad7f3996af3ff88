//! The approval rules (审批规则) of the 双拥 system, as plain data and pure functions:
//!
//! - [`settings`]: the `sy:` settings of a model (`camunda:property` entries), read once into
//!   typed [`ApprovalSettings`]; the same reading refuses a bad setting at deploy
//!   ([`SettingsCheck`], the engine's deploy-validation hook) and drives the operations.
//! - [`rights`]: the approval operations ([`Operation`]) and who may do each ([`may`]), the one
//!   table both the task page's list of operations and the enforcement read.
//!
//! What it must never do: reach storage, HTTP or the clock. The runtime asks it; it answers
//! from a model and from facts the caller has already established.

pub mod rights;
pub mod settings;

pub use rights::{Operation, Refusal, Standing, may, offered};
pub use settings::{ApprovalSettings, CcTarget, EmptyRule, RejectAction, SettingsCheck, TaskSettings, TimeoutAction};
