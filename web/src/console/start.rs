//! 发起流程 (issue 12): `/processes/start` lists the processes the user may start — the latest
//! version of each, offered to `camunda:candidateStarterGroups` / `camunda:candidateStarterUsers`
//! when the model names any, to every staff member when it names none — and
//! `/processes/start/{key}` asks for the start form the model declares (`camunda:formData` of the
//! none start event), checks it on the server, starts the instance through `Executor::start`
//! (the same owner check as every other start) and opens the new instance's page.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Form};
use engine::{FormField, FormFieldKind, ProcessModel, Value};
use serde::Serialize;
use store::{DataScope, Definition, DefinitionQuery};

use super::inbox::{District, districts};
use super::{filled, screen};
use crate::AppState;
use crate::approval::{Caller, caller};
use crate::error::{ApiError, ApiResult};
use crate::identity::Auth;
use crate::templates::Context;

/// The prefix of a start-form field's name in the posted form (`v.institutionName`), so a
/// model's field ids never collide with the page's own fields.
const FIELD: &str = "v.";

/// Whether the caller may start `model` from the console: the starters it names (users, or
/// holders of a role or group), or any staff member when it names none; administrators always.
fn may_start(model: &ProcessModel, caller: &Caller) -> bool {
    (model.starter_groups.is_empty() && model.starter_users.is_empty())
        || caller.admin
        || model.starter_users.contains(&caller.id)
        || model.starter_groups.iter().any(|group| caller.groups.contains(group))
}

/// A process the list offers.
#[derive(Serialize)]
struct Startable {
    key: String,
    name: String,
    version: i64,
    description: Option<String>,
    fields: usize,
}

/// Whether `key` is the process of a form's `[workflow]`: such a process is started from the
/// record it reviews (提交审批), never bare from here (it would review nothing).
fn record_bound(state: &AppState, key: &str) -> bool {
    crate::forms::catalog(state).forms().any(|form| form.workflow.as_ref().is_some_and(|flow| flow.process == key))
}

/// The latest versions the caller may start, by name.
async fn startable(state: &AppState, caller: &Caller) -> ApiResult<Vec<(Definition, std::sync::Arc<ProcessModel>)>> {
    let query = DefinitionQuery { latest_version: true, ..DefinitionQuery::default() };
    let (definitions, _) = state.store().definitions(&query).await?;
    let mut found = Vec::new();
    for definition in definitions.into_iter().filter(|definition| !definition.suspended) {
        // One model that does not load (a file the engine of today refuses) must not take the
        // page away from every other process: it is left out and logged.
        let model = match state.executor.model(&definition).await {
            Ok(model) => model,
            Err(error) => {
                tracing::warn!(definition = %definition.id, %error, "a deployed model does not load; left off the start page");
                continue;
            }
        };
        if model.is_executable && may_start(&model, caller) && !record_bound(state, &definition.key) {
            found.push((definition, model));
        }
    }
    found.sort_by(|(a, _), (b, _)| a.name.as_deref().unwrap_or(&a.key).cmp(b.name.as_deref().unwrap_or(&b.key)));
    Ok(found)
}

/// `GET /processes/start`.
pub(crate) async fn list(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> ApiResult<Response> {
    let caller = caller(&state, &auth).await?;
    let processes: Vec<Startable> = startable(&state, &caller)
        .await?
        .into_iter()
        .map(|(definition, model)| Startable {
            name: definition.name.clone().unwrap_or_else(|| definition.key.clone()),
            key: definition.key,
            version: definition.version,
            description: model.start_events(None).next().and_then(|start| model.elements[start].documentation.clone()),
            fields: model.start_form.len(),
        })
        .collect();
    let mut context = Context::new();
    context.insert("processes", &processes);
    screen(&state, &auth, "start", "start.html", context).await
}

/// The latest version of `key` if the caller may start it (else the 404 page: a process one may
/// not start is not shown to exist).
async fn chosen(state: &AppState, caller: &Caller, key: &str) -> ApiResult<(Definition, std::sync::Arc<ProcessModel>)> {
    let query = DefinitionQuery { key: Some(key.to_string()), latest_version: true, ..DefinitionQuery::default() };
    let not_found = || ApiError::not_found("没有可发起的该流程 (no such process to start)");
    let definition = state.store().definitions(&query).await?.0.into_iter().next().ok_or_else(not_found)?;
    let model = state.executor.model(&definition).await?;
    if definition.suspended || !model.is_executable || !may_start(&model, caller) || record_bound(state, key) {
        return Err(not_found());
    }
    Ok((definition, model))
}

/// A start-form field as the page draws it: the model's field, the value to show and its error.
#[derive(Serialize)]
struct Shown<'a> {
    id: &'a str,
    label: &'a str,
    kind: &'static str,
    required: bool,
    readonly: bool,
    min_length: Option<u32>,
    max_length: Option<u32>,
    min: Option<i64>,
    max: Option<i64>,
    /// (value, label) of an enum or a district.
    options: Vec<(String, String)>,
    value: String,
    error: String,
}

