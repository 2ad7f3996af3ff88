//! The Camunda 7–compatible REST API under `/engine-rest`: same paths, parameters, JSON shapes
//! and status codes as Camunda's, for the calls existing clients make. Wire types live here and
//! only here; engine and store types are converted at this edge.

mod attachment;
mod definition;
mod deployment;
mod events;
mod external_task;
mod history;
mod incident;
mod instance;
mod job;
mod task;

use std::collections::HashMap;

use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use engine::{Value, Variables};
use serde_json::{Map, Value as Json, json};

use crate::error::{ApiError, ApiResult};
use crate::routes::{ENGINE_USE, Routes};

pub fn router() -> Routes {
    Routes::new()
        .get("/engine", ENGINE_USE, || async { axum::Json(json!([{ "name": "default" }])) })
        .get("/version", ENGINE_USE, || async { axum::Json(json!({ "version": "7.22.0" })) })
        .merge(deployment::router())
        .merge(definition::router())
        .merge(instance::router())
        .merge(task::router())
        .merge(attachment::router())
        .merge(history::router())
        .merge(incident::router())
        .merge(job::router())
        .merge(external_task::router())
        .merge(events::router())
        .with_router(|router| router.fallback(unknown_path).method_not_allowed_fallback(method_not_allowed))
}

/// An unknown path under `/engine-rest`: a 404 with Camunda's error body, as its JAX-RS layer
/// answers (clients read `message` from every error).
async fn unknown_path(axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> (StatusCode, axum::Json<Json>) {
    let message = format!("Could not find resource for full path: {}", uri.path());
    (StatusCode::NOT_FOUND, axum::Json(json!({ "type": "NotFoundException", "message": message, "code": 0 })))
}

/// A known path with a method it does not take: a 405 with Camunda's error body.
async fn method_not_allowed(
    method: axum::http::Method,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> (StatusCode, axum::Json<Json>) {
    not_allowed(&method, uri.path())
}

/// The body of [`method_not_allowed`] (also answered by [`crate::routes::guard`]).
pub(crate) fn not_allowed(method: &axum::http::Method, path: &str) -> (StatusCode, axum::Json<Json>) {
    let message = format!("No resource method found for {method}, return 405 with Allow header: {path}");
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(json!({ "type": "NotAllowedException", "message": message, "code": 0 })),
    )
}

/// Query-string parameters as Camunda sends them (lists are comma-separated).
pub(crate) type Params = HashMap<String, String>;

/// Shanghai time, the zone every timestamp of this system is shown in (also on the console).
pub(crate) fn zone() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is a valid offset"))
}

/// Camunda's date format: `2026-11-28T09:30:00.000+0800`.
pub(crate) fn format_time(millis: i64) -> Json {
    match DateTime::from_timestamp_millis(millis) {
        Some(time) => Json::String(time.with_timezone(&zone()).format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()),
        None => Json::Null,
    }
}

pub(crate) fn format_optional_time(millis: Option<i64>) -> Json {
    millis.map(format_time).unwrap_or(Json::Null)
}

/// A date held as text (a task's due / follow-up date, a `Date` variable) in Camunda's format;
/// text that is not a date is passed through unchanged.
pub(crate) fn format_date_text(text: &str) -> String {
    match parse_date(text) {
        Some(time) => time.with_timezone(&zone()).format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string(),
        None => text.to_string(),
    }
}

pub(crate) fn format_optional_date_text(text: Option<&str>) -> Json {
    text.map(|text| Json::String(format_date_text(text))).unwrap_or(Json::Null)
}

/// Parses the date forms Camunda accepts (with or without zone, with or without millis).
pub(crate) fn parse_date(text: &str) -> Option<DateTime<FixedOffset>> {
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%:z"] {
        if let Ok(time) = DateTime::parse_from_str(text, format) {
            return Some(time);
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(time) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return time.and_local_timezone(zone()).single();
        }
    }
    None
}

/// One variable in Camunda's wire form: `{"value": …, "type": "String", "valueInfo": {}}`.
pub(crate) fn variable_json(value: &Value) -> Json {
    let wire_value = match value {
        Value::Json(document) => Json::String(document.to_string()),
        Value::Date(text) => Json::String(format_date_text(text)),
        other => other.to_json(),
    };
    json!({ "value": wire_value, "type": value.type_name(), "valueInfo": {} })
}

