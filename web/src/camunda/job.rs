//! `/job`: timers and async continuations waiting in the database, their retries, and running
//! one now.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value as Json_, json};
use store::{JOB_TIMER, JOB_TIMER_START, JobQuery, JobRecord};

use super::{Filters, Params, body_json, count_json, format_time, sort_error};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::routes::{ENGINE_USE, Routes};

pub(super) fn router() -> Routes {
    Routes::new()
        .get("/job", ENGINE_USE, list)
        .post("/job", ENGINE_USE, list)
        .get("/job/count", ENGINE_USE, count)
        .post("/job/count", ENGINE_USE, count)
        .get("/job/{id}", ENGINE_USE, one)
        .put("/job/{id}/retries", ENGINE_USE, set_retries)
        .post("/job/{id}/execute", ENGINE_USE, execute)
}

fn job_json(job: &JobRecord) -> Json_ {
    let timer = job.kind == JOB_TIMER || job.kind == JOB_TIMER_START;
    json!({
        "id": job.id,
        "jobDefinitionId": format!("{}:{}", job.definition_id, job.activity_id),
        "dueDate": if timer { format_time(job.due_at) } else { Json_::Null },
        "processInstanceId": job.instance_id,
        "executionId": job.instance_id,
        "processDefinitionId": job.definition_id,
        "processDefinitionKey": job.definition_key,
        "retries": job.retries,
        "exceptionMessage": job.exception_message,
        "failedActivityId": job.exception_message.as_ref().map(|_| &job.activity_id),
        "suspended": false,
        "priority": 0,
        "tenantId": null,
        "createTime": format_time(job.created_at),
        "batchId": null,
    })
}

fn query(filters: &Filters) -> ApiResult<JobQuery> {
    let with_retries_left = match (filters.flag("withRetriesLeft")?, filters.flag("noRetriesLeft")?) {
        (Some(true), _) => Some(true),
        (_, Some(true)) => Some(false),
        _ => None,
    };
    let query = JobQuery {
        id: filters.text("jobId"),
        instance_id: filters.text("processInstanceId").or(filters.text("executionId")),
        definition_id: filters.text("processDefinitionId"),
        definition_key: filters.text("processDefinitionKey"),
        activity_id: filters.text("activityId"),
        due_before: None,
        with_retries_left,
        timers: filters.flag("timers")?.unwrap_or(false),
        messages: filters.flag("messages")?.unwrap_or(false),
        kind: None,
        scope: crate::identity::scope(),
        sorting: filters.sorting_with(&[
            ("executionId", Some("processInstanceId")),
            ("jobPriority", None),
            ("tenantId", None),
        ])?,
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
    let (jobs, _) = state.store().jobs(&query).await.map_err(sort_error)?;
    Ok(Json(Json_::Array(jobs.iter().map(job_json).collect())))
}

async fn count(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Json_>> {
    let mut query = query(&Filters::from_body(body_json(&body)?, &params))?;
    query.page = store::Page::default();
    Ok(count_json(state.store().jobs(&query).await.map_err(sort_error)?.1))
}

async fn find(state: &AppState, id: &str) -> ApiResult<JobRecord> {
    find_in(state, id, crate::identity::scope()).await
}

/// A job the caller may retry or run (`crate::identity::change_scope`).
async fn changeable(state: &AppState, id: &str) -> ApiResult<JobRecord> {
    find_in(state, id, crate::identity::change_scope()).await
}

async fn find_in(state: &AppState, id: &str, scope: store::DataScope) -> ApiResult<JobRecord> {
    let query = JobQuery { id: Some(id.to_string()), ..JobQuery::new(scope) };
    state
        .store()
        .jobs(&query)
        .await?
        .0
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound(format!("Job with id {id} does not exist / 作业不存在")))
}

async fn one(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    Ok(Json(job_json(&find(&state, &id).await?)))
}

/// `PUT /job/{id}/retries` `{"retries": n}`.
async fn set_retries(
    State(state): State<AppState>,
    Extension(user): Extension<crate::CurrentUser>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let body = body_json(&body)?;
    let retries = body
        .get("retries")
        .and_then(Json_::as_i64)
        .filter(|retries| *retries >= 0)
        .ok_or_else(|| ApiError::BadRequest("retries must be a whole number ≥ 0 / 重试次数须为非负整数".into()))?;
    changeable(&state, &id).await?; // in the caller's data scope for changes, or 404
    state.executor.set_job_retries(&id, retries, Some(&user.0)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /job/{id}/execute`: runs the job now, whatever its due date.
async fn execute(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let job = changeable(&state, &id).await?;
    state.executor.run_job(&job).await?;
    match changeable(&state, &id).await {
        // Still there with an exception: this attempt failed (Camunda answers 500 with the cause).
        Ok(after) if after.exception_message.is_some() && after.retries < job.retries => {
            Err(ApiError::Unprocessable(format!("the job failed: {}", after.exception_message.unwrap_or_default())))
        }
        _ => Ok(StatusCode::NO_CONTENT),
    }
}
