//! `/incident`: list, count and get open incidents.
//!
//! An incident is a step that failed and waits to be retried. Camunda has two built-in types
//! for that, and clients such as pycamunda accept only those: `failedExternalTask` when a
//! worker (ours or an outside one) reported its external task failed for good, and `failedJob`
//! for every step the engine ran itself (the store's `failedExecution`).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value as Json_, json};
use store::{IncidentQuery, IncidentRecord};

use super::{Filters, Params, count_json, format_time, sort_error};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::routes::{ENGINE_USE, Routes};

pub(super) fn router() -> Routes {
    Routes::new()
        .get("/incident", ENGINE_USE, list)
        .get("/incident/count", ENGINE_USE, count)
        .get("/incident/{id}", ENGINE_USE, one)
        .delete("/incident/{id}", ENGINE_USE, resolve)
}

/// Camunda's incident type of a stored incident.
fn wire_type(incident: &IncidentRecord) -> &'static str {
    if incident.incident_type == store::INCIDENT_FAILED_EXTERNAL_TASK { "failedExternalTask" } else { "failedJob" }
}

pub(crate) fn incident_json(incident: &IncidentRecord) -> Json_ {
    json!({
        "id": incident.id,
        "processDefinitionId": incident.definition_id,
        "processInstanceId": incident.instance_id,
        "executionId": incident.instance_id,
        "incidentTimestamp": format_time(incident.created_at),
        "incidentType": wire_type(incident),
        "activityId": incident.activity_id,
        "failedActivityId": incident.activity_id,
        "causeIncidentId": incident.id,
        "rootCauseIncidentId": incident.id,
        "configuration": null,
        "tenantId": null,
        "incidentMessage": incident.message,
        "jobDefinitionId": null,
        "annotation": null,
    })
}

/// The store query, or `None` when the filters rule out every incident (another incident type,
/// or an execution other than the instance: each instance here is its one execution).
fn query(filters: &Filters) -> ApiResult<Option<IncidentQuery>> {
    let incident_type = match filters.text("incidentType").as_deref() {
        None => None,
        Some("failedJob") => Some(store::INCIDENT_FAILED_EXECUTION.to_string()),
        Some("failedExternalTask") => Some(store::INCIDENT_FAILED_EXTERNAL_TASK.to_string()),
        Some(_) => return Ok(None),
    };
    let instance_id = match (filters.text("processInstanceId"), filters.text("executionId")) {
        (Some(instance), Some(execution)) if instance != execution => return Ok(None),
        (instance, execution) => instance.or(execution),
    };
    let query = IncidentQuery {
        id: filters.text("incidentId"),
        instance_id,
        definition_id: filters.text("processDefinitionId"),
        activity_id: filters.text("activityId"),
        incident_type,
        open: true,
        sorting: filters.sorting_with(SORT_ALIASES)?,
        page: filters.page()?,
        scope: crate::identity::scope(),
    };
    filters.reject_unsupported()?;
    Ok(Some(query))
}

/// Camunda's incident sort names the store knows under another name, or that order nothing here
/// (an incident is its own cause and root cause).
const SORT_ALIASES: &[(&str, Option<&str>)] = &[
    ("executionId", Some("processInstanceId")),
    ("causeIncidentId", Some("incidentId")),
    ("rootCauseIncidentId", Some("incidentId")),
    ("configuration", None),
    ("tenantId", None),
];

async fn list(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let Some(query) = query(&Filters::from_params(&params))? else { return Ok(Json(json!([]))) };
    let (incidents, _) = state.store().incidents(&query).await.map_err(sort_error)?;
    Ok(Json(Json_::Array(incidents.iter().map(incident_json).collect())))
}

async fn count(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let Some(mut query) = query(&Filters::from_params(&params))? else { return Ok(count_json(0)) };
    query.page = store::Page::default();
    Ok(count_json(state.store().incidents(&query).await.map_err(sort_error)?.1))
}

/// `GET /incident/{id}`: an open incident.
async fn one(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    let query = IncidentQuery { id: Some(id.clone()), open: true, ..IncidentQuery::new(crate::identity::scope()) };
    let (incidents, _) = state.store().incidents(&query).await?;
    let incident = incidents.first().ok_or_else(|| ApiError::NotFound(format!("No matching incident with id {id}")))?;
    Ok(Json(incident_json(incident)))
}

/// `DELETE /incident/{id}`: resolves an incident. Every incident here is a failed step waiting
/// to be retried, so resolving runs that step again (once its cause is fixed); if it fails again
/// a new incident is raised.
async fn resolve(
    State(state): State<AppState>,
    axum::Extension(user): axum::Extension<crate::CurrentUser>,
    Path(id): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    let query =
        IncidentQuery { id: Some(id.clone()), open: true, ..IncidentQuery::new(crate::identity::change_scope()) };
    if state.store().incidents(&query).await?.0.is_empty() {
        return Err(ApiError::NotFound(format!("No matching incident with id {id}")));
    }
    state.executor.retry_incident(&id, Some(&user.0)).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