/// The districts a district field offers the caller: all of them at city level, their own below.
fn district_options(auth: &Auth, districts: &[District]) -> Vec<(String, String)> {
    let own = auth.principal.account.district.as_deref();
    districts
        .iter()
        .filter(|district| matches!(auth.principal.scope, DataScope::All) || Some(district.code.as_str()) == own)
        .map(|district| (district.name.clone(), district.name.clone()))
        .collect()
}

fn shown<'a>(
    field: &'a FormField,
    value: Option<&str>,
    error: Option<String>,
    districts: &[(String, String)],
) -> Shown<'a> {
    let options = match &field.kind {
        FormFieldKind::Enum(values) => values.clone(),
        FormFieldKind::District => districts.to_vec(),
        _ => Vec::new(),
    };
    // A district field of a district user: their own district, chosen already (a read-only
    // field shows its default, which is what the server takes).
    let fallback = match &field.kind {
        FormFieldKind::District if districts.len() == 1 && !field.readonly => {
            districts.first().map(|(name, _)| name.clone())
        }
        _ => field.default.clone(),
    };
    Shown {
        id: &field.id,
        label: field.label.as_deref().unwrap_or(&field.id),
        kind: field.kind.name(),
        required: field.required,
        readonly: field.readonly,
        min_length: field.min_length,
        max_length: field.max_length,
        min: field.min,
        max: field.max,
        options,
        value: value.map(str::to_string).or(fallback).unwrap_or_default(),
        error: error.unwrap_or_default(),
    }
}

/// The form page, with the values sent and the errors found (none on first view).
async fn form_page(
    state: &AppState,
    auth: &Auth,
    status: StatusCode,
    (definition, model): (&Definition, &ProcessModel),
    sent: &BTreeMap<String, String>,
    errors: &BTreeMap<String, String>,
    error: &str,
) -> ApiResult<Response> {
    let districts = district_options(auth, &districts(state).await?);
    let fields: Vec<Shown> = model
        .start_form
        .iter()
        .map(|field| shown(field, sent.get(&field.id).map(String::as_str), errors.get(&field.id).cloned(), &districts))
        .collect();
    let mut context = Context::new();
    context.insert("key", &definition.key);
    context.insert("name", definition.name.as_deref().unwrap_or(&definition.key));
    context.insert("version", &definition.version);
    context.insert("fields", &fields);
    context.insert("business_key", sent.get("businessKey").map(String::as_str).unwrap_or_default());
    context.insert("error", error);
    let mut response = screen(state, auth, "start", "start_form.html", context).await?;
    *response.status_mut() = status;
    Ok(response)
}

/// `GET /processes/start/{key}`.
pub(crate) async fn form(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&state, &auth).await?;
    let (definition, model) = chosen(&state, &caller, &key).await?;
    form_page(&state, &auth, StatusCode::OK, (&definition, &model), &BTreeMap::new(), &BTreeMap::new(), "").await
}

