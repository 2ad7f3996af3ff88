//! The storage port of the dynamic forms (issue 13): the records of every form in one table
//! (`form_records`: a JSON document plus the columns lists filter and sort on), their change
//! history, the values of unique fields and each form's index layout. Expanded per backend by
//! [`forms_impl`], like `approval.rs`.
//!
//! The store knows no definitions: the caller derives the title, search text and key columns
//! (`forms::value`) and names the unique values; the store writes them with the record in one
//! transaction and refuses what the database refuses (a duplicate value, a stale version).
//! Every read carries a [`DataScope`].

use crate::backend::{Filter, Param};
use crate::model::{Page, scoped_query};
use crate::{DataScope, Result};

/// How many key columns a record has (`k1` … `k8`).
pub const KEY_COLUMNS: usize = 8;

/// The most characters a key column holds for free text (the records layer cuts it; codes,
/// lists of codes, numbers and dates are short by nature): a longer text is kept to its first 80 characters
/// (it sorts by them, and a filter finds a part of it within them; the keyword search reads the
/// whole text). Eight such keys fit PostgreSQL's limit for one index entry (about 2.7 kB), so
/// the lists' covering index (migration 0019) can hold them all.
pub const KEY_CHARS: usize = 80;
const KEY_NAMES: [&str; KEY_COLUMNS] = ["k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"];

/// One record of a form, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FormRecord {
    pub id: String,
    pub form: String,
    /// 1 when created, one more with every update, delete and restore.
    pub version: i64,
    /// The district that owns the record (its data scope); `None` for city-wide records.
    pub district: Option<String>,
    /// The unit of the account that created it (the `unit` data scope).
    pub unit_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_by: String,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
    pub deleted_by: Option<String>,
    pub title: String,
    /// Lower-case text a keyword search looks in.
    pub search: String,
    /// The record's values, a JSON object.
    pub data: String,
    /// The key columns, `KEY_COLUMNS` texts ("" when empty).
    pub keys: Vec<String>,
}

/// One change of a record, for its history.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordChange {
    pub id: String,
    pub record_id: String,
    pub form: String,
    pub at: i64,
    pub actor: String,
    /// `create`, `update`, `delete`, `restore`.
    pub action: String,
    /// JSON list of `{field, old, new}`.
    pub changes: String,
    /// The task the change was made in (a task form), if any.
    pub task_id: Option<String>,
    /// The uploads the change puts into the record's file or image fields: each must be the
    /// actor's own upload, not bound to anything else, and is bound to the record in the
    /// change's transaction (a race for one upload is lost with [`crate::Error::Invalid`]
    /// starting [`UPLOAD_TAKEN`]; in a command's record writes, with the command's `Conflict`).
    pub files: Vec<String>,
}

/// A value of a unique field of a live record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueValue {
    pub field: String,
    pub value: String,
}

/// A condition on a key column (by its index, 0 = `k1`).
#[derive(Debug, Clone, PartialEq)]
pub enum KeyCondition {
    /// The column is one of these texts.
    In(usize, Vec<String>),
    /// The column contains this text, ignoring case.
    Contains(usize, String),
    /// A list column (`|a|b|`) holds one of these codes.
    Tagged(usize, Vec<String>),
    /// The column is within [from, to] (either may be open); empty values never match.
    Range(usize, Option<String>, Option<String>),
}

/// The order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordSort {
    Updated,
    Created,
    Key(usize),
}

/// Which records by their deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deleted {
    #[default]
    Live,
    /// The recycle bin.
    Only,
    /// Both (indexing the whole form again).
    Any,
}

scoped_query! {
    /// A page of one form's records.
    #[derive(Debug, Clone)]
    pub struct RecordQuery {
        pub form: String,
        pub deleted: Deleted,
        pub district: Option<Vec<String>>,
        pub conditions: Vec<KeyCondition>,
        /// Part of the title or the search text, ignoring case.
        pub text: Option<String>,
        pub ids: Option<Vec<String>>,
        /// `None`: newest change first. The id breaks ties, in the same direction.
        pub sort: Option<(RecordSort, bool)>,
        /// Keyset cursor: only rows after (sort value, id) in the list's order (an export walks
        /// a million rows this way without OFFSET).
        pub after: Option<(String, String)>,
        pub page: Page,
        /// Leave the total out (an export does not need it).
        pub without_total: bool,
    }
}

/// The column and direction a query sorts by.
pub(crate) fn sort_column(query: &RecordQuery) -> (&'static str, bool) {
    match query.sort.unwrap_or((RecordSort::Updated, false)) {
        (RecordSort::Updated, ascending) => ("updated_at", ascending),
        (RecordSort::Created, ascending) => ("created_at", ascending),
        (RecordSort::Key(index), ascending) => (KEY_NAMES[index.min(KEY_COLUMNS - 1)], ascending),
    }
}

/// The sort value of a record under a query's order, for the next keyset cursor.
pub fn cursor_of(record: &FormRecord, sort: Option<(RecordSort, bool)>) -> (String, String) {
    let value = match sort.map(|(key, _)| key).unwrap_or(RecordSort::Updated) {
        RecordSort::Updated => record.updated_at.to_string(),
        RecordSort::Created => record.created_at.to_string(),
        RecordSort::Key(index) => record.keys.get(index).cloned().unwrap_or_default(),
    };
    (value, record.id.clone())
}

fn key_column(index: usize) -> Result<&'static str> {
    KEY_NAMES.get(index).copied().ok_or_else(|| crate::Error::Invalid(format!("no key column {}", index + 1)))
}

