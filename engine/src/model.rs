//! The executable model: what the parser produces and the runtime walks. The runtime never
//! looks at XML again (Zeebe's `Executable*` types play the same role).

use std::collections::HashMap;
use std::sync::Arc;

use crate::script::{Expression, Script, Template};

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
            .filter(move |(_, element)| element.scope == scope && matches!(element.kind, ElementKind::StartEvent))
            .map(|(index, _)| index)
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
}

#[derive(Debug)]
pub enum ElementKind {
    StartEvent,
    EndEvent {
        terminate: bool,
    },
    ExclusiveGateway,
    ParallelGateway,
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
}

impl ElementKind {
    /// Camunda's activity type names, as the history API reports them.
    pub fn camunda_type(&self) -> &'static str {
        match self {
            ElementKind::StartEvent => "startEvent",
            ElementKind::EndEvent { terminate: false } => "noneEndEvent",
            ElementKind::EndEvent { terminate: true } => "terminateEndEvent",
            ElementKind::ExclusiveGateway => "exclusiveGateway",
            ElementKind::ParallelGateway => "parallelGateway",
            ElementKind::UserTask(_) => "userTask",
            ElementKind::ServiceTask { .. } => "serviceTask",
            ElementKind::ScriptTask { .. } => "scriptTask",
            ElementKind::PassThrough { manual: true } => "manualTask",
            ElementKind::PassThrough { manual: false } => "task",
            ElementKind::SubProcess => "subProcess",
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

#[derive(Debug)]
pub struct Flow {
    pub id: String,
    pub name: Option<String>,
    pub source: ElementIndex,
    pub target: ElementIndex,
    pub condition: Option<Arc<Expression>>,
}
