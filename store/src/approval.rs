//! The storage port of the approval layer (issue 5): operation records (通过, 驳回, 退回, 转办,
//! 委派, 撤回, 抄送, 催办 with actor, time, comment), copies (抄送), task reassignment and the
//! inbox lists (待办 / 已办 / 我发起的 / 抄送我的). Its SQL is expanded per backend by
//! [`approval_impl`], like `jobs.rs` and `identity.rs`.
//!
//! Records of an operation that changes an instance travel in [`Changes::approval_records`]
//! and are written by the command's own batch, so an operation and its record commit together.
//! Every inbox query carries the caller's [`DataScope`], applied on the joined instance row.

use crate::backend::{Batch, Filter, Param};
use crate::model::Page;
use crate::{DataScope, Result};

/// One approval operation as the timeline shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRecord {
    pub id: String,
    pub instance_id: String,
    pub task_id: Option<String>,
    pub element_id: Option<String>,
    pub task_name: Option<String>,
    /// `approve`, `reject`, `return`, `transfer`, `delegate`, `resolve`, `withdraw`,
    /// `take-back`, `cc`, `urge`, `timeout`, `comment` (a comment alone, e.g. from Camunda's
    /// `POST /task/{id}/comment/create`), `candidates` / `owner` (identity links changed),
    /// `claim` / `unclaim` / `assignee` (认领, 释放, 指派), `attachment` / `attachment-removed`.
    pub operation: String,
    pub actor: Option<String>,
    pub at: i64,
    pub comment: Option<String>,
    /// JSON with what the operation needs besides the comment (target, users, attachments).
    pub detail: Option<String>,
}

/// A copy (抄送) of an instance to a user (`kind` = `user`) or a role (`role`).
#[derive(Debug, Clone, PartialEq)]
pub struct CcEntry {
    pub instance_id: String,
    pub kind: String,
    pub value: String,
    pub by_user: Option<String>,
    pub at: i64,
}

/// The inbox tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxTab {
    /// 待办: assigned to the user, or unassigned with the user (or one of their roles) a candidate
    /// (what they may act on now), or a pending alongside signer (加签) of it.
    Todo,
    /// 待认领: the part of 待办 nobody holds yet — unassigned, the user or one of their roles a
    /// candidate; 认领 takes it.
    Claimable,
    /// 已办: tasks the user acted on: completed, or 通过 / 驳回 / 退回 / 转办 / 委派 / 归还 on them
    /// (the task may still be open with somebody else), latest action first.
    Done,
    /// 我发起的: instances the user started.
    Started,
    /// 抄送我的: instances copied to the user or one of their roles.
    Cc,
}

/// A page of one inbox tab. `scope` is the caller's data scope and always applies.
#[derive(Debug, Clone)]
pub struct InboxQuery {
    pub tab: InboxTab,
    pub user: String,
    pub roles: Vec<String>,
    pub scope: DataScope,
    pub definition_key: Option<String>,
    pub business_key: Option<String>,
    /// Time range on the tab's time (task created, task ended, instance started, copied).
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub district: Option<String>,
    /// Matched against the task name, the process key and the business key.
    pub text: Option<String>,
    /// `time` (default), `businessKey`, `process`, `name`; ascending when true.
    pub sort: Option<(String, bool)>,
    pub page: Page,
    /// Process keys whose instances their starter does not review (`sy:selfReview = false`):
    /// the unclaimed tasks of the user's own instances of these are not offered to them.
    pub not_own_reviews: Vec<String>,
}

/// One row of an inbox tab.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxItem {
    pub task_id: Option<String>,
    pub instance_id: String,
    pub definition_key: String,
    pub business_key: Option<String>,
    pub task_name: Option<String>,
    pub element_id: Option<String>,
    pub assignee: Option<String>,
    /// The tab's time: task created (待办), the user's latest action (已办), instance started (我发起的, 抄送我的).
    pub at: i64,
    pub started_at: i64,
    pub start_user: Option<String>,
    pub district: Option<String>,
    pub status: String,
    /// `PENDING` while a delegate works on the task.
    pub delegation: Option<String>,
    /// 已办: the user's latest operation on the task (`approve`, `transfer`, …, or `complete`).
    pub action: Option<String>,
    /// 已办: when the task ended; `None` while it is still open (say, transferred to someone).
    pub task_ended_at: Option<i64>,
    /// The task's due date (`camunda:dueDate`, in the one stored form); `None` on the instance
    /// tabs.
    pub due: Option<String>,
}

/// A change of who holds a task (转办, 委派, 归还).
#[derive(Debug, Clone, PartialEq)]
pub struct Reassignment {
    pub task_id: String,
    /// The assignee the caller saw; the change is refused (conflict) when it changed meanwhile.
    pub expected_assignee: Option<String>,
    pub assignee: Option<String>,
    pub owner: Option<String>,
    pub delegation: Option<String>,
}

/// An uploaded file: an attachment or the signature image of an operation. Its content is
/// stored sealed; this is what is known about it without opening it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFile {
    pub id: String,
    pub name: String,
    /// Decided from the content, not from what the client said.
    pub content_type: String,
    pub size: i64,
    /// SM3 of the content, lowercase hex.
    pub digest: String,
    pub uploaded_by: String,
    pub uploaded_at: i64,
    /// The instance an operation attached it to; `None` until then.
    pub instance_id: Option<String>,
    /// The form record whose file or image field holds it; `None` until a save binds it.
    pub record_id: Option<String>,
}

