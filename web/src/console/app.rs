//! The light app (H5, phone-first, issue 14): `/m`, the home of everyone who works from a phone
//! — an institution's applicant or account (PREF-03: 申请入驻, the application's state, the
//! merchant code once it is in), and anyone with tasks (待办) — and the message centre
//! (SVC-20 消息中心): `/m/messages` lists an account's messages newest first with the unread
//! ones marked, opening one marks it read and goes to what it is about, 全部已读 marks them all.
//! `GET /api/messages` and `POST /api/messages/{id}/read`, `POST /api/messages/read` are the
//! same for clients. A person sees and marks only their own messages (by their session's
//! account, never by a parameter).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::{screen, see_other};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::forms::{Action, may, record_instances};
use crate::identity::Auth;
use crate::templates::Context;

/// The institutions' form (PREF-03 / PREF-04).
const INSTITUTIONS: &str = services::institution::FORM;
/// Messages on one page of the message centre.
const PAGE_SIZE: i64 = 20;

/// One of the caller's institution records, as the home shows it.
#[derive(Serialize)]
struct Institution {
    id: String,
    name: String,
    status: String,
    /// The state of its latest 入驻审核 (审批中, 已驳回 …), if it was submitted, and that instance.
    review: Option<String>,
    instance: Option<String>,
    /// The open task of the caller on it (a returned application to revise).
    task: Option<String>,
    qr: Option<String>,
}

