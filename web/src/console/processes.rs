//! The process administrator's screens (issue 12): `/admin/processes` (every process by key with
//! its latest version, when it was deployed, its running instances; deploy by upload),
//! `/admin/processes/{key}` (its versions, the diagram of any version, the XML to download) and
//! `/admin/instances` (search by process, business key, state; an instance's diagram with the
//! taken path's visit counts, variables, timeline, open incidents with 重试, jobs, and 终止 with
//! a reason that is recorded). Deploying goes through `Executor::deploy`, the same checks as
//! `/engine-rest/deployment/create` and `shuangyong check`.

use axum::Extension;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use runtime::executor::Upload;
use serde::{Deserialize, Serialize};
use store::{DefinitionQuery, IncidentQuery, InstanceQuery, JobQuery, Page};

use super::inbox::shanghai;
use super::task::instance_parts;
use super::{filled, screen};
use crate::AppState;
use crate::approval::{InstanceSummary, timeline, visible_instance};
use crate::error::{ApiError, ApiResult};
use crate::identity::{self, Auth};
use crate::templates::Context;

const PAGE_SIZE: i64 = 20;

/// A process as the list shows it (its latest version).
#[derive(Serialize)]
struct Process {
    key: String,
    name: Option<String>,
    version: i64,
    definition_id: String,
    deployed: String,
    running: i64,
    suspended: bool,
}

/// One version of a process.
#[derive(Serialize)]
struct Version {
    id: String,
    version: i64,
    deployed: String,
    deployment: String,
    source: Option<String>,
    /// Who deployed it (none for the demo models and files deployed before migration 13).
    deployed_by: Option<String>,
    resource_id: String,
    resource_name: String,
    running: i64,
}

#[derive(Deserialize, Default)]
pub(crate) struct Shown {
    #[serde(default)]
    notice: String,
    version: Option<i64>,
}

/// Running instances of a definition (or of every version of a key), in the caller's scope.
async fn running(state: &AppState, key: &str, definition: Option<&str>) -> ApiResult<i64> {
    let query = InstanceQuery {
        definition_key: Some(key.to_string()),
        definition_id: definition.map(str::to_string),
        active: Some(true),
        page: Page { first_result: 0, max_results: Some(0) },
        ..InstanceQuery::new(identity::scope())
    };
    Ok(state.store().instances(&query).await?.1)
}

/// When a deployment was made, from where and by whom.
async fn deployed_at(state: &AppState, deployment: &str) -> ApiResult<(String, Option<String>, Option<String>)> {
    Ok(match state.store().deployment(deployment).await? {
        Some(found) => (shanghai(found.deployed_at), found.source, found.deployed_by),
        None => (String::new(), None, None),
    })
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    shown: Result<Query<Shown>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(shown) = shown.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let query = DefinitionQuery { latest_version: true, ..DefinitionQuery::default() };
    let (definitions, _) = state.store().definitions(&query).await?;
    let mut processes = Vec::with_capacity(definitions.len());
    for definition in definitions {
        processes.push(Process {
            running: running(&state, &definition.key, None).await?,
            deployed: deployed_at(&state, &definition.deployment_id).await?.0,
            key: definition.key,
            name: definition.name,
            version: definition.version,
            definition_id: definition.id,
            suspended: definition.suspended,
        });
    }
    processes.sort_by(|a, b| a.key.cmp(&b.key));
    let mut context = Context::new();
    context.insert("processes", &processes);
    context.insert("notice", &shown.notice);
    context.insert("may_deploy", &auth.principal.can("engine:deploy"));
    screen(&state, &auth, "processes", "processes.html", context).await
}

pub(crate) async fn versions(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    shown: Result<Query<Shown>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(shown) = shown.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let query = DefinitionQuery { key: Some(key.clone()), ..DefinitionQuery::default() };
    let (mut definitions, _) = state.store().definitions(&query).await?;
    if definitions.is_empty() {
        return Err(ApiError::not_found("没有这个流程 (no such process)"));
    }
    definitions.sort_by_key(|definition| std::cmp::Reverse(definition.version));
    let mut versions = Vec::with_capacity(definitions.len());
    for definition in &definitions {
        let (deployed, source, deployed_by) = deployed_at(&state, &definition.deployment_id).await?;
        versions.push(Version {
            id: definition.id.clone(),
            version: definition.version,
            deployed,
            deployment: definition.deployment_id.clone(),
            source,
            deployed_by,
            resource_id: definition.resource_id.clone(),
            resource_name: definition.resource_name.clone(),
            running: running(&state, &key, Some(&definition.id)).await?,
        });
    }
    let chosen = shown
        .version
        .and_then(|wanted| definitions.iter().find(|definition| definition.version == wanted))
        .unwrap_or(&definitions[0]);
    let mut context = Context::new();
    context.insert("key", &key);
    context.insert("name", &chosen.name);
    context.insert("chosen", &chosen.id);
    context.insert("chosen_version", &chosen.version);
    context.insert("versions", &versions);
    context.insert("notice", &shown.notice);
    context.insert("may_deploy", &auth.principal.can("engine:deploy"));
    screen(&state, &auth, "processes", "process.html", context).await
}

