//! The `sy:` settings of a model, read once (issue 11: they were checked in the engine's parser
//! and read again as raw strings by the operations).
//!
//! Process settings: `sy:withdraw` / `sy:takeBack` (`true` / `false`: may the starter withdraw,
//! may the last approver take a task back), `sy:emptyCandidates` (the default rule for a task
//! nobody can take), `sy:admin` (who gets such tasks) and `sy:summary` (the variables the inbox
//! shows as a row's 摘要, comma-separated, at most [`MAX_SUMMARY`]). On a user task: `sy:reject` (what 驳回
//! does: `end`, `submitter`, or the id of a user task to return to), `sy:vote` (a 会签 task
//! completes by vote), `sy:batchApprove` (`true`: 批量通过 from the inbox), `sy:cc` (copies: `user:ID`, `role:ID` or a user id, comma-separated) and
//! `sy:emptyCandidates` (`autoApprove`, `autoReject`, `admin`). On a timer boundary event of a
//! user task: `sy:timeout` (`approve` / `reject` when the time limit passes).

use std::collections::HashMap;

use engine::model::{ElementKind, Trigger};
use engine::{ModelCheck, Problem, ProcessModel};

/// What 驳回 does at a task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RejectAction {
    /// Ends the instance (the default).
    #[default]
    End,
    /// Returns to the submitter's first task.
    Submitter,
    /// Returns to this user task.
    Node(String),
}

/// What happens to a task nobody can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyRule {
    AutoApprove,
    AutoReject,
    /// Goes to the process admin (`sy:admin`).
    Admin,
}

/// Who a task's copies go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CcTarget {
    User(String),
    Role(String),
}

/// What a task's time limit does when it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutAction {
    Approve,
    Reject,
}

/// The settings of one user task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskSettings {
    pub reject: RejectAction,
    pub vote: bool,
    pub cc: Vec<CcTarget>,
    pub empty_candidates: Option<EmptyRule>,
    /// `sy:batchApprove`: the inbox may approve several of these tasks at once (批量通过).
    pub batch_approve: bool,
    /// `sy:submit`: the submitter's own task (填写申请). When an instance starts and this task
    /// is created for its starter, the start completes it in the same transaction, so the
    /// submission is the first step done; 退回 brings the application back here for revision.
    pub submit: bool,
}

/// A model's approval settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSettings {
    pub withdraw: bool,
    pub take_back: bool,
    pub empty_candidates: Option<EmptyRule>,
    pub admin: String,
    /// `sy:summary`: the variables an inbox row shows, in order.
    pub summary: Vec<String>,
    /// `sy:notifyStarter`: the starter gets a message (the message centre) when the instance
    /// is returned to them, rejected, or done.
    pub notify_starter: bool,
    /// `sy:selfReview` (default true): whether the starter may decide the instance's other
    /// tasks; `false` keeps someone who applied on another's behalf from approving it.
    pub self_review: bool,
    tasks: HashMap<String, TaskSettings>,
    timeouts: HashMap<String, TimeoutAction>,
}

static NO_SETTINGS: std::sync::LazyLock<TaskSettings> = std::sync::LazyLock::new(TaskSettings::default);

const SWITCH: &[&str] = &["true", "false"];
/// The most variables `sy:summary` names.
pub const MAX_SUMMARY: usize = 6;
const EMPTY_RULES: &[&str] = &["autoApprove", "autoReject", "admin"];

impl ApprovalSettings {
    /// The settings of `model`. A setting that is not valid is left at its default (a stored
    /// model deployed before a rule tightened still runs); [`ApprovalSettings::problems`] says
    /// what is wrong, and deploy refuses it.
    pub fn of(model: &ProcessModel) -> ApprovalSettings {
        Self::read(model).0
    }

    /// What is wrong with the `sy:` settings of `model`, as deploy reports it.
    pub fn problems(model: &ProcessModel) -> Vec<Problem> {
        Self::read(model).1
    }

