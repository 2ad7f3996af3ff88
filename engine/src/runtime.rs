//! The state machine: a command and the current state in, the new state and a list of events
//! out. One processor per element kind, each with explicit enter / leave steps.
//!
//! Nothing here does I/O. Service tasks call handlers through the [`ServiceHandlers`] port;
//! what the handlers return is applied like any other variable change.

use std::borrow::Cow;
use std::collections::VecDeque;

use crate::Error;
use crate::model::{ElementIndex, ElementKind, FlowIndex, ProcessModel, UserTaskDefinition};
use crate::ports::{ServiceCall, ServiceHandlers};
use crate::script::{Scripting, Template};
use crate::state::{InstanceState, InstanceStatus, Phase, ROOT_SCOPE, ScopeInstance, Token, TokenId, TokenState};
use crate::value::{Value, Variables};

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

/// Everything a command needs besides the state: the model and the ports.
#[derive(Clone, Copy)]
pub struct Runtime<'a> {
    pub model: &'a ProcessModel,
    pub scripting: &'a Scripting,
    pub services: &'a dyn ServiceHandlers,
}

enum Step {
    Enter(TokenId),
    Leave(TokenId),
}

impl<'a> Runtime<'a> {
    /// Starts an instance at the process's none start event.
    pub fn start(&self, variables: Variables) -> Result<(InstanceState, Vec<Event>), Error> {
        let start = self
            .model
            .start_events(None)
            .next()
            .ok_or_else(|| Error::InvalidCommand(format!("process '{}' has no none start event", self.model.id)))?;
        let mut state = InstanceState {
            status: InstanceStatus::Active,
            next_id: ROOT_SCOPE + 1,
            scopes: vec![ScopeInstance { id: ROOT_SCOPE, parent: None, activity: None, variables: Variables::new() }],
            tokens: Vec::new(),
        };
        let mut run = Run::new(self, &mut state);
        run.set_variables(ROOT_SCOPE, variables);
        let token = run.create_token(start, ROOT_SCOPE, None);
        run.queue.push_back(Step::Enter(token));
        run.drain();
        let events = run.events;
        Ok((state, events))
    }

    /// Completes a waiting user task, writing `variables` to the process first.
    pub fn complete_task(
        &self,
        state: &mut InstanceState,
        token: TokenId,
        variables: Variables,
    ) -> Result<Vec<Event>, Error> {
        ensure_active(state)?;
        let current = state.token(token).ok_or(Error::NotFound(format!("no active task with id {token}")))?;
        let element = self.element_of(current)?;
        if !matches!(self.model.elements[element].kind, ElementKind::UserTask(_))
            || current.state != TokenState::Waiting
        {
            return Err(Error::InvalidCommand(format!("element instance {token} is not a waiting user task")));
        }
        let mut run = Run::new(self, state);
        run.set_variables(ROOT_SCOPE, variables);
        run.queue.push_back(Step::Leave(token));
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
        run.state.status = InstanceStatus::Canceled;
        run.events.push(Event::InstanceEnded { status: InstanceStatus::Canceled });
        Ok(run.events)
    }

    fn element_of(&self, token: &Token) -> Result<ElementIndex, Error> {
        self.model
            .element_index(&token.element)
            .ok_or_else(|| Error::InvalidCommand(format!("element '{}' is not in this process version", token.element)))
    }
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
}

impl<'r, 'a> Run<'r, 'a> {
    fn new(runtime: &'r Runtime<'a>, state: &'r mut InstanceState) -> Self {
        Run { runtime, state, queue: VecDeque::new(), events: Vec::new() }
    }