/// The data scope of a record: its district, the creator's unit, or the creator.
pub(crate) fn scope_clause(filter: &mut Filter, scope: &DataScope) {
    match scope {
        DataScope::All => {}
        DataScope::District(code) => {
            filter.clause("district = ?", [Param::Text(code.clone())]);
        }
        DataScope::Unit(unit) => {
            filter.clause("unit_id = ?", [Param::Text(unit.clone())]);
        }
        DataScope::Own(user) | DataScope::Started(user) => {
            filter.clause("created_by = ?", [Param::Text(user.clone())]);
        }
        DataScope::Nothing => {
            filter.clause("1 = 0", []);
        }
    }
}

/// `WHERE …` of a query (without order and limit), with its parameters.
pub(crate) fn records_where(query: &RecordQuery) -> Result<Filter> {
    let mut filter = Filter::default();
    filter.clause("form = ?", [Param::Text(query.form.clone())]);
    match query.deleted {
        Deleted::Live => {
            filter.clause("deleted_at IS NULL", []);
        }
        Deleted::Only => {
            filter.clause("deleted_at IS NOT NULL", []);
        }
        Deleted::Any => {}
    }
    scope_clause(&mut filter, &query.scope);
    filter.any_of("district", &query.district);
    filter.any_of("id", &query.ids);
    for condition in &query.conditions {
        match condition {
            KeyCondition::In(index, values) => {
                filter.any_of(key_column(*index)?, &Some(values.clone()));
            }
            KeyCondition::Contains(index, text) => {
                let pattern = format!("%{}%", crate::backend::escape_like(&text.to_lowercase()));
                filter.clause(&format!("{} LIKE ? ESCAPE '\\'", key_column(*index)?), [Param::Text(pattern)]);
            }
            KeyCondition::Tagged(index, codes) => {
                if codes.is_empty() {
                    filter.clause("1 = 0", []);
                    continue;
                }
                let column = key_column(*index)?;
                let clause = vec![format!("{column} LIKE ? ESCAPE '\\'"); codes.len()].join(" OR ");
                let params = codes.iter().map(|code| Param::Text(format!("%|{}|%", crate::backend::escape_like(code))));
                filter.clause(&format!("({clause})"), params);
            }
            KeyCondition::Range(index, from, to) => {
                let column = key_column(*index)?;
                filter.clause(&format!("{column} <> ''"), []);
                if let Some(from) = from {
                    filter.clause(&format!("{column} >= ?"), [Param::Text(from.clone())]);
                }
                if let Some(to) = to {
                    filter.clause(&format!("{column} <= ?"), [Param::Text(to.clone())]);
                }
            }
        }
    }
    if let Some(text) = query.text.as_deref().map(str::trim).filter(|text| !text.is_empty()) {
        let pattern = format!("%{}%", crate::backend::escape_like(&text.to_lowercase()));
        filter.clause(
            "(LOWER(title) LIKE ? ESCAPE '\\' OR search LIKE ? ESCAPE '\\')",
            [Param::Text(pattern.clone()), Param::Text(pattern)],
        );
    }
    if let Some((value, id)) = &query.after {
        let (column, ascending) = sort_column(query);
        let operator = if ascending { ">" } else { "<" };
        let value = if column.ends_with("_at") {
            Param::Int(value.parse().map_err(|_| crate::Error::Invalid("bad cursor".into()))?)
        } else {
            Param::Text(value.clone())
        };
        filter.clause(
            &format!("({column} {operator} ? OR ({column} = ? AND id {operator} ?))"),
            [value.clone(), value, Param::Text(id.clone())],
        );
    }
    Ok(filter)
}

/// An import job of a form's records (`form_imports`): `validating` → `ready` (or `failed`) →
/// `committing` → `done` (or back to `ready` with an error when the commit was refused).
#[derive(Debug, Clone, PartialEq)]
pub struct FormImport {
    pub id: String,
    pub form: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub status: String,
    pub file_name: String,
    /// The upload's header row, a JSON list.
    pub headers: String,
    /// Data rows in the upload, and how many were validated so far.
    pub total: i64,
    pub processed: i64,
    /// `{"new": n, "update": n, "unchanged": n, "error": n}`.
    pub counts: String,
    pub error: Option<String>,
    pub committed_rows: Option<i64>,
}

/// One row of an import (`form_import_rows`); see the migration for the columns.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    pub import_id: String,
    /// The row's number in the sheet (the header is row 1).
    pub row_no: i64,
    /// `new`, `update`, `unchanged` or `error`.
    pub outcome: String,
    pub record_id: Option<String>,
    pub expected_version: Option<i64>,
    pub raw: String,
    pub errors: String,
    /// A [`PreparedWrite`] as JSON, for `new` and `update`.
    pub prepared: Option<String>,
}

/// The write a valid import row commits: the record's columns as [`FormRecord`] has them and
/// its unique values and history row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PreparedWrite {
    pub version: i64,
    pub district: Option<String>,
    pub unit_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub title: String,
    pub search: String,
    pub data: String,
    pub keys: Vec<String>,
    /// (field, value) of each unique field.
    pub unique: Vec<(String, String)>,
    /// The history row's JSON list of changes.
    pub changes: String,
}

/// Rows an import's commit reads and writes at a time.
pub(crate) const COMMIT_BATCH: i64 = 500;

pub(crate) const RECORD_COLUMNS: &str = "id, form, version, district, unit_id, created_by, created_at, updated_by, updated_at, deleted_at, deleted_by, title, search, data, k1, k2, k3, k4, k5, k6, k7, k8";

