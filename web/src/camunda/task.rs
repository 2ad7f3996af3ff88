//! `/task`: list, count, get, claim, unclaim, assignee, delegate, resolve, complete, variables,
//! form variables, comments, identity links (assignee, owner, candidate users and groups). Delegate and resolve are the approval layer's 委派 and 归还 (one
//! implementation, recorded in the approval timeline). A task comment is an approval record with a comment (意见): those of 通过, 驳回 …
//! show here, and one created here shows in the approval timeline as `comment`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value as Json_, json};
use store::{TaskQuery, TaskRecord};

use super::{
    Filters, Params, body_json, count_json, format_optional_date_text, format_time, parse_variable, parse_variables,
    sort_error, variable_json, variables_json,
};
use crate::error::{ApiError, ApiResult};
use crate::identity::Auth;
use crate::routes::{ENGINE_USE, Routes};
use crate::{AppState, CurrentUser};

pub(super) fn router() -> Routes {
    Routes::new()
        .get("/task", ENGINE_USE, list)
        .post("/task", ENGINE_USE, list)
        .get("/task/count", ENGINE_USE, count)
        .post("/task/count", ENGINE_USE, count)
        .get("/task/{id}", ENGINE_USE, one)
        .post("/task/{id}/claim", ENGINE_USE, claim)
        .post("/task/{id}/unclaim", ENGINE_USE, unclaim)
        .post("/task/{id}/assignee", ENGINE_USE, set_assignee)
        .post("/task/{id}/complete", ENGINE_USE, complete)
        .post("/task/{id}/submit-form", ENGINE_USE, complete)
        .get("/task/{id}/variables", ENGINE_USE, variables)
        .post("/task/{id}/variables", ENGINE_USE, modify_variables)
        .get("/task/{id}/variables/{name}", ENGINE_USE, variable)
        .put("/task/{id}/variables/{name}", ENGINE_USE, put_variable)
        .delete("/task/{id}/variables/{name}", ENGINE_USE, delete_variable)
        .get("/task/{id}/form-variables", ENGINE_USE, form_variables)
        .get("/task/{id}/identity-links", ENGINE_USE, identity_links)
        .post("/task/{id}/identity-links", ENGINE_USE, add_identity_link)
        .post("/task/{id}/identity-links/delete", ENGINE_USE, delete_identity_link)
        .post("/task/{id}/delegate", ENGINE_USE, delegate)
        .post("/task/{id}/resolve", ENGINE_USE, resolve)
        .get("/task/{id}/comment", ENGINE_USE, comments)
        .post("/task/{id}/comment/create", ENGINE_USE, create_comment)
        .get("/task/{id}/comment/{comment_id}", ENGINE_USE, comment)
}

/// Camunda's task sort names the store knows under another name, or that order nothing here.
const SORT_ALIASES: &[(&str, Option<&str>)] = &[
    ("instanceId", Some("processInstanceId")),
    ("executionId", Some("processInstanceId")),
    ("caseInstanceId", None),
    ("caseExecutionId", None),
    ("tenantId", None),
];

fn task_json(task: &TaskRecord) -> Json_ {
    json!({
        "id": task.id,
        "name": task.name,
        "assignee": task.assignee,
        "owner": task.owner,
        "created": format_time(task.created_at),
        "lastUpdated": null,
        "due": format_optional_date_text(task.due.as_deref()),
        "followUp": format_optional_date_text(task.follow_up.as_deref()),
        "delegationState": task.delegation,
        "description": task.description,
        "executionId": task.instance_id,
        "parentTaskId": null,
        "priority": task.priority,
        "processDefinitionId": task.definition_id,
        "processInstanceId": task.instance_id,
        "caseExecutionId": null,
        "caseDefinitionId": null,
        "caseInstanceId": null,
        "taskDefinitionKey": task.task_definition_key,
        "suspended": false,
        "formKey": task.form_key,
        "camundaFormRef": null,
        "tenantId": null,
    })
}

