//! `/process-instance`: list, count, get, delete, variables.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use engine::InstanceStatus;
use serde_json::{Value as Json_, json};
use store::{InstanceQuery, InstanceRecord};

use super::{
    Filters, Params, body_json, count_json, parse_variable, parse_variables, sort_error, variable_json, variables_json,
};
use crate::error::{ApiError, ApiResult};
use crate::identity::Auth;
use crate::routes::{ENGINE_USE, Routes};
use crate::{AppState, CurrentUser};

pub(super) fn router() -> Routes {
    Routes::new()
        .get("/process-instance", ENGINE_USE, list)
        .post("/process-instance", ENGINE_USE, list)
        .get("/process-instance/count", ENGINE_USE, count)
        .post("/process-instance/count", ENGINE_USE, count)
        .get("/process-instance/{id}", ENGINE_USE, one)
        .delete("/process-instance/{id}", ENGINE_USE, delete)
        .get("/process-instance/{id}/variables", ENGINE_USE, variables)
        .post("/process-instance/{id}/variables", ENGINE_USE, modify_variables)
        .get("/process-instance/{id}/variables/{name}", ENGINE_USE, variable)
        .put("/process-instance/{id}/variables/{name}", ENGINE_USE, put_variable)
        .delete("/process-instance/{id}/variables/{name}", ENGINE_USE, delete_variable)
}

pub(super) fn instance_json(instance: &InstanceRecord) -> Json_ {
    json!({
        "id": instance.id,
        "definitionId": instance.definition_id,
        "businessKey": instance.business_key,
        "caseInstanceId": null,
        "ended": instance.status != InstanceStatus::Active,
        "suspended": false,
        "tenantId": null,
        "links": [{ "method": "GET", "href": format!("/process-instance/{}", instance.id), "rel": "self" }],
    })
}

fn query(filters: &Filters) -> ApiResult<InstanceQuery> {
    let query = InstanceQuery {
        id: None,
        ids: filters.list("processInstanceIds"),
        definition_id: filters.text("processDefinitionId"),
        definition_key: filters.text("processDefinitionKey"),
        business_key: filters.text("businessKey"),
        business_key_like: filters.text("businessKeyLike"),
        active: Some(true),
        started_by: None,
        district: None,
        started_from: None,
        started_to: None,
        sorting: filters.sorting_with(&[("tenantId", None)])?,
        page: filters.page()?,
        scope: crate::identity::scope(),
    };
    filters.reject_unsupported()?;
    Ok(query)
}

async fn run_list(state: &AppState, filters: Filters) -> ApiResult<Json<Json_>> {
    let (instances, _) = state.store().instances(&query(&filters)?).await.map_err(sort_error)?;
    Ok(Json(Json_::Array(instances.iter().map(instance_json).collect())))
}

async fn run_count(state: &AppState, filters: Filters) -> ApiResult<Json<Json_>> {
    let mut query = query(&filters)?;
    query.page = store::Page::default();
    Ok(count_json(state.store().instances(&query).await.map_err(sort_error)?.1))
}