pub(crate) fn variables_json(variables: &Variables) -> Json {
    Json::Object(variables.iter().map(|(name, value)| (name.clone(), variable_json(value))).collect())
}

/// Reads a `{"name": {"value", "type"}}` map. Unknown types and values that do not fit their
/// type are a 400 with Camunda's wording.
pub(crate) fn parse_variables(json: Option<&Json>) -> ApiResult<Variables> {
    let mut variables = Variables::new();
    let Some(json) = json else { return Ok(variables) };
    if json.is_null() {
        return Ok(variables);
    }
    let object = json.as_object().ok_or_else(|| ApiError::BadRequest("variables must be a JSON object".into()))?;
    for (name, entry) in object {
        variables.insert(name.clone(), parse_variable(name, entry)?);
    }
    Ok(variables)
}

pub(crate) fn parse_variable(name: &str, entry: &Json) -> ApiResult<Value> {
    // The record binding of 提交审批 is the system's to set (`forms::task`).
    crate::forms::task::refuse_reserved(std::iter::once(&name.to_string()))?;
    let invalid = |type_name: &str, raw: &Json| {
        ApiError::BadRequest(format!("Cannot convert value '{raw}' of variable '{name}' to type {type_name}"))
    };
    let (raw, type_name) = match entry.as_object() {
        Some(object) if object.contains_key("value") || object.contains_key("type") => (
            object.get("value").cloned().unwrap_or(Json::Null),
            object.get("type").and_then(Json::as_str).map(str::to_string),
        ),
        _ => return Err(ApiError::BadRequest(format!("variable '{name}' must be an object with 'value' and 'type'"))),
    };
    let Some(type_name) = type_name else { return Ok(Value::from_json(&raw)) };
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let value = match type_name.to_ascii_lowercase().as_str() {
        "string" => Value::String(match &raw {
            Json::String(text) => text.clone(),
            other => other.to_string(),
        }),
        "integer" | "short" => {
            let number = raw
                .as_i64()
                .or_else(|| raw.as_str().and_then(|t| t.parse().ok()))
                .ok_or_else(|| invalid(&type_name, &raw))?;
            Value::Integer(i32::try_from(number).map_err(|_| invalid(&type_name, &raw))?)
        }
        "long" => Value::Long(
            raw.as_i64()
                .or_else(|| raw.as_str().and_then(|t| t.parse().ok()))
                .ok_or_else(|| invalid(&type_name, &raw))?,
        ),
        "double" => Value::Double(
            raw.as_f64()
                .or_else(|| raw.as_str().and_then(|t| t.parse().ok()))
                .ok_or_else(|| invalid(&type_name, &raw))?,
        ),
        "boolean" => Value::Boolean(match &raw {
            Json::Bool(b) => *b,
            Json::String(text) if text == "true" => true,
            Json::String(text) if text == "false" => false,
            _ => return Err(invalid(&type_name, &raw)),
        }),
        "date" => {
            let text = raw.as_str().ok_or_else(|| invalid(&type_name, &raw))?;
            parse_date(text).ok_or_else(|| invalid(&type_name, &raw))?;
            Value::Date(text.to_string())
        }
        "json" | "object" => match &raw {
            Json::String(text) => Value::Json(serde_json::from_str(text).map_err(|_| invalid(&type_name, &raw))?),
            other => Value::Json(other.clone()),
        },
        "null" => Value::Null,
        _ => return Err(ApiError::BadRequest(format!("Unsupported value type '{type_name}' of variable '{name}'"))),
    };
    Ok(value)
}

/// Parses a request body as JSON (an empty body is `{}`), with a Camunda-style 400 on failure.
pub(crate) fn body_json(body: &[u8]) -> ApiResult<Map<String, Json>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Json>(body) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest("the request body must be a JSON object".into())),
        Err(error) => Err(ApiError::BadRequest(format!("the request body is not valid JSON: {error}"))),
    }
}

