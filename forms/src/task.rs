//! Task forms and the workflow binding (issue 13).
//!
//! A user task's `camunda:formKey="form:<form>"` shows the whole form at that task;
//! `form:<form>/<view>` shows the view's subset (`[views.<view>]` in the definition): its
//! `editable` fields as inputs, its `readonly` fields as text, every other field not at all.
//! The server is the truth: [`submit`] refuses a value for a field that is not editable at the
//! task (`field-not-editable`, naming it), validates the editable ones with the form's own
//! checks, and returns them as process variables and, when the instance was submitted from a
//! record of that form (`[workflow]`), as that record's update — a [`RecordWrite`] the caller
//! hands to the completing command, so the record and the task move in one transaction.
//!
//! What it must never do: write anything itself (the command does), or take the browser's word
//! for which fields a task may change.

use serde_json::{Map, Value};
use store::forms::RecordWrite;

use crate::Catalog;
use crate::definition::{Access, FORM_KEY_PREFIX, Form};
use crate::records::{self, Actor, Record, RecordError};
use crate::value::{self, FieldError, Mode};

/// The variable that names the form of the record an instance was submitted from.
pub const RECORD_FORM_VARIABLE: &str = "recordForm";
/// The variable that names that record (the instance's business key is the same id).
pub const RECORD_ID_VARIABLE: &str = "recordId";

/// Whether a variable is the record binding, which only 提交审批 sets.
pub fn is_reserved(name: &str) -> bool {
    name == RECORD_FORM_VARIABLE || name == RECORD_ID_VARIABLE
}

/// A form as one task shows it.
#[derive(Debug, Clone, Copy)]
pub struct TaskForm<'a> {
    pub form: &'a Form,
    /// The view of the form key, `None` for the whole form.
    pub view: Option<&'a str>,
    /// Every field read-only: while added signers (加签) are still to sign, an approval only
    /// moves the task between signers and writes nothing, so nothing may be typed into it.
    pub locked: bool,
}

impl TaskForm<'_> {
    /// What the task may do with a field of its form.
    pub fn access(&self, field: &crate::Field) -> Access {
        match self.form.access(self.view, field) {
            Access::Editable if self.locked => Access::Readonly,
            access => access,
        }
    }

    /// The fields the task shows (editable or read-only), in the form's order.
    pub fn shown(&self) -> impl Iterator<Item = (&crate::Field, Access)> {
        self.form.fields.iter().map(|field| (field, self.access(field))).filter(|(_, access)| *access != Access::Hidden)
    }
}

/// `form:<form>[/<view>]` as (form, view); `None` for any other form key.
pub fn parse_form_key(form_key: &str) -> Option<(&str, Option<&str>)> {
    let rest = form_key.strip_prefix(FORM_KEY_PREFIX)?;
    Some(match rest.split_once('/') {
        Some((form, view)) => (form, Some(view)),
        None => (rest, None),
    })
}

impl Catalog {
    /// The task form a `camunda:formKey` names, if it names one this catalog has.
    pub fn task_form(&self, form_key: Option<&str>) -> Option<TaskForm<'_>> {
        let (form, view) = parse_form_key(form_key?)?;
        let form = self.form(form)?;
        let view = match view {
            Some(view) => Some(form.views.get_key_value(view)?.0.as_str()),
            None => None,
        };
        Some(TaskForm { form, view, locked: false })
    }
}

/// The deploy check of form keys: a user task's `form:` key must name a form of the catalog
/// and, with a view, one of its views (so a typo fails the deploy, not the first person who
/// opens the task).
pub struct FormKeyCheck(pub std::sync::Arc<Catalog>);

