//! Records of a form: create, update, delete, restore, read, list and history, over the
//! storage port `store::FormStore`. This is where a definition becomes rows: the values are
//! validated ([`crate::validate`]), the title, search text and key columns derived, the unique
//! values named, the district taken from the form's district field and held to the actor's
//! data scope, and every change written with who made it and what changed.
//!
//! The screens, the JSON API and (later) imports and task forms all call these functions, so
//! none of them can skip a check.

use chrono::NaiveDate;
use serde_json::{Map, Value};
use store::forms::{
    Deleted, FormRecord, KeyCondition, RecordChange, RecordQuery, RecordSort, RecordWrite, UniqueValue,
};
use store::{DataScope, Page, Store};

use crate::Catalog;
use crate::definition::{FieldKind, Form, SortKey};
use crate::value::{self, FieldError, Mode};

/// Why a record operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The submission: every failing field.
    #[error("invalid submission")]
    Invalid(Vec<FieldError>),
    /// No such record in the caller's scope (whether it exists elsewhere is not said).
    #[error("记录不存在")]
    NotFound,
    /// The record changed since the caller read it (the version they sent is stale).
    #[error("记录已被他人修改，请刷新后重试 (version {expected} is stale; the record is at {current})")]
    Stale { expected: i64, current: i64 },
    #[error(transparent)]
    Store(#[from] store::Error),
    /// A sensitive value could not be sealed or opened (a key that does not match the data).
    #[error(transparent)]
    Sealed(#[from] crate::sealed::SealError),
}

pub type Result<T> = std::result::Result<T, RecordError>;

/// Who acts, with their data scope (the scope decides what they see and where they may write).
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: String,
    pub unit: Option<String>,
    pub scope: DataScope,
}

/// A record as the screens and the API read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    pub version: i64,
    pub values: Map<String, Value>,
    pub district: Option<String>,
    pub title: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_by: String,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
    pub deleted_by: Option<String>,
}

impl Record {
    pub(crate) fn from_row(row: FormRecord, crypto: &dyn crypto::CryptoProvider) -> Result<Record> {
        let values = match serde_json::from_str::<Value>(&row.data) {
            Ok(Value::Object(values)) => crate::sealed::open(&row.form, crypto, &row.id, values)?,
            _ => return Err(RecordError::Store(store::Error::Corrupt(format!("record {} is no JSON object", row.id)))),
        };
        Ok(Record {
            id: row.id,
            version: row.version,
            values,
            district: row.district,
            title: row.title,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_by: row.updated_by,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
            deleted_by: row.deleted_by,
        })
    }
}

/// One entry of a record's history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryEntry {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub task_id: Option<String>,
    /// (field, old, new) of each changed field.
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// Shanghai's date today (a birth date may not be later).
pub fn today() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

use store::{new_id, now_millis};

/// The derived columns of a record's values: title, search text, key columns.
pub(crate) fn derived(form: &Form, values: &Map<String, Value>) -> (String, String, Vec<String>) {
    let title = values.get(&form.title).map(|value| match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    });
    let mut keys = vec![String::new(); store::forms::KEY_COLUMNS];
    for field in &form.fields {
        if let Some(slot) = field.slot {
            let key = value::key_text(field, values.get(&field.key));
            // Free text is cut to the key length; codes, numbers and dates are short already
            // (and a list's `|a|b|` must stay whole for its filter).
            keys[slot] = if field.kind.is_text() { key.chars().take(store::forms::KEY_CHARS).collect() } else { key };
        }
    }
    (title.unwrap_or_default(), value::search_text(form, values), keys)
}

/// The values of a record's unique fields as `form_unique` holds them: the text compared
/// without case, or, for a sensitive field, its blind index (never the value).
pub(crate) fn unique_values(
    form: &Form,
    values: &Map<String, Value>,
    crypto: &dyn crypto::CryptoProvider,
) -> Result<Vec<UniqueValue>> {
    let mut unique = Vec::new();
    for field in form.fields.iter().filter(|field| field.unique) {
        let Some(value) = values.get(&field.key) else { continue };
        unique.push(UniqueValue { field: field.key.clone(), value: unique_key(form, field, value, crypto)? });
    }
    Ok(unique)
}

/// One unique field's value as `form_unique` holds it (see [`unique_values`]).
pub(crate) fn unique_key(
    form: &Form,
    field: &crate::Field,
    value: &Value,
    crypto: &dyn crypto::CryptoProvider,
) -> Result<String> {
    let text = unique_text(value);
    if field.sensitive { Ok(crate::sealed::index(crypto, form, field, &text)?) } else { Ok(text) }
}

/// A stored value as its unique field compares it: without case ("Ab" and "aB" are one code).
pub(crate) fn unique_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.to_lowercase(),
        other => other.to_string(),
    }
}

/// The record's district from its district field, held to the actor's scope: a district
/// account writes only its own district's records.
pub(crate) fn district_of(form: &Form, values: &Map<String, Value>, actor: &Actor) -> Result<Option<String>> {
    let Some(field) = &form.district else { return Ok(None) };
    let district = values.get(field).and_then(Value::as_str).map(str::to_string);
    if let DataScope::District(own) = &actor.scope
        && district.as_deref() != Some(own.as_str())
    {
        return Err(RecordError::Invalid(vec![FieldError {
            field: field.clone(),
            code: "district-out-of-scope".into(),
            message: "只能填写本区的记录".into(),
        }]));
    }
    Ok(district)
}