/// GET with query parameters and POST with a JSON query body (an empty body reads as `{}`).
async fn list(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Json_>> {
    run_list(&state, Filters::from_body(body_json(&body)?, &params)).await
}

async fn count(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Json_>> {
    run_count(&state, Filters::from_body(body_json(&body)?, &params)).await
}

/// A running instance inside the caller's data scope, or Camunda's 404.
pub(super) async fn running(state: &AppState, id: &str) -> ApiResult<InstanceRecord> {
    running_in(state, id, crate::identity::scope()).await
}

/// A running instance the caller may change (delete, set variables): inside their scope for
/// changes ([`crate::identity::change_scope`]), or Camunda's 404; and a right to change it
/// ([`crate::approval::may_change_instance`]), or 403.
async fn changeable(state: &AppState, auth: &Auth, id: &str) -> ApiResult<InstanceRecord> {
    let instance = running_in(state, id, crate::identity::change_scope()).await?;
    if !crate::approval::may_change_instance(state, auth, &instance).await? {
        return Err(ApiError::coded(
            StatusCode::FORBIDDEN,
            "forbidden",
            "只有发起人（在可撤回时）或管理员可以修改或删除流程实例 (only its starter, while it may still be withdrawn, or an administrator changes an instance)",
        ));
    }
    Ok(instance)
}

async fn running_in(state: &AppState, id: &str, scope: store::DataScope) -> ApiResult<InstanceRecord> {
    let query = InstanceQuery { id: Some(id.to_string()), ..InstanceQuery::new(scope) };
    state
        .store()
        .instances(&query)
        .await?
        .0
        .pop()
        .filter(|instance| instance.status == InstanceStatus::Active)
        .ok_or_else(|| ApiError::NotFound(format!("Process instance with id {id} does not exist")))
}

/// An instance (running or ended) if it is inside the caller's data scope.
pub(super) async fn scoped(state: &AppState, id: &str) -> ApiResult<Option<InstanceRecord>> {
    let query = InstanceQuery { id: Some(id.to_string()), ..InstanceQuery::new(crate::identity::scope()) };
    Ok(state.store().instances(&query).await?.0.pop())
}

async fn one(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    Ok(Json(instance_json(&running(&state, &id).await?)))
}

/// `DELETE /process-instance/{id}`; with `failIfNotExists=false` a missing instance is a 204.
async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<StatusCode> {
    let fail_if_not_exists = Filters::from_params(&params).flag("failIfNotExists")?.unwrap_or(true);
    match changeable(&state, &auth, &id).await {
        Ok(_) => {}
        Err(ApiError::NotFound(_)) if !fail_if_not_exists => return Ok(StatusCode::NO_CONTENT),
        Err(error) => return Err(error),
    }
    let reason = params.get("deleteReason").cloned();
    state.executor.cancel_instance(&id, reason, Some(&user.0)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn variables(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    let instance = running(&state, &id).await?;
    Ok(Json(variables_json(instance.state.variables())))
}

async fn variable(State(state): State<AppState>, Path((id, name)): Path<(String, String)>) -> ApiResult<Json<Json_>> {
    let instance = running(&state, &id).await?;
    let value = instance
        .state
        .variables()
        .get(&name)
        .ok_or_else(|| ApiError::NotFound(format!("process instance variable with name {name} does not exist")))?;
    Ok(Json(variable_json(value)))
}

/// `{"modifications": {...}, "deletions": [...]}`.
async fn modify_variables(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let body = body_json(&body)?;
    let modifications = parse_variables(body.get("modifications"))?;
    let deletions = match body.get("deletions") {
        None | Some(Json_::Null) => Vec::new(),
        Some(Json_::Array(names)) => names.iter().filter_map(|name| name.as_str().map(str::to_string)).collect(),
        Some(_) => return Err(ApiError::BadRequest("deletions must be an array of names".into())),
    };
    // The record binding of 提交审批 is not the client's to remove either.
    crate::forms::task::refuse_reserved(deletions.iter())?;
    changeable(&state, &auth, &id).await?;
    state.executor.set_variables(&id, modifications, deletions, Some(&user.0)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn put_variable(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path((id, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let body = Json_::Object(body_json(&body)?);
    let value = parse_variable(&name, &body)?;
    changeable(&state, &auth, &id).await?;
    state.executor.set_variables(&id, [(name, value)].into_iter().collect(), Vec::new(), Some(&user.0)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_variable(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    crate::forms::task::refuse_reserved(std::iter::once(&name))?;
    changeable(&state, &auth, &id).await?;
    state.executor.set_variables(&id, engine::Variables::new(), vec![name], Some(&user.0)).await?;
    Ok(StatusCode::NO_CONTENT)
}