/// A signer added to a task (加签).
#[derive(Debug, Clone, PartialEq)]
pub struct Signer {
    pub task_id: String,
    pub user_id: String,
    /// `before`, `after`, `alongside`, or `holder` (the holder's own vote among alongside signers).
    pub position: String,
    pub seq: i64,
    /// `pending` or `done`.
    pub state: String,
    pub added_by: Option<String>,
    pub at: i64,
}

/// A change of a task's signers, committed with its record in one transaction.
#[derive(Debug, Clone, Default)]
pub struct SigningChange {
    pub task_id: String,
    /// The pending signer who just approved: marked done; a conflict if no longer pending.
    pub signed_by: Option<String>,
    pub add: Vec<Signer>,
    /// Pending signers to remove (减签).
    pub remove: Vec<String>,
    pub reassign: Option<Reassignment>,
}

#[async_trait::async_trait]
pub trait ApprovalStore: Send + Sync {
    async fn inbox(&self, query: &InboxQuery) -> Result<(Vec<InboxItem>, i64)>;
    async fn inbox_count(&self, query: &InboxQuery) -> Result<i64>;
    /// The records of an instance, oldest first.
    async fn approval_records(&self, instance_id: &str) -> Result<Vec<ApprovalRecord>>;
    /// The records of a task that carry a comment (意见), oldest first: Camunda's task comments.
    async fn task_comments(&self, task_id: &str) -> Result<Vec<ApprovalRecord>>;
    /// Writes a record on its own (催办, which changes no instance).
    async fn insert_approval_record(&self, record: &ApprovalRecord) -> Result<()>;
    /// Adds copies (an existing copy is kept) and the record, in one transaction.
    async fn add_cc(&self, entries: &[CcEntry], record: &ApprovalRecord) -> Result<()>;
    /// Whether the instance is copied to `user` or one of `roles`.
    async fn is_cc(&self, instance_id: &str, user: &str, roles: &[String]) -> Result<bool>;
    /// Reassigns a task and writes the record, in one transaction; [`crate::Error::Conflict`]
    /// when its assignee is no longer the expected one, NotFound when the task is gone.
    async fn reassign_task(&self, change: &Reassignment, record: &ApprovalRecord) -> Result<()>;
    /// The delegation state and owner of an open task.
    async fn task_delegation(&self, task_id: &str) -> Result<Option<(Option<String>, Option<String>)>>;
    /// The signers of a task, in order.
    async fn signers(&self, task_id: &str) -> Result<Vec<Signer>>;
    async fn change_signers(&self, change: &SigningChange, record: &ApprovalRecord) -> Result<()>;
    /// Whether an active account holding `role` (by its own data scope) or any member of the
    /// group `role` could see the instance: the test of "somebody can take this task".
    async fn role_reaches_instance(&self, role: &str, instance_id: &str) -> Result<bool>;
    /// Benchmark fixture: `count` ended history tasks completed by `completed_by` users in
    /// instances of `definition_key`, written in large batches (no instance state behind them).
    async fn insert_history_fixture(&self, definition_key: &str, rows: &[(String, String, String, i64)]) -> Result<()>;

    /// Adds (`add`) or removes a candidate of an open task (`kind` `user` or `group`), or sets
    /// or clears its owner (`kind` `owner`), with the record, in one transaction.
    async fn change_identity_link(
        &self,
        task_id: &str,
        kind: &str,
        value: &str,
        add: bool,
        record: &ApprovalRecord,
    ) -> Result<()>;

    /// Whether `user` has a 已办 row in the instance (acted on one of its tasks).
    async fn has_acted(&self, user: &str, instance_id: &str) -> Result<bool>;

    // Files of operations (attachments, signature images).
    /// Stores an upload with its sealed content, removing unbound uploads older than
    /// `unbound_before` in the same transaction.
    async fn insert_file(&self, file: &StoredFile, sealed: &[u8], unbound_before: i64) -> Result<()>;
    async fn files(&self, ids: &[String]) -> Result<Vec<StoredFile>>;
    /// A file with its sealed content.
    async fn file_content(&self, id: &str) -> Result<Option<(StoredFile, Vec<u8>)>>;
    async fn file_ids(&self) -> Result<Vec<String>>;
    /// Replaces a file's sealed content (key rotation).
    async fn replace_file_content(&self, id: &str, sealed: &[u8]) -> Result<()>;
}

/// The data scope as a clause on the joined instance row `p`.
fn scope_clause(filter: &mut Filter, scope: &DataScope) {
    match scope {
        DataScope::All => {}
        DataScope::District(code) => {
            filter.clause("p.owner_district = ?", [Param::Text(code.clone())]);
        }
        DataScope::Unit(unit) => {
            filter.clause("p.owner_unit = ?", [Param::Text(unit.clone())]);
        }
        DataScope::Own(user) => {
            let (condition, params) = crate::identity::participant(user, "p.id");
            filter.clause(&condition, params);
        }
        DataScope::Started(user) => {
            filter.clause("p.start_user = ?", [Param::Text(user.clone())]);
        }
        DataScope::Nothing => {
            filter.clause("1 = 0", []);
        }
    }
}

fn marks(count: usize) -> String {
    vec!["?"; count].join(", ")
}

