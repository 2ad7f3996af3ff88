//! Dynamic forms (issue 13): definitions that generate the admin screens, validation, list
//! queries, import and export. So far: the identity-number checks of the field types (`ids`).
//!
//! What it must never do: write SQL of its own (records go through a `store` port) or trust the
//! browser (the server validates every submission against the same definition).

pub mod ids;
