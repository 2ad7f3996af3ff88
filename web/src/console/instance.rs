//! An instance as a participant sees it (issue 12): `/instances/{id}` — what 我发起的 and a new
//! start open: the facts, the open steps (linked when the user may work on them), the diagram
//! with the taken path, the form data, the timeline and 撤回申请 for the starter while the
//! process allows it; `/instances/{id}/print`, the same on one page for paper files. Who may open
//! it is the task page's rule (`approval::involved`: starter, handlers, candidates, copied,
//! administrators), plus process administrators (`menu:engine`), inside the data scope; anyone
//! else gets the 404 page.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};
use store::TaskQuery;

use super::inbox::shanghai;
use super::task::instance_parts;
use super::{filled, screen};
use crate::AppState;
use crate::approval::{InstanceSummary, OperationBody, caller, checked_body, involved, timeline, visible_instance};
use crate::error::{ApiError, ApiResult};
use crate::identity::{self, Auth};
use crate::templates::{Context, page};

#[derive(Deserialize, Default)]
pub(crate) struct Shown {
    #[serde(default)]
    notice: String,
}

/// An open step of the instance.
#[derive(Serialize)]
struct OpenStep {
    id: String,
    name: String,
    assignee: Option<String>,
    since: String,
    /// Assigned to the caller: the link says 办理.
    mine: bool,
}

/// The instance's page context, or the 404 page when the caller may not open it.
async fn instance_context(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Context> {
    let instance = visible_instance(state, id).await?;
    let caller = caller(state, auth).await?;
    if !auth.principal.can("menu:engine") && !involved(state, &caller, &instance, None).await? {
        return Err(ApiError::not_found("流程实例不存在或无权查看 (no such process instance)"));
    }
    let open = TaskQuery { instance_id: Some(id.to_string()), ..TaskQuery::new(identity::scope()) };
    let open: Vec<OpenStep> = state
        .store()
        .tasks(&open)
        .await?
        .0
        .into_iter()
        .map(|task| OpenStep {
            name: task.name.clone().unwrap_or_else(|| task.task_definition_key.clone()),
            assignee: task.assignee.clone(),
            since: shanghai(task.created_at),
            mine: task.assignee.as_deref() == Some(auth.principal.account.id.as_str()),
            id: task.id,
        })
        .collect();
    let starter = instance.start_user.as_deref() == Some(caller.id.as_str());
    let may_withdraw =
        starter && instance.state.is_active() && state.executor.may_withdraw(&instance, &caller.id).await?;
    let variables = instance.state.variables().iter().map(|(name, value)| (name.clone(), value.to_json())).collect();
    let mut context = Context::new();
    instance_parts(state, &mut context, &instance.id, &instance.definition_id, timeline(state, id).await?, &variables)
        .await?;
    let definition = state.executor.definition(&instance.definition_id).await?;
    context.insert("process_name", definition.name.as_deref().unwrap_or(&definition.key));
    context.insert("instance", &InstanceSummary::from(&instance));
    context.insert("started_text", &shanghai(instance.started_at));
    context.insert("ended_text", &instance.ended_at.map(shanghai).unwrap_or_default());
    context.insert("open", &open);
    context.insert("may_withdraw", &may_withdraw);
    context.insert("printed_text", &shanghai(runtime::executor::now_millis()));
    Ok(context)
}

/// `GET /instances/{id}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    shown: Result<Query<Shown>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    shown_on(&state, &auth, &id, shown, "mine.html").await
}

/// `GET /m/instances/{id}`: the same instance on a phone (issue 14: a light-app user follows
/// their submission — its state, who has it now, the timeline — and may 撤回申请 it).
pub(crate) async fn phone(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    shown: Result<Query<Shown>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    shown_on(&state, &auth, &id, shown, "m_instance.html").await
}

/// The instance's page in `template` (desktop or phone), with the notice of what was just done.
async fn shown_on(
    state: &AppState,
    auth: &Auth,
    id: &str,
    shown: Result<Query<Shown>, axum::extract::rejection::QueryRejection>,
    template: &str,
) -> ApiResult<Response> {
    let Query(shown) = shown.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let mut context = instance_context(state, auth, id).await?;
    context.insert("notice", &shown.notice);
    screen(state, auth, "inbox", template, context).await
}

/// `GET /instances/{id}/print`: a page without the console around it, laid out for A4.
pub(crate) async fn print(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut context = instance_context(&state, &auth, &id).await?;
    context.insert("printed_by", auth.principal.account.display_name.as_deref().unwrap_or(&auth.principal.account.id));
    Ok(page(axum::http::StatusCode::OK, "print.html", &context))
}

#[derive(Deserialize)]
pub(crate) struct WithdrawForm {
    #[serde(default)]
    comment: String,
    /// `m`: from the phone's page, back to it.
    #[serde(default)]
    back: String,
}

/// `POST /instances/{id}/withdraw`: 撤回申请 (the starter), with an optional reason.
pub(crate) async fn withdraw(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    form: Result<Form<WithdrawForm>, axum::extract::rejection::FormRejection>,
) -> ApiResult<Response> {
    let Form(form) = form.map_err(|_| ApiError::invalid("提交的内容无效 (bad form)"))?;
    let body = checked_body(OperationBody { comment: filled(&form.comment), ..OperationBody::default() })?;
    crate::approval::withdraw(&state, &auth, &id, body).await?;
    let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let base = if form.back == "m" { "/m/instances" } else { "/instances" };
    super::see_other(&format!("{base}/{id}?notice=withdrawn"))
}