impl engine::ModelCheck for FormKeyCheck {
    fn check(&self, model: &engine::ProcessModel) -> Vec<engine::Problem> {
        let mut problems = Vec::new();
        for element in model.user_tasks() {
            let engine::model::ElementKind::UserTask(task) = &element.kind else { continue };
            let Some(key) = task.form_key.as_deref() else { continue };
            let Some((form, view)) = parse_form_key(key) else { continue };
            let message = match (self.0.form(form), view) {
                (None, _) => Some(format!("camunda:formKey '{key}': there is no form '{form}'")),
                (Some(found), Some(view)) if !found.views.contains_key(view) => {
                    Some(format!("camunda:formKey '{key}': form '{form}' has no view '{view}'"))
                }
                _ => None,
            };
            if let Some(message) = message {
                problems.push(engine::Problem {
                    element_id: Some(element.id.clone()),
                    element_type: "userTask".into(),
                    message,
                });
            }
        }
        problems
    }
}

/// Why a task form's submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum TaskFormError {
    /// A value for a field the task shows read-only or not at all (403).
    #[error("{label}在此环节不可修改 (field '{field}' is not editable at this task)")]
    NotEditable { field: String, label: String },
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// A task form's submission, checked: the process variables to set and the bound record's
/// update (none when the instance has no record of this form, or nothing changed).
#[derive(Debug, Clone, Default)]
pub struct Submitted {
    pub variables: Map<String, Value>,
    pub write: Option<RecordWrite>,
}

/// Checks what a person sends with a task (`input`: any variables; those named like fields of
/// the task's form are form values) against the task form.
///
/// `current`: the values the task shows now (the bound record's, else the instance's
/// variables); `bound`: the record the instance was submitted from, when it is of this form.
/// Variables that are no field of the form pass through untouched.
#[allow(clippy::too_many_arguments)]
pub fn submit(
    crypto: &dyn crypto::CryptoProvider,
    catalog: &Catalog,
    task: TaskForm<'_>,
    actor: &Actor,
    input: &Map<String, Value>,
    current: &Map<String, Value>,
    bound: Option<&Record>,
    task_id: &str,
) -> Result<Submitted, TaskFormError> {
    let form = task.form;
    let mut given = Map::new();
    let mut variables = Map::new();
    for (name, value) in input {
        match form.field(name) {
            None => {
                variables.insert(name.clone(), value.clone());
            }
            Some(field) => match task.access(field) {
                Access::Editable => {
                    given.insert(name.clone(), value.clone());
                }
                // An API client that sends back the read-only value it was shown (sensitive
                // ones as shown, masked) has changed nothing. A hidden field is refused whatever
                // its value, so the answer tells nothing about what is stored.
                Access::Readonly
                    if current.get(name).map(|stored| shown_value(field, stored)).as_ref() == Some(value) => {}
                _ => return Err(TaskFormError::NotEditable { field: field.key.clone(), label: field.label.clone() }),
            },
        }
    }
    // Files are kept by the record that holds them: without a bound record an upload would
    // only be named by a process variable, never bound, and removed a day later.
    if bound.is_none()
        && let Some(field) = form
            .fields
            .iter()
            .find(|field| field.kind.is_upload() && given.get(&field.key).is_some_and(|value| !value.is_null()))
    {
        return Err(TaskFormError::Record(RecordError::Invalid(vec![FieldError {
            field: field.key.clone(),
            code: "no-record".into(),
            message: format!("{}：此流程没有关联的业务记录，文件无法随办理保存", field.label),
        }])));
    }
    // The editable fields checked with the form's own checks; the others are context for
    // the conditions and rules (their stored values), neither asked for nor required here.
    let mut subset = form.clone();
    for field in &mut subset.fields {
        if task.access(field) != Access::Editable {
            field.required = false;
            field.required_when = None;
        }
    }
    let previous = current.clone();
    let values = value::validate(&subset, catalog, &given, Some(&previous), Mode::Lenient, records::today())
        .map_err(|errors| TaskFormError::Record(RecordError::Invalid(errors)))?;
    let editable: Vec<&str> =
        subset.fields.iter().filter(|field| task.access(field) == Access::Editable).map(|f| f.key.as_str()).collect();
    // A sub-table editable only in some columns: the same rows, the other cells as they were.
    for table in
        form.fields.iter().filter(|field| field.kind == crate::FieldKind::Table && given.contains_key(&field.key))
    {
        if task.access(table) != Access::Editable || form.rows_editable(task.view, table) {
            continue;
        }
        let rows =
            |values: &Map<String, Value>| values.get(&table.key).and_then(Value::as_array).cloned().unwrap_or_default();
        let (before, after) = (rows(current), rows(&values));
        if before.len() != after.len() {
            return Err(TaskFormError::NotEditable {
                field: table.key.clone(), label: format!("{}的行", table.label)
            });
        }
        for (old, new) in before.iter().zip(&after) {
            for column in table.columns.iter().filter(|column| !form.column_editable(task.view, table, column)) {
                if old.get(&column.key) != new.get(&column.key) {
                    return Err(TaskFormError::NotEditable {
                        field: format!("{}.{}", table.key, column.key),
                        label: format!("{}的“{}”列", table.label, column.label),
                    });
                }
            }
        }
    }
    for field in subset.fields.iter().filter(|field| editable.contains(&field.key.as_str()) && !field.sensitive) {
        variables.insert(field.key.clone(), values.get(&field.key).cloned().unwrap_or(Value::Null));
    }
    let write = match bound {
        None => None,
        Some(record) => {
            // The record takes the editable values; an emptied one is cleared.
            let mut update: Map<String, Value> = Map::new();
            for key in &editable {
                update.insert(key.to_string(), values.get(*key).cloned().unwrap_or(Value::Null));
            }
            records::prepare_save(
                crypto,
                catalog,
                form,
                actor,
                record,
                record.version,
                &update,
                Mode::Lenient,
                Some(task_id),
                "update",
            )
            .map_err(|error| match error {
                // A check of the whole record that fails at a field this task cannot
                // change is the record's problem, named as it is.
                RecordError::Invalid(errors) => TaskFormError::Record(RecordError::Invalid(with_labels(form, errors))),
                other => TaskFormError::Record(other),
            })?
        }
    };
    Ok(Submitted { variables, write })
}

