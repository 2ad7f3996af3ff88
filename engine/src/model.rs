//! The executable model: what the parser produces and the runtime walks. The runtime never
//! looks at XML again (Zeebe's `Executable*` types play the same role).

use std::collections::HashMap;
use std::sync::Arc;

use crate::script::{Expression, Script, Template};
use crate::timer::TimerDefinition;

/// Index of an element in [`ProcessModel::elements`].
pub type ElementIndex = usize;
/// Index of a sequence flow in [`ProcessModel::flows`].
pub type FlowIndex = usize;

/// All executable processes of one BPMN file, plus the non-executable ones by id (they are
/// parsed and validated but cannot be started).
#[derive(Debug, Clone)]
pub struct Definitions {
    pub processes: Vec<Arc<ProcessModel>>,
}

/// One `bpmn:process`, flattened: elements of embedded sub-processes are in the same arena and
/// point at their container with [`Element::scope`].
#[derive(Debug)]
pub struct ProcessModel {
    pub id: String,
    pub name: Option<String>,
    pub is_executable: bool,
    /// `camunda:versionTag`, shown with the definition.
    pub version_tag: Option<String>,
    /// `camunda:historyTimeToLive`, kept for the wire.
    pub history_time_to_live: Option<String>,
    pub elements: Vec<Element>,
    pub flows: Vec<Flow>,
    /// `camunda:properties` of the process (name, value), in document order: settings the
    /// approval layer reads (`sy:withdraw`, …); the engine itself ignores them.
    pub properties: Vec<(String, String)>,
    /// `camunda:initiator` of the process's none start event: the variable that receives the
    /// starting user's id (set by the executor, which knows who starts).
    pub initiator: Option<String>,
    /// `camunda:candidateStarterGroups` / `camunda:candidateStarterUsers` of the process (comma
    /// separated): who may start it from the console. Both empty: any staff member.
    pub starter_groups: Vec<String>,
    pub starter_users: Vec<String>,
    /// The start form: `camunda:formData` of the none start event, in document order.
    pub start_form: Vec<FormField>,
    pub(crate) by_id: HashMap<String, ElementIndex>,
}

impl ProcessModel {
    pub fn element_index(&self, id: &str) -> Option<ElementIndex> {
        self.by_id.get(id).copied()
    }

    pub fn element(&self, id: &str) -> Option<&Element> {
        self.element_index(id).map(|index| &self.elements[index])
    }

    /// The none start events directly inside `scope` (`None` = the process itself).
    pub fn start_events(&self, scope: Option<ElementIndex>) -> impl Iterator<Item = ElementIndex> + '_ {
        self.elements
            .iter()
            .enumerate()
            .filter(move |(_, element)| {
                element.scope == scope && matches!(element.kind, ElementKind::StartEvent { trigger: Trigger::None, .. })
            })
            .map(|(index, _)| index)
    }

    /// The process-level start events with a trigger (timer, message, signal): what the
    /// executor subscribes to when a definition is deployed.
    pub fn triggered_start_events(&self) -> impl Iterator<Item = &Element> {
        self.elements.iter().filter(|element| {
            element.scope.is_none()
                && matches!(&element.kind, ElementKind::StartEvent { trigger, .. } if !matches!(trigger, Trigger::None))
        })
    }

    /// The link catch event named `name` in `scope`, where a link throw of that name jumps.
    pub fn link_catch(&self, scope: Option<ElementIndex>, name: &str) -> Option<ElementIndex> {
        self.elements.iter().position(|element| {
            element.scope == scope
                && matches!(&element.kind, ElementKind::CatchEvent { trigger: Trigger::Link(caught) } if caught == name)
        })
    }

    /// The event sub-processes directly inside `scope`, with their start events.
    pub fn event_sub_processes(
        &self,
        scope: Option<ElementIndex>,
    ) -> impl Iterator<Item = (ElementIndex, ElementIndex)> + '_ {
        self.elements
            .iter()
            .enumerate()
            .filter(move |(_, element)| element.scope == scope && matches!(element.kind, ElementKind::EventSubProcess))
            .filter_map(|(index, _)| {
                let start = self.elements.iter().position(|element| {
                    element.scope == Some(index) && matches!(element.kind, ElementKind::StartEvent { .. })
                })?;
                Some((index, start))
            })
    }

    /// User tasks in the model, in document order (for listings and the next issue's
    /// return-target computation).
    pub fn user_tasks(&self) -> impl Iterator<Item = &Element> {
        self.elements.iter().filter(|element| matches!(element.kind, ElementKind::UserTask(_)))
    }
}