pub(crate) fn history_json(changes: &[FieldChange]) -> String {
    serde_json::to_string(changes).unwrap_or_else(|_| "[]".into())
}

/// What changed, field by field, as the history keeps it: a sensitive field's values masked
/// (the history says that it changed, never what it holds).
pub(crate) fn field_changes(form: &Form, old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<FieldChange> {
    let masked = |field: &str, value: Option<Value>| match (form.field(field), value) {
        (Some(definition), Some(Value::String(text))) if definition.sensitive => {
            Some(Value::String(value::masked(definition, &text)))
        }
        (Some(definition), Some(other)) if definition.sensitive && !other.is_null() => {
            Some(Value::String("***".into()))
        }
        (_, value) => value,
    };
    value::changes(form, old, new)
        .into_iter()
        .map(|(field, old, new)| FieldChange { old: masked(&field, old), new: masked(&field, new), field })
        .collect()
}

/// The stored document of a record: its values with the sensitive ones sealed.
pub(crate) fn stored_data(
    form: &Form,
    crypto: &dyn crypto::CryptoProvider,
    id: &str,
    values: &Map<String, Value>,
) -> Result<String> {
    Ok(Value::Object(crate::sealed::seal(form, crypto, id, values)?).to_string())
}

/// A refusal of the store in the record's terms: a duplicate at its field; an upload that
/// another save took first.
fn refusal(form: &Form, error: store::Error) -> RecordError {
    match error {
        store::Error::Invalid(message) if message.starts_with(store::forms::UPLOAD_TAKEN) => {
            RecordError::Invalid(vec![FieldError {
                field: "_form".into(),
                code: "not-file".into(),
                message: "所选文件已不可用（可能已被其他记录使用），请重新上传".into(),
            }])
        }
        store::Error::Duplicate(field) => {
            let label = form.field(&field).map(|field| field.label.clone()).unwrap_or_else(|| field.clone());
            RecordError::Invalid(vec![FieldError {
                field,
                code: "duplicate".into(),
                message: format!("{label}已被其他记录使用，不能重复"),
            }])
        }
        other => RecordError::Store(other),
    }
}

/// Turns what a submission names in each reference, user or unit field — an id (the screens
/// and the API), or a title / display name / unit name as people type it (an import) — into
/// the stored `{"id", "title"}` of a live record of the target form, an active account or a
/// unit inside the actor's scope. What names nothing there, or several, stays as given and the
/// validation refuses it (`not-reference`, `not-user`, `not-unit`), so no one can point at
/// what they cannot see.
///
/// `previous`: the stored values of an edit — a field that still names the record, account or
/// unit it named keeps it as stored, even when that is no longer to be found (deleted,
/// moved, frozen): an edit of other fields never fails on it.
pub async fn resolve_references(
    store: &dyn Store,
    catalog: &Catalog,
    form: &Form,
    actor: &Actor,
    input: &mut Map<String, Value>,
    previous: Option<&Map<String, Value>>,
) -> Result<()> {
    resolve_uploads(store, form, actor, input, previous).await?;
    for field in form.fields.iter().filter(|field| field.kind.is_link()) {
        let named = match input.get(&field.key) {
            Some(Value::Object(object)) => object.get("id").and_then(Value::as_str).map(str::to_string),
            Some(Value::String(text)) => Some(text.trim().to_string()),
            _ => None,
        };
        let Some(named) = named.filter(|named| !named.is_empty()) else { continue };
        let kept = previous
            .and_then(|previous| previous.get(&field.key))
            .filter(|stored| stored.get("id").and_then(Value::as_str) == Some(named.as_str()));
        if let Some(stored) = kept {
            input.insert(field.key.clone(), stored.clone());
            continue;
        }
        let found = match field.kind {
            FieldKind::User => find_account(store, actor, &named).await?,
            FieldKind::Unit => find_unit(store, actor, &named).await?,
            _ => {
                let Some(target) = field.target.as_deref().and_then(|key| catalog.form(key)) else { continue };
                find_record(store, target, actor, &named).await?
            }
        };
        let resolved = match found {
            Some((id, title)) => serde_json::json!({ "id": id, "title": title }),
            None => Value::String(named),
        };
        input.insert(field.key.clone(), resolved);
    }
    Ok(())
}

/// The uploads `new` holds in its file and image fields that `old` did not: what a save binds
/// to the record.
pub(crate) fn new_uploads(form: &Form, old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<String> {
    let ids = |values: &Map<String, Value>, field: &crate::Field| -> Vec<String> { file_ids(values.get(&field.key)) };
    let mut files = Vec::new();
    for field in form.fields.iter().filter(|field| field.kind.is_upload()) {
        let before = ids(old, field);
        files.extend(ids(new, field).into_iter().filter(|id| !before.contains(id)));
    }
    files
}

/// The file ids of a stored file or image value.
pub fn file_ids(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|file| file.get("id").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// Turns what a submission names in each file or image field — file ids, as a list, a list of
/// `{"id"}` objects or a comma-separated text — into the stored descriptions: a file the field
/// already held stays as stored; any other must be the actor's own upload that nothing holds
/// yet (else it stays an id and the validation refuses it, `not-file`), so nobody can take a
/// file of another record or of another person into theirs.
async fn resolve_uploads(
    store: &dyn Store,
    form: &Form,
    actor: &Actor,
    input: &mut Map<String, Value>,
    previous: Option<&Map<String, Value>>,
) -> Result<()> {
    for field in form.fields.iter().filter(|field| field.kind.is_upload()) {
        let named: Vec<String> = match input.get(&field.key) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|item| match item {
                    Value::String(id) => Some(id.trim().to_string()),
                    Value::Object(object) => object.get("id").and_then(Value::as_str).map(str::to_string),
                    _ => None,
                })
                .collect(),
            Some(Value::String(text)) => text.split(',').map(|id| id.trim().to_string()).collect(),
            Some(Value::Object(object)) => {
                object.get("id").and_then(Value::as_str).map(str::to_string).into_iter().collect()
            }
            _ => continue,
        };
        let mut seen = std::collections::HashSet::new();
        let named: Vec<String> = named.into_iter().filter(|id| !id.is_empty() && seen.insert(id.clone())).collect();
        if named.len() > field.max_files {
            // More than the field holds: refused as such (`too-many-files`), nothing looked up.
            input.insert(field.key.clone(), Value::Array(named.into_iter().map(Value::String).collect()));
            continue;
        }
        let stored: Vec<Value> = previous
            .and_then(|previous| previous.get(&field.key))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let fresh: Vec<String> = named
            .iter()
            .filter(|id| !stored.iter().any(|file| file.get("id").and_then(Value::as_str) == Some(id.as_str())))
            .cloned()
            .collect();
        let uploads = if fresh.is_empty() { Vec::new() } else { store.files(&fresh).await? };
        let resolved: Vec<Value> = named
            .iter()
            .map(|id| {
                if let Some(kept) =
                    stored.iter().find(|file| file.get("id").and_then(Value::as_str) == Some(id.as_str()))
                {
                    return kept.clone();
                }
                match uploads.iter().find(|file| {
                    &file.id == id
                        && file.uploaded_by == actor.user
                        && file.instance_id.is_none()
                        && file.record_id.is_none()
                }) {
                    Some(file) => serde_json::json!({
                        "id": file.id, "name": file.name, "contentType": file.content_type, "size": file.size,
                    }),
                    None => Value::String(id.clone()),
                }
            })
            .collect();
        input.insert(field.key.clone(), Value::Array(resolved));
    }
    Ok(())
}

/// A live record of `target` the actor can see, by id or by its exact title (one only).
async fn find_record(store: &dyn Store, target: &Form, actor: &Actor, named: &str) -> Result<Option<(String, String)>> {
    if let Some(row) = store.form_record(&target.key, named, &actor.scope).await?
        && row.deleted_at.is_none()
    {
        return Ok(Some((row.id, row.title)));
    }
    let mut query = RecordQuery::new(actor.scope.clone());
    query.form = target.key.clone();
    query.text = Some(named.to_string());
    query.page = Page { first_result: 0, max_results: Some(20) };
    query.without_total = true;
    let (rows, _) = store.form_records(&query).await?;
    let mut exact = rows.into_iter().filter(|row| row.title == named);
    Ok(match (exact.next(), exact.next()) {
        (Some(row), None) => Some((row.id, row.title)),
        _ => None,
    })
}

/// An active account inside the actor's scope, by id or by its exact display name (one only).
async fn find_account(store: &dyn Store, actor: &Actor, named: &str) -> Result<Option<(String, String)>> {
    let query = store::identity::AccountQuery {
        search: Some(named.to_string()),
        status: Some("active".into()),
        limit: Some(500),
        ..store::identity::AccountQuery::new(actor.scope.clone())
    };
    let accounts = store.accounts(&query).await?;
    let title = |account: &store::identity::Account| account.display_name.clone().unwrap_or_else(|| account.id.clone());
    if let Some(account) = accounts.iter().find(|account| account.id == named) {
        return Ok(Some((account.id.clone(), title(account))));
    }
    let mut exact = accounts.iter().filter(|account| account.display_name.as_deref() == Some(named));
    Ok(match (exact.next(), exact.next()) {
        (Some(account), None) => Some((account.id.clone(), title(account))),
        _ => None,
    })
}

/// The units an actor may name: every unit for the city, a district's own units for a
/// district account, the actor's own unit otherwise.
pub async fn units_in_scope(store: &dyn Store, actor: &Actor) -> Result<Vec<store::identity::OrgUnit>> {
    let units = store.org_units().await?;
    Ok(units
        .into_iter()
        .filter(|unit| match &actor.scope {
            DataScope::All => true,
            DataScope::District(district) => {
                unit.district.as_deref() == Some(district.as_str()) || &unit.id == district
            }
            DataScope::Nothing => false,
            _ => actor.unit.as_deref() == Some(unit.id.as_str()),
        })
        .collect())
}

/// A unit inside the actor's scope, by id or by its exact name (one only).
async fn find_unit(store: &dyn Store, actor: &Actor, named: &str) -> Result<Option<(String, String)>> {
    let units = units_in_scope(store, actor).await?;
    if let Some(unit) = units.iter().find(|unit| unit.id == named) {
        return Ok(Some((unit.id.clone(), unit.name.clone())));
    }
    let mut exact = units.iter().filter(|unit| unit.name == named);
    Ok(match (exact.next(), exact.next()) {
        (Some(unit), None) => Some((unit.id.clone(), unit.name.clone())),
        _ => None,
    })
}

/// Creates a record from a submission. `task_id`: the task it was made in.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    catalog: &Catalog,
    form: &Form,
    actor: &Actor,
    input: &Map<String, Value>,
    mode: Mode,
    task_id: Option<&str>,
) -> Result<Record> {
    let mut input = editable(form, input, None, mode)?;
    resolve_references(store, catalog, form, actor, &mut input, None).await?;
    let values = value::validate(form, catalog, &input, None, mode, today()).map_err(RecordError::Invalid)?;
    let district = district_of(form, &values, actor)?;
    let (title, search, keys) = derived(form, &values);
    let at = now_millis();
    let id = new_id();
    let data = stored_data(form, crypto, &id, &values)?;
    let row = FormRecord {
        id: id.clone(),
        form: form.key.clone(),
        version: 1,
        district,
        unit_id: actor.unit.clone(),
        created_by: actor.user.clone(),
        created_at: at,
        updated_by: actor.user.clone(),
        updated_at: at,
        deleted_at: None,
        deleted_by: None,
        title,
        search,
        data,
        keys,
    };
    let changes = field_changes(form, &Map::new(), &values);
    let files = new_uploads(form, &Map::new(), &values);
    let change = RecordChange {
        id: new_id(),
        record_id: id.clone(),
        form: form.key.clone(),
        at,
        actor: actor.user.clone(),
        action: "create".into(),
        changes: history_json(&changes),
        task_id: task_id.map(str::to_string),
        files,
    };
    store
        .insert_form_record(&row, &unique_values(form, &values, crypto)?, &change)
        .await
        .map_err(|error| refusal(form, error))?;
    Record::from_row(row, crypto)
}