    fn model(&self) -> &'a ProcessModel {
        self.runtime.model
    }

    fn drain(&mut self) {
        let mut steps = 0;
        while let Some(step) = self.queue.pop_front() {
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
        let parent = self.state.scope(scope).and_then(|scope| scope.activity);
        self.events.push(Event::ActivityStarted {
            token: id,
            parent,
            element_id: definition.id.clone(),
            element_type: definition.kind.camunda_type(),
            name: definition.name.clone(),
        });
        id
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

    fn enter(&mut self, token: TokenId) -> Result<(), String> {
        let model = self.model();
        let index = self.element_index(token);
        let element = &model.elements[index];
        let scope = self.token_mut(token).scope;
        match &element.kind {
            ElementKind::StartEvent | ElementKind::PassThrough { .. } => self.queue.push_back(Step::Leave(token)),
            ElementKind::EndEvent { terminate } => {
                self.end_token(token, false);
                if *terminate {
                    self.cancel_scope_contents(scope);
                }
                self.complete_scope_if_done(scope, *terminate);
            }
            ElementKind::ExclusiveGateway => {
                let flow = self.choose_exclusive(index, scope)?;
                self.take_flows(token, &[flow]);
            }
            ElementKind::ParallelGateway => {
                if element.incoming.len() <= 1 {
                    self.queue.push_back(Step::Leave(token));
                } else {
                    self.token_mut(token).state = TokenState::Joining;
                    self.try_join(token, index, scope);
                }
            }
            ElementKind::UserTask(definition) => {
                let spec = self.task_spec(token, index, definition, scope)?;
                self.token_mut(token).state = TokenState::Waiting;
                self.events.push(Event::TaskCreated(spec));
            }
            ElementKind::ServiceTask { handler } => {
                let variables = self.visible_variables(scope);
                let call = ServiceCall { handler, element_id: &element.id, variables: &variables };
                let output = self.runtime.services.call(&call)?;
                self.set_variables(scope, output);
                self.queue.push_back(Step::Leave(token));
            }
            ElementKind::ScriptTask { script, result_variable } => {
                let variables = self.visible_variables(scope);
                let (mut changed, result) = self.runtime.scripting.run_script(script, &variables)?;
                if let Some(name) = result_variable {
                    changed.insert(name.clone(), result);
                }
                self.set_variables(scope, changed);
                self.queue.push_back(Step::Leave(token));
            }
            ElementKind::SubProcess => {
                let start = model
                    .start_events(Some(index))
                    .next()
                    .ok_or_else(|| format!("sub-process '{}' has no none start event", element.id))?;
                self.token_mut(token).state = TokenState::InScope;
                self.state.scopes.push(ScopeInstance {
                    id: token,
                    parent: Some(scope),
                    activity: Some(token),
                    variables: Variables::new(),
                });
                let inner = self.create_token(start, token, None);
                self.queue.push_back(Step::Enter(inner));
            }
        }
        Ok(())
    }

    /// Takes the outgoing flows of an activity or event: every flow without a condition and every
    /// flow whose condition holds; the default flow only when nothing else was taken. Parallel
    /// gateways take all flows, conditions ignored (BPMN 2.0 §13.3.2).
    fn leave(&mut self, token: TokenId) -> Result<(), String> {
        let model = self.model();
        let index = self.element_index(token);
        let element = &model.elements[index];
        if element.outgoing.is_empty() {
            // An activity without outgoing flows ends its token (implicit end event).
            let scope = self.token_mut(token).scope;
            self.end_token(token, false);
            self.complete_scope_if_done(scope, false);
            return Ok(());
        }
        let flows: Vec<FlowIndex> = if matches!(element.kind, ElementKind::ParallelGateway) {
            element.outgoing.clone()
        } else {
            let scope = self.token_mut(token).scope;
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

    fn end_token(&mut self, token: TokenId, canceled: bool) {
        if let Some(position) = self.state.tokens.iter().position(|t| t.id == token) {
            let removed = self.state.tokens.remove(position);
            self.events.push(Event::ActivityEnded { token, element_id: removed.element, canceled });
        }
    }

    /// Cancels every token in `scope` and, recursively, in the scopes they opened.
    fn cancel_scope_contents(&mut self, scope: TokenId) {
        let inside: Vec<TokenId> = self.state.tokens.iter().filter(|t| t.scope == scope).map(|t| t.id).collect();
        for token in inside {
            if self.state.scope(token).is_some() {
                self.cancel_scope_contents(token);
                self.state.scopes.retain(|s| s.id != token);
            }
            self.end_token(token, true);
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
