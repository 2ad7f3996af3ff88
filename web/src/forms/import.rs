//! Imports of a form's records as jobs, over the API and the console (issue 13; the reading
//! and checking is `forms::import`, the commit `store::forms::FormStore::commit_form_import`).
//!
//! `POST /api/forms/{form}/imports` (multipart `file`) reads the upload, answers 202 with the
//! job, and validates its rows in the background, 1,000 at a time, saving progress after each
//! batch; `GET …/imports/{id}` is the job (status, progress, counts), `GET …/imports/{id}/rows`
//! its rows (`outcome=error` …), `POST …/imports/{id}/commit {mode}` writes the valid rows
//! (`valid-only`) or refuses when any row is bad (`all-or-nothing`), again in the background,
//! and `GET …/imports/{id}/errors.xlsx` is the error workbook. `GET
//! /api/forms/{form}/import-template.xlsx` is the template. The console has the same under
//! `/admin/forms/{form}/import`.
//!
//! A job is its uploader's: nobody else sees or commits it (another account gets 404). The
//! rows are checked with the uploader's data scope, so a district account can neither create
//! nor update another district's record by import. A job a node stopped working on (a crash, a
//! kill) is found by its age: `validating` without progress for [`STALE_VALIDATION`] becomes
//! `failed`; `committing` becomes `ready` again (its transaction never committed, so nothing
//! was written) at the next start of a single-node (SQLite) system, or after
//! [`STALE_COMMIT`] on PostgreSQL, where another node may still be committing it.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use forms::import::{self, CellError, Columns, Counts, Seen, Sheet};
use forms::{Catalog, Form};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::forms::{FormImport, ImportRow};

use super::{Action, actor, catalog, form_for, may};
use crate::AppState;
use crate::console::{screen, see_other};
use crate::error::{ApiError, ApiResult};
use crate::identity::{Auth, ClientIp};
use crate::routes::{Need, Routes};
use crate::templates::Context;

/// Rows validated (and saved) per batch.
const BATCH: usize = 1_000;
/// A `validating` job without progress for this long is no longer being worked on.
pub(crate) const STALE_VALIDATION: i64 = 2 * 60 * 1000;
/// A `committing` job this old on PostgreSQL is no longer being committed.
pub(crate) const STALE_COMMIT: i64 = 30 * 60 * 1000;
/// The largest request an import takes (the file and the form around it).
pub(crate) const MAX_REQUEST: usize = import::MAX_BYTES + 64 * 1024;

pub(crate) fn api_router() -> Routes {
    Routes::new()
        .get("/forms/{form}/import-template.xlsx", Need::SignedIn, template)
        .post("/forms/{form}/imports", Need::SignedIn, api_start)
        .get("/forms/{form}/imports/{id}", Need::SignedIn, api_job)
        .get("/forms/{form}/imports/{id}/rows", Need::SignedIn, api_rows)
        .post("/forms/{form}/imports/{id}/commit", Need::SignedIn, api_commit)
        .get("/forms/{form}/imports/{id}/errors.xlsx", Need::SignedIn, errors_workbook)
        .with_router(|router| router.layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST)))
}

const FORMS: Need = Need::Screen(&["menu:forms"]);

pub(crate) fn page_router() -> Routes {
    Routes::new()
        .get("/admin/forms/{form}/import", FORMS, upload_page)
        .post("/admin/forms/{form}/import", FORMS, page_start)
        .get("/admin/forms/{form}/import-template.xlsx", FORMS, template)
        .get("/admin/forms/{form}/imports/{id}", FORMS, job_page)
        .post("/admin/forms/{form}/imports/{id}/commit", FORMS, page_commit)
        .get("/admin/forms/{form}/imports/{id}/errors.xlsx", FORMS, errors_workbook)
        .with_router(|router| router.layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST)))
}

/// Whether a console path is an import upload (its multipart body carries the CSRF field).
pub(crate) fn is_upload_screen(path: &str) -> bool {
    path.strip_prefix("/admin/forms/")
        .and_then(|rest| rest.strip_suffix("/import"))
        .is_some_and(|form| !form.is_empty() && !form.contains('/'))
}

