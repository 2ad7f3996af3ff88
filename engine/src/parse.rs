//! BPMN 2.0 XML → validated [`ProcessModel`]s.
//!
//! Parse → validate → transform: the XML is read once into a small element tree (namespaces
//! resolved by URI, never by prefix), checked, and turned into the executable model. Diagram
//! interchange, documentation and foreign extensions are skipped. Executable elements we cannot
//! run are refused with their id and type — never run wrongly.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use quick_xml::events::Event as XmlEvent;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use crate::model::{
    CallBinding, CallBusinessKey, CallDefinition, Definitions, Element, ElementIndex, ElementKind, Flow, FormField,
    FormFieldKind, Mapping, MultiInstance, ProcessModel, Trigger, UserTaskDefinition,
};
use crate::ports::{ModelCheck, ServiceHandlers};
use crate::script::Scripting;
use crate::timer::{TimerDefinition, TimerKind};

pub const BPMN_NS: &str = "http://www.omg.org/spec/BPMN/20100524/MODEL";
pub const CAMUNDA_NS: &str = "http://camunda.org/schema/1.0/bpmn";
/// Our own namespace, only for what Camunda has no word for (e.g. `sy:handler`).
pub const SHUANGYONG_NS: &str = "http://shuangyong.sh.gov.cn/schema/bpmn";

/// One thing wrong with a model, pointing at the element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub element_id: Option<String>,
    pub element_type: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.element_id {
            Some(id) => write!(formatter, "{} '{}': {}", self.element_type, id, self.message),
            None => write!(formatter, "{}: {}", self.element_type, self.message),
        }
    }
}

/// Why a file cannot be deployed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the file is not well-formed XML: {0}")]
    Xml(String),
    #[error("the model cannot be deployed: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
}

/// A parsed file: the executable processes, the processes skipped because they are marked
/// `isExecutable="false"`, and warnings about things that are ignored.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub definitions: Definitions,
    pub skipped_processes: Vec<String>,
    pub warnings: Vec<Problem>,
}

/// Parses and validates a BPMN file. `services` is asked whether service-task handlers exist.
pub fn parse(xml: &str, scripting: &Scripting, services: &dyn ServiceHandlers) -> Result<Parsed, ParseError> {
    parse_checked(xml, scripting, services, &[])
}

/// The `id` and `name` of every `bpmn:process` of a file, with nothing else checked: the
/// editor's drafts are stored while they are still wrong (issue 12). Refuses only what is not
/// well-formed XML.
pub fn process_ids(xml: &str) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let root = read_tree(xml)?;
    Ok(root
        .children
        .iter()
        .filter(|node| node.is(BPMN_NS, "process"))
        .filter_map(|node| Some((node.attr("id")?.to_string(), node.attr("name").map(str::to_string))))
        .collect())
}

/// [`parse`], with the deploy checks of the layers above the engine (the approval rules' `sy:`
/// settings, say) run on every process: their problems refuse the file like the engine's own.
pub fn parse_checked(
    xml: &str,
    scripting: &Scripting,
    services: &dyn ServiceHandlers,
    checks: &[&dyn ModelCheck],
) -> Result<Parsed, ParseError> {
    let root = read_tree(xml)?;
    if !root.is(BPMN_NS, "definitions") {
        return Err(ParseError::Invalid(vec![Problem {
            element_id: None,
            element_type: root.name.clone(),
            message: "the root element must be bpmn:definitions".into(),
        }]));
    }
    // Root-level `bpmn:message` / `bpmn:signal` / `bpmn:error`: events name them by id.
    let mut names = HashMap::new();
    for node in &root.children {
        let (Some(id), attribute) = (
            node.attr("id"),
            match node.name.as_str() {
                "message" | "signal" => "name",
                "error" | "escalation" => "errorCode",
                _ => continue,
            },
        ) else {
            continue;
        };
        if node.ns.as_deref() == Some(BPMN_NS) {
            let name = node.attr(attribute).or(node.attr("name")).unwrap_or(id);
            names.insert((node.name.clone(), id.to_string()), name.to_string());
        }
    }
    let mut builder = Builder { scripting, services, checks, names, problems: Vec::new(), warnings: Vec::new() };
    let mut processes = Vec::new();
    let mut skipped_processes = Vec::new();
    for node in root.children.iter().filter(|node| node.is(BPMN_NS, "process")) {
        let id = node.attr("id").unwrap_or_default().to_string();
        match node.attr("isExecutable") {
            Some("false") => skipped_processes.push(id),
            _ => {
                if let Some(process) = builder.process(node) {
                    processes.push(Arc::new(process));
                }
            }
        }
    }
    if processes.is_empty() && builder.problems.is_empty() {
        builder.problems.push(Problem {
            element_id: None,
            element_type: "definitions".into(),
            message: "the file has no executable process (every process is marked isExecutable=\"false\")".into(),
        });
    }
    if !builder.problems.is_empty() {
        return Err(ParseError::Invalid(builder.problems));
    }
    Ok(Parsed { definitions: Definitions { processes }, skipped_processes, warnings: builder.warnings })
}

/// A node of the element tree: namespace URI, local name, attributes, children, text.
#[derive(Debug, Default)]
struct Node {
    ns: Option<String>,
    name: String,
    /// (namespace URI of the attribute, local name, value); unprefixed attributes have no namespace.
    attributes: Vec<(Option<String>, String, String)>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    fn is(&self, ns: &str, name: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.name == name
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(ns, local, _)| ns.is_none() && local == name).map(|(_, _, value)| value.as_str())
    }

    fn ns_attr(&self, ns: &str, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(attr_ns, local, _)| attr_ns.as_deref() == Some(ns) && local == name)
            .map(|(_, _, value)| value.as_str())
    }

    fn bpmn_children<'n>(&'n self, name: &'n str) -> impl Iterator<Item = &'n Node> + 'n {
        self.children.iter().filter(move |child| child.is(BPMN_NS, name))
    }
}

fn resolved_ns(result: ResolveResult<'_>) -> Option<String> {
    match result {
        ResolveResult::Bound(namespace) => Some(String::from_utf8_lossy(namespace.as_ref()).into_owned()),
        _ => None,
    }
}

/// How deeply elements may nest in a model. bpmn-js and Camunda Modeler files stay far below
/// this (a process inside sub-processes inside extension elements is some twenty levels); a
/// deeper file is refused before its tree could overflow the stack when it is walked or dropped.
pub const MAX_XML_DEPTH: usize = 256;

