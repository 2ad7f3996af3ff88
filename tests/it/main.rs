//! End-to-end tests: a real server on port 0, real HTTP, a fresh database per test, on every
//! backend in `SY_TEST_BACKENDS` (see `store::testing`).

mod approval;
mod browser;
mod console;
mod engine_rest;
mod events;
mod form_fields;
mod form_imports;
mod forms;
mod identity;
mod idor;
mod onboarding;
mod routes;
mod security;
mod support;
mod task_forms;
mod venues;