fn counts_of(job: &FormImport) -> Counts {
    serde_json::from_str(&job.counts).unwrap_or_default()
}

fn headers_of(job: &FormImport) -> Vec<String> {
    serde_json::from_str(&job.headers).unwrap_or_default()
}

fn job_json(job: &FormImport, form: &Form) -> Value {
    let ignored = import::columns(form, &headers_of(job)).map(|columns| columns.ignored).unwrap_or_default();
    json!({
        "id": job.id,
        "form": job.form,
        "status": job.status,
        "fileName": job.file_name,
        "total": job.total,
        "processed": job.processed,
        "counts": counts_of(job),
        "error": job.error,
        "committedRows": job.committed_rows,
        "ignoredColumns": ignored,
        "createdAt": crate::camunda::format_time(job.created_at),
        "updatedAt": crate::camunda::format_time(job.updated_at),
    })
}

/// Marks a job a node stopped working on (see the module's documentation); `now` the time.
fn stale(job: &mut FormImport, now: i64, single_node: bool) -> bool {
    let age = now - job.updated_at;
    match job.status.as_str() {
        "validating" if age > STALE_VALIDATION => {
            job.status = "failed".into();
            job.error = Some("校验中断（服务已重启或停止），请重新上传".into());
            true
        }
        "committing" if single_node || age > STALE_COMMIT => {
            job.status = "ready".into();
            job.error = Some("导入中断（服务已重启或停止），没有写入任何记录，请重新确认导入".into());
            true
        }
        _ => false,
    }
}

/// At start: the jobs this system stopped working on become `failed` or `ready` again.
pub async fn recover(store: &dyn store::Store) -> store::Result<u64> {
    let now = store::now_millis();
    let single_node = store.backend() == "sqlite";
    let mut recovered = 0;
    for status in ["validating", "committing"] {
        for mut job in store.form_imports_with_status(status).await? {
            // A job validating right before a quick restart is not stale yet: it is found
            // on its next read.
            let (from, age) = (job.status.clone(), now - job.updated_at);
            if (from == "validating" && age <= STALE_VALIDATION) || !stale(&mut job, now, single_node) {
                continue;
            }
            if store.claim_form_import(&job.id, &from, &job.status, now, job.error.as_deref()).await? {
                recovered += 1;
            }
        }
    }
    Ok(recovered)
}

/// The caller's own job `id` of form `form`: 404 for anyone else's.
async fn job_for(state: &AppState, auth: &Auth, form: &Form, id: &str) -> ApiResult<FormImport> {
    let store = state.store();
    let not_found = || ApiError::coded(StatusCode::NOT_FOUND, "import-not-found", "导入任务不存在");
    let mut job = store.form_import(id).await?.ok_or_else(not_found)?;
    if job.form != form.key || job.created_by != auth.principal.account.id {
        return Err(not_found());
    }
    let now = store::now_millis();
    let from = job.status.clone();
    if stale(&mut job, now, false) {
        job.updated_at = now;
        store.claim_form_import(&job.id, &from, &job.status, now, job.error.as_deref()).await?;
    }
    Ok(job)
}

/// The uploaded file of a multipart body: (name, bytes).
async fn upload_of(multipart: Result<Multipart, MultipartRejection>) -> ApiResult<(String, Vec<u8>)> {
    let too_large = || {
        ApiError::coded(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file-too-large",
            format!("文件超过 {} MB", import::MAX_BYTES / 1024 / 1024),
        )
    };
    let mut multipart = multipart.map_err(|_| ApiError::invalid("请选择要导入的文件 (multipart field 'file')"))?;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(_) => return Err(ApiError::invalid("上传的内容无法读取 (bad upload)")),
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("upload").chars().take(200).collect();
        return match field.bytes().await {
            Ok(bytes) if bytes.is_empty() => {
                Err(ApiError::coded(StatusCode::UNPROCESSABLE_ENTITY, "empty-file", "文件是空的"))
            }
            Ok(bytes) => Ok((name, bytes.to_vec())),
            Err(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large()),
            Err(_) => Err(ApiError::invalid("上传的内容无法读取 (bad upload)")),
        };
    }
    Err(ApiError::coded(StatusCode::UNPROCESSABLE_ENTITY, "no-file", "请选择要导入的文件"))
}

