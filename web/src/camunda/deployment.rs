//! `/deployment`: create (multipart), list, count, get, delete, resources.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use runtime::executor::Upload;
use serde_json::{Map, Value as Json_, json};
use store::{Deployment, DeploymentQuery};

use super::{Filters, Params, count_json, format_time, sort_error};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Auth;
use crate::routes::{ENGINE_DEPLOY, ENGINE_USE, Routes};

pub(super) fn router() -> Routes {
    Routes::new()
        .get("/deployment", ENGINE_USE, list)
        .get("/deployment/count", ENGINE_USE, count)
        .post("/deployment/create", ENGINE_DEPLOY, create)
        .get("/deployment/{id}", ENGINE_USE, one)
        .delete("/deployment/{id}", ENGINE_DEPLOY, delete)
        .get("/deployment/{id}/resources", ENGINE_USE, resources)
        .get("/deployment/{id}/resources/{resource_id}", ENGINE_USE, resource)
        .get("/deployment/{id}/resources/{resource_id}/data", ENGINE_USE, resource_data)
}

pub(super) fn deployment_json(deployment: &Deployment) -> Json_ {
    json!({
        "id": deployment.id,
        "name": deployment.name,
        "source": deployment.source,
        "deploymentTime": format_time(deployment.deployed_at),
        "tenantId": deployment.tenant_id,
        "links": [{ "method": "GET", "href": format!("/deployment/{}", deployment.id), "rel": "self" }],
    })
}

fn query(params: &Params) -> ApiResult<DeploymentQuery> {
    let filters = Filters::from_params(params);
    let query = DeploymentQuery {
        id: filters.text("id"),
        name: filters.text("name"),
        name_like: filters.text("nameLike"),
        source: filters.text("source"),
        sorting: filters.sorting()?,
        page: filters.page()?,
    };
    filters.reject_unsupported()?;
    Ok(query)
}

async fn list(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let (deployments, _) = state.store().deployments(&query(&params)?).await.map_err(sort_error)?;
    Ok(Json(Json_::Array(deployments.iter().map(deployment_json).collect())))
}

async fn count(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let mut query = query(&params)?;
    query.page = store::Page::default();
    Ok(count_json(state.store().deployments(&query).await.map_err(sort_error)?.1))
}

async fn one(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    let deployment = state
        .store()
        .deployment(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Deployment with id '{id}' does not exist")))?;
    Ok(Json(deployment_json(&deployment)))
}

/// Camunda's multipart deployment: text parts `deployment-name`, `deployment-source`,
/// `tenant-id`, `enable-duplicate-filtering`, `deploy-changed-only`; every other part with a
/// file name is a resource.
async fn create(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Json_>> {
    let mut name = None;
    let mut source = None;
    let mut tenant_id = None;
    let mut uploads = Vec::new();
    for part in super::form_parts(multipart, "the deployment").await? {
        match (part.name.as_str(), &part.file_name) {
            ("deployment-name", None) => name = Some(part.field()?),
            ("deployment-source", None) => source = Some(part.field()?),
            ("tenant-id", None) => tenant_id = Some(part.field()?).filter(|t| !t.is_empty()),
            // Duplicate filtering is always on: identical content never makes a new version.
            ("enable-duplicate-filtering" | "deploy-changed-only" | "deployment-activation-time", None) => {}
            _ => {
                let content = part.text()?;
                uploads.push(Upload { name: part.file_name.unwrap_or(part.name), content });
            }
        }
    }
    if uploads.is_empty() {
        return Err(ApiError::BadRequest("No deployment resources contained in the form upload.".into()));
    }
    let outcome =
        state.executor.deploy(name, source, tenant_id, Some(auth.principal.account.id.clone()), uploads).await?;
    let mut body = deployment_json(&outcome.deployment);
    let definitions: Map<String, Json_> = outcome
        .definitions
        .iter()
        .map(|definition| (definition.id.clone(), super::definition::definition_json(definition)))
        .collect();
    if let Some(object) = body.as_object_mut() {
        object.insert("deployedProcessDefinitions".into(), Json_::Object(definitions));
        for absent in
            ["deployedCaseDefinitions", "deployedDecisionDefinitions", "deployedDecisionRequirementsDefinitions"]
        {
            object.insert(absent.into(), Json_::Null);
        }
    }
    Ok(Json(body))
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<StatusCode> {
    let cascade = Filters::from_params(&params).flag("cascade")?.unwrap_or(false);
    state.store().delete_deployment(&id, cascade).await.map_err(|error| match error {
        store::Error::NotFound(_) => ApiError::NotFound(format!("Deployment with id '{id}' do not exist")),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

fn resource_json(resource: &store::Resource) -> Json_ {
    json!({ "id": resource.id, "name": resource.name, "deploymentId": resource.deployment_id })
}

async fn resources(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    state
        .store()
        .deployment(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Deployment resources for deployment id '{id}' do not exist.")))?;
    let resources = state.store().resources(&id).await?;
    Ok(Json(Json_::Array(resources.iter().map(resource_json).collect())))
}

async fn find_resource(state: &AppState, id: &str, resource_id: &str) -> ApiResult<store::Resource> {
    state.store().resource(resource_id).await?.filter(|resource| resource.deployment_id == id).ok_or_else(|| {
        ApiError::NotFound(format!("Deployment resource '{resource_id}' for deployment id '{id}' does not exist."))
    })
}

async fn resource(
    State(state): State<AppState>,
    Path((id, resource_id)): Path<(String, String)>,
) -> ApiResult<Json<Json_>> {
    Ok(Json(resource_json(&find_resource(&state, &id, &resource_id).await?)))
}

async fn resource_data(
    State(state): State<AppState>,
    Path((id, resource_id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let resource = find_resource(&state, &id, &resource_id).await?;
    let content_type = if resource.name.ends_with(".bpmn") || resource.name.ends_with(".xml") {
        "application/xml"
    } else {
        "application/octet-stream"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], resource.content))
}
