//! Rows and queries of the storage port. Times are Unix milliseconds.

use engine::{InstanceStatus, Value};

/// A query over instance data: `pub struct` with filter fields (all `Default`) plus a `scope`
/// field that has no default. The only constructor is `new(scope)`, so a query that does not
/// say whose records it reads does not compile (deny by default: there is no "everything"
/// unless the caller writes [`crate::DataScope::All`]).
macro_rules! scoped_query {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident: $type:ty,)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$field_meta])* pub $field: $type,)*
            /// Only records inside this data scope (see [`crate::DataScope`]); required.
            pub scope: crate::DataScope,
        }

        impl $name {
            /// A query with no filter, reading the records of `scope`.
            pub fn new(scope: crate::DataScope) -> Self {
                Self { $($field: Default::default(),)* scope }
            }
        }
    };
}
pub(crate) use scoped_query;

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: String,
    pub name: Option<String>,
    pub source: Option<String>,
    pub tenant_id: Option<String>,
    pub deployed_at: i64,
    /// The account that deployed (`None` for the demo seeding, the command line and older rows).
    pub deployed_by: Option<String>,
}

/// A draft of the BPMN editor (issue 12): several per process key, each with who made it and
/// who saved it last. `revision` counts saves (1 for a new draft).
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessDraft {
    pub id: String,
    pub process_key: String,
    pub name: Option<String>,
    pub xml: String,
    pub revision: i64,
    pub created_by: String,
    pub created_at: i64,
    pub saved_by: String,
    pub saved_at: i64,
    /// The definition this draft was deployed as, until it is saved again.
    pub deployed_definition_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub id: String,
    pub deployment_id: String,
    pub name: String,
    pub content: String,
    pub content_hash: String,
}

/// A definition to insert; its version is assigned by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDefinition {
    pub key: String,
    pub name: Option<String>,
    pub version_tag: Option<String>,
    pub history_ttl: Option<i64>,
    pub resource_id: String,
    pub resource_name: String,
    pub content_hash: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    /// `key:version:uuid`, as Camunda shapes it.
    pub id: String,
    pub key: String,
    pub version: i64,
    pub name: Option<String>,
    pub version_tag: Option<String>,
    pub history_ttl: Option<i64>,
    pub deployment_id: String,
    pub resource_id: String,
    pub resource_name: String,
    pub content_hash: String,
    pub suspended: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    pub first_result: i64,
    /// `None` = no limit.
    pub max_results: Option<i64>,
}

/// Sort order: (column name from the query's allowed list, ascending?).
pub type Sorting = Vec<(String, bool)>;

#[derive(Debug, Clone, Default)]
pub struct DeploymentQuery {
    pub id: Option<String>,
    pub name: Option<String>,
    pub name_like: Option<String>,
    pub source: Option<String>,
    pub sorting: Sorting,
    pub page: Page,
}

#[derive(Debug, Clone, Default)]
pub struct DefinitionQuery {
    pub id: Option<String>,
    pub ids: Option<Vec<String>>,
    pub key: Option<String>,
    pub keys: Option<Vec<String>>,
    pub key_like: Option<String>,
    pub name: Option<String>,
    pub name_like: Option<String>,
    pub version: Option<i64>,
    pub deployment_id: Option<String>,
    pub resource_name: Option<String>,
    pub version_tag: Option<String>,
    pub latest_version: bool,
    pub sorting: Sorting,
    pub page: Page,
}

/// A process instance: runtime state plus the columns lists filter on. Ended instances stay
/// (they are the process-instance history).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    pub id: String,
    pub definition_id: String,
    pub definition_key: String,
    pub business_key: Option<String>,
    pub status: InstanceStatus,
    pub state: engine::InstanceState,
    pub version: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub start_user: Option<String>,
    pub delete_reason: Option<String>,
}

