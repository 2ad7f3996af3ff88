//! `/history/…`: process instances, activity instances, tasks, variable instances.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use engine::InstanceStatus;
use serde_json::{Value as Json_, json};
use store::{
    ActivityQuery, ActivityRecord, Definition, InstanceQuery, InstanceRecord, TaskHistoryQuery, TaskHistoryRecord,
};

use super::{
    Filters, Params, count_json, format_optional_date_text, format_optional_time, format_time, sort_error,
    variable_json,
};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::routes::{ENGINE_USE, Routes};

pub(super) fn router() -> Routes {
    Routes::new()
        .get("/history/process-instance", ENGINE_USE, instances)
        .get("/history/process-instance/count", ENGINE_USE, instance_count)
        .get("/history/process-instance/{id}", ENGINE_USE, instance)
        .get("/history/activity-instance", ENGINE_USE, activities)
        .get("/history/activity-instance/count", ENGINE_USE, activity_count)
        .get("/history/task", ENGINE_USE, tasks)
        .get("/history/task/count", ENGINE_USE, task_count)
        .get("/history/variable-instance", ENGINE_USE, variables)
}

fn state_name(status: InstanceStatus) -> &'static str {
    match status {
        InstanceStatus::Active => "ACTIVE",
        InstanceStatus::Completed => "COMPLETED",
        InstanceStatus::Terminated => "INTERNALLY_TERMINATED",
        InstanceStatus::Canceled => "EXTERNALLY_TERMINATED",
    }
}

fn duration(start: i64, end: Option<i64>) -> Json_ {
    end.map(|end| json!(end - start)).unwrap_or(Json_::Null)
}

fn instance_json(instance: &InstanceRecord, definition: Option<&Definition>) -> Json_ {
    json!({
        "id": instance.id,
        "businessKey": instance.business_key,
        "processDefinitionId": instance.definition_id,
        "processDefinitionKey": instance.definition_key,
        "processDefinitionName": definition.and_then(|d| d.name.clone()),
        "processDefinitionVersion": definition.map(|d| d.version),
        "startTime": format_time(instance.started_at),
        "endTime": format_optional_time(instance.ended_at),
        "removalTime": null,
        "durationInMillis": duration(instance.started_at, instance.ended_at),
        "startUserId": instance.start_user,
        "startActivityId": null,
        "deleteReason": instance.delete_reason,
        "rootProcessInstanceId": instance.id,
        "superProcessInstanceId": null,
        "superCaseInstanceId": null,
        "caseInstanceId": null,
        "tenantId": null,
        "state": state_name(instance.status),
    })
}