fn read_tree(xml: &str) -> Result<Node, ParseError> {
    let mut reader = NsReader::from_str(xml);
    let line_of = |position: u64| {
        xml.as_bytes()[..(position as usize).min(xml.len())].iter().filter(|&&b| b == b'\n').count() + 1
    };
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        let event = reader.read_resolved_event();
        let (namespace, event) = match event {
            Ok((namespace, event)) => (resolved_ns(namespace), event),
            Err(error) => {
                let position = reader.error_position();
                return Err(ParseError::Xml(format!("line {}: {error}", line_of(position))));
            }
        };
        match event {
            XmlEvent::Start(ref start) | XmlEvent::Empty(ref start) => {
                let empty = matches!(event, XmlEvent::Empty(_));
                let mut node = Node {
                    ns: namespace,
                    name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
                    ..Node::default()
                };
                for attribute in start.attributes() {
                    let attribute = attribute.map_err(|error| {
                        ParseError::Xml(format!("line {}: {error}", line_of(reader.buffer_position())))
                    })?;
                    let key = attribute.key;
                    if key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (attr_ns, local) = reader.resolver().resolve_attribute(key);
                    let value = attribute.unescape_value().map_err(|error| {
                        ParseError::Xml(format!("line {}: {error}", line_of(reader.buffer_position())))
                    })?;
                    node.attributes.push((
                        resolved_ns(attr_ns),
                        String::from_utf8_lossy(local.as_ref()).into_owned(),
                        value.into_owned(),
                    ));
                }
                if empty {
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(node);
                    }
                } else {
                    if stack.len() > MAX_XML_DEPTH {
                        return Err(ParseError::Xml(format!(
                            "line {}: elements are nested deeper than {MAX_XML_DEPTH} levels",
                            line_of(reader.buffer_position())
                        )));
                    }
                    stack.push(node);
                }
            }
            XmlEvent::End(_) => {
                let unbalanced =
                    || ParseError::Xml(format!("line {}: unbalanced end tag", line_of(reader.buffer_position())));
                let node = stack.pop().ok_or_else(unbalanced)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Err(unbalanced()),
                }
            }
            XmlEvent::Text(text) => {
                let decoded = text
                    .xml_content()
                    .map_err(|error| ParseError::Xml(format!("line {}: {error}", line_of(reader.buffer_position()))))?;
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&decoded);
                }
            }
            XmlEvent::CData(data) => {
                let decoded = data
                    .decode()
                    .map_err(|error| ParseError::Xml(format!("line {}: {error}", line_of(reader.buffer_position()))))?;
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&decoded);
                }
            }
            XmlEvent::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(character)) => character.to_string(),
                    Ok(None) => {
                        let name = reference.decode().map_err(|error| {
                            ParseError::Xml(format!("line {}: {error}", line_of(reader.buffer_position())))
                        })?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| {
                                ParseError::Xml(format!(
                                    "line {}: unknown entity &{name};",
                                    line_of(reader.buffer_position())
                                ))
                            })?
                            .to_string()
                    }
                    Err(error) => {
                        return Err(ParseError::Xml(format!("line {}: {error}", line_of(reader.buffer_position()))));
                    }
                };
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&resolved);
                }
            }
            XmlEvent::Eof => break,
            _ => {}
        }
    }
    let last_line = line_of(xml.len() as u64);
    if stack.len() != 1 {
        let open = stack.last().map(|node| node.name.as_str()).unwrap_or_default();
        return Err(ParseError::Xml(format!("line {last_line}: the document ended inside the element '{open}'")));
    }
    let document = stack.pop().unwrap_or_default();
    document
        .children
        .into_iter()
        .next()
        .ok_or_else(|| ParseError::Xml(format!("line {last_line}: the document has no root element")))
}

/// Flow-node elements we know but cannot execute yet, with the reason shown to the modeller.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("complexGateway", "complex gateways are not supported"),
    ("businessRuleTask", "business rule (DMN) tasks are not supported"),
    ("transaction", "transaction sub-processes are not supported"),
    ("adHocSubProcess", "ad-hoc sub-processes are not supported"),
    ("choreographyTask", "choreographies are not executable"),
];

/// Elements inside a process that carry no execution semantics we need.
const IGNORED: &[&str] = &[
    "documentation",
    "extensionElements",
    "laneSet",
    "dataObject",
    "dataObjectReference",
    "dataStoreReference",
    "textAnnotation",
    "association",
    "group",
    "ioSpecification",
    "property",
    "dataInputAssociation",
    "dataOutputAssociation",
    "incoming",
    "outgoing",
    "category",
    "auditing",
    "monitoring",
    "supports",
    "correlationSubscription",
    // Children of a sub-process that belong to the activity, not its contents (read with the
    // activity itself).
    "multiInstanceLoopCharacteristics",
    "standardLoopCharacteristics",
];

struct Builder<'a> {
    scripting: &'a Scripting,
    services: &'a dyn ServiceHandlers,
    checks: &'a [&'a dyn ModelCheck],
    /// (`message` | `signal` | `error`, id) → message / signal name or error code.
    names: HashMap<(String, String), String>,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

/// A flow read from XML before its ends are resolved to indices.
struct RawFlow<'n> {
    node: &'n Node,
    scope: Option<ElementIndex>,
}