    /// The settings of a user task (defaults for any other element).
    pub fn task(&self, element: &str) -> &TaskSettings {
        self.tasks.get(element).unwrap_or(&NO_SETTINGS)
    }

    /// The empty-candidate rule of a task: its own, else the process's.
    pub fn empty_rule(&self, element: &str) -> Option<EmptyRule> {
        self.task(element).empty_candidates.or(self.empty_candidates)
    }

    /// Whether a new task of `element` has follow-up work: copies or an empty-candidate rule.
    pub fn needs_staffing(&self, element: &str) -> bool {
        !self.task(element).cc.is_empty() || self.empty_rule(element).is_some()
    }

    /// The action of a time limit (a timer boundary event on a user task), if it has one.
    pub fn timeout(&self, boundary: &str) -> Option<TimeoutAction> {
        self.timeouts.get(boundary).copied()
    }

    fn read(model: &ProcessModel) -> (ApprovalSettings, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut settings = ApprovalSettings {
            withdraw: true,
            take_back: true,
            empty_candidates: None,
            admin: "admin".into(),
            summary: Vec::new(),
            notify_starter: false,
            self_review: true,
            tasks: HashMap::new(),
            timeouts: HashMap::new(),
        };
        let mut process_problem = |message: String| {
            problems.push(Problem { element_id: Some(model.id.clone()), element_type: "process".into(), message })
        };
        for (name, value) in &model.properties {
            match name.as_str() {
                "sy:withdraw" => match switch(name, value) {
                    Ok(on) => settings.withdraw = on,
                    Err(message) => process_problem(message),
                },
                "sy:takeBack" => match switch(name, value) {
                    Ok(on) => settings.take_back = on,
                    Err(message) => process_problem(message),
                },
                "sy:notifyStarter" => match switch(name, value) {
                    Ok(on) => settings.notify_starter = on,
                    Err(message) => process_problem(message),
                },
                "sy:selfReview" => match switch(name, value) {
                    Ok(on) => settings.self_review = on,
                    Err(message) => process_problem(message),
                },
                "sy:emptyCandidates" => match empty_rule(name, value) {
                    Ok(rule) => settings.empty_candidates = Some(rule),
                    Err(message) => process_problem(message),
                },
                "sy:admin" if value.trim().is_empty() => process_problem("sy:admin needs a user id".to_string()),
                "sy:admin" => settings.admin = value.trim().to_string(),
                "sy:summary" => {
                    let names: Vec<String> =
                        value.split([',', '，']).map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect();
                    if names.is_empty() || names.len() > MAX_SUMMARY {
                        process_problem(format!("sy:summary names 1 to {MAX_SUMMARY} variables, comma-separated"));
                    } else if let Some(bad) = names.iter().find(|name| name.len() > 255) {
                        process_problem(format!("sy:summary: '{bad}' is not a variable name"));
                    } else {
                        settings.summary = names;
                    }
                }
                other if other.starts_with("sy:") => process_problem(format!("unknown process setting '{other}'")),
                _ => {}
            }
        }
        for element in &model.elements {
            let user_task = matches!(element.kind, ElementKind::UserTask(_));
            let task_timer = match &element.kind {
                ElementKind::BoundaryEvent { attached_to, trigger: Trigger::Timer(_), .. } => {
                    matches!(model.elements[*attached_to].kind, ElementKind::UserTask(_))
                }
                _ => false,
            };
            let mut task = TaskSettings::default();
            for (name, value) in &element.properties {
                let problem = match name.as_str() {
                    "sy:reject" | "sy:vote" | "sy:cc" | "sy:emptyCandidates" | "sy:batchApprove" | "sy:submit"
                        if !user_task =>
                    {
                        Some(format!("{name} belongs on a user task"))
                    }
                    "sy:submit" => match &element.kind {
                        ElementKind::UserTask(definition) if definition.assignee.is_none() => {
                            Some("sy:submit needs camunda:assignee naming the starter, such as ${starter}".to_string())
                        }
                        _ if element.multi_instance.is_some() => {
                            Some("sy:submit cannot be on a multi-instance task".to_string())
                        }
                        _ => switch(name, value).map(|on| task.submit = on).err(),
                    },
                    "sy:reject" => match value.trim().trim_start_matches("node:") {
                        "" | "end" => None,
                        "submitter" => {
                            task.reject = RejectAction::Submitter;
                            None
                        }
                        node if model.element(node).is_some_and(|n| matches!(n.kind, ElementKind::UserTask(_))) => {
                            task.reject = RejectAction::Node(node.to_string());
                            None
                        }
                        node => {
                            Some(format!("sy:reject '{node}' is not end, submitter or a user task of this process"))
                        }
                    },
                    "sy:vote" => switch(name, value).map(|on| task.vote = on).err(),
                    "sy:batchApprove" => switch(name, value).map(|on| task.batch_approve = on).err(),
                    "sy:emptyCandidates" => {
                        empty_rule(name, value).map(|rule| task.empty_candidates = Some(rule)).err()
                    }
                    "sy:cc" => {
                        let mut bad = None;
                        for entry in value.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
                            match entry.split_once(':') {
                                Some(("role", role)) => task.cc.push(CcTarget::Role(role.trim().to_string())),
                                Some(("user", user)) => task.cc.push(CcTarget::User(user.trim().to_string())),
                                None => task.cc.push(CcTarget::User(entry.to_string())),
                                Some(_) => {
                                    bad.get_or_insert_with(|| {
                                        format!("sy:cc entry '{entry}' must be user:ID, role:ID or a user id")
                                    });
                                }
                            }
                        }
                        bad
                    }
                    "sy:timeout" if !task_timer => {
                        Some("sy:timeout belongs on a timer boundary event of a user task".to_string())
                    }
                    "sy:timeout" => match value.trim() {
                        "approve" => {
                            settings.timeouts.insert(element.id.clone(), TimeoutAction::Approve);
                            None
                        }
                        "reject" => {
                            settings.timeouts.insert(element.id.clone(), TimeoutAction::Reject);
                            None
                        }
                        _ => one_of(name, value, &["approve", "reject"]),
                    },
                    other if other.starts_with("sy:") => Some(format!("unknown approval setting '{other}'")),
                    _ => None,
                };
                if let Some(message) = problem {
                    problems.push(Problem {
                        element_id: Some(element.id.clone()),
                        element_type: element.kind.camunda_type().to_string(),
                        message,
                    });
                }
            }
            if user_task && task != TaskSettings::default() {
                settings.tasks.insert(element.id.clone(), task);
            }
        }
        (settings, problems)
    }
}

fn switch(name: &str, value: &str) -> Result<bool, String> {
    match one_of(name, value, SWITCH) {
        None => Ok(value.trim() == "true"),
        Some(message) => Err(message),
    }
}

fn empty_rule(name: &str, value: &str) -> Result<EmptyRule, String> {
    match value.trim() {
        "autoApprove" => Ok(EmptyRule::AutoApprove),
        "autoReject" => Ok(EmptyRule::AutoReject),
        "admin" => Ok(EmptyRule::Admin),
        _ => Err(one_of(name, value, EMPTY_RULES).unwrap_or_default()),
    }
}

/// `None` when `value` is one of `allowed`, else the problem.
fn one_of(name: &str, value: &str, allowed: &[&str]) -> Option<String> {
    (!allowed.contains(&value.trim()))
        .then(|| format!("{name} must be one of {} (found '{value}')", allowed.join(", ")))
}

/// The deploy check: a name it does not know, a value it cannot use or a setting on the wrong
/// element is refused, so a typo never silently changes what 驳回 or a time limit does.
pub struct SettingsCheck;

impl ModelCheck for SettingsCheck {
    fn check(&self, model: &ProcessModel) -> Vec<Problem> {
        ApprovalSettings::problems(model)
    }
}