/// Reads string parameters from either a query string or a JSON query body (POST queries).
pub(crate) struct Filters {
    values: HashMap<String, Json>,
    /// The parameters a query read, so the ones it did not understand can be refused.
    read: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Filters {
    pub(crate) fn from_params(params: &Params) -> Self {
        Filters {
            values: params.iter().map(|(key, value)| (key.clone(), Json::String(value.clone()))).collect(),
            read: Default::default(),
        }
    }

    pub(crate) fn from_body(body: Map<String, Json>, params: &Params) -> Self {
        let mut filters = Filters::from_params(params);
        filters.values.extend(body);
        filters
    }

    fn get(&self, name: &str) -> Option<&Json> {
        if let Ok(mut read) = self.read.lock() {
            read.insert(name.to_string());
        }
        self.values.get(name)
    }

    /// Refuses parameters the query did not read. A Camunda filter we do not implement must not
    /// be dropped silently: the caller would get more results than asked for. Parameters that
    /// cannot change the result here (no tenants, nothing is suspended) are let through.
    pub(crate) fn reject_unsupported(&self) -> ApiResult<()> {
        let read = self.read.lock().map(|read| read.clone()).unwrap_or_default();
        let mut unsupported: Vec<&String> = self
            .values
            .iter()
            .filter(|(name, value)| !read.contains(*name) && !value.is_null() && !harmless(name, value))
            .map(|(name, _)| name)
            .collect();
        unsupported.sort();
        match unsupported.as_slice() {
            [] => Ok(()),
            names => Err(ApiError::BadRequest(format!(
                "Unsupported query parameter(s): {}",
                names.iter().map(|name| name.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    pub(crate) fn text(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            Json::String(text) => Some(text.clone()),
            Json::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// A comma-separated list (query string) or a JSON array (body).
    pub(crate) fn list(&self, name: &str) -> Option<Vec<String>> {
        match self.get(name)? {
            Json::Array(items) => Some(items.iter().filter_map(|item| item.as_str().map(str::to_string)).collect()),
            Json::String(text) => {
                Some(text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
            }
            _ => None,
        }
    }

    pub(crate) fn flag(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Bool(value)) => Ok(Some(*value)),
            Some(Json::String(text)) if text == "true" => Ok(Some(true)),
            Some(Json::String(text)) if text == "false" => Ok(Some(false)),
            Some(other) => Err(ApiError::BadRequest(format!("Cannot set query parameter '{name}' to value '{other}'"))),
        }
    }

    pub(crate) fn int(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Number(number)) => number.as_i64().map(Some).ok_or_else(|| self.bad(name)),
            Some(Json::String(text)) => text.parse().map(Some).map_err(|_| self.bad(name)),
            Some(_) => Err(self.bad(name)),
        }
    }

    fn bad(&self, name: &str) -> ApiError {
        ApiError::BadRequest(format!(
            "Cannot set query parameter '{name}' to value '{}'",
            self.values.get(name).map(ToString::to_string).unwrap_or_default()
        ))
    }

    /// `firstResult` / `maxResults`.
    pub(crate) fn page(&self) -> ApiResult<store::Page> {
        Ok(store::Page {
            first_result: self.int("firstResult")?.unwrap_or(0).max(0),
            max_results: self.int("maxResults")?,
        })
    }

    /// `sortBy` + `sortOrder` (query) or `sorting: [{sortBy, sortOrder}]` (body). Camunda
    /// requires both halves of a pair.
    pub(crate) fn sorting(&self) -> ApiResult<store::Sorting> {
        let order = |text: Option<&str>| -> ApiResult<bool> {
            match text {
                Some("asc") => Ok(true),
                Some("desc") => Ok(false),
                other => Err(ApiError::BadRequest(format!(
                    "Cannot set query parameter 'sortOrder' to value '{}'",
                    other.unwrap_or_default()
                ))),
            }
        };
        let mut sorting = Vec::new();
        if let Some(Json::Array(items)) = self.get("sorting") {
            for item in items {
                let by = item
                    .get("sortBy")
                    .and_then(Json::as_str)
                    .ok_or_else(|| ApiError::BadRequest("sorting entries need sortBy".into()))?;
                sorting.push((by.to_string(), order(item.get("sortOrder").and_then(Json::as_str))?));
            }
        }
        match (self.text("sortBy"), self.text("sortOrder")) {
            (Some(by), Some(direction)) => sorting.push((by, order(Some(&direction))?)),
            (None, None) => {}
            _ => {
                return Err(ApiError::BadRequest(
                    "Only a single sorting parameter specified. sortBy and sortOrder required".into(),
                ));
            }
        }
        Ok(sorting)
    }

    /// [`Filters::sorting`] with Camunda's sort names translated to the store's: `Some(name)`
    /// renames a key (`instanceId` is the store's `processInstanceId`), `None` drops it — a
    /// property that is the same for every row here (`tenantId`, the `case…` ids), so sorting by
    /// it is valid in Camunda and changes nothing.
    pub(crate) fn sorting_with(&self, aliases: &[(&str, Option<&str>)]) -> ApiResult<store::Sorting> {
        Ok(self
            .sorting()?
            .into_iter()
            .filter_map(|(by, ascending)| match aliases.iter().find(|(name, _)| *name == by) {
                Some((_, Some(target))) => Some(((*target).to_string(), ascending)),
                Some((_, None)) => None,
                None => Some((by, ascending)),
            })
            .collect())
    }
}

/// Parameters that cannot change a result here: there are no tenants, nothing is suspended, and
/// values are always returned deserialised.
fn harmless(name: &str, value: &Json) -> bool {
    let is = |expected: &str| {
        value.as_str() == Some(expected) || value.as_bool().map(|b| b.to_string()).as_deref() == Some(expected)
    };
    match name {
        "deserializeValues" | "deserializeValue" => true,
        "withoutTenantId"
        | "includeProcessDefinitionsWithoutTenantId"
        | "includeDeploymentsWithoutTenantId"
        | "includeIncidentsWithoutTenantId"
        | "active"
        | "notSuspended" => is("true") || is("false") && name != "active",
        "suspended" | "withIncidents" | "withoutIncidents" => is("false"),
        _ => false,
    }
}

/// `{"count": n}`.
pub(crate) fn count_json(total: i64) -> axum::Json<Json> {
    axum::Json(json!({ "count": total }))
}

/// A sort key the store rejects is a 400, as in Camunda.
pub(crate) fn sort_error(error: store::Error) -> ApiError {
    match error {
        store::Error::Invalid(message) if message.starts_with("cannot sort by") => {
            ApiError::BadRequest(format!("Cannot set query parameter 'sortBy': {message}"))
        }
        other => other.into(),
    }
}

/// One part of a Camunda multipart upload (deployments, task attachments).
pub(crate) struct FormPart {
    pub name: String,
    pub file_name: Option<String>,
    pub bytes: axum::body::Bytes,
}

/// The longest form field of an upload (a deployment or attachment name, a description), in
/// characters; resources and file contents are bounded by the body limit instead.
pub(crate) const MAX_FIELD_CHARS: usize = 1_000;
/// The longest user or group id a request may name, in characters.
pub(crate) const MAX_ID_CHARS: usize = 255;

impl FormPart {
    /// The part as UTF-8 text, or Camunda's 400.
    pub fn text(&self) -> ApiResult<String> {
        String::from_utf8(self.bytes.to_vec())
            .map_err(|_| ApiError::BadRequest(format!("part '{}' is not UTF-8 text", self.name)))
    }

    /// A short form field: UTF-8 text of at most [`MAX_FIELD_CHARS`] characters.
    pub fn field(&self) -> ApiResult<String> {
        let text = self.text()?;
        if text.chars().count() > MAX_FIELD_CHARS {
            return Err(ApiError::BadRequest(format!(
                "form field '{}' is longer than {MAX_FIELD_CHARS} characters",
                self.name
            )));
        }
        Ok(text)
    }
}

/// A user or group id from a request: at most [`MAX_ID_CHARS`] characters.
pub(crate) fn checked_id(field: &str, value: String) -> ApiResult<String> {
    if value.chars().count() > MAX_ID_CHARS {
        return Err(ApiError::BadRequest(format!("{field} is longer than {MAX_ID_CHARS} characters")));
    }
    Ok(value)
}

/// Every part of a multipart body; a body that is not multipart (`what` says what it should
/// have been) or is malformed gets Camunda's JSON 400, not axum's plain text.
pub(crate) async fn form_parts(
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
    what: &str,
) -> ApiResult<Vec<FormPart>> {
    let mut multipart = multipart.map_err(|rejection| {
        ApiError::BadRequest(format!("{what} must be a multipart/form-data upload: {}", rejection.body_text()))
    })?;
    let invalid = |error: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!("invalid multipart body: {error}"))
    };
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(invalid)? {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        parts.push(FormPart { name, file_name, bytes: field.bytes().await.map_err(invalid)? });
    }
    Ok(parts)
}
