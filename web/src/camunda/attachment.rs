//! `/task/{id}/attachment`: Camunda's task attachments, kept as approval records (operation
//! `attachment`) so they show in the timeline. Content goes through the approval layer's files
//! (`crate::files`): its type is checked by its first bytes, it is stored sealed and bound to
//! the task's instance at once, and every download is audited. A URL attachment has no content.
//! Deleting one appends an `attachment-removed` record; history is never rewritten.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use runtime::operations::OperationInput;
use serde_json::{Value as Json_, json};
use store::approval::ApprovalRecord;

use super::format_time;
use crate::error::{ApiError, ApiResult};
use crate::identity::{Auth, ClientIp, audit, entry};
use crate::routes::{ENGINE_USE, Routes};
use crate::{AppState, CurrentUser};

pub(super) fn router() -> Routes {
    Routes::new()
        .get("/task/{id}/attachment", ENGINE_USE, list)
        .post("/task/{id}/attachment/create", ENGINE_USE, create)
        .get("/task/{id}/attachment/{attachment_id}", ENGINE_USE, one)
        .delete("/task/{id}/attachment/{attachment_id}", ENGINE_USE, remove)
        .get("/task/{id}/attachment/{attachment_id}/data", ENGINE_USE, data)
}

fn attachment_json(record: &ApprovalRecord) -> Json_ {
    let detail: Json_ = record.detail.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
    let task_id = record.task_id.clone().unwrap_or_default();
    json!({
        "id": record.id,
        "name": detail["name"],
        "description": detail["description"],
        "type": detail["type"],
        "url": detail["url"],
        "taskId": task_id,
        "processInstanceId": record.instance_id,
        "rootProcessInstanceId": record.instance_id,
        "createTime": format_time(record.at),
        "removalTime": null,
        "links": [{ "method": "GET", "href": format!("/task/{task_id}/attachment/{}", record.id), "rel": "self" }],
    })
}

/// The task's attachments that have not been removed, oldest first.
async fn attachments(state: &AppState, id: &str) -> ApiResult<Vec<ApprovalRecord>> {
    let instance_id = super::task::task_instance(state, id).await?;
    let records = state.store().approval_records(&instance_id).await?;
    let removed: Vec<String> = records
        .iter()
        .filter(|record| record.operation == "attachment-removed")
        .filter_map(|record| record.detail.as_deref())
        .filter_map(|detail| serde_json::from_str::<Json_>(detail).ok())
        .filter_map(|detail| detail["attachment"].as_str().map(str::to_string))
        .collect();
    Ok(records
        .into_iter()
        .filter(|record| record.operation == "attachment" && record.task_id.as_deref() == Some(id))
        .filter(|record| !removed.contains(&record.id))
        .collect())
}

/// An open task the caller may work on; one outside their scope is Camunda's 400 for
/// attachments.
async fn open_task(state: &AppState, auth: &Auth, id: &str) -> ApiResult<store::TaskRecord> {
    super::task::writable(state, auth, id).await.map_err(|error| match error {
        ApiError::NotFound(_) => ApiError::BadRequest(format!("No task found for task id {id}")),
        other => other,
    })
}

async fn find(state: &AppState, id: &str, attachment_id: &str) -> ApiResult<ApprovalRecord> {
    attachments(state, id).await?.into_iter().find(|record| record.id == attachment_id).ok_or_else(|| {
        ApiError::NotFound(format!("Task attachment with id {attachment_id} does not exist for task id {id}."))
    })
}

async fn list(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Json_>> {
    Ok(Json(attachments(&state, &id).await?.iter().map(attachment_json).collect()))
}

async fn one(
    State(state): State<AppState>,
    Path((id, attachment_id)): Path<(String, String)>,
) -> ApiResult<Json<Json_>> {
    Ok(Json(attachment_json(&find(&state, &id, &attachment_id).await?)))
}

/// `GET …/data`: the attachment's content (audited, as every file download).
async fn data(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    ClientIp(ip): ClientIp,
    Path((id, attachment_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let record = find(&state, &id, &attachment_id).await?;
    let detail: Json_ = record.detail.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
    let Some(file_id) = detail["file"]["id"].as_str() else {
        return Err(ApiError::NotFound(format!(
            "Attachment content for attachment with id {attachment_id} does not exist"
        )));
    };
    let (file, content) = crate::files::open_file(&state, file_id).await?.ok_or_else(|| {
        ApiError::NotFound(format!("Attachment content for attachment with id {attachment_id} does not exist"))
    })?;
    audit(&state, entry(Some(&actor.0), &ip, "file.download", Some(file_id), "success")).await?;
    crate::files::file_response(&file, content)
}

/// `POST …/create` (multipart): `attachment-name`, `attachment-description`, `attachment-type`,
/// and `url` or `content` (a file).
async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Json_>> {
    let (mut name, mut description, mut kind, mut url, mut content) = (None, None, None, None, None);
    for part in super::form_parts(multipart, "an attachment").await? {
        match part.name.as_str() {
            "attachment-name" => name = Some(part.field()?),
            "attachment-description" => description = Some(part.field()?),
            "attachment-type" => kind = Some(part.field()?),
            "url" => url = Some(part.field()?).filter(|url| !url.trim().is_empty()),
            "content" => content = Some((part.file_name, part.bytes)),
            _ => {}
        }
    }
    let task = open_task(&state, &auth, &id).await?;
    let name = name.filter(|name| !name.trim().is_empty());
    let mut detail = json!({ "name": name, "description": description, "type": kind, "url": url });
    match (&content, &url) {
        (Some((file_name, bytes)), None) => {
            // The file's own name decides its type when it has an extension; else the attachment's.
            let named = file_name.as_deref().filter(|file| file.contains('.')).or(name.as_deref()).unwrap_or_default();
            // Stored unbound; the attachment's record binds it (an upload whose record fails
            // is removed with the other unused uploads).
            let file = crate::files::store_file(&state, &actor.0, named, bytes).await?;
            detail["file"] = json!({ "id": file.id, "name": file.name, "contentType": file.content_type, "size": file.size, "sm3": file.digest });
            if detail["name"].is_null() {
                detail["name"] = json!(file.name);
            }
        }
        (None, Some(_)) => {}
        _ => return Err(ApiError::BadRequest("an attachment needs either a url or a content part".into())),
    }
    let input = OperationInput { detail: Some(detail), ..OperationInput::by(&actor.0) };
    let record = state.executor.note(&task, "attachment", input).await?;
    Ok(Json(attachment_json(&record)))
}

/// `DELETE …/{attachmentId}`: hides the attachment (recorded as `attachment-removed`).
async fn remove(
    State(state): State<AppState>,
    Extension(actor): Extension<CurrentUser>,
    Extension(auth): Extension<Auth>,
    Path((id, attachment_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    find(&state, &id, &attachment_id).await?;
    let task = open_task(&state, &auth, &id).await?;
    let input = OperationInput { detail: Some(json!({ "attachment": attachment_id })), ..OperationInput::by(&actor.0) };
    state.executor.note(&task, "attachment-removed", input).await?;
    Ok(StatusCode::NO_CONTENT)
}
