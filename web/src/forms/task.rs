//! Task forms over HTTP (issue 13, `forms::task`): what a task with `camunda:formKey="form:…"`
//! shows, and the check of what is sent with its 通过 — on `/api/tasks/{id}/approve`, the task
//! page and Camunda's `task/{id}/complete` alike, so no path writes a field the task does not
//! let the person edit.

use serde::Serialize;
use serde_json::{Map, Value};
use store::TaskRecord;
use store::forms::RecordWrite;

use forms::Access;
use forms::records::{self, Actor, Record};
use forms::task::{RECORD_FORM_VARIABLE, RECORD_ID_VARIABLE, TaskForm, TaskFormError};

use super::{actor, catalog, refused};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Auth;

/// A task's form as loaded for one request: the view, the values it shows now and the record
/// the instance was submitted from (when it is of this form).
pub(crate) struct Loaded<'a> {
    pub(crate) task_form: TaskForm<'a>,
    pub(crate) values: Map<String, Value>,
    pub(crate) record: Option<Record>,
    pub(crate) task_id: String,
}

/// The task form of `task`, if its form key names one.
pub(crate) async fn load<'a>(state: &'a AppState, task: &TaskRecord) -> ApiResult<Option<Loaded<'a>>> {
    let Some(mut task_form) = catalog(state).task_form(task.form_key.as_deref()) else { return Ok(None) };
    task_form.locked = state.store().signers(&task.id).await?.iter().any(|signer| signer.state == "pending");
    let instance = state
        .store()
        .instance(&task.instance_id)
        .await?
        .ok_or_else(|| ApiError::not_found("任务不存在或无权查看 (no such task)"))?;
    let variables = instance.state.variables();
    let text = |name: &str| match variables.get(name) {
        Some(engine::Value::String(text)) => Some(text.clone()),
        _ => None,
    };
    // Bound only by the form's own process started for that record (提交审批 sets the business
    // key and both variables; clients cannot set the variables, nor change a business key).
    let own_process =
        task_form.form.workflow.as_ref().is_some_and(|workflow| workflow.process == instance.definition_key);
    let record = match (text(RECORD_FORM_VARIABLE), text(RECORD_ID_VARIABLE)) {
        (Some(form), Some(id))
            if form == task_form.form.key && own_process && instance.business_key.as_deref() == Some(id.as_str()) =>
        {
            // The caller's right to this record comes from the task (checked before); the
            // write is still held to the caller's district by the records layer.
            let reader = Actor { user: String::new(), unit: None, scope: store::DataScope::All };
            // The record's own history must name this instance as its submission.
            let submitted = state
                .store()
                .form_record_changes(&id)
                .await?
                .iter()
                .any(|change| change.action == "submit" && change.task_id.as_deref() == Some(instance.id.as_str()));
            match records::get(state.store().as_ref(), state.security.crypto.as_ref(), task_form.form, &reader, &id)
                .await
            {
                Ok(record) if record.deleted_at.is_none() && submitted => Some(record),
                Ok(_) | Err(records::RecordError::NotFound) => None,
                Err(other) => return Err(refused(other)),
            }
        }
        _ => None,
    };
    let values = match &record {
        Some(record) => record.values.clone(),
        None => task_form
            .form
            .fields
            .iter()
            .filter_map(|field| variables.get(&field.key).map(|value| (field.key.clone(), value.to_json())))
            .collect(),
    };
    Ok(Some(Loaded { task_form, values, record, task_id: task.id.clone() }))
}

/// Checks what is sent with 通过 on `task` against its task form: `None` when the task has
/// none; else the variables to set (form values normalised, other variables as sent) and the
/// bound record's write. A value for a field the task does not let the caller edit is 403
/// `field-not-editable` naming the field; a bad value 422 with every failing field.
///
/// `record_version`: the version of the bound record the caller's page or client read (the
/// task page sends it): when the record moved on since, 409 `stale-version`, so an edit made
/// meanwhile is never overwritten by values typed over the old ones.
pub(crate) async fn checked(
    state: &AppState,
    auth: &Auth,
    task: &TaskRecord,
    input: &Map<String, Value>,
    record_version: Option<i64>,
) -> ApiResult<Option<(Map<String, Value>, Vec<RecordWrite>)>> {
    let Some(loaded) = load(state, task).await? else { return Ok(None) };
    // The editable references named by id (or title) become the records the caller can see
    // (a read-only one sent back as shown is compared as it is).
    let task_form = loaded.task_form;
    let mut editable: Map<String, Value> = input
        .iter()
        .filter(|(name, _)| task_form.form.field(name).is_some_and(|field| task_form.access(field) == Access::Editable))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    records::resolve_references(
        state.store().as_ref(),
        catalog(state),
        task_form.form,
        &actor(auth),
        &mut editable,
        Some(&loaded.values),
    )
    .await
    .map_err(refused)?;
    let mut input = input.clone();
    input.extend(editable);
    let input = &input;
    if let (Some(expected), Some(record)) = (record_version, &loaded.record)
        && record.version != expected
    {
        return Err(refused(records::RecordError::Stale { expected, current: record.version }));
    }
    let submitted = forms::task::submit(
        state.security.crypto.as_ref(),
        catalog(state),
        loaded.task_form,
        &actor(auth),
        input,
        &loaded.values,
        loaded.record.as_ref(),
        &task.id,
    )
    .map_err(|error| match error {
        TaskFormError::NotEditable { .. } => {
            ApiError::coded(axum::http::StatusCode::FORBIDDEN, "field-not-editable", error.to_string())
        }
        TaskFormError::Record(error) => refused(error),
    })?;
    // A unique value another record holds: said at its field now (the write's guard would
    // only refuse the whole approval as a lost race).
    if let Some(write) = &submitted.write {
        for value in &write.unique {
            let owners = state
                .store()
                .unique_owners(&write.record.form, &value.field, std::slice::from_ref(&value.value))
                .await?;
            if owners.iter().any(|(_, owner)| owner != &write.record.id) {
                return Err(refused(records::RecordError::Store(store::Error::Duplicate(value.field.clone()))));
            }
        }
    }
    Ok(Some((submitted.variables, submitted.write.into_iter().collect())))
}

