//! The data-driven harness: BPMN text and a list of commands in, a transcript of compact event
//! lines and the final state out.
//!
//! Line formats (one per [`Event`], plus one `> …` line per command):
//!
//! ```text
//! > start n=Integer(3)              a command
//! start task1#3                     ActivityStarted (… " in #2" inside sub-process activation #2)
//! end task1#3                       ActivityEnded (… " canceled" when canceled)
//! task review#5 assignee=li         TaskCreated (only attributes that are set / not default)
//! var counter=Integer(10)           VariableSet on the process (… "@5" for another scope)
//! incident xor#4: message           IncidentCreated
//! resolved xor#4                    IncidentResolved
//! instance Completed                InstanceEnded
//! error NotFound("…")               a command refused with an `engine::Error`
//! wait t1 #6 by #5 timer +60000ms   WaitOpened (timers relative to the scenario clock)
//! unwait #6                         WaitClosed
//! external ext#5 topic=mail         ExternalTaskCreated
//! signal alarm                      SignalThrown
//! ```

use std::sync::Arc;

use engine::state::{Phase, TokenState, WaitTrigger};
use engine::{
    Error, Event, HandlerRegistry, InstanceState, ParseError, Parsed, ProcessModel, Runtime, Scripting, TaskSpec,
    TokenId, Value, Variables,
};

pub const BPMN_NS: &str = "http://www.omg.org/spec/BPMN/20100524/MODEL";
pub const CAMUNDA_NS: &str = "http://camunda.org/schema/1.0/bpmn";
pub const SY_NS: &str = "http://shuangyong.sh.gov.cn/schema/bpmn";

/// Wraps process contents in `bpmn:definitions` / an executable `bpmn:process id="p"`, with the
/// `bpmn`, `camunda`, `sy` and `xsi` prefixes bound.
pub fn bpmn(process_body: &str) -> String {
    definitions(&format!(r#"<bpmn:process id="p" isExecutable="true">{process_body}</bpmn:process>"#))
}

/// Wraps anything in `bpmn:definitions` with the usual prefixes bound.
pub fn definitions(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN_NS}" xmlns:camunda="{CAMUNDA_NS}" xmlns:sy="{SY_NS}"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://example.org/it">
{body}
</bpmn:definitions>"#
    )
}