/// Reads the upload and starts its validation: the job, `validating`.
async fn start(state: &AppState, auth: &Auth, key: &str, name: String, bytes: Vec<u8>) -> ApiResult<FormImport> {
    let catalog = catalog(state).clone();
    let form = form_for(&catalog, auth, key, Action::Create)?;
    let sheet = tokio::task::spawn_blocking(move || import::read_upload(&bytes))
        .await
        .map_err(|_| ApiError::Internal("the upload reader stopped".into()))?
        .map_err(|error| ApiError::coded(StatusCode::UNPROCESSABLE_ENTITY, error.code, error.message))?;
    let columns = import::columns(form, &sheet.headers)
        .map_err(|error| ApiError::coded(StatusCode::UNPROCESSABLE_ENTITY, error.code, error.message))?;
    if sheet.rows.is_empty() {
        return Err(ApiError::coded(StatusCode::UNPROCESSABLE_ENTITY, "no-rows", "文件中只有表头，没有数据行"));
    }
    let now = store::now_millis();
    let job = FormImport {
        id: store::new_id(),
        form: form.key.clone(),
        created_by: auth.principal.account.id.clone(),
        created_at: now,
        updated_at: now,
        status: "validating".into(),
        file_name: name,
        headers: json!(sheet.headers).to_string(),
        total: sheet.rows.len() as i64,
        processed: 0,
        counts: json!(Counts::default()).to_string(),
        error: None,
        committed_rows: None,
    };
    state.store().insert_form_import(&job).await?;
    let work = Validation {
        state: state.clone(),
        catalog: catalog.clone(),
        actor: actor(auth),
        may_update: may(auth, form, Action::Update),
        job: job.clone(),
        sheet,
        columns,
    };
    // The request's task-local data scope does not follow a spawned task: it travels in `actor`.
    tokio::spawn(work.run());
    Ok(job)
}

/// A job's validation, run in the background.
struct Validation {
    state: AppState,
    catalog: Arc<Catalog>,
    actor: forms::records::Actor,
    may_update: bool,
    job: FormImport,
    sheet: Sheet,
    columns: Columns,
}

impl Validation {
    async fn run(mut self) {
        let outcome = self.validate().await;
        let store = self.state.store();
        let mut job = self.job;
        job.updated_at = store::now_millis();
        match outcome {
            Ok(()) => job.status = "ready".into(),
            Err(error) => {
                tracing::error!(%error, import = %job.id, "import validation failed");
                job.status = "failed".into();
                job.error = Some(format!("校验失败：{error}"));
            }
        }
        if let Err(error) = store.save_form_import(&job).await {
            tracing::error!(%error, import = %job.id, "the import's status was not saved");
        }
    }

    async fn validate(&mut self) -> Result<(), String> {
        let store = self.state.store().clone();
        let form = self.catalog.form(&self.job.form).ok_or("表单已不存在")?;
        let mut seen = Seen::default();
        let mut counts = Counts::default();
        for rows in self.sheet.rows.chunks(BATCH) {
            let (checked, found) = import::validate(
                store.as_ref(),
                self.state.security.crypto.as_ref(),
                &self.catalog,
                form,
                &self.actor,
                &self.job.id,
                &self.sheet.headers,
                &self.columns,
                rows,
                self.may_update,
                &mut seen,
            )
            .await
            .map_err(|error| error.to_string())?;
            store.insert_form_import_rows(&checked).await.map_err(|error| error.to_string())?;
            counts.new += found.new;
            counts.update += found.update;
            counts.unchanged += found.unchanged;
            counts.error += found.error;
            self.job.processed += rows.len() as i64;
            self.job.counts = json!(counts).to_string();
            self.job.updated_at = store::now_millis();
            store.save_form_import(&self.job).await.map_err(|error| error.to_string())?;
        }
        Ok(())
    }
}