/// A new record's stored row built from `input` like [`create`] builds it (validated, district
/// held to the actor's scope, key columns derived) without writing it, for benchmarks and bulk
/// fixtures (`FormStore::insert_form_fixture`; unique values are not taken).
pub fn fixture(
    form: &Form,
    crypto: &dyn crypto::CryptoProvider,
    catalog: &Catalog,
    actor: &Actor,
    input: &Map<String, Value>,
) -> Result<FormRecord> {
    let input = editable(form, input, None, Mode::Strict)?;
    let values = value::validate(form, catalog, &input, None, Mode::Strict, today()).map_err(RecordError::Invalid)?;
    let district = district_of(form, &values, actor)?;
    let (title, search, keys) = derived(form, &values);
    let at = now_millis();
    let id = new_id();
    Ok(FormRecord {
        data: stored_data(form, crypto, &id, &values)?,
        id,
        form: form.key.clone(),
        version: 1,
        district,
        unit_id: actor.unit.clone(),
        created_by: actor.user.clone(),
        created_at: at,
        updated_by: actor.user.clone(),
        updated_at: at,
        deleted_at: None,
        deleted_by: None,
        title,
        search,
        keys,
    })
}

/// The stored values of fields the definition no longer has: kept through an edit, so a field
/// removed from a definition and added again finds its values (see `docs/forms.md`).
pub(crate) fn keep_removed(form: &Form, previous: &Map<String, Value>, values: &mut Map<String, Value>) {
    for (key, value) in previous {
        if form.field(key).is_none() {
            values.insert(key.clone(), value.clone());
        }
    }
}

