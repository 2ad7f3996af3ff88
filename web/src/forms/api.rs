//! `/api/forms`: the forms a caller may read, each form's description (fields, types,
//! options, constraints — what a client or the browser's hints are built from), and the
//! records: `GET|POST /api/forms/{form}/records` (filters, sort, `page` / `pageSize` →
//! `{items, total}`), `GET|PUT|DELETE /api/forms/{form}/records/{id}` (PUT and DELETE name the
//! version they read: a stale one is 409 `stale-version`), its history, restore, and export.
//! A validation failure is 422 `validation-failed` with every failing field in `errors`.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use forms::records::{self, Record};
use forms::{Catalog, Form, Mode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Action, actor, api_value, catalog, form_for, list_request, may, refused};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::{Auth, ClientIp};
use crate::routes::{Need, Routes};

pub(crate) fn router() -> Routes {
    Routes::new()
        .get("/forms", Need::SignedIn, list_forms)
        .get("/forms/{form}", Need::SignedIn, describe_form)
        .get("/forms/{form}/records", Need::SignedIn, list_records)
        .post("/forms/{form}/records", Need::SignedIn, create_record)
        .get("/forms/{form}/records/{id}", Need::SignedIn, get_record)
        .put("/forms/{form}/records/{id}", Need::SignedIn, update_record)
        .delete("/forms/{form}/records/{id}", Need::SignedIn, delete_record)
        .get("/forms/{form}/records/{id}/history", Need::SignedIn, record_history)
        .post("/forms/{form}/records/{id}/restore", Need::SignedIn, restore_record)
        .post("/forms/{form}/records/{id}/actions/{action}", Need::SignedIn, record_action)
        .post("/forms/{form}/records/{id}/submit", Need::SignedIn, submit_record)
        .get("/forms/{form}/records/{id}/instances", Need::SignedIn, record_instances)
        .get("/forms/{form}/views", Need::SignedIn, list_views)
        .post("/forms/{form}/bulk", Need::SignedIn, bulk)
        .post("/forms/{form}/views", Need::SignedIn, save_view)
        .delete("/forms/{form}/views/{id}", Need::SignedIn, delete_view)
        .get("/forms/{form}/export", Need::SignedIn, super::export::api_export)
        .get("/forms/{form}/files/{file}", Need::SignedIn, download_file)
        .merge(super::import::api_router())
}

/// A form as clients read it: enough to render it and to check input before sending (the
/// server checks again).
pub(crate) fn description(catalog: &Catalog, form: &Form) -> Value {
    let fields: Vec<Value> =
        form.fields
            .iter()
            .map(|field| {
                let options: Option<Vec<Value>> = field.dict.as_deref().and_then(|key| catalog.dict(key)).map(|dict| {
                    dict.items.iter().map(|(code, label)| json!({ "code": code, "label": label })).collect()
                });
                json!({
                    "key": field.key,
                    "label": field.label,
                    "type": field.kind.name(),
                    "required": field.required,
                    "unique": field.unique,
                    "sensitive": field.sensitive,
                    "filter": field.filter,
                    "sort": field.sortable,
                    "minLength": field.min_length,
                    "maxLength": field.max_length,
                    "pattern": field.pattern.as_ref().map(|pattern| pattern.as_str().to_string()),
                    "scale": field.kind.is_ordered().then_some(field.scale),
                    "options": options,
                    "visibleWhen": field.visible_when_source,
                    "requiredWhen": field.required_when_source,
                    "help": field.help,
                    // A reference: the form its records come from (`GET /api/forms/{form}/records`).
                    "form": field.target,
                    // A file or image field: upload with `POST /api/files`, then name the ids.
                    "accept": field.kind.is_upload().then_some(&field.accept),
                    "maxFiles": field.kind.is_upload().then_some(field.max_files),
                    "maxBytes": field.kind.is_upload().then_some(field.max_bytes),
                    // A sub-table: its columns, described like fields.
                    "columns": (field.kind == forms::FieldKind::Table).then(|| field.columns.iter().map(|column| json!({
                        "key": column.key,
                        "label": column.label,
                        "type": column.kind.name(),
                        "required": column.required,
                        "options": column.dict.as_deref().and_then(|key| catalog.dict(key)).map(|dict| {
                            dict.items.iter().map(|(code, label)| json!({ "code": code, "label": label })).collect::<Vec<_>>()
                        }),
                    })).collect::<Vec<_>>()),
                    "minRows": (field.kind == forms::FieldKind::Table).then_some(field.rows.0),
                    "maxRows": (field.kind == forms::FieldKind::Table).then_some(field.rows.1),
                })
            })
            .collect();
    json!({
        "key": form.key,
        "name": form.name,
        "group": form.group,
        "catalogue": form.catalogue,
        "description": form.description,
        "title": form.title,
        "districtField": form.district,
        "listColumns": form.list_columns,
        "exportColumns": form.export_columns,
        "fields": fields,
        "actions": form.actions.iter().map(|action| json!({ "key": action.key, "label": action.label, "confirm": action.confirm })).collect::<Vec<_>>(),
    })
}

