//! Typed process variables.
//!
//! The engine keeps the type a variable was written with (Camunda distinguishes `Integer`, `Long`,
//! `Double`, `Date`, `Json` …) so a value read back over the wire has the type it was given.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One variable value. `Date` holds an ISO-8601 text (the wire format decides its shape);
/// `Json` holds a parsed JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v")]
pub enum Value {
    Null,
    Boolean(bool),
    Integer(i32),
    Long(i64),
    Double(f64),
    String(String),
    Date(String),
    Json(serde_json::Value),
}

/// Variables of one scope, ordered by name so snapshots and listings are stable.
pub type Variables = BTreeMap<String, Value>;

/// How deeply a `Json` value may nest (arrays and objects inside each other). A stored instance
/// document wraps its variables in a few levels of its own, and every reader (serde_json's
/// default recursion limit of 128, the stack of a recursive drop) must be able to read it back:
/// a value that could be written but not read would poison the instance for good.
pub const MAX_VALUE_DEPTH: usize = 32;

/// The nesting depth of a JSON document (a scalar is 0, `[1]` is 1), counted without recursion
/// so a document of any depth can be measured.
pub fn json_depth(document: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(document, 0usize)];
    while let Some((value, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        match value {
            serde_json::Value::Array(items) => pending.extend(items.iter().map(|item| (item, depth + 1))),
            serde_json::Value::Object(map) => pending.extend(map.values().map(|item| (item, depth + 1))),
            _ => {}
        }
    }
    deepest
}

/// The longest variable name, in characters (Camunda's column holds 255).
pub const MAX_NAME_CHARS: usize = 255;

/// The largest variable value: a text of this many bytes, or a `Json` document this long when
/// written out. The instance document is loaded by every command on it, so one value may not
/// make it slow for good.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Refuses variables the engine could store but not read back, or not afford to: a name longer
/// than [`MAX_NAME_CHARS`], a value larger than [`MAX_VALUE_BYTES`], a `Json` value nested
/// deeper than [`MAX_VALUE_DEPTH`]. The message names the variable.
pub fn check_variables(variables: &Variables) -> Result<(), String> {
    for (name, value) in variables {
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            let shown: String = name.chars().take(40).collect();
            return Err(format!(
                "变量名须为 1 到 {MAX_NAME_CHARS} 个字符 (variable name '{shown}…' is empty or longer than {MAX_NAME_CHARS} characters)"
            ));
        }
        let size = match value {
            Value::String(text) | Value::Date(text) => text.len(),
            Value::Json(document) => {
                if json_depth(document) > MAX_VALUE_DEPTH {
                    return Err(format!(
                        "变量 '{name}' 嵌套层级超过 {MAX_VALUE_DEPTH} 层 (variable '{name}' is nested deeper than {MAX_VALUE_DEPTH} levels)"
                    ));
                }
                serde_json::to_string(document).map_or(usize::MAX, |text| text.len())
            }
            _ => 0,
        };
        if size > MAX_VALUE_BYTES {
            return Err(format!(
                "变量 '{name}' 超过 {} KB (variable '{name}' is larger than {MAX_VALUE_BYTES} bytes)",
                MAX_VALUE_BYTES / 1024
            ));
        }
    }
    Ok(())
}

impl Value {
    /// The Camunda type name of this value (`"String"`, `"Integer"`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "Null",
            Value::Boolean(_) => "Boolean",
            Value::Integer(_) => "Integer",
            Value::Long(_) => "Long",
            Value::Double(_) => "Double",
            Value::String(_) => "String",
            Value::Date(_) => "Date",
            Value::Json(_) => "Json",
        }
    }

    /// A whole number, stored as `Integer` when it fits in 32 bits and as `Long` otherwise.
    pub fn from_i64(number: i64) -> Value {
        match i32::try_from(number) {
            Ok(small) => Value::Integer(small),
            Err(_) => Value::Long(number),
        }
    }

    /// The value as plain JSON (dates become strings).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Boolean(b) => serde_json::Value::Bool(*b),
            Value::Integer(i) => serde_json::Value::from(*i),
            Value::Long(i) => serde_json::Value::from(*i),
            Value::Double(d) => {
                serde_json::Number::from_f64(*d).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
            }
            Value::String(s) | Value::Date(s) => serde_json::Value::String(s.clone()),
            Value::Json(j) => j.clone(),
        }
    }

    /// Infers a value from untyped JSON: numbers become `Integer` / `Long` / `Double`,
    /// objects and arrays `Json`.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Boolean(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::from_i64(i),
                None => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s.clone()),
            other => Value::Json(other.clone()),
        }
    }

    /// Truthiness used where a model asks "is this set?" (never for conditions, which must
    /// be real booleans).
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::String(s) | Value::Date(s) => s.is_empty(),
            Value::Json(serde_json::Value::Array(a)) => a.is_empty(),
            Value::Json(serde_json::Value::Object(o)) => o.is_empty(),
            Value::Json(serde_json::Value::Null) => true,
            _ => false,
        }
    }

    /// The value rendered as text, for assignees and other string-valued expressions.
    pub fn as_text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::String(s) | Value::Date(s) => s.clone(),
            other => other.to_json().to_string(),
        }
    }
}
