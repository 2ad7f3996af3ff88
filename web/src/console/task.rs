//! The task page: the task, its form data, the timeline, the diagram with the current node, and
//! a form for each operation the caller may do now (the list `/api/tasks/{id}` gives).

use approval::Operation;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use store::ActivityQuery;

use super::inbox::shanghai;
use super::{filled, screen};
use crate::AppState;
use crate::approval::{OperationBody, TaskSummary, TimelineEntry, checked_body, load_task_detail, perform};
use crate::error::{ApiError, ApiResult};
use crate::identity::{self, Auth};
use crate::templates::Context;

#[derive(Deserialize, Default)]
pub(crate) struct Shown {
    /// The sentence after an operation that keeps the task open (`urged`, `copied` …).
    #[serde(default)]
    notice: String,
}

/// A timeline step with its time as people read it, and the names of the people in it.
#[derive(Serialize)]
struct Step {
    #[serde(flatten)]
    entry: TimelineEntry,
    time_text: String,
    /// The display names of its actor and assignee (an account id means little to a person).
    actor_name: Option<String>,
    assignee_name: Option<String>,
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    shown: Result<Query<Shown>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let context = task_context(&state, &auth, &id, shown, None).await?;
    screen(&state, &auth, "inbox", "task.html", context).await
}

/// A refused task form: what the person posted and each error at its field.
pub(crate) type Refused = (serde_json::Map<String, serde_json::Value>, Vec<forms::FieldError>);

/// What a task's page shows, on the desktop and on the phone (`/m/tasks/{id}`).
pub(crate) async fn task_context(
    state: &AppState,
    auth: &Auth,
    id: &str,
    shown: Result<Query<Shown>, axum::extract::rejection::QueryRejection>,
    refused: Option<&Refused>,
) -> ApiResult<Context> {
    let Query(shown) = shown.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let (detail, loaded) = load_task_detail(state, auth, id).await?;
    let (created, ended) = match &detail.task {
        TaskSummary::Open(task) => (task.facts.created, None),
        TaskSummary::Ended(task) => (task.facts.created, task.ended_at),
    };
    let mut context = Context::new();
    let due = match &detail.task {
        TaskSummary::Open(task) => task.due.as_deref(),
        TaskSummary::Ended(_) => None,
    };
    let (due_text, due_state) = super::inbox::due(due, runtime::executor::now_millis());
    context.insert("due_text", &due_text);
    context.insert("due_state", due_state);
    context.insert("detail", &detail);
    context.insert("operations", &detail.operations);
    context.insert("application", &detail.application);
    context.insert("targets", &detail.return_targets);
    context.insert("created_text", &shanghai(created));
    context.insert("ended_text", &ended.map(shanghai).unwrap_or_default());
    context.insert("started_text", &shanghai(detail.process_instance.started_at));
    let instance_id = detail.process_instance.id.clone();
    let definition_id = detail.process_instance.definition_id.clone();
    instance_parts(state, &mut context, &instance_id, &definition_id, detail.timeline, &detail.form).await?;
    context.insert("task_id", &id);
    context.insert("notice", &shown.notice);
    // The task form: read-only fields as text, editable ones as inputs of 通过 (only while the
    // caller may approve; otherwise everything is text).
    match loaded {
        Some(loaded) => {
            let (posted, errors) = match refused {
                Some((posted, errors)) => (Some(posted), errors.as_slice()),
                None => (None, &[][..]),
            };
            let (mut task_form, mut inputs) =
                crate::forms::task::page_parts(state, auth, &loaded, posted, errors).await?;
            if !detail.operations.contains(&"approve") {
                inputs.clear();
                for field in &mut task_form.fields {
                    field.access = forms::Access::Readonly;
                }
            }
            context.insert("task_form", &task_form);
            context.insert("task_inputs", &inputs);
            context.insert("task_form_errors", &errors.len());
        }
        None => {
            context.insert("task_form", &Option::<()>::None);
            context.insert("task_inputs", &Vec::<()>::new());
            context.insert("task_form_errors", &0);
        }
    }
    if detail.operations.contains(&"cc") {
        context.insert("cc_roles", &copy_roles(state).await?);
    } else {
        context.insert("cc_roles", &Vec::<(String, String)>::new());
    }
    Ok(context)
}