/// A submission without what an edit may not set: read-only fields keep their stored value (a
/// new record gets the default); defaults fill what a new record leaves empty. A strict
/// client that sends a different value for a read-only field is told so (`read-only`).
pub(crate) fn editable(
    form: &Form,
    input: &Map<String, Value>,
    previous: Option<&Map<String, Value>>,
    mode: Mode,
) -> Result<Map<String, Value>> {
    let mut input = input.clone();
    let mut errors = Vec::new();
    for field in &form.fields {
        let kept = match previous {
            Some(previous) => previous.get(&field.key).cloned(),
            None => field.default.clone(),
        };
        if field.readonly {
            if let Some(given) = input.remove(&field.key)
                && mode == Mode::Strict
                && !given.is_null()
                && Some(&given) != kept.as_ref()
            {
                errors.push(FieldError {
                    field: field.key.clone(),
                    code: "read-only".into(),
                    message: format!("{}只能通过操作更改", field.label),
                });
            }
            if previous.is_none()
                && let Some(default) = kept
            {
                input.insert(field.key.clone(), default);
            }
        } else if previous.is_none()
            && input.get(&field.key).is_none_or(Value::is_null)
            && let Some(default) = &field.default
        {
            input.insert(field.key.clone(), default.clone());
        }
    }
    if errors.is_empty() { Ok(input) } else { Err(RecordError::Invalid(errors)) }
}

