//! The `sy:` settings: refused at deploy by name, value and place (moved here from the engine's
//! parser tests with the check itself), and read into typed settings the operations use.

use approval::{ApprovalSettings, CcTarget, EmptyRule, RejectAction, SettingsCheck, TimeoutAction};
use engine::{HandlerRegistry, ParseError, Problem, Scripting};

fn problem(id: Option<&str>, element_type: &str, message: &str) -> Problem {
    Problem { element_id: id.map(str::to_string), element_type: element_type.into(), message: message.into() }
}

fn properties(entries: &[(&str, &str)]) -> String {
    let entries: String =
        entries.iter().map(|(name, value)| format!(r#"<camunda:property name="{name}" value="{value}"/>"#)).collect();
    format!("<bpmn:extensionElements><camunda:properties>{entries}</camunda:properties></bpmn:extensionElements>")
}

fn model(process: &str, review: &str, limit: &str, notify: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://example.org/it">
  <bpmn:process id="p" isExecutable="true">
    {process}
    <bpmn:startEvent id="s"/>
    <bpmn:userTask id="submit"/>
    <bpmn:userTask id="review">{review}</bpmn:userTask>
    <bpmn:boundaryEvent id="limit" attachedToRef="review" cancelActivity="false">{limit}
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:manualTask id="notify">{notify}</bpmn:manualTask>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="submit"/>
    <bpmn:sequenceFlow id="f1" sourceRef="submit" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="notify"/>
    <bpmn:sequenceFlow id="f3" sourceRef="notify" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"#
    )
}

fn deploy(xml: &str) -> Result<engine::Parsed, ParseError> {
    engine::parse_checked(xml, &Scripting::new(), &HandlerRegistry::new(), &[&SettingsCheck])
}

/// `camunda:property` entries named `sy:…` are approval settings: a typo in a name or value, or
/// a setting on an element that cannot use it, is refused rather than silently ignored.
#[test]
fn approval_settings_are_checked_by_name_value_and_place() {
    let xml = model(
        &properties(&[
            ("sy:withdraw", "no"),
            ("sy:notifyStarter", "yes"),
            ("sy:colour", "red"),
            ("color", "free text is fine"),
            ("sy:summary", "a,b,c,d,e,f,g"),
        ]),
        &properties(&[
            ("sy:reject", "nowhere"),
            ("sy:vote", "true"),
            ("sy:cc", "user:hp2, group:staff"),
            ("sy:emptyCandidates", "autoapprove"),
            ("sy:submit", "true"),
        ]),
        &properties(&[("sy:timeout", "escalate")]),
        &properties(&[("sy:timeout", "approve"), ("sy:batchApprove", "true"), ("sy:submit", "true")]),
    );
    let expected = vec![
        problem(Some("p"), "process", "sy:withdraw must be one of true, false (found 'no')"),
        problem(Some("p"), "process", "sy:notifyStarter must be one of true, false (found 'yes')"),
        problem(Some("p"), "process", "unknown process setting 'sy:colour'"),
        problem(Some("p"), "process", "sy:summary names 1 to 6 variables, comma-separated"),
        problem(Some("review"), "userTask", "sy:reject 'nowhere' is not end, submitter or a user task of this process"),
        problem(Some("review"), "userTask", "sy:cc entry 'group:staff' must be user:ID, role:ID or a user id"),
        problem(
            Some("review"),
            "userTask",
            "sy:emptyCandidates must be one of autoApprove, autoReject, admin (found 'autoapprove')",
        ),
        problem(Some("review"), "userTask", "sy:submit needs camunda:assignee naming the starter, such as ${starter}"),
        problem(Some("limit"), "boundaryTimer", "sy:timeout must be one of approve, reject (found 'escalate')"),
        problem(Some("notify"), "manualTask", "sy:timeout belongs on a timer boundary event of a user task"),
        problem(Some("notify"), "manualTask", "sy:batchApprove belongs on a user task"),
        problem(Some("notify"), "manualTask", "sy:submit belongs on a user task"),
    ];
    assert_eq!(deploy(&xml).err(), Some(ParseError::Invalid(expected)));
    // The engine alone parses it: the rules are this crate's, not the engine's.
    assert!(engine::parse(&xml, &Scripting::new(), &HandlerRegistry::new()).is_ok());
}

#[test]
fn settings_are_read_into_types_with_defaults() {
    let xml = model(
        &properties(&[
            ("sy:withdraw", "false"),
            ("sy:notifyStarter", "true"),
            ("sy:selfReview", "false"),
            ("sy:emptyCandidates", "admin"),
            ("sy:admin", " city2 "),
            ("sy:summary", "institutionName， district ,"),
        ]),
        &properties(&[
            ("sy:reject", "node:submit"),
            ("sy:vote", "true"),
            ("sy:batchApprove", "true"),
            ("sy:cc", "user:hp2, role:city-staff, zhang"),
            ("sy:emptyCandidates", "autoApprove"),
        ]),
        &properties(&[("sy:timeout", "reject")]),
        "",
    );
    let parsed = deploy(&xml).expect("valid settings deploy");
    let settings = ApprovalSettings::of(&parsed.definitions.processes[0]);
    assert!(!settings.withdraw);
    assert!(settings.notify_starter && !settings.self_review);
    assert!(settings.take_back, "unset: allowed");
    assert_eq!(settings.admin, "city2");
    assert_eq!(settings.summary, ["institutionName", "district"], "trimmed, either comma");
    let review = settings.task("review");
    assert_eq!(review.reject, RejectAction::Node("submit".into()));
    assert!(review.vote);
    assert!(review.batch_approve && !settings.task("submit").batch_approve);
    assert_eq!(
        review.cc,
        [CcTarget::User("hp2".into()), CcTarget::Role("city-staff".into()), CcTarget::User("zhang".into())]
    );
    assert_eq!(settings.empty_rule("review"), Some(EmptyRule::AutoApprove), "the task's own rule");
    assert_eq!(settings.empty_rule("submit"), Some(EmptyRule::Admin), "else the process's");
    assert_eq!(settings.task("submit").reject, RejectAction::End);
    assert!(settings.needs_staffing("review") && settings.needs_staffing("submit"));
    assert_eq!(settings.timeout("limit"), Some(TimeoutAction::Reject));
    assert_eq!(settings.timeout("notify"), None);
}