impl Builder<'_> {
    fn problem(&mut self, node: &Node, message: impl Into<String>) {
        self.problems.push(Problem {
            element_id: node.attr("id").map(str::to_string),
            element_type: node.name.clone(),
            message: message.into(),
        });
    }

    fn warning(&mut self, node: &Node, message: impl Into<String>) {
        self.warnings.push(Problem {
            element_id: node.attr("id").map(str::to_string),
            element_type: node.name.clone(),
            message: message.into(),
        });
    }

    /// The `camunda:formData` fields of `node` (a start event). What the console cannot ask for
    /// as written is a warning, never a refusal (Camunda accepts custom types and validators, and
    /// a model deployed before start forms were read must keep loading): a field without an id
    /// or with an id used twice is left out, an unknown type or an enum without values is asked
    /// as text, an unknown constraint or one without a whole number is not enforced.
    fn form_fields(&mut self, node: &Node) -> Vec<FormField> {
        let mut fields: Vec<FormField> = Vec::new();
        let declared = node
            .bpmn_children("extensionElements")
            .flat_map(|ext| ext.children.iter())
            .filter(|child| child.is(CAMUNDA_NS, "formData"))
            .flat_map(|form| form.children.iter())
            .filter(|child| child.is(CAMUNDA_NS, "formField"));
        for field in declared {
            let Some(id) = field.attr("id").map(str::trim).filter(|id| !id.is_empty()) else {
                self.warning(node, "a form field without an id is left out of the start form");
                continue;
            };
            if fields.iter().any(|known| known.id == id) {
                self.warning(node, format!("form field '{id}' is declared twice; the second is left out"));
                continue;
            }
            let kind = match field.attr("type").unwrap_or("string") {
                "string" => FormFieldKind::String,
                "long" => FormFieldKind::Long,
                "boolean" => FormFieldKind::Boolean,
                "date" => FormFieldKind::Date,
                "district" => FormFieldKind::District,
                "enum" => {
                    let values: Vec<(String, String)> = field
                        .children
                        .iter()
                        .filter(|child| child.is(CAMUNDA_NS, "value"))
                        .filter_map(|value| {
                            let id = value.attr("id")?.to_string();
                            Some((id.clone(), value.attr("name").map(str::to_string).unwrap_or(id)))
                        })
                        .collect();
                    if values.is_empty() {
                        self.warning(node, format!("form field '{id}' is an enum without values; it is asked as text"));
                        FormFieldKind::String
                    } else {
                        FormFieldKind::Enum(values)
                    }
                }
                other => {
                    self.warning(
                        node,
                        format!(
                            "form field '{id}' has type '{other}', which the start page does not know (string, long, boolean, date, enum, district); it is asked as text"
                        ),
                    );
                    FormFieldKind::String
                }
            };
            let mut parsed = FormField {
                id: id.to_string(),
                label: field.attr("label").map(str::to_string).filter(|label| !label.trim().is_empty()),
                kind,
                default: field.attr("defaultValue").map(str::to_string),
                required: false,
                readonly: false,
                min_length: None,
                max_length: None,
                min: None,
                max: None,
            };
            let constraints = field
                .children
                .iter()
                .filter(|child| child.is(CAMUNDA_NS, "validation"))
                .flat_map(|validation| validation.children.iter())
                .filter(|child| child.is(CAMUNDA_NS, "constraint"));
            for constraint in constraints {
                let name = constraint.attr("name").unwrap_or_default();
                let config = constraint.attr("config").map(str::trim).unwrap_or_default();
                let number = || config.parse::<i64>().ok();
                let length = || config.parse::<u32>().ok();
                let understood = match name {
                    "required" => {
                        parsed.required = true;
                        true
                    }
                    "readonly" => {
                        parsed.readonly = true;
                        true
                    }
                    "minlength" => {
                        parsed.min_length = length();
                        parsed.min_length.is_some()
                    }
                    "maxlength" => {
                        parsed.max_length = length();
                        parsed.max_length.is_some()
                    }
                    "min" => {
                        parsed.min = number();
                        parsed.min.is_some()
                    }
                    "max" => {
                        parsed.max = number();
                        parsed.max.is_some()
                    }
                    other => {
                        self.warning(
                            node,
                            format!(
                                "form field '{id}' has constraint '{other}', which the start page does not check (required, readonly, minlength, maxlength, min, max)"
                            ),
                        );
                        true
                    }
                };
                if !understood {
                    self.warning(
                        node,
                        format!("form field '{id}': constraint '{name}' needs a whole number, not '{config}'; it is not checked"),
                    );
                }
            }
            fields.push(parsed);
        }
        fields
    }

    fn process(&mut self, node: &Node) -> Option<ProcessModel> {
        let problems_before = self.problems.len();
        let Some(id) = node.attr("id") else {
            self.problem(node, "a process needs an id");
            return None;
        };
        let mut model = ProcessModel {
            id: id.to_string(),
            name: node.attr("name").map(str::to_string),
            is_executable: true,
            version_tag: node.ns_attr(CAMUNDA_NS, "versionTag").map(str::to_string),
            history_time_to_live: node.ns_attr(CAMUNDA_NS, "historyTimeToLive").map(str::to_string),
            elements: Vec::new(),
            flows: Vec::new(),
            properties: camunda_properties(node),
            initiator: node
                .bpmn_children("startEvent")
                .find_map(|start| start.ns_attr(CAMUNDA_NS, "initiator"))
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_string),
            starter_groups: listed(node.ns_attr(CAMUNDA_NS, "candidateStarterGroups")),
            starter_users: listed(node.ns_attr(CAMUNDA_NS, "candidateStarterUsers")),
            start_form: Vec::new(),
            by_id: HashMap::new(),
        };
        if let Some(start) = node
            .bpmn_children("startEvent")
            .find(|start| start.children.iter().all(|child| !child.name.ends_with("EventDefinition")))
        {
            model.start_form = self.form_fields(start);
        }
        let mut raw_flows = Vec::new();
        let mut attachments = Vec::new();
        self.scope_contents(node, None, &mut model, &mut raw_flows, &mut attachments);
        self.attach_boundaries(&mut model, &attachments);
        let dropped_flows = self.resolve_flows(&mut model, raw_flows);
        self.check_structure(node, &mut model, &dropped_flows);
        for check in self.checks {
            self.problems.extend(check.check(&model));
        }
        (self.problems.len() == problems_before).then_some(model)
    }

    fn scope_contents<'n>(
        &mut self,
        container: &'n Node,
        scope: Option<ElementIndex>,
        model: &mut ProcessModel,
        flows: &mut Vec<RawFlow<'n>>,
        attachments: &mut Vec<(ElementIndex, &'n Node, &'n str)>,
    ) {
        for child in &container.children {
            if child.ns.as_deref() != Some(BPMN_NS) {
                continue; // foreign extension elements directly under a process
            }
            let name = child.name.as_str();
            if name == "sequenceFlow" {
                flows.push(RawFlow { node: child, scope });
                continue;
            }
            if IGNORED.contains(&name) {
                continue;
            }
            if let Some((_, reason)) = UNSUPPORTED.iter().find(|(unsupported, _)| *unsupported == name) {
                self.problem(child, *reason);
                continue;
            }
            let Some(kind) = self.element_kind(child) else { continue };
            let Some(id) = child.attr("id") else {
                self.problem(child, "the element has no id");
                continue;
            };
            if model.by_id.contains_key(id) {
                self.problem(child, "the id is used twice");
                continue;
            }
            let is_sub_process = matches!(kind, ElementKind::SubProcess | ElementKind::EventSubProcess);
            if child.bpmn_children("standardLoopCharacteristics").next().is_some() {
                self.problem(
                    child,
                    "standardLoopCharacteristics (while loops) are not supported: model the loop with a gateway",
                );
            }
            let multi_instance = match child.bpmn_children("multiInstanceLoopCharacteristics").next() {
                None => None,
                Some(loop_node) => match self.multi_instance(child, loop_node) {
                    Some(multi_instance) => Some(Box::new(multi_instance)),
                    None => continue,
                },
            };
            if child.children.iter().any(|c| c.ns.as_deref() == Some(CAMUNDA_NS))
                || child.bpmn_children("extensionElements").any(|ext| {
                    ext.children.iter().any(|c| {
                        c.is(CAMUNDA_NS, "executionListener")
                            || c.is(CAMUNDA_NS, "taskListener")
                            || c.is(CAMUNDA_NS, "inputOutput")
                    })
                })
            {
                self.warning(child, "camunda listeners and input/output mappings are ignored");
            }
            let flag = |name: &str| child.ns_attr(CAMUNDA_NS, name) == Some("true");
            let index = model.elements.len();
            model.by_id.insert(id.to_string(), index);
            model.elements.push(Element {
                id: id.to_string(),
                name: child.attr("name").map(str::to_string),
                documentation: child
                    .bpmn_children("documentation")
                    .next()
                    .map(|d| d.text.trim().to_string())
                    .filter(|d| !d.is_empty()),
                kind,
                scope,
                incoming: Vec::new(),
                outgoing: Vec::new(),
                default_flow: None,
                boundaries: Vec::new(),
                multi_instance,
                async_before: flag("asyncBefore") || flag("async"),
                async_after: flag("asyncAfter"),
                retry_cycle: child
                    .bpmn_children("extensionElements")
                    .flat_map(|ext| ext.children.iter())
                    .find(|c| c.is(CAMUNDA_NS, "failedJobRetryTimeCycle"))
                    .map(|c| c.text.trim().to_string())
                    .filter(|text| !text.is_empty()),
                properties: camunda_properties(child),
            });
            if let Some(target) = child.attr("attachedToRef") {
                attachments.push((index, child, target));
            }
            if is_sub_process {
                self.scope_contents(child, Some(index), model, flows, attachments);
            }
        }
    }

    fn element_kind(&mut self, node: &Node) -> Option<ElementKind> {
        Some(match node.name.as_str() {
            "startEvent" => {
                let trigger = self.trigger(node)?;
                let interrupting = node.attr("isInterrupting") != Some("false");
                match trigger {
                    Trigger::None
                    | Trigger::Timer(_)
                    | Trigger::Message(_)
                    | Trigger::Signal(_)
                    | Trigger::Error(_)
                    | Trigger::Escalation(_) => {}
                    _ => {
                        self.problem(node, "a start event can have no trigger, a timer, a message or a signal (and, in an event sub-process, an error or escalation)");
                        return None;
                    }
                }
                if matches!(trigger, Trigger::Error(_)) && !interrupting {
                    self.problem(node, "an error start event always interrupts (isInterrupting cannot be false)");
                    return None;
                }
                ElementKind::StartEvent { trigger, interrupting }
            }
            "endEvent" => {
                let trigger = self.trigger(node)?;
                match trigger {
                    Trigger::Error(None) => {
                        self.problem(node, "an error end event must name an error (errorRef) with an error code");
                        return None;
                    }
                    Trigger::Escalation(None) => {
                        self.problem(node, "an escalation end event must name an escalation (escalationRef)");
                        return None;
                    }
                    Trigger::Timer(_) | Trigger::Message(_) => {
                        self.problem(node, "message end events are not supported: use a service task");
                        return None;
                    }
                    _ => ElementKind::EndEvent { trigger },
                }
            }
            "intermediateCatchEvent" => {
                let trigger = self.trigger(node)?;
                if !matches!(trigger, Trigger::Timer(_) | Trigger::Message(_) | Trigger::Signal(_) | Trigger::Link(_)) {
                    self.problem(node, "an intermediate catch event needs a timer, message, signal or link definition");
                    return None;
                }
                ElementKind::CatchEvent { trigger }
            }
            "intermediateThrowEvent" => {
                let trigger = self.trigger(node)?;
                if !matches!(
                    trigger,
                    Trigger::None | Trigger::Signal(_) | Trigger::Link(_) | Trigger::Escalation(Some(_))
                ) {
                    self.problem(
                        node,
                        "an intermediate throw event can be none, signal, link or escalation (with escalationRef)",
                    );
                    return None;
                }
                ElementKind::ThrowEvent { trigger }
            }
            "boundaryEvent" => {
                let trigger = self.trigger(node)?;
                let interrupting = node.attr("cancelActivity") != Some("false");
                match trigger {
                    Trigger::Timer(_) | Trigger::Message(_) | Trigger::Signal(_) | Trigger::Escalation(_) => {}
                    Trigger::Error(_) if interrupting => {}
                    Trigger::Error(_) => {
                        self.problem(
                            node,
                            "an error boundary event always interrupts (cancelActivity cannot be false)",
                        );
                        return None;
                    }
                    _ => {
                        self.problem(
                            node,
                            "a boundary event needs a timer, message, signal, error or escalation definition",
                        );
                        return None;
                    }
                }
                ElementKind::BoundaryEvent {
                    attached_to: usize::MAX, // resolved in `attach_boundaries`
                    interrupting,
                    trigger,
                    error_code_variable: node.ns_attr(CAMUNDA_NS, "errorCodeVariable").map(str::to_string),
                    error_message_variable: node.ns_attr(CAMUNDA_NS, "errorMessageVariable").map(str::to_string),
                }
            }
            "exclusiveGateway" => ElementKind::ExclusiveGateway,
            "parallelGateway" => ElementKind::ParallelGateway,
            "inclusiveGateway" => ElementKind::InclusiveGateway,
            "eventBasedGateway" => ElementKind::EventBasedGateway,
            "task" => ElementKind::PassThrough { manual: false },
            "manualTask" => ElementKind::PassThrough { manual: true },
            "subProcess" if node.attr("triggeredByEvent") == Some("true") => ElementKind::EventSubProcess,
            "subProcess" => ElementKind::SubProcess,
            "callActivity" => ElementKind::CallActivity(Box::new(self.call_activity(node)?)),
            "userTask" => ElementKind::UserTask(Box::new(self.user_task(node)?)),
            // A send task is implemented like a service task in Camunda (a handler or a worker).
            "serviceTask" | "sendTask" if node.ns_attr(CAMUNDA_NS, "type") == Some("external") => {
                let Some(topic) = node.ns_attr(CAMUNDA_NS, "topic").map(str::trim).filter(|t| !t.is_empty()) else {
                    self.problem(node, "an external task needs camunda:topic");
                    return None;
                };
                let priority = match node.ns_attr(CAMUNDA_NS, "taskPriority") {
                    None => None,
                    Some(source) => Some(self.template(node, "taskPriority", source)?),
                };
                ElementKind::ExternalTask { topic: topic.to_string(), priority }
            }
            "serviceTask" | "sendTask" => ElementKind::ServiceTask { handler: self.service_handler(node)? },
            "receiveTask" => {
                let Some(message) = node.attr("messageRef").and_then(|id| self.name_of(node, "message", id)) else {
                    self.problem(node, "a receive task needs messageRef naming a bpmn:message");
                    return None;
                };
                ElementKind::ReceiveTask { message }
            }
            "scriptTask" => self.script_task(node)?,
            "lane" | "participant" | "messageFlow" => return None,
            other => {
                self.problem(node, format!("'{other}' is not a BPMN element this engine can execute"));
                return None;
            }
        })
    }

    fn call_activity(&mut self, node: &Node) -> Option<CallDefinition> {
        let Some(called) = node.attr("calledElement").map(str::trim).filter(|key| !key.is_empty()) else {
            let message = if node.ns_attr(CAMUNDA_NS, "caseRef").is_some() {
                "calling a CMMN case is not supported"
            } else {
                "a call activity needs calledElement (the key of the process to call)"
            };
            self.problem(node, message);
            return None;
        };
        let called_element = self.template(node, "calledElement", called)?;
        let binding = match node.ns_attr(CAMUNDA_NS, "calledElementBinding").unwrap_or("latest") {
            "latest" => CallBinding::Latest,
            "deployment" => CallBinding::Deployment,
            "version" => match node.ns_attr(CAMUNDA_NS, "calledElementVersion") {
                Some(version) => CallBinding::Version(self.template(node, "calledElementVersion", version)?),
                None => {
                    self.problem(node, "calledElementBinding=\"version\" needs camunda:calledElementVersion");
                    return None;
                }
            },
            other => {
                self.problem(
                    node,
                    format!("calledElementBinding '{other}' is not supported: use latest, deployment or version"),
                );
                return None;
            }
        };
        let mut call =
            CallDefinition { called_element, binding, inputs: Vec::new(), outputs: Vec::new(), business_key: None };
        let mappings = node.bpmn_children("extensionElements").flat_map(|ext| ext.children.iter());
        for mapping in mappings.filter(|c| c.is(CAMUNDA_NS, "in") || c.is(CAMUNDA_NS, "out")) {
            let input = mapping.name == "in";
            if input && let Some(key) = mapping.attr("businessKey") {
                call.business_key = Some(if key.contains("processBusinessKey") {
                    CallBusinessKey::Inherit
                } else {
                    CallBusinessKey::Expression(self.template(node, "camunda:in businessKey", key)?)
                });
                continue;
            }
            if mapping.attr("local") == Some("true") {
                self.warning(node, "camunda:in/out local=\"true\" is treated like local=\"false\"");
            }
            let target = mapping.attr("target").map(str::to_string);
            let parsed =
                match (mapping.attr("variables"), mapping.attr("source"), mapping.attr("sourceExpression"), target) {
                    (Some("all"), None, None, _) => Mapping::All,
                    (None, Some(source), None, Some(target)) => {
                        Mapping::Variable { source: source.to_string(), target }
                    }
                    (None, None, Some(expression), Some(target)) => match self.scripting.compile_expression(expression)
                    {
                        Ok(compiled) => Mapping::Expression { source: Arc::new(compiled), target },
                        Err(error) => {
                            self.problem(
                                node,
                                format!(
                                    "camunda:{} sourceExpression '{expression}' does not compile: {error}",
                                    mapping.name
                                ),
                            );
                            return None;
                        }
                    },
                    _ => {
                        self.problem(
                            node,
                            format!(
                                "camunda:{} needs variables=\"all\", or source / sourceExpression with target",
                                mapping.name
                            ),
                        );
                        return None;
                    }
                };
            if input { call.inputs.push(parsed) } else { call.outputs.push(parsed) }
        }
        Some(call)
    }

    /// The name or code a `messageRef` / `signalRef` / `errorRef` points at.
    fn name_of(&mut self, node: &Node, kind: &str, id: &str) -> Option<String> {
        let found = self.names.get(&(kind.to_string(), id.to_string())).cloned();
        if found.is_none() {
            self.problem(node, format!("{kind}Ref '{id}' names no bpmn:{kind} of this file"));
        }
        found
    }

    fn template(&mut self, node: &Node, what: &str, source: &str) -> Option<crate::script::Template> {
        match self.scripting.compile_template(source.trim()) {
            Ok(template) => Some(template),
            Err(error) => {
                self.problem(node, format!("{what} '{source}' is not a valid expression: {error}"));
                None
            }
        }
    }

    /// The event definition of an event element. `None` (the outer one) means a problem was
    /// reported.
    fn trigger(&mut self, node: &Node) -> Option<Trigger> {
        let definitions: Vec<&Node> = node
            .children
            .iter()
            .filter(|c| c.ns.as_deref() == Some(BPMN_NS) && c.name.ends_with("EventDefinition"))
            .collect();
        let definition = match definitions.as_slice() {
            [] => return Some(Trigger::None),
            [one] => *one,
            _ => {
                self.problem(node, "events with several event definitions (multiple / parallel) are not supported");
                return None;
            }
        };
        Some(match definition.name.as_str() {
            "terminateEventDefinition" => Trigger::Terminate,
            "timerEventDefinition" => {
                let parts: Vec<(TimerKind, &Node)> = [
                    ("timeDate", TimerKind::Date),
                    ("timeDuration", TimerKind::Duration),
                    ("timeCycle", TimerKind::Cycle),
                ]
                .into_iter()
                .flat_map(|(name, kind)| definition.bpmn_children(name).map(move |child| (kind, child)))
                .collect();
                let [(kind, text)] = parts.as_slice() else {
                    self.problem(node, "a timer needs exactly one of timeDate, timeDuration or timeCycle");
                    return None;
                };
                if text.text.trim().is_empty() {
                    self.problem(node, "the timer's time expression is empty");
                    return None;
                }
                let source = text.text.trim();
                let workdays = match camunda_properties(node)
                    .into_iter()
                    .find(|(name, _)| name == crate::timer::CALENDAR_PROPERTY)
                    .map(|(_, value)| value)
                {
                    None => false,
                    Some(value) if value == crate::timer::WORKDAYS => true,
                    Some(value) => {
                        self.problem(
                            node,
                            format!("the timer calendar '{value}' is not known: the one calendar is 'workdays'"),
                        );
                        return None;
                    }
                };
                if !source.contains("${") && !source.contains("#{") {
                    // A literal timer is checked now rather than failing when it is reached.
                    let calendar = workdays.then_some(&crate::timer::WEEKDAYS);
                    if let Err(error) = crate::timer::schedule_on(*kind, source, 0, calendar) {
                        self.problem(node, format!("the timer '{source}' is not valid: {error}"));
                        return None;
                    }
                }
                let template = self.template(node, "timer", source)?;
                Trigger::Timer(TimerDefinition { kind: *kind, text: Arc::new(template), workdays })
            }
            "messageEventDefinition" => match definition.attr("messageRef") {
                Some(id) => Trigger::Message(self.name_of(node, "message", id)?),
                None => {
                    self.problem(node, "the message event definition needs messageRef naming a bpmn:message");
                    return None;
                }
            },
            "signalEventDefinition" => match definition.attr("signalRef") {
                Some(id) => Trigger::Signal(self.name_of(node, "signal", id)?),
                None => {
                    self.problem(node, "the signal event definition needs signalRef naming a bpmn:signal");
                    return None;
                }
            },
            "errorEventDefinition" => match definition.attr("errorRef") {
                Some(id) => Trigger::Error(Some(self.name_of(node, "error", id)?)),
                None => Trigger::Error(None),
            },
            "escalationEventDefinition" => match definition.attr("escalationRef") {
                Some(id) => Trigger::Escalation(Some(self.name_of(node, "escalation", id)?)),
                None => Trigger::Escalation(None),
            },
            "linkEventDefinition" => match definition.attr("name").map(str::trim).filter(|name| !name.is_empty()) {
                Some(name) => Trigger::Link(name.to_string()),
                None => {
                    self.problem(node, "a link event needs a name");
                    return None;
                }
            },
            other => {
                let what = other.trim_end_matches("EventDefinition");
                self.problem(node, format!("{what} events are not supported"));
                return None;
            }
        })
    }

    fn multi_instance(&mut self, activity: &Node, node: &Node) -> Option<MultiInstance> {
        let mut expression = |what: &str, source: Option<&str>| -> Option<Option<Arc<crate::script::Expression>>> {
            let Some(source) = source.map(str::trim).filter(|source| !source.is_empty()) else { return Some(None) };
            match self.scripting.compile_expression(source) {
                Ok(compiled) => Some(Some(Arc::new(compiled))),
                Err(error) => {
                    self.problem(activity, format!("{what} '{source}' does not compile: {error}"));
                    None
                }
            }
        };
        let cardinality =
            expression("loopCardinality", node.bpmn_children("loopCardinality").next().map(|n| n.text.as_str()))?;
        let collection = expression("camunda:collection", node.ns_attr(CAMUNDA_NS, "collection"))?;
        let completion_condition = expression(
            "completionCondition",
            node.bpmn_children("completionCondition").next().map(|n| n.text.as_str()),
        )?;
        if cardinality.is_none() && collection.is_none() {
            self.problem(activity, "multi-instance needs camunda:collection or loopCardinality");
            return None;
        }
        Some(MultiInstance {
            sequential: node.attr("isSequential") == Some("true"),
            cardinality,
            collection,
            element_variable: node.ns_attr(CAMUNDA_NS, "elementVariable").map(str::to_string),
            completion_condition,
        })
    }

    /// Resolves `attachedToRef` of boundary events: the activity must be in the same scope.
    fn attach_boundaries(&mut self, model: &mut ProcessModel, attachments: &[(ElementIndex, &Node, &str)]) {
        for &(boundary, node, target) in attachments {
            let Some(&activity) = model.by_id.get(target) else {
                // An activity that was refused is already reported through that activity.
                if self.problems.is_empty() {
                    self.problem(node, format!("attachedToRef '{target}' names no activity of this process"));
                }
                continue;
            };
            let is_activity = matches!(
                model.elements[activity].kind,
                ElementKind::UserTask(_)
                    | ElementKind::ServiceTask { .. }
                    | ElementKind::ExternalTask { .. }
                    | ElementKind::ScriptTask { .. }
                    | ElementKind::ReceiveTask { .. }
                    | ElementKind::PassThrough { .. }
                    | ElementKind::SubProcess
                    | ElementKind::CallActivity(_)
            );
            if !is_activity || model.elements[activity].scope != model.elements[boundary].scope {
                self.problem(node, format!("attachedToRef '{target}' must name an activity in the same scope"));
                continue;
            }
            if let ElementKind::BoundaryEvent { attached_to, .. } = &mut model.elements[boundary].kind {
                *attached_to = activity;
            }
            model.elements[activity].boundaries.push(boundary);
        }
    }

    fn user_task(&mut self, node: &Node) -> Option<UserTaskDefinition> {
        let mut template = |attribute: &str| -> Option<Option<crate::script::Template>> {
            match node.ns_attr(CAMUNDA_NS, attribute) {
                None => Some(None),
                Some(source) => match self.scripting.compile_template(source) {
                    Ok(template) => Some(Some(template)),
                    Err(error) => {
                        self.problem(
                            node,
                            format!("camunda:{attribute} '{source}' is not a valid expression: {error}"),
                        );
                        None
                    }
                },
            }
        };
        Some(UserTaskDefinition {
            assignee: template("assignee")?,
            candidate_users: template("candidateUsers")?,
            candidate_groups: template("candidateGroups")?,
            due_date: template("dueDate")?,
            follow_up_date: template("followUpDate")?,
            priority: template("priority")?,
            form_key: node.ns_attr(CAMUNDA_NS, "formKey").map(str::to_string),
        })
    }

    fn service_handler(&mut self, node: &Node) -> Option<String> {
        if node.ns_attr(CAMUNDA_NS, "type") == Some("external") {
            self.problem(node, "external tasks (camunda:type=\"external\") are not supported yet");
            return None;
        }
        let handler = node.ns_attr(SHUANGYONG_NS, "handler").map(str::to_string).or_else(|| {
            node.ns_attr(CAMUNDA_NS, "delegateExpression").map(|expression| {
                let trimmed = expression.trim();
                trimmed.strip_prefix("${").and_then(|rest| rest.strip_suffix('}')).unwrap_or(trimmed).trim().to_string()
            })
        });
        let Some(handler) = handler else {
            let message = if node.ns_attr(CAMUNDA_NS, "class").is_some()
                || node.ns_attr(CAMUNDA_NS, "expression").is_some()
            {
                "Java delegates and expressions cannot run here: name a registered handler with sy:handler or camunda:delegateExpression=\"${handlerName}\""
            } else {
                "the service task has no implementation: set sy:handler (or camunda:delegateExpression) to a registered handler name"
            };
            self.problem(node, message);
            return None;
        };
        if !self.services.contains(&handler) {
            self.problem(node, format!("no service-task handler named '{handler}' is registered"));
            return None;
        }
        Some(handler)
    }

    fn script_task(&mut self, node: &Node) -> Option<ElementKind> {
        let format = node.attr("scriptFormat").unwrap_or("rhai");
        if !format.eq_ignore_ascii_case("rhai") {
            self.problem(node, format!("scriptFormat '{format}' is not supported: scripts are written in rhai"));
            return None;
        }
        if node.ns_attr(CAMUNDA_NS, "resource").is_some() {
            self.problem(node, "external script resources are not supported: put the script in the model");
            return None;
        }
        let source = node.bpmn_children("script").next().map(|script| script.text.as_str()).unwrap_or_default();
        match self.scripting.compile_script(source) {
            Ok(script) => Some(ElementKind::ScriptTask {
                script: Arc::new(script),
                result_variable: node.ns_attr(CAMUNDA_NS, "resultVariable").map(str::to_string),
            }),
            Err(error) => {
                self.problem(node, format!("the script does not compile: {error}"));
                None
            }
        }
    }

    /// Resolves flow ends and conditions. Returns the ids of flows left out because of a problem
    /// already reported (on the flow or on an element at one of its ends).
    fn resolve_flows<'n>(&mut self, model: &mut ProcessModel, raw_flows: Vec<RawFlow<'n>>) -> Vec<&'n str> {
        let mut dropped = Vec::new();
        let mut flow_ids = std::collections::HashSet::new();
        for RawFlow { node, scope } in raw_flows {
            let (Some(id), Some(source), Some(target)) =
                (node.attr("id"), node.attr("sourceRef"), node.attr("targetRef"))
            else {
                self.problem(node, "a sequence flow needs id, sourceRef and targetRef");
                continue;
            };
            // Joins count arrivals by flow id, and default flows are found by id: ids must be unique.
            if model.by_id.contains_key(id) || !flow_ids.insert(id) {
                self.problem(node, "the id is used twice");
                continue;
            }
            dropped.push(id); // taken back below once the flow is in the model
            let (Some(&source), Some(&target)) = (model.by_id.get(source), model.by_id.get(target)) else {
                // A flow to an element that was refused is already reported through that element.
                if self.problems.is_empty() {
                    self.problem(
                        node,
                        format!("sourceRef '{source}' or targetRef '{target}' names no element of this process"),
                    );
                }
                continue;
            };
            if model.elements[source].scope != scope || model.elements[target].scope != scope {
                self.problem(node, "a sequence flow cannot cross a sub-process boundary");
                continue;
            }
            let condition = match node.bpmn_children("conditionExpression").next() {
                None => None,
                Some(expression) => {
                    if let Some(language) = expression
                        .attr("language")
                        .filter(|l| !l.eq_ignore_ascii_case("rhai") && !l.eq_ignore_ascii_case("juel"))
                    {
                        self.problem(node, format!("condition language '{language}' is not supported: write conditions as ${{…}} expressions"));
                        continue;
                    }
                    let text = expression.text.trim();
                    if text.is_empty() {
                        None
                    } else {
                        match self.scripting.compile_expression(text) {
                            Ok(compiled) => Some(Arc::new(compiled)),
                            Err(error) => {
                                self.problem(node, format!("condition '{text}' does not compile: {error}"));
                                continue;
                            }
                        }
                    }
                }
            };
            let index = model.flows.len();
            model.flows.push(Flow {
                id: id.to_string(),
                name: node.attr("name").map(str::to_string),
                source,
                target,
                condition,
            });
            model.elements[source].outgoing.push(index);
            model.elements[target].incoming.push(index);
            dropped.pop();
        }
        dropped
    }

    fn check_structure(&mut self, process: &Node, model: &mut ProcessModel, dropped_flows: &[&str]) {
        // Default flows: resolve, and require that they leave the element that names them.
        let mut defaults = Vec::new();
        collect_defaults(process, &mut defaults);
        for (node, default_id) in defaults {
            let Some(&element) = node.attr("id").and_then(|id| model.by_id.get(id)) else { continue };
            if dropped_flows.contains(&default_id.as_str()) {
                continue; // the flow's own problem is reported already
            }
            match model.flows.iter().position(|flow| flow.id == default_id) {
                Some(flow) if model.flows[flow].source == element => model.elements[element].default_flow = Some(flow),
                _ => self.problem(node, format!("default flow '{default_id}' is not an outgoing flow of this element")),
            }
        }
        let scopes: Vec<Option<ElementIndex>> = std::iter::once(None)
            .chain(
                model
                    .elements
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| matches!(e.kind, ElementKind::SubProcess))
                    .map(|(index, _)| Some(index)),
            )
            .collect();
        for scope in scopes {
            let starts = model.start_events(scope).count();
            let (element_type, element_id) = match scope {
                None => ("process".to_string(), Some(model.id.clone())),
                Some(index) => ("subProcess".to_string(), Some(model.elements[index].id.clone())),
            };
            // A process may be started by triggers only; an embedded sub-process needs its none start.
            let triggered = if scope.is_none() { model.triggered_start_events().count() } else { 0 };
            let message = if starts > 1 {
                Some(format!("there are {starts} none start events; at most one is allowed"))
            } else if starts == 0 && triggered == 0 {
                Some("there is no none start event".to_string())
            } else {
                None
            };
            if let Some(message) = message {
                self.problems.push(Problem { element_id, element_type, message });
            }
        }
        for element in &model.elements {
            let problem = |message: String| Problem {
                element_id: Some(element.id.clone()),
                element_type: element.kind.camunda_type().to_string(),
                message,
            };
            match &element.kind {
                ElementKind::StartEvent { trigger, .. } => {
                    let in_event_sub_process = element
                        .scope
                        .is_some_and(|scope| matches!(model.elements[scope].kind, ElementKind::EventSubProcess));
                    let message = match (in_event_sub_process, trigger) {
                        (true, Trigger::None) => Some("the start event of an event sub-process needs a trigger"),
                        (false, Trigger::Error(_) | Trigger::Escalation(_)) => {
                            Some("error and escalation start events belong in event sub-processes")
                        }
                        (false, Trigger::None) => None,
                        (false, _) if element.scope.is_some() => {
                            Some("a start event inside a sub-process cannot have a trigger")
                        }
                        _ => None,
                    };
                    if let Some(message) = message {
                        self.problems.push(problem(message.into()));
                    }
                }
                ElementKind::EventSubProcess => {
                    let index = model.element_index(&element.id);
                    let starts = model
                        .elements
                        .iter()
                        .filter(|e| e.scope == index && matches!(e.kind, ElementKind::StartEvent { .. }))
                        .count();
                    if starts != 1 {
                        self.problems.push(problem(format!(
                            "an event sub-process needs exactly one start event (found {starts})"
                        )));
                    }
                    if !element.incoming.is_empty() || !element.outgoing.is_empty() || !element.boundaries.is_empty() {
                        self.problems
                            .push(problem("an event sub-process has no sequence flows or boundary events".into()));
                    }
                }
                ElementKind::ThrowEvent { trigger: Trigger::Link(name) } => {
                    let catches = model
                        .elements
                        .iter()
                        .filter(|other| other.scope == element.scope)
                        .filter(|other| matches!(&other.kind, ElementKind::CatchEvent { trigger: Trigger::Link(caught) } if caught == name))
                        .count();
                    if catches != 1 {
                        self.problems.push(problem(format!(
                            "link '{name}' needs exactly one link catch event of that name in the same scope (found {catches})"
                        )));
                    }
                }
                ElementKind::CatchEvent { trigger: Trigger::Link(_) } if !element.incoming.is_empty() => {
                    self.problems.push(problem("a link catch event cannot have incoming sequence flows".into()));
                }
                ElementKind::BoundaryEvent { .. } if !element.incoming.is_empty() => {
                    self.problems.push(problem("a boundary event cannot have incoming sequence flows".into()));
                }
                ElementKind::EventBasedGateway => {
                    for &flow in &element.outgoing {
                        let target = &model.elements[model.flows[flow].target];
                        let catches =
                            matches!(target.kind, ElementKind::CatchEvent { .. } | ElementKind::ReceiveTask { .. });
                        if !catches || target.incoming.len() != 1 {
                            self.problems.push(problem(format!(
                                "'{}' follows an event-based gateway: it must be an intermediate catch event or receive task with no other incoming flow",
                                target.id
                            )));
                        }
                    }
                    if element.outgoing.len() < 2 {
                        self.problems.push(problem("an event-based gateway needs at least two outgoing flows".into()));
                    }
                }
                _ => {}
            }
            if let Some(cycle) = &element.retry_cycle
                && !matches!(
                    crate::timer::schedule(TimerKind::Cycle, cycle, 0),
                    Ok((_, Some(crate::timer::Cycle::Repeat { remaining: Some(_), .. })))
                )
            {
                self.problems.push(problem(format!(
                    "camunda:failedJobRetryTimeCycle '{cycle}' must be a bounded cycle such as R3/PT5M"
                )));
            }
            if element.multi_instance.is_some()
                && !matches!(
                    element.kind,
                    ElementKind::UserTask(_)
                        | ElementKind::ServiceTask { .. }
                        | ElementKind::ExternalTask { .. }
                        | ElementKind::ScriptTask { .. }
                        | ElementKind::SubProcess
                        | ElementKind::CallActivity(_)
                        | ElementKind::PassThrough { .. }
                )
            {
                self.problems.push(problem(
                    "multi-instance is only supported on tasks, sub-processes and call activities".into(),
                ));
            }
        }
        // An element no sequence flow reaches never runs: a warning, so an editor shows a flow
        // removed by mistake (issue 12) while the model still deploys as Camunda would take it.
        for element in &model.elements {
            let entered_otherwise = matches!(
                element.kind,
                ElementKind::StartEvent { .. }
                    | ElementKind::BoundaryEvent { .. }
                    | ElementKind::EventSubProcess
                    | ElementKind::CatchEvent { trigger: Trigger::Link(_) }
            );
            if element.incoming.is_empty() && !entered_otherwise {
                self.warnings.push(Problem {
                    element_id: Some(element.id.clone()),
                    element_type: element.kind.camunda_type().to_string(),
                    message: "no sequence flow leads here: the element is never reached".into(),
                });
            }
        }
    }
}

fn collect_defaults<'n>(node: &'n Node, out: &mut Vec<(&'n Node, String)>) {
    for child in &node.children {
        if child.ns.as_deref() != Some(BPMN_NS) {
            continue;
        }
        if let Some(default) = child.attr("default") {
            out.push((child, default.to_string()));
        }
        if child.name == "subProcess" {
            collect_defaults(child, out);
        }
    }
}

/// A comma-separated Camunda list attribute, trimmed, blanks dropped.
fn listed(value: Option<&str>) -> Vec<String> {
    value.unwrap_or_default().split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_string).collect()
}

/// `<extensionElements><camunda:properties><camunda:property name value/>` of an element.
fn camunda_properties(node: &Node) -> Vec<(String, String)> {
    node.bpmn_children("extensionElements")
        .flat_map(|ext| ext.children.iter())
        .filter(|child| child.is(CAMUNDA_NS, "properties"))
        .flat_map(|properties| properties.children.iter())
        .filter(|child| child.is(CAMUNDA_NS, "property"))
        .filter_map(|property| {
            Some((property.attr("name")?.to_string(), property.attr("value").unwrap_or("").to_string()))
        })
        .collect()
}
