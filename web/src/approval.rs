//! The inbox service and approval operations (issue 5): `/api/inbox/{todo|done|started|cc}`,
//! `/api/inbox/counts`, `/api/tasks/{id}`, `POST /api/tasks/{id}/{operation}` and
//! `POST /api/process-instances/{id}/withdraw`. Documented in `docs/openapi/inbox.yaml`.
//!
//! Every lookup goes through a query scoped by `identity::scope()`: a task or instance outside
//! the caller's data scope is 404 whatever the URL. Inside it, only the task's assignee, its
//! candidates (by user, role or group) or an administrator (`system:config`) may act (403
//! otherwise). Errors are `{code, message}` with a stable code and a Chinese message.

use ::approval::{Operation, Standing};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use runtime::executor::now_millis;
use runtime::operations::OperationInput;
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;
use store::approval::{InboxItem, InboxQuery, InboxTab};
use store::{InstanceQuery, Page, TaskHistoryQuery, TaskQuery, TaskRecord};

use crate::error::{ApiError, ApiResult};
use crate::identity::{self, Auth};
use crate::routes::{Need, Routes};
use crate::{AppState, CurrentUser};

/// 催办: at most one reminder per task in this window.
const URGE_WINDOW_SECONDS: i64 = 600;
const MAX_PAGE_SIZE: i64 = 100;

pub fn router() -> Routes {
    Routes::new()
        .get("/inbox/counts", Need::SignedIn, counts)
        .post("/inbox/batch-approve", Need::SignedIn, batch_approve_api)
        .get("/inbox/{tab}", Need::SignedIn, inbox)
        .get("/tasks/{id}", Need::SignedIn, task_detail)
        .post("/tasks/{id}/{operation}", Need::SignedIn, operate)
        .post("/process-instances/{id}/withdraw", Need::SignedIn, withdraw_instance)
}

/// The caller: id, candidate groups (roles and group memberships), administrator or not.
pub(crate) struct Caller {
    pub(crate) id: String,
    pub(crate) groups: Vec<String>,
    pub(crate) admin: bool,
    /// Process keys whose starter does not review their instances (`sy:selfReview = false`);
    /// filled for the inbox only ([`inbox_caller`]).
    pub(crate) not_own_reviews: Vec<String>,
}

pub(crate) async fn caller(state: &AppState, auth: &Auth) -> ApiResult<Caller> {
    let account = &auth.principal.account;
    let mut groups = account.roles.clone();
    for group in state.store().user_groups(&account.id).await? {
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    Ok(Caller {
        id: account.id.clone(),
        groups,
        admin: auth.principal.can("system:config"),
        not_own_reviews: Vec::new(),
    })
}

/// [`caller`] for an inbox list or count, with the processes whose own reviews it leaves out
/// (read only here: no other request pays for it).
async fn inbox_caller(state: &AppState, auth: &Auth) -> ApiResult<Caller> {
    Ok(Caller { not_own_reviews: not_own_reviews(state).await?, ..caller(state, auth).await? })
}

/// The keys of the latest process versions whose starter does not review them (each model's
/// settings are read once and cached by the executor).
async fn not_own_reviews(state: &AppState) -> ApiResult<Vec<String>> {
    let query = store::DefinitionQuery { latest_version: true, ..store::DefinitionQuery::default() };
    let mut keys = Vec::new();
    for definition in state.store().definitions(&query).await?.0 {
        match state.executor.approval_settings(&definition.id).await {
            Ok(settings) if !settings.self_review => keys.push(definition.key),
            Ok(_) => {}
            // A model that does not load never offers tasks anyway.
            Err(error) => tracing::debug!(%error, definition = %definition.id, "settings unreadable"),
        }
    }
    Ok(keys)
}

// ---------------------------------------------------------------------------------------------
// Inbox lists

#[derive(Debug, Deserialize, Serialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InboxParams {
    pub(crate) process: Option<String>,
    pub(crate) business_key: Option<String>,
    /// Milliseconds since the epoch, inclusive.
    pub(crate) from: Option<i64>,
    /// Milliseconds since the epoch, exclusive.
    pub(crate) to: Option<i64>,
    pub(crate) district: Option<String>,
    pub(crate) text: Option<String>,
    /// `time`, `businessKey`, `process`, `name` or `due` (due first, none last); a leading `-`
    /// sorts descending.
    pub(crate) sort: Option<String>,
    pub(crate) page: Option<i64>,
    pub(crate) page_size: Option<i64>,
}

pub(crate) fn tab_of(name: &str) -> Option<InboxTab> {
    match name {
        "todo" => Some(InboxTab::Todo),
        "claimable" => Some(InboxTab::Claimable),
        "done" => Some(InboxTab::Done),
        "started" => Some(InboxTab::Started),
        "cc" => Some(InboxTab::Cc),
        _ => None,
    }
}

pub(crate) fn inbox_query(tab: InboxTab, caller: &Caller, params: InboxParams) -> ApiResult<InboxQuery> {
    let page = params.page.unwrap_or(1);
    let size = params.page_size.unwrap_or(20);
    let first_result = page
        .checked_sub(1)
        .and_then(|skipped| skipped.checked_mul(size))
        .filter(|_| page >= 1 && (1..=MAX_PAGE_SIZE).contains(&size));
    let Some(first_result) = first_result else {
        return Err(ApiError::invalid(format!("page 从 1 开始，pageSize 为 1–{MAX_PAGE_SIZE} (bad page or pageSize)")));
    };
    let sort = params.sort.map(|sort| match sort.strip_prefix('-') {
        Some(key) => (key.to_string(), false),
        None => (sort.clone(), true),
    });
    if let Some((key, _)) = &sort
        && !["time", "businessKey", "process", "name", "due"].contains(&key.as_str())
    {
        return Err(ApiError::invalid(format!("不能按 {key} 排序 (cannot sort by {key})")));
    }
    Ok(InboxQuery {
        not_own_reviews: caller.not_own_reviews.clone(),
        tab,
        user: caller.id.clone(),
        roles: caller.groups.clone(),
        scope: identity::scope(),
        definition_key: params.process,
        business_key: params.business_key,
        from: params.from,
        to: params.to,
        district: params.district,
        text: params.text,
        sort,
        page: Page { first_result, max_results: Some(size) },
    })
}

