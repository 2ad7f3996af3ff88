//! Domain modules of the 双拥 system and the contract they are written against.
//!
//! Two kinds of handler, by what they need:
//! - **Domain handlers** ([`domain::DomainHandler`]): async, reach the system through
//!   [`domain::Ports`], run as durable workers of an external-task topic (`sy-…`), retried and
//!   taken over across nodes, each effect once. Everything that sends, stores or looks up.
//!   Listed by [`domain_handlers`].
//! - **Inline handlers** ([`handlers`], `sy:handler="…"` on a service task): pure functions of
//!   the variables, called inside the engine step and committed with it. Nothing else.
//!
//! What this crate must never do: know HTTP or SQL, or reach the database other than through a
//! port. Later issues add institutions, bookings, volunteers, coupons and the e-card here, one
//! module each.

use std::sync::Arc;

use engine::{HandlerRegistry, Value, Variables};

pub mod domain;
pub mod institution;
pub mod notify;
pub mod remind;
pub mod venue;

/// Every domain handler the system runs, one per topic.
pub fn domain_handlers() -> Vec<Arc<dyn domain::DomainHandler>> {
    vec![
        Arc::new(notify::Notify),
        Arc::new(remind::Remind),
        Arc::new(institution::Activate),
        Arc::new(venue::Check),
        Arc::new(venue::Confirm),
    ]
}

/// Every inline service-task handler the system offers, by name (`sy:handler="…"` in a model).
pub fn handlers() -> HandlerRegistry {
    let mut registry = HandlerRegistry::new();
    // `noop`: a placeholder step for models drawn before their service exists.
    registry.register("noop", |_| Ok(Variables::new()));
    // `stamp`: records which element ran, for demos and tests of service tasks.
    registry.register("stamp", |call| {
        let mut output = Variables::new();
        output.insert("stampedBy".into(), Value::String(call.element_id.to_string()));
        Ok(output)
    });
    registry
}
