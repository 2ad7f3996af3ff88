//! The security auditor's screen (安全审计员, 三员分立; issue 12): the audit log with filters
//! (actor, action, target, result, time) kept in the URL, newest first, and a check of the
//! whole chain that names the first broken row. Reading the log is itself audited, as through
//! `GET /api/audit`.

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use store::identity::{AuditProblem, AuditQuery, verify_audit};

use super::inbox::{day_start, shanghai};
use super::{filled, screen};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::{Auth, ClientIp, audit, entry};
use crate::templates::Context;

const PAGE_SIZE: i64 = 50;

/// The page's query string: the filters as the form sends them, the page, and `verify=1` to
/// check the chain.
#[derive(Debug, Deserialize, Serialize, Default)]
pub(crate) struct AuditFilters {
    #[serde(default)]
    user: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// Rows up to this sequence number (the link to a broken row).
    upto: Option<i64>,
    page: Option<i64>,
    #[serde(default)]
    verify: String,
}

/// A row as the table shows it.
#[derive(Serialize)]
struct Row {
    seq: i64,
    time: String,
    user: Option<String>,
    source_ip: Option<String>,
    action: String,
    target: Option<String>,
    result: String,
    detail: Option<String>,
}

/// What the chain check found, for the template's sentence.
#[derive(Serialize)]
struct Verdict {
    intact: bool,
    /// Rows checked when intact.
    rows: i64,
    /// `edited`, `missing`, `unlinked`, `truncated`, `base-moved`.
    problem: &'static str,
    /// The first broken row (or where the break is).
    seq: i64,
    /// `missing`: the next row present; `truncated`: the head's number.
    other: i64,
}

impl Verdict {
    fn of(found: Result<i64, AuditProblem>) -> Verdict {
        let broken = |problem, seq, other| Verdict { intact: false, rows: 0, problem, seq, other };
        match found {
            Ok(rows) => Verdict { intact: true, rows, problem: "", seq: 0, other: 0 },
            Err(AuditProblem::Edited { seq }) => broken("edited", seq, 0),
            Err(AuditProblem::Missing { expected, found }) => broken("missing", expected, found),
            Err(AuditProblem::Unlinked { seq }) => broken("unlinked", seq, 0),
            Err(AuditProblem::Truncated { last, head }) => broken("truncated", last, head),
            Err(AuditProblem::BaseMoved { base }) => broken("base-moved", base, 0),
        }
    }
}

pub(crate) async fn log(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    query: Result<Query<AuditFilters>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(filters) = query.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let page = filters.page.unwrap_or(1).max(1);
    let first_result = super::first_result(page, PAGE_SIZE)?;
    let search = AuditQuery {
        user: filled(&filters.user),
        action: filled(&filters.action),
        target: filled(&filters.target),
        result: filled(&filters.result),
        from: day_start(&filters.from, 0)?,
        to: day_start(&filters.to, 1)?,
        upto: filters.upto,
        page: store::Page { first_result, max_results: Some(PAGE_SIZE) },
    };
    let (rows, total) = state.store().audit_search(&search).await?;
    let verdict = if filters.verify == "1" {
        Some(Verdict::of(verify_audit(state.store().as_ref(), state.security.crypto.as_ref()).await?))
    } else {
        None
    };
    audit(&state, entry(Some(&auth.principal.account.id), &ip, "audit.read", None, "success")).await?;
    let rows: Vec<Row> = rows
        .into_iter()
        .map(|row| Row {
            seq: row.seq,
            time: shanghai(row.entry.at),
            user: row.entry.user_id,
            source_ip: row.entry.source_ip,
            action: row.entry.action,
            target: row.entry.target,
            result: row.entry.result,
            detail: row.entry.detail,
        })
        .collect();
    // `upto` (the rows up to a broken one) stays on the pager's links, or the next page would
    // jump back to the newest rows.
    let upto = filters.upto.map(|seq| seq.to_string()).unwrap_or_default();
    let kept = super::kept(&[
        ("user", &filters.user),
        ("action", &filters.action),
        ("target", &filters.target),
        ("result", &filters.result),
        ("from", &filters.from),
        ("to", &filters.to),
        ("upto", &upto),
    ]);
    let mut context = Context::new();
    context.insert("filters", &filters);
    context.insert("kept", &kept);
    context.insert("rows", &rows);
    context.insert("total", &total);
    context.insert("page", &page);
    context.insert("pages", &super::pages(total, PAGE_SIZE));
    context.insert("verdict", &verdict);
    screen(&state, &auth, "audit", "audit.html", context).await
}