/// One row of an inbox tab, as `/api/inbox/{tab}` answers it and the inbox page shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InboxEntry {
    pub(crate) task_id: Option<String>,
    pub(crate) process_instance_id: String,
    pub(crate) process_key: String,
    pub(crate) business_key: Option<String>,
    pub(crate) task_name: Option<String>,
    pub(crate) task_key: Option<String>,
    pub(crate) assignee: Option<String>,
    pub(crate) time: i64,
    pub(crate) started_at: i64,
    pub(crate) start_user: Option<String>,
    pub(crate) district: Option<String>,
    pub(crate) status: String,
    pub(crate) delegation: Option<String>,
    pub(crate) action: Option<String>,
    pub(crate) task_ended_at: Option<i64>,
    /// The task's due date (`camunda:dueDate`), Camunda's format.
    pub(crate) due: Option<String>,
    /// 摘要: the variables the process names in `sy:summary`, in its order (those it has).
    pub(crate) summary: Vec<SummaryField>,
    /// The task's node allows 批量通过 (`sy:batchApprove`).
    pub(crate) batch_approve: bool,
}

/// One variable of a row's 摘要.
#[derive(Debug, Serialize)]
pub(crate) struct SummaryField {
    pub(crate) name: String,
    pub(crate) value: JsonValue,
}

impl From<InboxItem> for InboxEntry {
    fn from(item: InboxItem) -> Self {
        InboxEntry {
            task_id: item.task_id,
            process_instance_id: item.instance_id,
            process_key: item.definition_key,
            business_key: item.business_key,
            task_name: item.task_name,
            task_key: item.element_id,
            assignee: item.assignee,
            time: item.at,
            started_at: item.started_at,
            start_user: item.start_user,
            district: item.district,
            status: item.status,
            delegation: item.delegation,
            action: item.action,
            task_ended_at: item.task_ended_at,
            due: item.due,
            summary: Vec::new(),
            batch_approve: false,
        }
    }
}

/// A page of an inbox tab.
#[derive(Debug, Serialize)]
pub(crate) struct InboxList {
    pub(crate) items: Vec<InboxEntry>,
    pub(crate) total: i64,
}

/// The caller's inbox tab: the one lookup behind `/api/inbox/{tab}` and the inbox page.
pub(crate) async fn inbox_list(
    state: &AppState,
    auth: &Auth,
    tab: InboxTab,
    params: InboxParams,
) -> ApiResult<InboxList> {
    let caller = inbox_caller(state, auth).await?;
    let query = inbox_query(tab, &caller, params)?;
    let (items, total) = state.store().inbox(&query).await?;
    let mut items: Vec<InboxEntry> = items.into_iter().map(InboxEntry::from).collect();
    annotate(state, &mut items).await?;
    Ok(InboxList { items, total })
}

/// Fills each row's 摘要 from its instance's variables and its process's `sy:summary`, and
/// whether its node allows 批量通过: one query for the page's instances, the settings from the
/// executor's cache.
async fn annotate(state: &AppState, items: &mut [InboxEntry]) -> ApiResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<String> = items.iter().map(|item| item.process_instance_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let query = InstanceQuery { ids: Some(ids), ..InstanceQuery::new(identity::scope()) };
    let (instances, _) = state.store().instances(&query).await?;
    let mut settings = std::collections::HashMap::new();
    for instance in &instances {
        if !settings.contains_key(&instance.definition_id) {
            let found = state.executor.approval_settings(&instance.definition_id).await?;
            settings.insert(instance.definition_id.clone(), found);
        }
    }
    for item in items.iter_mut() {
        let Some(instance) = instances.iter().find(|instance| instance.id == item.process_instance_id) else {
            continue;
        };
        let Some(found) = settings.get(&instance.definition_id) else { continue };
        item.batch_approve = item.task_key.as_deref().is_some_and(|key| found.task(key).batch_approve);
        let variables = instance.state.variables();
        item.summary = found
            .summary
            .iter()
            .filter_map(|name| {
                variables.get(name).map(|value| SummaryField { name: name.clone(), value: value.to_json() })
            })
            .collect();
    }
    Ok(())
}

/// The size of each tab.
#[derive(Debug, Serialize)]
pub(crate) struct InboxCounts {
    pub(crate) todo: i64,
    /// The part of 待办 nobody holds yet (待认领).
    pub(crate) claimable: i64,
    pub(crate) done: i64,
    pub(crate) started: i64,
    pub(crate) cc: i64,
}

pub(crate) async fn inbox_counts(state: &AppState, auth: &Auth) -> ApiResult<InboxCounts> {
    let caller = inbox_caller(state, auth).await?;
    let count = |tab| {
        let query = inbox_query(tab, &caller, InboxParams::default());
        async move { state.store().inbox_count(&query?).await.map_err(ApiError::from) }
    };
    // The five counts at once (on PostgreSQL each is a round trip of several milliseconds).
    let (todo, claimable, done, started, cc) = tokio::try_join!(
        count(InboxTab::Todo),
        count(InboxTab::Claimable),
        count(InboxTab::Done),
        count(InboxTab::Started),
        count(InboxTab::Cc)
    )?;
    Ok(InboxCounts { todo, claimable, done, started, cc })
}

/// `GET /api/inbox/{tab}`.
async fn inbox(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(tab): Path<String>,
    params: Result<Query<InboxParams>, QueryRejection>,
) -> ApiResult<Json<InboxList>> {
    let tab = tab_of(&tab).ok_or_else(|| ApiError::not_found(format!("没有 {tab} 列表 (no such inbox tab)")))?;
    let Query(params) = params.map_err(|error| ApiError::invalid(error.body_text()))?;
    Ok(Json(inbox_list(&state, &auth, tab, params).await?))
}

