//! The dynamic forms over HTTP (issue 13): the generated admin screens under
//! `/admin/forms/{form}` (`pages.rs`), the JSON API under `/api/forms` (`api.rs`) and the
//! streamed exports both offer (`export.rs`). Every one of them reads and writes through
//! `forms::records`, so the validation, the data scope, unique values and the change history
//! are the same whichever way a record comes in.
//!
//! Rights: the routes only ask for a signed-in caller (a console screen for the pages); each
//! handler then asks [`form_for`] with the action, and the form's own definition lists the
//! permissions of that action (`[permissions]`), so a form decides who reads, creates,
//! updates, deletes and exports its records. A form the caller may not read is answered as if
//! it did not exist.

mod api;
mod export;
pub(crate) mod import;
mod pages;
mod phone;
pub(crate) mod task;

use std::sync::Arc;

use axum::http::StatusCode;
use forms::records::{self, Actor, FilterValue, ListRequest, RecordError};
use forms::{Catalog, Field, Form};
use serde_json::Value;
use store::forms::Deleted;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Auth;

pub(crate) use api::router as api_router;
pub(crate) use pages::{groups, router as page_router};

/// What a caller wants to do with a form's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Read,
    Create,
    Update,
    Delete,
    Export,
}

/// Whether the caller holds one of the permissions the form lists for `action`.
pub(crate) fn may(auth: &Auth, form: &Form, action: Action) -> bool {
    let needed = match action {
        Action::Read => &form.permissions.read,
        Action::Create => &form.permissions.create,
        Action::Update => &form.permissions.update,
        Action::Delete => &form.permissions.delete,
        Action::Export => &form.permissions.export,
    };
    // Every other action needs reading too: nobody edits what they cannot see.
    let reads = action == Action::Read || form.permissions.read.iter().any(|permission| auth.principal.can(permission));
    reads && needed.iter().any(|permission| auth.principal.can(permission))
}

/// The form `key` if the caller may do `action` with it: 404 for a form that does not exist
/// or that they may not read, 403 (`forbidden`) for a readable form whose action they lack.
pub(crate) fn form_for<'a>(catalog: &'a Catalog, auth: &Auth, key: &str, action: Action) -> ApiResult<&'a Form> {
    let form = catalog
        .form(key)
        .filter(|form| may(auth, form, Action::Read))
        .ok_or_else(|| ApiError::coded(StatusCode::NOT_FOUND, "form-not-found", format!("表单 {key} 不存在")))?;
    if !may(auth, form, action) {
        let what = match action {
            Action::Read => "查看",
            Action::Create => "新建",
            Action::Update => "修改",
            Action::Delete => "删除",
            Action::Export => "导出",
        };
        return Err(ApiError::forbidden(format!("没有{what}“{}”的权限", form.name)));
    }
    Ok(form)
}

/// The caller as the records layer sees them: id, unit and the request's data scope.
pub(crate) fn actor(auth: &Auth) -> Actor {
    Actor {
        user: auth.principal.account.id.clone(),
        unit: auth.principal.account.unit_id.clone(),
        scope: crate::identity::scope(),
    }
}

/// A refusal of the records layer as the API's error.
pub(crate) fn refused(error: RecordError) -> ApiError {
    match error {
        RecordError::Invalid(errors) => ApiError::Validation(errors),
        RecordError::NotFound => ApiError::coded(StatusCode::NOT_FOUND, "record-not-found", "记录不存在"),
        RecordError::Stale { .. } => {
            ApiError::coded(StatusCode::CONFLICT, "stale-version", "记录已被他人修改，请刷新后按最新内容重新编辑")
        }
        RecordError::Store(error) => error.into(),
        RecordError::Sealed(error) => {
            tracing::error!(%error, "a sensitive value could not be sealed or opened");
            ApiError::coded(
                StatusCode::INTERNAL_SERVER_ERROR,
                "sealed-value",
                "敏感信息无法加解密（密钥与数据不符），请联系系统管理员",
            )
        }
    }
}

