//! The home page and the inbox (待办 / 已办 / 我发起的 / 抄送我的), filters kept in the URL.

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use store::approval::InboxTab;

use super::{filled, screen};
use crate::AppState;
use crate::approval::{InboxEntry, InboxParams, inbox_counts, inbox_list, tab_of};
use crate::error::{ApiError, ApiResult};
use crate::identity::Auth;
use crate::templates::Context;

const PAGE_SIZE: i64 = 20;

/// Milliseconds since the epoch as Shanghai time (`2026-12-02 19:05`).
pub(crate) fn shanghai(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|time| time.with_timezone(&crate::camunda::zone()).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// An inbox row with its times and district as people read them.
#[derive(Serialize)]
pub(crate) struct Row {
    #[serde(flatten)]
    entry: InboxEntry,
    time_text: String,
    started_text: String,
    district_name: String,
    /// The due date as people read it, and `overdue` (past), `soon` (within a day) or empty.
    due_text: String,
    due_state: &'static str,
}

/// A due date's reading and state at `now` (see [`Row`]).
pub(crate) fn due(text: Option<&str>, now: i64) -> (String, &'static str) {
    let Some(text) = text else { return (String::new(), "") };
    match crate::camunda::parse_date(text) {
        Some(time) => {
            let at = time.timestamp_millis();
            let state = if at < now {
                "overdue"
            } else if at - now < 86_400_000 {
                "soon"
            } else {
                ""
            };
            (shanghai(at), state)
        }
        None => (text.to_string(), ""),
    }
}

/// A district for the filter: its code and name.
#[derive(Serialize)]
pub(crate) struct District {
    pub(crate) code: String,
    pub(crate) name: String,
}

/// The districts of the organisation tree, in code order.
pub(crate) async fn districts(state: &AppState) -> ApiResult<Vec<District>> {
    let mut districts: Vec<District> = state
        .store()
        .org_units()
        .await?
        .into_iter()
        .filter(|unit| unit.kind == "district")
        .map(|unit| District { code: unit.id, name: unit.name })
        .collect();
    districts.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(districts)
}

pub(crate) fn rows(entries: Vec<InboxEntry>, districts: &[District]) -> Vec<Row> {
    let now = runtime::executor::now_millis();
    entries
        .into_iter()
        .map(|entry| {
            let district_name = entry
                .district
                .as_deref()
                .map(|code| {
                    districts.iter().find(|d| d.code == code).map(|d| d.name.clone()).unwrap_or_else(|| code.into())
                })
                .unwrap_or_default();
            let (due_text, due_state) = due(entry.due.as_deref(), now);
            Row {
                time_text: shanghai(entry.time),
                started_text: shanghai(entry.started_at),
                district_name,
                due_text,
                due_state,
                entry,
            }
        })
        .collect()
}

/// The home page's query: the sentence after a step done elsewhere (`totp`: enrolled).
#[derive(Deserialize, Default)]
pub(crate) struct HomeQuery {
    #[serde(default)]
    notice: String,
}

pub(crate) async fn home(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    query: Result<Query<HomeQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.unwrap_or_default();
    let mut context = Context::new();
    context.insert("notice", &query.notice);
    if auth.principal.can("menu:tasks") {
        let params = InboxParams { page_size: Some(5), ..InboxParams::default() };
        let (counts, newest) =
            tokio::try_join!(inbox_counts(&state, &auth), inbox_list(&state, &auth, InboxTab::Todo, params))?;
        context.insert("counts", &counts);
        context.insert("newest", &rows(newest.items, &districts(&state).await?));
    }
    // 通知: the newest messages the system sent this account (催办, reminders), from the message
    // outbox every sender writes to.
    let address = format!("account:{}", auth.principal.account.id);
    let notices: Vec<(String, String)> = state
        .store()
        .sms_outbox_recent(&address, 5)
        .await?
        .into_iter()
        .map(|(message, at)| (shanghai(at), message))
        .collect();
    context.insert("notices", &notices);
    screen(&state, &auth, "home", "home.html", context).await
}

/// The inbox page's query string: the tab and the filters of `/api/inbox/{tab}`, as a form
/// sends them (empty fields are no filter; dates are `YYYY-MM-DD`).
#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InboxPage {
    #[serde(default)]
    tab: String,
    #[serde(default)]
    process: String,
    #[serde(default)]
    business_key: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    district: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    sort: String,
    page: Option<i64>,
    /// A sentence to show once, after an operation (`approved`, `rejected` …).
    #[serde(default)]
    notice: String,
}