/// One record of the form inside the actor's scope.
pub async fn get(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    form: &Form,
    actor: &Actor,
    id: &str,
) -> Result<Record> {
    match store.form_record(&form.key, id, &actor.scope).await? {
        Some(row) => Record::from_row(row, crypto),
        None => Err(RecordError::NotFound),
    }
}

/// Updates a live record the actor can see, if it is still at `expected_version`. Fields the
/// submission leaves out keep their values.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    catalog: &Catalog,
    form: &Form,
    actor: &Actor,
    id: &str,
    expected_version: i64,
    input: &Map<String, Value>,
    mode: Mode,
    task_id: Option<&str>,
) -> Result<Record> {
    let current = get(store, crypto, form, actor, id).await?;
    let mut input = input.clone();
    resolve_references(store, catalog, form, actor, &mut input, Some(&current.values)).await?;
    save(store, crypto, catalog, form, actor, current, expected_version, &input, mode, task_id, "update").await
}

/// Sets fields of a live record as the system: a domain handler's effect (PREF-03's
/// activation of an institution) or the demo's read-only values. Read-only fields included,
/// every check of an edit applied, the history naming `system:<action>`. `actor` is the system
/// (`store::SYSTEM_ACTOR`) with the data scope it acts in.
#[allow(clippy::too_many_arguments)]
pub async fn set_by_system(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    catalog: &Catalog,
    form: &Form,
    actor: &Actor,
    id: &str,
    expected_version: i64,
    values: &Map<String, Value>,
    action: &str,
) -> Result<Record> {
    let current = get(store, crypto, form, actor, id).await?;
    let mut input = values.clone();
    resolve_references(store, catalog, form, actor, &mut input, Some(&current.values)).await?;
    let action = format!("system:{action}");
    save(store, crypto, catalog, form, actor, current, expected_version, &input, Mode::Strict, None, &action).await
}

/// Whether `action` applies to `record` now (its `when`).
pub fn action_applies(
    catalog: &Catalog,
    form: &Form,
    action: &crate::definition::RecordAction,
    record: &Record,
) -> bool {
    match &action.when {
        None => true,
        Some(when) => {
            catalog.scripting().eval_condition(when, &value::variables(form, &record.values)).unwrap_or(false)
        }
    }
}

/// Whether `record` may be submitted to its form's process now (`[workflow] when`).
pub fn submission_applies(catalog: &Catalog, form: &Form, record: &Record) -> bool {
    match form.workflow.as_ref().and_then(|workflow| workflow.when.as_ref()) {
        None => true,
        Some(when) => {
            catalog.scripting().eval_condition(when, &value::variables(form, &record.values)).unwrap_or(false)
        }
    }
}

/// Runs a record action on a live record at `expected_version`: refused (`action-not-allowed`)
/// when its `when` does not hold; its values are saved like an edit, the history naming the
/// action. The caller has checked the action's permission and carried out its account effect.
#[allow(clippy::too_many_arguments)]
pub async fn act(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    catalog: &Catalog,
    form: &Form,
    actor: &Actor,
    id: &str,
    expected_version: i64,
    action: &crate::definition::RecordAction,
) -> Result<Record> {
    let current = get(store, crypto, form, actor, id).await?;
    if current.deleted_at.is_some() {
        return Err(RecordError::NotFound);
    }
    if current.version != expected_version {
        return Err(RecordError::Stale { expected: expected_version, current: current.version });
    }
    if !action_applies(catalog, form, action, &current) {
        return Err(RecordError::Invalid(vec![FieldError {
            field: "_form".into(),
            code: "action-not-allowed".into(),
            message: format!("当前状态下不能{}", action.label),
        }]));
    }
    let key = format!("action:{}", action.key);
    save(store, crypto, catalog, form, actor, current, expected_version, &action.set, Mode::Strict, None, &key).await
}

/// A validated change of `current`, ready to write: `None` when it changes nothing.
#[allow(clippy::too_many_arguments)]
pub(crate) fn prepare_save(
    crypto: &dyn crypto::CryptoProvider,
    catalog: &Catalog,
    form: &Form,
    actor: &Actor,
    current: &Record,
    expected_version: i64,
    input: &Map<String, Value>,
    mode: Mode,
    task_id: Option<&str>,
    action: &str,
) -> Result<Option<RecordWrite>> {
    if current.deleted_at.is_some() {
        return Err(RecordError::NotFound);
    }
    if current.version != expected_version {
        return Err(RecordError::Stale { expected: expected_version, current: current.version });
    }
    // A record action sets read-only fields, and so does a task whose view makes them editable
    // (the caller passes only those); an edit cannot.
    let input = if action == "update" && task_id.is_none() {
        editable(form, input, Some(&current.values), mode)?
    } else {
        input.clone()
    };
    let mut values =
        value::validate(form, catalog, &input, Some(&current.values), mode, today()).map_err(RecordError::Invalid)?;
    keep_removed(form, &current.values, &mut values);
    let district = district_of(form, &values, actor)?;
    let changes = field_changes(form, &current.values, &values);
    // An edit or a system step that changes nothing writes nothing (a handler run again finds
    // its values set); a record action is recorded even so.
    if changes.is_empty() && district == current.district && (action == "update" || action.starts_with("system:")) {
        return Ok(None);
    }
    let (title, search, keys) = derived(form, &values);
    let at = now_millis();
    let record = FormRecord {
        id: current.id.clone(),
        form: form.key.clone(),
        version: expected_version + 1,
        district,
        unit_id: None,
        created_by: current.created_by.clone(),
        created_at: current.created_at,
        updated_by: actor.user.clone(),
        updated_at: at,
        deleted_at: None,
        deleted_by: None,
        title,
        search,
        data: stored_data(form, crypto, &current.id, &values)?,
        keys,
    };
    let change = RecordChange {
        id: new_id(),
        record_id: current.id.clone(),
        form: form.key.clone(),
        at,
        actor: actor.user.clone(),
        action: action.into(),
        changes: history_json(&changes),
        task_id: task_id.map(str::to_string),
        files: new_uploads(form, &current.values, &values),
    };
    Ok(Some(RecordWrite { unique: unique_values(form, &values, crypto)?, record, expected_version, change }))
}