/// A field of a task form as `/api/tasks/{id}` describes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskField {
    pub(crate) key: String,
    pub(crate) label: String,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) access: Access,
    pub(crate) required: bool,
    /// The value as stored (sensitive values masked unless the caller may unmask).
    pub(crate) value: Value,
    /// The value as people read it (dictionary labels, 是 / 否).
    pub(crate) text: String,
    /// A file or image field's files, each served to the task's handler.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) files: Vec<super::pages::FileChip>,
    /// A sub-table's rows as people read them (the pages draw them as rows, not one text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) table: Option<super::pages::TableShown>,
}

/// The task form part of `/api/tasks/{id}`: the form, the view and each shown field.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskFormDetail {
    pub(crate) form: String,
    pub(crate) form_name: String,
    pub(crate) view: Option<String>,
    /// The record the instance was submitted from, and the version shown (send it back as
    /// `recordVersion` with 通过 to refuse an approval over a record changed meanwhile).
    pub(crate) record_id: Option<String>,
    pub(crate) record_version: Option<i64>,
    /// Read-only while added signers are to sign (加签).
    pub(crate) locked: bool,
    pub(crate) fields: Vec<TaskField>,
}

/// Sensitive values stay masked on a task (unmasking is the record page's, audited there).
pub(crate) fn detail(state: &AppState, loaded: &Loaded<'_>) -> TaskFormDetail {
    let unmask = false;
    let fields = loaded
        .task_form
        .shown()
        .map(|(field, access)| {
            let stored = loaded.values.get(&field.key);
            TaskField {
                key: field.key.clone(),
                label: field.label.clone(),
                kind: field.kind.name(),
                access,
                required: field.required && access == Access::Editable,
                value: stored.map(|value| super::api_value(field, value, unmask)).unwrap_or(Value::Null),
                text: super::shown(catalog(state), field, stored, unmask),
                files: task_chips(loaded, field),
                table: super::pages::table_shown(catalog(state), field, stored),
            }
        })
        .collect();
    TaskFormDetail {
        form: loaded.task_form.form.key.clone(),
        form_name: loaded.task_form.form.name.clone(),
        view: loaded.task_form.view.map(str::to_string),
        record_id: loaded.record.as_ref().map(|record| record.id.clone()),
        record_version: loaded.record.as_ref().map(|record| record.version),
        locked: loaded.task_form.locked,
        fields,
    }
}

/// The files of an upload field at a task, served through the task (`?task=`) to its handler.
fn task_chips(loaded: &Loaded<'_>, field: &forms::Field) -> Vec<super::pages::FileChip> {
    // A sensitive upload is shown masked at a task (as its text is): no files to open there.
    if !field.kind.is_upload() || field.sensitive {
        return Vec::new();
    }
    let mut chips = super::pages::file_chips(loaded.task_form.form, None, loaded.values.get(&field.key));
    for chip in &mut chips {
        chip.url = format!("{}?task={}", chip.url, loaded.task_id);
    }
    chips
}

/// The task page's part of a task form: the detail (read-only fields) and the inputs of the
/// editable fields, showing `posted` values and `errors` after a refused 通过.
pub(crate) async fn page_parts(
    state: &AppState,
    auth: &Auth,
    loaded: &Loaded<'_>,
    posted: Option<&Map<String, Value>>,
    errors: &[forms::FieldError],
) -> ApiResult<(TaskFormDetail, Vec<super::pages::Input>)> {
    let form = loaded.task_form.form;
    let mut values = loaded.values.clone();
    if let Some(posted) = posted {
        values.extend(posted.iter().map(|(key, value)| (key.clone(), value.clone())));
    }
    let editable: Vec<&str> = loaded
        .task_form
        .shown()
        .filter(|(_, access)| *access == Access::Editable)
        .map(|(field, _)| field.key.as_str())
        .collect();
    let mut inputs: Vec<super::pages::Input> = super::pages::inputs(catalog(state), form, &values, errors, false)
        .into_iter()
        .filter(|input| editable.contains(&input.key.as_str()))
        .collect();
    for input in &mut inputs {
        super::pages::restrict_table(input, form, loaded.task_form.view);
        if let Some(field) = form.field(&input.key) {
            input.files = task_chips(loaded, field);
        }
    }
    super::pages::reference_options(state, auth, form, &mut inputs).await?;
    Ok((detail(state, loaded), inputs))
}

/// The editable fields of a task form as the page posted them (a masked sensitive value sent
/// back untouched keeps the stored one).
pub(crate) fn posted(loaded: &Loaded<'_>, pairs: &[(String, String)]) -> Map<String, Value> {
    let task_form = loaded.task_form;
    let fields = task_form.form.fields.iter().filter(|field| task_form.access(field) == Access::Editable);
    super::pages::posted_fields(fields, pairs, Some(&loaded.values))
}

/// Refuses a variable a client may not set: the record binding of 提交审批.
pub(crate) fn refuse_reserved<'a>(mut names: impl Iterator<Item = &'a String>) -> ApiResult<()> {
    match names.find(|name| forms::task::is_reserved(name)) {
        Some(name) => Err(ApiError::coded(
            axum::http::StatusCode::FORBIDDEN,
            "reserved-variable",
            format!("变量 {name} 由系统设置，不能提交 (reserved variable)"),
        )),
        None => Ok(()),
    }
}