/// `GET /api/inbox/counts`: the size of each tab.
async fn counts(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> ApiResult<Json<InboxCounts>> {
    Ok(Json(inbox_counts(&state, &auth).await?))
}

// ---------------------------------------------------------------------------------------------
// Task detail and operations

/// The open task `id` inside the caller's scope, or 409 when it ended (someone acted first),
/// or 404.
async fn open_task(state: &AppState, id: &str) -> ApiResult<TaskRecord> {
    let query = TaskQuery { id: Some(id.to_string()), ..TaskQuery::new(identity::scope()) };
    if let Some(task) = state.store().tasks(&query).await?.0.into_iter().next() {
        return Ok(task);
    }
    let ended = TaskHistoryQuery { task_id: Some(id.to_string()), ..TaskHistoryQuery::new(identity::scope()) };
    match state.store().task_history(&ended).await?.0.into_iter().next() {
        Some(task) => Err(ApiError::coded(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "任务已被处理{} (the task has already been handled)",
                task.completed_by.map(|user| format!("（{user}）")).unwrap_or_default()
            ),
        )),
        None => Err(ApiError::not_found("任务不存在或无权查看 (no such task)")),
    }
}

/// Whether the caller holds or may claim the task.
fn can_act(task: &TaskRecord, caller: &Caller) -> bool {
    caller.admin
        || match &task.assignee {
            Some(assignee) => assignee == &caller.id,
            None => is_candidate(task, caller),
        }
}

/// Whether the caller is a candidate of the task, by user or by one of their groups.
fn is_candidate(task: &TaskRecord, caller: &Caller) -> bool {
    task.candidate_users.contains(&caller.id) || task.candidate_groups.iter().any(|group| caller.groups.contains(group))
}

/// [`can_act`], or a pending alongside signer (加签) of the task.
async fn may_act(state: &AppState, task: &TaskRecord, caller: &Caller) -> ApiResult<bool> {
    if can_act(task, caller) {
        return Ok(true);
    }
    let signers = state.store().signers(&task.id).await?;
    Ok(signers
        .iter()
        .any(|signer| signer.user_id == caller.id && signer.state == "pending" && signer.position == "alongside"))
}

/// An instance inside the caller's scope.
pub(crate) async fn visible_instance(state: &AppState, id: &str) -> ApiResult<store::InstanceRecord> {
    let query = InstanceQuery { id: Some(id.to_string()), ..InstanceQuery::new(identity::scope()) };
    state
        .store()
        .instances(&query)
        .await?
        .0
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("流程实例不存在或无权查看 (no such process instance)"))
}

/// Whether the signed-in user may work on the task: its holders and candidates, a pending
/// alongside signer, or an administrator. `/api` operations and `/engine-rest` task writes
/// (complete, claim, variables, delegate, links …) follow this one rule, as Camunda does with
/// authorizations on; the data scope alone only decides what one may see.
pub(crate) async fn may_work_on(state: &AppState, auth: &Auth, task: &TaskRecord) -> ApiResult<bool> {
    may_act(state, task, &caller(state, auth).await?).await
}

/// Whether the caller may change or delete an instance other than through its tasks
/// (`/engine-rest` variables and delete): an administrator, or its starter while 撤回 is still
/// allowed (the process allows it and nobody else has acted). A colleague who merely sees the
/// instance may not (`docs/security.md` T-RIGHTS).
pub(crate) async fn may_change_instance(
    state: &AppState,
    auth: &Auth,
    instance: &store::InstanceRecord,
) -> ApiResult<bool> {
    let caller = caller(state, auth).await?;
    Ok(caller.admin || state.executor.may_withdraw(instance, &caller.id).await?)
}

/// Whether naming `user` on a task (as candidate, owner, delegate, assignee) would show its
/// instance to an account of ours that cannot see it now — a citizen made a candidate of a
/// district task, say. Ids that are no account here (Camunda models with outside identities)
/// cannot sign in, so they expose nothing.
pub(crate) async fn exposes_instance(state: &AppState, user: &str, task: &TaskRecord) -> ApiResult<bool> {
    let Some(account) = state.store().account(user).await? else { return Ok(false) };
    // Whom the model already names (a candidate user, or a holder of a candidate role or
    // group) is meant to have it.
    let designated = task.candidate_users.iter().any(|candidate| candidate == user)
        || account.roles.iter().any(|role| task.candidate_groups.contains(role))
        || state.store().user_groups(user).await?.iter().any(|group| task.candidate_groups.contains(group));
    Ok(!designated && !user_sees_instance(state, user, &task.instance_id).await?)
}

/// Whether `user` (another account) could see the instance: transfer, delegate and copy
/// targets must, or they would receive something they cannot open.
async fn user_sees_instance(state: &AppState, user: &str, instance_id: &str) -> ApiResult<bool> {
    let Some(principal) = state.store().principal(user).await? else { return Ok(false) };
    if principal.account.status != "active" {
        return Ok(false);
    }
    let query = InstanceQuery { id: Some(instance_id.to_string()), ..InstanceQuery::new(principal.scope) };
    Ok(!state.store().instances(&query).await?.0.is_empty())
}

/// What the caller is to an open task: the facts [`::approval::may`] decides on.
async fn standing(state: &AppState, task: &TaskRecord, caller: &Caller) -> ApiResult<Standing> {
    let holder = task.assignee.as_deref() == Some(caller.id.as_str());
    let acting = may_act(state, task, caller).await?;
    let delegated = if acting && holder { state.store().task_delegation(&task.id).await? } else { None };
    let starter = match state.store().instance(&task.instance_id).await? {
        Some(instance) => instance.start_user.as_deref() == Some(caller.id.as_str()),
        None => false,
    };
    let settings = state.executor.approval_settings(&task.definition_id).await?;
    let application = settings.task(&task.task_definition_key).submit;
    Ok(Standing {
        application,
        own_review: starter && !settings.self_review && !application,
        admin: caller.admin,
        acting,
        holder,
        starter,
        delegate: matches!(&delegated, Some((Some(state), _)) if state == "PENDING"),
        candidate: is_candidate(task, caller),
        unassigned: task.assignee.is_none(),
        handed_on: task.delegation.is_some()
            || state.store().signers(&task.id).await?.iter().any(|signer| signer.state == "pending"),
    })
}