/// "The user, or one of their roles, is a candidate of task `t`", with its parameters.
fn candidate_clause(query: &InboxQuery) -> (String, Vec<Param>) {
    let mut clause = String::from(
        "EXISTS (SELECT 1 FROM task_candidates c WHERE c.task_id = t.id AND ((c.kind = 'user' AND c.value = ?)",
    );
    let mut params = vec![Param::Text(query.user.clone())];
    if !query.roles.is_empty() {
        clause.push_str(&format!(" OR (c.kind = 'group' AND c.value IN ({}))", marks(query.roles.len())));
        params.extend(query.roles.iter().cloned().map(Param::Text));
    }
    clause.push_str("))");
    if !query.not_own_reviews.is_empty() {
        clause.push_str(&format!(
            " AND NOT (p.start_user = ? AND p.definition_key IN ({}))",
            marks(query.not_own_reviews.len())
        ));
        params.push(Param::Text(query.user.clone()));
        params.extend(query.not_own_reviews.iter().cloned().map(Param::Text));
    }
    (clause, params)
}

/// `SELECT … FROM … WHERE …` (without order and limit) of a tab, with its parameters, and the
/// expression of the tab's time column. `counting` leaves out joins only the columns need.
pub(crate) fn inbox_sql(query: &InboxQuery, counting: bool) -> (String, Vec<Param>, &'static str) {
    let text = query.text.as_deref().map(str::trim).filter(|text| !text.is_empty());
    let mut filter = Filter::default();
    let (from, at) = match query.tab {
        InboxTab::Todo => {
            let (candidate, mut params) = candidate_clause(query);
            params.insert(0, Param::Text(query.user.clone()));
            params.push(Param::Text(query.user.clone()));
            filter.clause(
                &format!("(t.assignee = ? OR (t.assignee IS NULL AND {candidate}) OR EXISTS (SELECT 1 FROM approval_signers s WHERE s.task_id = t.id AND s.user_id = ? AND s.state = 'pending' AND s.position = 'alongside'))"),
                params,
            );
            ("tasks t JOIN process_instances p ON p.id = t.instance_id", "t.created_at")
        }
        InboxTab::Claimable => {
            let (candidate, params) = candidate_clause(query);
            // Planned well only with statistics: without them SQLite walks `tasks_assignee` over
            // every unclaimed task of the city (24 ms with 10,000 open tasks, 4.5 ms after
            // ANALYZE), so `serve` keeps SQLite's statistics fresh (`Store::analyze`). A
            // `COALESCE(assignee, '') = ''` that fools SQLite's planner makes PostgreSQL's
            // misestimate the rows (7 ms → 50 ms): not worth it.
            filter.clause(&format!("(t.assignee IS NULL AND {candidate})"), params);
            ("tasks t JOIN process_instances p ON p.id = t.instance_id", "t.created_at")
        }
        InboxTab::Done => {
            filter.clause("d.user_id = ?", [Param::Text(query.user.clone())]);
            // Every 已办 row has its history task (they are written and deleted together), so
            // a count without the text filter needs only the instance, for the data scope.
            let from = if counting && text.is_none() {
                "inbox_done d JOIN process_instances p ON p.id = d.instance_id"
            } else {
                "inbox_done d JOIN history_tasks t ON t.id = d.task_id JOIN process_instances p ON p.id = d.instance_id"
            };
            (from, "d.at")
        }
        InboxTab::Started => {
            filter.clause("p.start_user = ?", [Param::Text(query.user.clone())]);
            ("process_instances p", "p.started_at")
        }
        InboxTab::Cc => {
            let mut clause = String::from(
                "EXISTS (SELECT 1 FROM approval_cc c WHERE c.instance_id = p.id AND ((c.kind = 'user' AND c.value = ?)",
            );
            let mut params = vec![Param::Text(query.user.clone())];
            if !query.roles.is_empty() {
                clause.push_str(&format!(" OR (c.kind = 'role' AND c.value IN ({}))", marks(query.roles.len())));
                params.extend(query.roles.iter().cloned().map(Param::Text));
            }
            clause.push_str("))");
            filter.clause(&clause, params);
            ("process_instances p", "p.started_at")
        }
    };
    scope_clause(&mut filter, &query.scope);
    filter.eq("p.definition_key", &query.definition_key).eq("p.business_key", &query.business_key);
    filter.eq("p.owner_district", &query.district);
    if let Some(from) = query.from {
        filter.clause(&format!("{at} >= ?"), [Param::Int(from)]);
    }
    if let Some(to) = query.to {
        filter.clause(&format!("{at} < ?"), [Param::Int(to)]);
    }
    if let Some(text) = text {
        let escaped = crate::backend::escape_like(text);
        let pattern = format!("%{escaped}%");
        let name = if matches!(query.tab, InboxTab::Todo | InboxTab::Claimable | InboxTab::Done) {
            "t.name"
        } else {
            "p.definition_key"
        };
        filter.clause(
            &format!(
                "(LOWER({name}) LIKE LOWER(?) ESCAPE '\\' OR LOWER(p.definition_key) LIKE LOWER(?) ESCAPE '\\' OR LOWER(p.business_key) LIKE LOWER(?) ESCAPE '\\')"
            ),
            [Param::Text(pattern.clone()), Param::Text(pattern.clone()), Param::Text(pattern)],
        );
    }
    (format!("FROM {from}{}", filter.sql()), filter.params, at)
}