/// The catalog of this node.
pub(crate) fn catalog(state: &AppState) -> &Arc<Catalog> {
    &state.forms
}

/// A list request from query pairs, the same for the screens' URLs and the API:
/// `f.<field>` (repeated for several values), `f.<field>.from` / `f.<field>.to` for ranges,
/// `q` (keyword), `sort` (`field` or `-field`, also `updated` / `created`), `page`, `size`
/// (the API's `pageSize` too), `deleted=1` (the recycle bin), `ids` (comma separated).
pub(crate) fn list_request(form: &Form, pairs: &[(String, String)], default_size: i64) -> ListRequest {
    let mut request = ListRequest { page: 1, page_size: default_size, ..ListRequest::default() };
    let mut ranges: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for (name, value) in pairs {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match name.as_str() {
            "q" => request.text = Some(value.to_string()),
            "sort" => {
                request.sort = Some(match value.strip_prefix('-') {
                    Some(field) => (field.to_string(), false),
                    None => (value.to_string(), true),
                })
            }
            "page" => request.page = value.parse().unwrap_or(1),
            "size" | "pageSize" => request.page_size = value.parse().unwrap_or(default_size),
            "deleted" => request.deleted = if value == "1" || value == "true" { Deleted::Only } else { Deleted::Live },
            // Comma separated, or repeated (the list's check boxes).
            "ids" => request
                .ids
                .get_or_insert_with(Vec::new)
                .extend(value.split(',').map(str::trim).filter(|id| !id.is_empty()).map(str::to_string)),
            other => {
                let Some(rest) = other.strip_prefix("f.") else { continue };
                if let Some(field) = rest.strip_suffix(".from") {
                    range_of(&mut ranges, field).1 = Some(value.to_string());
                } else if let Some(field) = rest.strip_suffix(".to") {
                    range_of(&mut ranges, field).2 = Some(value.to_string());
                } else {
                    let kind = form.field(rest).map(|field| field.kind);
                    match kind {
                        Some(kind) if kind.is_text() => {
                            request.filters.push((rest.to_string(), FilterValue::Text(value.to_string())))
                        }
                        _ => match request.filters.iter_mut().find(|(field, _)| field == rest) {
                            Some((_, FilterValue::AnyOf(values))) => values.push(value.to_string()),
                            _ => request.filters.push((rest.to_string(), FilterValue::AnyOf(vec![value.to_string()]))),
                        },
                    }
                }
            }
        }
    }
    for (field, from, to) in ranges {
        request.filters.push((field, FilterValue::Range(from, to)));
    }
    request
}

fn range_of<'a>(
    ranges: &'a mut Vec<(String, Option<String>, Option<String>)>,
    field: &str,
) -> &'a mut (String, Option<String>, Option<String>) {
    let index = match ranges.iter().position(|(name, _, _)| name == field) {
        Some(index) => index,
        None => {
            ranges.push((field.to_string(), None, None));
            ranges.len() - 1
        }
    };
    &mut ranges[index]
}

/// A sensitive value as people without `pii:unmask` see it.
pub(crate) fn masked(field: &Field, text: &str) -> String {
    forms::value::masked(field, text)
}

/// How a value reads on a screen or in an export, masked when the field is sensitive and the
/// reader may not see it in full.
pub(crate) fn shown(catalog: &Catalog, field: &Field, value: Option<&Value>, unmask: bool) -> String {
    let text = forms::value::display(field, catalog, value);
    if field.sensitive && !unmask && !text.is_empty() { masked(field, &text) } else { text }
}

/// The stored value as the API gives it: masked text for a sensitive field the caller may not
/// see in full.
pub(crate) fn api_value(field: &Field, value: &Value, unmask: bool) -> Value {
    match value {
        Value::String(text) if field.sensitive && !unmask => Value::String(masked(field, text)),
        // A sensitive upload's files: how many, not which (their ids would fetch them).
        Value::Array(files) if field.sensitive && !unmask && field.kind.is_upload() => {
            Value::String(format!("{} 个文件（已脱敏）", files.len()))
        }
        other => other.clone(),
    }
}

