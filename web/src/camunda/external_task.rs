//! `/external-task`: the Camunda worker protocol — fetchAndLock (with long polling), complete,
//! failure, bpmnError, extendLock, unlock, retries — and list / count / get.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Map, Value as Json_, json};
use store::{ExternalTaskQuery, ExternalTaskRecord, TopicRequest};

use super::{Filters, Params, body_json, count_json, format_optional_time, parse_variables, sort_error, variable_json};
use crate::error::{ApiError, ApiResult};
use crate::routes::{ENGINE_USE, Routes};
use crate::{AppState, CurrentUser};

/// The longest a fetchAndLock may wait (Camunda's default limit is 30 minutes; ours is shorter
/// so a node's connections are not held long).
const MAX_LONG_POLL: Duration = Duration::from_secs(60);

pub(super) fn router() -> Routes {
    let work = Routes::new()
        .post("/external-task/fetchAndLock", ENGINE_USE, fetch_and_lock)
        .post("/external-task/{id}/complete", ENGINE_USE, complete)
        .post("/external-task/{id}/failure", ENGINE_USE, failure)
        .post("/external-task/{id}/bpmnError", ENGINE_USE, bpmn_error)
        .post("/external-task/{id}/extendLock", ENGINE_USE, extend_lock)
        .post("/external-task/{id}/unlock", ENGINE_USE, unlock)
        .put("/external-task/{id}/retries", ENGINE_USE, set_retries)
        .with_router(|router| router.route_layer(axum::middleware::from_fn(workers_only)));
    Routes::new()
        .get("/external-task", ENGINE_USE, list)
        .post("/external-task", ENGINE_USE, list)
        .get("/external-task/count", ENGINE_USE, count)
        .post("/external-task/count", ENGINE_USE, count)
        .get("/external-task/{id}", ENGINE_USE, one)
        .get("/external-task/{id}/errorDetails", ENGINE_USE, error_details)
        .merge(work)
}

/// Doing external tasks (which set variables on instances and move them on) is for workers:
/// machine accounts, and process administrators (`engine:deploy`). A person who merely sees an
/// instance does not complete its service steps (`docs/security.md` T-RIGHTS).
async fn workers_only(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let worker = request
        .extensions()
        .get::<crate::identity::Auth>()
        .is_some_and(|auth| auth.principal.account.kind == "machine" || auth.principal.can("engine:deploy"));
    if !worker {
        return ApiError::coded(
            StatusCode::FORBIDDEN,
            "workers-only",
            "外部任务只能由机器账户或流程管理员办理 (external tasks are done by machine accounts or process administrators)",
        )
        .into_response();
    }
    next.run(request).await
}

/// The external task `id` if it exists in the caller's data scope; 404 otherwise (a task of
/// another district does not exist for the caller).
async fn visible(state: &AppState, id: &str) -> ApiResult<ExternalTaskRecord> {
    visible_in(state, id, crate::identity::scope()).await
}

/// An external task the caller may work on as a worker (`crate::identity::change_scope`).
async fn workable(state: &AppState, id: &str) -> ApiResult<ExternalTaskRecord> {
    visible_in(state, id, crate::identity::change_scope()).await
}

async fn visible_in(state: &AppState, id: &str, scope: store::DataScope) -> ApiResult<ExternalTaskRecord> {
    let query = ExternalTaskQuery { id: Some(id.to_string()), ..ExternalTaskQuery::new(scope) };
    state
        .store()
        .external_tasks(&query)
        .await?
        .0
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound(format!("External task with id {id} does not exist / 外部任务不存在")))
}

fn task_json(task: &ExternalTaskRecord) -> Json_ {
    json!({
        "id": task.id,
        "activityId": task.activity_id,
        "activityInstanceId": task.id,
        "errorMessage": task.error_message,
        "executionId": task.instance_id,
        "lockExpirationTime": format_optional_time(task.lock_expires_at),
        "processDefinitionId": task.definition_id,
        "processDefinitionKey": task.definition_key,
        "processDefinitionVersionTag": null,
        "processInstanceId": task.instance_id,
        "retries": task.retries,
        "suspended": false,
        "workerId": task.worker_id,
        "topicName": task.topic,
        "tenantId": null,
        "priority": task.priority,
        "businessKey": task.business_key,
        "createTime": super::format_time(task.created_at),
    })
}

