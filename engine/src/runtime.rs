//! The state machine: a command and the current state in, the new state and a list of events
//! out. One processor per element kind, each with explicit enter / leave steps.
//!
//! Nothing here does I/O. Service tasks call handlers through the [`ServiceHandlers`] port;
//! what the handlers return is applied like any other variable change.

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};

use crate::Error;
use crate::model::{
    CallBinding, CallBusinessKey, CallDefinition, ElementIndex, ElementKind, FlowIndex, Mapping, ProcessModel, Trigger,
    UserTaskDefinition,
};
use crate::ports::{ServiceCall, ServiceError, ServiceHandlers};
use crate::script::{Script, Scripting, Template};
use crate::state::{
    CalledBusinessKey, InstanceState, InstanceStatus, Phase, ROOT_SCOPE, ScopeInstance, ScopeKind, Token, TokenId,
    TokenState, Wait, WaitTrigger,
};
use crate::timer;
use crate::value::{Value, Variables, check_variables};

/// How many element steps one command may take before the runtime assumes a loop without a wait
/// state and stops that token with an incident.
const STEP_LIMIT: usize = 10_000;

/// What happened while a command ran, in order. The executor outside the core turns these into
/// task rows, history rows and incidents.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    ActivityStarted {
        token: TokenId,
        /// The enclosing sub-process activation, if any.
        parent: Option<TokenId>,
        element_id: String,
        element_type: &'static str,
        name: Option<String>,
        /// The sequence flow the token took to get here (`None` for a start, a jump such as
        /// 退回, a boundary or a link event): the history row of a taken flow.
        flow: Option<String>,
    },
    ActivityEnded {
        token: TokenId,
        element_id: String,
        canceled: bool,
    },
    TaskCreated(TaskSpec),
    VariableSet {
        scope: TokenId,
        name: String,
        value: Value,
        previous: Option<Value>,
    },
    IncidentCreated {
        token: TokenId,
        element_id: String,
        message: String,
    },
    IncidentResolved {
        token: TokenId,
        element_id: String,
    },
    InstanceEnded {
        status: InstanceStatus,
    },
    /// A token now waits for a timer, message, signal or continuation.
    WaitOpened(Wait),
    /// That wait is over: it fired, or its token ended (`fired: false`).
    WaitClosed {
        wait: Wait,
        fired: bool,
    },
    /// An external task is ready for a worker to fetch.
    ExternalTaskCreated {
        token: TokenId,
        element_id: String,
        topic: String,
        priority: i64,
    },
    /// A signal was thrown: the executor broadcasts it once this command has committed.
    SignalThrown {
        name: String,
    },
}

/// A user task to create, with its expressions already evaluated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskSpec {
    pub token: TokenId,
    pub element_id: String,
    pub name: Option<String>,
    pub documentation: Option<String>,
    pub assignee: Option<String>,
    pub candidate_users: Vec<String>,
    pub candidate_groups: Vec<String>,
    pub form_key: Option<String>,
    pub due_date: Option<String>,
    pub follow_up_date: Option<String>,
    pub priority: i64,
}

/// Everything a command needs besides the state: the model, the ports and the time.
#[derive(Clone, Copy)]
pub struct Runtime<'a> {
    pub model: &'a ProcessModel,
    pub scripting: &'a Scripting,
    pub services: &'a dyn ServiceHandlers,
    /// The working days timers marked `calendar = workdays` count.
    pub calendar: &'a timer::WorkCalendar,
    /// The command's time, in milliseconds since the Unix epoch (the engine reads no clock).
    pub now: i64,
}

/// Where a token arrived: the token, its element's index and the scope it runs in.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    token: TokenId,
    index: usize,
    scope: TokenId,
}

enum Step {
    Enter(TokenId),
    Leave(TokenId),
}

/// What catches a thrown error or escalation.
enum Catcher {
    /// A boundary event on an activity (activity token, boundary event).
    Boundary(TokenId, ElementIndex),
    /// An event sub-process of a scope.
    EventSubProcess { scope: TokenId, sub_process: ElementIndex, start: ElementIndex },
}

/// Where the error of [`Run::throw_error`] was caught.
enum Caught {
    Boundary,
    Nowhere,
}

impl<'a> Runtime<'a> {
    /// Starts an instance at the process's none start event.
    pub fn start(&self, variables: Variables) -> Result<(InstanceState, Vec<Event>), Error> {
        let start = self
            .model
            .start_events(None)
            .next()
            .ok_or_else(|| Error::InvalidCommand(format!("process '{}' has no none start event", self.model.id)))?;
        self.start_at_index(start, variables)
    }

    /// Starts an instance at a given start event (a timer, message or signal start).
    pub fn start_at(&self, element_id: &str, variables: Variables) -> Result<(InstanceState, Vec<Event>), Error> {
        let index = self
            .model
            .element_index(element_id)
            .filter(|&index| {
                let element = &self.model.elements[index];
                element.scope.is_none() && matches!(element.kind, ElementKind::StartEvent { .. })
            })
            .ok_or_else(|| Error::NotFound(format!("'{element_id}' is not a start event of '{}'", self.model.id)))?;
        self.start_at_index(index, variables)
    }

    fn start_at_index(&self, start: ElementIndex, variables: Variables) -> Result<(InstanceState, Vec<Event>), Error> {
        check_variables(&variables).map_err(Error::InvalidCommand)?;
        let mut state = InstanceState {
            status: InstanceStatus::Active,
            next_id: ROOT_SCOPE + 1,
            scopes: vec![ScopeInstance {
                id: ROOT_SCOPE,
                parent: None,
                activity: None,
                variables: Variables::new(),
                kind: ScopeKind::Plain,
            }],
            tokens: Vec::new(),
            waits: Vec::new(),
            caller: None,
        };
        let mut run = Run::new(self, &mut state);
        run.set_variables(ROOT_SCOPE, variables);
        run.open_event_sub_process_waits(ROOT_SCOPE, None).map_err(Error::InvalidCommand)?;
        let token = run.create_token(start, ROOT_SCOPE, None);
        run.queue.push_back(Step::Enter(token));
        run.drain();
        let events = run.events;
        Ok((state, events))
    }

    /// Completes a waiting user task. `variables` are set from the task's scope outwards
    /// (Camunda's `setVariables`: an existing variable is updated where it lives, a new one is
    /// created on the process).
    pub fn complete_task(
        &self,
        state: &mut InstanceState,
        token: TokenId,
        variables: Variables,
    ) -> Result<Vec<Event>, Error> {
        self.complete_waiting(state, token, variables, "user task", |kind| matches!(kind, ElementKind::UserTask(_)))
    }

    /// Completes an external task a worker has done.
    pub fn complete_external_task(
        &self,
        state: &mut InstanceState,
        token: TokenId,
        variables: Variables,
    ) -> Result<Vec<Event>, Error> {
        self.complete_waiting(state, token, variables, "external task", |kind| {
            matches!(kind, ElementKind::ExternalTask { .. })
        })
    }

    fn complete_waiting(
        &self,
        state: &mut InstanceState,
        token: TokenId,
        variables: Variables,
        what: &str,
        accepts: fn(&ElementKind) -> bool,
    ) -> Result<Vec<Event>, Error> {
        let scope = self.waiting(state, token, what, accepts)?;
        check_variables(&variables).map_err(Error::InvalidCommand)?;
        let mut run = Run::new(self, state);
        run.set_variables(scope, variables);
        run.queue.push_back(Step::Leave(token));
        run.drain();
        Ok(run.events)
    }

    /// The scope of `token` if it is active, waiting, and at an element `accepts` takes.
    fn waiting(
        &self,
        state: &InstanceState,
        token: TokenId,
        what: &str,
        accepts: fn(&ElementKind) -> bool,
    ) -> Result<TokenId, Error> {
        ensure_active(state)?;
        let current = state.token(token).ok_or(Error::NotFound(format!("no active task with id {token}")))?;
        let element = self.element_of(current)?;
        let continuing =
            state.waits.iter().any(|wait| wait.token == token && matches!(wait.trigger, WaitTrigger::Continue { .. }));
        if !accepts(&self.model.elements[element].kind) || current.state != TokenState::Waiting || continuing {
            return Err(Error::InvalidCommand(format!("element instance {token} is not a waiting {what}")));
        }
        Ok(current.scope)
    }