fn with_labels(form: &Form, errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|mut error| {
            if let Some(field) = form.field(&error.field)
                && !error.message.contains(&field.label)
            {
                error.message = format!("{}：{}", field.label, error.message);
            }
            error
        })
        .collect()
}

/// 提交审批 of a record (`[workflow]`): the variables its process starts with — every value
/// but the sensitive ones (process variables are read by everyone who sees the instance; a
/// task form shows those from the record), `district` (the record's, so the instance belongs
/// to the record's district), [`RECORD_FORM_VARIABLE`] and [`RECORD_ID_VARIABLE`] — and the
/// record's `submit` entry, a [`RecordWrite`] at its next version that the new instance
/// commits with it: a second submission of the same version loses.
///
/// `instance_id`: the id the new instance will have; the `submit` entry names it (in its
/// `task_id`), and a task form binds a record only to an instance its history names.
pub fn submission(
    crypto: &dyn crypto::CryptoProvider,
    catalog: &Catalog,
    form: &Form,
    actor: &Actor,
    record: &Record,
    instance_id: &str,
) -> Result<(Map<String, Value>, RecordWrite), RecordError> {
    let mut write = records::prepare_save(
        crypto,
        catalog,
        form,
        actor,
        record,
        record.version,
        &Map::new(),
        Mode::Lenient,
        None,
        "submit",
    )?
    .ok_or(RecordError::NotFound)?;
    write.change.task_id = Some(instance_id.to_string());
    let mut variables: Map<String, Value> = record
        .values
        .iter()
        .filter(|(key, _)| form.field(key).is_some_and(|field| !field.sensitive))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if let Some(district) = &record.district {
        variables.insert("district".into(), Value::String(district.clone()));
    }
    variables.insert(RECORD_FORM_VARIABLE.into(), Value::String(form.key.clone()));
    variables.insert(RECORD_ID_VARIABLE.into(), Value::String(record.id.clone()));
    Ok((variables, write))
}

/// A stored value as a task shows it: a sensitive text masked like the screens mask it.
fn shown_value(field: &crate::Field, stored: &Value) -> Value {
    match stored {
        Value::String(text) if field.sensitive => Value::String(crate::value::masked(field, text)),
        other => other.clone(),
    }
}
