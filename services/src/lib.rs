//! Domain modules of the 双拥 system. Each registers its service-task handlers here; later
//! issues add institutions, bookings, volunteers, coupons, the e-card and SMS.
//!
//! This crate must never know HTTP or SQL: handlers get variables in and give variables out.

use engine::{HandlerRegistry, Value, Variables};

/// Every service-task handler the system offers, by name (`sy:handler="…"` in a model).
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
