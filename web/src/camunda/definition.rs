//! `/process-definition`: list, count, get by id or key, XML, start.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde_json::{Value as Json_, json};
use store::{Definition, DefinitionQuery};

use super::{Filters, Params, body_json, count_json, parse_variables, sort_error, variables_json};
use crate::error::{ApiError, ApiResult};
use crate::routes::{ENGINE_USE, Routes};
use crate::{AppState, CurrentUser};

pub(super) fn router() -> Routes {
    Routes::new()
        .get("/process-definition", ENGINE_USE, list)
        .get("/process-definition/count", ENGINE_USE, count)
        .get("/process-definition/{id}", ENGINE_USE, by_id)
        .get("/process-definition/{id}/xml", ENGINE_USE, xml_by_id)
        .post("/process-definition/{id}/start", ENGINE_USE, start_by_id)
        .post("/process-definition/{id}/submit-form", ENGINE_USE, start_by_id)
        .get("/process-definition/key/{key}", ENGINE_USE, by_key)
        .get("/process-definition/key/{key}/xml", ENGINE_USE, xml_by_key)
        .post("/process-definition/key/{key}/start", ENGINE_USE, start_by_key)
        .post("/process-definition/key/{key}/submit-form", ENGINE_USE, start_by_key)
}

pub(super) fn definition_json(definition: &Definition) -> Json_ {
    json!({
        "id": definition.id,
        "key": definition.key,
        "category": "http://bpmn.io/schema/bpmn",
        "description": null,
        "name": definition.name,
        "version": definition.version,
        "resource": definition.resource_name,
        "deploymentId": definition.deployment_id,
        "diagram": null,
        "suspended": definition.suspended,
        "tenantId": null,
        "versionTag": definition.version_tag,
        "historyTimeToLive": definition.history_ttl,
        "startableInTasklist": true,
    })
}

fn query(filters: &Filters) -> ApiResult<DefinitionQuery> {
    let query = DefinitionQuery {
        id: filters.text("processDefinitionId"),
        ids: filters.list("processDefinitionIdIn"),
        key: filters.text("key"),
        keys: filters.list("keysIn").or_else(|| filters.list("keyIn")),
        key_like: filters.text("keyLike"),
        name: filters.text("name"),
        name_like: filters.text("nameLike"),
        version: filters.int("version")?,
        deployment_id: filters.text("deploymentId"),
        resource_name: filters.text("resourceName"),
        version_tag: filters.text("versionTag"),
        latest_version: filters.flag("latestVersion")?.unwrap_or(false),
        sorting: filters.sorting_with(&[("tenantId", None), ("category", None)])?,
        page: filters.page()?,
    };
    filters.reject_unsupported()?;
    Ok(query)
}

async fn list(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let (definitions, _) =
        state.store().definitions(&query(&Filters::from_params(&params))?).await.map_err(sort_error)?;
    Ok(Json(Json_::Array(definitions.iter().map(definition_json).collect())))
}

async fn count(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let mut query = query(&Filters::from_params(&params))?;
    query.page = store::Page::default();
    Ok(count_json(state.store().definitions(&query).await.map_err(sort_error)?.1))
}

async fn find_by_id(state: &AppState, id: &str) -> ApiResult<Definition> {
    state.executor.definition(id).await.map_err(|_| ApiError::NotFound(format!("No matching definition with id {id}")))
}

async fn find_by_key(state: &AppState, key: &str) -> ApiResult<Definition> {
    state
        .executor
        .latest_definition(key)
        .await
        .map_err(|_| ApiError::NotFound(format!("No matching process definition with key: {key} and no tenant-id")))
}

async fn by_id(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    Ok(Json(definition_json(&find_by_id(&state, &id).await?)))
}

async fn by_key(State(state): State<AppState>, Path(key): Path<String>) -> ApiResult<Json<Json_>> {
    Ok(Json(definition_json(&find_by_key(&state, &key).await?)))
}

async fn xml_json(state: &AppState, definition: &Definition) -> ApiResult<Json<Json_>> {
    let resource = state
        .store()
        .resource(&definition.resource_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("definition {} lost its resource", definition.id)))?;
    Ok(Json(json!({ "id": definition.id, "bpmn20Xml": resource.content })))
}

async fn xml_by_id(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    let definition = find_by_id(&state, &id).await?;
    xml_json(&state, &definition).await
}

async fn xml_by_key(State(state): State<AppState>, Path(key): Path<String>) -> ApiResult<Json<Json_>> {
    let definition = find_by_key(&state, &key).await?;
    xml_json(&state, &definition).await
}

async fn start(state: &AppState, user: &CurrentUser, definition: &Definition, body: &[u8]) -> ApiResult<Json<Json_>> {
    let body = body_json(body)?;
    let variables = parse_variables(body.get("variables"))?;
    let business_key = body.get("businessKey").and_then(Json_::as_str).map(str::to_string);
    let with_variables = body.get("withVariablesInReturn").and_then(Json_::as_bool).unwrap_or(false);
    // An explicit `district` owns the instance: `Executor::start` checks it against the starter's
    // data scope, the one check every way of starting passes.
    let instance = state.executor.start(definition, business_key, variables, Some(&user.0)).await?;
    let mut response = super::instance::instance_json(&instance);
    if with_variables && let Some(object) = response.as_object_mut() {
        object.insert("variables".into(), variables_json(instance.state.variables()));
    }
    Ok(Json(response))
}

async fn start_by_id(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Json_>> {
    let definition = find_by_id(&state, &id).await?;
    start(&state, &user, &definition, &body).await
}

async fn start_by_key(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Json_>> {
    let definition = find_by_key(&state, &key).await?;
    start(&state, &user, &definition, &body).await
}