fn field<'b>(body: &'b Map<String, Json_>, name: &str) -> Option<&'b Json_> {
    body.get(name).filter(|value| !value.is_null())
}

fn text(body: &Map<String, Json_>, name: &str) -> ApiResult<Option<String>> {
    match field(body, name) {
        None => Ok(None),
        Some(Json_::String(value)) => Ok(Some(value.clone())),
        Some(other) => Err(ApiError::BadRequest(format!("'{name}' must be a string, not {other}"))),
    }
}

fn worker(body: &Map<String, Json_>) -> ApiResult<String> {
    text(body, "workerId")?
        .filter(|worker| !worker.is_empty())
        .ok_or_else(|| ApiError::BadRequest("workerId is required / 需要 workerId".into()))
}

fn number(body: &Map<String, Json_>, name: &str) -> ApiResult<Option<i64>> {
    match field(body, name) {
        None => Ok(None),
        Some(value) => value
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("'{name}' must be a whole number, not {value}"))),
    }
}

async fn fetch_and_lock(State(state): State<AppState>, body: axum::body::Bytes) -> ApiResult<Json<Json_>> {
    let body = body_json(&body)?;
    let worker = worker(&body)?;
    let max = number(&body, "maxTasks")?.unwrap_or(10).clamp(0, 1000);
    let by_priority = field(&body, "usePriority").and_then(Json_::as_bool).unwrap_or(false);
    let wait =
        Duration::from_millis(number(&body, "asyncResponseTimeout")?.unwrap_or(0).max(0) as u64).min(MAX_LONG_POLL);
    let Some(Json_::Array(entries)) = field(&body, "topics") else {
        return Err(ApiError::BadRequest("topics must be a list / topics 须为列表".into()));
    };
    let mut topics = Vec::new();
    let mut wanted_variables = Vec::new();
    for entry in entries {
        let Json_::Object(entry) = entry else {
            return Err(ApiError::BadRequest("each topic must be an object".into()));
        };
        let topic = text(entry, "topicName")?.ok_or_else(|| ApiError::BadRequest("topicName is required".into()))?;
        let lock_duration = number(entry, "lockDuration")?
            .filter(|duration| *duration > 0)
            .ok_or_else(|| ApiError::BadRequest(format!("topic '{topic}': lockDuration must be > 0")))?;
        let variables: Option<Vec<String>> = match field(entry, "variables") {
            None => None,
            Some(Json_::Array(names)) => Some(names.iter().filter_map(|n| n.as_str().map(str::to_string)).collect()),
            Some(other) => return Err(ApiError::BadRequest(format!("variables must be a list of names, not {other}"))),
        };
        wanted_variables.push((topic.clone(), variables));
        topics.push(TopicRequest {
            topic,
            lock_duration,
            business_key: text(entry, "businessKey")?,
            definition_key: text(entry, "processDefinitionKey")?,
            by_priority,
        });
    }
    let locked = state.executor.fetch_and_lock(&worker, &topics, max, wait, &crate::identity::change_scope()).await?;
    let tasks = locked
        .iter()
        .map(|(task, variables)| {
            let names =
                wanted_variables.iter().find(|(topic, _)| *topic == task.topic).and_then(|(_, names)| names.as_ref());
            let selected: Map<String, Json_> = variables
                .iter()
                .filter(|(name, _)| names.is_none_or(|names| names.contains(name)))
                .map(|(name, value)| (name.clone(), variable_json(value)))
                .collect();
            let mut json = task_json(task);
            if let Some(map) = json.as_object_mut() {
                map.insert("variables".into(), Json_::Object(selected));
                map.insert("errorDetails".into(), json!(task.error_details));
                map.insert("extensionProperties".into(), json!({}));
            }
            json
        })
        .collect();
    Ok(Json(Json_::Array(tasks)))
}

