//! The mobile 待办 (SVC-24, issue 12): phone-first pages for 运营人员 and any staff on a phone.
//! `/m/todo` has the inbox's tabs as cards, with 通过 / 驳回 on each 待办 card and 认领 on each
//! 待认领 card, a next page that loads as the list scrolls (htmx; a plain link without it) and
//! pull to refresh; `/m/tasks/{id}` has the task's data, timeline and every operation the user
//! may do, with photo upload and a signature pad. The forms post to the same
//! `/tasks/{id}/{operation}` as the desktop, with `back=m` to come back here.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::Response;

use super::inbox::{InboxPage, districts, rows};
use super::screen;
use super::task::{Shown, task_context};
use crate::AppState;
use crate::approval::{InboxParams, inbox_counts, inbox_list};
use crate::error::{ApiError, ApiResult};
use crate::identity::Auth;
use crate::templates::Context;

const PAGE_SIZE: i64 = 10;

pub(crate) async fn todo(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    query: Result<Query<InboxPage>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(filters) = query.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let (tab_name, tab) = filters.tab()?;
    let page = filters.page();
    let params = InboxParams { page: Some(page), page_size: Some(PAGE_SIZE), ..InboxParams::default() };
    let (list, counts) = tokio::try_join!(inbox_list(&state, &auth, tab, params), inbox_counts(&state, &auth))?;
    let mut context = Context::new();
    context.insert("tab", &tab_name);
    context.insert("notice", filters.notice());
    context.insert("rows", &rows(list.items, &districts(&state).await?));
    context.insert("counts", &counts);
    context.insert("page", &page);
    context.insert("more", &(page * PAGE_SIZE < list.total));
    screen(&state, &auth, "inbox", "m_todo.html", context).await
}

pub(crate) async fn task(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    shown: Result<Query<Shown>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let context = task_context(&state, &auth, &id, shown, None).await?;
    screen(&state, &auth, "inbox", "m_task.html", context).await
}