/// `<bpmn:sequenceFlow>` elements from `"id: source -> target"` lines; `"id: a -> b if ${cond}"` adds a condition.
pub fn flows(spec: &str) -> String {
    let mut xml = String::new();
    for line in spec.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let (id, rest) = line.split_once(':').expect("flow spec: 'id: a -> b'");
        let (ends, condition) = match rest.split_once(" if ") {
            Some((ends, condition)) => (ends, Some(condition.trim())),
            None => (rest, None),
        };
        let (source, target) = ends.split_once("->").expect("flow spec: 'a -> b'");
        let (id, source, target) = (id.trim(), source.trim(), target.trim());
        match condition {
            None => xml.push_str(&format!(r#"<bpmn:sequenceFlow id="{id}" sourceRef="{source}" targetRef="{target}"/>"#)),
            Some(condition) => xml.push_str(&format!(
                r#"<bpmn:sequenceFlow id="{id}" sourceRef="{source}" targetRef="{target}"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{}</bpmn:conditionExpression></bpmn:sequenceFlow>"#,
                escape(condition)
            )),
        }
        xml.push('\n');
    }
    xml
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn vars(pairs: &[(&str, Value)]) -> Variables {
    pairs.iter().map(|(name, value)| (name.to_string(), value.clone())).collect()
}

pub fn int(value: i32) -> Value {
    Value::Integer(value)
}

pub fn text(value: &str) -> Value {
    Value::String(value.to_string())
}

pub fn boolean(value: bool) -> Value {
    Value::Boolean(value)
}

/// One command of a scenario. Tasks and incidents are named by element id (the one token at that
/// element in the state); [`Cmd::CompleteToken`] names a token id directly.
#[derive(Debug, Clone)]
pub enum Cmd {
    Start(Variables),
    Complete(&'static str, Variables),
    CompleteToken(TokenId, Variables),
    SetVariables(Variables, Vec<String>),
    Retry(&'static str),
    RetryToken(TokenId),
    Cancel,
    /// Fires the only wait at this element (a timer, message, signal or continuation).
    Fire(&'static str, Variables),
    CompleteExternal(&'static str, Variables),
    BpmnError(&'static str, &'static str),
    /// Moves the scenario clock forward by this many milliseconds.
    Advance(i64),
}

/// The scenario clock's start (2027-01-15T08:00:00Z, a Friday).
pub const NOW: i64 = 1_800_000_000_000;

pub fn fire(element: &'static str) -> Cmd {
    Cmd::Fire(element, Variables::new())
}

pub fn start(variables: Variables) -> Cmd {
    Cmd::Start(variables)
}

pub fn complete(element: &'static str, variables: Variables) -> Cmd {
    Cmd::Complete(element, variables)
}

/// The scripting engine and service handlers shared by every instance of a test.
pub struct Env {
    pub scripting: Scripting,
    pub handlers: HandlerRegistry,
}

impl Env {
    pub fn new() -> Env {
        Env::with_handlers(HandlerRegistry::new())
    }

    pub fn with_handlers(handlers: HandlerRegistry) -> Env {
        Env { scripting: Scripting::new(), handlers }
    }

    /// A runtime for `model` at time `now`, counting working days Monday to Friday.
    pub fn runtime<'a>(&'a self, model: &'a ProcessModel, now: i64) -> Runtime<'a> {
        Runtime { model, scripting: &self.scripting, services: &self.handlers, calendar: &engine::timer::WEEKDAYS, now }
    }

    pub fn parse(&self, xml: &str) -> Result<Parsed, ParseError> {
        engine::parse(xml, &self.scripting, &self.handlers)
    }

    /// Parses a file that must hold exactly one executable process.
    pub fn deploy(&self, xml: &str) -> Arc<ProcessModel> {
        let parsed = self.parse(xml).unwrap_or_else(|error| panic!("fixture does not parse: {error}"));
        assert_eq!(parsed.definitions.processes.len(), 1, "fixture must have one executable process");
        parsed.definitions.processes[0].clone()
    }

    /// Runs `commands` (the first must be [`Cmd::Start`]) and returns the transcript.
    pub fn run(&self, xml: &str, commands: &[Cmd]) -> Scenario {
        let mut scenario = Scenario { model: self.deploy(xml), state: None, log: Vec::new(), now: NOW };
        for command in commands {
            scenario.apply(self, command.clone());
        }
        scenario
    }
}

/// One instance, driven command by command.
pub struct Scenario {
    pub model: Arc<ProcessModel>,
    pub state: Option<InstanceState>,
    /// Every line so far.
    pub log: Vec<String>,
    /// The clock commands run at.
    pub now: i64,
}

impl Scenario {
    pub fn state(&self) -> &InstanceState {
        self.state.as_ref().expect("the instance was started")
    }

    /// Applies one command and returns the lines it produced (also appended to [`Scenario::log`]).
    pub fn apply(&mut self, env: &Env, command: Cmd) -> Vec<String> {
        if let Cmd::Advance(millis) = command {
            self.now += millis;
            let line = format!("> advance {millis}ms");
            self.log.push(line.clone());
            return vec![line];
        }
        let runtime = env.runtime(&self.model, self.now);
        let mut lines = vec![format!("> {}", render_command(&command, self.state.as_ref()))];
        let now = self.now;
        let result = match command {
            Cmd::Start(variables) => runtime.start(variables).map(|(state, events)| {
                self.state = Some(state);
                events
            }),
            other => {
                let state = self.state.as_mut().expect("the first command must be Start");
                match other {
                    Cmd::Start(_) => unreachable!(),
                    Cmd::Complete(element, variables) => {
                        let token = token_at(state, element);
                        runtime.complete_task(state, token, variables)
                    }
                    Cmd::CompleteToken(token, variables) => runtime.complete_task(state, token, variables),
                    Cmd::SetVariables(variables, deletions) => runtime.set_variables(state, variables, &deletions),
                    Cmd::Retry(element) => {
                        let token = token_at(state, element);
                        runtime.retry_incident(state, token)
                    }
                    Cmd::RetryToken(token) => runtime.retry_incident(state, token),
                    Cmd::Cancel => runtime.cancel(state),
                    Cmd::Fire(element, variables) => {
                        let wait = wait_at(state, element);
                        runtime.trigger(state, wait, variables)
                    }
                    Cmd::CompleteExternal(element, variables) => {
                        let token = token_at(state, element);
                        runtime.complete_external_task(state, token, variables)
                    }
                    Cmd::BpmnError(element, code) => {
                        let token = token_at(state, element);
                        runtime.external_task_error(state, token, code, None, Variables::new())
                    }
                    Cmd::Advance(_) => unreachable!(),
                }
            }
        };
        match result {
            Ok(events) => lines.extend(events.iter().map(|event| render_event_at(event, now))),
            Err(error) => lines.push(render_error(&error)),
        }
        self.log.extend(lines.iter().cloned());
        lines
    }

    /// The task specs created so far, in order.
    pub fn tasks(&self) -> Vec<String> {
        self.log.iter().filter(|line| line.starts_with("task ")).cloned().collect()
    }
}

/// The id of the only wait at `element` (0 when there is none).
fn wait_at(state: &InstanceState, element: &str) -> TokenId {
    let found: Vec<TokenId> = state.waits.iter().filter(|wait| wait.element == element).map(|wait| wait.id).collect();
    assert!(found.len() <= 1, "more than one wait at {element}: name the wait id instead");
    found.first().copied().unwrap_or(0)
}

/// The id of the only token at `element` (0 when there is none, which no token ever has).
fn token_at(state: &InstanceState, element: &str) -> TokenId {
    let found: Vec<TokenId> =
        state.tokens.iter().filter(|token| token.element == element).map(|token| token.id).collect();
    assert!(found.len() <= 1, "more than one token at {element}: name the token id instead");
    found.first().copied().unwrap_or(0)
}

fn render_command(command: &Cmd, state: Option<&InstanceState>) -> String {
    let variables =
        |variables: &Variables| variables.iter().map(|(name, value)| format!(" {name}={value:?}")).collect::<String>();
    let at = |element: &str| match state {
        Some(state) => format!("{element}#{}", token_at(state, element)),
        None => element.to_string(),
    };
    match command {
        Cmd::Start(v) => format!("start{}", variables(v)),
        Cmd::Complete(element, v) => format!("complete {}{}", at(element), variables(v)),
        Cmd::CompleteToken(token, v) => format!("complete #{token}{}", variables(v)),
        Cmd::SetVariables(v, deletions) => {
            format!("set{}{}", variables(v), deletions.iter().map(|name| format!(" -{name}")).collect::<String>())
        }
        Cmd::Retry(element) => format!("retry {}", at(element)),
        Cmd::RetryToken(token) => format!("retry #{token}"),
        Cmd::Cancel => "cancel".to_string(),
        Cmd::Fire(element, v) => format!("fire {element}{}", variables(v)),
        Cmd::CompleteExternal(element, v) => format!("complete external {}{}", at(element), variables(v)),
        Cmd::BpmnError(element, code) => format!("bpmn error {code} at {}", at(element)),
        Cmd::Advance(millis) => format!("advance {millis}ms"),
    }
}

pub fn render_error(error: &Error) -> String {
    format!("error {error:?}")
}

pub fn render_event_at(event: &Event, now: i64) -> String {
    match event {
        Event::WaitOpened(wait) => {
            let trigger = match &wait.trigger {
                WaitTrigger::Timer { due, .. } => format!("timer +{}ms", due - now),
                WaitTrigger::Message { name } => format!("message {name}"),
                WaitTrigger::Signal { name } => format!("signal {name}"),
                WaitTrigger::Continue { after: false } => "continue".to_string(),
                WaitTrigger::Continue { after: true } => "continue after".to_string(),
                WaitTrigger::Call { key, variables, .. } => format!("call {key} with {}", variables.len()),
            };
            format!("wait {} #{} by #{} {trigger}", wait.element, wait.id, wait.token)
        }
        Event::WaitClosed { wait, .. } => format!("unwait #{}", wait.id),
        Event::ExternalTaskCreated { token, element_id, topic, priority } => match priority {
            0 => format!("external {element_id}#{token} topic={topic}"),
            priority => format!("external {element_id}#{token} topic={topic} priority={priority}"),
        },
        Event::SignalThrown { name } => format!("signal {name}"),
        Event::ActivityStarted { token, parent, element_id, .. } => match parent {
            None => format!("start {element_id}#{token}"),
            Some(parent) => format!("start {element_id}#{token} in #{parent}"),
        },
        Event::ActivityEnded { token, element_id, canceled } => {
            format!("end {element_id}#{token}{}", if *canceled { " canceled" } else { "" })
        }
        Event::TaskCreated(spec) => render_task(spec),
        Event::VariableSet { scope, name, value, .. } => match scope {
            0 => format!("var {name}={value:?}"),
            scope => format!("var {name}@{scope}={value:?}"),
        },
        Event::IncidentCreated { token, element_id, message } => format!("incident {element_id}#{token}: {message}"),
        Event::IncidentResolved { token, element_id } => format!("resolved {element_id}#{token}"),
        Event::InstanceEnded { status } => format!("instance {status:?}"),
    }
}

fn render_task(spec: &TaskSpec) -> String {
    let mut line = format!("task {}#{}", spec.element_id, spec.token);
    if let Some(assignee) = &spec.assignee {
        line.push_str(&format!(" assignee={assignee}"));
    }
    if !spec.candidate_users.is_empty() {
        line.push_str(&format!(" users={}", spec.candidate_users.join(",")));
    }
    if !spec.candidate_groups.is_empty() {
        line.push_str(&format!(" groups={}", spec.candidate_groups.join(",")));
    }
    if spec.priority != 50 {
        line.push_str(&format!(" priority={}", spec.priority));
    }
    if let Some(form_key) = &spec.form_key {
        line.push_str(&format!(" form={form_key}"));
    }
    if let Some(due) = &spec.due_date {
        line.push_str(&format!(" due={due}"));
    }
    if let Some(follow_up) = &spec.follow_up_date {
        line.push_str(&format!(" followUp={follow_up}"));
    }
    line
}

/// The active tokens as `element#id State` lines, in token order.
pub fn tokens(state: &InstanceState) -> Vec<String> {
    let mut tokens: Vec<_> = state.tokens.iter().collect();
    tokens.sort_by_key(|token| token.id);
    tokens
        .iter()
        .map(|token| {
            let state = match &token.state {
                TokenState::Waiting => "Waiting".to_string(),
                TokenState::Joining => "Joining".to_string(),
                TokenState::InScope => "InScope".to_string(),
                TokenState::Incident { phase: Phase::Enter, .. } => "Incident(Enter)".to_string(),
                TokenState::Incident { phase: Phase::Leave, .. } => "Incident(Leave)".to_string(),
            };
            match token.scope {
                0 => format!("{}#{} {state}", token.element, token.id),
                scope => format!("{}#{} {state} in #{scope}", token.element, token.id),
            }
        })
        .collect()
}

/// Compares a transcript with the expected lines. An expected line ending in `*` matches any
/// line with that prefix (for messages that quote rhai's own error text).
#[track_caller]
pub fn assert_lines(actual: &[String], expected: &[&str]) {
    let matches = actual.len() == expected.len()
        && actual.iter().zip(expected).all(|(line, pattern)| match pattern.strip_suffix('*') {
            Some(prefix) => line.starts_with(prefix),
            None => line == pattern,
        });
    if !matches {
        panic!(
            "transcript differs\n--- expected\n{}\n--- actual\n{}\n",
            expected.join("\n"),
            actual.iter().map(|line| format!("\"{line}\",")).collect::<Vec<_>>().join("\n")
        );
    }
}