async fn query(state: &AppState, filters: &Filters) -> ApiResult<TaskQuery> {
    let candidate_user = filters.text("candidateUser");
    let candidate_user_groups = match &candidate_user {
        Some(user) => state.store().user_groups(user).await?,
        None => Vec::new(),
    };
    let candidate_groups = match (filters.text("candidateGroup"), filters.list("candidateGroups")) {
        (Some(group), _) => Some(vec![group]),
        (None, groups) => groups,
    };
    let query = TaskQuery {
        id: filters.text("taskId"),
        instance_id: filters.text("processInstanceId"),
        instance_ids: filters.list("processInstanceIdIn"),
        definition_id: filters.text("processDefinitionId"),
        definition_key: filters.text("processDefinitionKey"),
        task_definition_key: filters.text("taskDefinitionKey"),
        task_definition_keys: filters.list("taskDefinitionKeyIn"),
        name: filters.text("name"),
        name_like: filters.text("nameLike"),
        assignee: filters.text("assignee"),
        assignee_like: filters.text("assigneeLike"),
        assigned: match (filters.flag("assigned")?, filters.flag("unassigned")?) {
            (Some(true), _) => Some(true),
            (_, Some(true)) => Some(false),
            _ => None,
        },
        candidate_user,
        candidate_user_groups,
        candidate_groups,
        include_assigned: filters.flag("includeAssignedTasks")?.unwrap_or(false),
        business_key: filters.text("processInstanceBusinessKey"),
        min_priority: filters.int("minPriority")?,
        max_priority: filters.int("maxPriority")?,
        sorting: filters.sorting_with(SORT_ALIASES)?,
        page: filters.page()?,
        scope: crate::identity::scope(),
    };
    filters.reject_unsupported()?;
    Ok(query)
}

async fn run_list(state: &AppState, filters: Filters) -> ApiResult<Json<Json_>> {
    let (tasks, _) = state.store().tasks(&query(state, &filters).await?).await.map_err(sort_error)?;
    Ok(Json(Json_::Array(tasks.iter().map(task_json).collect())))
}

async fn run_count(state: &AppState, filters: Filters) -> ApiResult<Json<Json_>> {
    let mut query = query(state, &filters).await?;
    query.page = store::Page::default();
    Ok(count_json(state.store().tasks(&query).await.map_err(sort_error)?.1))
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

/// A task inside the caller's data scope; one outside it does not exist for them (404).
/// A task the signed-in user may change: inside their scope (404 otherwise) and theirs to work
/// on — held, claimable, or an administrator's (403 otherwise).
pub(super) async fn writable(state: &AppState, auth: &Auth, id: &str) -> ApiResult<TaskRecord> {
    let task = find(state, id).await?;
    authorize(state, auth, &task).await?;
    Ok(task)
}

async fn authorize(state: &AppState, auth: &Auth, task: &TaskRecord) -> ApiResult<()> {
    if crate::approval::may_work_on(state, auth, task).await? {
        return Ok(());
    }
    Err(ApiError::coded(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "The user with id '{}' is not an assignee or candidate of task '{}' (无权处理该任务)",
            auth.principal.account.id, task.id
        ),
    ))
}

/// Refuses to name `user` on a task's instance that they could not see (see
/// [`crate::approval::exposes_instance`]).
async fn refuse_exposure(state: &AppState, user: &str, task: &TaskRecord) -> ApiResult<()> {
    if crate::approval::exposes_instance(state, user, task).await? {
        return Err(ApiError::BadRequest(format!(
            "the user '{user}' cannot see this process instance, so the task cannot go to them ({user} 无法查看该流程)"
        )));
    }
    Ok(())
}

pub(super) async fn find(state: &AppState, id: &str) -> ApiResult<TaskRecord> {
    let query = TaskQuery { id: Some(id.to_string()), ..TaskQuery::new(crate::identity::scope()) };
    let (mut tasks, _) = state.store().tasks(&query).await?;
    tasks.pop().ok_or_else(|| ApiError::NotFound(format!("No matching task with id {id}")))
}

async fn one(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    Ok(Json(task_json(&find(&state, &id).await?)))
}

fn user_id(body: &serde_json::Map<String, Json_>) -> ApiResult<Option<String>> {
    match body.get("userId") {
        None | Some(Json_::Null) => Ok(None),
        Some(Json_::String(user)) => Ok(Some(super::checked_id("userId", user.clone())?)),
        Some(_) => Err(ApiError::BadRequest("userId must be a string".into())),
    }
}