#[allow(clippy::too_many_arguments)]
async fn save(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    catalog: &Catalog,
    form: &Form,
    actor: &Actor,
    current: Record,
    expected_version: i64,
    input: &Map<String, Value>,
    mode: Mode,
    task_id: Option<&str>,
    action: &str,
) -> Result<Record> {
    let Some(write) =
        prepare_save(crypto, catalog, form, actor, &current, expected_version, input, mode, task_id, action)?
    else {
        return Ok(current);
    };
    let RecordWrite { record, unique, change, .. } = write;
    match store.update_form_record(&record, expected_version, &unique, &change).await {
        Ok(()) => Record::from_row(record, crypto),
        // Someone saved between our read and our write: the same answer as a stale version.
        Err(store::Error::Conflict(_)) => {
            let now = get(store, crypto, form, actor, &current.id).await?;
            Err(RecordError::Stale { expected: expected_version, current: now.version })
        }
        Err(error) => Err(refusal(form, error)),
    }
}

/// Moves a record to the recycle bin (restorable; recorded).
pub async fn delete(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    form: &Form,
    actor: &Actor,
    id: &str,
    expected_version: i64,
) -> Result<()> {
    let current = get(store, crypto, form, actor, id).await?;
    if current.deleted_at.is_some() {
        return Err(RecordError::NotFound);
    }
    if current.version != expected_version {
        return Err(RecordError::Stale { expected: expected_version, current: current.version });
    }
    let change = RecordChange {
        id: new_id(),
        record_id: id.to_string(),
        form: form.key.clone(),
        at: now_millis(),
        actor: actor.user.clone(),
        action: "delete".into(),
        changes: "[]".into(),
        task_id: None,
        files: Vec::new(),
    };
    match store.delete_form_record(&form.key, id, expected_version, &change).await {
        Err(store::Error::Conflict(_)) => {
            let now = get(store, crypto, form, actor, id).await?;
            Err(RecordError::Stale { expected: expected_version, current: now.version })
        }
        other => Ok(other?),
    }
}

/// Takes a record out of the recycle bin; its unique values must still be free.
pub async fn restore(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    form: &Form,
    actor: &Actor,
    id: &str,
) -> Result<Record> {
    let current = get(store, crypto, form, actor, id).await?;
    if current.deleted_at.is_none() {
        return Err(RecordError::NotFound);
    }
    let change = RecordChange {
        id: new_id(),
        record_id: id.to_string(),
        form: form.key.clone(),
        at: now_millis(),
        actor: actor.user.clone(),
        action: "restore".into(),
        changes: "[]".into(),
        task_id: None,
        files: Vec::new(),
    };
    store
        .restore_form_record(&form.key, id, &unique_values(form, &current.values, crypto)?, &change)
        .await
        .map_err(|error| refusal(form, error))?;
    get(store, crypto, form, actor, id).await
}

/// The history of a record the actor can see, oldest first.
pub async fn history(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    form: &Form,
    actor: &Actor,
    id: &str,
) -> Result<Vec<HistoryEntry>> {
    get(store, crypto, form, actor, id).await?;
    let rows = store.form_record_changes(id).await?;
    Ok(rows
        .into_iter()
        .map(|row| HistoryEntry {
            at: row.at,
            actor: row.actor,
            action: row.action,
            task_id: row.task_id,
            changes: serde_json::from_str(&row.changes).unwrap_or_default(),
        })
        .collect())
}

/// A filter of a list, by field.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    /// Part of a text field.
    Text(String),
    /// One of these codes (a select, a district, a boolean as `true` / `false`; any of them
    /// held by a multi-select).
    AnyOf(Vec<String>),
    /// An ordered field within [from, to].
    Range(Option<String>, Option<String>),
}

/// What a list asks for; field names and values as the URL or the API gave them.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub filters: Vec<(String, FilterValue)>,
    pub text: Option<String>,
    /// A field key, `updated` or `created`, ascending?
    pub sort: Option<(String, bool)>,
    pub page: i64,
    pub page_size: i64,
    pub deleted: Deleted,
    pub ids: Option<Vec<String>>,
}

/// The largest page a list or the API serves.
pub const MAX_PAGE_SIZE: i64 = 200;