/// `POST /admin/processes/deploy` (multipart: `csrf_token`, then one or more `file`s): a new
/// version of each process that changed; a model the checks refuse is the error page with each
/// problem.
pub(crate) async fn deploy(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    let mut multipart =
        multipart.map_err(|_| ApiError::invalid("请选择要部署的 BPMN 文件 (multipart upload expected)"))?;
    let mut uploads = Vec::new();
    while let Some(field) =
        multipart.next_field().await.map_err(|_| ApiError::invalid("上传的内容无法读取 (bad upload)"))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("model.bpmn").to_string();
        let bytes = field.bytes().await.map_err(|_| ApiError::invalid("上传的内容无法读取 (bad upload)"))?;
        if bytes.is_empty() {
            continue;
        }
        let content = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::invalid(format!("{name} 不是 UTF-8 编码的 BPMN 文件 (not UTF-8 text)")))?;
        if !name.ends_with(".bpmn") && !name.ends_with(".bpmn20.xml") {
            return Err(ApiError::invalid(format!("{name} 不是 .bpmn 文件 (not a .bpmn file)")));
        }
        uploads.push(Upload { name, content });
    }
    if uploads.is_empty() {
        return Err(ApiError::invalid("请选择要部署的 BPMN 文件 (no file)"));
    }
    let name = uploads.iter().map(|upload| upload.name.clone()).collect::<Vec<_>>().join(", ");
    let outcome = state
        .executor
        .deploy(Some(name), Some("控制台上传".into()), None, Some(auth.principal.account.id.clone()), uploads)
        .await?;
    let key = outcome.definitions.first().map(|definition| definition.key.clone()).unwrap_or_default();
    let notice = if outcome.created { "deployed" } else { "unchanged" };
    let key: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
    super::see_other(&format!("/admin/processes/{key}?notice={notice}"))
}

/// The instance search's query string.
#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InstanceFilters {
    #[serde(default)]
    process: String,
    #[serde(default)]
    business_key: String,
    /// `active`, `ended` or empty (both).
    #[serde(default)]
    state: String,
    /// The owning district's code.
    #[serde(default)]
    district: String,
    /// Started from / to (`YYYY-MM-DD`, both days included).
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    page: Option<i64>,
}

/// An instance row.
#[derive(Serialize)]
struct InstanceRow {
    #[serde(flatten)]
    summary: InstanceSummary,
    started_text: String,
    ended_text: String,
}

pub(crate) async fn instances(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    query: Result<Query<InstanceFilters>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(filters) = query.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let page = filters.page.unwrap_or(1).max(1);
    let first_result = super::first_result(page, PAGE_SIZE)?;
    let active = match filters.state.as_str() {
        "active" => Some(true),
        "ended" => Some(false),
        "" => None,
        _ => return Err(ApiError::invalid("状态应为 进行中 或 已结束 (bad state)")),
    };
    let query = InstanceQuery {
        definition_key: filled(&filters.process),
        business_key: filled(&filters.business_key),
        active,
        district: filled(&filters.district),
        started_from: super::inbox::day_start(&filters.from, 0)?,
        started_to: super::inbox::day_start(&filters.to, 1)?,
        sorting: vec![("startTime".into(), false)],
        page: Page { first_result, max_results: Some(PAGE_SIZE) },
        ..InstanceQuery::new(identity::scope())
    };
    let (found, total) = state.store().instances(&query).await?;
    let rows: Vec<InstanceRow> = found
        .iter()
        .map(|instance| InstanceRow {
            summary: InstanceSummary::from(instance),
            started_text: shanghai(instance.started_at),
            ended_text: instance.ended_at.map(shanghai).unwrap_or_default(),
        })
        .collect();
    let kept = super::kept(&[
        ("process", &filters.process),
        ("businessKey", &filters.business_key),
        ("state", &filters.state),
        ("district", &filters.district),
        ("from", &filters.from),
        ("to", &filters.to),
    ]);
    let mut context = Context::new();
    context.insert("filters", &filters);
    context.insert("kept", &kept);
    context.insert("districts", &super::inbox::districts(&state).await?);
    context.insert("rows", &rows);
    context.insert("total", &total);
    context.insert("page", &page);
    context.insert("pages", &super::pages(total, PAGE_SIZE));
    screen(&state, &auth, "instances", "instances.html", context).await
}