/// What the task page and the instance page both show of an instance: the diagram's current
/// nodes, visit counts and taken sequence flows (`current`, `visits`, `taken`: from the
/// activity history, where every row records the flow it arrived by), the timeline (`steps`),
/// the timeline grouped by node for the diagram's hover cards (`tips`) and the variables
/// (`form`: the start form's label where the model gives one, else the variable's name).
pub(crate) async fn instance_parts(
    state: &AppState,
    context: &mut Context,
    instance_id: &str,
    definition_id: &str,
    timeline: Vec<TimelineEntry>,
    variables: &serde_json::Map<String, serde_json::Value>,
) -> ApiResult<()> {
    // The diagram: where the instance is now, and how often each node ran.
    let query = ActivityQuery { instance_id: Some(instance_id.to_string()), ..ActivityQuery::new(identity::scope()) };
    let (activities, _) = state.store().activity_history(&query).await?;
    let mut visits: BTreeMap<String, u32> = BTreeMap::new();
    let mut taken: BTreeMap<String, u32> = BTreeMap::new();
    let mut current = Vec::new();
    for activity in &activities {
        *visits.entry(activity.activity_id.clone()).or_default() += 1;
        if let Some(flow) = &activity.arrived_by {
            *taken.entry(flow.clone()).or_default() += 1;
        }
        if activity.ended_at.is_none() {
            current.push(activity.activity_id.clone());
        }
    }
    context.insert("current", &current.join(" "));
    context.insert("visits", &serde_json::to_string(&visits).unwrap_or_default());
    context.insert("taken", &serde_json::to_string(&taken).unwrap_or_default());
    // The people of the timeline by name, each account read once.
    let mut names: BTreeMap<String, Option<String>> = BTreeMap::new();
    for entry in &timeline {
        let (actor, assignee) = match entry {
            TimelineEntry::Task { actor, assignee, .. } => (actor, assignee.as_ref()),
            TimelineEntry::Operation { actor, .. } => (actor, None),
        };
        for id in actor.iter().chain(assignee) {
            if !names.contains_key(id) {
                let name = state.store().account(id).await?.and_then(|account| account.display_name);
                names.insert(id.clone(), name);
            }
        }
    }
    let name_of = |id: Option<&String>| id.and_then(|id| names.get(id).cloned().flatten());
    let steps: Vec<Step> = timeline
        .into_iter()
        .map(|entry| {
            let (time, actor_name, assignee_name) = match &entry {
                TimelineEntry::Task { time, actor, assignee, .. } => {
                    (*time, name_of(actor.as_ref()), name_of(assignee.as_ref()))
                }
                TimelineEntry::Operation { time, actor, .. } => (*time, name_of(actor.as_ref()), None),
            };
            Step { entry, time_text: shanghai(time), actor_name, assignee_name }
        })
        .collect();
    // Who handled each node, when, and what they said: the same steps, by node.
    let mut tips: BTreeMap<String, Vec<&Step>> = BTreeMap::new();
    for step in &steps {
        let node = match &step.entry {
            TimelineEntry::Task { task_key, .. } => Some(task_key),
            TimelineEntry::Operation { task_key, .. } => task_key.as_ref(),
        };
        if let Some(node) = node {
            tips.entry(node.clone()).or_default().push(step);
        }
    }
    context.insert("tips", &tips);
    context.insert("steps", &steps);
    let text = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "—".into(),
        serde_json::Value::Bool(flag) => if *flag { "是" } else { "否" }.into(),
        other => other.to_string(),
    };
    // An instance submitted from a form's record reads as that form: its labels, its display
    // texts (dictionary labels, 是 / 否), sensitive values masked; the binding itself unshown.
    let bound = variables
        .get(forms::task::RECORD_FORM_VARIABLE)
        .and_then(serde_json::Value::as_str)
        .and_then(|key| state.forms.form(key));
    if let Some(form) = bound {
        let form_pairs: Vec<(String, String)> = form
            .fields
            .iter()
            .filter_map(|field| {
                let value = variables.get(&field.key)?;
                Some((field.label.clone(), crate::forms::shown(&state.forms, field, Some(value), false)))
            })
            .collect();
        context.insert("form", &form_pairs);
        return Ok(());
    }
    let model = state.executor.model(&state.executor.definition(definition_id).await?).await?;
    let label =
        |name: &String| model.start_form.iter().find(|field| field.id == *name).and_then(|field| field.label.clone());
    // The start form's fields first, in the model's order; then the other variables by name.
    let position = |name: &String| model.start_form.iter().position(|field| field.id == *name).unwrap_or(usize::MAX);
    let mut ordered: Vec<_> = variables.iter().collect();
    ordered.sort_by_key(|(name, _)| position(name));
    let form: Vec<_> =
        ordered.into_iter().map(|(name, value)| (label(name).unwrap_or_else(|| name.clone()), text(value))).collect();
    context.insert("form", &form);
    Ok(())
}

#[derive(Deserialize, Default)]
pub(crate) struct PickerQuery {
    /// What the person typed in a 转办 / 委派 field (`user`) or a list field (`users`: the
    /// part after the last comma is searched).
    #[serde(default)]
    user: String,
    #[serde(default)]
    users: String,
}

/// `GET /tasks/{id}/people?user=…`: the people picker's suggestions, an HTML fragment (htmx
/// puts it under the field; `console.js` puts a chosen id into the field).
pub(crate) async fn people(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    query: Result<Query<PickerQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let typed = if query.user.is_empty() { &query.users } else { &query.user };
    let search = typed.rsplit([',', '，']).next().unwrap_or_default().trim();
    let people = crate::approval::people_for(&state, &auth, &id, search).await?;
    let mut context = Context::new();
    context.insert("people", &people);
    context.insert("search", search);
    Ok(crate::templates::page(axum::http::StatusCode::OK, "people.html", &context))
}

