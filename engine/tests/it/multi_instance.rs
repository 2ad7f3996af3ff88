//! Multi-instance activities (会签 / 或签 / 依次审批): parallel and sequential, over a collection
//! or a cardinality, with a completion condition and the `nrOf…` variables.

use engine::Value;

use crate::harness::{Cmd, Env, assert_lines, bpmn, flows, int, start, text, tokens, vars};

fn list(items: &[&str]) -> Value {
    Value::Json(serde_json::json!(items))
}

/// start → review (multi-instance user task) → after (user task) → end.
fn review(characteristics: &str) -> String {
    bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:userTask id="review" camunda:assignee="${{approver}}">{characteristics}</bpmn:userTask>
        <bpmn:userTask id="after"/>
        <bpmn:endEvent id="end"/>
        {}"#,
        flows("f1: start -> review\nf2: review -> after\nf3: after -> end")
    ))
}

#[test]
fn parallel_countersign_creates_one_task_per_approver_and_waits_for_all() {
    let env = Env::new();
    let xml = review(
        r#"<bpmn:multiInstanceLoopCharacteristics camunda:collection="${approvers}" camunda:elementVariable="approver"/>"#,
    );
    let mut run = env.run(&xml, &[start(vars(&[("approvers", list(&["li", "wang"]))]))]);
    assert_lines(
        &run.log,
        &[
            "> start approvers=Json(Array [String(\"li\"), String(\"wang\")])",
            "var approvers=Json(Array [String(\"li\"), String(\"wang\")])",
            "start start#1",
            "end start#1",
            "start review#multiInstanceBody#2",
            "var nrOfInstances@2=Integer(2)",
            "var nrOfCompletedInstances@2=Integer(0)",
            "var nrOfActiveInstances@2=Integer(2)",
            "var loopCounter@3=Integer(0)",
            "var approver@3=String(\"li\")",
            "start review#4 in #2",
            "var loopCounter@5=Integer(1)",
            "var approver@5=String(\"wang\")",
            "start review#6 in #2",
            "task review#4 assignee=li",
            "task review#6 assignee=wang",
        ],
    );
    assert_eq!(tokens(run.state()), ["review#2 InScope", "review#4 Waiting in #3", "review#6 Waiting in #5"]);

    // One approval: the body still waits for the other.
    let first = run.apply(&env, Cmd::CompleteToken(6, vars(&[])));
    assert_lines(
        &first,
        &[
            "> complete #6",
            "var nrOfCompletedInstances@2=Integer(1)",
            "var nrOfActiveInstances@2=Integer(1)",
            "end review#6",
        ],
    );
    let second = run.apply(&env, Cmd::CompleteToken(4, vars(&[])));
    assert_lines(
        &second,
        &[
            "> complete #4",
            "var nrOfCompletedInstances@2=Integer(2)",
            "var nrOfActiveInstances@2=Integer(0)",
            "end review#4",
            "end review#2",
            "start after#7",
            "task after#7",
        ],
    );
    // Local variables went with their scopes; nothing leaked onto the process.
    assert_eq!(run.state().scopes.len(), 1);
    assert!(!run.state().variables().contains_key("approver"));
    assert!(!run.state().variables().contains_key("nrOfInstances"));
}

#[test]
fn completion_condition_ends_the_body_early_and_cancels_the_rest() {
    // 或签: the first approval decides.
    let env = Env::new();
    let xml = review(
        r#"<bpmn:multiInstanceLoopCharacteristics camunda:collection="approvers" camunda:elementVariable="approver">
             <bpmn:completionCondition>${nrOfCompletedInstances >= 1}</bpmn:completionCondition>
           </bpmn:multiInstanceLoopCharacteristics>"#,
    );
    let mut run = env.run(&xml, &[start(vars(&[("approvers", list(&["li", "wang", "zhao"]))]))]);
    assert_eq!(run.tasks().len(), 3);
    let done = run.apply(&env, Cmd::CompleteToken(6, vars(&[("approved", Value::Boolean(true))])));
    assert_lines(
        &done,
        &[
            "> complete #6 approved=Boolean(true)",
            "var approved=Boolean(true)",
            "var nrOfCompletedInstances@2=Integer(1)",
            "var nrOfActiveInstances@2=Integer(2)",
            "end review#6",
            "end review#4 canceled",
            "end review#8 canceled",
            "end review#2",
            "start after#9",
            "task after#9",
        ],
    );
}

#[test]
fn sequential_instances_run_one_after_another_in_collection_order() {
    // 依次审批.
    let env = Env::new();
    let xml = review(
        r#"<bpmn:multiInstanceLoopCharacteristics isSequential="true" camunda:collection="${approvers}" camunda:elementVariable="approver"/>"#,
    );
    let mut run = env.run(&xml, &[start(vars(&[("approvers", list(&["li", "wang"]))]))]);
    assert_eq!(run.tasks(), ["task review#4 assignee=li"]);
    run.apply(&env, Cmd::CompleteToken(4, vars(&[])));
    assert_eq!(run.tasks(), ["task review#4 assignee=li", "task review#6 assignee=wang"]);
    let last = run.apply(&env, Cmd::CompleteToken(6, vars(&[])));
    assert!(last.contains(&"end review#2".to_string()), "{last:?}");
    assert_eq!(tokens(run.state()), ["after#7 Waiting"]);
}

#[test]
fn cardinality_and_empty_collections() {
    let env = Env::new();
    let xml = review(
        r#"<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>${n}</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>"#,
    );
    let run = env.run(&xml, &[start(vars(&[("n", int(3)), ("approver", text("li"))]))]);
    assert_eq!(run.tasks().len(), 3);

    // No instances at all: the activity is passed at once.
    let run = env.run(&xml, &[start(vars(&[("n", int(0))]))]);
    assert_eq!(tokens(run.state()), ["after#3 Waiting"]);

    // A collection that is not a list is an incident on the activity, not a panic.
    let xml = review(r#"<bpmn:multiInstanceLoopCharacteristics camunda:collection="${approvers}"/>"#);
    let run = env.run(&xml, &[start(vars(&[("approvers", text("li"))]))]);
    assert_lines(
        &run.log[run.log.len() - 1..],
        &["incident review#2: the multi-instance collection '${approvers}' is a String, not a list"],
    );
}

#[test]
fn multi_instance_sub_process_runs_each_instance_in_its_own_scope() {
    let env = Env::new();
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:subProcess id="check">
          <bpmn:multiInstanceLoopCharacteristics camunda:collection="${{items}}" camunda:elementVariable="item"/>
          <bpmn:startEvent id="s"/>
          <bpmn:userTask id="inspect" camunda:assignee="${{item}}"/>
          <bpmn:endEvent id="e"/>
          {}
        </bpmn:subProcess>
        <bpmn:endEvent id="end"/>
        {}"#,
        flows("s1: s -> inspect\ns2: inspect -> e"),
        flows("f1: start -> check\nf2: check -> end")
    ));
    let mut run = env.run(&xml, &[start(vars(&[("items", list(&["a", "b"]))]))]);
    assert_eq!(run.tasks(), ["task inspect#9 assignee=a", "task inspect#10 assignee=b"]);
    run.apply(&env, Cmd::CompleteToken(9, vars(&[])));
    let last = run.apply(&env, Cmd::CompleteToken(10, vars(&[])));
    assert_eq!(last.last().map(String::as_str), Some("instance Completed"), "{last:?}");
}