/// An open incident as the instance page shows it.
#[derive(Serialize)]
struct IncidentRow {
    id: String,
    activity_id: String,
    incident_type: String,
    message: String,
    created: String,
}

/// A job as the instance page shows it.
#[derive(Serialize)]
struct JobRow {
    kind: String,
    activity_id: String,
    due: String,
    retries: i64,
    exception_message: Option<String>,
}

pub(crate) async fn instance(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    shown: Result<Query<Shown>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(shown) = shown.map_err(|_| ApiError::invalid("查询条件无效 (bad query)"))?;
    let found = visible_instance(&state, &id).await?;
    let incidents =
        IncidentQuery { instance_id: Some(id.clone()), open: true, ..IncidentQuery::new(identity::scope()) };
    let incidents: Vec<IncidentRow> = state
        .store()
        .incidents(&incidents)
        .await?
        .0
        .into_iter()
        .map(|incident| IncidentRow {
            id: incident.id,
            activity_id: incident.activity_id,
            incident_type: incident.incident_type,
            message: incident.message,
            created: shanghai(incident.created_at),
        })
        .collect();
    let jobs = JobQuery { instance_id: Some(id.clone()), ..JobQuery::new(identity::scope()) };
    let jobs: Vec<JobRow> = state
        .store()
        .jobs(&jobs)
        .await?
        .0
        .into_iter()
        .map(|job| JobRow {
            kind: job.kind,
            activity_id: job.activity_id,
            due: shanghai(job.due_at),
            retries: job.retries,
            exception_message: job.exception_message,
        })
        .collect();
    let variables = found.state.variables().iter().map(|(name, value)| (name.clone(), value.to_json())).collect();
    let mut context = Context::new();
    instance_parts(&state, &mut context, &id, &found.definition_id, timeline(&state, &id).await?, &variables).await?;
    context.insert("instance", &InstanceSummary::from(&found));
    context.insert("started_text", &shanghai(found.started_at));
    context.insert("ended_text", &found.ended_at.map(shanghai).unwrap_or_default());
    context.insert("incidents", &incidents);
    context.insert("jobs", &jobs);
    context.insert("active", &found.state.is_active());
    context.insert("may_change", &auth.principal.can("engine:deploy"));
    context.insert("notice", &shown.notice);
    screen(&state, &auth, "instances", "instance.html", context).await
}

#[derive(Deserialize)]
pub(crate) struct CancelForm {
    #[serde(default)]
    reason: String,
}

/// `POST /admin/instances/{id}/cancel`: 终止 with a reason, recorded in the timeline.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    form: Result<axum::Form<CancelForm>, axum::extract::rejection::FormRejection>,
) -> ApiResult<Response> {
    let axum::Form(form) = form.map_err(|_| ApiError::invalid("提交的内容无效 (bad form)"))?;
    let reason = filled(&form.reason).ok_or_else(|| ApiError::invalid("请填写终止原因 (reason required)"))?;
    if reason.chars().count() > crate::approval::MAX_COMMENT {
        return Err(ApiError::invalid("终止原因过长 (reason too long)"));
    }
    let found = visible_instance(&state, &id).await?;
    if !found.state.is_active() {
        return Err(ApiError::coded(StatusCode::CONFLICT, "conflict", "流程实例已结束 (the instance has ended)"));
    }
    state.executor.cancel_instance(&id, Some(reason), Some(&auth.principal.account.id)).await?;
    let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    super::see_other(&format!("/admin/instances/{id}?notice=cancel"))
}

/// `POST /admin/instances/{id}/incidents/{incident}/retry`: 重试 the failed step.
pub(crate) async fn retry(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path((id, incident)): Path<(String, String)>,
) -> ApiResult<Response> {
    visible_instance(&state, &id).await?;
    let query = IncidentQuery {
        id: Some(incident.clone()),
        instance_id: Some(id.clone()),
        open: true,
        ..IncidentQuery::new(identity::scope())
    };
    if state.store().incidents(&query).await?.0.is_empty() {
        return Err(ApiError::not_found("没有这个未处理的异常 (no such open incident)"));
    }
    state.executor.retry_incident(&incident, Some(&auth.principal.account.id)).await?;
    let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    super::see_other(&format!("/admin/instances/{id}?notice=retry"))
}