/// The store query of a list request: every filter and the sort checked against the form,
/// each problem at its field (code `bad-filter` / `bad-sort`).
pub fn query(form: &Form, scope: DataScope, request: &ListRequest) -> Result<RecordQuery> {
    let mut errors = Vec::new();
    let mut query = RecordQuery::new(scope);
    query.form = form.key.clone();
    query.deleted = request.deleted;
    query.text = request.text.clone();
    query.ids = request.ids.clone();
    for (key, filter) in &request.filters {
        let Some(field) = form.field(key).filter(|field| field.filter) else {
            errors.push(FieldError {
                field: key.clone(),
                code: "bad-filter".into(),
                message: format!("不能按 {key} 筛选"),
            });
            continue;
        };
        let Some(slot) = field.slot else { continue };
        let condition = match (field.kind, filter) {
            (kind, FilterValue::Text(text)) if kind.is_text() => KeyCondition::Contains(slot, text.trim().to_string()),
            (FieldKind::Boolean, FilterValue::AnyOf(values)) => KeyCondition::In(
                slot,
                values
                    .iter()
                    .map(|value| if matches!(value.as_str(), "true" | "1" | "是") { "1" } else { "0" }.to_string())
                    .collect(),
            ),
            (kind, FilterValue::AnyOf(values)) if kind.is_list() => KeyCondition::Tagged(slot, values.clone()),
            (kind, FilterValue::AnyOf(values)) if kind.has_options() => {
                // The form's district field is the record's district column too: saying so
                // lets the lists' covering index (form, district, …) answer the filter.
                if form.district.as_deref() == Some(field.key.as_str()) {
                    query.district = Some(values.clone());
                }
                KeyCondition::In(slot, values.clone())
            }
            (kind, FilterValue::Range(from, to)) if kind.is_ordered() => {
                let mut bound = |text: &Option<String>| -> Option<String> {
                    let text = text.as_ref()?;
                    let key = value::key_of_input(field, text);
                    if key.is_none() {
                        errors.push(FieldError {
                            field: field.key.clone(),
                            code: "bad-filter".into(),
                            message: format!("“{text}”不是有效的{}", field.label),
                        });
                    }
                    key
                };
                let (from, to) = (bound(from), bound(to));
                // A date range's end includes that whole day.
                let to = match (field.kind, to) {
                    (FieldKind::Datetime, Some(to)) if to.len() == 10 => Some(format!("{to}T23:59")),
                    (_, to) => to,
                };
                KeyCondition::Range(slot, from, to)
            }
            _ => {
                errors.push(FieldError {
                    field: key.clone(),
                    code: "bad-filter".into(),
                    message: format!("{}的筛选值无效", field.label),
                });
                continue;
            }
        };
        query.conditions.push(condition);
    }
    let (sort, ascending) = match &request.sort {
        Some((name, ascending)) => (name.as_str(), *ascending),
        None => match &form.sort {
            (SortKey::Updated, ascending) => ("updated", *ascending),
            (SortKey::Created, ascending) => ("created", *ascending),
            (SortKey::Field(field), ascending) => (field.as_str(), *ascending),
        },
    };
    query.sort = match sort {
        "updated" => Some((RecordSort::Updated, ascending)),
        "created" => Some((RecordSort::Created, ascending)),
        field => match form.field(field).filter(|field| field.sortable).and_then(|field| field.slot) {
            Some(slot) => Some((RecordSort::Key(slot), ascending)),
            None => {
                errors.push(FieldError {
                    field: field.to_string(),
                    code: "bad-sort".into(),
                    message: format!("不能按 {field} 排序"),
                });
                None
            }
        },
    };
    let size = request.page_size.clamp(1, MAX_PAGE_SIZE);
    let first = (request.page.max(1) - 1).checked_mul(size).ok_or_else(|| {
        RecordError::Invalid(vec![FieldError {
            field: "page".into(),
            code: "bad-page".into(),
            message: "页码无效".into(),
        }])
    })?;
    query.page = Page { first_result: first, max_results: Some(size) };
    if errors.is_empty() { Ok(query) } else { Err(RecordError::Invalid(errors)) }
}

/// A page of records and the total.
pub async fn list(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    form: &Form,
    actor: &Actor,
    request: &ListRequest,
) -> Result<(Vec<Record>, i64)> {
    let query = query(form, actor.scope.clone(), request)?;
    let (rows, total) = store.form_records(&query).await?;
    Ok((rows.into_iter().map(|row| Record::from_row(row, crypto)).collect::<Result<Vec<_>>>()?, total))
}

/// Every record a list request matches, in its order, a batch at a time through a keyset
/// cursor (no OFFSET: the millionth row costs what the first does). An export reads it.
pub struct Walker<'a> {
    store: &'a dyn Store,
    crypto: &'a dyn crypto::CryptoProvider,
    query: RecordQuery,
    batch: i64,
    done: bool,
}