/// The operations the caller may do on an open task now.
async fn operations_for(
    state: &AppState,
    task: &TaskRecord,
    caller: &Caller,
    targets: &[String],
    instance: &store::InstanceRecord,
) -> ApiResult<Vec<&'static str>> {
    let standing = standing(state, task, caller).await?;
    let mut operations: Vec<&'static str> =
        ::approval::offered(&standing, !targets.is_empty()).into_iter().map(Operation::name).collect();
    operations.extend(withdrawals(state, instance, caller).await?);
    Ok(operations)
}

/// The 撤回 the caller may do on the instance now: `withdraw` (take back the task they
/// completed last, `POST /api/tasks/{id}/withdraw`) and `withdraw-instance` (the starter's,
/// `POST /api/process-instances/{id}/withdraw`).
async fn withdrawals(
    state: &AppState,
    instance: &store::InstanceRecord,
    caller: &Caller,
) -> ApiResult<Vec<&'static str>> {
    let mut operations = Vec::new();
    if !instance.state.is_active() {
        return Ok(operations);
    }
    if state.executor.may_take_back(instance, &caller.id).await? {
        operations.push("withdraw");
    }
    if instance.start_user.as_deref() == Some(caller.id.as_str())
        && state.executor.may_withdraw(instance, &caller.id).await?
    {
        operations.push("withdraw-instance");
    }
    Ok(operations)
}

/// A task as its page shows it: open (with its candidates) or ended (with its outcome).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum TaskSummary {
    Open(OpenTask),
    Ended(EndedTask),
}