    /// A worker reports a business error for an external task (`handleBpmnError`): an error
    /// boundary event catches it, or the task gets an incident.
    pub fn external_task_error(
        &self,
        state: &mut InstanceState,
        token: TokenId,
        code: &str,
        message: Option<&str>,
        variables: Variables,
    ) -> Result<Vec<Event>, Error> {
        let scope =
            self.waiting(state, token, "external task", |kind| matches!(kind, ElementKind::ExternalTask { .. }))?;
        check_variables(&variables).map_err(Error::InvalidCommand)?;
        let mut run = Run::new(self, state);
        run.set_variables(scope, variables);
        if let Caught::Nowhere = run.throw_error(token, code, message) {
            run.incident(
                token,
                Phase::Enter,
                format!("BPMN error '{code}' was not caught by any error boundary event"),
            );
        }
        run.drain();
        Ok(run.events)
    }

    /// Puts an incident on a waiting token (an external task whose retries ran out, a call
    /// activity whose process cannot be started). Its own waits end; a retry enters it again.
    pub fn fail_token(&self, state: &mut InstanceState, token: TokenId, message: &str) -> Result<Vec<Event>, Error> {
        ensure_active(state)?;
        let current = state.token(token).ok_or(Error::NotFound(format!("no active element instance {token}")))?;
        if current.state != TokenState::Waiting {
            return Err(Error::InvalidCommand(format!("element instance {token} is not waiting")));
        }
        let element = current.element.clone();
        let own: Vec<TokenId> =
            state.waits.iter().filter(|wait| wait.token == token && wait.element == element).map(|w| w.id).collect();
        let mut run = Run::new(self, state);
        for wait in own {
            run.close_wait(wait, false);
        }
        run.incident(token, Phase::Enter, message.to_string());
        Ok(run.events)
    }

    /// Fires a wait: a due timer or continuation, or a correlated message or signal whose
    /// `variables` are set on the process.
    pub fn trigger(&self, state: &mut InstanceState, wait: TokenId, variables: Variables) -> Result<Vec<Event>, Error> {
        ensure_active(state)?;
        let found = state
            .waits
            .iter()
            .find(|candidate| candidate.id == wait)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("nothing in this instance waits as {wait}")))?;
        check_variables(&variables).map_err(Error::InvalidCommand)?;
        let mut run = Run::new(self, state);
        match &found.trigger {
            // A called instance ended: `variables` are its variables, mapped by camunda:out.
            WaitTrigger::Call { .. } => {
                let (scope, outputs) = run.call_outputs(&found, &variables).map_err(Error::InvalidCommand)?;
                run.set_variables(scope, outputs);
            }
            _ => run.set_variables(ROOT_SCOPE, variables),
        }
        run.fire(found);
        run.drain();
        Ok(run.events)
    }

    /// Sets process variables (Camunda's `POST …/variables` "modifications").
    pub fn set_variables(
        &self,
        state: &mut InstanceState,
        variables: Variables,
        deletions: &[String],
    ) -> Result<Vec<Event>, Error> {
        ensure_active(state)?;
        check_variables(&variables).map_err(Error::InvalidCommand)?;
        let mut run = Run::new(self, state);
        run.set_variables(ROOT_SCOPE, variables);
        for name in deletions {
            if let Some(previous) = run.state.scopes[0].variables.remove(name) {
                run.events.push(Event::VariableSet {
                    scope: ROOT_SCOPE,
                    name: name.clone(),
                    value: Value::Null,
                    previous: Some(previous),
                });
            }
        }
        Ok(run.events)
    }

    /// Retries a token stopped by an incident, at the step where it stopped.
    pub fn retry_incident(&self, state: &mut InstanceState, token: TokenId) -> Result<Vec<Event>, Error> {
        ensure_active(state)?;
        let current = state.token(token).ok_or(Error::NotFound(format!("no incident on element instance {token}")))?;
        let TokenState::Incident { phase, .. } = current.state else {
            return Err(Error::InvalidCommand(format!("element instance {token} has no incident")));
        };
        let element_id = current.element.clone();
        let mut run = Run::new(self, state);
        run.token_mut(token).state = TokenState::Waiting;
        run.events.push(Event::IncidentResolved { token, element_id });
        run.queue.push_back(match phase {
            Phase::Enter => Step::Enter(token),
            Phase::Leave => Step::Leave(token),
        });
        run.drain();
        Ok(run.events)
    }

    /// Cancels the whole instance (Camunda's process-instance delete).
    pub fn cancel(&self, state: &mut InstanceState) -> Result<Vec<Event>, Error> {
        ensure_active(state)?;
        let mut run = Run::new(self, state);
        run.cancel_scope_contents(ROOT_SCOPE);
        run.close_root_waits();
        run.state.status = InstanceStatus::Canceled;
        run.events.push(Event::InstanceEnded { status: InstanceStatus::Canceled });
        Ok(run.events)
    }

    /// 退回: moves a waiting user task back to `target`, an earlier user task of the same
    /// scope level (the process or the sub-process it lies in). The task's token — or, inside a
    /// multi-instance or sub-process, the activity that contains it — ends canceled, and so does
    /// every other token of that level the return makes obsolete: tokens at elements reachable
    /// from `target`, and tokens parked at a join that arrived by a flow reachable from it.
    /// Tokens of parallel branches the target does not lead to keep running. `target` is then
    /// entered afresh; `assignee` (the person who handled it before) overrides its assignee.
    pub fn return_to(
        &self,
        state: &mut InstanceState,
        token: TokenId,
        target: &str,
        assignee: Option<String>,
    ) -> Result<Vec<Event>, Error> {
        self.waiting(state, token, "user task", |kind| matches!(kind, ElementKind::UserTask(_)))?;
        let target_index = self
            .model
            .element_index(target)
            .filter(|&index| matches!(self.model.elements[index].kind, ElementKind::UserTask(_)))
            .ok_or_else(|| Error::NotFound(format!("'{target}' is not a user task of this process")))?;
        let (scope, anchor) = self
            .anchor_in(state, token, self.model.elements[target_index].scope)
            .ok_or_else(|| Error::InvalidCommand(format!("'{target}' is not on the path of this task")))?;
        let reachable = self.reachable_from(target_index);
        let obsolete: Vec<TokenId> = state
            .tokens
            .iter()
            .filter(|candidate| candidate.scope == scope)
            .filter(|candidate| {
                candidate.id == anchor
                    || match candidate.state {
                        TokenState::Joining => candidate
                            .arrived_by
                            .as_deref()
                            .and_then(|flow| self.model.flows.iter().find(|f| f.id == flow))
                            .is_some_and(|flow| reachable.contains(&flow.source)),
                        _ => self.model.element_index(&candidate.element).is_some_and(|at| reachable.contains(&at)),
                    }
            })
            .map(|candidate| candidate.id)
            .collect();
        let mut run = Run::new(self, state);
        for victim in obsolete {
            if run.state.token(victim).is_some() {
                run.cancel_activity(victim);
            }
        }
        let fresh = run.create_token(target_index, scope, None);
        run.queue.push_back(Step::Enter(fresh));
        run.drain();
        let mut events = run.events;
        if let Some(assignee) = assignee {
            for event in &mut events {
                if let Event::TaskCreated(spec) = event
                    && spec.element_id == target
                    && spec.assignee.is_none()
                {
                    spec.assignee = Some(assignee.clone());
                }
            }
        }
        Ok(events)
    }

    /// Refuses unless `token` is a waiting user task of an active instance.
    pub fn waiting_user_task(&self, state: &InstanceState, token: TokenId) -> Result<(), Error> {
        self.waiting(state, token, "user task", |kind| matches!(kind, ElementKind::UserTask(_))).map(|_| ())
    }

    /// Counts a vote (会签 with a pass ratio) of a waiting multi-instance item: `nrOfApproved` or
    /// `nrOfRejected` on the multi-instance body goes up by one, so the completion condition
    /// evaluated when the item completes right after can use them; the process variables
    /// `{element}_approved` / `{element}_rejected` mirror them for gateways after the vote.
    /// Outside a multi-instance activity this does nothing.
    pub fn count_vote(&self, state: &mut InstanceState, token: TokenId, approved: bool) -> Result<Vec<Event>, Error> {
        self.waiting_user_task(state, token)?;
        let Some(item) = state.token(token).map(|token| token.scope) else { return Ok(Vec::new()) };
        let body = state
            .scope(item)
            .filter(|scope| scope.kind == ScopeKind::MultiInstanceItem)
            .and_then(|scope| scope.parent)
            .and_then(|parent| state.scope(parent))
            .filter(|scope| matches!(scope.kind, ScopeKind::MultiInstanceBody { .. }))
            .map(|scope| scope.id);
        let Some(body) = body else { return Ok(Vec::new()) };
        let element = state.token(token).map(|token| token.element.clone()).unwrap_or_default();
        let mut run = Run::new(self, state);
        let position = run.state.scopes.iter().position(|scope| scope.id == body).unwrap_or(0);
        for (name, mirror, counts) in [("nrOfApproved", "approved", approved), ("nrOfRejected", "rejected", !approved)]
        {
            let variables = &mut run.state.scopes[position].variables;
            let current = match variables.get(name) {
                Some(Value::Integer(value)) => *value,
                _ => 0,
            };
            let value = Value::Integer(current + i32::from(counts));
            let previous = variables.insert(name.to_string(), value.clone());
            if previous.as_ref() != Some(&value) {
                run.events.push(Event::VariableSet {
                    scope: body,
                    name: name.to_string(),
                    value: value.clone(),
                    previous,
                });
            }
            // The body's counts end with it; a gateway after the vote reads the process-level copy.
            let mirrored = Variables::from([(format!("{element}_{mirror}"), value)]);
            run.set_variables(ROOT_SCOPE, mirrored);
        }
        Ok(run.events)
    }

    /// The user tasks `token` (a waiting user task) could be returned to by the model: those of
    /// its scope level from which its element can be reached, nearest first. Which of them the
    /// instance actually passed through is the caller's to check against history.
    pub fn return_candidates(&self, state: &InstanceState, token: TokenId) -> Vec<String> {
        let Some(current) = state.token(token) else { return Vec::new() };
        let Some(mut at) = self.model.element_index(&current.element) else { return Vec::new() };
        let mut cursor = current;
        // Climb to the outermost activity so that tasks of every enclosing level are offered.
        let mut levels = Vec::new();
        loop {
            levels.push(at);
            let Some(scope) = state.scope(cursor.scope) else { break };
            let Some(parent) = scope.activity.and_then(|activity| state.token(activity)) else { break };
            let Some(index) = self.model.element_index(&parent.element) else { break };
            cursor = parent;
            at = index;
        }
        let mut found = Vec::new();
        for level in levels {
            let mut seen = HashSet::from([level]);
            let mut queue = VecDeque::from([level]);
            while let Some(element) = queue.pop_front() {
                let definition = &self.model.elements[element];
                let mut sources: Vec<ElementIndex> =
                    definition.incoming.iter().map(|&flow| self.model.flows[flow].source).collect();
                if let ElementKind::BoundaryEvent { .. } = definition.kind {
                    sources
                        .extend(self.model.elements.iter().position(|activity| activity.boundaries.contains(&element)));
                }
                for source in sources {
                    if seen.insert(source) {
                        if matches!(self.model.elements[source].kind, ElementKind::UserTask(_)) {
                            let id = self.model.elements[source].id.clone();
                            if !found.contains(&id) {
                                found.push(id);
                            }
                        }
                        queue.push_back(source);
                    }
                }
            }
        }
        found
    }

    /// The scope instance that runs elements of `container` (`None`: the process) on the way out
    /// from `token`, and the token at that level that contains `token` (itself, or the
    /// sub-process / multi-instance activity around it).
    fn anchor_in(
        &self,
        state: &InstanceState,
        token: TokenId,
        container: Option<ElementIndex>,
    ) -> Option<(TokenId, TokenId)> {
        let mut current = token;
        let mut scope_id = state.token(token)?.scope;
        loop {
            let scope = state.scope(scope_id)?;
            let scope_element = match scope.activity {
                None => None,
                Some(activity) => Some(self.model.element_index(&state.token(activity)?.element)?),
            };
            if scope.kind == ScopeKind::Plain && scope_element == container {
                return Some((scope.id, current));
            }
            match scope.activity {
                Some(activity) => {
                    current = activity;
                    scope_id = state.token(activity)?.scope;
                }
                None => scope_id = scope.parent?,
            }
        }
    }

    /// Elements reachable from `start` by sequence flows (boundary events included), `start`
    /// itself among them.
    fn reachable_from(&self, start: ElementIndex) -> HashSet<ElementIndex> {
        let mut seen = HashSet::from([start]);
        let mut queue = VecDeque::from([start]);
        while let Some(element) = queue.pop_front() {
            let definition = &self.model.elements[element];
            let next = definition
                .outgoing
                .iter()
                .map(|&flow| self.model.flows[flow].target)
                .chain(definition.boundaries.iter().copied());
            for target in next.collect::<Vec<_>>() {
                if seen.insert(target) {
                    queue.push_back(target);
                }
            }
        }
        seen
    }

    fn element_of(&self, token: &Token) -> Result<ElementIndex, Error> {
        self.model
            .element_index(&token.element)
            .ok_or_else(|| Error::InvalidCommand(format!("element '{}' is not in this process version", token.element)))
    }
}