/// A record as the API answers it. Sensitive values are masked unless `unmask`.
pub(crate) fn record_json(catalog: &Catalog, form: &Form, record: &Record, unmask: bool) -> Value {
    let mut values = Map::new();
    let mut display = Map::new();
    for field in &form.fields {
        if let Some(value) = record.values.get(&field.key) {
            values.insert(field.key.clone(), api_value(field, value, unmask));
            display.insert(field.key.clone(), Value::String(super::shown(catalog, field, Some(value), unmask)));
        }
    }
    json!({
        "id": record.id,
        "version": record.version,
        "title": record.title,
        "district": record.district,
        "values": values,
        "display": display,
        "deleted": record.deleted_at.is_some(),
        "createdBy": record.created_by,
        "createdAt": record.created_at,
        "updatedBy": record.updated_by,
        "updatedAt": record.updated_at,
    })
}

async fn list_forms(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> Json<Value> {
    let catalog = catalog(&state);
    let items: Vec<Value> = catalog
        .forms()
        .filter(|form| may(&auth, form, Action::Read))
        .map(|form| {
            json!({
                "key": form.key,
                "name": form.name,
                "group": form.group,
                "catalogue": form.catalogue,
                "may": {
                    "create": may(&auth, form, Action::Create),
                    "update": may(&auth, form, Action::Update),
                    "delete": may(&auth, form, Action::Delete),
                    "export": may(&auth, form, Action::Export),
                },
            })
        })
        .collect();
    Json(Value::Array(items))
}

async fn describe_form(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
) -> ApiResult<Json<Value>> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Read)?;
    Ok(Json(description(catalog, form)))
}

/// The query's pairs in order (repeated names kept).
pub(crate) fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

async fn list_records(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Read)?;
    let request = list_request(form, &pairs(raw.as_deref()), 20);
    let (items, total) =
        records::list(state.store().as_ref(), state.security.crypto.as_ref(), form, &actor(&auth), &request)
            .await
            .map_err(refused)?;
    let items: Vec<Value> = items.iter().map(|record| record_json(catalog, form, record, false)).collect();
    Ok(Json(json!({ "items": items, "total": total })))
}

/// A body that must be a JSON object of field values.
fn values_of(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(values) => Ok(values),
        _ => Err(ApiError::invalid("请求体应为字段值的 JSON 对象 (the body must be a JSON object)")),
    }
}

async fn create_record(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Create)?;
    let values = values_of(body)?;
    let record = records::create(
        state.store().as_ref(),
        state.security.crypto.as_ref(),
        catalog,
        form,
        &actor(&auth),
        &values,
        Mode::Strict,
        None,
    )
    .await
    .map_err(refused)?;
    Ok((StatusCode::CREATED, Json(record_json(catalog, form, &record, false))).into_response())
}