/// How a commit treats bad rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum CommitMode {
    /// Write the valid rows, leave the bad ones.
    ValidOnly,
    /// Write nothing while any row is bad.
    AllOrNothing,
}

/// Starts the commit of job `id`: refused unless it is `ready` (409), when `all-or-nothing`
/// meets a bad row or nothing is left to write (422), or when it would update records and the
/// caller may not (403).
async fn commit(
    state: &AppState,
    auth: &Auth,
    ip: &str,
    form: &Form,
    id: &str,
    mode: CommitMode,
) -> ApiResult<FormImport> {
    let mut job = job_for(state, auth, form, id).await?;
    if job.status != "ready" {
        return Err(ApiError::coded(
            StatusCode::CONFLICT,
            "import-not-ready",
            match job.status.as_str() {
                "validating" => "还在校验中，请稍候",
                "committing" => "正在导入中",
                "done" => "该文件已导入",
                _ => "该导入任务已失败，请重新上传",
            },
        ));
    }
    let counts = counts_of(&job);
    if mode == CommitMode::AllOrNothing && counts.error > 0 {
        return Err(ApiError::coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "import-has-errors",
            format!("有 {} 行错误，不能全部导入：请修改后重新上传，或只导入有效行", counts.error),
        ));
    }
    if counts.new + counts.update == 0 {
        return Err(ApiError::coded(StatusCode::UNPROCESSABLE_ENTITY, "import-nothing", "没有可导入的行"));
    }
    if counts.update > 0 && !may(auth, form, Action::Update) {
        return Err(ApiError::forbidden("没有修改已有记录的权限"));
    }
    let store = state.store().clone();
    let now = store::now_millis();
    if !store.claim_form_import(&job.id, "ready", "committing", now, None).await? {
        return Err(ApiError::coded(StatusCode::CONFLICT, "import-not-ready", "该导入任务正在导入或已导入"));
    }
    job.status = "committing".into();
    job.error = None;
    job.updated_at = now;
    let (state, user, ip, mode) = (state.clone(), auth.principal.account.id.clone(), ip.to_string(), mode);
    let (id, form_key) = (job.id.clone(), form.key.clone());
    tokio::spawn(async move {
        let store = state.store();
        let outcome = store.commit_form_import(&id, &user, store::now_millis()).await;
        let (result, rows) = match &outcome {
            Ok(rows) => ("success", *rows),
            Err(_) => ("failure", 0),
        };
        if let Err(error) = &outcome {
            tracing::warn!(%error, import = %id, "import commit refused");
            let message = match error {
                store::Error::Conflict(message) => format!("{message}，没有写入任何记录，请重新上传校验"),
                _ => "导入失败，没有写入任何记录，请稍后重试".to_string(),
            };
            // Only a job still committing goes back (another node may have finished it).
            let at = store::now_millis();
            if let Err(error) = store.claim_form_import(&id, "committing", "ready", at, Some(&message)).await {
                tracing::error!(%error, import = %id, "the refused import was not made ready again");
            }
        }
        let mut entry = crate::identity::entry(Some(&user), &ip, "form.import", Some(&form_key), result);
        let mode = if mode == CommitMode::AllOrNothing { "all-or-nothing" } else { "valid-only" };
        entry.detail = Some(json!({ "import": id, "rows": rows, "mode": mode }).to_string());
        if let Err(error) = crate::identity::audit(&state, entry).await {
            tracing::error!(%error, "the import's audit row was not written");
        }
    });
    Ok(job)
}

/// `GET …/import-template.xlsx`.
async fn template(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Create)?;
    let bytes = forms::sheets::template(form, catalog).map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(xlsx(bytes, &format!("{}-导入模板.xlsx", form.name)))
}