/// Runs record action `key` on record `id` (at `version`) for `auth`: the action's own
/// permission, its `when`, then its account effect (the account's status through the same
/// function as `/api/users/{id}/status`, with its scope and audit), then its values (saved
/// like an edit, the history naming the action). The effect comes first: it is the part that
/// matters for security, it is idempotent, and a failed save can simply be run again.
pub(crate) async fn run_action(
    state: &AppState,
    auth: &Auth,
    ip: &str,
    form: &Form,
    id: &str,
    version: i64,
    key: &str,
) -> ApiResult<records::Record> {
    let action = form
        .actions
        .iter()
        .find(|action| action.key == key)
        .ok_or_else(|| ApiError::coded(StatusCode::NOT_FOUND, "action-not-found", format!("没有操作 {key}")))?;
    if !action.permissions.iter().any(|permission| auth.principal.can(permission)) {
        return Err(ApiError::forbidden(format!("没有{}的权限", action.label)));
    }
    let store = state.store().as_ref();
    let actor = actor(auth);
    let current = records::get(store, state.security.crypto.as_ref(), form, &actor, id).await.map_err(refused)?;
    if current.deleted_at.is_some() {
        return Err(refused(RecordError::NotFound));
    }
    if current.version != version {
        return Err(refused(RecordError::Stale { expected: version, current: current.version }));
    }
    if !records::action_applies(catalog(state), form, action, &current) {
        return Err(ApiError::Validation(vec![forms::FieldError {
            field: "_form".into(),
            code: "action-not-allowed".into(),
            message: format!("当前状态下不能{}", action.label),
        }]));
    }
    // A record without a linked account only changes its status: there is no login to stop.
    // The account a text field holds by id, or a user field as {"id", "title"}.
    let linked = |value: &Value| value.as_str().or_else(|| value.get("id").and_then(Value::as_str)).map(str::to_string);
    if let Some((field, status)) = &action.account
        && let Some(account) = current.values.get(field).and_then(linked)
    {
        crate::identity::api::change_status(state, Some(&auth.principal), &account, status, ip).await?;
    }
    records::act(store, state.security.crypto.as_ref(), catalog(state), form, &actor, id, version, action)
        .await
        .map_err(refused)
}

/// Shanghai time of a millisecond timestamp, to the minute.
pub(crate) fn time_text(millis: i64) -> String {
    crate::console::shanghai(millis)
}

/// A process instance a record was submitted to, as its page and the API list it.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecordInstance {
    pub(crate) id: String,
    pub(crate) definition_key: String,
    /// `ACTIVE`, `COMPLETED`, `CANCELED`.
    pub(crate) status: String,
    /// 审批中 / 已完成 / 已驳回 / 已撤回 / 已终止.
    pub(crate) status_text: String,
    pub(crate) started_at: i64,
    pub(crate) started_text: String,
    pub(crate) start_user: Option<String>,
}

/// The instances a record was submitted to (`[workflow]`), newest first. Read by the record's
/// id as business key within the process's key; the reader saw the record already.
pub(crate) async fn record_instances(state: &AppState, form: &Form, record_id: &str) -> ApiResult<Vec<RecordInstance>> {
    let Some(workflow) = &form.workflow else { return Ok(Vec::new()) };
    let query = store::InstanceQuery {
        business_key: Some(record_id.to_string()),
        definition_key: Some(workflow.process.clone()),
        page: store::Page { first_result: 0, max_results: Some(50) },
        ..store::InstanceQuery::new(store::DataScope::All)
    };
    let (mut instances, _) = state.store().instances(&query).await?;
    instances.sort_by_key(|instance| std::cmp::Reverse(instance.started_at));
    Ok(instances
        .into_iter()
        .map(|instance| {
            let status = format!("{:?}", instance.status).to_uppercase();
            let status_text = match (status.as_str(), instance.delete_reason.as_deref()) {
                ("ACTIVE", _) => "审批中",
                (_, Some("rejected")) => "已驳回",
                (_, Some("withdrawn")) => "已撤回",
                ("COMPLETED", _) => "已完成",
                _ => "已终止",
            };
            RecordInstance {
                id: instance.id,
                definition_key: instance.definition_key,
                status,
                status_text: status_text.into(),
                started_at: instance.started_at,
                started_text: time_text(instance.started_at),
                start_user: instance.start_user,
            }
        })
        .collect())
}

