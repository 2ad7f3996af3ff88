//! Files of approval operations (issue 5: 通过 / 驳回 … with attachments and a signature image).
//!
//! `POST /api/files` uploads one file (multipart, field `file`) for the caller alone; an
//! operation names it in `attachments` or `signature`, which binds it to the instance
//! ([`attach`]); `GET /api/files/{id}` downloads it for its uploader and for whoever may open
//! a task of that instance. The type is decided by the file's first bytes and must match its
//! extension; the content is stored sealed (SM4-GCM through the node's crypto provider, bound
//! to the file id) with its SM3 digest, and every download (and refusal) is audited.

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use runtime::executor::now_millis;
use runtime::operations::OperationInput;
use serde_json::{Value as JsonValue, json};
use store::approval::StoredFile;

use crate::AppState;
use crate::approval::{OperationBody, caller, involved, visible_instance};
use crate::error::{ApiError, ApiResult};
use crate::identity::{Auth, ClientIp, audit, entry};
use crate::routes::{Need, Routes};

pub use forms::uploads::MAX_FILE_BYTES;
/// At most this many files on one operation.
const MAX_ATTACHMENTS: usize = 20;
/// Uploads no operation used are removed after a day.
const UNBOUND_TTL_MS: i64 = 24 * 3600 * 1000;

pub fn router() -> Routes {
    Routes::new().post("/files", Need::SignedIn, upload).get("/files/{id}", Need::SignedIn, download)
}

fn too_large() -> ApiError {
    ApiError::coded(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        format!("文件不能超过 {} MB (file too large)", MAX_FILE_BYTES / 1024 / 1024),
    )
}

/// The file name as given, without any path, or a refusal.
fn clean_name(raw: &str) -> ApiResult<String> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("文件名无效 (invalid file name)"));
    }
    Ok(name.to_string())
}

/// The content type of a file by its bytes and extension ([`forms::uploads::sniff`]).
fn sniff(name: &str, content: &[u8]) -> ApiResult<&'static str> {
    forms::uploads::sniff(name, content).map_err(|refusal| match refusal {
        forms::uploads::Refusal::UnknownType => ApiError::invalid(
            "不支持的文件类型，可上传 png、jpg、pdf、ofd、doc、docx、xls、xlsx (unsupported file type)",
        ),
        forms::uploads::Refusal::Mismatch => {
            ApiError::invalid("文件内容与扩展名不符 (the content does not match the extension)")
        }
    })
}

/// What a file's sealed content is bound to.
pub(crate) fn file_aad(id: &str) -> Vec<u8> {
    format!("file:{id}").into_bytes()
}

/// What the API says about a file.
fn file_json(file: &StoredFile) -> JsonValue {
    json!({ "id": file.id, "name": file.name, "contentType": file.content_type, "size": file.size, "sm3": file.digest })
}

/// `POST /api/files`: one file in the multipart field `file` → 201 with its id.
async fn upload(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let mut multipart =
        multipart.map_err(|error| ApiError::invalid(format!("请求内容无效 (invalid body): {error}")))?;
    let mut upload = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(error) => return Err(ApiError::invalid(format!("请求内容无效 (invalid body): {error}"))),
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_string();
        let content = match field.bytes().await {
            Ok(content) => content,
            Err(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(error) => return Err(ApiError::invalid(format!("请求内容无效 (invalid body): {error}"))),
        };
        upload = Some((name, content));
    }
    let (name, content) = upload.ok_or_else(|| ApiError::invalid("请选择文件 (multipart field 'file' required)"))?;
    let file = store_file(&state, &auth.principal.account.id, &name, &content).await?;
    Ok((StatusCode::CREATED, Json(file_json(&file))).into_response())
}

/// Checks and stores a file `user` uploads, sealed and not yet bound to an instance: the record
/// of the operation that uses it binds it.
pub(crate) async fn store_file(state: &AppState, user: &str, name: &str, content: &[u8]) -> ApiResult<StoredFile> {
    let name = clean_name(name)?;
    if content.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    if content.is_empty() {
        return Err(ApiError::invalid("文件为空 (empty file)"));
    }
    let content_type = sniff(&name, content)?;
    let now = now_millis();
    let file = StoredFile {
        id: store::new_id(),
        name,
        content_type: content_type.to_string(),
        size: content.len() as i64,
        digest: crypto::sm3_hex(content),
        uploaded_by: user.to_string(),
        uploaded_at: now,
        instance_id: None,
        record_id: None,
    };
    let sealed = state
        .security
        .crypto
        .encrypt(content, &file_aad(&file.id))
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    state.store().insert_file(&file, &sealed, now - UNBOUND_TTL_MS).await?;
    Ok(file)
}

/// A stored file with its content opened, or `None` when there is no such file.
pub(crate) async fn open_file(state: &AppState, id: &str) -> ApiResult<Option<(StoredFile, Vec<u8>)>> {
    let Some((file, sealed)) = state.store().file_content(id).await? else { return Ok(None) };
    let content = unseal(state, &file, &sealed)?;
    Ok(Some((file, content)))
}

