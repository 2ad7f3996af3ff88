//! Storage conformance suite: the same tests against every backend in `SY_TEST_BACKENDS`
//! (see `store::testing`; SQLite by default, `SY_TEST_BACKENDS=sqlite,postgres` adds PostgreSQL).
//!
//! Each test gets a fresh database per backend, a [`store::Store`] from `store::connect` and an
//! [`runtime::Executor`] over it (see `support`), and drives the store through the executor the way
//! `web/` does, checking the rows each command leaves behind.

mod access;
mod bookings;
mod cleanup;
mod concurrency;
mod definitions;
mod drafts;
mod durability;
mod identity;
mod incidents;
mod instances;
mod models;
mod support;
mod tasks;
mod workers;