/// What an open and an ended task both show.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskFacts {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) task_key: String,
    pub(crate) assignee: Option<String>,
    pub(crate) owner: Option<String>,
    pub(crate) created: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OpenTask {
    #[serde(flatten)]
    pub(crate) facts: TaskFacts,
    /// `camunda:dueDate`, as the model evaluated it.
    pub(crate) due: Option<String>,
    pub(crate) candidate_users: Vec<String>,
    pub(crate) candidate_groups: Vec<String>,
    pub(crate) form_key: Option<String>,
    /// The task form (`camunda:formKey="form:…"`): its shown fields, their access and values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) task_form: Option<crate::forms::task::TaskFormDetail>,
    pub(crate) ended: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndedTask {
    #[serde(flatten)]
    pub(crate) facts: TaskFacts,
    pub(crate) ended_at: Option<i64>,
    pub(crate) outcome: Option<String>,
    pub(crate) completed_by: Option<String>,
    pub(crate) ended: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InstanceSummary {
    pub(crate) id: String,
    pub(crate) process_key: String,
    /// The deployed definition (its diagram: `/engine-rest/process-definition/{id}/xml`).
    pub(crate) definition_id: String,
    pub(crate) business_key: Option<String>,
    pub(crate) start_user: Option<String>,
    pub(crate) started_at: i64,
    pub(crate) ended_at: Option<i64>,
    /// `ACTIVE`, `COMPLETED`, `CANCELED` …
    pub(crate) status: String,
    pub(crate) delete_reason: Option<String>,
}

impl From<&store::InstanceRecord> for InstanceSummary {
    fn from(instance: &store::InstanceRecord) -> Self {
        InstanceSummary {
            id: instance.id.clone(),
            process_key: instance.definition_key.clone(),
            definition_id: instance.definition_id.clone(),
            business_key: instance.business_key.clone(),
            start_user: instance.start_user.clone(),
            started_at: instance.started_at,
            ended_at: instance.ended_at,
            status: format!("{:?}", instance.status).to_uppercase(),
            delete_reason: instance.delete_reason.clone(),
        }
    }
}

/// One step of an instance's timeline.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase", rename_all_fields = "camelCase")]
pub(crate) enum TimelineEntry {
    /// A user task: who held it, when it ended and how (`open` while it runs).
    Task {
        time: i64,
        task_id: String,
        task_key: String,
        name: Option<String>,
        assignee: Option<String>,
        ended_at: Option<i64>,
        outcome: String,
        actor: Option<String>,
    },
    /// An approval operation with its comment and detail.
    Operation {
        time: i64,
        operation: String,
        actor: Option<String>,
        task_id: Option<String>,
        task_key: Option<String>,
        name: Option<String>,
        comment: Option<String>,
        detail: JsonValue,
    },
}

/// `GET /api/tasks/{id}` and the task page: the task, its instance, the form data, the
/// timeline, what the caller may do now and where a 退回 may go.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskDetail {
    pub(crate) task: TaskSummary,
    pub(crate) process_instance: InstanceSummary,
    pub(crate) form: serde_json::Map<String, JsonValue>,
    pub(crate) timeline: Vec<TimelineEntry>,
    pub(crate) operations: Vec<&'static str>,
    pub(crate) return_targets: Vec<String>,
    /// The task is its starter's own application (`sy:submit`): 通过 submits it again.
    pub(crate) application: bool,
}

/// `GET /api/tasks/{id}`: form data, timeline, the caller's operations and the return targets.
async fn task_detail(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskDetail>> {
    Ok(Json(load_task_detail(&state, &auth, &id).await?.0))
}

/// The one reading of a task for its API answer and its page: 404 outside the caller's scope,
/// 403 for someone in scope who takes no part in it.
/// The detail of task `id` for the caller, and its task form as loaded (the task pages draw
/// their inputs from it without reading it again).
pub(crate) async fn load_task_detail<'a>(
    state: &'a AppState,
    auth: &Auth,
    id: &str,
) -> ApiResult<(TaskDetail, Option<crate::forms::task::Loaded<'a>>)> {
    let caller = caller(state, auth).await?;
    let open = TaskQuery { id: Some(id.to_string()), ..TaskQuery::new(identity::scope()) };
    let task = state.store().tasks(&open).await?.0.into_iter().next();
    let history = TaskHistoryQuery { task_id: Some(id.to_string()), ..TaskHistoryQuery::new(identity::scope()) };
    let loaded = match &task {
        Some(task) => crate::forms::task::load(state, task).await?,
        None => None,
    };
    let task_form = loaded.as_ref().map(|loaded| crate::forms::task::detail(state, loaded));
    let (instance_id, summary) = match &task {
        Some(task) => (
            task.instance_id.clone(),
            TaskSummary::Open(OpenTask {
                facts: TaskFacts {
                    id: task.id.clone(),
                    name: task.name.clone(),
                    task_key: task.task_definition_key.clone(),
                    assignee: task.assignee.clone(),
                    owner: task.owner.clone(),
                    created: task.created_at,
                },
                due: task.due.clone(),
                candidate_users: task.candidate_users.clone(),
                candidate_groups: task.candidate_groups.clone(),
                form_key: task.form_key.clone(),
                task_form,
                ended: false,
            }),
        ),
        None => {
            let ended = state
                .store()
                .task_history(&history)
                .await?
                .0
                .into_iter()
                .next()
                .ok_or_else(|| ApiError::not_found("任务不存在或无权查看 (no such task)"))?;
            (
                ended.instance_id.clone(),
                TaskSummary::Ended(EndedTask {
                    facts: TaskFacts {
                        id: ended.id,
                        name: ended.name,
                        task_key: ended.task_definition_key,
                        assignee: ended.assignee,
                        owner: ended.owner,
                        created: ended.created_at,
                    },
                    ended_at: ended.ended_at,
                    outcome: ended.delete_reason,
                    completed_by: ended.completed_by,
                    ended: true,
                }),
            )
        }
    };
    let instance = visible_instance(state, &instance_id).await?;
    if !involved(state, &caller, &instance, task.as_ref()).await? {
        return Err(ApiError::forbidden("无权查看该任务 (not a participant of this task)"));
    }
    let (targets, operations) = match &task {
        Some(task) => {
            let targets = if may_act(state, task, &caller).await? {
                state.executor.return_targets(task).await?
            } else {
                Vec::new()
            };
            let operations = operations_for(state, task, &caller, &targets, &instance).await?;
            (targets, operations)
        }
        // An ended task (say, in 已办): what its handler or the starter may still withdraw.
        None => (Vec::new(), withdrawals(state, &instance, &caller).await?),
    };
    let form = instance.state.variables().iter().map(|(name, value)| (name.clone(), value.to_json())).collect();
    let task_key = match &summary {
        TaskSummary::Open(task) => &task.facts.task_key,
        TaskSummary::Ended(task) => &task.facts.task_key,
    };
    let application = state.executor.approval_settings(&instance.definition_id).await?.task(task_key).submit;
    let detail = TaskDetail {
        application,
        task: summary,
        process_instance: InstanceSummary::from(&instance),
        form,
        timeline: timeline(state, &instance.id).await?,
        operations,
        return_targets: targets,
    };
    Ok((detail, loaded))
}

/// Whether the caller may open the instance (inside their scope already): the holders and
/// candidates of `task`, the starter, whoever holds or handled a task of it, those it was
/// copied to, administrators. Task detail and file downloads use this one rule.
pub(crate) async fn involved(
    state: &AppState,
    caller: &Caller,
    instance: &store::InstanceRecord,
    task: Option<&TaskRecord>,
) -> ApiResult<bool> {
    Ok(caller.admin
        || match task {
            Some(task) => may_act(state, task, caller).await?,
            None => false,
        }
        || instance.start_user.as_deref() == Some(caller.id.as_str())
        || state.store().is_cc(&instance.id, &caller.id, &caller.groups).await?
        || state.store().has_acted(&caller.id, &instance.id).await?
        || involved_in_history(state, &instance.id, caller).await?)
}

/// Whether a task of the instance is (or was) the caller's: assigned, completed, or open and
/// claimable by them.
async fn involved_in_history(state: &AppState, instance_id: &str, caller: &Caller) -> ApiResult<bool> {
    let user = Some(caller.id.as_str());
    let query =
        TaskHistoryQuery { instance_id: Some(instance_id.to_string()), ..TaskHistoryQuery::new(store::DataScope::All) };
    let (tasks, _) = state.store().task_history(&query).await?;
    if tasks.iter().any(|task| task.assignee.as_deref() == user || task.completed_by.as_deref() == user) {
        return Ok(true);
    }
    let open = TaskQuery { instance_id: Some(instance_id.to_string()), ..TaskQuery::new(store::DataScope::All) };
    for task in state.store().tasks(&open).await?.0 {
        if may_act(state, &task, caller).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Every step of an instance: each user task (who, when, outcome) and each operation (who,
/// when, what, comment), in time order.
pub(crate) async fn timeline(state: &AppState, instance_id: &str) -> ApiResult<Vec<TimelineEntry>> {
    let query =
        TaskHistoryQuery { instance_id: Some(instance_id.to_string()), ..TaskHistoryQuery::new(store::DataScope::All) };
    let (tasks, _) = state.store().task_history(&query).await?;
    let mut entries: Vec<(i64, TimelineEntry)> = tasks
        .into_iter()
        .map(|task| {
            (
                task.created_at,
                TimelineEntry::Task {
                    time: task.created_at,
                    task_id: task.id,
                    task_key: task.task_definition_key,
                    name: task.name,
                    assignee: task.assignee,
                    ended_at: task.ended_at,
                    outcome: task.delete_reason.unwrap_or_else(|| "open".into()),
                    actor: task.completed_by,
                },
            )
        })
        .collect();
    for record in state.store().approval_records(instance_id).await? {
        let detail: JsonValue =
            record.detail.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or(JsonValue::Null);
        entries.push((
            record.at,
            TimelineEntry::Operation {
                time: record.at,
                operation: record.operation,
                actor: record.actor,
                task_id: record.task_id,
                task_key: record.element_id,
                name: record.task_name,
                comment: record.comment,
                detail,
            },
        ));
    }
    // At the same millisecond an operation comes before the task it created (通过 → the next step).
    entries.sort_by_key(|(at, entry)| (*at, matches!(entry, TimelineEntry::Task { .. })));
    Ok(entries.into_iter().map(|(_, entry)| entry).collect())
}

/// The body of `POST /api/tasks/{id}/{operation}`; each operation reads what it needs.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OperationBody {
    pub(crate) comment: Option<String>,
    /// Plain JSON values, set as process variables on 通过.
    #[serde(default)]
    pub(crate) variables: serde_json::Map<String, JsonValue>,
    /// 退回: the user task to return to.
    pub(crate) target: Option<String>,
    /// 转办 / 委派: one user; 抄送: several.
    pub(crate) user: Option<String>,
    #[serde(default)]
    pub(crate) users: Vec<String>,
    #[serde(default)]
    pub(crate) roles: Vec<String>,
    /// Uploaded files (`POST /api/files`) to attach, by id.
    #[serde(default)]
    pub(crate) attachments: Vec<String>,
    /// The uploaded signature image (PNG or JPEG), by id.
    pub(crate) signature: Option<String>,
    /// 加签: `before`, `after` or `alongside`.
    pub(crate) position: Option<String>,
    /// 通过 of a task form bound to a record: the record's version the caller read.
    pub(crate) record_version: Option<i64>,
}

/// The longest 意见, in characters (also for Camunda task comments).
pub(crate) const MAX_COMMENT: usize = 2_000;
/// The most users or roles one operation names (转办 / 抄送 / 加签 …).
const MAX_LISTED: usize = 100;
/// The most files one operation attaches.
const MAX_ATTACHMENTS: usize = 20;

/// The operation body; none at all (no JSON content type) is an empty one.
fn operation_body(body: Result<Json<OperationBody>, JsonRejection>) -> ApiResult<OperationBody> {
    match body {
        Ok(Json(body)) => checked_body(body),
        Err(JsonRejection::MissingJsonContentType(_)) => Ok(OperationBody::default()),
        Err(error) => Err(ApiError::invalid(format!("请求内容无效 (invalid body): {}", error.body_text()))),
    }
}

/// The limits every operation body meets, from JSON or from a page's form.
pub(crate) fn checked_body(body: OperationBody) -> ApiResult<OperationBody> {
    if body.users.len() > MAX_LISTED || body.roles.len() > MAX_LISTED {
        return Err(ApiError::invalid(format!(
            "一次最多 {MAX_LISTED} 个用户或角色 (at most {MAX_LISTED} users or roles)"
        )));
    }
    if body.attachments.len() > MAX_ATTACHMENTS {
        return Err(ApiError::invalid(format!(
            "一次最多 {MAX_ATTACHMENTS} 个附件 (at most {MAX_ATTACHMENTS} attachments)"
        )));
    }
    Ok(body)
}

fn input(caller: &Caller, body: &OperationBody) -> ApiResult<OperationInput> {
    crate::forms::task::refuse_reserved(body.variables.keys())?;
    if body.comment.as_ref().is_some_and(|comment| comment.chars().count() > MAX_COMMENT) {
        return Err(ApiError::invalid(format!("意见不能超过 {MAX_COMMENT} 字 (comment too long)")));
    }
    Ok(OperationInput {
        actor: caller.id.clone(),
        comment: body.comment.clone().filter(|comment| !comment.trim().is_empty()),
        detail: None,
        variables: body.variables.iter().map(|(name, value)| (name.clone(), engine::Value::from_json(value))).collect(),
        record_writes: Vec::new(),
    })
}

/// `POST /api/tasks/{id}/{operation}`.
async fn operate(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Extension(_user): Extension<CurrentUser>,
    Path((id, operation)): Path<(String, String)>,
    body: Result<Json<OperationBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Ok(operation) = operation.parse::<Operation>() else {
        return Err(ApiError::not_found(format!("没有 {operation} 操作 (no such operation)")));
    };
    perform(&state, &auth, &id, operation, operation_body(body)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Does one approval operation on task `id` for the caller: the rights check, then the
/// command. `POST /api/tasks/{id}/{operation}` and the task page's forms both come here.
pub(crate) async fn perform(
    state: &AppState,
    auth: &Auth,
    id: &str,
    operation: Operation,
    body: OperationBody,
) -> ApiResult<()> {
    let caller = caller(state, auth).await?;
    let input = input(&caller, &body)?;
    if operation == Operation::Withdraw {
        // The last approver takes a task back; `id` is any task of the instance they see.
        let instance_id = runtime::executor::parse_task_id(id)
            .map(|(instance, _)| instance.to_string())
            .ok_or_else(|| ApiError::not_found("任务不存在或无权查看 (no such task)"))?;
        visible_instance(state, &instance_id).await?;
        let input = crate::files::attach(state, &caller.id, &instance_id, &body, input).await?;
        state.executor.take_back(&instance_id, input).await?;
        return Ok(());
    }
    let task = open_task(state, id).await?;
    let standing = standing(state, &task, &caller).await?;
    if operation == Operation::Claim && standing.holder {
        return Ok(()); // claimed already (a second click, say), as Camunda answers it
    }
    if operation == Operation::Claim && standing.candidate && !standing.unassigned {
        return Err(ApiError::coded(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "任务已被 {} 认领 (the task was claimed by someone else)",
                task.assignee.as_deref().unwrap_or_default()
            ),
        ));
    }
    ::approval::may(operation, &standing).map_err(|refusal| ApiError::forbidden(refusal.0))?;
    let input = crate::files::attach(state, &caller.id, &task.instance_id, &body, input).await?;
    match operation {
        Operation::Urge => urge(state, &task, input).await?,
        Operation::Cc => {
            if body.users.is_empty() && body.roles.is_empty() {
                return Err(ApiError::invalid("请选择抄送人或角色 (users or roles required)"));
            }
            for user in &body.users {
                if !user_sees_instance(state, user, &task.instance_id).await? {
                    return Err(ApiError::invalid(format!("{user} 无法查看该流程 ({user} cannot see this instance)")));
                }
            }
            state.executor.copy_to(&task.instance_id, Some(&task), &body.users, &body.roles, input).await?;
        }
        Operation::Resolve => {
            state.executor.resolve(&task, input).await?;
        }
        Operation::Claim => {
            if let Err(error) = state.executor.claim(&task, input).await {
                // Lost the race: name who was first, as for a claim that came later.
                let first = match &error {
                    store::Error::Conflict(_) => state.store().task(&task.id).await?.and_then(|task| task.assignee),
                    _ => None,
                };
                return Err(match first {
                    Some(first) => ApiError::coded(
                        StatusCode::CONFLICT,
                        "conflict",
                        format!("任务已被 {first} 认领 (the task was claimed by someone else)"),
                    ),
                    None => error.into(),
                });
            }
        }
        Operation::Unclaim => state.executor.unclaim(&task, input).await?,
        Operation::Comment => {
            if input.comment.is_none() {
                return Err(ApiError::invalid("请填写意见 (comment required)"));
            }
            state.executor.comment(&task, input).await?;
        }
        Operation::Approve => {
            let mut input = input;
            // A task form (`camunda:formKey="form:…"`): only its editable fields, checked.
            if let Some((variables, writes)) =
                crate::forms::task::checked(state, auth, &task, &body.variables, body.record_version).await?
            {
                input.variables =
                    variables.iter().map(|(name, value)| (name.clone(), engine::Value::from_json(value))).collect();
                input.record_writes = writes;
            }
            state.executor.approve(&task, input).await?;
        }
        Operation::Reject => {
            if input.comment.is_none() {
                return Err(ApiError::invalid("请填写驳回原因 (comment required)"));
            }
            state.executor.reject(&task, input).await?;
        }
        Operation::Return => {
            let target = body.target.as_deref().ok_or_else(|| ApiError::invalid("请选择退回环节 (target required)"))?;
            if input.comment.is_none() {
                return Err(ApiError::invalid("请填写退回原因 (comment required)"));
            }
            state.executor.return_task(&task, target, input).await?;
        }
        Operation::Transfer | Operation::Delegate => {
            let to = body.user.as_deref().ok_or_else(|| ApiError::invalid("请选择人员 (user required)"))?;
            if to == caller.id {
                return Err(ApiError::invalid("不能转给自己 (cannot hand a task to yourself)"));
            }
            if !user_sees_instance(state, to, &task.instance_id).await? {
                return Err(ApiError::invalid(format!("{to} 无法查看该流程 ({to} cannot see this instance)")));
            }
            if operation == Operation::Transfer {
                state.executor.transfer(&task, to, input).await?;
            } else {
                state.executor.delegate(&task, to, input).await?;
            }
        }
        Operation::AddSigners | Operation::RemoveSigners => {
            if body.users.is_empty() {
                return Err(ApiError::invalid("请选择人员 (users required)"));
            }
            if operation == Operation::AddSigners {
                for user in &body.users {
                    if !user_sees_instance(state, user, &task.instance_id).await? {
                        return Err(ApiError::invalid(format!(
                            "{user} 无法查看该流程 ({user} cannot see this instance)"
                        )));
                    }
                }
                let position = body.position.as_deref().unwrap_or("after");
                state.executor.add_signers(&task, &body.users, position, input).await?;
            } else {
                state.executor.remove_signers(&task, &body.users, input).await?;
            }
        }
        Operation::Withdraw => unreachable!("answered above"),
    }
    Ok(())
}

/// The most tasks one 批量通过 takes.
pub(crate) const MAX_BATCH: usize = 50;

/// One task of a 批量通过 and how it went.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchResult {
    pub(crate) task_id: String,
    pub(crate) task_name: Option<String>,
    pub(crate) business_key: Option<String>,
    pub(crate) ok: bool,
    /// The refusal's stable code and Chinese message when it did not go through.
    pub(crate) code: Option<&'static str>,
    pub(crate) message: Option<String>,
}

/// 批量通过: approves each task as `POST /api/tasks/{id}/approve` would, where its node allows it
/// (`sy:batchApprove`); one task's refusal does not stop the others, and each says how it went.
pub(crate) async fn batch_approve(
    state: &AppState,
    auth: &Auth,
    ids: &[String],
    comment: Option<String>,
) -> ApiResult<Vec<BatchResult>> {
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(ApiError::invalid(format!("请选择 1–{MAX_BATCH} 个任务 (between 1 and {MAX_BATCH} tasks)")));
    }
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let outcome = async {
            let task = open_task(state, id).await?;
            let instance = visible_instance(state, &task.instance_id).await?;
            let settings = state.executor.approval_settings(&task.definition_id).await?;
            if !settings.task(&task.task_definition_key).batch_approve {
                return Err(ApiError::coded(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-state",
                    "该环节不允许批量通过，请逐件办理 (this step does not allow batch approval)",
                ));
            }
            let body = OperationBody { comment: comment.clone(), ..OperationBody::default() };
            perform(state, auth, id, Operation::Approve, body).await?;
            Ok::<_, ApiError>((task.name, instance.business_key))
        }
        .await;
        results.push(match outcome {
            Ok((task_name, business_key)) => {
                BatchResult { task_id: id.clone(), task_name, business_key, ok: true, code: None, message: None }
            }
            Err(error) => BatchResult {
                task_id: id.clone(),
                task_name: None,
                business_key: None,
                ok: false,
                code: Some(error.code()),
                message: Some(error.public_message()),
            },
        });
    }
    Ok(results)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BatchBody {
    task_ids: Vec<String>,
    comment: Option<String>,
}

/// `POST /api/inbox/batch-approve {taskIds, comment}`: 200 with one result per task.
async fn batch_approve_api(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    body: Result<Json<BatchBody>, JsonRejection>,
) -> ApiResult<Json<Vec<BatchResult>>> {
    let Json(body) =
        body.map_err(|error| ApiError::invalid(format!("请求内容无效 (invalid body): {}", error.body_text())))?;
    Ok(Json(batch_approve(&state, &auth, &body.task_ids, body.comment).await?))
}

/// 催办: a reminder to the task's assignee (or its candidate users) through the message
/// outbox, at most once per task per [`URGE_WINDOW_SECONDS`].
async fn urge(state: &AppState, task: &TaskRecord, input: OperationInput) -> ApiResult<()> {
    let key = format!("urge:{}", task.id);
    if !state.store().rate_limit_hit(&key, now_millis(), URGE_WINDOW_SECONDS * 1000, 1).await? {
        return Err(ApiError::coded(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "催办过于频繁，请稍后再试 (already urged recently)",
        ));
    }
    let recipients = send_reminder(state, task).await.map_err(ApiError::Internal)?;
    state.executor.record_urge(task, &recipients, input).await?;
    Ok(())
}

/// Sends the 催办 message for `task` to its assignee (or its candidate users) through the message
/// outbox; returns the recipients (candidate roles as `role:…`, which get no message).
async fn send_reminder(state: &AppState, task: &TaskRecord) -> Result<Vec<String>, String> {
    let recipients =
        services::remind::recipients(task.assignee.as_deref(), &task.candidate_users, &task.candidate_groups);
    let message = services::remind::message(task.name.as_deref().unwrap_or(&task.task_definition_key));
    for recipient in recipients.iter().filter(|recipient| !recipient.starts_with("role:")) {
        // Accounts keep no plain phone number: the outbox is addressed to the account, and the
        // SMS sender resolves it.
        state.sms.send(&format!("account:{recipient}"), &message).await?;
    }
    Ok(recipients)
}

/// `POST /api/process-instances/{id}/withdraw`: the starter withdraws the whole instance.
async fn withdraw_instance(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Result<Json<OperationBody>, JsonRejection>,
) -> ApiResult<StatusCode> {
    withdraw(&state, &auth, &id, operation_body(body)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 撤回申请: the starter withdraws the whole instance while the process allows it (the API and
/// the console's instance page).
pub(crate) async fn withdraw(state: &AppState, auth: &Auth, id: &str, body: OperationBody) -> ApiResult<()> {
    let caller = caller(state, auth).await?;
    let instance = visible_instance(state, id).await?;
    if instance.start_user.as_deref() != Some(caller.id.as_str()) {
        return Err(ApiError::forbidden("只有发起人可以撤回 (only the starter can withdraw)"));
    }
    let input = crate::files::attach(state, &caller.id, id, &body, input(&caller, &body)?).await?;
    state.executor.withdraw_instance(id, input).await?;
    Ok(())
}

/// Someone a people picker offers.
#[derive(Debug, Serialize)]
pub(crate) struct Person {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) unit: String,
}

/// How many people a picker shows at once.
const PICKER_SIZE: usize = 10;
/// How many batches of matching accounts a picker looks through at most (50 each).
const PICKER_BATCHES: i64 = 10;

/// The people the caller may name on an open task they may work on (转办, 委派, 加签, 抄送):
/// active staff accounts matching `search` (part of the id or the name), other than the caller,
/// who can see the instance — the rule 转办, 委派, 加签 and 抄送 enforce (`user_sees_instance`),
/// so the picker never offers someone the operation would refuse (a reviewer of another
/// district, say). A task the caller may not work on is not found.
pub(crate) async fn people_for(state: &AppState, auth: &Auth, task_id: &str, search: &str) -> ApiResult<Vec<Person>> {
    let open = TaskQuery { id: Some(task_id.to_string()), ..TaskQuery::new(identity::scope()) };
    let not_found = || ApiError::not_found("任务不存在或无权查看 (no such task)");
    let task = state.store().tasks(&open).await?.0.into_iter().next().ok_or_else(not_found)?;
    if !may_work_on(state, auth, &task).await? {
        return Err(not_found());
    }
    let units = state.store().org_units().await?;
    let mut people = Vec::new();
    // Matching accounts in batches until the list is full: most may be of other districts.
    // Bounded, so a search that matches thousands never walks them all.
    const BATCH: i64 = 50;
    for batch in 0..PICKER_BATCHES {
        let query = store::identity::AccountQuery {
            kind: Some("staff".into()),
            status: Some("active".into()),
            search: Some(search.trim().chars().take(50).collect()),
            limit: Some(BATCH),
            offset: Some(batch * BATCH),
            ..store::identity::AccountQuery::new(store::DataScope::All)
        };
        let accounts = state.store().accounts(&query).await?;
        let last = (accounts.len() as i64) < BATCH;
        for account in accounts {
            if account.id == auth.principal.account.id
                || !user_sees_instance(state, &account.id, &task.instance_id).await?
            {
                continue;
            }
            let unit = account
                .unit_id
                .as_deref()
                .and_then(|id| units.iter().find(|unit| unit.id == id))
                .map(|unit| unit.name.clone())
                .unwrap_or_default();
            let name = account.display_name.clone().unwrap_or_else(|| account.id.clone());
            people.push(Person { name, id: account.id, unit });
            if people.len() == PICKER_SIZE {
                return Ok(people);
            }
        }
        if last {
            break;
        }
    }
    Ok(people)
}
