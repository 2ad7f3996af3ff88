//! Runtime state of one process instance: scopes, tokens (active element instances) and
//! variables. It is plain data: the store saves it as one JSON document guarded by a version,
//! and the runtime turns (state, command) into (new state, events).

use serde::{Deserialize, Serialize};

use crate::timer::Cycle;
use crate::value::{Value, Variables};

/// Id of a token or scope inside one instance. Fresh for every element activation, never reused,
/// so it doubles as the activity-instance id of history and the key of a user task.
pub type TokenId = u64;

/// The id of the process-level scope.
pub const ROOT_SCOPE: TokenId = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceStatus {
    Active,
    Completed,
    /// Ended by a terminate end event.
    Terminated,
    /// Deleted by a user or an API call.
    Canceled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceState {
    pub status: InstanceStatus,
    pub next_id: TokenId,
    /// Active scopes; the first one is always the process ([`ROOT_SCOPE`]).
    pub scopes: Vec<ScopeInstance>,
    /// Active element instances.
    pub tokens: Vec<Token>,
    /// What tokens wait for from outside: timers, messages, signals, async continuations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waits: Vec<Wait>,
    /// For an instance started by a call activity: the calling instance and its wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Caller>,
}

/// The business key a call activity gives the instance it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CalledBusinessKey {
    None,
    /// The caller's own business key.
    Inherit,
    Value(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Caller {
    pub instance_id: String,
    pub wait: TokenId,
}

/// A subscription of a token to something outside the instance. The executor mirrors each as a
/// row — a job for timers and continuations, an event subscription for messages and signals —
/// and fires it with `Runtime::trigger`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wait {
    pub id: TokenId,
    /// The token that owns the wait: a catch event or receive task, an event-based gateway, or
    /// the activity a boundary event is attached to. The wait ends with that token.
    pub token: TokenId,
    /// The element that fires: the catch event, receive task or boundary event (for a
    /// continuation, the token's own element).
    pub element: String,
    pub trigger: WaitTrigger,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WaitTrigger {
    /// Due at `due` (milliseconds since the Unix epoch); a cycle fires again.
    Timer {
        due: i64,
        cycle: Option<Cycle>,
    },
    Message {
        name: String,
    },
    Signal {
        name: String,
    },
    /// `asyncBefore` (`after: false`) or `asyncAfter`: continue in a job, now.
    Continue {
        after: bool,
    },
    /// A call activity waiting for the instance it starts (`key` at `version`, latest when
    /// `None`; `same_deployment` binds to the caller's deployment).
    Call {
        key: String,
        version: Option<i64>,
        same_deployment: bool,
        business_key: CalledBusinessKey,
        variables: Variables,
    },
}

/// A running scope: the process itself, an embedded sub-process activation, or a multi-instance
/// body or item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeInstance {
    pub id: TokenId,
    pub parent: Option<TokenId>,
    /// The token of the sub-process activity that opened this scope (`None` for the process).
    pub activity: Option<TokenId>,
    pub variables: Variables,
    #[serde(default, skip_serializing_if = "ScopeKind::is_plain")]
    pub kind: ScopeKind,
}

/// What opened a scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum ScopeKind {
    /// The process or an embedded sub-process.
    #[default]
    Plain,
    /// The body of a multi-instance activity (its token is the body; `nrOf…` variables live here).
    MultiInstanceBody {
        sequential: bool,
        total: u32,
        /// The evaluated collection, when there is one (sequential bodies take items from it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        items: Option<Vec<Value>>,
        /// The index of the next instance to start (sequential).
        next: u32,
    },
    /// One instance of a multi-instance activity (`loopCounter` and the element variable live here).
    MultiInstanceItem,
}

impl ScopeKind {
    pub fn is_plain(&self) -> bool {
        *self == ScopeKind::Plain
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub id: TokenId,
    /// BPMN id of the element this token is at.
    pub element: String,
    pub scope: TokenId,
    pub state: TokenState,
    /// The sequence flow this token arrived by (parallel joins count arrivals per flow).
    pub arrived_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TokenState {
    /// Waiting for an outside command (a user task).
    Waiting,
    /// Parked at a parallel join until every incoming flow has delivered a token.
    Joining,
    /// A sub-process activity whose inner scope is running.
    InScope,
    /// Stopped by a failure; an admin can retry it once the cause is fixed.
    Incident { message: String, phase: Phase },
}

/// Where execution stopped when an incident was raised, so a retry resumes at the same step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Executing the element's own behaviour (script, service call, gateway choice, task creation).
    Enter,
    /// Choosing and taking the outgoing sequence flows.
    Leave,
}

impl InstanceState {
    pub fn token(&self, id: TokenId) -> Option<&Token> {
        self.tokens.iter().find(|token| token.id == id)
    }

    pub fn scope(&self, id: TokenId) -> Option<&ScopeInstance> {
        self.scopes.iter().find(|scope| scope.id == id)
    }

    /// Process-level variables.
    pub fn variables(&self) -> &Variables {
        &self.scopes[0].variables
    }

    pub fn is_active(&self) -> bool {
        self.status == InstanceStatus::Active
    }

    /// Tokens that currently carry an incident.
    pub fn incidents(&self) -> impl Iterator<Item = (&Token, &str)> {
        self.tokens.iter().filter_map(|token| match &token.state {
            TokenState::Incident { message, .. } => Some((token, message.as_str())),
            _ => None,
        })
    }
}