#[async_trait::async_trait]
pub trait FormStore: Send + Sync {
    /// Creates a record with its unique values and its history row, in one transaction;
    /// [`crate::Error::Duplicate`] (naming the field) when a unique value is taken.
    async fn insert_form_record(
        &self,
        record: &FormRecord,
        unique: &[UniqueValue],
        change: &RecordChange,
    ) -> Result<()>;
    /// Replaces a live record's values (its version must still be `expected_version`, else
    /// [`crate::Error::Conflict`]) and its unique values, with the history row.
    async fn update_form_record(
        &self,
        record: &FormRecord,
        expected_version: i64,
        unique: &[UniqueValue],
        change: &RecordChange,
    ) -> Result<()>;
    /// Moves a live record to the recycle bin (its unique values are released), guarded by
    /// its version.
    async fn delete_form_record(
        &self,
        form: &str,
        id: &str,
        expected_version: i64,
        change: &RecordChange,
    ) -> Result<()>;
    /// Takes a record back out of the recycle bin, taking its unique values again
    /// ([`crate::Error::Duplicate`] when another record holds one meanwhile).
    async fn restore_form_record(
        &self,
        form: &str,
        id: &str,
        unique: &[UniqueValue],
        change: &RecordChange,
    ) -> Result<()>;
    /// One record (live or deleted) of a form inside `scope`.
    async fn form_record(&self, form: &str, id: &str, scope: &DataScope) -> Result<Option<FormRecord>>;
    /// A page of records and the total (0 with `without_total`).
    async fn form_records(&self, query: &RecordQuery) -> Result<(Vec<FormRecord>, i64)>;
    /// The history of a record, oldest first.
    async fn form_record_changes(&self, record_id: &str) -> Result<Vec<RecordChange>>;
    /// The layout a form's rows were derived with.
    async fn form_layout(&self, form: &str) -> Result<Option<String>>;
    /// Writes derived columns again — (id, title, search, keys) — in one transaction, and
    /// with `layout` the layout they now follow.
    async fn reindex_form_records(
        &self,
        form: &str,
        rows: &[(String, String, String, Vec<String>)],
        layout: Option<&str>,
    ) -> Result<()>;
    /// Writes a record's document again as it is now stored (its sensitive values sealed) and,
    /// for a live record, its unique values (`Some`), if the record is still at `version`;
    /// no version change, no history (the values are the same).
    async fn seal_form_record(
        &self,
        form: &str,
        id: &str,
        version: i64,
        data: &str,
        unique: Option<&[UniqueValue]>,
    ) -> Result<()>;
    /// Makes `owner` the record's owner (`created_by`: whom an own data scope lets read it), as
    /// when an institution's account takes over the application staff made for it.
    async fn set_form_record_owner(&self, form: &str, id: &str, owner: &str) -> Result<()>;
    async fn insert_form_view(&self, view: &FormView) -> Result<()>;
    /// The views of `form` that `user` sees: their own and the shared ones, by name.
    async fn form_views(&self, form: &str, user: &str) -> Result<Vec<FormView>>;
    /// Deletes a view of `owner`; false when they have none of that id.
    async fn delete_form_view(&self, form: &str, id: &str, owner: &str) -> Result<bool>;
    /// Writes the change lists of history rows again — (change id, changes JSON) — for the
    /// start-up pass that masks sensitive values an earlier version kept in clear.
    async fn rewrite_form_record_changes(&self, changes: &[(String, String)]) -> Result<()>;
    /// Benchmark fixture: inserts records as they are (no history, no unique values).
    async fn insert_form_fixture(&self, records: &[FormRecord]) -> Result<()>;

    /// The records holding these values of a unique field: (value, record id) of each taken one.
    async fn unique_owners(&self, form: &str, field: &str, values: &[String]) -> Result<Vec<(String, String)>>;

    async fn insert_form_import(&self, job: &FormImport) -> Result<()>;
    /// Writes the job's status, progress, counts and error.
    async fn save_form_import(&self, job: &FormImport) -> Result<()>;
    async fn form_import(&self, id: &str) -> Result<Option<FormImport>>;
    /// The jobs in `status` (those a restart finds unfinished).
    async fn form_imports_with_status(&self, status: &str) -> Result<Vec<FormImport>>;
    /// Moves a job from status `from` to `to` with `error` (its message, or none); false when
    /// it was not in `from` (a second commit of the same job, say).
    async fn claim_form_import(&self, id: &str, from: &str, to: &str, at: i64, error: Option<&str>) -> Result<bool>;
    async fn insert_form_import_rows(&self, rows: &[ImportRow]) -> Result<()>;
    /// Rows after `after_row` in order, only those with one of `outcomes` (all when empty).
    async fn form_import_rows(
        &self,
        import_id: &str,
        outcomes: &[&str],
        after_row: i64,
        limit: i64,
    ) -> Result<Vec<ImportRow>>;
    /// Writes every `new` and `update` row of a job in `committing` and marks it `done`, in
    /// one transaction. A record changed since the preview ([`crate::Error::Conflict`]) or a
    /// unique value taken meanwhile ([`crate::Error::Duplicate`]) refuses the whole commit,
    /// naming the row; nothing is written then. Returns the rows written.
    async fn commit_form_import(&self, import_id: &str, actor: &str, at: i64) -> Result<i64>;
}

pub(crate) fn record_params(record: &FormRecord) -> Vec<Param> {
    let mut params = vec![
        Param::from(&record.id),
        (&record.form).into(),
        record.version.into(),
        (&record.district).into(),
        (&record.unit_id).into(),
        (&record.created_by).into(),
        record.created_at.into(),
        (&record.updated_by).into(),
        record.updated_at.into(),
        record.deleted_at.into(),
        (&record.deleted_by).into(),
        (&record.title).into(),
        (&record.search).into(),
        (&record.data).into(),
    ];
    for index in 0..KEY_COLUMNS {
        params.push(Param::Text(record.keys.get(index).cloned().unwrap_or_default()));
    }
    params
}

/// A saved view of a form's list (`form_views`): its query string, personal or shared.
#[derive(Debug, Clone, PartialEq)]
pub struct FormView {
    pub id: String,
    pub form: String,
    pub owner: String,
    pub name: String,
    /// The list's query string (filters, sort, columns, page size), without the page.
    pub query: String,
    pub shared: bool,
    pub created_at: i64,
}

