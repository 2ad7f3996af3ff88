//! The contract between the runtime and a domain module's handlers (issue 11).
//!
//! A domain handler is **async** and reaches the system only through [`Ports`] (messages, the
//! directory of accounts and the accounts it creates, an instance's user tasks, form records,
//! the crypto provider), never through SQL. It runs as a durable in-process worker of an external-task topic: a model says
//! `camunda:type="external" camunda:topic="sy-notify"`, the runtime locks the task, calls
//! [`DomainHandler::handle`], and completes the task with the variables it returns, in one
//! version-guarded command. So a handler's work is recorded in the database before it runs, is
//! retried when it fails, and is taken over by another node when its node dies (the lock
//! expires).
//!
//! **No effect happens twice.** A node can die after a handler's effect and before the task is
//! completed; the task then runs again. Every effect therefore goes through a port with a key
//! derived from [`Task::key`] (stable for the task until it ends), and the port does nothing
//! the second time: the SMS outbox, say, keeps one message per key.
//!
//! **Failures are typed** ([`Failure`]): a transient technical failure is retried with a pause,
//! and after the last attempt becomes an incident whose message names its kind; a permanent
//! one becomes an incident at once; a business outcome is a BPMN error that a boundary event in
//! the model catches.

use std::sync::Arc;

use engine::Variables;

/// One locked external task, as a handler sees it.
#[derive(Debug, Clone)]
pub struct Task {
    /// The external task id: the same on every attempt of this task, so it is the idempotency
    /// key of the task's effects ([`Task::key`]).
    pub id: String,
    pub topic: String,
    pub instance_id: String,
    pub business_key: Option<String>,
    /// The BPMN element (service task) that waits for the handler.
    pub activity_id: String,
    /// The process variables visible to the task.
    pub variables: Variables,
    /// Attempts made before this one (0 on the first).
    pub attempt: u32,
}

impl Task {
    /// The idempotency key of one effect of this task: `{task id}:{effect}`.
    pub fn key(&self, effect: &str) -> String {
        format!("{}:{effect}", self.id)
    }

    /// A text variable the model must provide; a missing or non-text one is a permanent
    /// failure naming the variable.
    pub fn text(&self, name: &str) -> Result<&str, Failure> {
        match self.variables.get(name) {
            Some(engine::Value::String(text)) if !text.trim().is_empty() => Ok(text),
            Some(_) => {
                Err(Failure::permanent("invalid-input", format!("变量 {name} 须为非空文本 ({name} must be text)")))
            }
            None => Err(Failure::permanent("invalid-input", format!("缺少变量 {name} (variable {name} is missing)"))),
        }
    }
}

/// Why a handler did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A technical failure that may pass (a gateway timed out): retried after a pause; after
    /// the last attempt, an incident.
    Transient { kind: String, message: String },
    /// A technical failure that will not pass by itself (the model passes bad input): an
    /// incident now, resolved by fixing the cause and retrying it.
    Permanent { kind: String, message: String },
    /// A business outcome the model handles (`throw new BpmnError(code)` in Camunda): an error
    /// boundary event with this code catches it, else it is an incident.
    Business { code: String, message: String },
}

impl Failure {
    pub fn transient(kind: &str, message: impl Into<String>) -> Failure {
        Failure::Transient { kind: kind.to_string(), message: message.into() }
    }

    pub fn permanent(kind: &str, message: impl Into<String>) -> Failure {
        Failure::Permanent { kind: kind.to_string(), message: message.into() }
    }

    pub fn business(code: &str, message: impl Into<String>) -> Failure {
        Failure::Business { code: code.to_string(), message: message.into() }
    }
}

/// A port's failure: whether trying again later may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Refused(String),
}

impl From<PortError> for Failure {
    fn from(error: PortError) -> Failure {
        match error {
            PortError::Unavailable(message) => Failure::transient("unavailable", message),
            PortError::Refused(message) => Failure::permanent("refused", message),
        }
    }
}

/// Outgoing messages: SMS, and the in-app message centre (SVC-20).
#[async_trait::async_trait]
pub trait Messages: Send + Sync {
    /// Sends `text` by SMS to the phone of account `account`, once per `key`: a second call
    /// with the same key does nothing and succeeds.
    async fn sms_to_account(&self, key: &str, account: &str, text: &str) -> Result<(), PortError>;
    /// Puts a message into account `account`'s message centre, once per `key`; `link` is a
    /// path of this site the message is about.
    async fn message_to_account(&self, key: &str, account: &str, message: &Note) -> Result<(), PortError>;
}

/// An in-app message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub title: String,
    pub body: String,
    pub link: Option<String>,
}

/// A form record as a handler sees it: its values as stored, sensitive ones opened (handlers
/// are the system; they never log them).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordView {
    pub id: String,
    pub version: i64,
    pub district: Option<String>,
    pub created_by: String,
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// The records of the dynamic forms.
#[async_trait::async_trait]
pub trait Records: Send + Sync {
    /// A live record of `form`, in any district.
    async fn record(&self, form: &str, id: &str) -> Result<Option<RecordView>, PortError>;
    /// Sets fields of the record at `version` as the system (read-only fields included, every
    /// check of an edit applied), recorded in its history as `action`. A record changed since
    /// is `Unavailable` (read it again and retry); values the definition refuses are `Refused`.
    async fn set_fields(
        &self,
        form: &str,
        id: &str,
        version: i64,
        values: serde_json::Map<String, serde_json::Value>,
        action: &str,
    ) -> Result<(), PortError>;
    /// Makes `account` the record's owner: the one an own data scope lets read it (an
    /// institution's account takes over the application district staff made for it).
    async fn hand_over(&self, form: &str, id: &str, account: &str) -> Result<(), PortError>;
}