/// Whether the caller may submit records of `form` (`[workflow] permissions`).
pub(crate) fn may_submit(auth: &Auth, form: &Form) -> bool {
    form.workflow.as_ref().is_some_and(|workflow| {
        may(auth, form, Action::Read) && workflow.permissions.iter().any(|permission| auth.principal.can(permission))
    })
}

/// 提交审批 (`[workflow]`): starts the form's process for the record at `version`, the record's
/// values as variables and its id as business key; the record's `submit` entry commits with
/// the new instance (a second submission of the same version is 409). Refused while an
/// instance for the record is still running (409 `already-submitted`).
pub(crate) async fn submit_record(
    state: &AppState,
    auth: &Auth,
    form: &Form,
    id: &str,
    version: i64,
) -> ApiResult<store::InstanceRecord> {
    let Some(workflow) = &form.workflow else {
        return Err(ApiError::coded(
            StatusCode::NOT_FOUND,
            "workflow-not-found",
            format!("“{}”没有审批流程", form.name),
        ));
    };
    if !may_submit(auth, form) {
        return Err(ApiError::forbidden(format!("没有{}的权限", workflow.label)));
    }
    let actor = actor(auth);
    let record = records::get(state.store().as_ref(), state.security.crypto.as_ref(), form, &actor, id)
        .await
        .map_err(refused)?;
    if record.deleted_at.is_some() {
        return Err(refused(RecordError::NotFound));
    }
    if record.version != version {
        return Err(refused(RecordError::Stale { expected: version, current: record.version }));
    }
    if record_instances(state, form, id).await?.iter().any(|instance| instance.status == "ACTIVE") {
        return Err(ApiError::coded(StatusCode::CONFLICT, "already-submitted", "该记录正在审批中，不能重复提交"));
    }
    start_submission(&state.executor, state.security.crypto.as_ref(), catalog(state), form, &actor, &record).await
}

/// Starts the form's process for `record` as `actor` (the checks of who may submit are the
/// caller's): the record's values as variables, its `submit` entry in the new instance's
/// transaction. Also the demo's way of submitting its applications.
pub(crate) async fn start_submission(
    executor: &runtime::Executor,
    crypto: &dyn crypto::CryptoProvider,
    catalog: &Catalog,
    form: &Form,
    actor: &Actor,
    record: &records::Record,
) -> ApiResult<store::InstanceRecord> {
    let Some(workflow) = &form.workflow else {
        return Err(ApiError::coded(
            StatusCode::NOT_FOUND,
            "workflow-not-found",
            format!("“{}”没有审批流程", form.name),
        ));
    };
    {
        if !records::submission_applies(catalog, form, record) {
            return Err(ApiError::coded(
                StatusCode::UNPROCESSABLE_ENTITY,
                "submit-not-allowed",
                format!("当前状态下不能{}", workflow.label),
            ));
        }
    }
    let definition = executor.latest_definition(&workflow.process).await.map_err(|_| {
        ApiError::coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "process-not-deployed",
            format!("审批流程 {} 尚未部署，请联系流程管理员", workflow.process),
        )
    })?;
    let instance_id = store::new_id();
    let (variables, write) =
        forms::task::submission(crypto, catalog, form, actor, record, &instance_id).map_err(refused)?;
    let variables = variables.iter().map(|(name, value)| (name.clone(), engine::Value::from_json(value))).collect();
    let version = record.version;
    executor
        .start_with_records(
            &definition,
            Some(record.id.clone()),
            variables,
            Some(&actor.user),
            instance_id,
            vec![write],
        )
        .await
        .map_err(|error| match error {
            store::Error::Conflict(_) => refused(RecordError::Stale { expected: version, current: version + 1 }),
            other => other.into(),
        })
}