scoped_query! {
    #[derive(Debug, Clone)]
    pub struct InstanceQuery {
        pub id: Option<String>,
        pub ids: Option<Vec<String>>,
        pub definition_id: Option<String>,
        pub definition_key: Option<String>,
        pub business_key: Option<String>,
        pub business_key_like: Option<String>,
        /// `Some(true)`: only running; `Some(false)`: only ended.
        pub active: Option<bool>,
        pub started_by: Option<String>,
        /// Owned by this district (code).
        pub district: Option<String>,
        /// Started at or after / before this time (milliseconds since the epoch).
        pub started_from: Option<i64>,
        pub started_to: Option<i64>,
        pub sorting: Sorting,
        pub page: Page,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    pub id: String,
    pub instance_id: String,
    pub token: i64,
    pub definition_id: String,
    pub definition_key: String,
    pub task_definition_key: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub assignee: Option<String>,
    pub owner: Option<String>,
    pub priority: i64,
    pub created_at: i64,
    pub due: Option<String>,
    pub follow_up: Option<String>,
    pub form_key: Option<String>,
    /// Camunda's delegation state: `PENDING` while a delegate (委派) works on it, then `RESOLVED`.
    pub delegation: Option<String>,
    pub candidate_users: Vec<String>,
    pub candidate_groups: Vec<String>,
}

scoped_query! {
    #[derive(Debug, Clone)]
    pub struct TaskQuery {
        pub id: Option<String>,
        pub instance_id: Option<String>,
        pub instance_ids: Option<Vec<String>>,
        pub definition_id: Option<String>,
        pub definition_key: Option<String>,
        pub task_definition_key: Option<String>,
        pub task_definition_keys: Option<Vec<String>>,
        pub name: Option<String>,
        pub name_like: Option<String>,
        pub assignee: Option<String>,
        pub assignee_like: Option<String>,
        pub assigned: Option<bool>,
        /// Tasks this user may claim: named as candidate user, or one of `candidate_user_groups` is a
        /// candidate group.
        pub candidate_user: Option<String>,
        pub candidate_user_groups: Vec<String>,
        pub candidate_groups: Option<Vec<String>>,
        /// With a candidate filter, also return tasks already assigned (Camunda's `includeAssignedTasks`).
        pub include_assigned: bool,
        pub business_key: Option<String>,
        pub min_priority: Option<i64>,
        pub max_priority: Option<i64>,
        pub sorting: Sorting,
        pub page: Page,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRecord {
    pub id: String,
    pub instance_id: String,
    pub definition_id: String,
    pub definition_key: String,
    pub activity_id: String,
    pub activity_name: Option<String>,
    pub activity_type: String,
    pub parent_id: Option<String>,
    pub task_id: Option<String>,
    pub assignee: Option<String>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub canceled: bool,
    pub actor: Option<String>,
    pub seq: i64,
    /// The sequence flow taken to reach this activity (issue 12: the diagram paints exactly
    /// these); `None` for a start, a jump (退回, 撤回) or rows written before it was recorded.
    pub arrived_by: Option<String>,
}

scoped_query! {
    #[derive(Debug, Clone)]
    pub struct ActivityQuery {
        pub instance_id: Option<String>,
        pub activity_id: Option<String>,
        pub activity_type: Option<String>,
        pub finished: Option<bool>,
        pub sorting: Sorting,
        pub page: Page,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskHistoryRecord {
    pub id: String,
    pub instance_id: String,
    pub definition_id: String,
    pub definition_key: String,
    pub task_definition_key: String,
    pub activity_instance_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub assignee: Option<String>,
    pub owner: Option<String>,
    pub priority: i64,
    pub created_at: i64,
    pub ended_at: Option<i64>,
    pub delete_reason: Option<String>,
    pub due: Option<String>,
    pub follow_up: Option<String>,
    pub completed_by: Option<String>,
}

scoped_query! {
    #[derive(Debug, Clone)]
    pub struct TaskHistoryQuery {
        pub task_id: Option<String>,
        pub instance_id: Option<String>,
        pub definition_key: Option<String>,
        pub task_definition_key: Option<String>,
        pub assignee: Option<String>,
        pub finished: Option<bool>,
        pub sorting: Sorting,
        pub page: Page,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VariableRecord {
    pub instance_id: String,
    pub scope: i64,
    pub name: String,
    pub value: Value,
    pub at: i64,
    pub actor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    pub id: String,
    pub instance_id: String,
    pub definition_id: String,
    pub activity_id: String,
    pub token: i64,
    pub incident_type: String,
    pub message: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}

scoped_query! {
    #[derive(Debug, Clone)]
    pub struct IncidentQuery {
        pub id: Option<String>,
        pub instance_id: Option<String>,
        pub definition_id: Option<String>,
        pub activity_id: Option<String>,
        /// `failedExecution` (a step of the engine) or `failedExternalTask` (a worker's task).
        pub incident_type: Option<String>,
        /// Only unresolved incidents (the runtime incident list).
        pub open: bool,
        pub sorting: Sorting,
        pub page: Page,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: String,
    pub password_hash: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub must_change_password: bool,
    pub created_at: i64,
}

/// The rows one command derives from the engine's events, written in the same transaction as
/// the instance state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub new_tasks: Vec<TaskRecord>,
    /// Tasks that ended: (task id, delete reason: "completed" / "deleted").
    pub ended_tasks: Vec<(String, String)>,
    pub started_activities: Vec<ActivityRecord>,
    /// (activity instance id, canceled).
    pub ended_activities: Vec<(String, bool)>,
    pub variables: Vec<VariableRecord>,
    pub new_incidents: Vec<IncidentRecord>,
    /// Incident ids resolved.
    pub resolved_incidents: Vec<String>,
    pub new_jobs: Vec<JobRecord>,
    pub new_subscriptions: Vec<SubscriptionRecord>,
    /// Waits of this instance that ended: their jobs and subscriptions go.
    pub closed_waits: Vec<i64>,
    /// External tasks created (an existing row with the same id is replaced).
    pub new_external_tasks: Vec<ExternalTaskRecord>,
    /// External tasks whose token ended.
    pub ended_external_tasks: Vec<String>,
    /// The job this command executed, when it is not a wait of the instance (a timer start):
    /// deleted, or moved to its next due time with its next cycle state.
    pub executed_job: Option<ExecutedJob>,
    /// The instance ended with these changes.
    pub instance_ended: bool,
    /// Approval operation records (通过, 驳回, 退回, …) committed with the change they describe.
    pub approval_records: Vec<crate::approval::ApprovalRecord>,
    /// Form records written with the command (a task form's values, the record whose
    /// submission started the instance): each guarded by its version and its unique values,
    /// so a stale record refuses the whole command.
    pub record_writes: Vec<crate::forms::RecordWrite>,
    /// Messages the change sends (the message centre): written in its transaction, so a
    /// message is neither lost nor sent for a change that did not commit; once per key.
    pub messages: Vec<crate::identity::NewMessage>,
    /// When these changes were made, and by whom.
    pub at: i64,
    pub actor: Option<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.new_tasks.is_empty()
            && self.ended_tasks.is_empty()
            && self.started_activities.is_empty()
            && self.ended_activities.is_empty()
            && self.variables.is_empty()
            && self.new_incidents.is_empty()
            && self.resolved_incidents.is_empty()
            && self.new_jobs.is_empty()
            && self.new_subscriptions.is_empty()
            && self.closed_waits.is_empty()
            && self.new_external_tasks.is_empty()
            && self.ended_external_tasks.is_empty()
            && self.approval_records.is_empty()
            && self.record_writes.is_empty()
            && self.messages.is_empty()
            && self.executed_job.is_none()
    }
}

/// A timer start job that fired, settled in the same transaction as the instance it started.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutedJob {
    pub id: String,
    /// `None`: the job is done and deleted; else its next due time and cycle state.
    pub next: Option<(i64, Option<String>)>,
}

/// Incident types: a step the engine ran failed (a script, a service call, a job's last
/// attempt), or a worker reported its external task failed for good.
pub const INCIDENT_FAILED_EXECUTION: &str = "failedExecution";
pub const INCIDENT_FAILED_EXTERNAL_TASK: &str = "failedExternalTask";

/// Job kinds.
pub const JOB_TIMER: &str = "timer";
pub const JOB_CONTINUATION: &str = "async-continuation";
pub const JOB_TIMER_START: &str = "timer-start-event";
/// Starts the instance a call activity calls.
pub const JOB_CALL: &str = "call-activity";
/// Resumes a call activity when the instance it called has ended.
pub const JOB_CALL_RETURN: &str = "call-activity-return";
/// Cancels a called instance whose call activity was canceled.
pub const JOB_CALL_CANCEL: &str = "call-activity-cancel";
/// A follow-up of a new user task (`sy:cc` copies, the `sy:emptyCandidates` rule); the payload is
/// the task id.
pub const JOB_TASK_STAFFING: &str = "task-staffing";
/// A follow-up of a thrown signal: delivers it to every subscription; the payload is its name.
pub const JOB_SIGNAL: &str = "signal-broadcast";

/// Whether a job kind is a follow-up: work a command commits as a job row in its own
/// transaction, run right after the commit on the same node, and by any node's job executor if
/// that node dies first.
pub fn is_follow_up(kind: &str) -> bool {
    kind == JOB_TASK_STAFFING || kind == JOB_SIGNAL
}

/// A job: a timer or continuation of an instance (`instance_id` + `wait_id`), or a timer start
/// event of a definition (no instance). The job executor runs due, unlocked jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: String,
    pub kind: String,
    pub instance_id: Option<String>,
    pub wait_id: Option<i64>,
    pub definition_id: String,
    pub definition_key: String,
    pub activity_id: String,
    pub due_at: i64,
    pub retries: i64,
    pub lock_owner: Option<String>,
    pub lock_expires_at: Option<i64>,
    pub exception_message: Option<String>,
    /// Kind-specific data: a timer start event's repeat state (JSON of
    /// `engine::timer::Cycle`), or the called instance a call-return job reports.
    pub payload: Option<String>,
    pub created_at: i64,
}

scoped_query! {
    #[derive(Debug, Clone)]
    pub struct JobQuery {
        pub id: Option<String>,
        pub instance_id: Option<String>,
        pub definition_id: Option<String>,
        pub definition_key: Option<String>,
        pub activity_id: Option<String>,
        /// Due now (`Some(now)`): due_at ≤ now.
        pub due_before: Option<i64>,
        pub with_retries_left: Option<bool>,
        pub timers: bool,
        pub messages: bool,
        pub kind: Option<String>,
        pub sorting: Sorting,
        pub page: Page,
    }
}

scoped_query! {
    /// Who sends a message, and to whom (Camunda's `POST /message` body).
    #[derive(Debug, Clone)]
    pub struct MessageCorrelation {
        pub name: String,
        pub business_key: Option<String>,
        pub instance_id: Option<String>,
        /// Process variables the receiving instance must have, with these values.
        pub correlation_keys: engine::Variables,
        /// Set on the receiving (or started) instance.
        pub variables: engine::Variables,
        /// Deliver to every match instead of exactly one.
        pub all: bool,
    }
}

/// Subscription kinds.
pub const SUBSCRIPTION_MESSAGE: &str = "message";
pub const SUBSCRIPTION_SIGNAL: &str = "signal";

/// A message or signal subscription: of a waiting instance (`instance_id` + `wait_id`) or of a
/// definition's start event (no instance).
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRecord {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub instance_id: Option<String>,
    pub wait_id: Option<i64>,
    pub definition_id: String,
    pub definition_key: String,
    pub activity_id: String,
    pub created_at: i64,
}

scoped_query! {
    #[derive(Debug, Clone)]
    pub struct SubscriptionQuery {
        pub kind: Option<String>,
        pub name: Option<String>,
        pub instance_id: Option<String>,
        pub business_key: Option<String>,
        /// Only start-event subscriptions (`Some(true)`) or only instance ones (`Some(false)`).
        pub start_events: Option<bool>,
        pub page: Page,
    }
}

/// An external task waiting for (or locked by) a worker. Its id is the task id scheme
/// `{instance id}-{token}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalTaskRecord {
    pub id: String,
    pub instance_id: String,
    pub token: i64,
    pub topic: String,
    pub definition_id: String,
    pub definition_key: String,
    pub activity_id: String,
    pub business_key: Option<String>,
    pub priority: i64,
    pub worker_id: Option<String>,
    pub lock_expires_at: Option<i64>,
    pub retries: Option<i64>,
    pub error_message: Option<String>,
    pub error_details: Option<String>,
    pub created_at: i64,
}

scoped_query! {
    #[derive(Debug, Clone)]
    pub struct ExternalTaskQuery {
        pub id: Option<String>,
        pub topic: Option<String>,
        pub worker_id: Option<String>,
        pub instance_id: Option<String>,
        pub definition_id: Option<String>,
        pub activity_id: Option<String>,
        pub locked: Option<bool>,
        /// `Some(true)`: retries = 0 (has an incident); `Some(false)`: retries unset or > 0.
        pub no_retries_left: Option<bool>,
        pub now: i64,
        pub sorting: Sorting,
        pub page: Page,
    }
}

/// What a worker asks for in fetchAndLock: topic and lock duration.
#[derive(Debug, Clone)]
pub struct TopicRequest {
    pub topic: String,
    pub lock_duration: i64,
    pub business_key: Option<String>,
    pub definition_key: Option<String>,
    /// `usePriority`: highest `taskPriority` first; otherwise oldest first.
    pub by_priority: bool,
}

pub(crate) fn status_text(status: InstanceStatus) -> &'static str {
    match status {
        InstanceStatus::Active => "ACTIVE",
        InstanceStatus::Completed => "COMPLETED",
        InstanceStatus::Terminated => "TERMINATED",
        InstanceStatus::Canceled => "CANCELED",
    }
}

pub(crate) fn status_from_text(text: &str) -> Option<InstanceStatus> {
    Some(match text {
        "ACTIVE" => InstanceStatus::Active,
        "COMPLETED" => InstanceStatus::Completed,
        "TERMINATED" => InstanceStatus::Terminated,
        "CANCELED" => InstanceStatus::Canceled,
        _ => return None,
    })
}

/// The instance document as stored, after checking that it reads back: a document that could be
/// written but not read (nested past serde_json's recursion limit, say) would make the instance,
/// and every command on it, fail for good. Such a write is refused instead.
pub(crate) fn readable_state(instance: &InstanceRecord) -> crate::Result<String> {
    let text = serde_json::to_string(&instance.state).map_err(|error| crate::Error::Invalid(error.to_string()))?;
    serde_json::from_str::<serde::de::IgnoredAny>(&text).map_err(|error| {
        crate::Error::Invalid(format!(
            "流程实例数据无法读回，已拒绝保存 (instance {} would be stored unreadable: {error})",
            instance.id
        ))
    })?;
    Ok(text)
}