/// A booking a handler asks the venue schedule for (SVC-22).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingRequest {
    /// The request (form record) it is for: one booking per request.
    pub request_id: String,
    pub venue_id: String,
    pub venue_title: String,
    pub district: Option<String>,
    /// `venue`, `parking` or `support`.
    pub kind: String,
    pub title: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub booked_by: String,
}

/// A booking that holds (part of) a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub title: String,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// What asking for a time did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Booked {
    /// Booked: the booking's id (the same one when the request was booked before).
    Booked(String),
    /// Another booking holds the time.
    Taken(Holder),
    /// The request's booking was cancelled since it was made.
    Cancelled,
}

/// The venues' schedule.
#[async_trait::async_trait]
pub trait Bookings: Send + Sync {
    /// The booking holding any of the request's time, if one does (a check; not a promise).
    async fn conflict(&self, request: &BookingRequest) -> Result<Option<Holder>, PortError>;
    /// Books the time, all or nothing, enforced by the database: of two requests for one time
    /// only one is booked. The same request again answers its booking.
    async fn book(&self, request: &BookingRequest) -> Result<Booked, PortError>;
}

/// An account a handler creates (an institution's, on its approval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerson {
    pub id: String,
    pub display_name: String,
    /// One of the account kinds (`provider` …).
    pub kind: String,
    pub roles: Vec<String>,
    /// Its unit: a district code, or the city.
    pub unit: String,
    /// A mainland mobile number it signs in with by SMS code, when no other account has it.
    pub phone: Option<String>,
}

/// Accounts: created and given roles by the system (audited, access records signed).
#[async_trait::async_trait]
pub trait Accounts: Send + Sync {
    /// Creates the account unless one with its id exists (then nothing). The phone is left off
    /// when another account holds the number. Answers whether the account has a phone to sign
    /// in with (by SMS code).
    async fn ensure_account(&self, person: &NewPerson) -> Result<bool, PortError>;
    /// Adds `add` to an account's roles and takes `remove` away; with `profile` (display name,
    /// unit) it is also renamed and moved to that unit.
    async fn change_roles(
        &self,
        id: &str,
        add: &[&str],
        remove: &[&str],
        profile: Option<(&str, &str)>,
    ) -> Result<(), PortError>;
}

/// An account as a handler may see it: never a secret, never a phone number in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub display_name: Option<String>,
    pub unit_id: Option<String>,
    pub district: Option<String>,
    pub kind: String,
    /// `active`, `frozen` or `cancelled`.
    pub status: String,
    pub roles: Vec<String>,
}

/// The directory of accounts.
#[async_trait::async_trait]
pub trait Directory: Send + Sync {
    async fn person(&self, id: &str) -> Result<Option<Person>, PortError>;
}

/// An open user task, as a handler may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTask {
    pub id: String,
    pub name: Option<String>,
    /// The BPMN element of the task.
    pub element_id: String,
    pub assignee: Option<String>,
    pub candidate_users: Vec<String>,
    pub candidate_groups: Vec<String>,
}

/// The user tasks of an instance and the approval records on them.
#[async_trait::async_trait]
pub trait Tasks: Send + Sync {
    async fn open_tasks(&self, instance_id: &str) -> Result<Vec<OpenTask>, PortError>;
    /// Records a 催办 by the system on the task, naming its recipients, once per `key`.
    async fn record_urge(
        &self,
        key: &str,
        task_id: &str,
        recipients: &[String],
        comment: &str,
    ) -> Result<(), PortError>;
}

/// Everything a handler may reach.
#[derive(Clone)]
pub struct Ports {
    pub messages: Arc<dyn Messages>,
    pub directory: Arc<dyn Directory>,
    pub tasks: Arc<dyn Tasks>,
    pub records: Arc<dyn Records>,
    pub accounts: Arc<dyn Accounts>,
    pub bookings: Arc<dyn Bookings>,
    pub crypto: Arc<dyn crypto::CryptoProvider>,
}

/// A domain module's handler of one external-task topic.
#[async_trait::async_trait]
pub trait DomainHandler: Send + Sync {
    /// The topic it serves (`camunda:topic` in the model), `sy-…`.
    fn topic(&self) -> &'static str;

    /// Attempts in all before a transient failure becomes an incident.
    fn attempts(&self) -> u32 {
        3
    }

    /// The pause before attempt `attempt + 1` (milliseconds): 5 s, 30 s, 3 min ….
    fn retry_pause_ms(&self, attempt: u32) -> i64 {
        5_000 * 6_i64.saturating_pow(attempt)
    }

    /// How long one attempt may hold the task before another node may take it over.
    fn lock_ms(&self) -> i64 {
        60_000
    }

    /// Does the work; `Ok` holds the variables to set on the instance.
    async fn handle(&self, task: &Task, ports: &Ports) -> Result<Variables, Failure>;
}
