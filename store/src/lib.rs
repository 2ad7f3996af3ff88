//! Durable storage: the [`Store`] port (engine tables, jobs, identity, approval), its SQLite and
//! PostgreSQL implementations, migrations and the test support of the conformance suite.
//!
//! What it must never do: decide anything. Which command runs, who may act and what follows
//! from a change belong to `runtime/` (the command runner) and `web/`; this crate writes and
//! reads rows as told, each port method one transaction. Every SQL statement of the system
//! lives here, behind the [`Store`] trait; no caller branches on the backend. It knows nothing
//! of HTTP.

pub mod approval;
mod backend;
pub mod bookings;
pub mod forms;
pub mod identity;
mod jobs;
mod migrate;
pub mod model;
mod postgres;
mod sqlite;
pub mod testing;

use std::sync::Arc;

pub use approval::ApprovalStore;
pub use forms::FormStore;
pub use identity::{DataScope, IdentityStore};
pub use jobs::JobStore;
pub use model::*;

/// Storage errors, mapped to HTTP statuses by `web/`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Someone else changed the same row first (a lost version race, a claim race).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// A value of a unique field (named) that another record holds.
    #[error("the value of '{0}' is taken by another record")]
    Duplicate(String),
    /// The request is well-formed but not allowed in the current state.
    #[error("{0}")]
    Invalid(String),
    /// The actor may not do this (a start for a district outside their data scope).
    #[error("{0}")]
    Forbidden(String),
    /// A model that cannot be deployed, with what is wrong with it.
    #[error(transparent)]
    Model(#[from] engine::ParseError),
    #[error(transparent)]
    Command(#[from] engine::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A message that no waiting instance or start event matches (or several, when one was
    /// expected).
    #[error("{0}")]
    NoMatch(String),
    /// A job's attempt failed and will be retried (the command was rolled back).
    #[error("{0}")]
    JobFailed(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The storage port. One implementation per backend; the conformance suite in `tests/it` runs
/// the same tests against both.
#[async_trait::async_trait]
pub trait Store: JobStore + IdentityStore + ApprovalStore + FormStore + bookings::BookingStore + Send + Sync {
    /// Which backend this is ("sqlite" / "postgres"), for logs and `/healthz`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> Result<()>;
    /// Refreshes the planner's statistics (`ANALYZE`), as PostgreSQL's autovacuum does some time
    /// after a bulk load; SQLite keeps none by itself. The benchmarks call it after their
    /// fixtures, and `serve` does on SQLite when it starts and every six hours.
    async fn analyze(&self) -> Result<()>;

    // Deployments and definitions.
    /// Stores a deployment with its resources and definitions, numbering each definition one
    /// above the latest of its key. Runs in one transaction.
    async fn insert_deployment(
        &self,
        deployment: &Deployment,
        resources: &[Resource],
        definitions: &[NewDefinition],
    ) -> Result<Vec<Definition>>;
    async fn deployments(&self, query: &DeploymentQuery) -> Result<(Vec<Deployment>, i64)>;
    async fn deployment(&self, id: &str) -> Result<Option<Deployment>>;
    async fn resources(&self, deployment_id: &str) -> Result<Vec<Resource>>;
    /// Deletes a deployment. With `cascade`, its instances and their history go too; without, a
    /// deployment with running instances is refused.
    async fn delete_deployment(&self, id: &str, cascade: bool) -> Result<()>;
    async fn definitions(&self, query: &DefinitionQuery) -> Result<(Vec<Definition>, i64)>;
    /// The latest definition of `key` whose resource has exactly this content hash.
    async fn definition_with_hash(&self, key: &str, content_hash: &str) -> Result<Option<Definition>>;
    async fn resource(&self, id: &str) -> Result<Option<Resource>>;

    // The BPMN editor's drafts (issue 12).
    async fn insert_draft(&self, draft: &ProcessDraft) -> Result<()>;
    /// Replaces a draft's content and saver if its stored revision is still
    /// `expected_revision`, moving it to the next revision and clearing `deployed_definition_id`;
    /// otherwise [`Error::Conflict`] (someone saved in between) or [`Error::NotFound`].
    async fn update_draft(&self, draft: &ProcessDraft, expected_revision: i64) -> Result<ProcessDraft>;
    async fn draft(&self, id: &str) -> Result<Option<ProcessDraft>>;
    /// The drafts of a process key, last saved first.
    async fn drafts(&self, process_key: &str) -> Result<Vec<ProcessDraft>>;
    /// Records that a draft, as it is at `revision`, became `definition_id`; [`Error::Conflict`]
    /// when it was saved again in the meantime.
    async fn mark_draft_deployed(&self, id: &str, revision: i64, definition_id: &str) -> Result<()>;
    async fn delete_draft(&self, id: &str) -> Result<()>;

    // Instances.
    async fn insert_instance(&self, instance: &InstanceRecord, changes: &Changes) -> Result<()>;
    async fn instance(&self, id: &str) -> Result<Option<InstanceRecord>>;
    /// Writes the new state if the stored version is still `expected_version`, with all derived
    /// rows, in one transaction; otherwise [`Error::Conflict`] and nothing is written.
    async fn save_instance(&self, instance: &InstanceRecord, expected_version: i64, changes: &Changes) -> Result<()>;
    async fn instances(&self, query: &InstanceQuery) -> Result<(Vec<InstanceRecord>, i64)>;
    /// Running instances whose stored document cannot be read (written by an older build, or
    /// changed behind the system's back): `(id, problem)`. Lists leave them out; an
    /// administrator sees them here and ends them with [`Store::discard_damaged_instance`].
    async fn damaged_instances(&self) -> Result<Vec<(String, String)>>;
    /// Ends a running instance whose document cannot be read, without reading it: its open
    /// tasks, jobs, subscriptions and external tasks go, the instance is `CANCELED` with the
    /// delete reason `damaged`, and the document itself is kept for investigation. Refused
    /// ([`Error::Invalid`]) for an instance that reads fine: that one is canceled normally.
    async fn discard_damaged_instance(&self, id: &str, at: i64) -> Result<()>;

    // Tasks.
    async fn tasks(&self, query: &TaskQuery) -> Result<(Vec<TaskRecord>, i64)>;
    async fn task(&self, id: &str) -> Result<Option<TaskRecord>>;
    /// Sets the assignee when the current assignee is `expected` (claim / unclaim / set).
    async fn set_assignee(
        &self,
        task_id: &str,
        expected: Option<Option<&str>>,
        assignee: Option<&str>,
        at: i64,
        actor: &str,
    ) -> Result<()>;

    // History and incidents.
    async fn activity_history(&self, query: &ActivityQuery) -> Result<(Vec<ActivityRecord>, i64)>;
    async fn task_history(&self, query: &TaskHistoryQuery) -> Result<(Vec<TaskHistoryRecord>, i64)>;
    async fn variable_history(&self, instance_id: &str) -> Result<Vec<VariableRecord>>;
    async fn incidents(&self, query: &IncidentQuery) -> Result<(Vec<IncidentRecord>, i64)>;

    // Users (the identity issue grows this).
    async fn insert_user(&self, user: &UserRecord) -> Result<()>;
    async fn user(&self, id: &str) -> Result<Option<UserRecord>>;
    async fn user_count(&self) -> Result<i64>;
    async fn user_groups(&self, user_id: &str) -> Result<Vec<String>>;
    async fn add_membership(&self, user_id: &str, group_id: &str) -> Result<()>;
}

/// Opens the database named by `url` (`sqlite://…` or `postgres://…`) and runs its migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresStore::connect(url).await?))
    } else {
        Err(Error::UnsupportedUrl(url.to_string()))
    }
}

/// A content hash for duplicate detection (SM3, hex).
pub fn content_hash(content: &str) -> String {
    crypto::sm3_hex(content.as_bytes())
}

/// Now, in Unix milliseconds (the time of every stored row).
pub fn now_millis() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as i64).unwrap_or(0)
}

/// The actor of what the system does by itself (timeouts, rules, reminders).
pub const SYSTEM_ACTOR: &str = "system";

/// A new time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