/// The longest name of a saved view, in characters.
const VIEW_NAME_MAX: usize = 40;
/// The most views one person keeps of one form.
const VIEWS_PER_FORM: usize = 50;

/// A saved view as the list page and the API show it.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ViewEntry {
    pub(crate) id: String,
    pub(crate) name: String,
    /// The list's query string (open it as `/admin/forms/{form}?{query}`).
    pub(crate) query: String,
    pub(crate) shared: bool,
    pub(crate) owner: String,
    /// The caller's own (they may delete it).
    pub(crate) mine: bool,
}

/// The views of `form` the caller sees: their own and the shared ones.
pub(crate) async fn views_for(state: &AppState, auth: &Auth, form: &Form) -> ApiResult<Vec<ViewEntry>> {
    let user = &auth.principal.account.id;
    Ok(state
        .store()
        .form_views(&form.key, user)
        .await?
        .into_iter()
        .map(|view| ViewEntry {
            mine: &view.owner == user,
            id: view.id,
            name: view.name,
            query: view.query,
            shared: view.shared,
            owner: view.owner,
        })
        .collect())
}

/// Saves the list's query as a view: a name of 1 to 40 characters (422 at `name`), the query
/// without its page (checked against the form like any list request: 422 for a filter or
/// sort the form does not have), shared only by someone who may edit the form's records.
pub(crate) async fn save_view(
    state: &AppState,
    auth: &Auth,
    form: &Form,
    name: &str,
    query: &str,
    shared: bool,
) -> ApiResult<ViewEntry> {
    let name = name.trim();
    let invalid = |field: &str, code: &str, message: String| {
        ApiError::Validation(vec![forms::FieldError { field: field.into(), code: code.into(), message }])
    };
    if name.is_empty() || name.chars().count() > VIEW_NAME_MAX {
        return Err(invalid("name", "bad-name", format!("视图名称须为 1 至 {VIEW_NAME_MAX} 个字")));
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
        .into_owned()
        .filter(|(key, _)| !matches!(key.as_str(), "page" | "notice" | "view" | "csrf_token"))
        .collect();
    // The same checks a list applies: a view that cannot be listed is not saved.
    records::query(form, store::DataScope::Nothing, &list_request(form, &pairs, 20)).map_err(refused)?;
    let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
    if query.len() > 2_000 {
        return Err(invalid("query", "too-long", "查询条件过长".into()));
    }
    if shared && !may(auth, form, Action::Update) {
        return Err(ApiError::forbidden("只有可以修改这些记录的人员才能共享视图"));
    }
    let user = auth.principal.account.id.clone();
    let existing = views_for(state, auth, form).await?;
    if existing.iter().filter(|view| view.mine).count() >= VIEWS_PER_FORM {
        return Err(invalid("name", "too-many-views", format!("每个表单最多保存 {VIEWS_PER_FORM} 个视图")));
    }
    if existing.iter().any(|view| view.mine && view.name == name) {
        return Err(invalid("name", "duplicate", format!("已有名为“{name}”的视图")));
    }
    let view = store::forms::FormView {
        id: store::new_id(),
        form: form.key.clone(),
        owner: user.clone(),
        name: name.to_string(),
        query,
        shared,
        created_at: store::now_millis(),
    };
    state.store().insert_form_view(&view).await?;
    Ok(ViewEntry { id: view.id, name: view.name, query: view.query, shared, owner: user, mine: true })
}

/// Deletes one of the caller's views (404 for another's or none).
pub(crate) async fn delete_view(state: &AppState, auth: &Auth, form: &Form, id: &str) -> ApiResult<()> {
    if state.store().delete_form_view(&form.key, id, &auth.principal.account.id).await? {
        Ok(())
    } else {
        Err(ApiError::coded(StatusCode::NOT_FOUND, "view-not-found", "视图不存在或不是您保存的"))
    }
}

/// The most records one bulk action takes.
pub(crate) const MAX_BULK: usize = 200;

/// A bulk action on selected records: `delete`, or `action:<key>` (a record action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bulk {
    Delete,
    Action(String),
}

