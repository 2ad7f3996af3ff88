//! The process administrator's BPMN editor (issue 12): `/admin/processes/new` (a new model from
//! the template: a start event, one user task, an end) and `/admin/processes/{key}/editor`
//! (the latest version, or `?draft=ID`), and the JSON calls the page makes:
//!
//! - `POST /api/process-models/check` — the checks of a deploy (`Executor::check_model`, the
//!   same as `shuangyong check`), nothing stored; each problem names its element so the editor
//!   marks it.
//! - `GET /api/process-drafts?key=K`, `POST /api/process-drafts` (a new draft, or with `id` and
//!   the `revision` the editor loaded: a save over it; a save over someone else's newer save
//!   is a 409), `DELETE /api/process-drafts/{id}`.
//! - `POST /api/process-drafts/{id}/deploy` with the `revision` the editor shows: the draft as
//!   the key's next version through `Executor::deploy`, recorded on the draft.
//!
//! Drafts are kept per process key (the `bpmn:process` id in the XML), several per key, with
//! who made them, who saved them last and when. The selects of the `sy:` group (users, roles,
//! handlers) come from the page's `data-choices`, filled here from the accounts and roles the
//! administrator may see.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use runtime::executor::{Upload, now_millis};
use serde::{Deserialize, Serialize};
use store::identity::AccountQuery;
use store::{DefinitionQuery, ProcessDraft, new_id};

use super::inbox::shanghai;
use super::screen;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Auth;
use crate::routes::{ENGINE_DEPLOY, Routes};
use crate::templates::Context;

/// The largest model the editor stores (bpmn-js files of a few hundred elements are ~200 KB).
/// The request body may be twice as large: JSON escapes every `"` of the XML, and
/// `model_text` gives the real limit its own 413.
pub(crate) const MAX_MODEL_BYTES: usize = 1024 * 1024;

/// A new model: a start event, one user task and an end, with their shapes. `{key}` is the
/// process id, unique until the administrator renames it.
const TEMPLATE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_{key}" targetNamespace="http://shuangyong.sh.gov.cn/bpmn">
  <bpmn:process id="{key}" name="新流程" isExecutable="true">
    <bpmn:startEvent id="start" name="提交">
      <bpmn:outgoing>toReview</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="review" name="审核" camunda:candidateGroups="district-staff">
      <bpmn:incoming>toReview</bpmn:incoming>
      <bpmn:outgoing>toEnd</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end" name="结束">
      <bpmn:incoming>toEnd</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="toReview" sourceRef="start" targetRef="review" />
    <bpmn:sequenceFlow id="toEnd" sourceRef="review" targetRef="end" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_{key}">
    <bpmndi:BPMNPlane id="Plane_{key}" bpmnElement="{key}">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="152" y="102" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="review_di" bpmnElement="review"><dc:Bounds x="250" y="80" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end"><dc:Bounds x="412" y="102" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="toReview_di" bpmnElement="toReview"><di:waypoint x="188" y="120" /><di:waypoint x="250" y="120" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="toEnd_di" bpmnElement="toEnd"><di:waypoint x="350" y="120" /><di:waypoint x="412" y="120" /></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"#;

pub fn api_router() -> Routes {
    Routes::new()
        .post("/process-models/check", ENGINE_DEPLOY, check)
        .get("/process-drafts", ENGINE_DEPLOY, list_drafts)
        .post("/process-drafts", ENGINE_DEPLOY, save)
        .delete("/process-drafts/{id}", ENGINE_DEPLOY, delete)
        .post("/process-drafts/{id}/deploy", ENGINE_DEPLOY, deploy)
        .with_router(|router| router.layer(axum::extract::DefaultBodyLimit::max(2 * MAX_MODEL_BYTES + 4096)))
}

/// One problem of a model, on its element when it has one.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ModelProblem {
    element_id: Option<String>,
    element_type: String,
    /// In Chinese where `problems::chinese` knows the problem, else as the engine says it.
    message: String,
    /// The engine's own (English) words, when `message` is a translation.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// `POST /api/process-models/check`: whether a deploy would take the model, and why not.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckAnswer {
    valid: bool,
    /// The processes the file holds (id, name).
    processes: Vec<ProcessName>,
    problems: Vec<ModelProblem>,
    warnings: Vec<ModelProblem>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ProcessName {
    id: String,
    name: Option<String>,
}

/// A draft as the API answers it (without its XML in lists).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DraftAnswer {
    id: String,
    process_key: String,
    name: Option<String>,
    revision: i64,
    created_by: String,
    created_at: i64,
    saved_by: String,
    saved_at: i64,
    deployed_definition_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xml: Option<String>,
}