/// Evaluates `camunda:in` / `camunda:out` mappings against `from`.
fn apply_mappings(scripting: &Scripting, mappings: &[Mapping], from: &Variables) -> Result<Variables, String> {
    let mut out = Variables::new();
    for mapping in mappings {
        match mapping {
            Mapping::All => out.extend(from.iter().map(|(name, value)| (name.clone(), value.clone()))),
            Mapping::Variable { source, target } => {
                out.insert(target.clone(), from.get(source).cloned().unwrap_or(Value::Null));
            }
            Mapping::Expression { source, target } => {
                out.insert(target.clone(), scripting.eval(source, from)?);
            }
        }
    }
    Ok(out)
}

fn ensure_active(state: &InstanceState) -> Result<(), Error> {
    if state.is_active() { Ok(()) } else { Err(Error::InvalidCommand("the process instance has ended".into())) }
}

/// One command's execution: the state being changed, the work queue and the events so far.
struct Run<'r, 'a> {
    runtime: &'r Runtime<'a>,
    state: &'r mut InstanceState,
    queue: VecDeque<Step>,
    events: Vec<Event>,
    /// Tokens whose async continuation fired in this command: (token, after).
    resumed: HashSet<(TokenId, bool)>,
}

impl<'r, 'a> Run<'r, 'a> {
    fn new(runtime: &'r Runtime<'a>, state: &'r mut InstanceState) -> Self {
        Run { runtime, state, queue: VecDeque::new(), events: Vec::new(), resumed: HashSet::new() }
    }

