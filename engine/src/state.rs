//! Runtime state of one process instance: scopes, tokens (active element instances) and
//! variables. It is plain data: the store saves it as one JSON document guarded by a version,
//! and the runtime turns (state, command) into (new state, events).

use serde::{Deserialize, Serialize};

use crate::value::Variables;

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
}

/// A running scope: the process itself or an embedded sub-process activation. Later multi-instance
/// bodies and event sub-processes are scopes too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeInstance {
    pub id: TokenId,
    pub parent: Option<TokenId>,
    /// The token of the sub-process activity that opened this scope (`None` for the process).
    pub activity: Option<TokenId>,
    pub variables: Variables,
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