#[derive(Debug)]
pub struct Element {
    pub id: String,
    pub name: Option<String>,
    pub documentation: Option<String>,
    pub kind: ElementKind,
    /// The embedded sub-process this element lives in; `None` for the process level.
    pub scope: Option<ElementIndex>,
    pub incoming: Vec<FlowIndex>,
    pub outgoing: Vec<FlowIndex>,
    /// The `default` flow of a gateway or activity.
    pub default_flow: Option<FlowIndex>,
    /// Boundary events attached to this activity.
    pub boundaries: Vec<ElementIndex>,
    /// `multiInstanceLoopCharacteristics` of an activity.
    pub multi_instance: Option<Box<MultiInstance>>,
    /// `camunda:asyncBefore` / `camunda:asyncAfter`: commit and continue in a job.
    pub async_before: bool,
    pub async_after: bool,
    /// `camunda:failedJobRetryTimeCycle` (`R3/PT5M`): how a failing job of this element retries.
    pub retry_cycle: Option<String>,
    /// `camunda:properties` of the element (name, value), in document order: settings the
    /// approval layer reads (`sy:reject` on a user task, `sy:timeout` on a timer boundary, …);
    /// the engine itself ignores them.
    pub properties: Vec<(String, String)>,
}

impl Element {
    /// The value of a `camunda:property` of this element.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// What an event waits for or throws. Error codes and message / signal names are resolved from
/// their `bpmn:error` / `bpmn:message` / `bpmn:signal` definitions at parse time.
#[derive(Debug, Clone)]
pub enum Trigger {
    None,
    Terminate,
    Timer(TimerDefinition),
    Message(String),
    Signal(String),
    /// An error code; `None` catches every error (only valid on catching events).
    Error(Option<String>),
    /// An escalation code; `None` catches every escalation.
    Escalation(Option<String>),
    /// A link name: a throw jumps to the catch of the same name in the same scope.
    Link(String),
}

/// Multi-instance characteristics (会签 / 或签 / 依次审批 are built on them).
#[derive(Debug)]
pub struct MultiInstance {
    pub sequential: bool,
    /// `bpmn:loopCardinality`: how many instances when there is no collection.
    pub cardinality: Option<Arc<Expression>>,
    /// `camunda:collection`: a variable name or an expression giving a list.
    pub collection: Option<Arc<Expression>>,
    /// `camunda:elementVariable`: the local variable holding each instance's item.
    pub element_variable: Option<String>,
    /// `bpmn:completionCondition`, evaluated after each instance completes.
    pub completion_condition: Option<Arc<Expression>>,
}

#[derive(Debug)]
pub enum ElementKind {
    StartEvent {
        trigger: Trigger,
        /// `isInterrupting` (a start event of an event sub-process; default true).
        interrupting: bool,
    },
    EndEvent {
        trigger: Trigger,
    },
    /// An intermediate catch event (timer, message, signal).
    CatchEvent {
        trigger: Trigger,
    },
    /// An intermediate throw event (none or signal).
    ThrowEvent {
        trigger: Trigger,
    },
    BoundaryEvent {
        attached_to: ElementIndex,
        /// `cancelActivity`: an interrupting event ends the activity.
        interrupting: bool,
        trigger: Trigger,
        /// `camunda:errorCodeVariable` / `camunda:errorMessageVariable` of an error boundary.
        error_code_variable: Option<String>,
        error_message_variable: Option<String>,
    },
    ExclusiveGateway,
    ParallelGateway,
    InclusiveGateway,
    EventBasedGateway,
    ReceiveTask {
        message: String,
    },
    /// `camunda:type="external"`: a worker fetches it by topic (`/engine-rest/external-task`).
    ExternalTask {
        topic: String,
        priority: Option<Template>,
    },
    UserTask(Box<UserTaskDefinition>),
    ServiceTask {
        handler: String,
    },
    ScriptTask {
        script: Arc<Script>,
        result_variable: Option<String>,
    },
    /// `bpmn:task` and `bpmn:manualTask`: pass straight through.
    PassThrough {
        manual: bool,
    },
    SubProcess,
    /// `subProcess triggeredByEvent="true"`: started by its start event's trigger while its
    /// enclosing scope runs.
    EventSubProcess,
    /// A call activity: starts an instance of another process and waits for it.
    CallActivity(Box<CallDefinition>),
}

/// `bpmn:callActivity` with Camunda's attributes and `camunda:in` / `camunda:out` mappings.
#[derive(Debug)]
pub struct CallDefinition {
    /// `calledElement`: the process key (may be an expression).
    pub called_element: Template,
    pub binding: CallBinding,
    pub inputs: Vec<Mapping>,
    pub outputs: Vec<Mapping>,
    /// `camunda:in businessKey="…"`.
    pub business_key: Option<CallBusinessKey>,
}

#[derive(Debug)]
pub enum CallBinding {
    /// The latest version (Camunda's default).
    Latest,
    /// `calledElementBinding="version"` with `calledElementVersion`.
    Version(Template),
    /// The version deployed with the calling process.
    Deployment,
}

#[derive(Debug)]
pub enum CallBusinessKey {
    /// `#{execution.processBusinessKey}`: the caller's own business key.
    Inherit,
    Expression(Template),
}

/// One `camunda:in` / `camunda:out`.
#[derive(Debug)]
pub enum Mapping {
    /// `variables="all"`: every variable.
    All,
    /// `source="a" target="b"`.
    Variable { source: String, target: String },
    /// `sourceExpression="${…}" target="b"`.
    Expression { source: Arc<Expression>, target: String },
}

impl ElementKind {
    /// Camunda's activity type names, as the history API reports them.
    pub fn camunda_type(&self) -> &'static str {
        match self {
            ElementKind::StartEvent { trigger, .. } => match trigger {
                Trigger::Timer(_) => "startTimerEvent",
                Trigger::Message(_) => "messageStartEvent",
                Trigger::Signal(_) => "signalStartEvent",
                Trigger::Error(_) => "errorStartEvent",
                _ => "startEvent",
            },
            ElementKind::EndEvent { trigger } => match trigger {
                Trigger::Terminate => "terminateEndEvent",
                Trigger::Error(_) => "errorEndEvent",
                Trigger::Escalation(_) => "escalationEndEvent",
                Trigger::Signal(_) => "signalEndEvent",
                _ => "noneEndEvent",
            },
            ElementKind::CatchEvent { trigger } => match trigger {
                Trigger::Timer(_) => "intermediateTimer",
                Trigger::Signal(_) => "intermediateSignalCatch",
                Trigger::Link(_) => "intermediateLinkCatch",
                _ => "intermediateMessageCatch",
            },
            ElementKind::ThrowEvent { trigger } => match trigger {
                Trigger::Signal(_) => "intermediateSignalThrow",
                Trigger::Escalation(_) => "intermediateEscalationThrowEvent",
                Trigger::Link(_) => "intermediateLinkThrowEvent",
                _ => "intermediateNoneThrowEvent",
            },
            ElementKind::BoundaryEvent { trigger, .. } => match trigger {
                Trigger::Timer(_) => "boundaryTimer",
                Trigger::Message(_) => "boundaryMessage",
                Trigger::Signal(_) => "boundarySignal",
                Trigger::Escalation(_) => "boundaryEscalation",
                _ => "boundaryError",
            },
            ElementKind::ExclusiveGateway => "exclusiveGateway",
            ElementKind::ParallelGateway => "parallelGateway",
            ElementKind::InclusiveGateway => "inclusiveGateway",
            ElementKind::EventBasedGateway => "eventBasedGateway",
            ElementKind::ReceiveTask { .. } => "receiveTask",
            ElementKind::ExternalTask { .. } => "serviceTask",
            ElementKind::UserTask(_) => "userTask",
            ElementKind::ServiceTask { .. } => "serviceTask",
            ElementKind::ScriptTask { .. } => "scriptTask",
            ElementKind::PassThrough { manual: true } => "manualTask",
            ElementKind::PassThrough { manual: false } => "task",
            ElementKind::SubProcess | ElementKind::EventSubProcess => "subProcess",
            ElementKind::CallActivity(_) => "callActivity",
        }
    }
}

