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
    /// Benchmark fixture: inserts records as they are (no history, no unique values).
    async fn insert_form_fixture(&self, records: &[FormRecord]) -> Result<()>;
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

            impl $store {
                async fn push_change(tx: &mut Tx, change: &RecordChange) -> Result<()> {
                    sqlx::query(Self::sql("INSERT INTO form_record_changes (id, record_id, form, at, actor, action, changes, task_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"))
                        .bind(&change.id).bind(&change.record_id).bind(&change.form).bind(change.at)
                        .bind(&change.actor).bind(&change.action).bind(&change.changes).bind(&change.task_id)
                        .execute(&mut **tx).await?;
                    Ok(())
                }

                /// Takes the unique values for a record; the first one another record holds
                /// is the error (the caller's transaction is dropped, so nothing is kept).
                async fn take_unique(tx: &mut Tx, form: &str, record_id: &str, unique: &[UniqueValue]) -> Result<()> {
                    for value in unique {
                        let taken = sqlx::query(Self::sql("INSERT INTO form_unique (form, field, value, record_id) VALUES (?, ?, ?, ?) ON CONFLICT (form, field, value) DO NOTHING"))
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
                    let params = record_params(record);
                    let insert = multi_insert("form_records", &RECORD_COLUMNS.split(", ").collect::<Vec<_>>(), 1);
                    bind_params(sqlx::query(Self::dynamic(insert)), &params).execute(&mut *tx).await.map_err(Self::map_error)?;
                    Self::take_unique(&mut tx, &record.form, &record.id, unique).await?;
                    Self::push_change(&mut tx, change).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn update_form_record(&self, record: &FormRecord, expected_version: i64, unique: &[UniqueValue], change: &RecordChange) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let mut params = vec![
                        Param::from(record.version), (&record.district).into(), (&record.updated_by).into(), record.updated_at.into(),
                        (&record.title).into(), (&record.search).into(), (&record.data).into(),
                    ];
                    for index in 0..KEY_COLUMNS {
                        params.push(Param::Text(record.keys.get(index).cloned().unwrap_or_default()));
                    }
                    params.extend([Param::from(&record.id), (&record.form).into(), expected_version.into()]);
                    let updated = bind_params(sqlx::query(Self::sql("UPDATE form_records SET version = ?, district = ?, updated_by = ?, updated_at = ?, title = ?, search = ?, data = ?, k1 = ?, k2 = ?, k3 = ?, k4 = ?, k5 = ?, k6 = ?, k7 = ?, k8 = ? WHERE id = ? AND form = ? AND version = ? AND deleted_at IS NULL")), &params)
                        .execute(&mut *tx).await.map_err(Self::map_error)?.rows_affected();
                    if updated == 0 {
                        return Err(Error::Conflict(format!("record {} was changed by someone else", record.id)));
                    }
                    sqlx::query(Self::sql("DELETE FROM form_unique WHERE record_id = ?")).bind(&record.id).execute(&mut *tx).await?;
                    Self::take_unique(&mut tx, &record.form, &record.id, unique).await?;
                    Self::push_change(&mut tx, change).await?;
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
                    let select = format!(
                        "SELECT {RECORD_COLUMNS} FROM form_records{} ORDER BY {column} {direction}, id {direction}{}",
                        filter.sql(),
                        limit(&query.page)
                    );
                    let rows = bind_params(sqlx::query(Self::dynamic(select)), &filter.params).fetch_all(&self.pool).await?;
                    let records = rows.iter().map(record_from).collect::<Result<Vec<_>>>()?;
                    let page = &query.page;
                    let total = if query.without_total {
                        0
                    } else if page.first_result == 0 && page.max_results.is_none_or(|max| (records.len() as i64) < max) {
                        records.len() as i64
                    } else {
                        let count = format!("SELECT COUNT(*) AS n FROM form_records{}", filter.sql());
                        bind_params(sqlx::query(Self::dynamic(count)), &filter.params).fetch_one(&self.pool).await?.try_get("n")?
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
            }
        };
    };
}

pub(crate) use forms_impl;