fn unseal(state: &AppState, file: &StoredFile, sealed: &[u8]) -> ApiResult<Vec<u8>> {
    state.security.crypto.decrypt(sealed, &file_aad(&file.id)).map_err(|error| ApiError::Internal(error.to_string()))
}

/// `GET /api/files/{id}`: the file, for its uploader, or for whoever may open a task of the
/// instance it is attached to. Anything else is 404, as if there were no such file.
async fn download(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&state, &auth).await?;
    let found = state.store().file_content(&id).await?;
    let allowed = match &found {
        None => false,
        // A file a form record holds is the record's: served through it (`/api/forms/…/files`).
        Some((file, _)) if file.record_id.is_some() => false,
        Some((file, _)) if file.uploaded_by == caller.id => true,
        Some((StoredFile { instance_id: Some(instance_id), .. }, _)) => {
            match visible_instance(&state, instance_id).await {
                Ok(instance) => involved(&state, &caller, &instance, None).await?,
                Err(error) if error.is_not_found() => false,
                Err(error) => return Err(error),
            }
        }
        Some(_) => false,
    };
    let Some((file, sealed)) = found.filter(|_| allowed) else {
        audit(&state, entry(Some(&caller.id), &ip, "file.download", Some(&id), "denied")).await?;
        return Err(ApiError::not_found("文件不存在或无权查看 (no such file)"));
    };
    let content = unseal(&state, &file, &sealed)?;
    audit(&state, entry(Some(&caller.id), &ip, "file.download", Some(&id), "success")).await?;
    file_response(&file, content)
}

/// A file's bytes with its content type; images inline, other files as attachments.
pub(crate) fn file_response(file: &StoredFile, content: Vec<u8>) -> ApiResult<Response> {
    let disposition = if file.content_type.starts_with("image/") { "inline" } else { "attachment" };
    let extension = file.name.rsplit_once('.').map(|(_, extension)| extension).unwrap_or("bin");
    let disposition =
        format!("{disposition}; filename=\"file.{extension}\"; filename*=UTF-8''{}", percent_encode(&file.name));
    Response::builder()
        .header(header::CONTENT_TYPE, &file.content_type)
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(header::CACHE_CONTROL, "private, no-store")
        .body(Body::from(content))
        .map_err(|error| ApiError::Internal(error.to_string()))
}

/// RFC 8187 value characters kept, everything else as `%XX` of its UTF-8 bytes.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The files an operation names: each must be the caller's upload, not attached to another
/// instance, and the signature an image. They are described in the operation's record
/// (`detail.attachments`, `detail.signature`), whose insertion binds them to the instance in the
/// operation's own transaction, so a refused or lost operation binds nothing.
pub(crate) async fn attach(
    state: &AppState,
    user: &str,
    instance_id: &str,
    body: &OperationBody,
    mut input: OperationInput,
) -> ApiResult<OperationInput> {
    let mut ids = body.attachments.clone();
    if ids.len() > MAX_ATTACHMENTS {
        return Err(ApiError::invalid(format!("附件不能超过 {MAX_ATTACHMENTS} 个 (too many attachments)")));
    }
    ids.extend(body.signature.iter().cloned());
    if ids.is_empty() {
        return Ok(input);
    }
    ids.sort();
    ids.dedup();
    let files = state.store().files(&ids).await?;
    let usable = |id: &str| {
        files.iter().find(|file| {
            file.id == id
                && file.uploaded_by == user
                && file.record_id.is_none()
                && file.instance_id.as_deref().is_none_or(|bound| bound == instance_id)
        })
    };
    let mut detail = serde_json::Map::new();
    let mut attachments = Vec::new();
    for id in &body.attachments {
        let file = usable(id)
            .ok_or_else(|| ApiError::invalid(format!("附件不存在或不可用：{id} (not one of your uploads)")))?;
        attachments.push(file_json(file));
    }
    if !attachments.is_empty() {
        detail.insert("attachments".into(), JsonValue::Array(attachments));
    }
    if let Some(id) = &body.signature {
        let file = usable(id)
            .ok_or_else(|| ApiError::invalid(format!("签名图片不存在或不可用：{id} (not one of your uploads)")))?;
        if !file.content_type.starts_with("image/") {
            return Err(ApiError::invalid("签名须为 png 或 jpg 图片 (the signature must be a PNG or JPEG image)"));
        }
        detail.insert("signature".into(), file_json(file));
    }
    // Bound by the operation's record, in the operation's own transaction.
    input.detail = Some(JsonValue::Object(detail));
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_paths_and_control_characters_are_refused() {
        assert_eq!(clean_name("C:\\Users\\王\\申请表.pdf").ok().as_deref(), Some("申请表.pdf"));
        assert_eq!(clean_name("../../etc/passwd.pdf").ok().as_deref(), Some("passwd.pdf"));
        assert!(clean_name("a\nb.pdf").is_err());
        assert!(clean_name("dir/").is_err());
        assert_eq!(percent_encode("申 a.pdf"), "%E7%94%B3%20a.pdf");
    }
}