impl InboxPage {
    /// The tab's name (`todo` when none is given) and the tab; 404 for a name that is none.
    pub(crate) fn tab(&self) -> ApiResult<(String, InboxTab)> {
        let name = if self.tab.is_empty() { "todo".to_string() } else { self.tab.clone() };
        let tab = tab_of(&name).ok_or_else(|| ApiError::not_found("没有这个列表 (no such inbox tab)"))?;
        Ok((name, tab))
    }

    /// The page asked for, from 1.
    pub(crate) fn page(&self) -> i64 {
        self.page.unwrap_or(1).max(1)
    }

    pub(crate) fn notice(&self) -> &str {
        &self.notice
    }
}

/// `YYYY-MM-DD` as the start of that day in Shanghai, in milliseconds; `days` later for an end.
pub(crate) fn day_start(text: &str, days: i64) -> ApiResult<Option<i64>> {
    let Some(text) = filled(text) else { return Ok(None) };
    let date = chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map_err(|_| ApiError::invalid(format!("日期格式应为 年-月-日：{text} (bad date)")))?;
    let start = date.and_hms_opt(0, 0, 0).map(|time| time.and_utc().timestamp_millis() - 8 * 3_600_000);
    Ok(start.map(|start| start + days * 86_400_000))
}

pub(crate) async fn inbox(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    query: Result<Query<InboxPage>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(filters) = query.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let (tab_name, tab) = filters.tab()?;
    let page = filters.page();
    let params = InboxParams {
        process: filled(&filters.process),
        business_key: filled(&filters.business_key),
        from: day_start(&filters.from, 0)?,
        to: day_start(&filters.to, 1)?,
        district: filled(&filters.district),
        text: filled(&filters.text),
        sort: filled(&filters.sort),
        page: Some(page),
        page_size: Some(PAGE_SIZE),
    };
    let (list, counts) = tokio::try_join!(inbox_list(&state, &auth, tab, params), inbox_counts(&state, &auth))?;
    let pages = super::pages(list.total, PAGE_SIZE);
    // The filters again, to keep them on the tab, sort and page links.
    let kept = kept_filters(&filters);
    let mut context = Context::new();
    context.insert("tab", &tab_name);
    context.insert("filters", &filters);
    context.insert("kept", &kept);
    let districts = districts(&state).await?;
    context.insert("batch", &(tab == InboxTab::Todo && list.items.iter().any(|item| item.batch_approve)));
    context.insert("rows", &rows(list.items, &districts));
    context.insert("districts", &districts);
    context.insert("total", &list.total);
    context.insert("counts", &counts);
    context.insert("page", &page);
    context.insert("pages", &pages);
    screen(&state, &auth, "inbox", "inbox.html", context).await
}

/// The filters as a query string, kept on the tab, sort and page links.
fn kept_filters(filters: &InboxPage) -> String {
    super::kept(&[
        ("process", &filters.process),
        ("businessKey", &filters.business_key),
        ("text", &filters.text),
        ("district", &filters.district),
        ("from", &filters.from),
        ("to", &filters.to),
    ])
}

/// `POST /inbox/batch-approve` from the 待办 list: the ticked tasks (`task`, repeated) with one
/// comment; the answer is a page with each task's result.
pub(crate) async fn batch(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let fields: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let ids: Vec<String> = fields.iter().filter(|(name, _)| name == "task").map(|(_, id)| id.clone()).collect();
    let comment = fields.iter().find(|(name, _)| name == "comment").and_then(|(_, text)| filled(text));
    let results = crate::approval::batch_approve(&state, &auth, &ids, comment).await?;
    let mut context = Context::new();
    context.insert("passed", &results.iter().filter(|result| result.ok).count());
    context.insert("results", &results);
    screen(&state, &auth, "inbox", "batch.html", context).await
}