async fn complete(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    workable(&state, &id).await?;
    let body = body_json(&body)?;
    let worker = worker(&body)?;
    let mut variables = parse_variables(body.get("variables"))?;
    variables.extend(parse_variables(body.get("localVariables"))?);
    state.executor.complete_external_task(&id, &worker, variables, Some(&actor.0)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn failure(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    workable(&state, &id).await?;
    let body = body_json(&body)?;
    let worker = worker(&body)?;
    let retries = number(&body, "retries")?.unwrap_or(0);
    let retry_timeout = number(&body, "retryTimeout")?.unwrap_or(0);
    state
        .executor
        .external_task_failure(
            &id,
            &worker,
            text(&body, "errorMessage")?.as_deref(),
            text(&body, "errorDetails")?.as_deref(),
            retries,
            retry_timeout,
            Some(&actor.0),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn bpmn_error(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    workable(&state, &id).await?;
    let body = body_json(&body)?;
    let worker = worker(&body)?;
    let code = text(&body, "errorCode")?
        .filter(|code| !code.is_empty())
        .ok_or_else(|| ApiError::BadRequest("errorCode is required / 需要错误代码".into()))?;
    let variables = parse_variables(body.get("variables"))?;
    let message = text(&body, "errorMessage")?;
    state.executor.external_task_bpmn_error(&id, &worker, &code, message.as_deref(), variables, Some(&actor.0)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn extend_lock(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    workable(&state, &id).await?;
    let body = body_json(&body)?;
    let worker = worker(&body)?;
    let duration = number(&body, "newDuration")?
        .filter(|duration| *duration > 0)
        .ok_or_else(|| ApiError::BadRequest("newDuration must be > 0".into()))?;
    state.executor.extend_external_task_lock(&id, &worker, duration).await.map_err(|error| match error {
        store::Error::NotFound(message) if message.contains("not locked") => ApiError::Unprocessable(message),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unlock(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    workable(&state, &id).await?;
    state.executor.unlock_external_task(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_retries(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    workable(&state, &id).await?;
    let body = body_json(&body)?;
    let retries = number(&body, "retries")?
        .filter(|retries| *retries >= 0)
        .ok_or_else(|| ApiError::BadRequest("retries must be a whole number ≥ 0 / 重试次数须为非负整数".into()))?;
    state.executor.set_external_task_retries(&id, retries, Some(&actor.0)).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn query(filters: &Filters) -> ApiResult<ExternalTaskQuery> {
    let locked = match (filters.flag("locked")?, filters.flag("notLocked")?) {
        (Some(true), _) => Some(true),
        (_, Some(true)) => Some(false),
        _ => None,
    };
    let no_retries_left = match (filters.flag("noRetriesLeft")?, filters.flag("withRetriesLeft")?) {
        (Some(true), _) => Some(true),
        (_, Some(true)) => Some(false),
        _ => None,
    };
    let query = ExternalTaskQuery {
        id: filters.text("externalTaskId"),
        topic: filters.text("topicName"),
        worker_id: filters.text("workerId"),
        instance_id: filters.text("processInstanceId").or(filters.text("executionId")),
        definition_id: filters.text("processDefinitionId"),
        activity_id: filters.text("activityId"),
        locked,
        no_retries_left,
        now: runtime::executor::now_millis(),
        scope: crate::identity::scope(),
        sorting: filters.sorting_with(&[("tenantId", None)])?,
        page: filters.page()?,
    };
    filters.reject_unsupported()?;
    Ok(query)
}

async fn list(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Json_>> {
    let query = query(&Filters::from_body(body_json(&body)?, &params))?;
    let (tasks, _) = state.store().external_tasks(&query).await.map_err(sort_error)?;
    Ok(Json(Json_::Array(tasks.iter().map(task_json).collect())))
}

async fn count(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Json_>> {
    let mut query = query(&Filters::from_body(body_json(&body)?, &params))?;
    query.page = store::Page::default();
    Ok(count_json(state.store().external_tasks(&query).await.map_err(sort_error)?.1))
}

async fn one(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    Ok(Json(task_json(&visible(&state, &id).await?)))
}

async fn error_details(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let task = visible(&state, &id).await?;
    Ok(task.error_details.unwrap_or_default().into_response())
}