/// A record update that travels with an engine command (a task form's values, the submission
/// that starts a record's process) in [`crate::model::Changes::record_writes`]: written in the
/// command's own transaction, guarded by the record's version and by each unique value, so a
/// record changed meanwhile or a value taken meanwhile refuses the whole command.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWrite {
    pub record: FormRecord,
    pub expected_version: i64,
    pub unique: Vec<UniqueValue>,
    pub change: RecordChange,
}

pub(crate) const UPDATE_RECORD: &str = "UPDATE form_records SET version = ?, district = ?, updated_by = ?, updated_at = ?, title = ?, search = ?, data = ?, k1 = ?, k2 = ?, k3 = ?, k4 = ?, k5 = ?, k6 = ?, k7 = ?, k8 = ? WHERE id = ? AND form = ? AND version = ? AND deleted_at IS NULL";
pub(crate) const RELEASE_UNIQUE: &str = "DELETE FROM form_unique WHERE record_id = ?";
pub(crate) const TAKE_UNIQUE: &str = "INSERT INTO form_unique (form, field, value, record_id) VALUES (?, ?, ?, ?) ON CONFLICT (form, field, value) DO NOTHING";
/// The start of the [`crate::Error::Invalid`] a save gets when an upload it names was bound
/// to something else meanwhile.
pub const UPLOAD_TAKEN: &str = "upload no longer available";

pub(crate) const BIND_FILE: &str = "UPDATE files SET record_id = ? WHERE id = ? AND uploaded_by = ? AND instance_id IS NULL AND (record_id IS NULL OR record_id = ?)";

/// The parameters of [`BIND_FILE`] for each upload a change binds.
pub(crate) fn bind_file_params(change: &RecordChange) -> impl Iterator<Item = Vec<Param>> + '_ {
    change.files.iter().map(|file| {
        vec![Param::from(&change.record_id), file.into(), (&change.actor).into(), (&change.record_id).into()]
    })
}

pub(crate) const INSERT_CHANGE: &str = "INSERT INTO form_record_changes (id, record_id, form, at, actor, action, changes, task_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

pub(crate) fn update_params(record: &FormRecord, expected_version: i64) -> Vec<Param> {
    let mut params = vec![
        Param::from(record.version),
        (&record.district).into(),
        (&record.updated_by).into(),
        record.updated_at.into(),
        (&record.title).into(),
        (&record.search).into(),
        (&record.data).into(),
    ];
    for index in 0..KEY_COLUMNS {
        params.push(Param::Text(record.keys.get(index).cloned().unwrap_or_default()));
    }
    params.extend([Param::from(&record.id), (&record.form).into(), expected_version.into()]);
    params
}

pub(crate) fn change_params(change: &RecordChange) -> Vec<Param> {
    vec![
        Param::from(&change.id),
        (&change.record_id).into(),
        (&change.form).into(),
        change.at.into(),
        (&change.actor).into(),
        (&change.action).into(),
        (&change.changes).into(),
        (&change.task_id).into(),
    ]
}

/// The statements of the record writes of a command (called from `collect_changes`).
pub(crate) fn push_record_writes(batch: &mut crate::backend::Batch, writes: &[RecordWrite]) {
    for write in writes {
        let record = &write.record;
        batch.push_guarded(UPDATE_RECORD.into(), update_params(record, write.expected_version));
        batch.push(RELEASE_UNIQUE.into(), vec![Param::from(&record.id)]);
        for value in &write.unique {
            batch.push_guarded(
                TAKE_UNIQUE.into(),
                vec![Param::from(&record.form), (&value.field).into(), (&value.value).into(), (&record.id).into()],
            );
        }
        batch.push(INSERT_CHANGE.into(), change_params(&write.change));
        for params in bind_file_params(&write.change) {
            batch.push_guarded(BIND_FILE.into(), params);
        }
    }
}