fn instance_query(filters: &Filters) -> ApiResult<InstanceQuery> {
    let active = match (filters.flag("finished")?, filters.flag("unfinished")?, filters.flag("active")?) {
        (Some(true), _, _) => Some(false),
        (_, Some(true), _) | (_, _, Some(true)) => Some(true),
        _ => None,
    };
    let query = InstanceQuery {
        id: filters.text("processInstanceId"),
        ids: filters.list("processInstanceIds"),
        definition_id: filters.text("processDefinitionId"),
        definition_key: filters.text("processDefinitionKey"),
        business_key: filters.text("processInstanceBusinessKey"),
        business_key_like: filters.text("processInstanceBusinessKeyLike"),
        active,
        started_by: filters.text("startedBy"),
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

async fn definitions_of(state: &AppState, ids: impl Iterator<Item = &String>) -> HashMap<String, Definition> {
    let mut found = HashMap::new();
    for id in ids {
        if !found.contains_key(id)
            && let Ok(definition) = state.executor.definition(id).await
        {
            found.insert(id.clone(), definition);
        }
    }
    found
}

async fn instances(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let (instances, _) =
        state.store().instances(&instance_query(&Filters::from_params(&params))?).await.map_err(sort_error)?;
    let definitions = definitions_of(&state, instances.iter().map(|i| &i.definition_id)).await;
    Ok(Json(Json_::Array(instances.iter().map(|i| instance_json(i, definitions.get(&i.definition_id))).collect())))
}

async fn instance_count(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let mut query = instance_query(&Filters::from_params(&params))?;
    query.page = store::Page::default();
    Ok(count_json(state.store().instances(&query).await.map_err(sort_error)?.1))
}

async fn instance(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    let instance = super::instance::scoped(&state, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Historic process instance with id {id} does not exist")))?;
    let definitions = definitions_of(&state, std::iter::once(&instance.definition_id)).await;
    Ok(Json(instance_json(&instance, definitions.get(&instance.definition_id))))
}

fn activity_json(activity: &ActivityRecord) -> Json_ {
    json!({
        "id": activity.id,
        "parentActivityInstanceId": activity.parent_id.clone().unwrap_or_else(|| activity.instance_id.clone()),
        "activityId": activity.activity_id,
        "activityName": activity.activity_name,
        "activityType": activity.activity_type,
        "processDefinitionKey": activity.definition_key,
        "processDefinitionId": activity.definition_id,
        "processInstanceId": activity.instance_id,
        "executionId": activity.instance_id,
        "taskId": activity.task_id,
        "calledProcessInstanceId": null,
        "calledCaseInstanceId": null,
        "assignee": activity.assignee,
        "startTime": format_time(activity.started_at),
        "endTime": format_optional_time(activity.ended_at),
        "durationInMillis": duration(activity.started_at, activity.ended_at),
        "canceled": activity.canceled,
        "completeScope": activity.activity_type.ends_with("EndEvent"),
        "tenantId": null,
        "removalTime": null,
        "rootProcessInstanceId": activity.instance_id,
    })
}

fn activity_query(filters: &Filters) -> ApiResult<ActivityQuery> {
    let finished = match (filters.flag("finished")?, filters.flag("unfinished")?) {
        (Some(true), _) => Some(true),
        (_, Some(true)) => Some(false),
        _ => None,
    };
    let query = ActivityQuery {
        instance_id: filters.text("processInstanceId"),
        activity_id: filters.text("activityId"),
        activity_type: filters.text("activityType"),
        finished,
        sorting: filters.sorting_with(&[("executionId", Some("instanceId")), ("tenantId", None)])?,
        page: filters.page()?,
        scope: crate::identity::scope(),
    };
    filters.reject_unsupported()?;
    Ok(query)
}

async fn activities(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let (activities, _) =
        state.store().activity_history(&activity_query(&Filters::from_params(&params))?).await.map_err(sort_error)?;
    Ok(Json(Json_::Array(activities.iter().map(activity_json).collect())))
}

async fn activity_count(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let mut query = activity_query(&Filters::from_params(&params))?;
    query.page = store::Page::default();
    Ok(count_json(state.store().activity_history(&query).await.map_err(sort_error)?.1))
}

fn task_json(task: &TaskHistoryRecord) -> Json_ {
    json!({
        "id": task.id,
        "processDefinitionKey": task.definition_key,
        "processDefinitionId": task.definition_id,
        "processInstanceId": task.instance_id,
        "executionId": task.instance_id,
        "caseDefinitionKey": null,
        "caseDefinitionId": null,
        "caseInstanceId": null,
        "caseExecutionId": null,
        "activityInstanceId": task.activity_instance_id,
        "name": task.name,
        "description": task.description,
        "deleteReason": task.delete_reason,
        "owner": task.owner,
        "assignee": task.assignee,
        "startTime": format_time(task.created_at),
        "endTime": format_optional_time(task.ended_at),
        "duration": duration(task.created_at, task.ended_at),
        "taskDefinitionKey": task.task_definition_key,
        "priority": task.priority,
        "due": format_optional_date_text(task.due.as_deref()),
        "parentTaskId": null,
        "followUp": format_optional_date_text(task.follow_up.as_deref()),
        "tenantId": null,
        "removalTime": null,
        "rootProcessInstanceId": task.instance_id,
        "taskState": match task.delete_reason.as_deref() { Some("completed") => "Completed", Some(_) => "Deleted", None => "Created" },
    })
}

/// Camunda's historic task sort names the store knows under another name, or that order nothing
/// here.
const TASK_SORT_ALIASES: &[(&str, Option<&str>)] = &[
    ("executionId", Some("processInstanceId")),
    ("caseDefinitionId", None),
    ("caseInstanceId", None),
    ("caseExecutionId", None),
    ("tenantId", None),
];

fn task_query(filters: &Filters) -> ApiResult<TaskHistoryQuery> {
    let finished = match (filters.flag("finished")?, filters.flag("unfinished")?) {
        (Some(true), _) => Some(true),
        (_, Some(true)) => Some(false),
        _ => None,
    };
    let query = TaskHistoryQuery {
        task_id: filters.text("taskId"),
        instance_id: filters.text("processInstanceId"),
        definition_key: filters.text("processDefinitionKey"),
        task_definition_key: filters.text("taskDefinitionKey"),
        assignee: filters.text("taskAssignee"),
        finished,
        sorting: filters.sorting_with(TASK_SORT_ALIASES)?,
        page: filters.page()?,
        scope: crate::identity::scope(),
    };
    filters.reject_unsupported()?;
    Ok(query)
}

async fn tasks(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let (tasks, _) =
        state.store().task_history(&task_query(&Filters::from_params(&params))?).await.map_err(sort_error)?;
    Ok(Json(Json_::Array(tasks.iter().map(task_json).collect())))
}

async fn task_count(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let mut query = task_query(&Filters::from_params(&params))?;
    query.page = store::Page::default();
    Ok(count_json(state.store().task_history(&query).await.map_err(sort_error)?.1))
}

/// The latest value of each variable of one instance (`processInstanceId` is required here).
async fn variables(State(state): State<AppState>, Query(params): Query<Params>) -> ApiResult<Json<Json_>> {
    let filters = Filters::from_params(&params);
    let instance_id = filters
        .text("processInstanceId")
        .ok_or_else(|| ApiError::BadRequest("processInstanceId is required".into()))?;
    let name = filters.text("variableName");
    filters.reject_unsupported()?;
    if super::instance::scoped(&state, &instance_id).await?.is_none() {
        return Ok(Json(Json_::Array(Vec::new())));
    }
    let history = state.store().variable_history(&instance_id).await?;
    let mut latest: Vec<(String, &store::VariableRecord)> = Vec::new();
    for record in &history {
        match latest.iter_mut().find(|(name, _)| *name == record.name) {
            Some(entry) => entry.1 = record,
            None => latest.push((record.name.clone(), record)),
        }
    }
    let items = latest
        .iter()
        .filter(|(_, record)| record.value != engine::Value::Null)
        .filter(|(variable, _)| name.as_ref().is_none_or(|wanted| wanted == variable))
        .map(|(name, record)| {
            let mut item = variable_json(&record.value);
            if let Some(object) = item.as_object_mut() {
                object.insert("name".into(), json!(name));
                object.insert("processInstanceId".into(), json!(record.instance_id));
                object.insert("createTime".into(), format_time(record.at));
                object.insert("state".into(), json!("CREATED"));
            }
            item
        })
        .collect();
    Ok(Json(Json_::Array(items)))
}