    fn model(&self) -> &'a ProcessModel {
        self.runtime.model
    }

    fn drain(&mut self) {
        let mut steps = 0;
        loop {
            let Some(step) = self.queue.pop_front() else {
                // Quiet: an inclusive join may fire now that no more tokens can reach it.
                if self.fire_inclusive_joins() {
                    continue;
                }
                break;
            };
            steps += 1;
            let (token, phase) = match step {
                Step::Enter(token) => (token, Phase::Enter),
                Step::Leave(token) => (token, Phase::Leave),
            };
            if self.state.token(token).is_none() {
                continue; // canceled by a terminate end event earlier in this command
            }
            if steps > STEP_LIMIT {
                self.incident(
                    token,
                    phase,
                    format!("more than {STEP_LIMIT} steps without a wait state: is there a loop?"),
                );
                continue;
            }
            let result = match phase {
                Phase::Enter => self.enter(token),
                Phase::Leave => self.leave(token),
            };
            if let Err(message) = result {
                self.incident(token, phase, message);
            }
        }
    }

    fn token_mut(&mut self, id: TokenId) -> &mut Token {
        let position = self.state.tokens.iter().position(|token| token.id == id);
        // Steps are only queued for tokens that exist (checked in `drain`).
        &mut self.state.tokens[position.unwrap_or_else(|| unreachable!("token {id} vanished"))]
    }

    fn element_index(&self, token: TokenId) -> ElementIndex {
        let id = &self.state.token(token).map(|t| t.element.clone()).unwrap_or_default();
        self.model().element_index(id).unwrap_or_else(|| unreachable!("token at unknown element {id}"))
    }

    fn next_id(&mut self) -> TokenId {
        let id = self.state.next_id;
        self.state.next_id += 1;
        id
    }

    fn create_token(&mut self, element: ElementIndex, scope: TokenId, arrived_by: Option<FlowIndex>) -> TokenId {
        let id = self.next_id();
        let model = self.model();
        let definition = &model.elements[element];
        self.state.tokens.push(Token {
            id,
            element: definition.id.clone(),
            scope,
            state: TokenState::Waiting,
            arrived_by: arrived_by.map(|flow| model.flows[flow].id.clone()),
        });
        let flow = arrived_by.map(|flow| model.flows[flow].id.clone());
        let parent = self.state.scope(scope).and_then(|scope| scope.activity);
        let body = definition.multi_instance.is_some() && !self.is_item_scope(scope);
        self.events.push(Event::ActivityStarted {
            token: id,
            parent,
            element_id: if body { format!("{}#multiInstanceBody", definition.id) } else { definition.id.clone() },
            element_type: if body { "multiInstanceBody" } else { definition.kind.camunda_type() },
            name: definition.name.clone(),
            flow,
        });
        id
    }

    fn is_item_scope(&self, scope: TokenId) -> bool {
        self.state.scope(scope).is_some_and(|scope| scope.kind == ScopeKind::MultiInstanceItem)
    }

    fn incident(&mut self, token: TokenId, phase: Phase, message: String) {
        let state = TokenState::Incident { message: message.clone(), phase };
        let current = self.token_mut(token);
        current.state = state;
        let element_id = current.element.clone();
        self.events.push(Event::IncidentCreated { token, element_id, message });
    }

    /// Variables visible from `scope`: its own and every enclosing scope's, inner ones winning.
    fn visible_variables(&self, scope: TokenId) -> Cow<'_, Variables> {
        if scope == ROOT_SCOPE {
            return Cow::Borrowed(&self.state.scopes[0].variables);
        }
        let mut chain = Vec::new();
        let mut cursor = Some(scope);
        while let Some(id) = cursor {
            let Some(found) = self.state.scope(id) else { break };
            chain.push(found);
            cursor = found.parent;
        }
        let mut merged = Variables::new();
        for found in chain.iter().rev() {
            merged.extend(found.variables.iter().map(|(name, value)| (name.clone(), value.clone())));
        }
        Cow::Owned(merged)
    }

    /// Camunda's `setVariable`: update the variable in the nearest scope that has it, otherwise
    /// create it on the process.
    fn set_variables(&mut self, scope: TokenId, variables: Variables) {
        for (name, value) in variables {
            let mut target = ROOT_SCOPE;
            let mut cursor = Some(scope);
            while let Some(id) = cursor {
                let Some(found) = self.state.scope(id) else { break };
                if found.variables.contains_key(&name) {
                    target = id;
                    break;
                }
                cursor = found.parent;
            }
            let Some(position) = self.state.scopes.iter().position(|s| s.id == target) else { continue };
            let previous = self.state.scopes[position].variables.insert(name.clone(), value.clone());
            if previous.as_ref() != Some(&value) {
                self.events.push(Event::VariableSet { scope: target, name, value, previous });
            }
        }
    }

    /// A token arrives at its element: the common part (async-before, boundary events,
    /// multi-instance), then the element kind's own processor.
    fn enter(&mut self, token: TokenId) -> Result<(), String> {
        let model = self.model();
        let index = self.element_index(token);
        let element = &model.elements[index];
        let scope = self.token_mut(token).scope;
        if !self.is_item_scope(scope) {
            if element.async_before && !self.resumed.contains(&(token, false)) {
                self.open_wait(token, index, WaitTrigger::Continue { after: false });
                return Ok(());
            }
            self.open_boundary_waits(token, index, scope)?;
            if element.multi_instance.is_some() {
                return self.start_multi_instance(token, index, scope);
            }
        }
        let at = Arrival { token, index, scope };
        match &element.kind {
            ElementKind::StartEvent { .. } | ElementKind::PassThrough { .. } | ElementKind::BoundaryEvent { .. } => {
                self.queue.push_back(Step::Leave(token));
                Ok(())
            }
            ElementKind::ThrowEvent { trigger } => self.enter_throw_event(at, trigger),
            ElementKind::EndEvent { trigger } => {
                self.enter_end_event(at, trigger);
                Ok(())
            }
            ElementKind::CatchEvent { trigger } => {
                let wait = self.wait_trigger(trigger, scope)?;
                self.wait_at(at, wait);
                Ok(())
            }
            ElementKind::ReceiveTask { message } => {
                self.wait_at(at, WaitTrigger::Message { name: message.clone() });
                Ok(())
            }
            ElementKind::EventBasedGateway => self.enter_event_based_gateway(at),
            ElementKind::ExclusiveGateway => {
                let flow = self.choose_exclusive(index, scope)?;
                self.take_flows(token, &[flow]);
                Ok(())
            }
            ElementKind::ParallelGateway | ElementKind::InclusiveGateway => {
                self.enter_joining_gateway(at);
                Ok(())
            }
            ElementKind::UserTask(definition) => {
                let spec = self.task_spec(token, index, definition, scope)?;
                self.token_mut(token).state = TokenState::Waiting;
                self.events.push(Event::TaskCreated(spec));
                Ok(())
            }
            ElementKind::ExternalTask { topic, priority } => self.enter_external_task(at, topic, priority.as_ref()),
            ElementKind::ServiceTask { handler } => self.enter_service_task(at, handler),
            ElementKind::ScriptTask { script, result_variable } => {
                self.enter_script_task(at, script, result_variable.as_deref())
            }
            ElementKind::EventSubProcess => {
                Err(format!("event sub-process '{}' starts only by its start event", element.id))
            }
            ElementKind::CallActivity(call) => self.enter_call_activity(at, call),
            ElementKind::SubProcess => self.enter_sub_process(at),
        }
    }

    /// The token waits at its element for `wait`.
    fn wait_at(&mut self, at: Arrival, wait: WaitTrigger) {
        self.token_mut(at.token).state = TokenState::Waiting;
        self.open_wait(at.token, at.index, wait);
    }

    fn enter_throw_event(&mut self, at: Arrival, trigger: &Trigger) -> Result<(), String> {
        let Arrival { token, index, scope } = at;
        match trigger {
            Trigger::Link(name) => {
                let model = self.model();
                let target = model
                    .link_catch(model.elements[index].scope, name)
                    .ok_or_else(|| format!("no link catch event named '{name}' in this scope"))?;
                self.end_token(token, false);
                let caught = self.create_token(target, scope, None);
                self.queue.push_back(Step::Leave(caught));
            }
            Trigger::Escalation(Some(code)) => {
                if !self.throw_escalation(token, code) {
                    self.queue.push_back(Step::Leave(token));
                }
            }
            _ => {
                if let Trigger::Signal(name) = trigger {
                    self.events.push(Event::SignalThrown { name: name.clone() });
                }
                self.queue.push_back(Step::Leave(token));
            }
        }
        Ok(())
    }

    fn enter_end_event(&mut self, at: Arrival, trigger: &Trigger) {
        let Arrival { token, scope, .. } = at;
        match trigger {
            Trigger::Escalation(Some(code)) => {
                if !self.throw_escalation(token, code) {
                    self.end_token(token, false);
                    self.complete_scope_if_done(scope, false);
                }
            }
            Trigger::Error(Some(code)) => {
                if let Caught::Nowhere = self.throw_error(token, code, None) {
                    // Camunda: an error nobody catches ends the path like a none end event.
                    self.end_token(token, false);
                    self.complete_scope_if_done(scope, false);
                }
            }
            _ => {
                if let Trigger::Signal(name) = trigger {
                    self.events.push(Event::SignalThrown { name: name.clone() });
                }
                let terminate = matches!(trigger, Trigger::Terminate);
                self.end_token(token, false);
                if terminate {
                    self.cancel_scope_contents(scope);
                }
                self.complete_scope_if_done(scope, terminate);
            }
        }
    }

    /// Waits for whichever event after the gateway comes first.
    fn enter_event_based_gateway(&mut self, at: Arrival) -> Result<(), String> {
        let model = self.model();
        let mut waits = Vec::new();
        for &flow in &model.elements[at.index].outgoing {
            let target = model.flows[flow].target;
            let wait = match &model.elements[target].kind {
                ElementKind::CatchEvent { trigger } => self.wait_trigger(trigger, at.scope)?,
                ElementKind::ReceiveTask { message } => WaitTrigger::Message { name: message.clone() },
                _ => return Err(format!("'{}' cannot follow an event-based gateway", model.elements[target].id)),
            };
            waits.push((target, wait));
        }
        self.token_mut(at.token).state = TokenState::Waiting;
        for (target, wait) in waits {
            self.open_wait(at.token, target, wait);
        }
        Ok(())
    }

    /// A parallel or inclusive gateway: passes a single incoming flow through, else joins (a
    /// parallel join when every flow has arrived, an inclusive one in `fire_inclusive_joins`
    /// once no other token can arrive).
    fn enter_joining_gateway(&mut self, at: Arrival) {
        let element = &self.model().elements[at.index];
        if element.incoming.len() <= 1 {
            self.queue.push_back(Step::Leave(at.token));
            return;
        }
        self.token_mut(at.token).state = TokenState::Joining;
        if matches!(element.kind, ElementKind::ParallelGateway) {
            self.try_join(at.token, at.index, at.scope);
        }
    }

    fn enter_external_task(&mut self, at: Arrival, topic: &str, priority: Option<&Template>) -> Result<(), String> {
        let priority = match priority {
            None => 0,
            Some(template) => {
                let variables = self.visible_variables(at.scope);
                let text = self.runtime.scripting.eval_template(template, &variables)?.as_text();
                text.trim().parse().map_err(|_| format!("task priority '{text}' is not a whole number"))?
            }
        };
        self.token_mut(at.token).state = TokenState::Waiting;
        self.events.push(Event::ExternalTaskCreated {
            token: at.token,
            element_id: self.model().elements[at.index].id.clone(),
            topic: topic.to_string(),
            priority,
        });
        Ok(())
    }

    /// An inline handler: a pure function of the variables, committed with the step.
    fn enter_service_task(&mut self, at: Arrival, handler: &str) -> Result<(), String> {
        let variables = self.visible_variables(at.scope);
        let element_id = &self.model().elements[at.index].id;
        let call = ServiceCall { handler, element_id, variables: &variables };
        match self.runtime.services.call(&call) {
            Ok(output) => {
                check_variables(&output)?;
                self.set_variables(at.scope, output);
                self.queue.push_back(Step::Leave(at.token));
                Ok(())
            }
            Err(ServiceError::Failed(message)) => Err(message),
            Err(ServiceError::Bpmn { code, message }) => match self.throw_error(at.token, &code, message.as_deref()) {
                Caught::Nowhere => Err(format!("BPMN error '{code}' was not caught by any error boundary event")),
                _ => Ok(()),
            },
        }
    }

    fn enter_script_task(&mut self, at: Arrival, script: &Script, result_variable: Option<&str>) -> Result<(), String> {
        let variables = self.visible_variables(at.scope);
        let (mut changed, result) = self.runtime.scripting.run_script(script, &variables)?;
        if let Some(name) = result_variable {
            changed.insert(name.to_string(), result);
        }
        check_variables(&changed)?;
        self.set_variables(at.scope, changed);
        self.queue.push_back(Step::Leave(at.token));
        Ok(())
    }

    /// Waits for the called instance, with what to start it with evaluated now.
    fn enter_call_activity(&mut self, at: Arrival, call: &CallDefinition) -> Result<(), String> {
        let element_id = &self.model().elements[at.index].id;
        let variables = self.visible_variables(at.scope);
        let scripting = self.runtime.scripting;
        let key = scripting.eval_template(&call.called_element, &variables)?.as_text();
        if key.trim().is_empty() {
            return Err(format!("call activity '{element_id}': calledElement is empty"));
        }
        let (version, same_deployment) = match &call.binding {
            CallBinding::Latest => (None, false),
            CallBinding::Deployment => (None, true),
            CallBinding::Version(template) => {
                let text = scripting.eval_template(template, &variables)?.as_text();
                let version = text.trim().parse::<i64>().map_err(|_| {
                    format!("call activity '{element_id}': calledElementVersion '{text}' is not a number")
                })?;
                (Some(version), false)
            }
        };
        let business_key = match &call.business_key {
            None => CalledBusinessKey::None,
            Some(CallBusinessKey::Inherit) => CalledBusinessKey::Inherit,
            Some(CallBusinessKey::Expression(template)) => {
                CalledBusinessKey::Value(scripting.eval_template(template, &variables)?.as_text())
            }
        };
        let passed = apply_mappings(scripting, &call.inputs, &variables)?;
        drop(variables);
        self.wait_at(at, WaitTrigger::Call { key, version, same_deployment, business_key, variables: passed });
        Ok(())
    }

    fn enter_sub_process(&mut self, at: Arrival) -> Result<(), String> {
        let model = self.model();
        let start = model
            .start_events(Some(at.index))
            .next()
            .ok_or_else(|| format!("sub-process '{}' has no none start event", model.elements[at.index].id))?;
        self.open_event_sub_process_waits(at.token, Some(at.index))?;
        self.open_scope(at.token, at.scope, ScopeKind::Plain);
        let inner = self.create_token(start, at.token, None);
        self.queue.push_back(Step::Enter(inner));
        Ok(())
    }

    /// The scope a call activity's results go to, and the results: the called instance's
    /// variables mapped by the activity's `camunda:out`.
    fn call_outputs(&self, wait: &Wait, called: &Variables) -> Result<(TokenId, Variables), String> {
        let model = self.model();
        let token = self.state.token(wait.token).ok_or("the call activity has ended")?;
        let element = model.element(&token.element).ok_or("the call activity is not in this process version")?;
        let ElementKind::CallActivity(call) = &element.kind else {
            return Err(format!("'{}' is not a call activity", element.id));
        };
        Ok((token.scope, apply_mappings(self.runtime.scripting, &call.outputs, called)?))
    }

    /// A wait for a catch event's trigger, with timers evaluated now.
    fn wait_trigger(&self, trigger: &Trigger, scope: TokenId) -> Result<WaitTrigger, String> {
        Ok(match trigger {
            Trigger::Timer(definition) => {
                let variables = self.visible_variables(scope);
                let text = self.runtime.scripting.eval_template(&definition.text, &variables)?.as_text();
                let calendar = definition.workdays.then_some(self.runtime.calendar);
                let (due, cycle) = timer::schedule_on(definition.kind, &text, self.runtime.now, calendar)?;
                WaitTrigger::Timer { due, cycle }
            }
            Trigger::Message(name) => WaitTrigger::Message { name: name.clone() },
            Trigger::Signal(name) => WaitTrigger::Signal { name: name.clone() },
            other => return Err(format!("{other:?} cannot be waited for")),
        })
    }

    fn open_wait(&mut self, token: TokenId, element: ElementIndex, trigger: WaitTrigger) {
        let wait = Wait { id: self.next_id(), token, element: self.model().elements[element].id.clone(), trigger };
        self.state.waits.push(wait.clone());
        self.events.push(Event::WaitOpened(wait));
    }

    fn close_wait(&mut self, id: TokenId, fired: bool) {
        if let Some(position) = self.state.waits.iter().position(|wait| wait.id == id) {
            let wait = self.state.waits.remove(position);
            self.events.push(Event::WaitClosed { wait, fired });
        }
    }

    /// Subscribes an activity's timer, message and signal boundary events.
    fn open_boundary_waits(&mut self, token: TokenId, index: ElementIndex, scope: TokenId) -> Result<(), String> {
        let model = self.model();
        for &boundary in &model.elements[index].boundaries {
            if let ElementKind::BoundaryEvent { trigger, .. } = &model.elements[boundary].kind {
                if matches!(trigger, Trigger::Error(_) | Trigger::Escalation(_)) {
                    continue; // looked up when thrown
                }
                let wait = self.wait_trigger(trigger, scope)?;
                self.open_wait(token, boundary, wait);
            }
        }
        Ok(())
    }

    /// A wait fires.
    fn fire(&mut self, wait: Wait) {
        let model = self.model();
        let Some(target) = model.element_index(&wait.element) else { return };
        if let ElementKind::StartEvent { interrupting, .. } = model.elements[target].kind
            && let Some(sub_process) = model.elements[target].scope
        {
            // An event sub-process start; the wait's owner is the scope.
            if !interrupting && matches!(wait.trigger, WaitTrigger::Timer { .. }) {
                self.rearm_timer(&wait, target);
            }
            self.start_event_sub_process(wait.token, sub_process, target, interrupting, Some(wait.id));
            return;
        }
        let Some(token) = self.state.token(wait.token).cloned() else { return };
        match (&model.elements[target].kind, &wait.trigger) {
            (_, WaitTrigger::Continue { after }) => {
                self.close_wait(wait.id, true);
                self.resumed.insert((token.id, *after));
                self.queue.push_back(if *after { Step::Leave(token.id) } else { Step::Enter(token.id) });
            }
            (ElementKind::BoundaryEvent { interrupting, .. }, trigger) => {
                let repeats = !matches!(trigger, WaitTrigger::Timer { .. });
                if *interrupting {
                    self.close_wait(wait.id, true);
                    self.cancel_activity(token.id);
                } else if !repeats {
                    self.rearm_timer(&wait, target);
                }
                let event = self.create_token(target, token.scope, None);
                self.queue.push_back(Step::Leave(event));
            }
            _ if model.elements[target].id == token.element => {
                // A catch event, receive task or call activity.
                self.close_wait(wait.id, true);
                self.queue.push_back(Step::Leave(token.id));
            }
            _ => {
                // An event-based gateway: the first event wins, the others are withdrawn.
                self.close_wait(wait.id, true);
                let flow = model.elements[target].incoming.first().copied();
                self.end_token(token.id, false);
                let event = self.create_token(target, token.scope, flow);
                self.queue.push_back(Step::Leave(event));
            }
        }
    }

    /// A non-interrupting timer fired: its wait ends, and a cycle with repetitions left waits
    /// again for its next due time (computed from the previous due time, so it does not drift).
    fn rearm_timer(&mut self, wait: &Wait, target: ElementIndex) {
        self.close_wait(wait.id, true);
        if let WaitTrigger::Timer { due, cycle: Some(cycle) } = &wait.trigger
            && let Ok(Some((due, cycle))) = timer::next(cycle, *due, self.runtime.calendar)
        {
            self.open_wait(wait.token, target, WaitTrigger::Timer { due, cycle: Some(cycle) });
        }
    }

    /// `token` (a sub-process, event sub-process or multi-instance body) opens a scope of its
    /// own inside `parent` and waits in it.
    fn open_scope(&mut self, token: TokenId, parent: TokenId, kind: ScopeKind) {
        self.token_mut(token).state = TokenState::InScope;
        self.state.scopes.push(ScopeInstance {
            id: token,
            parent: Some(parent),
            activity: Some(token),
            variables: Variables::new(),
            kind,
        });
    }

    /// Ends an activity from outside (an interrupting boundary event), with everything inside it.
    fn cancel_activity(&mut self, token: TokenId) {
        if self.state.scope(token).is_some() {
            self.cancel_scope_contents(token);
            self.state.scopes.retain(|scope| scope.id != token);
        }
        self.end_token(token, true);
    }

    /// The innermost catcher of what `token` throws, walking outwards: `token`'s own activity
    /// (when `own` — errors of a task are caught on the task), then at each enclosing level the
    /// event sub-processes of the scope and the boundary events of the activity that opened it.
    /// A specific code wins over a catch-all at the same place.
    fn find_catch(&self, token: TokenId, own: bool, code: &str, escalation: bool) -> Option<Catcher> {
        let model = self.model();
        let matches = |trigger: &Trigger, wanted: Option<&str>| match trigger {
            Trigger::Error(caught) if !escalation => caught.as_deref() == wanted,
            Trigger::Escalation(caught) if escalation => caught.as_deref() == wanted,
            _ => false,
        };
        let boundary_of = |activity: TokenId| -> Option<ElementIndex> {
            let found = self.state.token(activity)?;
            if self.is_item_scope(found.scope) {
                return None; // a multi-instance item: boundaries belong to the body
            }
            let index = model.element_index(&found.element)?;
            let catches = |wanted: Option<&str>| {
                model.elements[index].boundaries.iter().copied().find(|&boundary| {
                    matches!(&model.elements[boundary].kind, ElementKind::BoundaryEvent { trigger, .. } if matches(trigger, wanted))
                })
            };
            catches(Some(code)).or_else(|| catches(None))
        };
        if own && let Some(boundary) = boundary_of(token) {
            return Some(Catcher::Boundary(token, boundary));
        }
        let mut current = token;
        loop {
            let scope = self.state.token(current)?.scope;
            let scope_instance = self.state.scope(scope)?;
            if scope_instance.kind == ScopeKind::Plain {
                let element = match scope_instance.activity {
                    None => None,
                    Some(activity) => Some(model.element_index(&self.state.token(activity)?.element)?),
                };
                let catches = |wanted: Option<&str>| {
                    model.event_sub_processes(element).find(|&(_, start)| {
                        matches!(&model.elements[start].kind, ElementKind::StartEvent { trigger, .. } if matches(trigger, wanted))
                    })
                };
                if let Some((sub_process, start)) = catches(Some(code)).or_else(|| catches(None)) {
                    return Some(Catcher::EventSubProcess { scope, sub_process, start });
                }
            }
            let activity = scope_instance.activity?;
            if let Some(boundary) = boundary_of(activity) {
                return Some(Catcher::Boundary(activity, boundary));
            }
            current = activity;
        }
    }

    /// Throws a BPMN error from `token`: the catching boundary event interrupts its activity
    /// and the path continues there; a catching event sub-process interrupts its scope.
    fn throw_error(&mut self, token: TokenId, code: &str, message: Option<&str>) -> Caught {
        let model = self.model();
        match self.find_catch(token, true, code, false) {
            None => Caught::Nowhere,
            Some(Catcher::EventSubProcess { scope, sub_process, start }) => {
                self.start_event_sub_process(scope, sub_process, start, true, None);
                Caught::Boundary
            }
            Some(Catcher::Boundary(activity, boundary)) => {
                let scope = self.token_mut(activity).scope;
                if let ElementKind::BoundaryEvent { error_code_variable, error_message_variable, .. } =
                    &model.elements[boundary].kind
                {
                    let mut variables = Variables::new();
                    if let Some(name) = error_code_variable {
                        variables.insert(name.clone(), Value::String(code.to_string()));
                    }
                    if let Some(name) = error_message_variable {
                        variables
                            .insert(name.clone(), message.map(|m| Value::String(m.to_string())).unwrap_or(Value::Null));
                    }
                    self.set_variables(scope, variables);
                }
                self.cancel_activity(activity);
                let event = self.create_token(boundary, scope, None);
                self.queue.push_back(Step::Leave(event));
                Caught::Boundary
            }
        }
    }

    /// Throws an escalation from `token` (inside a sub-process): an interrupting catch ends the
    /// enclosing activity (or scope), a non-interrupting one starts its path alongside. Returns
    /// whether the throwing path was interrupted.
    fn throw_escalation(&mut self, token: TokenId, code: &str) -> bool {
        let model = self.model();
        match self.find_catch(token, false, code, true) {
            None => false,
            Some(Catcher::EventSubProcess { scope, sub_process, start }) => {
                let interrupting =
                    matches!(model.elements[start].kind, ElementKind::StartEvent { interrupting: true, .. });
                self.start_event_sub_process(scope, sub_process, start, interrupting, None);
                interrupting
            }
            Some(Catcher::Boundary(activity, boundary)) => {
                let scope = self.token_mut(activity).scope;
                let interrupting =
                    matches!(model.elements[boundary].kind, ElementKind::BoundaryEvent { interrupting: true, .. });
                if interrupting {
                    self.cancel_activity(activity);
                }
                let event = self.create_token(boundary, scope, None);
                self.queue.push_back(Step::Leave(event));
                interrupting
            }
        }
    }

    /// Subscribes the timer, message and signal starts of the event sub-processes directly in
    /// a scope that is starting (`scope` is its id, `element` its sub-process, `None` for the
    /// process). The waits are owned by the scope and end with it.
    fn open_event_sub_process_waits(&mut self, scope: TokenId, element: Option<ElementIndex>) -> Result<(), String> {
        let model = self.model();
        let mut waits = Vec::new();
        for (_, start) in model.event_sub_processes(element) {
            if let ElementKind::StartEvent {
                trigger: trigger @ (Trigger::Timer(_) | Trigger::Message(_) | Trigger::Signal(_)),
                ..
            } = &model.elements[start].kind
            {
                waits.push((start, self.wait_trigger(trigger, scope)?));
            }
        }
        for (start, wait) in waits {
            self.open_wait(scope, start, wait);
        }
        Ok(())
    }

    /// Starts an event sub-process in `scope`. An interrupting one first ends everything else
    /// in the scope, including the other event sub-processes' subscriptions. `fired` is the
    /// wait that triggered it, if any.
    fn start_event_sub_process(
        &mut self,
        scope: TokenId,
        sub_process: ElementIndex,
        start: ElementIndex,
        interrupting: bool,
        fired: Option<TokenId>,
    ) {
        let model = self.model();
        if interrupting {
            let subscriptions: Vec<TokenId> = self
                .state
                .waits
                .iter()
                .filter(|wait| {
                    wait.token == scope
                        && model.element(&wait.element).is_some_and(|element| {
                            matches!(element.kind, ElementKind::StartEvent { .. })
                                && element
                                    .scope
                                    .is_some_and(|s| matches!(model.elements[s].kind, ElementKind::EventSubProcess))
                        })
                })
                .map(|wait| wait.id)
                .collect();
            for wait in subscriptions {
                self.close_wait(wait, Some(wait) == fired);
            }
            self.cancel_scope_contents(scope);
        }
        let token = self.create_token(sub_process, scope, None);
        self.open_scope(token, scope, ScopeKind::Plain);
        if let Err(message) = self.open_event_sub_process_waits(token, Some(sub_process)) {
            self.incident(token, Phase::Enter, message);
            return;
        }
        let event = self.create_token(start, token, None);
        self.queue.push_back(Step::Leave(event));
    }

    /// Opens a multi-instance body for `token` and starts its first instance(s).
    fn start_multi_instance(&mut self, token: TokenId, index: ElementIndex, scope: TokenId) -> Result<(), String> {
        let model = self.model();
        let Some(definition) = model.elements[index].multi_instance.as_deref() else { return Ok(()) };
        let variables = self.visible_variables(scope);
        let scripting = self.runtime.scripting;
        let items: Option<Vec<Value>> = match &definition.collection {
            None => None,
            Some(collection) => match scripting.eval(collection, &variables)? {
                Value::Json(serde_json::Value::Array(items)) => Some(items.iter().map(Value::from_json).collect()),
                Value::Null => {
                    return Err(format!("the multi-instance collection '{}' is not set", collection.source));
                }
                other => {
                    return Err(format!(
                        "the multi-instance collection '{}' is a {}, not a list",
                        collection.source,
                        other.type_name()
                    ));
                }
            },
        };
        let total = match (&items, &definition.cardinality) {
            (Some(items), _) => items.len() as u32,
            (None, Some(cardinality)) => {
                let value = scripting.eval(cardinality, &variables)?;
                match value.as_text().trim().parse::<u32>() {
                    Ok(count) => count,
                    Err(_) => return Err(format!("loopCardinality '{}' is not a whole number ≥ 0", value.as_text())),
                }
            }
            (None, None) => 0,
        };
        drop(variables);
        let sequential = definition.sequential;
        self.open_scope(token, scope, ScopeKind::MultiInstanceBody { sequential, total, items, next: 0 });
        let active = if sequential { total.min(1) } else { total };
        self.set_local(
            token,
            [
                ("nrOfInstances", Value::Integer(total as i32)),
                ("nrOfCompletedInstances", Value::Integer(0)),
                ("nrOfActiveInstances", Value::Integer(active as i32)),
            ],
        );
        if total == 0 {
            self.finish_multi_instance(token);
            return Ok(());
        }
        for _ in 0..active {
            self.start_item(token, index);
        }
        Ok(())
    }

    /// Starts the next instance of a multi-instance body.
    fn start_item(&mut self, body: TokenId, index: ElementIndex) {
        let Some(position) = self.state.scopes.iter().position(|scope| scope.id == body) else { return };
        let ScopeKind::MultiInstanceBody { items, next, .. } = &mut self.state.scopes[position].kind else { return };
        let counter = *next;
        *next += 1;
        let item = items.as_ref().and_then(|items| items.get(counter as usize).cloned());
        let id = self.next_id();
        self.state.scopes.push(ScopeInstance {
            id,
            parent: Some(body),
            activity: Some(body),
            variables: Variables::new(),
            kind: ScopeKind::MultiInstanceItem,
        });
        let mut locals = vec![("loopCounter", Value::Integer(counter as i32))];
        let element_variable =
            self.model().elements[index].multi_instance.as_ref().and_then(|m| m.element_variable.as_deref());
        if let (Some(name), Some(item)) = (element_variable, item) {
            locals.push((name, item));
        }
        self.set_local(id, locals);
        let token = self.create_token(index, id, None);
        self.queue.push_back(Step::Enter(token));
    }

    /// Sets variables on one scope itself (not its parents).
    fn set_local<'n>(&mut self, scope: TokenId, variables: impl IntoIterator<Item = (&'n str, Value)>) {
        let Some(position) = self.state.scopes.iter().position(|s| s.id == scope) else { return };
        for (name, value) in variables {
            let previous = self.state.scopes[position].variables.insert(name.to_string(), value.clone());
            if previous.as_ref() != Some(&value) {
                self.events.push(Event::VariableSet { scope, name: name.to_string(), value, previous });
            }
        }
    }

    /// One instance of a multi-instance activity completed: count it, check the completion
    /// condition, and either finish the body or start the next instance.
    fn item_completed(&mut self, token: TokenId) -> Result<(), String> {
        let model = self.model();
        let item_scope = self.token_mut(token).scope;
        let index = self.element_index(token);
        let Some(body) = self.state.scope(item_scope).and_then(|scope| scope.parent) else {
            return Err("a multi-instance item has no body".into());
        };
        let counter = |run: &Self, name: &str| match run.state.scope(body).and_then(|s| s.variables.get(name)) {
            Some(Value::Integer(count)) => *count,
            _ => 0,
        };
        let completed = counter(self, "nrOfCompletedInstances") + 1;
        let active = counter(self, "nrOfActiveInstances") - 1;
        let total = counter(self, "nrOfInstances");
        self.set_local(
            body,
            [("nrOfCompletedInstances", Value::Integer(completed)), ("nrOfActiveInstances", Value::Integer(active))],
        );
        let condition =
            match model.elements[index].multi_instance.as_ref().and_then(|m| m.completion_condition.as_ref()) {
                None => false,
                Some(condition) => {
                    let variables = self.visible_variables(item_scope);
                    self.runtime.scripting.eval_condition(condition, &variables)?
                }
            };
        self.end_token(token, false);
        self.state.scopes.retain(|scope| scope.id != item_scope);
        let sequential = matches!(
            self.state.scope(body).map(|s| &s.kind),
            Some(ScopeKind::MultiInstanceBody { sequential: true, .. })
        );
        if condition || completed >= total {
            self.finish_multi_instance(body);
        } else if sequential {
            self.set_local(body, [("nrOfActiveInstances", Value::Integer(1))]);
            self.start_item(body, index);
        }
        Ok(())
    }

    /// Ends a multi-instance body (instances still running are canceled) and moves on.
    fn finish_multi_instance(&mut self, body: TokenId) {
        self.cancel_scope_contents(body);
        self.state.scopes.retain(|scope| scope.id != body);
        self.token_mut(body).state = TokenState::Waiting;
        self.queue.push_back(Step::Leave(body));
    }

    /// Takes the outgoing flows of an activity or event: every flow without a condition and every
    /// flow whose condition holds; the default flow only when nothing else was taken. Parallel
    /// gateways take all flows, conditions ignored (BPMN 2.0 §13.3.2).
    fn leave(&mut self, token: TokenId) -> Result<(), String> {
        let model = self.model();
        let index = self.element_index(token);
        let element = &model.elements[index];
        let scope = self.token_mut(token).scope;
        if self.is_item_scope(scope) && self.state.token(token).is_some_and(|t| t.element == element.id) {
            return self.item_completed(token);
        }
        if element.async_after && !self.resumed.contains(&(token, true)) {
            self.token_mut(token).state = TokenState::Waiting;
            self.open_wait(token, index, WaitTrigger::Continue { after: true });
            return Ok(());
        }
        if element.outgoing.is_empty() {
            // An activity without outgoing flows ends its token (implicit end event).
            self.end_token(token, false);
            self.complete_scope_if_done(scope, false);
            return Ok(());
        }
        let flows: Vec<FlowIndex> = if matches!(element.kind, ElementKind::ParallelGateway) {
            element.outgoing.clone()
        } else {
            let variables = self.visible_variables(scope);
            let mut taken = Vec::new();
            for &flow in element.outgoing.iter().filter(|&&flow| Some(flow) != element.default_flow) {
                match &model.flows[flow].condition {
                    None => taken.push(flow),
                    Some(condition) => {
                        if self.runtime.scripting.eval_condition(condition, &variables)? {
                            taken.push(flow);
                        }
                    }
                }
            }
            if taken.is_empty() {
                taken.extend(element.default_flow);
            }
            if taken.is_empty() {
                return Err(format!(
                    "no outgoing sequence flow of '{}' can be taken: every condition is false",
                    element.id
                ));
            }
            taken
        };
        self.take_flows(token, &flows);
        Ok(())
    }

    fn choose_exclusive(&mut self, index: ElementIndex, scope: TokenId) -> Result<FlowIndex, String> {
        let model = self.model();
        let element = &model.elements[index];
        let variables = self.visible_variables(scope);
        for &flow in element.outgoing.iter().filter(|&&flow| Some(flow) != element.default_flow) {
            let holds = match &model.flows[flow].condition {
                None => true,
                Some(condition) => self.runtime.scripting.eval_condition(condition, &variables)?,
            };
            if holds {
                return Ok(flow);
            }
        }
        element.default_flow.ok_or_else(|| {
            format!("exclusive gateway '{}': no condition is true and there is no default flow", element.id)
        })
    }

    /// Ends `token` at its element and starts one token per flow at the flows' targets.
    fn take_flows(&mut self, token: TokenId, flows: &[FlowIndex]) {
        let scope = self.token_mut(token).scope;
        self.end_token(token, false);
        for &flow in flows {
            let target = self.model().flows[flow].target;
            let next = self.create_token(target, scope, Some(flow));
            self.queue.push_back(Step::Enter(next));
        }
    }

    /// A parallel join fires when a token has arrived on every incoming flow; the arrivals are
    /// consumed one per flow (extra arrivals on one flow wait for the next round).
    fn try_join(&mut self, token: TokenId, index: ElementIndex, scope: TokenId) {
        let model = self.model();
        let element = &model.elements[index];
        let mut consumed = Vec::with_capacity(element.incoming.len());
        for &flow in &element.incoming {
            let flow_id = &model.flows[flow].id;
            let arrived = self.state.tokens.iter().find(|candidate| {
                candidate.scope == scope
                    && candidate.element == element.id
                    && candidate.state == TokenState::Joining
                    && candidate.arrived_by.as_deref() == Some(flow_id.as_str())
            });
            match arrived {
                Some(found) => consumed.push(found.id),
                None => return,
            }
        }
        for other in consumed.into_iter().filter(|&id| id != token) {
            self.end_token(other, false);
        }
        self.token_mut(token).state = TokenState::Waiting;
        self.queue.push_back(Step::Leave(token));
    }

    /// Fires every inclusive join that has waiting tokens and that no other token of its scope
    /// can still reach. Returns whether one fired.
    fn fire_inclusive_joins(&mut self) -> bool {
        let model = self.model();
        let joining: Vec<(TokenId, String, TokenId)> = self
            .state
            .tokens
            .iter()
            .filter(|token| token.state == TokenState::Joining)
            .filter(|token| {
                model.element(&token.element).is_some_and(|e| matches!(e.kind, ElementKind::InclusiveGateway))
            })
            .map(|token| (token.id, token.element.clone(), token.scope))
            .collect();
        for (token, element_id, scope) in joining {
            let Some(join) = model.element_index(&element_id) else { continue };
            let blocked = self.state.tokens.iter().any(|other| {
                other.scope == scope
                    && other.element != element_id
                    && model.element_index(&other.element).is_some_and(|from| self.reaches(from, join))
            });
            if blocked {
                continue;
            }
            let arrived: Vec<TokenId> = self
                .state
                .tokens
                .iter()
                .filter(|other| other.scope == scope && other.element == element_id && other.id != token)
                .map(|other| other.id)
                .collect();
            for other in arrived {
                self.end_token(other, false);
            }
            self.token_mut(token).state = TokenState::Waiting;
            self.queue.push_back(Step::Leave(token));
            return true;
        }
        false
    }

    /// Whether a token at `from` can still arrive at `to` (along sequence flows and boundary
    /// events, without passing through `to`).
    fn reaches(&self, from: ElementIndex, to: ElementIndex) -> bool {
        let model = self.model();
        let mut seen = vec![false; model.elements.len()];
        let mut stack = vec![from];
        while let Some(at) = stack.pop() {
            if std::mem::replace(&mut seen[at], true) {
                continue;
            }
            let element = &model.elements[at];
            let link = match &element.kind {
                ElementKind::ThrowEvent { trigger: Trigger::Link(name) } => model.link_catch(element.scope, name),
                _ => None,
            };
            let next = element
                .outgoing
                .iter()
                .map(|&flow| model.flows[flow].target)
                .chain(element.boundaries.iter().copied())
                .chain(link);
            for target in next {
                if target == to {
                    return true;
                }
                stack.push(target);
            }
        }
        false
    }

    fn task_spec(
        &self,
        token: TokenId,
        index: ElementIndex,
        definition: &UserTaskDefinition,
        scope: TokenId,
    ) -> Result<TaskSpec, String> {
        let element = &self.model().elements[index];
        let variables = self.visible_variables(scope);
        let scripting = self.runtime.scripting;
        let text = |template: &Option<Template>| -> Result<Option<String>, String> {
            match template {
                None => Ok(None),
                Some(template) => {
                    let value = scripting.eval_template(template, &variables)?;
                    Ok(Some(value.as_text()).filter(|text| !text.is_empty()))
                }
            }
        };
        let list = |template: &Option<Template>| -> Result<Vec<String>, String> {
            let Some(template) = template else { return Ok(Vec::new()) };
            let items = match scripting.eval_template(template, &variables)? {
                Value::Json(serde_json::Value::Array(items)) => {
                    items.iter().map(|item| Value::from_json(item).as_text()).collect::<Vec<_>>()
                }
                other => other.as_text().split(',').map(str::to_string).collect(),
            };
            Ok(items.into_iter().map(|item| item.trim().to_string()).filter(|item| !item.is_empty()).collect())
        };
        let priority = match text(&definition.priority)? {
            None => 50,
            Some(text) => text.parse().map_err(|_| format!("task priority '{text}' is not a whole number"))?,
        };
        Ok(TaskSpec {
            token,
            element_id: element.id.clone(),
            name: element.name.clone(),
            documentation: element.documentation.clone(),
            assignee: text(&definition.assignee)?,
            candidate_users: list(&definition.candidate_users)?,
            candidate_groups: list(&definition.candidate_groups)?,
            form_key: definition.form_key.clone(),
            due_date: text(&definition.due_date)?,
            follow_up_date: text(&definition.follow_up_date)?,
            priority,
        })
    }

    /// Closes the waits the process scope owns (its event sub-processes' subscriptions) when
    /// the instance ends.
    fn close_root_waits(&mut self) {
        let owned: Vec<TokenId> =
            self.state.waits.iter().filter(|wait| wait.token == ROOT_SCOPE).map(|wait| wait.id).collect();
        for wait in owned {
            self.close_wait(wait, false);
        }
    }

    /// Ends a token; the waits it owns end with it.
    fn end_token(&mut self, token: TokenId, canceled: bool) {
        let owned: Vec<TokenId> = self.state.waits.iter().filter(|wait| wait.token == token).map(|w| w.id).collect();
        for wait in owned {
            self.close_wait(wait, false);
        }
        if let Some(position) = self.state.tokens.iter().position(|t| t.id == token) {
            let removed = self.state.tokens.remove(position);
            self.events.push(Event::ActivityEnded { token, element_id: removed.element, canceled });
        }
    }

    /// Cancels every token in `scope`, each after everything inside the scope it opened (a
    /// sub-process or multi-instance body), then any nested scope no token owns (multi-instance
    /// items).
    fn cancel_scope_contents(&mut self, scope: TokenId) {
        let inside: Vec<TokenId> = self.state.tokens.iter().filter(|t| t.scope == scope).map(|t| t.id).collect();
        for token in inside {
            let opened: Vec<TokenId> = self
                .state
                .scopes
                .iter()
                .filter(|s| s.parent == Some(scope) && s.activity == Some(token))
                .map(|s| s.id)
                .collect();
            for child in opened {
                self.cancel_scope_contents(child);
                self.state.scopes.retain(|s| s.id != child);
            }
            self.end_token(token, true);
        }
        let rest: Vec<TokenId> = self.state.scopes.iter().filter(|s| s.parent == Some(scope)).map(|s| s.id).collect();
        for child in rest {
            self.cancel_scope_contents(child);
            self.state.scopes.retain(|s| s.id != child);
        }
    }

    /// When the last token of a scope has ended, the scope completes: the process ends, or the
    /// sub-process activity that opened it moves on.
    fn complete_scope_if_done(&mut self, scope: TokenId, terminated: bool) {
        if self.state.tokens.iter().any(|t| t.scope == scope) {
            return;
        }
        if scope == ROOT_SCOPE {
            let status = if terminated { InstanceStatus::Terminated } else { InstanceStatus::Completed };
            self.close_root_waits();
            self.state.status = status;
            self.events.push(Event::InstanceEnded { status });
            return;
        }
        let activity = self.state.scope(scope).and_then(|s| s.activity);
        self.state.scopes.retain(|s| s.id != scope);
        if let Some(activity) = activity {
            self.token_mut(activity).state = TokenState::Waiting;
            self.queue.push_back(Step::Leave(activity));
        }
    }
}