/// Expands [`FormStore`] for one backend (same contract as `store_impl!`).
macro_rules! forms_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::Row;

            use crate::backend::{Param, limit, multi_insert};
            use crate::forms::*;
            use crate::{DataScope, Error, Result};

            type DbRow = <$db as sqlx::Database>::Row;
            type Tx = sqlx::Transaction<'static, $db>;

            fn record_from(row: &DbRow) -> Result<FormRecord> {
                let mut keys = Vec::with_capacity(KEY_COLUMNS);
                for name in ["k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"] {
                    keys.push(row.try_get(name)?);
                }
                Ok(FormRecord {
                    id: row.try_get("id")?,
                    form: row.try_get("form")?,
                    version: row.try_get("version")?,
                    district: row.try_get("district")?,
                    unit_id: row.try_get("unit_id")?,
                    created_by: row.try_get("created_by")?,
                    created_at: row.try_get("created_at")?,
                    updated_by: row.try_get("updated_by")?,
                    updated_at: row.try_get("updated_at")?,
                    deleted_at: row.try_get("deleted_at")?,
                    deleted_by: row.try_get("deleted_by")?,
                    title: row.try_get("title")?,
                    search: row.try_get("search")?,
                    data: row.try_get("data")?,
                    keys,
                })
            }

            fn change_from(row: &DbRow) -> Result<RecordChange> {
                Ok(RecordChange {
                    id: row.try_get("id")?,
                    record_id: row.try_get("record_id")?,
                    form: row.try_get("form")?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    changes: row.try_get("changes")?,
                    task_id: row.try_get("task_id")?,
                    files: Vec::new(),
                })
            }

            fn bind_params<'q>(
                mut query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
                params: &'q [Param],
            ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
                for param in params {
                    query = bind(query, param);
                }
                query
            }

            fn import_from(row: &DbRow) -> Result<FormImport> {
                Ok(FormImport {
                    id: row.try_get("id")?,
                    form: row.try_get("form")?,
                    created_by: row.try_get("created_by")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    status: row.try_get("status")?,
                    file_name: row.try_get("file_name")?,
                    headers: row.try_get("headers")?,
                    total: row.try_get("total")?,
                    processed: row.try_get("processed")?,
                    counts: row.try_get("counts")?,
                    error: row.try_get("error")?,
                    committed_rows: row.try_get("committed_rows")?,
                })
            }

            fn import_row_from(row: &DbRow) -> Result<ImportRow> {
                Ok(ImportRow {
                    import_id: row.try_get("import_id")?,
                    row_no: row.try_get("row_no")?,
                    outcome: row.try_get("outcome")?,
                    record_id: row.try_get("record_id")?,
                    expected_version: row.try_get("expected_version")?,
                    raw: row.try_get("raw")?,
                    errors: row.try_get("errors")?,
                    prepared: row.try_get("prepared")?,
                })
            }

            const IMPORT_COLUMNS: &str = "id, form, created_by, created_at, updated_at, status, file_name, headers, total, processed, counts, error, committed_rows";
            const IMPORT_ROW_COLUMNS: &str = "import_id, row_no, outcome, record_id, expected_version, raw, errors, prepared";

            impl $store {
                /// Inserts a record with its unique values and history row inside `tx`.
                async fn insert_in(tx: &mut Tx, record: &FormRecord, unique: &[UniqueValue], change: &RecordChange) -> Result<()> {
                    let params = record_params(record);
                    let insert = multi_insert("form_records", &RECORD_COLUMNS.split(", ").collect::<Vec<_>>(), 1);
                    bind_params(sqlx::query(Self::dynamic(insert)), &params).execute(&mut **tx).await.map_err(Self::map_error)?;
                    Self::take_unique(tx, &record.form, &record.id, unique).await?;
                    Self::push_change(tx, change).await
                }

                /// Updates a live record at `expected_version` inside `tx` ([`Error::Conflict`]
                /// when it is not at that version any more).
                async fn update_in(tx: &mut Tx, record: &FormRecord, expected_version: i64, unique: &[UniqueValue], change: &RecordChange) -> Result<()> {
                    let params = update_params(record, expected_version);
                    let updated = bind_params(sqlx::query(Self::sql(UPDATE_RECORD)), &params)
                        .execute(&mut **tx).await.map_err(Self::map_error)?.rows_affected();
                    if updated == 0 {
                        return Err(Error::Conflict(format!("record {} was changed by someone else", record.id)));
                    }
                    sqlx::query(Self::sql(RELEASE_UNIQUE)).bind(&record.id).execute(&mut **tx).await?;
                    Self::take_unique(tx, &record.form, &record.id, unique).await?;
                    Self::push_change(tx, change).await
                }

                /// The record writes of an engine command (called from `collect_changes`).
                pub(crate) fn collect_record_writes(batch: &mut crate::backend::Batch, changes: &crate::model::Changes) {
                    push_record_writes(batch, &changes.record_writes);
                }

                async fn push_change(tx: &mut Tx, change: &RecordChange) -> Result<()> {
                    bind_params(sqlx::query(Self::sql(INSERT_CHANGE)), &change_params(change)).execute(&mut **tx).await?;
                    for (file, params) in change.files.iter().zip(bind_file_params(change)) {
                        let bound = bind_params(sqlx::query(Self::sql(BIND_FILE)), &params).execute(&mut **tx).await?.rows_affected();
                        if bound == 0 {
                            return Err(Error::Invalid(format!("{UPLOAD_TAKEN}: {file}")));
                        }
                    }
                    Ok(())
                }

                /// Takes the unique values for a record; the first one another record holds
                /// is the error (the caller's transaction is dropped, so nothing is kept).
                async fn take_unique(tx: &mut Tx, form: &str, record_id: &str, unique: &[UniqueValue]) -> Result<()> {
                    for value in unique {
                        let taken = sqlx::query(Self::sql(TAKE_UNIQUE))
                            .bind(form).bind(&value.field).bind(&value.value).bind(record_id)
                            .execute(&mut **tx).await.map_err(Self::map_error)?.rows_affected();
                        if taken == 0 {
                            return Err(Error::Duplicate(value.field.clone()));
                        }
                    }
                    Ok(())
                }
            }

            #[async_trait::async_trait]
            impl FormStore for $store {
                async fn insert_form_record(&self, record: &FormRecord, unique: &[UniqueValue], change: &RecordChange) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::insert_in(&mut tx, record, unique, change).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn update_form_record(&self, record: &FormRecord, expected_version: i64, unique: &[UniqueValue], change: &RecordChange) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::update_in(&mut tx, record, expected_version, unique, change).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn delete_form_record(&self, form: &str, id: &str, expected_version: i64, change: &RecordChange) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let updated = sqlx::query(Self::sql("UPDATE form_records SET version = version + 1, deleted_at = ?, deleted_by = ?, updated_at = ?, updated_by = ? WHERE id = ? AND form = ? AND version = ? AND deleted_at IS NULL"))
                        .bind(change.at).bind(&change.actor).bind(change.at).bind(&change.actor).bind(id).bind(form).bind(expected_version)
                        .execute(&mut *tx).await.map_err(Self::map_error)?.rows_affected();
                    if updated == 0 {
                        return Err(Error::Conflict(format!("record {id} was changed by someone else")));
                    }
                    sqlx::query(Self::sql("DELETE FROM form_unique WHERE record_id = ?")).bind(id).execute(&mut *tx).await?;
                    Self::push_change(&mut tx, change).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn restore_form_record(&self, form: &str, id: &str, unique: &[UniqueValue], change: &RecordChange) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let updated = sqlx::query(Self::sql("UPDATE form_records SET version = version + 1, deleted_at = NULL, deleted_by = NULL, updated_at = ?, updated_by = ? WHERE id = ? AND form = ? AND deleted_at IS NOT NULL"))
                        .bind(change.at).bind(&change.actor).bind(id).bind(form)
                        .execute(&mut *tx).await.map_err(Self::map_error)?.rows_affected();
                    if updated == 0 {
                        return Err(Error::Conflict(format!("record {id} is not in the recycle bin")));
                    }
                    Self::take_unique(&mut tx, form, id, unique).await?;
                    Self::push_change(&mut tx, change).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn seal_form_record(&self, form: &str, id: &str, version: i64, data: &str, unique: Option<&[UniqueValue]>) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let updated = sqlx::query(Self::sql("UPDATE form_records SET data = ? WHERE id = ? AND form = ? AND version = ?"))
                        .bind(data).bind(id).bind(form).bind(version)
                        .execute(&mut *tx).await.map_err(Self::map_error)?.rows_affected();
                    if updated == 1 && let Some(unique) = unique {
                        sqlx::query(Self::sql(RELEASE_UNIQUE)).bind(id).execute(&mut *tx).await?;
                        Self::take_unique(&mut tx, form, id, unique).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn set_form_record_owner(&self, form: &str, id: &str, owner: &str) -> Result<()> {
                    sqlx::query(Self::sql("UPDATE form_records SET created_by = ? WHERE id = ? AND form = ?"))
                        .bind(owner)
                        .bind(id)
                        .bind(form)
                        .execute(&self.pool)
                        .await
                        .map_err(Self::map_error)?;
                    Ok(())
                }

                async fn rewrite_form_record_changes(&self, changes: &[(String, String)]) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    for (id, text) in changes {
                        sqlx::query(Self::sql("UPDATE form_record_changes SET changes = ? WHERE id = ?"))
                            .bind(text).bind(id).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn insert_form_view(&self, view: &FormView) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(Self::sql("INSERT INTO form_views (id, form, owner, name, query, shared, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"))
                        .bind(&view.id).bind(&view.form).bind(&view.owner).bind(&view.name).bind(&view.query).bind(view.shared).bind(view.created_at)
                        .execute(&mut *tx).await.map_err(Self::map_error)?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn form_views(&self, form: &str, user: &str) -> Result<Vec<FormView>> {
                    let rows = sqlx::query(Self::sql("SELECT id, form, owner, name, query, shared, created_at FROM form_views WHERE form = ? AND (owner = ? OR shared) ORDER BY name, id"))
                        .bind(form).bind(user).fetch_all(&self.pool).await?;
                    rows.iter()
                        .map(|row| {
                            Ok(FormView {
                                id: row.try_get("id")?,
                                form: row.try_get("form")?,
                                owner: row.try_get("owner")?,
                                name: row.try_get("name")?,
                                query: row.try_get("query")?,
                                shared: row.try_get("shared")?,
                                created_at: row.try_get("created_at")?,
                            })
                        })
                        .collect()
                }

                async fn delete_form_view(&self, form: &str, id: &str, owner: &str) -> Result<bool> {
                    let mut tx = self.begin_write().await?;
                    let deleted = sqlx::query(Self::sql("DELETE FROM form_views WHERE id = ? AND form = ? AND owner = ?"))
                        .bind(id).bind(form).bind(owner).execute(&mut *tx).await?.rows_affected();
                    tx.commit().await?;
                    Ok(deleted == 1)
                }

                async fn form_record(&self, form: &str, id: &str, scope: &DataScope) -> Result<Option<FormRecord>> {
                    let mut filter = crate::backend::Filter::default();
                    filter.clause("id = ?", [Param::Text(id.into())]).clause("form = ?", [Param::Text(form.into())]);
                    scope_clause(&mut filter, scope);
                    let select = format!("SELECT {RECORD_COLUMNS} FROM form_records{}", filter.sql());
                    let row = bind_params(sqlx::query(Self::dynamic(select)), &filter.params).fetch_optional(&self.pool).await?;
                    row.as_ref().map(record_from).transpose()
                }

                async fn form_records(&self, query: &RecordQuery) -> Result<(Vec<FormRecord>, i64)> {
                    let filter = records_where(query)?;
                    let (column, ascending) = sort_column(query);
                    let direction = if ascending { "ASC" } else { "DESC" };
                    let page = &query.page;
                    let count = || async {
                        let count = format!("SELECT COUNT(*) AS n FROM form_records{}", filter.sql());
                        let n: i64 = bind_params(sqlx::query(Self::dynamic(count)), &filter.params).fetch_one(&self.pool).await?.try_get("n")?;
                        Ok::<i64, Error>(n)
                    };
                    // Where the backend sorts few matches better than it walks the sort index
                    // (`SORT_MATCHES_BELOW`), a page's total is counted first and decides how.
                    let counted = if Self::SORT_MATCHES_BELOW > 0 && page.max_results.is_some() && !query.without_total {
                        Some(count().await?)
                    } else {
                        None
                    };
                    if counted == Some(0) {
                        return Ok((Vec::new(), 0));
                    }
                    // A page is chosen by its ids first (an index can answer that alone), then
                    // only its rows are read: sorting the matches never reads their documents.
                    let select = if page.max_results.is_some() {
                        // `OFFSET 0` keeps the matches a subquery of their own: found by the
                        // filters' indexes, then sorted, whatever order the sort index offers.
                        let matches = if counted.is_some_and(|n| n < Self::SORT_MATCHES_BELOW) {
                            format!("(SELECT id, {column} FROM form_records{} OFFSET 0) matches", filter.sql())
                        } else {
                            format!("form_records{}", filter.sql())
                        };
                        format!(
                            "SELECT {RECORD_COLUMNS} FROM form_records WHERE id IN (SELECT id FROM {matches} ORDER BY {column} {direction}, id {direction}{}) ORDER BY {column} {direction}, id {direction}",
                            limit(page)
                        )
                    } else {
                        format!("SELECT {RECORD_COLUMNS} FROM form_records{} ORDER BY {column} {direction}, id {direction}", filter.sql())
                    };
                    let rows = bind_params(sqlx::query(Self::dynamic(select)), &filter.params).fetch_all(&self.pool).await?;
                    let records = rows.iter().map(record_from).collect::<Result<Vec<_>>>()?;
                    let total = match counted {
                        Some(total) => total,
                        None if query.without_total => 0,
                        None if page.first_result == 0 && page.max_results.is_none_or(|max| (records.len() as i64) < max) => {
                            records.len() as i64
                        }
                        None => count().await?,
                    };
                    Ok((records, total))
                }

                async fn form_record_changes(&self, record_id: &str) -> Result<Vec<RecordChange>> {
                    let rows = sqlx::query(Self::sql("SELECT id, record_id, form, at, actor, action, changes, task_id FROM form_record_changes WHERE record_id = ? ORDER BY at, id"))
                        .bind(record_id).fetch_all(&self.pool).await?;
                    rows.iter().map(change_from).collect()
                }

                async fn form_layout(&self, form: &str) -> Result<Option<String>> {
                    let row = sqlx::query(Self::sql("SELECT layout FROM form_layouts WHERE form = ?")).bind(form).fetch_optional(&self.pool).await?;
                    row.map(|row| row.try_get("layout").map_err(Error::from)).transpose()
                }

                async fn reindex_form_records(&self, form: &str, rows: &[(String, String, String, Vec<String>)], layout: Option<&str>) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    for (id, title, search, keys) in rows {
                        let mut params = vec![Param::from(title), search.into()];
                        for index in 0..KEY_COLUMNS {
                            params.push(Param::Text(keys.get(index).cloned().unwrap_or_default()));
                        }
                        params.extend([Param::from(id), Param::Text(form.into())]);
                        bind_params(sqlx::query(Self::sql("UPDATE form_records SET title = ?, search = ?, k1 = ?, k2 = ?, k3 = ?, k4 = ?, k5 = ?, k6 = ?, k7 = ?, k8 = ? WHERE id = ? AND form = ?")), &params)
                            .execute(&mut *tx).await?;
                    }
                    if let Some(layout) = layout {
                        sqlx::query(Self::sql("INSERT INTO form_layouts (form, layout) VALUES (?, ?) ON CONFLICT (form) DO UPDATE SET layout = excluded.layout"))
                            .bind(form).bind(layout).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn insert_form_fixture(&self, records: &[FormRecord]) -> Result<()> {
                    let columns: Vec<&str> = RECORD_COLUMNS.split(", ").collect();
                    for transaction in records.chunks(10_000) {
                        let mut tx = self.begin_write().await?;
                        for chunk in transaction.chunks(300) {
                            let params: Vec<Param> = chunk.iter().flat_map(record_params).collect();
                            let insert = multi_insert("form_records", &columns, chunk.len());
                            bind_params(sqlx::query(Self::dynamic(insert)), &params).execute(&mut *tx).await?;
                        }
                        tx.commit().await?;
                    }
                    Ok(())
                }
                async fn unique_owners(&self, form: &str, field: &str, values: &[String]) -> Result<Vec<(String, String)>> {
                    let mut owners = Vec::new();
                    for chunk in values.chunks(500) {
                        let marks = vec!["?"; chunk.len()].join(", ");
                        let select = format!("SELECT value, record_id FROM form_unique WHERE form = ? AND field = ? AND value IN ({marks})");
                        let mut query = sqlx::query(Self::dynamic(select)).bind(form).bind(field);
                        for value in chunk {
                            query = query.bind(value);
                        }
                        for row in query.fetch_all(&self.pool).await? {
                            owners.push((row.try_get("value")?, row.try_get("record_id")?));
                        }
                    }
                    Ok(owners)
                }

                async fn insert_form_import(&self, job: &FormImport) -> Result<()> {
                    sqlx::query(Self::sql("INSERT INTO form_imports (id, form, created_by, created_at, updated_at, status, file_name, headers, total, processed, counts, error, committed_rows) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
                        .bind(&job.id).bind(&job.form).bind(&job.created_by).bind(job.created_at).bind(job.updated_at)
                        .bind(&job.status).bind(&job.file_name).bind(&job.headers).bind(job.total).bind(job.processed)
                        .bind(&job.counts).bind(&job.error).bind(job.committed_rows)
                        .execute(&self.pool).await?;
                    Ok(())
                }

                async fn save_form_import(&self, job: &FormImport) -> Result<()> {
                    sqlx::query(Self::sql("UPDATE form_imports SET updated_at = ?, status = ?, headers = ?, total = ?, processed = ?, counts = ?, error = ?, committed_rows = ? WHERE id = ?"))
                        .bind(job.updated_at).bind(&job.status).bind(&job.headers).bind(job.total).bind(job.processed)
                        .bind(&job.counts).bind(&job.error).bind(job.committed_rows).bind(&job.id)
                        .execute(&self.pool).await?;
                    Ok(())
                }

                async fn form_import(&self, id: &str) -> Result<Option<FormImport>> {
                    let select = format!("SELECT {IMPORT_COLUMNS} FROM form_imports WHERE id = ?");
                    let row = sqlx::query(Self::dynamic(select)).bind(id).fetch_optional(&self.pool).await?;
                    row.as_ref().map(import_from).transpose()
                }

                async fn form_imports_with_status(&self, status: &str) -> Result<Vec<FormImport>> {
                    let select = format!("SELECT {IMPORT_COLUMNS} FROM form_imports WHERE status = ? ORDER BY created_at");
                    let rows = sqlx::query(Self::dynamic(select)).bind(status).fetch_all(&self.pool).await?;
                    rows.iter().map(import_from).collect()
                }

                async fn claim_form_import(&self, id: &str, from: &str, to: &str, at: i64, error: Option<&str>) -> Result<bool> {
                    let updated = sqlx::query(Self::sql("UPDATE form_imports SET status = ?, updated_at = ?, error = ? WHERE id = ? AND status = ?"))
                        .bind(to).bind(at).bind(error).bind(id).bind(from).execute(&self.pool).await?.rows_affected();
                    Ok(updated == 1)
                }

                async fn insert_form_import_rows(&self, rows: &[ImportRow]) -> Result<()> {
                    let columns: Vec<&str> = IMPORT_ROW_COLUMNS.split(", ").collect();
                    let mut tx = self.begin_write().await?;
                    for chunk in rows.chunks(200) {
                        let params: Vec<Param> = chunk
                            .iter()
                            .flat_map(|row| {
                                [
                                    Param::from(&row.import_id), row.row_no.into(), (&row.outcome).into(), (&row.record_id).into(),
                                    row.expected_version.into(), (&row.raw).into(), (&row.errors).into(), (&row.prepared).into(),
                                ]
                            })
                            .collect();
                        let insert = multi_insert("form_import_rows", &columns, chunk.len());
                        bind_params(sqlx::query(Self::dynamic(insert)), &params).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn form_import_rows(&self, import_id: &str, outcomes: &[&str], after_row: i64, limit: i64) -> Result<Vec<ImportRow>> {
                    let outcome_clause = if outcomes.is_empty() {
                        String::new()
                    } else {
                        format!(" AND outcome IN ({})", vec!["?"; outcomes.len()].join(", "))
                    };
                    let select = format!("SELECT {IMPORT_ROW_COLUMNS} FROM form_import_rows WHERE import_id = ? AND row_no > ?{outcome_clause} ORDER BY row_no LIMIT {}", limit.max(0));
                    let mut query = sqlx::query(Self::dynamic(select)).bind(import_id).bind(after_row);
                    for outcome in outcomes {
                        query = query.bind(*outcome);
                    }
                    let rows = query.fetch_all(&self.pool).await?;
                    rows.iter().map(import_row_from).collect()
                }

                async fn commit_form_import(&self, import_id: &str, actor: &str, at: i64) -> Result<i64> {
                    let mut tx = self.begin_write().await?;
                    let job = sqlx::query(Self::sql("SELECT form, status FROM form_imports WHERE id = ?"))
                        .bind(import_id).fetch_optional(&mut *tx).await?
                        .ok_or_else(|| Error::NotFound(format!("import {import_id}")))?;
                    let (form, status): (String, String) = (job.try_get("form")?, job.try_get("status")?);
                    if status != "committing" {
                        return Err(Error::Conflict(format!("import {import_id} is {status}, not committing")));
                    }
                    let select = format!("SELECT {IMPORT_ROW_COLUMNS} FROM form_import_rows WHERE import_id = ? AND row_no > ? AND outcome IN ('new', 'update') ORDER BY row_no LIMIT {COMMIT_BATCH}");
                    let (mut after, mut written) = (0i64, 0i64);
                    loop {
                        let rows = sqlx::query(Self::dynamic(select.clone())).bind(import_id).bind(after).fetch_all(&mut *tx).await?;
                        if rows.is_empty() {
                            break;
                        }
                        for row in rows.iter().map(import_row_from) {
                            let row = row?;
                            after = row.row_no;
                            let prepared: PreparedWrite = serde_json::from_str(row.prepared.as_deref().unwrap_or(""))
                                .map_err(|error| Error::Corrupt(format!("import {import_id} row {}: {error}", row.row_no)))?;
                            let id = row.record_id.clone().ok_or_else(|| Error::Corrupt(format!("import {import_id} row {} has no record id", row.row_no)))?;
                            let record = FormRecord {
                                id: id.clone(),
                                form: form.clone(),
                                version: prepared.version,
                                district: prepared.district,
                                unit_id: prepared.unit_id,
                                created_by: prepared.created_by,
                                created_at: prepared.created_at,
                                updated_by: actor.to_string(),
                                updated_at: at,
                                deleted_at: None,
                                deleted_by: None,
                                title: prepared.title,
                                search: prepared.search,
                                data: prepared.data,
                                keys: prepared.keys,
                            };
                            let unique: Vec<UniqueValue> = prepared.unique.into_iter().map(|(field, value)| UniqueValue { field, value }).collect();
                            let change = RecordChange {
                                id: crate::new_id(),
                                record_id: id,
                                form: form.clone(),
                                at,
                                actor: actor.to_string(),
                                action: format!("import:{import_id}"),
                                changes: prepared.changes,
                                task_id: None,
                                files: Vec::new(),
                            };
                            let outcome = if row.outcome == "new" {
                                Self::insert_in(&mut tx, &record, &unique, &change).await
                            } else {
                                Self::update_in(&mut tx, &record, row.expected_version.unwrap_or(0), &unique, &change).await
                            };
                            match outcome {
                                Ok(()) => written += 1,
                                Err(Error::Conflict(_)) => return Err(Error::Conflict(format!("第 {} 行的记录在预览后被修改", row.row_no))),
                                Err(Error::Duplicate(field)) => return Err(Error::Conflict(format!("第 {} 行的“{field}”在预览后已被其他记录使用", row.row_no))),
                                Err(other) => return Err(other),
                            }
                        }
                    }
                    sqlx::query(Self::sql("UPDATE form_imports SET status = 'done', committed_rows = ?, updated_at = ?, error = NULL WHERE id = ?"))
                        .bind(written).bind(at).bind(import_id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(written)
                }
            }
        };
    };
}

pub(crate) use forms_impl;