#[derive(Deserialize, Default)]
pub(crate) struct Unmask {
    #[serde(default)]
    unmask: Option<String>,
}

async fn get_record(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path((key, id)): Path<(String, String)>,
    Query(query): Query<Unmask>,
) -> ApiResult<Json<Value>> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Read)?;
    let record = records::get(state.store().as_ref(), state.security.crypto.as_ref(), form, &actor(&auth), &id)
        .await
        .map_err(refused)?;
    let wants = query.unmask.as_deref().is_some_and(|value| value == "1" || value == "true");
    let unmask = wants && unmask_allowed(&state, &auth, &ip, form, &id).await?;
    Ok(Json(record_json(catalog, form, &record, unmask)))
}

/// Whether the caller may see a record's sensitive values in full: `pii:unmask`, recorded in
/// the audit log either way. Refused is an error, not a silent mask.
pub(crate) async fn unmask_allowed(state: &AppState, auth: &Auth, ip: &str, form: &Form, id: &str) -> ApiResult<bool> {
    let allowed = auth.principal.can("pii:unmask");
    let target = format!("{}/{id}", form.key);
    let outcome = if allowed { "success" } else { "denied" };
    crate::identity::audit(
        state,
        crate::identity::entry(Some(&auth.principal.account.id), ip, "pii.unmask", Some(&target), outcome),
    )
    .await?;
    if !allowed {
        return Err(ApiError::forbidden("没有查看完整敏感信息的权限"));
    }
    Ok(true)
}

#[derive(Deserialize)]
struct Update {
    version: i64,
    values: Value,
}

async fn update_record(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Update)?;
    let update: Update = serde_json::from_value(body).map_err(|_| {
        ApiError::invalid(
            "请求体应为 {\"version\": 读取时的版本号, \"values\": {…}} (the body needs version and values)",
        )
    })?;
    let values = values_of(update.values)?;
    let record = records::update(
        state.store().as_ref(),
        state.security.crypto.as_ref(),
        catalog,
        form,
        &actor(&auth),
        &id,
        update.version,
        &values,
        Mode::Strict,
        None,
    )
    .await
    .map_err(refused)?;
    Ok(Json(record_json(catalog, form, &record, false)))
}

#[derive(Deserialize)]
struct Version {
    version: i64,
}