/// `GET /m`: the light app's home.
pub(crate) async fn home(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> ApiResult<Response> {
    let account = auth.principal.account.id.clone();
    let todo = if auth.principal.can("menu:tasks") {
        Some(crate::approval::inbox_counts(&state, &auth).await?.todo)
    } else {
        None
    };
    let unread = state.store().unread_messages(&account).await?;
    let mut context = Context::new();
    let catalog = crate::forms::catalog(&state);
    // 我的机构 is for an institution's own accounts (staff find the institutions under 业务数据).
    let own = auth.principal.can("institution:self");
    let form = catalog.form(INSTITUTIONS).filter(|form| own && may(&auth, form, Action::Read));
    let (institutions, may_apply) = match form {
        Some(form) => (institutions(&state, &auth, form).await?, may(&auth, form, Action::Create)),
        None => (Vec::new(), false),
    };
    context.insert("todo", &todo);
    context.insert("unread", &unread);
    context.insert("institutions", &institutions);
    context.insert("may_apply", &may_apply);
    screen(&state, &auth, "home", "m_home.html", context).await
}

/// The institution records the caller may read in their own scope (their applications), with
/// their review's state and the caller's open task on each.
async fn institutions(state: &AppState, auth: &Auth, form: &forms::Form) -> ApiResult<Vec<Institution>> {
    let request = forms::records::ListRequest { page: 1, page_size: 20, ..Default::default() };
    let crypto = state.security.crypto.as_ref();
    let (records, _) = forms::records::list(state.store().as_ref(), crypto, form, &crate::forms::actor(auth), &request)
        .await
        .map_err(crate::forms::refused)?;
    let catalog = crate::forms::catalog(state);
    let mut shown = Vec::new();
    for record in records {
        let instances = record_instances(state, form, &record.id).await?;
        let latest = instances.iter().max_by_key(|instance| instance.started_at);
        let task = match latest.filter(|instance| instance.status == "ACTIVE") {
            Some(instance) => {
                let query = store::TaskQuery {
                    instance_id: Some(instance.id.clone()),
                    assignee: Some(auth.principal.account.id.clone()),
                    ..store::TaskQuery::new(store::DataScope::All)
                };
                state.store().tasks(&query).await?.0.into_iter().next().map(|task| task.id)
            }
            None => None,
        };
        let status = form
            .field("status")
            .map(|field| forms::value::display(field, catalog, record.values.get("status")))
            .unwrap_or_default();
        let qr = record
            .values
            .get("merchant_code")
            .and_then(serde_json::Value::as_str)
            .filter(|code| !code.is_empty())
            .and_then(crate::templates::qr_image);
        shown.push(Institution {
            id: record.id,
            name: record.title,
            status,
            review: latest.map(|instance| instance.status_text.clone()),
            instance: latest.map(|instance| instance.id.clone()),
            task,
            qr,
        });
    }
    Ok(shown)
}

#[derive(Deserialize, Default)]
pub(crate) struct MessagesQuery {
    #[serde(default)]
    page: Option<i64>,
    /// Only the unread ones.
    #[serde(default)]
    unread: Option<bool>,
}

#[derive(Serialize)]
struct MessageRow {
    id: String,
    title: String,
    body: String,
    time: String,
    unread: bool,
}

/// `GET /m/messages`: the caller's messages, newest first, 20 a page.
pub(crate) async fn messages(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    query: Result<Query<MessagesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let page = query.page.unwrap_or(1).max(1);
    let unread_only = query.unread.unwrap_or(false);
    let offset = super::first_result(page, PAGE_SIZE)?;
    let found = state.store().messages(&auth.principal.account.id, unread_only, offset, PAGE_SIZE).await?;
    let rows: Vec<MessageRow> = found
        .items
        .into_iter()
        .map(|message| MessageRow {
            id: message.id,
            title: message.title,
            body: message.body,
            time: super::inbox::shanghai(message.created_at),
            unread: message.read_at.is_none(),
        })
        .collect();
    let mut context = Context::new();
    context.insert("rows", &rows);
    context.insert("unread", &found.unread);
    context.insert("total", &found.total);
    context.insert("unread_only", &unread_only);
    context.insert("page", &page);
    context.insert("more", &(page.saturating_mul(PAGE_SIZE) < found.total));
    screen(&state, &auth, "messages", "m_messages.html", context).await
}

/// `GET /m/messages/{id}`: marks the message read and goes to what it is about (a path of this
/// site), else back to the list. Another account's message is 404.
pub(crate) async fn open(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let account = &auth.principal.account.id;
    let message = find(&state, account, &id).await?;
    state.store().mark_messages_read(account, Some(&id), store::now_millis()).await?;
    let to = message.link.as_deref().and_then(crate::identity::pages::safe_next).unwrap_or("/m/messages");
    see_other(to)
}

/// One of `account`'s messages; another account's is 404, as if there were none.
async fn find(state: &AppState, account: &str, id: &str) -> ApiResult<store::identity::Message> {
    state.store().message(account, id).await?.ok_or_else(|| ApiError::NotFound("消息不存在 (no such message)".into()))
}

/// `POST /m/messages/read`: marks every message of the caller read.
pub(crate) async fn read_all(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> ApiResult<Response> {
    state.store().mark_messages_read(&auth.principal.account.id, None, store::now_millis()).await?;
    see_other("/m/messages")
}

/// `GET /api/messages?unread=true&page=N`: the caller's messages (20 a page).
pub(crate) async fn api_list(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    query: Result<Query<MessagesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(query) = query.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let offset = super::first_result(query.page.unwrap_or(1), PAGE_SIZE)?;
    let found =
        state.store().messages(&auth.principal.account.id, query.unread.unwrap_or(false), offset, PAGE_SIZE).await?;
    let items: Vec<serde_json::Value> = found
        .items
        .iter()
        .map(|message| {
            serde_json::json!({
                "id": message.id,
                "title": message.title,
                "body": message.body,
                "link": message.link,
                "createdAt": message.created_at,
                "read": message.read_at.is_some(),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "items": items, "total": found.total, "unread": found.unread })))
}

/// `POST /api/messages/{id}/read`: 204; another account's message or none is 404.
pub(crate) async fn api_read(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let account = &auth.principal.account.id;
    find(&state, account, &id).await?;
    state.store().mark_messages_read(account, Some(&id), store::now_millis()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/messages/read`: marks all the caller's messages read; `{"changed": N}`.
pub(crate) async fn api_read_all(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> ApiResult<Json<serde_json::Value>> {
    let changed = state.store().mark_messages_read(&auth.principal.account.id, None, store::now_millis()).await?;
    Ok(Json(serde_json::json!({ "changed": changed })))
}