/// One field's value from the form, checked against the model: the variable, or the sentence
/// that says what is wrong. An empty optional field sets no variable.
fn value_of(field: &FormField, sent: Option<&str>, districts: &[(String, String)]) -> Result<Option<Value>, String> {
    let text = sent.map(str::trim).unwrap_or_default();
    if let FormFieldKind::Boolean = field.kind {
        // A required box must be ticked (a 承诺书 the applicant agrees to, say).
        let ticked = matches!(text, "on" | "true" | "1");
        if field.required && !ticked {
            return Err("请勾选此项".into());
        }
        return Ok(Some(Value::Boolean(ticked)));
    }
    if text.is_empty() {
        return if field.required { Err("此项为必填项".into()) } else { Ok(None) };
    }
    let value = match &field.kind {
        FormFieldKind::String => {
            let length = text.chars().count();
            if let Some(min) = field.min_length.filter(|min| length < *min as usize) {
                return Err(format!("至少 {min} 个字"));
            }
            let max = field.max_length.map_or(crate::approval::MAX_COMMENT, |max| max as usize);
            if length > max {
                return Err(format!("最多 {max} 个字"));
            }
            Value::String(text.to_string())
        }
        FormFieldKind::Long => {
            let number: i64 = text.parse().map_err(|_| "请填写整数".to_string())?;
            if let Some(min) = field.min.filter(|min| number < *min) {
                return Err(format!("不能小于 {min}"));
            }
            if let Some(max) = field.max.filter(|max| number > *max) {
                return Err(format!("不能大于 {max}"));
            }
            Value::Long(number)
        }
        FormFieldKind::Date => {
            let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| "请填写有效日期（年-月-日）".to_string())?;
            Value::Date(format!("{}T00:00:00.000+0800", date.format("%Y-%m-%d")))
        }
        FormFieldKind::Enum(values) => match values.iter().find(|(id, _)| id == text) {
            Some((id, _)) => Value::String(id.clone()),
            None => return Err("请从列表中选择".into()),
        },
        FormFieldKind::District => match districts.iter().find(|(name, _)| name == text) {
            Some((name, _)) => Value::String(name.clone()),
            None => return Err("请选择本人可发起的区".into()),
        },
        FormFieldKind::Boolean => unreachable!("answered above"),
    };
    Ok(Some(value))
}

/// `POST /processes/start/{key}`: the start form. Every field is checked and every problem is
/// shown at its field at once (422, the values kept); a refusal of the start itself (a district
/// outside the user's scope, a business key too long) is shown above the form.
pub(crate) async fn start(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    form: Result<Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> ApiResult<Response> {
    let Form(form) = form.map_err(|_| ApiError::invalid("提交的内容无效 (bad form)"))?;
    let caller = caller(&state, &auth).await?;
    let (definition, model) = chosen(&state, &caller, &key).await?;
    let mut sent: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in form {
        if let Some(id) = name.strip_prefix(FIELD) {
            sent.insert(id.to_string(), value);
        } else if name == "businessKey" {
            sent.insert(name, value);
        }
    }
    let districts = district_options(&auth, &districts(&state).await?);
    let mut variables = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for field in &model.start_form {
        let sent = if field.readonly { field.default.as_deref() } else { sent.get(&field.id).map(String::as_str) };
        match value_of(field, sent, &districts) {
            Ok(Some(value)) => {
                variables.insert(field.id.clone(), value);
            }
            Ok(None) => {}
            Err(error) => {
                errors.insert(field.id.clone(), error);
            }
        }
    }
    let shown = (&definition, model.as_ref());
    if !errors.is_empty() {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return form_page(&state, &auth, status, shown, &sent, &errors, "请按提示修改后再提交").await;
    }
    let business_key = sent.get("businessKey").and_then(|key| filled(key));
    let started = state.executor.start(&definition, business_key, variables, Some(&caller.id)).await;
    match started.map_err(ApiError::from) {
        Ok(instance) => {
            let id: String = form_urlencoded::byte_serialize(instance.id.as_bytes()).collect();
            super::see_other(&format!("/instances/{id}?notice=started"))
        }
        Err(error @ (ApiError::Internal(_) | ApiError::Conflict(_))) => Err(error),
        Err(error) => {
            let status = error.status();
            form_page(&state, &auth, status, shown, &sent, &errors, &error.public_message()).await
        }
    }
}