async fn claim(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let user = user_id(&body_json(&body)?)?
        .ok_or_else(|| ApiError::BadRequest("userId is required to claim a task".into()))?;
    let task = writable(&state, &auth, &id).await?;
    refuse_exposure(&state, &user, &task).await?;
    if task.assignee.as_deref() == Some(user.as_str()) {
        return Ok(StatusCode::NO_CONTENT);
    }
    state.store().set_assignee(&id, Some(None), Some(&user), runtime::executor::now_millis(), &actor.0).await.map_err(
        |error| match error {
            store::Error::Conflict(_) => ApiError::Conflict(format!("Task '{id}' is already claimed by someone else.")),
            other => other.into(),
        },
    )?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unclaim(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    writable(&state, &auth, &id).await?;
    state.store().set_assignee(&id, None, None, runtime::executor::now_millis(), &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_assignee(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let user = user_id(&body_json(&body)?)?;
    let task = writable(&state, &auth, &id).await?;
    if let Some(user) = &user {
        refuse_exposure(&state, user, &task).await?;
    }
    state.store().set_assignee(&id, None, user.as_deref(), runtime::executor::now_millis(), &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 204, or 200 with the process variables when `withVariablesInReturn` is true.
async fn complete(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let body = body_json(&body)?;
    let variables = parse_variables(body.get("variables"))?;
    let with_variables = body.get("withVariablesInReturn").and_then(Json_::as_bool).unwrap_or(false);
    let (visible, _) =
        state.store().tasks(&TaskQuery { id: Some(id.clone()), ..TaskQuery::new(crate::identity::scope()) }).await?;
    if visible.is_empty() && crate::identity::scope() != store::DataScope::All {
        // Outside the scope: the same answer as for a task that does not exist.
        return Err(ApiError::NotFound(format!("No matching task with id {id}")));
    }
    if let Some(task) = visible.first() {
        authorize(&state, &auth, task).await?;
    }
    if visible.first().and_then(|task| task.delegation.as_deref()) == Some("PENDING") {
        return Err(ApiError::BadRequest(
            "A delegated task cannot be completed, but needs to be resolved instead.".into(),
        ));
    }
    let instance = match visible.first() {
        // A task form's fields are checked as on `/api` (only its editable ones, validated);
        // the record write goes with the approval. The approval rules (added signers, votes)
        // hold here as on `/api` (`docs/security.md`).
        Some(task)
            if task.form_key.as_deref().is_some_and(|key| key.starts_with(forms::definition::FORM_KEY_PREFIX)) =>
        {
            let given = variables.iter().map(|(name, value)| (name.clone(), value.to_json())).collect();
            let mut input = runtime::operations::OperationInput::by(&actor.0);
            match crate::forms::task::checked(&state, &auth, task, &given, None).await? {
                Some((checked, writes)) => {
                    input.variables =
                        checked.iter().map(|(name, value)| (name.clone(), engine::Value::from_json(value))).collect();
                    input.record_writes = writes;
                }
                None => input.variables = variables,
            }
            state.executor.approve(task, input).await?
        }
        Some(task) => state.executor.complete_by_rules(task, variables, &actor.0).await?,
        None => state.executor.complete_task(&id, variables, Some(&actor.0)).await?,
    };
    if with_variables {
        return Ok(Json(variables_json(instance.state.variables())).into_response());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn instance_of(state: &AppState, id: &str) -> ApiResult<(TaskRecord, store::InstanceRecord)> {
    let task = find(state, id).await?;
    let instance = super::instance::running(state, &task.instance_id).await?;
    Ok((task, instance))
}

async fn variables(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    let (_, instance) = instance_of(&state, &id).await?;
    Ok(Json(variables_json(instance.state.variables())))
}

async fn form_variables(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Json_>> {
    let (_, instance) = instance_of(&state, &id).await?;
    let wanted = Filters::from_params(&params).list("variableNames");
    let mut variables = instance.state.variables().clone();
    if let Some(wanted) = wanted {
        variables.retain(|name, _| wanted.contains(name));
    }
    Ok(Json(variables_json(&variables)))
}

async fn variable(State(state): State<AppState>, Path((id, name)): Path<(String, String)>) -> ApiResult<Json<Json_>> {
    let (_, instance) = instance_of(&state, &id).await?;
    let value = instance
        .state
        .variables()
        .get(&name)
        .ok_or_else(|| ApiError::NotFound(format!("task variable with name {name} does not exist")))?;
    Ok(Json(variable_json(value)))
}

async fn modify_variables(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let body = body_json(&body)?;
    let modifications = parse_variables(body.get("modifications"))?;
    let deletions = body
        .get("deletions")
        .and_then(Json_::as_array)
        .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let deletions: Vec<String> = deletions;
    crate::forms::task::refuse_reserved(deletions.iter())?;
    let (task, _) = instance_of(&state, &id).await?;
    authorize(&state, &auth, &task).await?;
    state.executor.set_variables(&task.instance_id, modifications, deletions, Some(&actor.0)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn put_variable(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path((id, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let value = parse_variable(&name, &Json_::Object(body_json(&body)?))?;
    let (task, _) = instance_of(&state, &id).await?;
    authorize(&state, &auth, &task).await?;
    state
        .executor
        .set_variables(&task.instance_id, [(name, value)].into_iter().collect(), Vec::new(), Some(&actor.0))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_variable(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    crate::forms::task::refuse_reserved(std::iter::once(&name))?;
    let (task, _) = instance_of(&state, &id).await?;
    authorize(&state, &auth, &task).await?;
    state.executor.set_variables(&task.instance_id, engine::Variables::new(), vec![name], Some(&actor.0)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Camunda's `CommentDto` of an approval record.
fn comment_json(record: &store::approval::ApprovalRecord) -> Json_ {
    let task_id = record.task_id.clone().unwrap_or_default();
    json!({
        "id": record.id,
        "userId": record.actor,
        "taskId": task_id,
        "processInstanceId": record.instance_id,
        "rootProcessInstanceId": record.instance_id,
        "time": format_time(record.at),
        "message": record.comment,
        "removalTime": null,
        "links": [{ "method": "GET", "href": format!("/task/{task_id}/comment/{}", record.id), "rel": "self" }],
    })
}

/// The instance of a task, open or ended, inside the caller's scope (404 otherwise).
pub(super) async fn task_instance(state: &AppState, id: &str) -> ApiResult<String> {
    let scope = crate::identity::scope();
    let open = TaskQuery { id: Some(id.to_string()), ..TaskQuery::new(scope.clone()) };
    if let Some(task) = state.store().tasks(&open).await?.0.into_iter().next() {
        return Ok(task.instance_id);
    }
    let ended = store::TaskHistoryQuery { task_id: Some(id.to_string()), ..store::TaskHistoryQuery::new(scope) };
    match state.store().task_history(&ended).await?.0.into_iter().next() {
        Some(task) => Ok(task.instance_id),
        None => Err(ApiError::NotFound(format!("No task found for task id {id}"))),
    }
}

/// The comments of a task, open or ended, inside the caller's scope (404 otherwise).
async fn task_comments(state: &AppState, id: &str) -> ApiResult<Vec<store::approval::ApprovalRecord>> {
    task_instance(state, id).await?;
    Ok(state.store().task_comments(id).await?)
}

async fn comments(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    Ok(Json(task_comments(&state, &id).await?.iter().map(comment_json).collect()))
}

async fn comment(
    State(state): State<AppState>,
    Path((id, comment_id)): Path<(String, String)>,
) -> ApiResult<Json<Json_>> {
    let comments = task_comments(&state, &id).await?;
    let found = comments.iter().find(|record| record.id == comment_id);
    found.map(|record| Json(comment_json(record))).ok_or_else(|| {
        ApiError::NotFound(format!("Task comment with id {comment_id} does not exist for task id {id}."))
    })
}

/// `POST /task/{id}/comment/create {message}`: a comment on an open task.
async fn create_comment(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Json_>> {
    let body = body_json(&body)?;
    let message = match body.get("message") {
        Some(Json_::String(message)) if !message.trim().is_empty() => message.clone(),
        _ => return Err(ApiError::BadRequest("message is required and must be a non-empty string".into())),
    };
    if message.chars().count() > crate::approval::MAX_COMMENT {
        return Err(ApiError::BadRequest(format!(
            "message is longer than {} characters (意见不能超过 {0} 字)",
            crate::approval::MAX_COMMENT
        )));
    }
    let task = find(&state, &id).await.map_err(|error| match error {
        ApiError::NotFound(_) => ApiError::BadRequest(format!("No task found for task id {id}")),
        other => other,
    })?;
    authorize(&state, &auth, &task).await?;
    let input = runtime::operations::OperationInput {
        comment: Some(message),
        ..runtime::operations::OperationInput::by(&actor.0)
    };
    let record = state.executor.comment(&task, input).await?;
    Ok(Json(comment_json(&record)))
}

/// `POST /task/{id}/delegate {userId}`: 委派 — the user works on the task and resolves it back to
/// its owner (the assignee until now).
async fn delegate(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let user = user_id(&body_json(&body)?)?
        .ok_or_else(|| ApiError::BadRequest("userId is required to delegate a task".into()))?;
    let task = writable(&state, &auth, &id).await?;
    refuse_exposure(&state, &user, &task).await?;
    let input = runtime::operations::OperationInput::by(&actor.0);
    state.executor.delegate(&task, &user, input).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /task/{id}/resolve {variables}`: 归还 — a delegated task goes back to its owner, with
/// the delegate's variables set on the instance first.
async fn resolve(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let variables = parse_variables(body_json(&body)?.get("variables"))?;
    let task = writable(&state, &auth, &id).await?;
    if task.delegation.as_deref() != Some("PENDING") {
        return Err(ApiError::BadRequest(format!("task {id} is not delegated, so it cannot be resolved")));
    }
    if !variables.is_empty() {
        state.executor.set_variables(&task.instance_id, variables, Vec::new(), Some(&actor.0)).await?;
    }
    let input = runtime::operations::OperationInput::by(&actor.0);
    state.executor.resolve(&task, input).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /task/{id}/identity-links[?type=assignee|owner|candidate]`.
async fn identity_links(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> ApiResult<Json<Json_>> {
    let task = find(&state, &id).await?;
    let link = |user: Option<&String>, group: Option<&String>, kind: &str| json!({ "userId": user, "groupId": group, "type": kind });
    let mut links: Vec<Json_> = Vec::new();
    links.extend(task.assignee.iter().map(|user| link(Some(user), None, "assignee")));
    links.extend(task.owner.iter().map(|user| link(Some(user), None, "owner")));
    links.extend(task.candidate_users.iter().map(|user| link(Some(user), None, "candidate")));
    links.extend(task.candidate_groups.iter().map(|group| link(None, Some(group), "candidate")));
    if let Some(kind) = params.get("type") {
        links.retain(|link| link["type"] == kind.as_str());
    }
    Ok(Json(Json_::Array(links)))
}

/// The `{userId | groupId, type}` body of an identity-link change: what changes (`user` or
/// `group` candidate, `assignee`, `owner`) and who.
fn identity_link(body: &[u8]) -> ApiResult<(&'static str, String)> {
    let body = body_json(body)?;
    let text = |name: &str| match body.get(name) {
        None | Some(Json_::Null) => Ok(None),
        Some(Json_::String(value)) if !value.trim().is_empty() => Ok(Some(super::checked_id(name, value.clone())?)),
        Some(_) => Err(ApiError::BadRequest(format!("{name} must be a non-empty string"))),
    };
    let kind = text("type")?.ok_or_else(|| ApiError::BadRequest("type is required".into()))?;
    let (who, value) = match (text("userId")?, text("groupId")?) {
        (Some(user), None) => ("user", user),
        (None, Some(group)) => ("group", group),
        _ => return Err(ApiError::BadRequest("exactly one of userId and groupId is required".into())),
    };
    match (kind.as_str(), who) {
        ("candidate", _) => Ok((who, value)),
        ("assignee" | "owner", "user") => Ok((if kind == "owner" { "owner" } else { "assignee" }, value)),
        ("assignee" | "owner", _) => Err(ApiError::BadRequest(format!("a {kind} link names a userId"))),
        _ => Err(ApiError::BadRequest(format!("identity link type '{kind}' is not one of assignee, owner, candidate"))),
    }
}

async fn change_identity_link(
    state: &AppState,
    auth: &Auth,
    id: &str,
    body: &[u8],
    add: bool,
) -> ApiResult<StatusCode> {
    let actor = auth.principal.account.id.as_str();
    let (kind, value) = identity_link(body)?;
    let task = writable(state, auth, id).await?;
    if add && kind != "group" {
        refuse_exposure(state, &value, &task).await?;
    }
    if kind == "assignee" {
        let (expected, assignee) = if add { (None, Some(value.as_str())) } else { (Some(Some(value.as_str())), None) };
        state.store().set_assignee(id, expected, assignee, runtime::executor::now_millis(), actor).await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    let input = runtime::operations::OperationInput::by(actor);
    state.executor.change_identity_link(&task, kind, &value, add, input).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /task/{id}/identity-links {userId | groupId, type}`.
async fn add_identity_link(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    change_identity_link(&state, &auth, &id, &body, true).await
}

/// `POST /task/{id}/identity-links/delete {userId | groupId, type}`.
async fn delete_identity_link(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    change_identity_link(&state, &auth, &id, &body, false).await
}
