//! The SQL shared by both backends, and the macro that expands it into each backend's
//! [`Store`](crate::Store) implementation.
//!
//! The statements are portable SQL written with `?` placeholders; the PostgreSQL backend
//! rewrites them to `$n`. Connection set-up, migrations and error codes stay per backend
//! (`sqlite.rs`, `postgres.rs`). This keeps one reviewed copy of each query without the sqlx
//! `Any` driver or `DB: Database` generics.

use std::borrow::Cow;

use crate::model::{Page, Sorting};
use crate::{Error, Result};

/// A bound parameter of a dynamic query.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
    OptText(Option<String>),
    OptInt(Option<i64>),
    Bool(bool),
}

impl From<&String> for Param {
    fn from(text: &String) -> Self {
        Param::Text(text.clone())
    }
}

impl From<&Option<String>> for Param {
    fn from(text: &Option<String>) -> Self {
        Param::OptText(text.clone())
    }
}

impl From<i64> for Param {
    fn from(number: i64) -> Self {
        Param::Int(number)
    }
}

impl From<Option<i64>> for Param {
    fn from(number: Option<i64>) -> Self {
        Param::OptInt(number)
    }
}

impl From<bool> for Param {
    fn from(flag: bool) -> Self {
        Param::Bool(flag)
    }
}

/// Statements to run in order inside one transaction.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) statements: Vec<(String, Vec<Param>)>,
    /// The statements (by index) that must change a row: when one changes none (a version
    /// moved on, a unique value was taken), the whole batch is undone and the commit reports
    /// a lost race.
    pub(crate) guarded: Vec<usize>,
}

/// The most bound parameters one statement of a batch gets: far below SQLite's 32 766 and
/// PostgreSQL's 65 535, so a command that wrote many rows (a loop that ran until the step
/// limit stopped it) still commits, as several statements.
const MAX_PARAMS: usize = 8_000;

impl Batch {
    pub(crate) fn push(&mut self, statement: String, params: Vec<Param>) {
        self.statements.push((statement, params));
    }

    /// A statement that must change at least one row (see [`Batch::guarded`]).
    pub(crate) fn push_guarded(&mut self, statement: String, params: Vec<Param>) {
        self.guarded.push(self.statements.len());
        self.push(statement, params);
    }

    /// Inserts rows (`params`: the values of each row in `columns` order, row after row) with
    /// as few multi-row statements as [`MAX_PARAMS`] allows.
    pub(crate) fn push_rows(&mut self, table: &str, columns: &[&str], params: Vec<Param>) {
        let per_statement = (MAX_PARAMS / columns.len()).max(1) * columns.len();
        for chunk in params.chunks(per_statement) {
            self.push(multi_insert(table, columns, chunk.len() / columns.len()), chunk.to_vec());
        }
    }

    /// `statement` with its `IN ({})` list filled from `ids`, chunked under [`MAX_PARAMS`];
    /// `leading` are the parameters before the list, repeated for each chunk.
    pub(crate) fn push_in(&mut self, statement: &str, leading: &[Param], ids: &[Param]) {
        for chunk in ids.chunks(MAX_PARAMS - leading.len()) {
            let mut params = leading.to_vec();
            params.extend(chunk.iter().cloned());
            self.push(statement.replace("{}", &placeholders(chunk.len())), params);
        }
    }
}

/// `INSERT INTO table (columns) VALUES (…), (…)` for `rows` rows.
pub(crate) fn multi_insert(table: &str, columns: &[&str], rows: usize) -> String {
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    format!("INSERT INTO {table} ({}) VALUES {}", columns.join(", "), vec![row; rows].join(", "))
}

/// `… IN (?, ?, …)` with `count` placeholders.
pub(crate) fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

/// `text` with `LIKE`'s wildcards and the escape character escaped (for `ESCAPE '\'`).
pub(crate) fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// A `WHERE` clause built from optional filters, with bound parameters only.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    clauses: Vec<String>,
    pub(crate) params: Vec<Param>,
}

impl Filter {
    pub(crate) fn eq(&mut self, column: &str, value: &Option<String>) -> &mut Self {
        if let Some(value) = value {
            self.clauses.push(format!("{column} = ?"));
            self.params.push(Param::Text(value.clone()));
        }
        self
    }

    pub(crate) fn eq_int(&mut self, column: &str, value: Option<i64>) -> &mut Self {
        if let Some(value) = value {
            self.clauses.push(format!("{column} = ?"));
            self.params.push(Param::Int(value));
        }
        self
    }

    /// Camunda `…Like` filters: the caller passes SQL `LIKE` patterns (`%` wildcards).
    pub(crate) fn like(&mut self, column: &str, pattern: &Option<String>) -> &mut Self {
        if let Some(pattern) = pattern {
            self.clauses.push(format!("{column} LIKE ?"));
            self.params.push(Param::Text(pattern.clone()));
        }
        self
    }

    pub(crate) fn any_of(&mut self, column: &str, values: &Option<Vec<String>>) -> &mut Self {
        if let Some(values) = values {
            if values.is_empty() {
                self.clauses.push("1 = 0".into());
            } else {
                self.clauses.push(format!("{column} IN ({})", vec!["?"; values.len()].join(", ")));
                self.params.extend(values.iter().cloned().map(Param::Text));
            }
        }
        self
    }

    /// A raw clause with its parameters (written by this crate, never from input).
    pub(crate) fn clause(&mut self, clause: &str, params: impl IntoIterator<Item = Param>) -> &mut Self {
        self.clauses.push(clause.to_string());
        self.params.extend(params);
        self
    }

    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }
}

/// `ORDER BY` from a validated sort list; `allowed` maps sort names to columns. NULLs sort as
/// larger than every value on both backends (PostgreSQL's default; SQLite's is the opposite), so a
/// list sorted by a nullable column comes back in the same order whichever backend runs.
pub(crate) fn order_by(sorting: &Sorting, allowed: &[(&str, &str)], default: &str) -> Result<String> {
    let mut parts = Vec::new();
    for (name, ascending) in sorting {
        let column = allowed
            .iter()
            .find(|(allowed_name, _)| allowed_name == name)
            .map(|(_, column)| *column)
            .ok_or_else(|| Error::Invalid(format!("cannot sort by '{name}'")))?;
        parts.push(format!("{column} {}", if *ascending { "ASC NULLS LAST" } else { "DESC NULLS FIRST" }));
    }
    parts.push(default.to_string());
    Ok(format!(" ORDER BY {}", parts.join(", ")))
}

pub(crate) fn limit(page: &Page) -> String {
    let max = page.max_results.unwrap_or(i64::MAX / 4).max(0);
    format!(" LIMIT {max} OFFSET {}", page.first_result.max(0))
}

/// `?` → `$1, $2, …` outside string literals (PostgreSQL's placeholder style).
pub(crate) fn numbered_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut number = 0;
    let mut quoted = false;
    for character in sql.chars() {
        match character {
            '\'' => {
                quoted = !quoted;
                out.push(character);
            }
            '?' if !quoted => {
                number += 1;
                out.push('$');
                out.push_str(&number.to_string());
            }
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

/// Defines `bind(query, &Param)` for one backend (used by its module and by [`store_impl`]).
macro_rules! bind_fn {
    ($db:ty, $arguments:ty) => {
        fn bind<'q>(
            query: sqlx::query::Query<'q, $db, $arguments>,
            param: &'q Param,
        ) -> sqlx::query::Query<'q, $db, $arguments> {
            match param {
                Param::Text(text) => query.bind(text.as_str()),
                Param::Int(number) => query.bind(*number),
                Param::OptText(text) => query.bind(text.as_deref()),
                Param::OptInt(number) => query.bind(*number),
                Param::Bool(flag) => query.bind(*flag),
            }
        }
    };
}