/// The select list of a tab (kept next to [`inbox_sql`]).
pub(crate) fn inbox_columns(tab: InboxTab) -> &'static str {
    match tab {
        InboxTab::Todo | InboxTab::Claimable => {
            "t.id AS task_id, t.instance_id, p.definition_key, p.business_key, t.name AS task_name, t.task_definition_key AS element_id, t.assignee, t.created_at AS at, p.started_at, p.start_user, p.owner_district AS district, p.status, t.delegation, NULL AS action, CAST(NULL AS BIGINT) AS task_ended_at, t.due"
        }
        InboxTab::Done => {
            "t.id AS task_id, t.instance_id, p.definition_key, p.business_key, t.name AS task_name, t.task_definition_key AS element_id, t.assignee, d.at AS at, p.started_at, p.start_user, p.owner_district AS district, p.status, NULL AS delegation, d.operation AS action, t.ended_at AS task_ended_at, t.due"
        }
        InboxTab::Started | InboxTab::Cc => {
            "NULL AS task_id, p.id AS instance_id, p.definition_key, p.business_key, NULL AS task_name, NULL AS element_id, NULL AS assignee, p.started_at AS at, p.started_at, p.start_user, p.owner_district AS district, p.status, NULL AS delegation, NULL AS action, CAST(NULL AS BIGINT) AS task_ended_at, CAST(NULL AS TEXT) AS due"
        }
    }
}

/// `ORDER BY` of a tab from an allow-listed sort key.
pub(crate) fn inbox_order(query: &InboxQuery, at: &str) -> Result<String> {
    let (key, ascending) = query.sort.clone().unwrap_or_else(|| ("time".into(), false));
    let column = match key.as_str() {
        // 待办 is counted in full with the page, so walking the time index cannot stop early;
        // `+ 0` keeps PostgreSQL from choosing it anyway and lets it start from the caller's
        // district (measured: 19 ms → 4 ms with 10,000 open tasks).
        "time" if matches!(query.tab, InboxTab::Todo | InboxTab::Claimable) => "(t.created_at + 0)",
        "time" => at,
        "businessKey" => "p.business_key",
        "process" => "p.definition_key",
        "name" if matches!(query.tab, InboxTab::Todo | InboxTab::Claimable | InboxTab::Done) => "t.name",
        // Due first: the nearest due date first, tasks without one last, on both backends.
        "due" if matches!(query.tab, InboxTab::Todo | InboxTab::Claimable | InboxTab::Done) => {
            let direction = if ascending { "ASC" } else { "DESC" };
            let tie = if query.tab == InboxTab::Done { "d.task_id" } else { "t.id" };
            return Ok(format!(" ORDER BY (t.due IS NULL) ASC, t.due {direction}, {tie} {direction}"));
        }
        other => return Err(crate::Error::Invalid(format!("cannot sort by '{other}'"))),
    };
    let direction = if ascending { "ASC" } else { "DESC" };
    let tie = match query.tab {
        InboxTab::Todo | InboxTab::Claimable => "t.id",
        // The 已办 index is (user_id, at, task_id): its order, so a page stops early.
        InboxTab::Done => "d.task_id",
        InboxTab::Started | InboxTab::Cc => "p.id",
    };
    Ok(format!(" ORDER BY {column} {direction}, {tie} {direction}"))
}

/// The guarded UPDATE of a reassignment: only while the task still has the expected assignee
/// (with `strict`, an expected `None` means "unassigned"; without, no assignee check).
pub(crate) fn reassign_statement(change: &Reassignment, strict: bool) -> (String, Vec<Param>) {
    let mut params = vec![
        Param::from(&change.assignee),
        (&change.owner).into(),
        (&change.delegation).into(),
        (&change.task_id).into(),
    ];
    let condition = match &change.expected_assignee {
        Some(expected) => {
            params.push(expected.into());
            " AND assignee = ?"
        }
        None if strict => " AND assignee IS NULL",
        None => "",
    };
    (format!("UPDATE tasks SET assignee = ?, owner = ?, delegation = ? WHERE id = ?{condition}"), params)
}

pub(crate) fn record_params(record: &ApprovalRecord) -> Vec<Param> {
    vec![
        Param::from(&record.id),
        (&record.instance_id).into(),
        (&record.task_id).into(),
        (&record.element_id).into(),
        (&record.task_name).into(),
        (&record.operation).into(),
        (&record.actor).into(),
        record.at.into(),
        (&record.comment).into(),
        (&record.detail).into(),
    ]
}

/// The operations that put a task in its actor's 已办 (besides completing it).
pub const HANDLING_OPERATIONS: &[&str] = &["approve", "reject", "return", "transfer", "delegate", "resolve"];