/// An XLSX download.
pub(crate) fn xlsx(bytes: Vec<u8>, filename: &str) -> Response {
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    );
    attachment(headers, filename, "export.xlsx");
    response
}

/// `Content-Disposition: attachment` with a UTF-8 file name (and an ASCII fallback).
pub(crate) fn attachment(headers: &mut axum::http::HeaderMap, filename: &str, fallback: &str) {
    let encoded: String = form_urlencoded::byte_serialize(filename.as_bytes()).collect();
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

async fn api_start(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    // The form is checked before the body is read.
    form_for(catalog(&state), &auth, &key, Action::Create)?;
    let (name, bytes) = upload_of(multipart).await?;
    let job = start(&state, &auth, &key, name, bytes).await?;
    let form = form_for(catalog(&state), &auth, &key, Action::Create)?;
    Ok((StatusCode::ACCEPTED, axum::Json(job_json(&job, form))).into_response())
}

async fn api_job(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let form = form_for(catalog(&state), &auth, &key, Action::Create)?;
    let job = job_for(&state, &auth, form, &id).await?;
    Ok(axum::Json(job_json(&job, form)))
}

#[derive(Deserialize)]
struct RowsQuery {
    outcome: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
}

/// One row as the API and the job page show it.
#[derive(Serialize)]
struct RowView {
    row: i64,
    outcome: String,
    #[serde(rename = "recordId")]
    record_id: Option<String>,
    cells: Vec<String>,
    errors: Vec<CellError>,
    /// The labels of the fields an update changes (the job page's preview).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    changed: Vec<String>,
}

/// A row with its cells as uploaded (opened when sealed, `forms::sealed::seal_cells`);
/// `mask`: the form and the job's columns when the sensitive ones are to be shown masked (the
/// job page and the API; the error workbook gives the uploader back what they uploaded).
fn row_view(state: &AppState, mask: Option<(&Form, &Columns)>, row: &ImportRow) -> ApiResult<RowView> {
    let mut cells = forms::sealed::open_cells(state.security.crypto.as_ref(), &row.import_id, row.row_no, &row.raw)
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    if let Some((form, columns)) = mask {
        for (index, cell) in cells.iter_mut().enumerate() {
            if let Some(Some(field)) = columns.fields.get(index)
                && let Some(field) = form.fields.get(*field)
                && field.sensitive
                && !cell.is_empty()
            {
                *cell = super::masked(field, cell);
            }
        }
    }
    Ok(RowView {
        row: row.row_no,
        outcome: row.outcome.clone(),
        record_id: row.record_id.clone(),
        cells,
        errors: serde_json::from_str(&row.errors).unwrap_or_default(),
        changed: Vec::new(),
    })
}

/// The job's columns (the masks of [`row_view`]).
fn job_columns(form: &Form, job: &store::forms::FormImport) -> Columns {
    import::columns(form, &headers_of(job)).unwrap_or(Columns { fields: Vec::new(), ignored: Vec::new() })
}

/// A row to be written as the job page previews it: each mapped column as it will be stored
/// (labels for codes, dates as dates, sensitive values masked), and for an update the labels
/// of the fields it changes.
fn preview_view(
    state: &AppState,
    catalog: &Catalog,
    form: &Form,
    columns: &Columns,
    row: &ImportRow,
) -> ApiResult<RowView> {
    let mut view = row_view(state, None, row)?;
    let prepared: Option<store::forms::PreparedWrite> =
        row.prepared.as_deref().and_then(|prepared| serde_json::from_str(prepared).ok());
    let Some(prepared) = prepared else { return Ok(view) };
    let values: serde_json::Map<String, Value> = serde_json::from_str(&prepared.data).unwrap_or_default();
    for (index, cell) in view.cells.iter_mut().enumerate() {
        if let Some(Some(field)) = columns.fields.get(index) {
            let field = &form.fields[*field];
            // A sensitive value is sealed in the prepared row: the uploaded cell, masked.
            *cell = if field.sensitive {
                if cell.is_empty() { String::new() } else { super::masked(field, cell) }
            } else {
                super::shown(catalog, field, values.get(&field.key), false)
            };
        }
    }
    if row.outcome == "update" {
        let changes: Vec<forms::records::FieldChange> = serde_json::from_str(&prepared.changes).unwrap_or_default();
        view.changed = changes
            .iter()
            .map(|change| form.field(&change.field).map_or(change.field.clone(), |field| field.label.clone()))
            .collect();
    }
    Ok(view)
}

const OUTCOMES: [&str; 4] = ["new", "update", "unchanged", "error"];

/// `GET …/imports/{id}/rows?outcome=error&after=ROW&limit=N` → `{items, next}`.
async fn api_rows(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
    query: Result<Query<RowsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<axum::Json<Value>> {
    let Query(query) = query.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let form = form_for(catalog(&state), &auth, &key, Action::Create)?;
    let job = job_for(&state, &auth, form, &id).await?;
    let outcomes: Vec<&str> = match query.outcome.as_deref() {
        None | Some("") => Vec::new(),
        Some(outcome) => match OUTCOMES.iter().find(|known| **known == outcome) {
            Some(known) => vec![*known],
            None => return Err(ApiError::invalid(format!("outcome 只能是 {}", OUTCOMES.join(" / ")))),
        },
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let rows = state.store().form_import_rows(&job.id, &outcomes, query.after.unwrap_or(0), limit).await?;
    let next = (rows.len() as i64 == limit).then(|| rows.last().map(|row| row.row_no)).flatten();
    let columns = job_columns(form, &job);
    let items = rows.iter().map(|row| row_view(&state, Some((form, &columns)), row)).collect::<ApiResult<Vec<_>>>()?;
    Ok(axum::Json(json!({ "items": items, "next": next })))
}

#[derive(Deserialize)]
struct CommitBody {
    mode: CommitMode,
}

async fn api_commit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path((key, id)): Path<(String, String)>,
    body: Result<axum::Json<CommitBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let axum::Json(body) =
        body.map_err(|_| ApiError::invalid("请求体应为 {\"mode\": \"valid-only\" | \"all-or-nothing\"}"))?;
    let form = form_for(catalog(&state), &auth, &key, Action::Create)?;
    let job = commit(&state, &auth, &ip, form, &id, body.mode).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(job_json(&job, form))).into_response())
}