impl Bulk {
    pub(crate) fn parse(text: &str) -> Option<Bulk> {
        match text {
            "delete" => Some(Bulk::Delete),
            other => other.strip_prefix("action:").filter(|key| !key.is_empty()).map(|key| Bulk::Action(key.into())),
        }
    }

    /// The action's words (删除, or the record action's label).
    pub(crate) fn label(&self, form: &Form) -> String {
        match self {
            Bulk::Delete => "删除".into(),
            Bulk::Action(key) => form
                .actions
                .iter()
                .find(|action| &action.key == key)
                .map(|action| action.label.clone())
                .unwrap_or_else(|| key.clone()),
        }
    }
}

/// How one record of a bulk action went.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BulkResult {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) ok: bool,
    /// The refusal's stable code and Chinese message.
    pub(crate) code: Option<&'static str>,
    pub(crate) message: Option<String>,
}

/// The selected records as the confirmation lists them: those the caller can see, by id (a
/// duplicate or unknown id is dropped; more than [`MAX_BULK`] is refused).
pub(crate) async fn bulk_selection(
    state: &AppState,
    auth: &Auth,
    form: &Form,
    ids: &[String],
) -> ApiResult<Vec<records::Record>> {
    if ids.is_empty() {
        return Err(ApiError::invalid("请先勾选记录"));
    }
    if ids.len() > MAX_BULK {
        return Err(ApiError::invalid(format!("一次最多处理 {MAX_BULK} 条记录")));
    }
    let request =
        ListRequest { ids: Some(ids.to_vec()), page: 1, page_size: MAX_BULK as i64, ..ListRequest::default() };
    let (found, _) =
        records::list(state.store().as_ref(), state.security.crypto.as_ref(), form, &actor(auth), &request)
            .await
            .map_err(refused)?;
    Ok(found)
}

/// Runs a bulk action on each selected record as the caller would one by one (the same
/// permission, state and version checks, each record at the version it has now); one refusal
/// does not stop the others, and each says how it went.
pub(crate) async fn run_bulk(
    state: &AppState,
    auth: &Auth,
    ip: &str,
    form: &Form,
    bulk: &Bulk,
    ids: &[String],
) -> ApiResult<Vec<BulkResult>> {
    if *bulk == Bulk::Delete && !may(auth, form, Action::Delete) {
        return Err(ApiError::forbidden(format!("没有删除“{}”的权限", form.name)));
    }
    let selected = bulk_selection(state, auth, form, ids).await?;
    let mut results = Vec::with_capacity(selected.len());
    for record in selected {
        let outcome = match bulk {
            Bulk::Delete => records::delete(
                state.store().as_ref(),
                state.security.crypto.as_ref(),
                form,
                &actor(auth),
                &record.id,
                record.version,
            )
            .await
            .map_err(refused),
            Bulk::Action(key) => run_action(state, auth, ip, form, &record.id, record.version, key).await.map(|_| ()),
        };
        results.push(match outcome {
            Ok(()) => BulkResult { id: record.id, title: record.title, ok: true, code: None, message: None },
            Err(error) => BulkResult {
                id: record.id,
                title: record.title,
                ok: false,
                code: Some(error.code()),
                message: Some(error.public_message()),
            },
        });
    }
    Ok(results)
}