/// Pushes an approval record with what goes with it in the same transaction: for an operation
/// that handles its task, the actor's 已办 row; and the files its detail names (`attachments`,
/// `signature`, `file`: the actor's uploads, checked by the caller) are bound to the instance.
pub(crate) fn push_record(batch: &mut Batch, record: &ApprovalRecord) {
    batch.push(INSERT_RECORD.into(), record_params(record));
    let Some(actor) = record.actor.as_ref().filter(|actor| *actor != crate::SYSTEM_ACTOR) else { return };
    if let Some(task_id) = &record.task_id
        && HANDLING_OPERATIONS.contains(&record.operation.as_str())
    {
        batch.push(
            "INSERT INTO inbox_done (user_id, task_id, instance_id, operation, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, task_id) DO UPDATE SET operation = excluded.operation, at = excluded.at".into(),
            vec![Param::from(actor), task_id.into(), (&record.instance_id).into(), (&record.operation).into(), record.at.into()],
        );
    }
    let files = record_files(record);
    if !files.is_empty() {
        let statement = format!(
            "UPDATE files SET instance_id = ? WHERE uploaded_by = ? AND record_id IS NULL AND (instance_id IS NULL OR instance_id = ?) AND id IN ({})",
            vec!["?"; files.len()].join(", ")
        );
        let mut params = vec![Param::from(&record.instance_id), actor.into(), (&record.instance_id).into()];
        params.extend(files.into_iter().map(Param::Text));
        batch.push(statement, params);
    }
}