/// The roles a 抄送 may name: those that work in the console (`menu:tasks`) other than the
/// three administrators' (三员 do not take part in business work).
async fn copy_roles(state: &AppState) -> ApiResult<Vec<(String, String)>> {
    let mut roles: Vec<(String, String)> = state
        .store()
        .roles()
        .await?
        .into_iter()
        .filter(|role| role.permissions.iter().any(|permission| permission == "menu:tasks"))
        .filter(|role| !crate::identity::ADMIN_ROLES.contains(&role.id.as_str()))
        .map(|role| (role.id, role.name))
        .collect();
    roles.sort();
    Ok(roles)
}

/// An operation form of the task page: the fields of the API's body, lists comma-separated.
pub(crate) struct OperationForm {
    comment: String,
    target: String,
    user: String,
    users: String,
    roles: String,
    position: String,
    /// Uploaded files (`POST /api/files`, by the page's script) by id, comma-separated.
    attachments: String,
    /// The uploaded signature image, by id.
    signature: String,
    /// Where to go afterwards: `claimable` (the 认领 button of the 待认领 list, back to that
    /// list) or `m` (the mobile pages).
    back: String,
}

impl OperationForm {
    /// The form from its fields; a field sent more than once (the 抄送 role checkboxes) is the
    /// comma-separated list of its values.
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let field = |name: &str| {
            pairs.iter().filter(|(key, _)| key == name).map(|(_, value)| value.as_str()).collect::<Vec<_>>().join(",")
        };
        OperationForm {
            comment: field("comment"),
            target: field("target"),
            user: field("user"),
            users: field("users"),
            roles: field("roles"),
            position: field("position"),
            attachments: field("attachments"),
            signature: field("signature"),
            back: field("back"),
        }
    }
}

fn list(text: &str) -> Vec<String> {
    text.split([',', '，', ' ', '\n']).map(str::trim).filter(|item| !item.is_empty()).map(str::to_string).collect()
}

/// `POST /tasks/{id}/{operation}` from the task page. An operation that ends the caller's part
/// goes back to the inbox with a sentence saying what was done; one that keeps the task (催办,
/// 抄送, 意见, 加签, 认领) comes back to the task; 认领 from the 待认领 list and 取消认领 go to
/// that list. A refusal shows the error page with its sentence;
/// a 409 (someone acted first) says so.
pub(crate) async fn operate(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((id, operation)): Path<(String, String)>,
    form: Result<Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> ApiResult<Response> {
    let operation: Operation =
        operation.parse().map_err(|_| ApiError::not_found("没有这个操作 (no such operation)"))?;
    let Form(pairs) = form.map_err(|_| ApiError::invalid("提交的内容无效 (bad form)"))?;
    let form = OperationForm::from_pairs(&pairs);
    // 通过 with a task form carries its editable fields.
    let mut variables = serde_json::Map::new();
    if operation == Operation::Approve
        && let Some(task) = state
            .store()
            .tasks(&store::TaskQuery { id: Some(id.clone()), ..store::TaskQuery::new(identity::scope()) })
            .await?
            .0
            .first()
        && let Some(loaded) = crate::forms::task::load(&state, task).await?
    {
        variables = crate::forms::task::posted(&loaded, &pairs);
    }
    let posted = variables.clone();
    let body = checked_body(OperationBody {
        variables,
        comment: filled(&form.comment),
        target: filled(&form.target),
        user: filled(&form.user),
        users: list(&form.users),
        roles: list(&form.roles),
        position: filled(&form.position),
        attachments: list(&form.attachments),
        signature: filled(&form.signature),
        record_version: pairs.iter().find(|(key, _)| key == "record_version").and_then(|(_, value)| value.parse().ok()),
    })?;
    let mobile = form.back == "m";
    if let Err(error) = perform(&state, &auth, &id, operation, body).await {
        // A task form refused at its fields: the page again, the values kept, each error shown.
        return match error {
            ApiError::Validation(errors) if !posted.is_empty() => {
                let refused = (posted, errors);
                let context = task_context(&state, &auth, &id, Ok(Query(Shown::default())), Some(&refused)).await?;
                let page = if mobile { "m_task.html" } else { "task.html" };
                let mut response = screen(&state, &auth, "inbox", page, context).await?;
                *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
                Ok(response)
            }
            other => Err(other),
        };
    }
    let stays = matches!(
        operation,
        Operation::Urge
            | Operation::Cc
            | Operation::Comment
            | Operation::AddSigners
            | Operation::RemoveSigners
            | Operation::Claim
    );
    let (inbox, task) = if mobile { ("/m/todo", "/m/tasks") } else { ("/inbox", "/tasks") };
    let to = if form.back == "claimable" || operation == Operation::Unclaim {
        format!("{inbox}?tab=claimable&notice={}", operation.name())
    } else if stays {
        let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
        format!("{task}/{id}?notice={}", operation.name())
    } else {
        format!("{inbox}?notice={}", operation.name())
    };
    super::see_other(&to)
}