async fn delete_record(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
    query: Result<Query<Version>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<StatusCode> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Delete)?;
    let Query(version) =
        query.map_err(|_| ApiError::invalid("删除需要读取时的版本号 ?version=N (version is required)"))?;
    records::delete(state.store().as_ref(), state.security.crypto.as_ref(), form, &actor(&auth), &id, version.version)
        .await
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/forms/{form}/records/{id}/actions/{action}` with `{"version": N}`.
async fn record_action(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path((key, id, action)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Read)?;
    let Some(version) = body.get("version").and_then(Value::as_i64) else {
        return Err(ApiError::invalid("需要读取时的版本号 {\"version\": N} (version is required)"));
    };
    let record = super::run_action(&state, &auth, &ip, form, &id, version, &action).await?;
    Ok(Json(record_json(catalog, form, &record, false)))
}

/// `POST /api/forms/{form}/records/{id}/submit` with `{"version": N}` (`[workflow]`): 201
/// with the new instance.
async fn submit_record(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    let form = form_for(catalog(&state), &auth, &key, Action::Read)?;
    let Some(version) = body.get("version").and_then(Value::as_i64) else {
        return Err(ApiError::invalid("需要读取时的版本号 {\"version\": N} (version is required)"));
    };
    let instance = super::submit_record(&state, &auth, form, &id, version).await?;
    let answer = serde_json::json!({
        "instanceId": instance.id,
        "definitionKey": instance.definition_key,
        "businessKey": instance.business_key,
    });
    Ok((axum::http::StatusCode::CREATED, Json(answer)))
}

/// `GET /api/forms/{form}/records/{id}/instances`: the instances the record was submitted to.
async fn record_instances(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<super::RecordInstance>>> {
    let form = form_for(catalog(&state), &auth, &key, Action::Read)?;
    records::get(state.store().as_ref(), state.security.crypto.as_ref(), form, &actor(&auth), &id)
        .await
        .map_err(refused)?;
    Ok(Json(super::record_instances(&state, form, &id).await?))
}

/// `POST /api/forms/{form}/bulk` with `{"action": "delete" | "action:<key>", "ids": […]}`:
/// each record as one by one, `{"results": [{id, title, ok, code, message}]}`.
async fn bulk(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path(key): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let form = form_for(catalog(&state), &auth, &key, Action::Read)?;
    let action = body.get("action").and_then(Value::as_str).unwrap_or_default();
    let bulk = super::Bulk::parse(action)
        .ok_or_else(|| ApiError::invalid("action 须为 delete 或 action:<操作> (unknown bulk action)"))?;
    let ids: Vec<String> = body
        .get("ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let results = super::run_bulk(&state, &auth, &ip, form, &bulk, &ids).await?;
    Ok(Json(json!({ "results": results })))
}

/// `GET /api/forms/{form}/views`: the caller's saved views of the form and the shared ones.
async fn list_views(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
) -> ApiResult<Json<Vec<super::ViewEntry>>> {
    let form = form_for(catalog(&state), &auth, &key, Action::Read)?;
    Ok(Json(super::views_for(&state, &auth, form).await?))
}

/// `POST /api/forms/{form}/views` with `{"name", "query", "shared"}`: 201 with the view.
async fn save_view(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<(axum::http::StatusCode, Json<super::ViewEntry>)> {
    let form = form_for(catalog(&state), &auth, &key, Action::Read)?;
    let text = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    let shared = body.get("shared").and_then(Value::as_bool).unwrap_or(false);
    let view = super::save_view(&state, &auth, form, &text("name"), &text("query"), shared).await?;
    Ok((axum::http::StatusCode::CREATED, Json(view)))
}

/// `DELETE /api/forms/{form}/views/{id}`: one of the caller's own views.
async fn delete_view(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
) -> ApiResult<axum::http::StatusCode> {
    let form = form_for(catalog(&state), &auth, &key, Action::Read)?;
    super::delete_view(&state, &auth, form, &id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn restore_record(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Delete)?;
    let record = records::restore(state.store().as_ref(), state.security.crypto.as_ref(), form, &actor(&auth), &id)
        .await
        .map_err(refused)?;
    Ok(Json(record_json(catalog, form, &record, false)))
}

async fn record_history(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((key, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let catalog = catalog(&state);
    let form = form_for(catalog, &auth, &key, Action::Read)?;
    let entries = records::history(state.store().as_ref(), state.security.crypto.as_ref(), form, &actor(&auth), &id)
        .await
        .map_err(refused)?;
    // Sensitive values are history too: masked like the record.
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|entry| {
            let changes: Vec<Value> = entry
                .changes
                .iter()
                .map(|change| {
                    let field = form.field(&change.field);
                    let value = |value: &Option<Value>| match (field, value) {
                        (Some(field), Some(value)) => api_value(field, value, false),
                        (_, value) => value.clone().unwrap_or(Value::Null),
                    };
                    json!({ "field": change.field, "old": value(&change.old), "new": value(&change.new) })
                })
                .collect();
            json!({ "at": entry.at, "actor": entry.actor, "action": entry.action, "taskId": entry.task_id, "changes": changes })
        })
        .collect();
    Ok(Json(Value::Array(entries)))
}

#[derive(Deserialize)]
struct FileAccess {
    /// The open task whose form shows the file (its handler may lack the form's read right).
    task: Option<String>,
}

/// `GET /api/forms/{form}/files/{file}`: a file of a file or image field — for whoever may read
/// the record that holds it (its form's read right and the record in their data scope), for
/// the handler of an open task whose form shows it (`?task=`), and for its uploader before a
/// save binds it. Anything else is 404, as if there were no such file; every answer is audited.
async fn download_file(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path((key, file_id)): Path<(String, String)>,
    Query(access): Query<FileAccess>,
) -> ApiResult<Response> {
    let user = auth.principal.account.id.clone();
    let stored = state.store().files(std::slice::from_ref(&file_id)).await?.into_iter().next();
    // The upload field that holds the file among those `shown`: whether it is sensitive.
    let holder = |values: &Map<String, Value>, form: &Form, shown: &dyn Fn(&forms::Field) -> bool| {
        form.fields
            .iter()
            .filter(|field| field.kind.is_upload() && shown(field))
            .find(|field| records::file_ids(values.get(&field.key)).contains(&file_id))
            .map(|field| field.sensitive)
    };
    // (allowed, the file is a sensitive field's, the record it belongs to)
    let (allowed, sensitive, record_id) = match (&stored, &access.task) {
        (None, _) => (false, false, None),
        (Some(file), Some(task)) => {
            match crate::approval::load_task_detail(&state, &auth, task).await {
                // Only a file of the record the instance was submitted from: the values of a
                // task form without one are process variables, which clients can set.
                Ok((_, Some(loaded)))
                    if loaded.task_form.form.key == key
                        && loaded.record.as_ref().is_some_and(|record| file.record_id.as_ref() == Some(&record.id)) =>
                {
                    let task_form = loaded.task_form;
                    match holder(&loaded.values, task_form.form, &|field| {
                        task_form.access(field) != forms::Access::Hidden
                    }) {
                        Some(sensitive) => (true, sensitive, file.record_id.clone()),
                        None => (false, false, None),
                    }
                }
                Ok(_) => (false, false, None),
                Err(error) if error.is_not_found() || error.status() == StatusCode::FORBIDDEN => (false, false, None),
                Err(error) => return Err(error),
            }
        }
        (Some(file), None) => match &file.record_id {
            None => (file.uploaded_by == user && file.instance_id.is_none(), false, None),
            Some(record_id) => match form_for(catalog(&state), &auth, &key, Action::Read) {
                Err(_) => (false, false, None),
                Ok(form) => {
                    match records::get(
                        state.store().as_ref(),
                        state.security.crypto.as_ref(),
                        form,
                        &actor(&auth),
                        record_id,
                    )
                    .await
                    {
                        // Any file the record was given (its history names the earlier ones); one
                        // no field holds now counts as sensitive when any upload field of the
                        // form is.
                        Ok(record) => {
                            let sensitive = holder(&record.values, form, &|_| true).unwrap_or_else(|| {
                                form.fields.iter().any(|field| field.kind.is_upload() && field.sensitive)
                            });
                            (true, sensitive, Some(record.id))
                        }
                        Err(records::RecordError::NotFound) => (false, false, None),
                        Err(other) => return Err(refused(other)),
                    }
                }
            },
        },
    };
    // A sensitive field's file (an identity card's scan) is opened like its masked values are:
    // with `pii:unmask`, audited as such (403 without it: the record itself is visible).
    if allowed
        && sensitive
        && let (Some(form), Some(record_id)) = (catalog(&state).form(&key), record_id.as_deref())
    {
        unmask_allowed(&state, &auth, &ip, form, record_id).await?;
    }
    let target = format!("{key}/{file_id}");
    let outcome = if allowed { "success" } else { "denied" };
    crate::identity::audit(
        &state,
        crate::identity::entry(Some(&user), &ip, "form.file.download", Some(&target), outcome),
    )
    .await?;
    let opened = if allowed { crate::files::open_file(&state, &file_id).await? } else { None };
    let Some((file, content)) = opened else {
        return Err(ApiError::not_found("文件不存在或无权查看 (no such file)"));
    };
    crate::files::file_response(&file, content)
}