/// The ids of the files a record's detail names.
fn record_files(record: &ApprovalRecord) -> Vec<String> {
    let Some(detail) = record.detail.as_deref().and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
    else {
        return Vec::new();
    };
    let mut files: Vec<String> = detail["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .chain([&detail["signature"], &detail["file"]])
        .filter_map(|file| file["id"].as_str().map(str::to_string))
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Pushes the 已办 row of a task `user` completed, taken from its history row so that it is
/// written only when this command ended the task (not when a retried asyncAfter step passes an
/// already ended one again). An operation recorded by the same command (same time) keeps its
/// more telling name (`approve` rather than `complete`). What the system does is nobody's 已办.
pub(crate) fn push_completion(batch: &mut Batch, user: &str, task_id: &str, at: i64) {
    if user == crate::SYSTEM_ACTOR {
        return;
    }
    batch.push(
        "INSERT INTO inbox_done (user_id, task_id, instance_id, operation, at) SELECT ?, id, instance_id, 'complete', ? FROM history_tasks WHERE id = ? AND completed_by = ? AND ended_at = ? AND delete_reason = 'completed' ON CONFLICT (user_id, task_id) DO UPDATE SET operation = CASE WHEN inbox_done.at = excluded.at THEN inbox_done.operation ELSE excluded.operation END, at = excluded.at".into(),
        vec![Param::Text(user.into()), at.into(), Param::Text(task_id.into()), Param::Text(user.into()), at.into()],
    );
}

pub(crate) const RECORD_COLUMNS: &str =
    "id, instance_id, task_id, element_id, task_name, operation, actor, at, comment, detail";
pub(crate) const INSERT_RECORD: &str = "INSERT INTO approval_records (id, instance_id, task_id, element_id, task_name, operation, actor, at, comment, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Expands [`ApprovalStore`] for one backend (same contract as `store_impl!`).
macro_rules! approval_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::Row;

            use crate::approval::*;
            use crate::backend::{Batch, Param, limit};
            use crate::model::Changes;
            use crate::{Error, Result};

            type DbRow = <$db as sqlx::Database>::Row;

            fn item_from(row: &DbRow) -> Result<InboxItem> {
                Ok(InboxItem {
                    task_id: row.try_get("task_id")?,
                    instance_id: row.try_get("instance_id")?,
                    definition_key: row.try_get("definition_key")?,
                    business_key: row.try_get("business_key")?,
                    task_name: row.try_get("task_name")?,
                    element_id: row.try_get("element_id")?,
                    assignee: row.try_get("assignee")?,
                    at: row.try_get("at")?,
                    started_at: row.try_get("started_at")?,
                    start_user: row.try_get("start_user")?,
                    district: row.try_get("district")?,
                    status: row.try_get("status")?,
                    delegation: row.try_get("delegation")?,
                    action: row.try_get("action")?,
                    task_ended_at: row.try_get("task_ended_at")?,
                    due: row.try_get("due")?,
                })
            }

            const FILE_COLUMNS: &str = "id, name, content_type, size, digest, uploaded_by, uploaded_at, instance_id, record_id";

            fn file_from(row: &DbRow) -> Result<StoredFile> {
                Ok(StoredFile {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    content_type: row.try_get("content_type")?,
                    size: row.try_get("size")?,
                    digest: row.try_get("digest")?,
                    uploaded_by: row.try_get("uploaded_by")?,
                    uploaded_at: row.try_get("uploaded_at")?,
                    instance_id: row.try_get("instance_id")?,
                    record_id: row.try_get("record_id")?,
                })
            }

            fn record_from(row: &DbRow) -> Result<ApprovalRecord> {
                Ok(ApprovalRecord {
                    id: row.try_get("id")?,
                    instance_id: row.try_get("instance_id")?,
                    task_id: row.try_get("task_id")?,
                    element_id: row.try_get("element_id")?,
                    task_name: row.try_get("task_name")?,
                    operation: row.try_get("operation")?,
                    actor: row.try_get("actor")?,
                    at: row.try_get("at")?,
                    comment: row.try_get("comment")?,
                    detail: row.try_get("detail")?,
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
                /// The approval records of a command (called from `collect_changes`).
                pub(crate) fn collect_approval_changes(batch: &mut Batch, changes: &Changes) {
                    for record in &changes.approval_records {
                        push_record(batch, record);
                    }
                    for message in &changes.messages {
                        batch.push(
                            crate::identity::INSERT_MESSAGE.into(),
                            vec![
                                Param::Text(crate::new_id()),
                                (&message.account_id).into(),
                                (&message.title).into(),
                                (&message.body).into(),
                                (&message.link).into(),
                                (&message.dedup_key).into(),
                                message.created_at.into(),
                            ],
                        );
                    }
                }
            }

            #[async_trait::async_trait]
            impl ApprovalStore for $store {
                async fn inbox(&self, query: &InboxQuery) -> Result<(Vec<InboxItem>, i64)> {
                    let (from_where, params, at) = inbox_sql(query, false);
                    let order = inbox_order(query, at)?;
                    // 待办 rows are few per caller and sorted in full anyway, so the total comes
                    // with the page; the other tabs walk an index in order and stop at the page,
                    // so their total is a separate count.
                    let windowed = matches!(query.tab, InboxTab::Todo | InboxTab::Claimable);
                    let total_column = if windowed { ", COUNT(*) OVER () AS total_rows" } else { "" };
                    let select = format!("SELECT {}{total_column} {from_where}{order}{}", inbox_columns(query.tab), limit(&query.page));
                    let rows = bind_params(sqlx::query(Self::dynamic(select)), &params).fetch_all(&self.pool).await?;
                    let items = rows.iter().map(item_from).collect::<Result<Vec<_>>>()?;
                    let page = &query.page;
                    let total = match rows.first() {
                        Some(row) if windowed => row.try_get("total_rows")?,
                        _ if page.first_result == 0 && page.max_results.is_none_or(|max| (items.len() as i64) < max) => items.len() as i64,
                        _ => self.inbox_count(query).await?,
                    };
                    Ok((items, total))
                }

                async fn inbox_count(&self, query: &InboxQuery) -> Result<i64> {
                    let (from_where, params, _) = inbox_sql(query, true);
                    let count = format!("SELECT COUNT(*) AS n {from_where}");
                    Ok(bind_params(sqlx::query(Self::dynamic(count)), &params).fetch_one(&self.pool).await?.try_get("n")?)
                }

                async fn task_comments(&self, task_id: &str) -> Result<Vec<ApprovalRecord>> {
                    let select = format!("SELECT {RECORD_COLUMNS} FROM approval_records WHERE task_id = ? AND comment IS NOT NULL ORDER BY at, id");
                    let rows = sqlx::query(Self::dynamic(select)).bind(task_id).fetch_all(&self.pool).await?;
                    rows.iter().map(record_from).collect()
                }

                async fn approval_records(&self, instance_id: &str) -> Result<Vec<ApprovalRecord>> {
                    let select = format!("SELECT {RECORD_COLUMNS} FROM approval_records WHERE instance_id = ? ORDER BY at, id");
                    let rows = sqlx::query(Self::dynamic(select)).bind(instance_id).fetch_all(&self.pool).await?;
                    rows.iter().map(record_from).collect()
                }

                async fn insert_approval_record(&self, record: &ApprovalRecord) -> Result<()> {
                    let mut batch = Batch::default();
                    push_record(&mut batch, record);
                    self.commit_batch(None, batch).await?;
                    Ok(())
                }

                async fn add_cc(&self, entries: &[CcEntry], record: &ApprovalRecord) -> Result<()> {
                    let mut batch = Batch::default();
                    for entry in entries {
                        batch.push(
                            "INSERT INTO approval_cc (instance_id, kind, value, by_user, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (instance_id, kind, value) DO NOTHING".into(),
                            vec![Param::from(&entry.instance_id), (&entry.kind).into(), (&entry.value).into(), (&entry.by_user).into(), entry.at.into()],
                        );
                    }
                    push_record(&mut batch, record);
                    self.commit_batch(None, batch).await?;
                    Ok(())
                }

                async fn is_cc(&self, instance_id: &str, user: &str, roles: &[String]) -> Result<bool> {
                    let mut statement = String::from("SELECT 1 AS found FROM approval_cc WHERE instance_id = ? AND ((kind = 'user' AND value = ?)");
                    let mut params = vec![Param::Text(instance_id.into()), Param::Text(user.into())];
                    if !roles.is_empty() {
                        statement.push_str(&format!(" OR (kind = 'role' AND value IN ({}))", vec!["?"; roles.len()].join(", ")));
                        params.extend(roles.iter().cloned().map(Param::Text));
                    }
                    statement.push_str(") LIMIT 1");
                    Ok(bind_params(sqlx::query(Self::dynamic(statement)), &params).fetch_optional(&self.pool).await?.is_some())
                }

                async fn reassign_task(&self, change: &Reassignment, record: &ApprovalRecord) -> Result<()> {
                    let guarded = reassign_statement(change, true);
                    let mut batch = Batch::default();
                    batch.push(
                        "UPDATE history_tasks SET assignee = ?, owner = ? WHERE id = ?".into(),
                        vec![Param::from(&change.assignee), (&change.owner).into(), (&change.task_id).into()],
                    );
                    batch.push(
                        "UPDATE history_activities SET assignee = ? WHERE task_id = ?".into(),
                        vec![Param::from(&change.assignee), (&change.task_id).into()],
                    );
                    push_record(&mut batch, record);
                    if self.commit_batch(Some(guarded), batch).await? {
                        return Ok(());
                    }
                    let exists = sqlx::query(Self::sql("SELECT id FROM tasks WHERE id = ?")).bind(&change.task_id).fetch_optional(&self.pool).await?;
                    Err(match exists {
                        None => Error::NotFound(format!("task {} does not exist", change.task_id)),
                        Some(_) => Error::Conflict(format!("task {} was reassigned by someone else", change.task_id)),
                    })
                }

                async fn task_delegation(&self, task_id: &str) -> Result<Option<(Option<String>, Option<String>)>> {
                    let row = sqlx::query(Self::sql("SELECT delegation, owner FROM tasks WHERE id = ?")).bind(task_id).fetch_optional(&self.pool).await?;
                    row.map(|row| Ok((row.try_get("delegation")?, row.try_get("owner")?))).transpose()
                }

                async fn signers(&self, task_id: &str) -> Result<Vec<Signer>> {
                    let rows = sqlx::query(Self::sql("SELECT task_id, user_id, position, seq, state, added_by, at FROM approval_signers WHERE task_id = ? ORDER BY seq")).bind(task_id).fetch_all(&self.pool).await?;
                    rows.iter()
                        .map(|row| {
                            Ok(Signer {
                                task_id: row.try_get("task_id")?,
                                user_id: row.try_get("user_id")?,
                                position: row.try_get("position")?,
                                seq: row.try_get("seq")?,
                                state: row.try_get("state")?,
                                added_by: row.try_get("added_by")?,
                                at: row.try_get("at")?,
                            })
                        })
                        .collect()
                }

                async fn change_signers(&self, change: &SigningChange, record: &ApprovalRecord) -> Result<()> {
                    let mut batch = Batch::default();
                    let reassign = |change: &Reassignment| reassign_statement(change, false);
                    let guarded = match (&change.signed_by, &change.reassign) {
                        (Some(user), _) => Some((
                            "UPDATE approval_signers SET state = 'done' WHERE task_id = ? AND user_id = ? AND state = 'pending'".to_string(),
                            vec![Param::from(&change.task_id), user.into()],
                        )),
                        (None, Some(reassignment)) => Some(reassign(reassignment)),
                        (None, None) => None,
                    };
                    if let (Some(_), Some(reassignment)) = (&change.signed_by, &change.reassign) {
                        let (statement, params) = reassign(reassignment);
                        batch.push(statement, params);
                    }
                    if let Some(reassignment) = &change.reassign {
                        batch.push("UPDATE history_tasks SET assignee = ?, owner = ? WHERE id = ?".into(), vec![Param::from(&reassignment.assignee), (&reassignment.owner).into(), (&reassignment.task_id).into()]);
                    }
                    for signer in &change.add {
                        batch.push(
                            "INSERT INTO approval_signers (task_id, user_id, position, seq, state, added_by, at) VALUES (?, ?, ?, ?, ?, ?, ?)".into(),
                            vec![Param::from(&signer.task_id), (&signer.user_id).into(), (&signer.position).into(), signer.seq.into(), (&signer.state).into(), (&signer.added_by).into(), signer.at.into()],
                        );
                    }
                    for user in &change.remove {
                        batch.push("DELETE FROM approval_signers WHERE task_id = ? AND user_id = ? AND state = 'pending'".into(), vec![Param::from(&change.task_id), user.into()]);
                    }
                    push_record(&mut batch, record);
                    let had_guard = guarded.is_some();
                    if self.commit_batch(guarded, batch).await? || !had_guard {
                        return Ok(());
                    }
                    Err(Error::Conflict(format!("task {} was changed by someone else", change.task_id)))
                }

                async fn role_reaches_instance(&self, role: &str, instance_id: &str) -> Result<bool> {
                    let by_role = sqlx::query(Self::sql(
                        "SELECT 1 AS found FROM process_instances p, user_roles ur JOIN users u ON u.id = ur.user_id JOIN roles r ON r.id = ur.role_id LEFT JOIN org_units o ON o.id = u.unit_id WHERE p.id = ? AND ur.role_id = ? AND u.status = 'active' AND (r.data_scope = 'all' OR (r.data_scope = 'district' AND o.district = p.owner_district) OR (r.data_scope = 'unit' AND u.unit_id = p.owner_unit) OR u.id = p.start_user) LIMIT 1",
                    ))
                    .bind(instance_id).bind(role).fetch_optional(&self.pool).await?;
                    if by_role.is_some() {
                        return Ok(true);
                    }
                    let by_group = sqlx::query(Self::sql("SELECT 1 AS found FROM memberships WHERE group_id = ? LIMIT 1")).bind(role).fetch_optional(&self.pool).await?;
                    Ok(by_group.is_some())
                }

                async fn change_identity_link(&self, task_id: &str, kind: &str, value: &str, add: bool, record: &ApprovalRecord) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    if sqlx::query(Self::sql("SELECT id FROM tasks WHERE id = ?")).bind(task_id).fetch_optional(&mut *tx).await?.is_none() {
                        return Err(Error::NotFound(format!("task {task_id} does not exist")));
                    }
                    let changed = match (kind, add) {
                        ("owner", true) => sqlx::query(Self::sql("UPDATE tasks SET owner = ? WHERE id = ?")).bind(value).bind(task_id).execute(&mut *tx).await,
                        ("owner", false) => sqlx::query(Self::sql("UPDATE tasks SET owner = NULL WHERE id = ? AND owner = ?")).bind(task_id).bind(value).execute(&mut *tx).await,
                        (_, true) => sqlx::query(Self::sql("INSERT INTO task_candidates (task_id, kind, value) VALUES (?, ?, ?) ON CONFLICT (task_id, kind, value) DO NOTHING")).bind(task_id).bind(kind).bind(value).execute(&mut *tx).await,
                        (_, false) => sqlx::query(Self::sql("DELETE FROM task_candidates WHERE task_id = ? AND kind = ? AND value = ?")).bind(task_id).bind(kind).bind(value).execute(&mut *tx).await,
                    }
                    .map_err(Self::map_error)?
                    .rows_affected();
                    match (changed, add) {
                        // Already so: nothing changed, nothing to record.
                        (0, true) => return Ok(()),
                        (0, false) => return Err(Error::Invalid(format!("{value} is not the task's {}", if kind == "owner" { "owner" } else { "candidate" }))),
                        _ => {}
                    }
                    if kind == "owner" {
                        let owner = add.then_some(value);
                        sqlx::query(Self::sql("UPDATE history_tasks SET owner = ? WHERE id = ? AND ended_at IS NULL"))
                            .bind(owner).bind(task_id).execute(&mut *tx).await?;
                    }
                    let mut batch = Batch::default();
                    push_record(&mut batch, record);
                    for (statement, params) in &batch.statements {
                        bind_params(sqlx::query(Self::dynamic(statement.clone())), params).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn has_acted(&self, user: &str, instance_id: &str) -> Result<bool> {
                    let row = sqlx::query(Self::sql("SELECT 1 AS found FROM inbox_done WHERE instance_id = ? AND user_id = ? LIMIT 1"))
                        .bind(instance_id).bind(user).fetch_optional(&self.pool).await?;
                    Ok(row.is_some())
                }

                async fn insert_file(&self, file: &StoredFile, sealed: &[u8], unbound_before: i64) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(Self::sql("DELETE FROM files WHERE instance_id IS NULL AND record_id IS NULL AND uploaded_at < ?"))
                        .bind(unbound_before).execute(&mut *tx).await?;
                    sqlx::query(Self::sql("INSERT INTO files (id, name, content_type, size, digest, uploaded_by, uploaded_at, instance_id, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"))
                        .bind(&file.id).bind(&file.name).bind(&file.content_type).bind(file.size).bind(&file.digest)
                        .bind(&file.uploaded_by).bind(file.uploaded_at).bind(&file.instance_id).bind(sealed)
                        .execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn files(&self, ids: &[String]) -> Result<Vec<StoredFile>> {
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let select = format!("SELECT {FILE_COLUMNS} FROM files WHERE id IN ({})", vec!["?"; ids.len()].join(", "));
                    let params: Vec<Param> = ids.iter().map(Param::from).collect();
                    let rows = bind_params(sqlx::query(Self::dynamic(select)), &params).fetch_all(&self.pool).await?;
                    rows.iter().map(file_from).collect()
                }

                async fn file_content(&self, id: &str) -> Result<Option<(StoredFile, Vec<u8>)>> {
                    let select = format!("SELECT {FILE_COLUMNS}, content FROM files WHERE id = ?");
                    let row = sqlx::query(Self::dynamic(select)).bind(id).fetch_optional(&self.pool).await?;
                    row.map(|row| Ok((file_from(&row)?, row.try_get("content")?))).transpose()
                }

                async fn file_ids(&self) -> Result<Vec<String>> {
                    let rows = sqlx::query(Self::sql("SELECT id FROM files ORDER BY id")).fetch_all(&self.pool).await?;
                    rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
                }

                async fn replace_file_content(&self, id: &str, sealed: &[u8]) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(Self::sql("UPDATE files SET content = ? WHERE id = ?")).bind(sealed).bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn insert_history_fixture(&self, definition_key: &str, rows: &[(String, String, String, i64)]) -> Result<()> {
                    // (task id, instance id, completed by, ended at); 5,000 rows a transaction.
                    for transaction in rows.chunks(5_000) {
                        let mut batch = Batch::default();
                        for chunk in transaction.chunks(500) {
                            let mut params = Vec::with_capacity(chunk.len() * 12);
                            for (id, instance_id, user, at) in chunk {
                                params.extend([
                                    Param::from(id), instance_id.into(), Param::Text(format!("{definition_key}:1:fixture")), Param::Text(definition_key.into()),
                                    Param::Text("review".into()), id.into(), Param::Text("审核".into()), Param::Int(0), Param::Int(*at - 60_000), Param::Int(*at),
                                    Param::Text("completed".into()), Param::from(user),
                                ]);
                            }
                            let columns = ["id", "instance_id", "definition_id", "definition_key", "task_definition_key", "activity_instance_id", "name", "priority", "created_at", "ended_at", "delete_reason", "completed_by"];
                            batch.push(crate::backend::multi_insert("history_tasks", &columns, chunk.len()), params);
                            let done = chunk.iter().flat_map(|(id, instance_id, user, at)| [Param::from(user), id.into(), instance_id.into(), Param::Text("approve".into()), Param::Int(*at)]).collect();
                            let columns = ["user_id", "task_id", "instance_id", "operation", "at"];
                            batch.push(crate::backend::multi_insert("inbox_done", &columns, chunk.len()), done);
                        }
                        self.commit_batch(None, batch).await?;
                    }
                    Ok(())
                }
            }
        };
    };
}

pub(crate) use approval_impl;