pub(crate) use bind_fn;

/// Expands the [`Store`](crate::Store) implementation for one backend.
/// `$store` has a field `pool: sqlx::Pool<$db>` (readers), the async `begin_write()` and
/// `commit_batch()`, and the functions `sql(&'static str)` and
/// `dynamic(String)` that turn `?`-style SQL into the backend's statement text.
macro_rules! store_impl {
    ($store:ty, $db:ty, $name:literal) => {
        const _: () = {

            use sqlx::Row;

            use crate::backend::{Batch, Filter, Param, limit, order_by};
            use crate::model::*;
            use crate::{Error, Result, Store};

            type DbRow = <$db as sqlx::Database>::Row;

            fn bind_all<'q>(
                mut query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
                params: &'q [Param],
            ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
                for param in params {
                    query = bind(query, param);
                }
                query
            }

            const DEFINITION_COLUMNS: &str = "id, key, version, name, version_tag, history_ttl, deployment_id, resource_id, resource_name, content_hash, suspended";
            const INSTANCE_COLUMNS: &str = "id, definition_id, definition_key, business_key, status, state, version, started_at, ended_at, start_user, delete_reason";
            const TASK_COLUMNS: &str = "t.id, t.instance_id, t.token, t.definition_id, t.definition_key, t.task_definition_key, t.name, t.description, t.assignee, t.owner, t.priority, t.created_at, t.due, t.follow_up, t.form_key, t.delegation";
            const ACTIVITY_COLUMNS: &str = "id, instance_id, definition_id, definition_key, activity_id, activity_name, activity_type, parent_id, task_id, assignee, started_at, ended_at, canceled, actor, seq, arrived_by";
            const TASK_HISTORY_COLUMNS: &str = "id, instance_id, definition_id, definition_key, task_definition_key, activity_instance_id, name, description, assignee, owner, priority, created_at, ended_at, delete_reason, due, follow_up, completed_by";
            const INCIDENT_COLUMNS: &str = "id, instance_id, definition_id, activity_id, token, incident_type, message, created_at, resolved_at";
            const USER_COLUMNS: &str = "id, password_hash, first_name, last_name, email, must_change_password, created_at";

            fn deployment_from(row: &DbRow) -> Result<Deployment> {
                Ok(Deployment {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    source: row.try_get("source")?,
                    tenant_id: row.try_get("tenant_id")?,
                    deployed_at: row.try_get("deployed_at")?,
                    deployed_by: row.try_get("deployed_by")?,
                })
            }

            const DRAFT_COLUMNS: &str = "id, process_key, name, xml, revision, created_by, created_at, saved_by, saved_at, deployed_definition_id";

            fn draft_from(row: &DbRow) -> Result<ProcessDraft> {
                Ok(ProcessDraft {
                    id: row.try_get("id")?,
                    process_key: row.try_get("process_key")?,
                    name: row.try_get("name")?,
                    xml: row.try_get("xml")?,
                    revision: row.try_get("revision")?,
                    created_by: row.try_get("created_by")?,
                    created_at: row.try_get("created_at")?,
                    saved_by: row.try_get("saved_by")?,
                    saved_at: row.try_get("saved_at")?,
                    deployed_definition_id: row.try_get("deployed_definition_id")?,
                })
            }

            fn resource_from(row: &DbRow) -> Result<Resource> {
                Ok(Resource {
                    id: row.try_get("id")?,
                    deployment_id: row.try_get("deployment_id")?,
                    name: row.try_get("name")?,
                    content: row.try_get("content")?,
                    content_hash: row.try_get("content_hash")?,
                })
            }

            fn definition_from(row: &DbRow) -> Result<Definition> {
                Ok(Definition {
                    id: row.try_get("id")?,
                    key: row.try_get("key")?,
                    version: row.try_get("version")?,
                    name: row.try_get("name")?,
                    version_tag: row.try_get("version_tag")?,
                    history_ttl: row.try_get("history_ttl")?,
                    deployment_id: row.try_get("deployment_id")?,
                    resource_id: row.try_get("resource_id")?,
                    resource_name: row.try_get("resource_name")?,
                    content_hash: row.try_get("content_hash")?,
                    suspended: row.try_get("suspended")?,
                })
            }

            fn instance_from(row: &DbRow) -> Result<InstanceRecord> {
                let id: String = row.try_get("id")?;
                let status: String = row.try_get("status")?;
                let state: String = row.try_get("state")?;
                Ok(InstanceRecord {
                    status: status_from_text(&status).ok_or_else(|| Error::Corrupt(format!("instance {id} has status '{status}'")))?,
                    state: serde_json::from_str(&state).map_err(|error| Error::Corrupt(format!("instance {id}: {error}")))?,
                    id,
                    definition_id: row.try_get("definition_id")?,
                    definition_key: row.try_get("definition_key")?,
                    business_key: row.try_get("business_key")?,
                    version: row.try_get("version")?,
                    started_at: row.try_get("started_at")?,
                    ended_at: row.try_get("ended_at")?,
                    start_user: row.try_get("start_user")?,
                    delete_reason: row.try_get("delete_reason")?,
                })
            }

            fn task_from(row: &DbRow) -> Result<TaskRecord> {
                Ok(TaskRecord {
                    id: row.try_get("id")?,
                    instance_id: row.try_get("instance_id")?,
                    token: row.try_get("token")?,
                    definition_id: row.try_get("definition_id")?,
                    definition_key: row.try_get("definition_key")?,
                    task_definition_key: row.try_get("task_definition_key")?,
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    assignee: row.try_get("assignee")?,
                    owner: row.try_get("owner")?,
                    priority: row.try_get("priority")?,
                    created_at: row.try_get("created_at")?,
                    due: row.try_get("due")?,
                    follow_up: row.try_get("follow_up")?,
                    form_key: row.try_get("form_key")?,
                    delegation: row.try_get("delegation")?,
                    candidate_users: Vec::new(),
                    candidate_groups: Vec::new(),
                })
            }

            fn activity_from(row: &DbRow) -> Result<ActivityRecord> {
                Ok(ActivityRecord {
                    id: row.try_get("id")?,
                    instance_id: row.try_get("instance_id")?,
                    definition_id: row.try_get("definition_id")?,
                    definition_key: row.try_get("definition_key")?,
                    activity_id: row.try_get("activity_id")?,
                    activity_name: row.try_get("activity_name")?,
                    activity_type: row.try_get("activity_type")?,
                    parent_id: row.try_get("parent_id")?,
                    task_id: row.try_get("task_id")?,
                    assignee: row.try_get("assignee")?,
                    started_at: row.try_get("started_at")?,
                    ended_at: row.try_get("ended_at")?,
                    canceled: row.try_get("canceled")?,
                    actor: row.try_get("actor")?,
                    seq: row.try_get("seq")?,
                    arrived_by: row.try_get("arrived_by")?,
                })
            }

            fn task_history_from(row: &DbRow) -> Result<TaskHistoryRecord> {
                Ok(TaskHistoryRecord {
                    id: row.try_get("id")?,
                    instance_id: row.try_get("instance_id")?,
                    definition_id: row.try_get("definition_id")?,
                    definition_key: row.try_get("definition_key")?,
                    task_definition_key: row.try_get("task_definition_key")?,
                    activity_instance_id: row.try_get("activity_instance_id")?,
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    assignee: row.try_get("assignee")?,
                    owner: row.try_get("owner")?,
                    priority: row.try_get("priority")?,
                    created_at: row.try_get("created_at")?,
                    ended_at: row.try_get("ended_at")?,
                    delete_reason: row.try_get("delete_reason")?,
                    due: row.try_get("due")?,
                    follow_up: row.try_get("follow_up")?,
                    completed_by: row.try_get("completed_by")?,
                })
            }

            fn incident_from(row: &DbRow) -> Result<IncidentRecord> {
                Ok(IncidentRecord {
                    id: row.try_get("id")?,
                    instance_id: row.try_get("instance_id")?,
                    definition_id: row.try_get("definition_id")?,
                    activity_id: row.try_get("activity_id")?,
                    token: row.try_get("token")?,
                    incident_type: row.try_get("incident_type")?,
                    message: row.try_get("message")?,
                    created_at: row.try_get("created_at")?,
                    resolved_at: row.try_get("resolved_at")?,
                })
            }

            fn user_from(row: &DbRow) -> Result<UserRecord> {
                Ok(UserRecord {
                    id: row.try_get("id")?,
                    password_hash: row.try_get("password_hash")?,
                    first_name: row.try_get("first_name")?,
                    last_name: row.try_get("last_name")?,
                    email: row.try_get("email")?,
                    must_change_password: row.try_get("must_change_password")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            impl $store {
                /// Runs a counted, paged list query: `SELECT columns FROM from_where order limit`.
                async fn list<T>(
                    &self,
                    columns: &str,
                    from: &str,
                    filter: &Filter,
                    order: &str,
                    page: &Page,
                    map: fn(&DbRow) -> Result<T>,
                ) -> Result<(Vec<T>, i64)> {
                    let where_sql = filter.sql();
                    let select = format!("SELECT {columns} FROM {from}{where_sql}{order}{}", limit(page));
                    let rows = bind_all(sqlx::query(Self::dynamic(select)), &filter.params).fetch_all(&self.pool).await?;
                    // One damaged row (a document this build cannot read) never breaks a list:
                    // it is reported in the log and left out; `damaged_instances` lists them.
                    let mut items = Vec::with_capacity(rows.len());
                    for row in &rows {
                        match map(row) {
                            Ok(item) => items.push(item),
                            Err(Error::Corrupt(problem)) => tracing::warn!(%problem, "a damaged row is left out of a list"),
                            Err(other) => return Err(other),
                        }
                    }
                    let total = if page.first_result == 0 && page.max_results.is_none_or(|max| (items.len() as i64) < max) {
                        items.len() as i64
                    } else {
                        let count = format!("SELECT COUNT(*) AS n FROM {from}{where_sql}");
                        bind_all(sqlx::query(Self::dynamic(count)), &filter.params).fetch_one(&self.pool).await?.try_get("n")?
                    };
                    Ok((items, total))
                }

                /// A command's derived rows: one multi-row statement per kind of row, run as one
                /// batch (see each backend's `commit_batch`).
                fn collect_changes(batch: &mut Batch, instance: &InstanceRecord, changes: &Changes) -> Result<()> {
                    if !changes.started_activities.is_empty() {
                        let columns = ["id", "instance_id", "definition_id", "definition_key", "activity_id", "activity_name", "activity_type", "parent_id", "task_id", "assignee", "started_at", "ended_at", "canceled", "actor", "seq", "arrived_by"];
                        let mut params = Vec::with_capacity(columns.len() * changes.started_activities.len());
                        for a in &changes.started_activities {
                            params.extend([
                                Param::from(&a.id), (&a.instance_id).into(), (&a.definition_id).into(), (&a.definition_key).into(),
                                (&a.activity_id).into(), (&a.activity_name).into(), (&a.activity_type).into(), (&a.parent_id).into(),
                                (&a.task_id).into(), (&a.assignee).into(), a.started_at.into(), a.ended_at.into(), a.canceled.into(),
                                (&a.actor).into(), a.seq.into(), (&a.arrived_by).into(),
                            ]);
                        }
                        batch.push_rows("history_activities", &columns, params);
                    }
                    for canceled in [false, true] {
                        let ids: Vec<Param> = changes.ended_activities.iter().filter(|(_, c)| *c == canceled).map(|(id, _)| Param::from(id)).collect();
                        if !ids.is_empty() {
                            let leading = [Param::Int(changes.at), Param::Bool(canceled), Param::from(&changes.actor)];
                            batch.push_in("UPDATE history_activities SET ended_at = ?, canceled = ?, actor = ? WHERE id IN ({})", &leading, &ids);
                        }
                    }
                    if !changes.new_tasks.is_empty() {
                        let columns = ["id", "instance_id", "token", "definition_id", "definition_key", "task_definition_key", "name", "description", "assignee", "owner", "priority", "created_at", "due", "follow_up", "form_key"];
                        let history = ["id", "instance_id", "definition_id", "definition_key", "task_definition_key", "activity_instance_id", "name", "description", "assignee", "owner", "priority", "created_at", "due", "follow_up"];
                        let (mut params, mut history_params, mut candidates) = (Vec::new(), Vec::new(), Vec::new());
                        for t in &changes.new_tasks {
                            params.extend([
                                Param::from(&t.id), (&t.instance_id).into(), t.token.into(), (&t.definition_id).into(), (&t.definition_key).into(),
                                (&t.task_definition_key).into(), (&t.name).into(), (&t.description).into(), (&t.assignee).into(), (&t.owner).into(),
                                t.priority.into(), t.created_at.into(), (&t.due).into(), (&t.follow_up).into(), (&t.form_key).into(),
                            ]);
                            history_params.extend([
                                Param::from(&t.id), (&t.instance_id).into(), (&t.definition_id).into(), (&t.definition_key).into(),
                                (&t.task_definition_key).into(), (&t.id).into(), (&t.name).into(), (&t.description).into(), (&t.assignee).into(),
                                (&t.owner).into(), t.priority.into(), t.created_at.into(), (&t.due).into(), (&t.follow_up).into(),
                            ]);
                            for (kind, values) in [("user", &t.candidate_users), ("group", &t.candidate_groups)] {
                                let mut seen = std::collections::HashSet::new();
                                for value in values.iter().filter(|value| seen.insert(*value)) {
                                    candidates.extend([Param::from(&t.id), Param::Text(kind.into()), Param::from(value)]);
                                }
                            }
                        }
                        batch.push_rows("tasks", &columns, params);
                        batch.push_rows("history_tasks", &history, history_params);
                        if !candidates.is_empty() {
                            batch.push_rows("task_candidates", &["task_id", "kind", "value"], candidates);
                        }
                    }
                    // After the new tasks: a task created and ended by one command (an
                    // application the submission completes, `sy:submit`) ends too.
                    if !changes.ended_tasks.is_empty() {
                        let ids: Vec<Param> = changes.ended_tasks.iter().map(|(id, _)| Param::from(id)).collect();
                        // Candidates go with their task (ON DELETE CASCADE).
                        batch.push_in("DELETE FROM tasks WHERE id IN ({})", &[], &ids);
                        for reason in ["completed", "deleted"] {
                            let ids: Vec<Param> = changes.ended_tasks.iter().filter(|(_, r)| r == reason).map(|(id, _)| Param::from(id)).collect();
                            if !ids.is_empty() {
                                // A task ends once: an asyncAfter task ended at completion keeps who completed it.
                                let leading = [Param::Int(changes.at), Param::Text(reason.into()), Param::from(&changes.actor)];
                                batch.push_in("UPDATE history_tasks SET ended_at = ?, delete_reason = ?, completed_by = ? WHERE ended_at IS NULL AND id IN ({})", &leading, &ids);
                            }
                        }
                        if let Some(user) = &changes.actor {
                            for (id, _) in changes.ended_tasks.iter().filter(|(_, reason)| reason == "completed") {
                                crate::approval::push_completion(batch, user, id, changes.at);
                            }
                        }
                    }
                    if !changes.variables.is_empty() {
                        let mut params = Vec::new();
                        for v in &changes.variables {
                            let value = serde_json::to_string(&v.value).map_err(|error| Error::Corrupt(error.to_string()))?;
                            params.extend([Param::Text(crate::new_id()), (&v.instance_id).into(), v.scope.into(), (&v.name).into(), Param::Text(value), v.at.into(), (&v.actor).into()]);
                        }
                        batch.push_rows("history_variables", &["id", "instance_id", "scope", "name", "value", "at", "actor"], params);
                    }
                    if !changes.new_incidents.is_empty() {
                        let mut params = Vec::new();
                        for i in &changes.new_incidents {
                            params.extend([Param::from(&i.id), (&i.instance_id).into(), (&i.definition_id).into(), (&i.activity_id).into(), i.token.into(), (&i.incident_type).into(), (&i.message).into(), i.created_at.into()]);
                        }
                        let columns = ["id", "instance_id", "definition_id", "activity_id", "token", "incident_type", "message", "created_at"];
                        batch.push_rows("incidents", &columns, params);
                    }
                    if !changes.resolved_incidents.is_empty() {
                        let ids: Vec<Param> = changes.resolved_incidents.iter().map(Param::from).collect();
                        batch.push_in("UPDATE incidents SET resolved_at = ? WHERE resolved_at IS NULL AND id IN ({})", &[Param::Int(changes.at)], &ids);
                    }
                    Self::collect_job_changes(batch, &instance.id, changes);
                    Self::collect_approval_changes(batch, changes);
                    Self::collect_record_writes(batch, changes);
                    if instance.ended_at.is_some() {
                        // Incidents of an ended instance are closed with it.
                        batch.push("UPDATE incidents SET resolved_at = ? WHERE instance_id = ? AND resolved_at IS NULL".into(), vec![Param::Int(changes.at), Param::from(&instance.id)]);
                    }
                    Ok(())
                }
            }

            #[async_trait::async_trait]
            impl Store for $store {
                fn backend(&self) -> &'static str {
                    $name
                }

                async fn ping(&self) -> Result<()> {
                    sqlx::query("SELECT 1").execute(&self.pool).await?;
                    Ok(())
                }

                async fn analyze(&self) -> Result<()> {
                    // PostgreSQL: outside a transaction, so each table is analysed (and its lock
                    // released) on its own. SQLite: a full ANALYZE too — `PRAGMA optimize`'s
                    // sampled statistics took `assignee IS NULL` for a selective filter and put
                    // the 待认领 count back on the wrong index. It scans every index (68 ms for a
                    // 27 MB database with 10,000 open tasks) on the writer, since it writes the
                    // statistics tables: the node's commands wait that long, every six hours.
                    if $name == "postgres" {
                        // The form lists' totals are index-only scans (migration 0019): they
                        // read the heap for every page the visibility map does not mark
                        // all-visible, so the records table is vacuumed here too (autovacuum
                        // gets there later after bulk writes such as an import).
                        sqlx::query("VACUUM (ANALYZE) form_records").execute(&self.pool).await?;
                        sqlx::query("ANALYZE").execute(&self.pool).await?;
                    } else {
                        let mut tx = self.begin_write().await?;
                        sqlx::query("ANALYZE").execute(&mut *tx).await?;
                        tx.commit().await?;
                    }
                    Ok(())
                }

                async fn insert_deployment(&self, deployment: &Deployment, resources: &[Resource], definitions: &[NewDefinition]) -> Result<Vec<Definition>> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(Self::sql("INSERT INTO deployments (id, name, source, tenant_id, deployed_at, deployed_by) VALUES (?, ?, ?, ?, ?, ?)"))
                        .bind(&deployment.id).bind(&deployment.name).bind(&deployment.source).bind(&deployment.tenant_id).bind(deployment.deployed_at).bind(&deployment.deployed_by)
                        .execute(&mut *tx).await?;
                    for resource in resources {
                        sqlx::query(Self::sql("INSERT INTO resources (id, deployment_id, name, content, content_hash) VALUES (?, ?, ?, ?, ?)"))
                            .bind(&resource.id).bind(&resource.deployment_id).bind(&resource.name).bind(&resource.content).bind(&resource.content_hash)
                            .execute(&mut *tx).await?;
                    }
                    let mut inserted = Vec::new();
                    for new in definitions {
                        let latest: Option<i64> = sqlx::query(Self::sql("SELECT MAX(version) AS v FROM process_definitions WHERE key = ?"))
                            .bind(&new.key).fetch_one(&mut *tx).await?.try_get("v")?;
                        let version = latest.unwrap_or(0) + 1;
                        let definition = Definition {
                            id: format!("{}:{}:{}", new.key, version, crate::new_id()),
                            key: new.key.clone(),
                            version,
                            name: new.name.clone(),
                            version_tag: new.version_tag.clone(),
                            history_ttl: new.history_ttl,
                            deployment_id: deployment.id.clone(),
                            resource_id: new.resource_id.clone(),
                            resource_name: new.resource_name.clone(),
                            content_hash: new.content_hash.clone(),
                            suspended: false,
                        };
                        let result = sqlx::query(Self::sql("INSERT INTO process_definitions (id, key, version, name, version_tag, history_ttl, deployment_id, resource_id, resource_name, content_hash, suspended) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
                            .bind(&definition.id).bind(&definition.key).bind(definition.version).bind(&definition.name).bind(&definition.version_tag)
                            .bind(definition.history_ttl).bind(&definition.deployment_id).bind(&definition.resource_id).bind(&definition.resource_name)
                            .bind(&definition.content_hash).bind(false)
                            .execute(&mut *tx).await;
                        match result {
                            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                                return Err(Error::Conflict(format!("another deployment of '{}' was made at the same time; deploy again", new.key)));
                            }
                            other => other?,
                        };
                        inserted.push(definition);
                    }
                    tx.commit().await?;
                    Ok(inserted)
                }

                async fn deployments(&self, query: &DeploymentQuery) -> Result<(Vec<Deployment>, i64)> {
                    let mut filter = Filter::default();
                    filter.eq("id", &query.id).eq("name", &query.name).like("name", &query.name_like).eq("source", &query.source);
                    let order = order_by(&query.sorting, &[("id", "id"), ("name", "name"), ("deploymentTime", "deployed_at"), ("tenantId", "tenant_id")], "deployed_at ASC, id ASC")?;
                    self.list("id, name, source, tenant_id, deployed_at, deployed_by", "deployments", &filter, &order, &query.page, deployment_from).await
                }

                async fn deployment(&self, id: &str) -> Result<Option<Deployment>> {
                    let row = sqlx::query(Self::sql("SELECT id, name, source, tenant_id, deployed_at, deployed_by FROM deployments WHERE id = ?"))
                        .bind(id).fetch_optional(&self.pool).await?;
                    row.as_ref().map(deployment_from).transpose()
                }

                async fn resources(&self, deployment_id: &str) -> Result<Vec<Resource>> {
                    let rows = sqlx::query(Self::sql("SELECT id, deployment_id, name, content, content_hash FROM resources WHERE deployment_id = ? ORDER BY name"))
                        .bind(deployment_id).fetch_all(&self.pool).await?;
                    rows.iter().map(resource_from).collect()
                }

                async fn resource(&self, id: &str) -> Result<Option<Resource>> {
                    let row = sqlx::query(Self::sql("SELECT id, deployment_id, name, content, content_hash FROM resources WHERE id = ?"))
                        .bind(id).fetch_optional(&self.pool).await?;
                    row.as_ref().map(resource_from).transpose()
                }

                async fn delete_deployment(&self, id: &str, cascade: bool) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let exists = sqlx::query(Self::sql("SELECT id FROM deployments WHERE id = ?")).bind(id).fetch_optional(&mut *tx).await?;
                    if exists.is_none() {
                        return Err(Error::NotFound(format!("deployment '{id}' does not exist")));
                    }
                    let owned = "SELECT id FROM process_instances WHERE definition_id IN (SELECT id FROM process_definitions WHERE deployment_id = ?)";
                    if !cascade {
                        let running = sqlx::query(Self::dynamic(format!("{owned} AND status = 'ACTIVE'"))).bind(id).fetch_optional(&mut *tx).await?;
                        if running.is_some() {
                            return Err(Error::Invalid(format!("deployment '{id}' has running process instances: delete with cascade=true")));
                        }
                    }
                    for table in ["approval_signers WHERE task_id IN (SELECT id FROM history_tasks WHERE instance_id IN (OWNED))", "approval_records WHERE instance_id IN (OWNED)", "approval_cc WHERE instance_id IN (OWNED)", "inbox_done WHERE instance_id IN (OWNED)", "files WHERE instance_id IN (OWNED)", "task_candidates WHERE task_id IN (SELECT id FROM tasks WHERE instance_id IN (OWNED))", "tasks WHERE instance_id IN (OWNED)", "history_tasks WHERE instance_id IN (OWNED)", "history_activities WHERE instance_id IN (OWNED)", "history_variables WHERE instance_id IN (OWNED)", "incidents WHERE instance_id IN (OWNED)", "jobs WHERE instance_id IN (OWNED)", "event_subscriptions WHERE instance_id IN (OWNED)", "external_tasks WHERE instance_id IN (OWNED)", "process_instances WHERE id IN (OWNED)", "jobs WHERE definition_id IN (SELECT id FROM process_definitions WHERE deployment_id = ?)", "event_subscriptions WHERE definition_id IN (SELECT id FROM process_definitions WHERE deployment_id = ?)"] {
                        let statement = format!("DELETE FROM {}", table.replace("OWNED", owned));
                        sqlx::query(Self::dynamic(statement)).bind(id).execute(&mut *tx).await?;
                    }
                    sqlx::query(Self::sql("DELETE FROM process_definitions WHERE deployment_id = ?")).bind(id).execute(&mut *tx).await?;
                    sqlx::query(Self::sql("DELETE FROM resources WHERE deployment_id = ?")).bind(id).execute(&mut *tx).await?;
                    sqlx::query(Self::sql("DELETE FROM deployments WHERE id = ?")).bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn insert_draft(&self, draft: &ProcessDraft) -> Result<()> {
                    sqlx::query(Self::sql("INSERT INTO process_drafts (id, process_key, name, xml, revision, created_by, created_at, saved_by, saved_at, deployed_definition_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
                        .bind(&draft.id).bind(&draft.process_key).bind(&draft.name).bind(&draft.xml).bind(draft.revision)
                        .bind(&draft.created_by).bind(draft.created_at).bind(&draft.saved_by).bind(draft.saved_at).bind(&draft.deployed_definition_id)
                        .execute(&self.pool).await?;
                    Ok(())
                }

                async fn update_draft(&self, draft: &ProcessDraft, expected_revision: i64) -> Result<ProcessDraft> {
                    let updated = sqlx::query(Self::sql("UPDATE process_drafts SET process_key = ?, name = ?, xml = ?, revision = revision + 1, saved_by = ?, saved_at = ?, deployed_definition_id = NULL WHERE id = ? AND revision = ?"))
                        .bind(&draft.process_key).bind(&draft.name).bind(&draft.xml).bind(&draft.saved_by).bind(draft.saved_at)
                        .bind(&draft.id).bind(expected_revision)
                        .execute(&self.pool).await?;
                    if updated.rows_affected() != 1 {
                        return Err(match self.draft(&draft.id).await? {
                            Some(current) => Error::Conflict(format!("draft '{}' was saved by {} in the meantime (revision {})", draft.id, current.saved_by, current.revision)),
                            None => Error::NotFound(format!("draft '{}' does not exist", draft.id)),
                        });
                    }
                    // What this save wrote (not a read-back, which a later save could overtake).
                    Ok(ProcessDraft { revision: expected_revision + 1, deployed_definition_id: None, ..draft.clone() })
                }

                async fn draft(&self, id: &str) -> Result<Option<ProcessDraft>> {
                    let row = sqlx::query(Self::dynamic(format!("SELECT {DRAFT_COLUMNS} FROM process_drafts WHERE id = ?")))
                        .bind(id).fetch_optional(&self.pool).await?;
                    row.as_ref().map(draft_from).transpose()
                }

                async fn drafts(&self, process_key: &str) -> Result<Vec<ProcessDraft>> {
                    let rows = sqlx::query(Self::dynamic(format!("SELECT {DRAFT_COLUMNS} FROM process_drafts WHERE process_key = ? ORDER BY saved_at DESC, id DESC")))
                        .bind(process_key).fetch_all(&self.pool).await?;
                    rows.iter().map(draft_from).collect()
                }

                async fn mark_draft_deployed(&self, id: &str, revision: i64, definition_id: &str) -> Result<()> {
                    let updated = sqlx::query(Self::sql("UPDATE process_drafts SET deployed_definition_id = ? WHERE id = ? AND revision = ?"))
                        .bind(definition_id).bind(id).bind(revision).execute(&self.pool).await?;
                    if updated.rows_affected() != 1 {
                        return Err(Error::Conflict(format!("draft '{id}' was saved again while it was deployed")));
                    }
                    Ok(())
                }

                async fn delete_draft(&self, id: &str) -> Result<()> {
                    let deleted = sqlx::query(Self::sql("DELETE FROM process_drafts WHERE id = ?")).bind(id).execute(&self.pool).await?;
                    if deleted.rows_affected() != 1 {
                        return Err(Error::NotFound(format!("draft '{id}' does not exist")));
                    }
                    Ok(())
                }

                async fn definitions(&self, query: &DefinitionQuery) -> Result<(Vec<Definition>, i64)> {
                    let mut filter = Filter::default();
                    filter
                        .eq("id", &query.id).any_of("id", &query.ids).eq("key", &query.key).any_of("key", &query.keys)
                        .like("key", &query.key_like).eq("name", &query.name).like("name", &query.name_like)
                        .eq_int("version", query.version).eq("deployment_id", &query.deployment_id)
                        .eq("resource_name", &query.resource_name).eq("version_tag", &query.version_tag);
                    if query.latest_version {
                        filter.clause("version = (SELECT MAX(d2.version) FROM process_definitions d2 WHERE d2.key = process_definitions.key)", []);
                    }
                    let order = order_by(&query.sorting, &[("id", "id"), ("key", "key"), ("name", "name"), ("version", "version"), ("deploymentId", "deployment_id"), ("versionTag", "version_tag")], "key ASC, version ASC")?;
                    self.list(DEFINITION_COLUMNS, "process_definitions", &filter, &order, &query.page, definition_from).await
                }

                async fn definition_with_hash(&self, key: &str, content_hash: &str) -> Result<Option<Definition>> {
                    let statement = format!("SELECT {DEFINITION_COLUMNS} FROM process_definitions WHERE key = ? ORDER BY version DESC LIMIT 1");
                    let row = sqlx::query(Self::dynamic(statement)).bind(key).fetch_optional(&self.pool).await?;
                    let latest = row.as_ref().map(definition_from).transpose()?;
                    Ok(latest.filter(|definition| definition.content_hash == content_hash))
                }

                async fn insert_instance(&self, instance: &InstanceRecord, changes: &Changes) -> Result<()> {
                    let state = crate::model::readable_state(instance)?;
                    let mut batch = Batch::default();
                    batch.push(
                        "INSERT INTO process_instances (id, definition_id, definition_key, business_key, status, state, version, started_at, ended_at, start_user, delete_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)".into(),
                        vec![
                            Param::from(&instance.id), (&instance.definition_id).into(), (&instance.definition_key).into(), (&instance.business_key).into(),
                            Param::Text(status_text(instance.status).into()), Param::Text(state), instance.version.into(), instance.started_at.into(),
                            instance.ended_at.into(), (&instance.start_user).into(), (&instance.delete_reason).into(),
                        ],
                    );
                    // The owner of the instance (data scope): a called instance's caller's owner;
                    // otherwise the starter's unit and its district, or the district named by a
                    // `district` variable (checked by `Executor::check_owner`).
                    if let Some(caller) = &instance.state.caller {
                        batch.push(
                            "UPDATE process_instances SET owner_unit = (SELECT c.owner_unit FROM process_instances c WHERE c.id = ?), owner_district = (SELECT c.owner_district FROM process_instances c WHERE c.id = ?) WHERE id = ?".into(),
                            vec![(&caller.instance_id).into(), (&caller.instance_id).into(), (&instance.id).into()],
                        );
                    } else {
                        let district = match instance.state.variables().get("district") {
                            Some(engine::Value::String(district)) => Some(district.clone()),
                            _ => None,
                        };
                        batch.push(
                            "UPDATE process_instances SET owner_unit = (SELECT unit_id FROM users WHERE id = ?), owner_district = COALESCE((SELECT id FROM org_units WHERE kind = 'district' AND (id = ? OR name = ?)), (SELECT o.district FROM users u JOIN org_units o ON o.id = u.unit_id WHERE u.id = ?)) WHERE id = ?".into(),
                            vec![(&instance.start_user).into(), Param::OptText(district.clone()), Param::OptText(district), (&instance.start_user).into(), (&instance.id).into()],
                        );
                    }
                    Self::collect_changes(&mut batch, instance, changes)?;
                    if !self.commit_batch(None, batch).await? {
                        return Err(Error::Conflict(format!("the record submitted with process instance {} was changed by someone else; reload and try again", instance.id)));
                    }
                    Ok(())
                }

                async fn instance(&self, id: &str) -> Result<Option<InstanceRecord>> {
                    let statement = format!("SELECT {INSTANCE_COLUMNS} FROM process_instances WHERE id = ?");
                    let row = sqlx::query(Self::dynamic(statement)).bind(id).fetch_optional(&self.pool).await?;
                    row.as_ref().map(instance_from).transpose()
                }

                async fn save_instance(&self, instance: &InstanceRecord, expected_version: i64, changes: &Changes) -> Result<()> {
                    let state = crate::model::readable_state(instance)?;
                    let guarded = (
                        "UPDATE process_instances SET status = ?, state = ?, version = ?, ended_at = ?, delete_reason = ? WHERE id = ? AND version = ?".to_string(),
                        vec![
                            Param::Text(status_text(instance.status).into()), Param::Text(state), instance.version.into(), instance.ended_at.into(),
                            (&instance.delete_reason).into(), (&instance.id).into(), expected_version.into(),
                        ],
                    );
                    let mut batch = Batch::default();
                    Self::collect_changes(&mut batch, instance, changes)?;
                    if !self.commit_batch(Some(guarded), batch).await? {
                        return Err(Error::Conflict(format!("process instance {} was changed by someone else; reload and try again", instance.id)));
                    }
                    Ok(())
                }

                async fn damaged_instances(&self) -> Result<Vec<(String, String)>> {
                    let rows = sqlx::query(Self::sql("SELECT id, state FROM process_instances WHERE status = 'ACTIVE'")).fetch_all(&self.pool).await?;
                    let mut damaged = Vec::new();
                    for row in &rows {
                        let state: String = row.try_get("state")?;
                        if let Err(error) = serde_json::from_str::<engine::InstanceState>(&state) {
                            damaged.push((row.try_get("id")?, error.to_string()));
                        }
                    }
                    Ok(damaged)
                }

                async fn discard_damaged_instance(&self, id: &str, at: i64) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let row = sqlx::query(Self::sql("SELECT state FROM process_instances WHERE id = ? AND status = 'ACTIVE'")).bind(id).fetch_optional(&mut *tx).await?;
                    let Some(row) = row else {
                        return Err(Error::NotFound(format!("process instance {id} is not running")));
                    };
                    let state: String = row.try_get("state")?;
                    if serde_json::from_str::<engine::InstanceState>(&state).is_ok() {
                        return Err(Error::Invalid(format!("process instance {id} is not damaged: cancel it instead")));
                    }
                    for statement in [
                        "UPDATE history_tasks SET ended_at = ?, delete_reason = 'damaged' WHERE ended_at IS NULL AND instance_id = ?",
                        "UPDATE history_activities SET ended_at = ?, canceled = TRUE WHERE ended_at IS NULL AND instance_id = ?",
                    ] {
                        sqlx::query(Self::sql(statement)).bind(at).bind(id).execute(&mut *tx).await?;
                    }
                    for statement in [
                        "DELETE FROM task_candidates WHERE task_id IN (SELECT id FROM tasks WHERE instance_id = ?)",
                        "DELETE FROM tasks WHERE instance_id = ?",
                        "DELETE FROM jobs WHERE instance_id = ?",
                        "DELETE FROM event_subscriptions WHERE instance_id = ?",
                        "DELETE FROM external_tasks WHERE instance_id = ?",
                    ] {
                        sqlx::query(Self::sql(statement)).bind(id).execute(&mut *tx).await?;
                    }
                    sqlx::query(Self::sql("UPDATE process_instances SET status = 'CANCELED', ended_at = ?, delete_reason = 'damaged', version = version + 1 WHERE id = ?"))
                        .bind(at).bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn instances(&self, query: &InstanceQuery) -> Result<(Vec<InstanceRecord>, i64)> {
                    let mut filter = Filter::default();
                    filter
                        .eq("id", &query.id).any_of("id", &query.ids).eq("definition_id", &query.definition_id)
                        .eq("definition_key", &query.definition_key).eq("business_key", &query.business_key)
                        .like("business_key", &query.business_key_like).eq("start_user", &query.started_by)
                        .eq("owner_district", &query.district)
                        .scope(&query.scope, "process_instances.id");
                    if let Some(from) = query.started_from {
                        filter.clause("started_at >= ?", [Param::Int(from)]);
                    }
                    if let Some(to) = query.started_to {
                        filter.clause("started_at < ?", [Param::Int(to)]);
                    }
                    match query.active {
                        Some(true) => { filter.clause("status = 'ACTIVE'", []); }
                        Some(false) => { filter.clause("status <> 'ACTIVE'", []); }
                        None => {}
                    }
                    let order = order_by(&query.sorting, &[("instanceId", "id"), ("definitionKey", "definition_key"), ("definitionId", "definition_id"), ("businessKey", "business_key"), ("startTime", "started_at"), ("endTime", "ended_at")], "started_at ASC, id ASC")?;
                    self.list(INSTANCE_COLUMNS, "process_instances", &filter, &order, &query.page, instance_from).await
                }

                async fn tasks(&self, query: &TaskQuery) -> Result<(Vec<TaskRecord>, i64)> {
                    let mut filter = Filter::default();
                    filter
                        .eq("t.id", &query.id).eq("t.instance_id", &query.instance_id).any_of("t.instance_id", &query.instance_ids)
                        .eq("t.definition_id", &query.definition_id).eq("t.definition_key", &query.definition_key)
                        .eq("t.task_definition_key", &query.task_definition_key).any_of("t.task_definition_key", &query.task_definition_keys)
                        .eq("t.name", &query.name).like("t.name", &query.name_like)
                        .eq("t.assignee", &query.assignee).like("t.assignee", &query.assignee_like)
                        .scope(&query.scope, "t.instance_id");
                    match query.assigned {
                        Some(true) => { filter.clause("t.assignee IS NOT NULL", []); }
                        Some(false) => { filter.clause("t.assignee IS NULL", []); }
                        None => {}
                    }
                    if let Some(user) = &query.candidate_user {
                        let mut clause = String::from("EXISTS (SELECT 1 FROM task_candidates c WHERE c.task_id = t.id AND ((c.kind = 'user' AND c.value = ?)");
                        let mut params = vec![Param::Text(user.clone())];
                        if !query.candidate_user_groups.is_empty() {
                            clause.push_str(&format!(" OR (c.kind = 'group' AND c.value IN ({}))", vec!["?"; query.candidate_user_groups.len()].join(", ")));
                            params.extend(query.candidate_user_groups.iter().cloned().map(Param::Text));
                        }
                        clause.push_str("))");
                        filter.clause(&clause, params);
                    }
                    if let Some(groups) = &query.candidate_groups {
                        if groups.is_empty() {
                            filter.clause("1 = 0", []);
                        } else {
                            let clause = format!("EXISTS (SELECT 1 FROM task_candidates c WHERE c.task_id = t.id AND c.kind = 'group' AND c.value IN ({}))", vec!["?"; groups.len()].join(", "));
                            filter.clause(&clause, groups.iter().cloned().map(Param::Text));
                        }
                    }
                    if (query.candidate_user.is_some() || query.candidate_groups.is_some()) && !query.include_assigned {
                        filter.clause("t.assignee IS NULL", []);
                    }
                    if let Some(business_key) = &query.business_key {
                        filter.clause("EXISTS (SELECT 1 FROM process_instances p WHERE p.id = t.instance_id AND p.business_key = ?)", [Param::Text(business_key.clone())]);
                    }
                    if let Some(min) = query.min_priority { filter.clause("t.priority >= ?", [Param::Int(min)]); }
                    if let Some(max) = query.max_priority { filter.clause("t.priority <= ?", [Param::Int(max)]); }
                    let order = order_by(&query.sorting, &[("id", "t.id"), ("name", "t.name"), ("nameCaseInsensitive", "LOWER(t.name)"), ("assignee", "t.assignee"), ("created", "t.created_at"), ("dueDate", "t.due"), ("followUpDate", "t.follow_up"), ("priority", "t.priority"), ("processInstanceId", "t.instance_id"), ("taskDefinitionKey", "t.task_definition_key")], "t.created_at ASC, t.id ASC")?;
                    // One round trip: the page of tasks, numbered in order, joined with their
                    // candidates.
                    let where_sql = filter.sql();
                    let select = format!(
                        "SELECT q.*, c.kind AS candidate_kind, c.value AS candidate_value FROM (SELECT {TASK_COLUMNS}, ROW_NUMBER() OVER ({}) AS position FROM tasks t{where_sql}{order}{}) q LEFT JOIN task_candidates c ON c.task_id = q.id ORDER BY q.position, c.value",
                        order.trim_start(),
                        limit(&query.page)
                    );
                    let rows = bind_all(sqlx::query(Self::dynamic(select)), &filter.params).fetch_all(&self.pool).await?;
                    let mut tasks: Vec<TaskRecord> = Vec::new();
                    for row in &rows {
                        let id: String = row.try_get("id")?;
                        if tasks.last().is_none_or(|last| last.id != id) {
                            tasks.push(task_from(row)?);
                        }
                        let kind: Option<String> = row.try_get("candidate_kind")?;
                        let value: Option<String> = row.try_get("candidate_value")?;
                        if let (Some(kind), Some(value), Some(task)) = (kind, value, tasks.last_mut()) {
                            if kind == "user" { task.candidate_users.push(value) } else { task.candidate_groups.push(value) }
                        }
                    }
                    let page = &query.page;
                    let total = if page.first_result == 0 && page.max_results.is_none_or(|max| (tasks.len() as i64) < max) {
                        tasks.len() as i64
                    } else {
                        let count = format!("SELECT COUNT(*) AS n FROM tasks t{where_sql}");
                        bind_all(sqlx::query(Self::dynamic(count)), &filter.params).fetch_one(&self.pool).await?.try_get("n")?
                    };
                    Ok((tasks, total))
                }

                async fn task(&self, id: &str) -> Result<Option<TaskRecord>> {
                    let query = TaskQuery { id: Some(id.to_string()), ..TaskQuery::new(crate::DataScope::All) };
                    Ok(self.tasks(&query).await?.0.into_iter().next())
                }

                async fn set_assignee(&self, task_id: &str, expected: Option<Option<&str>>, assignee: Option<&str>, at: i64, actor: &str) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let updated = match expected {
                        None => sqlx::query(Self::sql("UPDATE tasks SET assignee = ? WHERE id = ?")).bind(assignee).bind(task_id).execute(&mut *tx).await,
                        Some(None) => sqlx::query(Self::sql("UPDATE tasks SET assignee = ? WHERE id = ? AND assignee IS NULL")).bind(assignee).bind(task_id).execute(&mut *tx).await,
                        Some(Some(current)) => sqlx::query(Self::sql("UPDATE tasks SET assignee = ? WHERE id = ? AND assignee = ?")).bind(assignee).bind(task_id).bind(current).execute(&mut *tx).await,
                    }
                    .map_err(Self::map_error)?;
                    if updated.rows_affected() != 1 {
                        let exists = sqlx::query(Self::sql("SELECT id FROM tasks WHERE id = ?")).bind(task_id).fetch_optional(&mut *tx).await?;
                        return Err(match exists {
                            None => Error::NotFound(format!("task {task_id} does not exist")),
                            Some(_) => Error::Conflict(format!("task {task_id} is already claimed by someone else")),
                        });
                    }
                    sqlx::query(Self::sql("UPDATE history_tasks SET assignee = ? WHERE id = ?")).bind(assignee).bind(task_id).execute(&mut *tx).await?;
                    sqlx::query(Self::sql("UPDATE history_activities SET assignee = ? WHERE task_id = ?")).bind(assignee).bind(task_id).execute(&mut *tx).await?;
                    // Who took or handed on the task is in the approval timeline too (认领 / 释放 / 指派).
                    let row = sqlx::query(Self::sql("SELECT instance_id, task_definition_key, name FROM tasks WHERE id = ?")).bind(task_id).fetch_one(&mut *tx).await?;
                    let operation = match (expected, assignee) {
                        (_, None) => "unclaim",
                        (Some(None), Some(_)) => "claim",
                        _ => "assignee",
                    };
                    let record = crate::approval::ApprovalRecord {
                        id: crate::new_id(),
                        instance_id: row.try_get("instance_id")?,
                        task_id: Some(task_id.to_string()),
                        element_id: row.try_get("task_definition_key")?,
                        task_name: row.try_get("name")?,
                        operation: operation.into(),
                        actor: Some(actor.to_string()),
                        at,
                        comment: None,
                        detail: Some(serde_json::json!({ "assignee": assignee }).to_string()),
                    };
                    let mut batch = Batch::default();
                    crate::approval::push_record(&mut batch, &record);
                    for (statement, params) in &batch.statements {
                        bind_all(sqlx::query(Self::dynamic(statement.clone())), params).execute(&mut *tx).await?;
                    }
                    tx.commit().await.map_err(Self::map_error)?;
                    Ok(())
                }

                async fn activity_history(&self, query: &ActivityQuery) -> Result<(Vec<ActivityRecord>, i64)> {
                    let mut filter = Filter::default();
                    filter.eq("instance_id", &query.instance_id).eq("activity_id", &query.activity_id).eq("activity_type", &query.activity_type)
                        .scope(&query.scope, "history_activities.instance_id");
                    match query.finished {
                        Some(true) => { filter.clause("ended_at IS NOT NULL", []); }
                        Some(false) => { filter.clause("ended_at IS NULL", []); }
                        None => {}
                    }
                    let order = order_by(&query.sorting, &[("activityInstanceId", "id"), ("instanceId", "instance_id"), ("activityId", "activity_id"), ("activityName", "activity_name"), ("activityType", "activity_type"), ("startTime", "started_at"), ("endTime", "ended_at"), ("occurrence", "seq")], "started_at ASC, instance_id ASC, seq ASC")?;
                    self.list(ACTIVITY_COLUMNS, "history_activities", &filter, &order, &query.page, activity_from).await
                }

                async fn task_history(&self, query: &TaskHistoryQuery) -> Result<(Vec<TaskHistoryRecord>, i64)> {
                    let mut filter = Filter::default();
                    filter
                        .eq("id", &query.task_id).eq("instance_id", &query.instance_id).eq("definition_key", &query.definition_key)
                        .eq("task_definition_key", &query.task_definition_key).eq("assignee", &query.assignee)
                        .scope(&query.scope, "history_tasks.instance_id");
                    match query.finished {
                        Some(true) => { filter.clause("ended_at IS NOT NULL", []); }
                        Some(false) => { filter.clause("ended_at IS NULL", []); }
                        None => {}
                    }
                    let order = order_by(&query.sorting, &[("taskId", "id"), ("processInstanceId", "instance_id"), ("taskName", "name"), ("assignee", "assignee"), ("startTime", "created_at"), ("endTime", "ended_at"), ("priority", "priority"), ("taskDefinitionKey", "task_definition_key")], "created_at ASC, id ASC")?;
                    self.list(TASK_HISTORY_COLUMNS, "history_tasks", &filter, &order, &query.page, task_history_from).await
                }

                async fn variable_history(&self, instance_id: &str) -> Result<Vec<VariableRecord>> {
                    let rows = sqlx::query(Self::sql("SELECT instance_id, scope, name, value, at, actor FROM history_variables WHERE instance_id = ? ORDER BY at, id"))
                        .bind(instance_id).fetch_all(&self.pool).await?;
                    rows.iter()
                        .map(|row| {
                            let value: String = row.try_get("value")?;
                            Ok(VariableRecord {
                                instance_id: row.try_get("instance_id")?,
                                scope: row.try_get("scope")?,
                                name: row.try_get("name")?,
                                value: serde_json::from_str(&value).map_err(|error| Error::Corrupt(error.to_string()))?,
                                at: row.try_get("at")?,
                                actor: row.try_get("actor")?,
                            })
                        })
                        .collect()
                }

                async fn incidents(&self, query: &IncidentQuery) -> Result<(Vec<IncidentRecord>, i64)> {
                    let mut filter = Filter::default();
                    filter.eq("id", &query.id).eq("instance_id", &query.instance_id).eq("definition_id", &query.definition_id).eq("activity_id", &query.activity_id)
                        .eq("incident_type", &query.incident_type).scope(&query.scope, "incidents.instance_id");
                    if query.open {
                        filter.clause("resolved_at IS NULL", []);
                    }
                    let order = order_by(&query.sorting, &[("incidentId", "id"), ("incidentTimestamp", "created_at"), ("incidentType", "incident_type"), ("activityId", "activity_id"), ("processInstanceId", "instance_id"), ("processDefinitionId", "definition_id")], "created_at ASC, id ASC")?;
                    self.list(INCIDENT_COLUMNS, "incidents", &filter, &order, &query.page, incident_from).await
                }

                async fn insert_user(&self, user: &UserRecord) -> Result<()> {
                    let result = sqlx::query(Self::sql("INSERT INTO users (id, password_hash, first_name, last_name, email, must_change_password, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"))
                        .bind(&user.id).bind(&user.password_hash).bind(&user.first_name).bind(&user.last_name).bind(&user.email)
                        .bind(user.must_change_password).bind(user.created_at)
                        .execute(&self.pool).await;
                    match result {
                        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Err(Error::Conflict(format!("user '{}' already exists", user.id))),
                        other => other.map(|_| ()).map_err(Error::from),
                    }
                }

                async fn user(&self, id: &str) -> Result<Option<UserRecord>> {
                    let statement = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
                    let row = sqlx::query(Self::dynamic(statement)).bind(id).fetch_optional(&self.pool).await?;
                    row.as_ref().map(user_from).transpose()
                }

                async fn user_count(&self) -> Result<i64> {
                    Ok(sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&self.pool).await?.try_get("n")?)
                }

                async fn user_groups(&self, user_id: &str) -> Result<Vec<String>> {
                    let rows = sqlx::query(Self::sql("SELECT group_id FROM memberships WHERE user_id = ? ORDER BY group_id")).bind(user_id).fetch_all(&self.pool).await?;
                    rows.iter().map(|row| row.try_get("group_id").map_err(Error::from)).collect()
                }

                async fn add_membership(&self, user_id: &str, group_id: &str) -> Result<()> {
                    sqlx::query(Self::sql("INSERT INTO memberships (user_id, group_id) VALUES (?, ?) ON CONFLICT DO NOTHING"))
                        .bind(user_id).bind(group_id).execute(&self.pool).await?;
                    Ok(())
                }
            }
        };
    };
}

pub(crate) use store_impl;