impl DraftAnswer {
    fn of(draft: ProcessDraft, with_xml: bool) -> Self {
        DraftAnswer {
            id: draft.id,
            process_key: draft.process_key,
            name: draft.name,
            revision: draft.revision,
            created_by: draft.created_by,
            created_at: draft.created_at,
            saved_by: draft.saved_by,
            saved_at: draft.saved_at,
            deployed_definition_id: draft.deployed_definition_id,
            xml: with_xml.then_some(draft.xml),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ModelBody {
    xml: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SaveBody {
    /// The draft to save over; none for a new draft.
    #[serde(default)]
    id: Option<String>,
    /// The revision the editor loaded (required with `id`).
    #[serde(default)]
    revision: Option<i64>,
    xml: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DeployBody {
    revision: i64,
    /// The latest version of the key when the editor opened (none for a key not yet
    /// deployed): a deploy after someone else's newer version is refused, so the draft never
    /// silently replaces changes it did not start from.
    #[serde(default)]
    base_version: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct KeyQuery {
    key: String,
}

/// `POST /api/process-drafts/{id}/deploy`'s answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeployAnswer {
    definition_id: String,
    key: String,
    version: i64,
    /// `false` when the draft equals the latest version (nothing new was deployed).
    created: bool,
}

fn json_body<T>(body: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> ApiResult<T> {
    body.map(|Json(body)| body)
        .map_err(|rejection| ApiError::invalid(format!("请求内容无效 ({})", rejection.body_text())))
}

fn model_text(xml: &str) -> ApiResult<()> {
    if xml.trim().is_empty() {
        return Err(ApiError::invalid("模型为空 (the xml is empty)"));
    }
    if xml.len() > MAX_MODEL_BYTES {
        return Err(ApiError::coded(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("模型不能超过 {} KB (model too large)", MAX_MODEL_BYTES / 1024),
        ));
    }
    Ok(())
}

fn problems(list: Vec<engine::Problem>) -> Vec<ModelProblem> {
    list.into_iter()
        .map(|problem| {
            let chinese = super::problems::chinese(&problem.message);
            let (message, detail) = match chinese {
                Some(text) => (text, Some(problem.message)),
                None => (problem.message, None),
            };
            ModelProblem { element_id: problem.element_id, element_type: problem.element_type, message, detail }
        })
        .collect()
}

/// The checks of a deploy on `xml`, as the editor shows them.
fn checked(state: &AppState, xml: &str) -> CheckAnswer {
    let processes =
        engine::process_ids(xml).unwrap_or_default().into_iter().map(|(id, name)| ProcessName { id, name }).collect();
    match state.executor.check_model(xml) {
        Ok(parsed) => CheckAnswer { valid: true, processes, problems: Vec::new(), warnings: problems(parsed.warnings) },
        Err(engine::ParseError::Invalid(found)) => {
            CheckAnswer { valid: false, processes, problems: problems(found), warnings: Vec::new() }
        }
        Err(engine::ParseError::Xml(message)) => CheckAnswer {
            valid: false,
            processes,
            problems: vec![ModelProblem {
                element_id: None,
                element_type: "xml".into(),
                message: "模型不是格式正确的 BPMN XML".into(),
                detail: Some(message),
            }],
            warnings: Vec::new(),
        },
    }
}

async fn check(
    State(state): State<AppState>,
    body: Result<Json<ModelBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<CheckAnswer>> {
    let body = json_body(body)?;
    model_text(&body.xml)?;
    Ok(Json(checked(&state, &body.xml)))
}

async fn list_drafts(
    State(state): State<AppState>,
    query: Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<DraftAnswer>>> {
    let Query(query) = query.map_err(|_| ApiError::invalid("请指定流程标识 key (key is required)"))?;
    let drafts = state.store().drafts(&query.key).await?;
    Ok(Json(drafts.into_iter().map(|draft| DraftAnswer::of(draft, false)).collect()))
}

/// A process key the console can put in a URL and the engine takes as an id (an XML NCName
/// without `:`, at most 255 characters).
fn key_text(key: &str) -> ApiResult<()> {
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if key == "new" {
        return Err(ApiError::invalid("流程标识不能是“new”：它是“新建模型”页的地址 (reserved process id)"));
    }
    if !first_ok || key.len() > 255 || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err(ApiError::invalid(format!(
            "流程标识“{key}”无效：须以字母或下划线开头，只含字母、数字、_ - . (bad process id)"
        )));
    }
    Ok(())
}

/// The one process a draft is of: its id is the draft's key.
fn draft_process(xml: &str) -> ApiResult<(String, Option<String>)> {
    let mut processes =
        engine::process_ids(xml).map_err(|error| ApiError::invalid(format!("模型不是格式正确的 BPMN XML：{error}")))?;
    match processes.len() {
        1 => Ok(processes.remove(0)),
        0 => Err(ApiError::invalid("模型中没有流程 (bpmn:process)")),
        _ => Err(ApiError::invalid("一个草稿只能包含一个流程 (one bpmn:process per draft)")),
    }
}

async fn save(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    body: Result<Json<SaveBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let body = json_body(body)?;
    model_text(&body.xml)?;
    let (process_key, name) = draft_process(&body.xml)?;
    key_text(&process_key)?;
    let user = auth.principal.account.id.clone();
    let now = now_millis();
    match body.id {
        None => {
            let draft = ProcessDraft {
                id: new_id(),
                process_key,
                name,
                xml: body.xml,
                revision: 1,
                created_by: user.clone(),
                created_at: now,
                saved_by: user,
                saved_at: now,
                deployed_definition_id: None,
            };
            state.store().insert_draft(&draft).await?;
            Ok((StatusCode::CREATED, Json(DraftAnswer::of(draft, false))).into_response())
        }
        Some(id) => {
            let revision =
                body.revision.ok_or_else(|| ApiError::invalid("保存草稿需要 revision (revision is required)"))?;
            let existing = state
                .store()
                .draft(&id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("草稿 {id} 不存在 (no such draft)")))?;
            let draft = ProcessDraft { process_key, name, xml: body.xml, saved_by: user, saved_at: now, ..existing };
            let saved = state.store().update_draft(&draft, revision).await.map_err(stale)?;
            Ok(Json(DraftAnswer::of(saved, false)).into_response())
        }
    }
}

/// A lost save race, in Chinese.
fn stale(error: store::Error) -> ApiError {
    match error {
        store::Error::Conflict(_) => ApiError::coded(
            StatusCode::CONFLICT,
            "conflict",
            "草稿已被他人保存，请重新打开后再修改 (the draft was saved by someone else in the meantime)",
        ),
        store::Error::NotFound(_) => ApiError::not_found("草稿不存在，可能已被删除 (no such draft)"),
        other => other.into(),
    }
}

async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.store().delete_draft(&id).await.map_err(stale)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn deploy(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Result<Json<DeployBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<DeployAnswer>> {
    let body = json_body(body)?;
    let draft = state
        .store()
        .draft(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("草稿 {id} 不存在 (no such draft)")))?;
    if draft.revision != body.revision {
        return Err(stale(store::Error::Conflict(String::new())));
    }
    let latest = latest_definition(&state, &draft.process_key).await?.map(|definition| definition.version);
    if latest > body.base_version {
        return Err(ApiError::coded(
            StatusCode::CONFLICT,
            "newer-version",
            format!(
                "{} 已有更新的版本 v{}（本草稿基于 {}），请先打开最新版本核对后再部署 (a newer version was deployed)",
                draft.process_key,
                latest.unwrap_or_default(),
                body.base_version.map(|version| format!("v{version}")).unwrap_or_else(|| "新模型".into()),
            ),
        ));
    }
    let answer = checked(&state, &draft.xml);
    if !answer.valid {
        let list = answer.problems.iter().map(|problem| problem.message.as_str()).collect::<Vec<_>>().join("；");
        return Err(ApiError::coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-model",
            format!("模型未通过校验，不能部署：{list}"),
        ));
    }
    let upload = Upload { name: format!("{}.bpmn", draft.process_key), content: draft.xml.clone() };
    let outcome = state
        .executor
        .deploy(
            Some(draft.name.clone().unwrap_or_else(|| draft.process_key.clone())),
            Some(format!("控制台编辑器 · 草稿 {}", draft.id)),
            None,
            Some(auth.principal.account.id.clone()),
            vec![upload],
        )
        .await?;
    let definition = outcome
        .definitions
        .into_iter()
        .find(|definition| definition.key == draft.process_key)
        .ok_or_else(|| ApiError::Internal("a deployed draft has no definition of its key".into()))?;
    // The version stands whatever happens to the draft now: a save that landed meanwhile only
    // means the draft is not marked as deployed (it differs from what was deployed).
    if let Err(error) = state.store().mark_draft_deployed(&draft.id, draft.revision, &definition.id).await {
        tracing::info!(draft = %draft.id, %error, "a deployed draft changed before it was marked");
    }
    Ok(Json(DeployAnswer {
        definition_id: definition.id,
        key: definition.key,
        version: definition.version,
        created: outcome.created,
    }))
}

/// A user or role the selects offer.
#[derive(Serialize)]
struct Choice {
    id: String,
    name: String,
}

/// What the `sy:` group's selects offer: staff and operators (active, in the administrator's
/// scope), roles, service-task handlers and domain topics.
#[derive(Serialize)]
struct Choices {
    users: Vec<Choice>,
    roles: Vec<Choice>,
    handlers: Vec<String>,
    topics: Vec<String>,
}

async fn choices(state: &AppState, auth: &Auth) -> ApiResult<String> {
    let query = AccountQuery { status: Some("active".into()), ..AccountQuery::new(auth.principal.scope.clone()) };
    let mut users: Vec<Choice> = state
        .store()
        .accounts(&query)
        .await?
        .into_iter()
        .filter(|account| matches!(account.kind.as_str(), "staff" | "operator"))
        .map(|account| Choice { name: account.display_name.unwrap_or_else(|| account.id.clone()), id: account.id })
        .collect();
    users.sort_by(|a, b| a.id.cmp(&b.id));
    let roles = state.store().roles().await?.into_iter().map(|role| Choice { id: role.id, name: role.name }).collect();
    let mut topics: Vec<String> =
        services::domain_handlers().iter().map(|handler| handler.topic().to_string()).collect();
    topics.sort();
    let choices = Choices { users, roles, handlers: state.executor.services().names(), topics };
    serde_json::to_string(&choices).map_err(|error| ApiError::Internal(error.to_string()))
}

#[derive(Deserialize, Default)]
pub(crate) struct EditorQuery {
    #[serde(default)]
    draft: Option<String>,
}

/// A draft in the editor's list.
#[derive(Serialize)]
struct DraftRow {
    id: String,
    revision: i64,
    created_by: String,
    saved_by: String,
    saved_text: String,
    deployed: bool,
}

/// `GET /admin/processes/new`: the template under a fresh key.
pub(crate) async fn new_model(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> ApiResult<Response> {
    let suffix: String = new_id().chars().rev().take(6).collect();
    let key = format!("Process_{suffix}");
    let xml = TEMPLATE.replace("{key}", &key);
    editor_page(&state, &auth, &key, xml, None, None).await
}

/// The latest deployed version of `key`, if any.
async fn latest_definition(state: &AppState, key: &str) -> ApiResult<Option<store::Definition>> {
    let query = DefinitionQuery { key: Some(key.to_string()), latest_version: true, ..DefinitionQuery::default() };
    Ok(state.store().definitions(&query).await?.0.into_iter().next())
}

/// `GET /admin/processes/{key}/editor[?draft=ID]`: a draft, or the latest version.
pub(crate) async fn edit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    query: Result<Query<EditorQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let latest = latest_definition(&state, &key).await?;
    if let Some(id) = query.draft {
        let draft = state
            .store()
            .draft(&id)
            .await?
            .filter(|draft| draft.process_key == key)
            .ok_or_else(|| ApiError::not_found("没有这个草稿 (no such draft)"))?;
        let xml = draft.xml.clone();
        return editor_page(&state, &auth, &key, xml, Some(draft), latest.map(|d| d.version)).await;
    }
    let Some(definition) = latest else {
        // A key with drafts only: open the newest draft.
        let newest = state.store().drafts(&key).await?.into_iter().next();
        return match newest {
            Some(draft) => {
                let xml = draft.xml.clone();
                editor_page(&state, &auth, &key, xml, Some(draft), None).await
            }
            None => Err(ApiError::not_found("没有这个流程 (no such process)")),
        };
    };
    let resource = state
        .store()
        .resource(&definition.resource_id)
        .await?
        .ok_or_else(|| ApiError::Internal("a definition's resource is missing".into()))?;
    editor_page(&state, &auth, &key, resource.content, None, Some(definition.version)).await
}

async fn editor_page(
    state: &AppState,
    auth: &Auth,
    key: &str,
    xml: String,
    draft: Option<ProcessDraft>,
    latest_version: Option<i64>,
) -> ApiResult<Response> {
    let drafts: Vec<DraftRow> = state
        .store()
        .drafts(key)
        .await?
        .into_iter()
        .map(|draft| DraftRow {
            saved_text: shanghai(draft.saved_at),
            deployed: draft.deployed_definition_id.is_some(),
            id: draft.id,
            revision: draft.revision,
            created_by: draft.created_by,
            saved_by: draft.saved_by,
        })
        .collect();
    let mut context = Context::new();
    context.insert("key", key);
    context.insert("xml", &xml);
    context.insert("draft_id", &draft.as_ref().map(|draft| draft.id.clone()).unwrap_or_default());
    context.insert("revision", &draft.as_ref().map(|draft| draft.revision).unwrap_or_default());
    context.insert("draft_saved", &draft.as_ref().map(|draft| shanghai(draft.saved_at)).unwrap_or_default());
    context.insert("latest_version", &latest_version);
    context.insert("drafts", &drafts);
    context.insert("choices", &choices(state, auth).await?);
    screen(state, auth, "processes", "editor.html", context).await
}