/// A field of a `camunda:formData` form (Camunda 7's generated forms): what the console's start
/// page asks for and checks before the instance starts.
#[derive(Debug, Clone, PartialEq)]
pub struct FormField {
    pub id: String,
    pub label: Option<String>,
    pub kind: FormFieldKind,
    /// `defaultValue`, as written.
    pub default: Option<String>,
    /// `camunda:validation` constraints `required`, `readonly`, `minlength`, `maxlength`, `min`,
    /// `max` (others are problems when the model is checked).
    pub required: bool,
    pub readonly: bool,
    pub min_length: Option<u32>,
    pub max_length: Option<u32>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// The type of a [`FormField`]: Camunda's `string`, `long`, `boolean`, `date` and `enum`, plus
/// `district` (one of the city's districts: a select over the org's districts).
#[derive(Debug, Clone, PartialEq)]
pub enum FormFieldKind {
    String,
    Long,
    Boolean,
    /// `yyyy-MM-dd` (Camunda's `datePattern` is not supported: the browser's date input decides).
    Date,
    /// `camunda:value` children: (id, name).
    Enum(Vec<(String, String)>),
    District,
}

impl FormFieldKind {
    pub fn name(&self) -> &'static str {
        match self {
            FormFieldKind::String => "string",
            FormFieldKind::Long => "long",
            FormFieldKind::Boolean => "boolean",
            FormFieldKind::Date => "date",
            FormFieldKind::Enum(_) => "enum",
            FormFieldKind::District => "district",
        }
    }
}

/// A user task's Camunda attributes. Each may contain `${…}` expressions, evaluated when the
/// task is created.
#[derive(Debug, Default)]
pub struct UserTaskDefinition {
    pub assignee: Option<Template>,
    pub candidate_users: Option<Template>,
    pub candidate_groups: Option<Template>,
    pub due_date: Option<Template>,
    pub follow_up_date: Option<Template>,
    pub priority: Option<Template>,
    pub form_key: Option<String>,
}

impl ProcessModel {
    /// The value of a `camunda:property` of the process.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

#[derive(Debug)]
pub struct Flow {
    pub id: String,
    pub name: Option<String>,
    pub source: ElementIndex,
    pub target: ElementIndex,
    pub condition: Option<Arc<Expression>>,
}