impl<'a> Walker<'a> {
    /// Checks the request against the form (its errors come now, before anything is sent).
    pub fn new(
        store: &'a dyn Store,
        crypto: &'a dyn crypto::CryptoProvider,
        form: &Form,
        actor: &Actor,
        request: &ListRequest,
        batch: i64,
    ) -> Result<Walker<'a>> {
        let mut query = query(form, actor.scope.clone(), request)?;
        query.page = Page { first_result: 0, max_results: Some(batch) };
        query.without_total = true;
        Ok(Walker { store, crypto, query, batch, done: false })
    }

    /// The next batch; `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<Record>>> {
        if self.done {
            return Ok(None);
        }
        let (rows, _) = self.store.form_records(&self.query).await?;
        self.done = (rows.len() as i64) < self.batch;
        self.query.after = rows.last().map(|row| store::forms::cursor_of(row, self.query.sort));
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(rows.into_iter().map(|row| Record::from_row(row, self.crypto)).collect::<Result<Vec<_>>>()?))
    }
}

/// The history of a record kept sensitive values in clear before sealing: masked now, as
/// [`field_changes`] writes them.
async fn mask_history(store: &dyn Store, form: &Form, record_id: &str) -> Result<()> {
    let mut rewritten = Vec::new();
    for row in store.form_record_changes(record_id).await? {
        let Ok(changes) = serde_json::from_str::<Vec<FieldChange>>(&row.changes) else { continue };
        let masked: Vec<FieldChange> = changes
            .iter()
            .map(|change| {
                let mask = |value: &Option<Value>| match (form.field(&change.field), value) {
                    (Some(field), Some(Value::String(text))) if field.sensitive && !text.contains('*') => {
                        Some(Value::String(value::masked(field, text)))
                    }
                    (_, value) => value.clone(),
                };
                FieldChange { field: change.field.clone(), old: mask(&change.old), new: mask(&change.new) }
            })
            .collect();
        if masked != changes {
            rewritten.push((row.id, history_json(&masked)));
        }
    }
    if !rewritten.is_empty() {
        store.rewrite_form_record_changes(&rewritten).await?;
    }
    Ok(())
}

/// Derives the stored columns of every record of each form whose layout changed since the
/// rows were written (a new filter field, a new sort key, a field made sensitive …), in
/// batches, and seals sensitive values still stored in clear. Returns how many records were
/// indexed again.
pub async fn reindex(store: &dyn Store, crypto: &dyn crypto::CryptoProvider, catalog: &Catalog) -> Result<u64> {
    let mut total = 0;
    let mut sealed = 0_u64;
    for form in catalog.forms() {
        let layout = form.layout();
        if store.form_layout(&form.key).await?.as_deref() == Some(layout.as_str()) {
            continue;
        }
        let mut query = RecordQuery::new(DataScope::All);
        query.form = form.key.clone();
        query.deleted = Deleted::Any;
        query.sort = Some((RecordSort::Created, true));
        query.page = Page { first_result: 0, max_results: Some(1_000) };
        query.without_total = true;
        loop {
            let (rows, _) = store.form_records(&query).await?;
            let count = rows.len();
            let last = rows.last().map(|row| store::forms::cursor_of(row, query.sort));
            let mut derived_rows = Vec::with_capacity(count);
            for row in rows {
                let id = row.id.clone();
                let stored: Map<String, Value> = serde_json::from_str(&row.data).unwrap_or_default();
                let (version, live) = (row.version, row.deleted_at.is_none());
                let record = match Record::from_row(row, crypto) {
                    Ok(record) => record,
                    // One record that does not open (damaged, another key) must not stop the
                    // node: it keeps its columns, and says so.
                    Err(error) => {
                        tracing::error!(form = %form.key, record = %id, %error, "a form record was not indexed again");
                        continue;
                    }
                };
                // Sensitive values written in clear before sealing existed: sealed now, their
                // unique values moved to blind indexes (a record edited meanwhile is skipped:
                // its edit sealed it).
                // A field no longer sensitive is stored in clear again, its unique value as text.
                if crate::sealed::needs_sealing(form, &stored) || crate::sealed::stale_seals(form, &stored) {
                    let data = stored_data(form, crypto, &id, &record.values)?;
                    let unique = if live { Some(unique_values(form, &record.values, crypto)?) } else { None };
                    match store.seal_form_record(&form.key, &id, version, &data, unique.as_deref()).await {
                        Ok(()) => {}
                        // Two records that hold one value (taken as text before and as an index
                        // now, or the other way round): this one keeps its stored form and the
                        // node starts; the log names it for someone to resolve.
                        Err(store::Error::Duplicate(field)) => {
                            tracing::error!(form = %form.key, record = %id, %field, "a unique value is held by two records; this one was not sealed again");
                        }
                        Err(other) => return Err(other.into()),
                    }
                    if crate::sealed::needs_sealing(form, &stored) {
                        mask_history(store, form, &id).await?;
                    }
                    sealed += 1;
                }
                let (title, search, keys) = derived(form, &record.values);
                derived_rows.push((id, title, search, keys));
            }
            let done = count < 1_000;
            store.reindex_form_records(&form.key, &derived_rows, done.then_some(layout.as_str())).await?;
            total += count as u64;
            if done {
                break;
            }
            query.after = last;
        }
    }
    if sealed > 0 {
        tracing::info!(sealed, "sensitive form values written before sealing are sealed now");
    }
    Ok(total)
}
