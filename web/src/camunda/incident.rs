//! `/incident`: list and count of open incidents.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value as Json_, json};
use store::{IncidentQuery, IncidentRecord};

use super::{Filters, Params, count_json, format_time, sort_error};
use crate::AppState;
use crate::error::ApiResult;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/incident", get(list)).route("/incident/count", get(count))
}

pub(crate) fn incident_json(incident: &IncidentRecord) -> Json_ {
    json!({
        "id": incident.id,
        "processDefinitionId": incident.definition_id,
        "processInstanceId": incident.instance_id,
        "executionId": incident.instance_id,
        "incidentTimestamp": format_time(incident.created_at),
        "incidentType": incident.incident_type,
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

fn query(filters: &Filters) -> ApiResult<IncidentQuery> {
    Ok(IncidentQuery {
        id: filters.text("incidentId"),
        instance_id: filters.text("processInstanceId"),
        definition_id: filters.text("processDefinitionId"),
        activity_id: filters.text("activityId"),
        open: true,
        sorting: filters.sorting()?,
        page: filters.page()?,
    })
}

async fn list(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let (incidents, _) = state.store().incidents(&query(&Filters::from_params(&params))?).await.map_err(sort_error)?;
    Ok(Json(Json_::Array(incidents.iter().map(incident_json).collect())))
}

async fn count(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let mut query = query(&Filters::from_params(&params))?;
    query.page = store::Page::default();
    Ok(count_json(state.store().incidents(&query).await.map_err(sort_error)?.1))
}