/// The reasons of a bad row, one per line.
fn reasons(errors: &[CellError]) -> String {
    errors
        .iter()
        .map(|error| {
            if error.column.is_empty() {
                error.message.clone()
            } else {
                format!("{}：{}", error.column, error.message)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `GET …/imports/{id}/errors.xlsx`: the bad rows as uploaded, with 错误原因.
async fn errors_workbook(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let form = form_for(catalog(&state), &auth, &key, Action::Create)?;
    let job = job_for(&state, &auth, form, &id).await?;
    let mut rows = Vec::new();
    let mut after = 0;
    loop {
        let batch = state.store().form_import_rows(&job.id, &["error"], after, 1_000).await?;
        let Some(last) = batch.last() else { break };
        after = last.row_no;
        for row in &batch {
            let view = row_view(&state, None, row)?;
            rows.push((view.cells, reasons(&view.errors)));
        }
    }
    let headers = headers_of(&job);
    let bytes = tokio::task::spawn_blocking(move || forms::sheets::error_workbook(&headers, &rows))
        .await
        .map_err(|_| ApiError::Internal("the workbook writer stopped".into()))?
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(xlsx(bytes, &format!("{}-错误行.xlsx", form.name)))
}

async fn upload_page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    upload_screen(&state, &auth, &key, None).await
}

async fn upload_screen(state: &AppState, auth: &Auth, key: &str, error: Option<String>) -> ApiResult<Response> {
    let catalog = catalog(state);
    let form = form_for(catalog, auth, key, Action::Create)?;
    let mut context = Context::new();
    context.insert("form", &json!({ "key": form.key, "name": form.name }));
    let fields: Vec<Value> = import::importable(form)
        .map(|field| json!({ "label": field.label, "required": field.required, "help": field.help }))
        .collect();
    context.insert("fields", &fields);
    let matched = form.import_match.as_deref().and_then(|key| form.field(key)).map(|field| field.label.clone());
    context.insert("match_label", &matched);
    context.insert("max_mb", &(import::MAX_BYTES / 1024 / 1024));
    context.insert("max_rows", &import::MAX_ROWS);
    context.insert("error", &error);
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut response = screen(state, auth, &format!("form:{}", form.key), "form_import.html", context).await?;
    *response.status_mut() = status;
    Ok(response)
}

async fn page_start(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    form_for(catalog(&state), &auth, &key, Action::Create)?;
    let started = match upload_of(multipart).await {
        Ok((name, bytes)) => start(&state, &auth, &key, name, bytes).await,
        Err(error) => Err(error),
    };
    match started {
        Ok(job) => see_other(&format!("/admin/forms/{key}/imports/{}", job.id)),
        Err(error) if error.status().is_client_error() && !error.is_not_found() => {
            upload_screen(&state, &auth, &key, Some(error.public_message())).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Deserialize, Default)]
struct JobShown {
    notice: Option<String>,
    error: Option<String>,
}

async fn job_page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
    shown: Result<Query<JobShown>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let shown = shown.map(|Query(shown)| shown).unwrap_or_default();
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Create)?;
    let job = job_for(&state, &auth, form, &id).await?;
    let store = state.store();
    let columns = job_columns(form, &job);
    let errors = store
        .form_import_rows(&job.id, &["error"], 0, 200)
        .await?
        .iter()
        .map(|row| row_view(&state, Some((form, &columns)), row))
        .collect::<ApiResult<Vec<_>>>()?;
    let preview = store
        .form_import_rows(&job.id, &["new", "update"], 0, 20)
        .await?
        .iter()
        .map(|row| preview_view(&state, catalog, form, &columns, row))
        .collect::<ApiResult<Vec<_>>>()?;
    let counts = counts_of(&job);
    let mut context = Context::new();
    context.insert("form", &json!({ "key": form.key, "name": form.name }));
    context.insert("job", &job_json(&job, form));
    context.insert("headers", &headers_of(&job));
    context.insert("counts", &counts);
    let percent = if job.total > 0 { job.processed * 100 / job.total } else { 0 };
    context.insert("percent", &percent);
    context.insert("working", &matches!(job.status.as_str(), "validating" | "committing"));
    context.insert("errors", &errors);
    context.insert("preview", &preview);
    context.insert("may_commit", &(job.status == "ready" && counts.new + counts.update > 0));
    context.insert("notice", &shown.notice);
    context.insert("refusal", &shown.error);
    screen(&state, &auth, &format!("form:{}", form.key), "form_import_job.html", context).await
}

#[derive(Deserialize)]
struct CommitForm {
    mode: CommitMode,
}

async fn page_commit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path((key, id)): Path<(String, String)>,
    body: Result<axum::Form<CommitForm>, axum::extract::rejection::FormRejection>,
) -> ApiResult<Response> {
    let axum::Form(body) = body.map_err(|_| ApiError::invalid("请选择导入方式"))?;
    let form = form_for(catalog(&state), &auth, &key, Action::Create)?;
    let back = format!("/admin/forms/{key}/imports/{id}");
    match commit(&state, &auth, &ip, form, &id, body.mode).await {
        Ok(_) => see_other(&back),
        Err(error) if error.status().is_client_error() && !error.is_not_found() => {
            let message: String = form_urlencoded::byte_serialize(error.public_message().as_bytes()).collect();
            see_other(&format!("{back}?error={message}"))
        }
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::is_upload_screen;

    #[test]
    fn only_import_screens_take_uploads() {
        assert!(is_upload_screen("/admin/forms/lawyer/import"));
        assert!(!is_upload_screen("/admin/forms//import"));
        assert!(!is_upload_screen("/admin/forms/lawyer/x/import"));
        assert!(!is_upload_screen("/admin/forms/lawyer"));
    }
}
